r"""Complex synapses: the memory curves of synaptic state machines, their bounds, and synaptic intelligence.

The framework of Lahiri & Ganguli (2013), used in the chapter *Complex
synapses*. Each of :math:`N` synapses is a Markov chain on :math:`M` internal
states, each state carrying a weight :math:`w_i = \pm 1`. Candidate plasticity
events arrive at rate :math:`r` per synapse; a fraction :math:`f_{\mathrm{pot}}`
are potentiating and apply the stochastic matrix :math:`M^{\mathrm{pot}}`, the
rest depressing, :math:`M^{\mathrm{dep}}`. A *model* is the triple ``(m_pot,
m_dep, w)``: row-stochastic matrices (a row is the distribution of the next
state) and the weight vector.

Between the memory of interest and its recall, the other memories drive each
synapse with the continuous-time generator :math:`rW^F`,

.. math::

    W^F = f_{\mathrm{pot}}M^{\mathrm{pot}} + f_{\mathrm{dep}}M^{\mathrm{dep}} - I ,

(the generator is :math:`W^F`, not :math:`W^F + I`: using
:math:`e^{rt(f M^{\mathrm{pot}} + \dots)}` is the classic bug), whose
equilibrium :math:`p^\infty` is a *row* vector, :math:`p^\infty W^F = 0`. The
ideal observer's signal-to-noise ratio of a memory stored at :math:`t = 0`
(chapter eq. ``eq-cs-snr``) is

.. math::

    \mathrm{SNR}(t) = \sqrt N\,(2f_{\mathrm{pot}}f_{\mathrm{dep}})\,
    p^\infty(M^{\mathrm{pot}} - M^{\mathrm{dep}})\,e^{rtW^F}w .

Theory: :func:`equilibrium`, :func:`snr`, :func:`snr_modes`,
:func:`snr_area`, :func:`mean_first_passage_times`,
:func:`kemeny_constant`, :func:`eta_plus`, :func:`envelope`,
:func:`lifetime_bound`; measurements of a curve: :func:`memory_lifetime`,
:func:`power_law_range`. Models:
:func:`binary`, :func:`serial`, :func:`cascade`, :func:`random_model`.
Simulation: :func:`simulate_memory`. Synaptic intelligence (Zenke, Poole &
Ganguli 2017): :func:`si_quadratic_importance` (theory),
:class:`SynapticIntelligence` and :func:`continual_learning` (torch, imported
only when used).
"""

from typing import NamedTuple

import numpy as np
from scipy import linalg

from . import _validation as v

__all__ = [
    "binary",
    "serial",
    "cascade",
    "random_model",
    "equilibrium",
    "snr",
    "snr_modes",
    "snr_area",
    "envelope",
    "lifetime_bound",
    "memory_lifetime",
    "power_law_range",
    "mean_first_passage_times",
    "kemeny_constant",
    "eta_plus",
    "simulate_memory",
    "si_quadratic_importance",
    "SynapticIntelligence",
    "continual_learning",
    "joint_training",
]


# --- arguments ------------------------------------------------------------------

def _stochastic(name, m):
    m = v.matrix(name, m)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be square, got shape {m.shape}")
    if np.any(m < -1e-12):
        raise ValueError(f"{name} must have non-negative entries")
    if not np.allclose(m.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError(f"{name} must have rows that sum to 1 (a row is the distribution of the next state)")
    return np.clip(m, 0.0, None)


def _weights(w, n):
    w = v.real_array("w", w)
    if w.shape != (n,):
        raise ValueError(f"w must have one weight per state, shape ({n},), got {w.shape}")
    if not np.all(np.abs(w) == 1):
        raise ValueError("w must hold weights of +1 or -1")
    return w


def _f(f_pot):
    return v.real("f_pot", f_pot, lo=0.0, hi=1.0, lo_open=True, hi_open=True)


def _pair(m_pot, m_dep):
    m_pot, m_dep = _stochastic("m_pot", m_pot), _stochastic("m_dep", m_dep)
    if m_pot.shape != m_dep.shape:
        raise ValueError(f"m_pot and m_dep must have the same shape, got {m_pot.shape} and {m_dep.shape}")
    return m_pot, m_dep


def _forgetting(m_pot, m_dep, f_pot):
    return f_pot * m_pot + (1.0 - f_pot) * m_dep - np.eye(m_pot.shape[0])


def _equilibrium(W):
    """p with p W = 0, sum p = 1; ValueError unless the chain is ergodic (unique, positive)."""
    n = W.shape[0]
    A = np.vstack([W.T, np.ones(n)])
    b = np.zeros(n + 1)
    b[-1] = 1.0
    p, *_ = np.linalg.lstsq(A, b, rcond=None)
    if np.linalg.matrix_rank(W, tol=1e-10) != n - 1 or np.any(p <= 1e-12):
        raise ValueError("the model must be ergodic: its forgetting process needs a unique, positive equilibrium")
    return p


# --- models -------------------------------------------------------------------------

def binary(q=1.0):
    r"""The binary synapse (Amit & Fusi 1994): two states, switched with probability ``q``.

    Its memory curve is :math:`\mathrm{SNR}(t) = \sqrt N q e^{-qrt}` at
    :math:`f_{\mathrm{pot}} = \tfrac12`.
    """
    q = v.real("q", q, lo=0.0, hi=1.0, lo_open=True)
    m_pot = np.array([[1 - q, q], [0.0, 1.0]])
    m_dep = np.array([[1.0, 0.0], [q, 1 - q]])
    return m_pot, m_dep, np.array([-1.0, 1.0])


def serial(n_states, q=1.0, end_exit=None):
    r"""The serial model (Leibold & Kempter 2008): a chain of ``n_states``, stepped right by potentiation and left by depression with probability ``q``.

    The left half of the states has weight :math:`-1`, the right half
    :math:`+1`; steps outwards from an end state do nothing. ``end_exit``
    (default ``q``) is the probability of stepping inwards out of an end
    state: a small value makes the ends "sticky", which trades the initial
    SNR for a longer memory. As ``end_exit`` :math:`\to 0` the area approaches
    the bound :math:`\sqrt N(M-1)/r` (Lahiri & Ganguli 2013).
    """
    n = v.integer("n_states", n_states, lo=2)
    if n % 2:
        raise ValueError(f"n_states must be even (half the states of each weight), got {n}")
    q = v.real("q", q, lo=0.0, hi=1.0, lo_open=True)
    e = q if end_exit is None else v.real("end_exit", end_exit, lo=0.0, hi=1.0, lo_open=True)
    m_pot, m_dep = np.eye(n), np.eye(n)
    for i in range(n - 1):
        step = e if i == 0 else q
        m_pot[i, i], m_pot[i, i + 1] = 1 - step, step
        step = e if i + 1 == n - 1 else q
        m_dep[i + 1, i + 1], m_dep[i + 1, i] = 1 - step, step
    w = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    return m_pot, m_dep, w


def cascade(n_states, x=0.5):
    r"""The cascade model (Fusi, Drew & Abbott 2005) with ``n_states`` = :math:`2n` states.

    States :math:`0 \dots n-1` have weight :math:`-1` at depths :math:`n \dots
    1` (state :math:`n-1` is the shallowest), states :math:`n \dots 2n-1`
    weight :math:`+1` at depths :math:`1 \dots n`. Potentiation moves a
    :math:`-` state of depth :math:`d` to the shallowest :math:`+` state with
    probability :math:`x^{d-1}` (the deepest, :math:`d = n`, with
    :math:`x^{n-1}/(1-x)`, which balances the occupancy of the depths), and
    moves a :math:`+` state of depth :math:`d < n` one level deeper with
    probability :math:`x^d/(1-x)`; depression mirrors it. Deeper states are
    both harder to flip and reached less often, which spreads the memory
    over time scales :math:`x^{-d}`. Needs :math:`0 < x \le \tfrac12`; with
    two states (:math:`n = 1`) it is the binary synapse with :math:`q = 1`.
    """
    m = v.integer("n_states", n_states, lo=2)
    if m % 2:
        raise ValueError(f"n_states must be even, got {m}")
    x = v.real("x", x, lo=0.0, hi=0.5, lo_open=True)
    n = m // 2
    # With one level the cascade is the binary synapse (flip probability 1).
    flip = [x ** (d - 1) for d in range(1, n)] + [x ** (n - 1) / (1 - x) if n > 1 else 1.0]
    deeper = [x**d / (1 - x) for d in range(1, n)]
    m_pot = np.zeros((m, m))
    for d in range(1, n + 1):
        minus, plus = n - d, n + d - 1            # indices of the - and + states at depth d
        m_pot[minus, n] += flip[d - 1]
        m_pot[minus, minus] += 1 - flip[d - 1]
        if d < n:
            m_pot[plus, plus + 1] += deeper[d - 1]
            m_pot[plus, plus] += 1 - deeper[d - 1]
        else:
            m_pot[plus, plus] += 1.0
    # Depression is potentiation seen in the mirror (state i <-> m - 1 - i).
    m_dep = m_pot[::-1, ::-1].copy()
    w = np.where(np.arange(m) < n, -1.0, 1.0)
    return m_pot, m_dep, w


def random_model(n_states, rng=None, sparsity=0.5):
    r"""A random ergodic model with ``n_states`` states, half of each weight.

    Each off-diagonal transition is present with probability
    ``1 - sparsity`` (at least one per row) with a uniform random strength;
    each row's off-diagonal total is then scaled to a uniform random value in
    :math:`(0, 1]`, and the diagonal takes the rest. Drawn again until the
    forgetting process at :math:`f_{\mathrm{pot}} = \tfrac12` is ergodic.
    """
    n = v.integer("n_states", n_states, lo=2)
    rng = v.as_generator(rng)
    sparsity = v.real("sparsity", sparsity, lo=0.0, hi=1.0, hi_open=True)

    def draw():
        m = rng.random((n, n)) * (rng.random((n, n)) >= sparsity)
        np.fill_diagonal(m, 0.0)
        for i in range(n):
            if m[i].sum() == 0:
                j = rng.choice([k for k in range(n) if k != i])
                m[i, j] = 1.0
        m *= (rng.uniform(0.0, 1.0, n) / m.sum(axis=1))[:, None]
        np.fill_diagonal(m, 1.0 - m.sum(axis=1))
        return m

    w = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    for _ in range(1000):
        m_pot, m_dep = draw(), draw()
        try:
            _equilibrium(_forgetting(m_pot, m_dep, 0.5))
        except ValueError:
            continue
        return m_pot, m_dep, w
    raise RuntimeError("no ergodic model found in 1000 draws")   # pragma: no cover


# --- theory ---------------------------------------------------------------------------

def equilibrium(m_pot, m_dep, f_pot=0.5):
    r"""The equilibrium distribution :math:`p^\infty` of the forgetting process, a row vector with :math:`p^\infty W^F = 0`."""
    m_pot, m_dep = _pair(m_pot, m_dep)
    return _equilibrium(_forgetting(m_pot, m_dep, _f(f_pot)))


def _model(m_pot, m_dep, w, f_pot, n_synapses, rate):
    m_pot, m_dep = _pair(m_pot, m_dep)
    w = _weights(w, m_pot.shape[0])
    f = _f(f_pot)
    N = v.real("n_synapses", n_synapses, lo=0.0, lo_open=True)
    r = v.real("rate", rate, lo=0.0, lo_open=True)
    W = _forgetting(m_pot, m_dep, f)
    return m_pot, m_dep, w, f, N, r, W, _equilibrium(W)


def snr(t, m_pot, m_dep, w, f_pot=0.5, n_synapses=1, rate=1.0):
    r"""The memory curve :math:`\mathrm{SNR}(t)` of a model (module docstring), at times ``t`` :math:`\ge 0`.

    Computed through the eigenmodes of :math:`W^F` (:func:`snr_modes`) when
    it is diagonalisable, and by the matrix exponential otherwise.
    """
    t = v.real_array("t", t, lo=0.0)
    m_pot, m_dep, w, f, N, r, W, p = _model(m_pot, m_dep, w, f_pot, n_synapses, rate)
    row = np.sqrt(N) * 2 * f * (1 - f) * (p @ (m_pot - m_dep))
    out = np.array([row @ linalg.expm(r * ti * W) @ w for ti in t.ravel()]).reshape(t.shape)
    return v.scalar_or_array(out)


def snr_modes(m_pot, m_dep, w, f_pot=0.5, n_synapses=1, rate=1.0):
    r"""The eigenmode decomposition :math:`\mathrm{SNR}(t) = \sum_a I_a e^{-t/\tau_a}`.

    With :math:`W^F = \sum_a u_a \lambda_a v_a^\top` (right eigenvectors
    :math:`u_a`, left :math:`v_a`),
    :math:`I_a = \sqrt N 2f_{\mathrm{pot}}f_{\mathrm{dep}}\,p^\infty
    (M^{\mathrm{pot}} - M^{\mathrm{dep}})u_a\,v_a^\top w` and :math:`\tau_a =
    -1/(r\lambda_a)`. The zero mode carries no signal and is dropped. For
    non-reversible models amplitudes and rates may be complex (in conjugate
    pairs).

    Returns
    -------
    amplitudes, timescales : ndarray
        Sorted by decreasing real time scale.
    """
    m_pot, m_dep, w, f, N, r, W, p = _model(m_pot, m_dep, w, f_pot, n_synapses, rate)
    lam, U = np.linalg.eig(W)
    Vt = np.linalg.inv(U)
    row = np.sqrt(N) * 2 * f * (1 - f) * (p @ (m_pot - m_dep))
    amp = (row @ U) * (Vt @ w)
    keep = np.abs(lam) > 1e-10
    amp, tau = amp[keep], -1.0 / (r * lam[keep])
    order = np.argsort(-tau.real)
    amp, tau = amp[order], tau[order]
    if np.allclose(amp.imag, 0) and np.allclose(tau.imag, 0):
        amp, tau = amp.real, tau.real
    return amp, tau


def _fundamental(W, p):
    n = W.shape[0]
    return np.linalg.inv(np.outer(np.ones(n), p) - W)


def snr_area(m_pot, m_dep, w, f_pot=0.5, n_synapses=1, rate=1.0):
    r"""The area :math:`\int_0^\infty \mathrm{SNR}\,dt` under the memory curve.

    With the fundamental matrix :math:`Z = (\mathbf 1p^\infty - W^F)^{-1}`,
    :math:`\int_0^\infty(e^{rtW^F} - \mathbf 1p^\infty)dt = (Z - \mathbf
    1p^\infty)/r`, and since :math:`(M^{\mathrm{pot}} - M^{\mathrm{dep}})\mathbf
    1 = 0`,

    .. math::

        A = \frac{\sqrt N}{r}\,2f_{\mathrm{pot}}f_{\mathrm{dep}}\,
        p^\infty(M^{\mathrm{pot}} - M^{\mathrm{dep}})Zw .

    Lahiri & Ganguli prove :math:`A \le \sqrt N(M - 1)/r` at
    :math:`f_{\mathrm{pot}} = \tfrac12`.
    """
    m_pot, m_dep, w, f, N, r, W, p = _model(m_pot, m_dep, w, f_pot, n_synapses, rate)
    return float(np.sqrt(N) / r * 2 * f * (1 - f) * (p @ (m_pot - m_dep) @ _fundamental(W, p) @ w))


def mean_first_passage_times(m_pot, m_dep, f_pot=0.5):
    r"""Mean first-passage times :math:`T_{ij}` of the forgetting process (in units of :math:`1/r`), :math:`T_{ii} = 0`.

    :math:`T_{ij} = (Z_{jj} - Z_{ij})/p^\infty_j` with :math:`Z` the
    fundamental matrix (:func:`snr_area`).
    """
    m_pot, m_dep = _pair(m_pot, m_dep)
    W = _forgetting(m_pot, m_dep, _f(f_pot))
    p = _equilibrium(W)
    Z = _fundamental(W, p)
    return (np.diag(Z)[None, :] - Z) / p[None, :]


def kemeny_constant(m_pot, m_dep, f_pot=0.5):
    r"""Kemeny's constant :math:`\eta = \sum_j T_{ij}p^\infty_j`, the same for every start state :math:`i`: :math:`\operatorname{tr}Z - 1`."""
    m_pot, m_dep = _pair(m_pot, m_dep)
    W = _forgetting(m_pot, m_dep, _f(f_pot))
    return float(np.trace(_fundamental(W, _equilibrium(W))) - 1.0)


def eta_plus(m_pot, m_dep, w, f_pot=0.5):
    r""":math:`\eta^+_i = \sum_{j: w_j = +1} T_{ij}p^\infty_j`, the mean time from state :math:`i` to the potentiated states.

    The area is (Lahiri & Ganguli 2013; chapter eq. ``eq-cs-area-eta``)

    .. math::

        A = \frac{\sqrt N}{r}\,4f_{\mathrm{pot}}f_{\mathrm{dep}}\,
        p^\infty(M^{\mathrm{dep}} - M^{\mathrm{pot}})\eta^+ ,

    since :math:`\eta^+ - \eta^- = 2\eta^+ - \eta` with Kemeny's constant
    :math:`\eta` the same everywhere. Large areas need potentiation to move
    to states of smaller :math:`\eta^+`, and depression to larger: the
    order of :math:`\eta^+` is the order of the states.
    """
    m_pot, m_dep = _pair(m_pot, m_dep)
    w = _weights(w, m_pot.shape[0])
    f = _f(f_pot)
    T = mean_first_passage_times(m_pot, m_dep, f)
    p = _equilibrium(_forgetting(m_pot, m_dep, f))
    return T @ (p * (w > 0))


def envelope(t, n_states, n_synapses=1, rate=1.0):
    r"""The upper envelope of every memory curve with ``n_states`` states (Lahiri & Ganguli 2013).

    Write a memory curve as modes, :math:`\mathrm{SNR}(t) = \sum_a I_a
    e^{-t/\tau_a}`. The two bounds :math:`\sum_a I_a \le \sqrt N` (the initial
    SNR) and :math:`\sum_a I_a\tau_a \le \sqrt N(M-1)/r` (the area) cap
    every curve at time :math:`t` by the best single mode,

    .. math::

        \mathrm{SNR}(t) \le \sqrt N \begin{cases}
        e^{-rt/(M-1)} & rt \le M - 1, \\
        \dfrac{M - 1}{e\,rt} & rt > M - 1 .
        \end{cases}

    (chapter eq. ``eq-cs-envelope``). Known models come close only at late
    times; at early times the bound is far from tight.
    """
    t = v.real_array("t", t, lo=0.0)
    M = v.integer("n_states", n_states, lo=2)
    N = v.real("n_synapses", n_synapses, lo=0.0, lo_open=True)
    r = v.real("rate", rate, lo=0.0, lo_open=True)
    x = r * t / (M - 1)
    with np.errstate(divide="ignore"):
        out = np.sqrt(N) * np.where(x <= 1, np.exp(-x), 1.0 / (np.e * np.maximum(x, 1e-300)))
    return v.scalar_or_array(out)


def lifetime_bound(n_states, n_synapses, threshold=1.0, rate=1.0):
    r"""The longest memory lifetime any synapse with ``n_states`` states can have: :math:`\sqrt N(M-1)/(e\varepsilon r)`.

    A memory lasts while its SNR exceeds the threshold :math:`\varepsilon`.
    If :math:`\mathrm{SNR}(\tau) \ge \varepsilon`, the envelope
    (:func:`envelope`) gives :math:`\varepsilon \le \sqrt N(M-1)/(e\,r\tau)`
    when :math:`r\tau > M - 1`, and :math:`\varepsilon \le \sqrt N
    e^{-r\tau/(M-1)}` before, which implies the same since :math:`\ln x \le
    x/e`. Hence (Lahiri & Ganguli 2013; chapter *Complex synapses*)

    .. math::

        \tau \le \frac{\sqrt N\,(M - 1)}{e\,\varepsilon\, r} .

    Parameters
    ----------
    n_states : int
        :math:`M \ge 2`.
    n_synapses : float
        :math:`N > 0`.
    threshold : float, optional
        :math:`\varepsilon > 0`.
    rate : float, optional
        :math:`r > 0`.
    """
    M = v.integer("n_states", n_states, lo=2)
    N = v.real("n_synapses", n_synapses, lo=0.0, lo_open=True)
    eps = v.real("threshold", threshold, lo=0.0, lo_open=True)
    r = v.real("rate", rate, lo=0.0, lo_open=True)
    return float(np.sqrt(N) * (M - 1) / (np.e * eps * r))


def memory_lifetime(m_pot, m_dep, w, n_synapses, threshold=1.0, f_pot=0.5, rate=1.0, t_max=1e9):
    r"""The memory lifetime: the last time at which :math:`\mathrm{SNR}(t)` (:func:`snr`) is at least ``threshold``.

    Found on a logarithmic grid from :math:`10^{-6}/r` to ``t_max`` and
    refined by bisection at the last crossing. Returns 0 when the SNR never
    reaches the threshold, and raises ``ValueError`` when it still exceeds it
    at ``t_max``.

    Parameters
    ----------
    m_pot, m_dep, w
        A model.
    n_synapses : float
        :math:`N > 0`.
    threshold : float, optional
        :math:`\varepsilon > 0`.
    f_pot, rate : float, optional
    t_max : float, optional
        The longest time searched, :math:`> 0`.
    """
    _model(m_pot, m_dep, w, f_pot, n_synapses, rate)          # validates the model and N, r
    eps = v.real("threshold", threshold, lo=0.0, lo_open=True)
    t_max = v.real("t_max", t_max, lo=0.0, lo_open=True)
    grid = np.concatenate([[0.0], np.geomspace(1e-6 / rate, t_max, 2000)])
    values = snr(grid, m_pot, m_dep, w, f_pot, n_synapses, rate) - eps
    if values[-1] >= 0:
        raise ValueError(f"the SNR still exceeds threshold={eps:g} at t_max={t_max:g}: raise t_max")
    above = np.flatnonzero(values >= 0)
    if above.size == 0:
        return 0.0
    i = above[-1]
    lo, hi = grid[i], grid[i + 1]
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if snr(mid, m_pot, m_dep, w, f_pot, n_synapses, rate) >= eps:
            lo = mid
        else:
            hi = mid
    return float(0.5 * (lo + hi))


def power_law_range(t, values, spread=0.3):
    r"""The longest stretch of a decaying curve that is close to a power law, and its mean exponent.

    The local exponent is :math:`d\log y/d\log t`, by centred differences on
    the given points (which should be spaced evenly in :math:`\log t`). A
    stretch counts as a power law while the curve decays, with a local
    exponent below minus ``spread``, and the exponent varies by at most
    ``spread`` over it. A single exponential's exponent, :math:`-t/\tau`, goes
    from :math:`-s` to :math:`-2s` within a factor 2 of time, so only a
    superposition of many time scales holds it steady over decades (chapter
    *Complex synapses*).

    Parameters
    ----------
    t : array_like, shape (n,)
        Increasing positive times, :math:`n \ge 3`.
    values : array_like, shape (n,)
        Positive values of the curve.
    spread : float, optional
        :math:`> 0`.

    Returns
    -------
    start, stop : float
        The ends of the longest such stretch.
    exponent : float
        The mean local exponent over it.
    """
    t = v.real_array("t", t, lo=0.0, lo_open=True)
    y = v.real_array("values", values, lo=0.0, lo_open=True)
    if t.ndim != 1 or t.shape != y.shape or t.size < 3 or np.any(np.diff(t) <= 0):
        raise ValueError("t and values must be 1-d arrays of equal length >= 3, with t increasing")
    spread = v.real("spread", spread, lo=0.0, lo_open=True)
    slope = np.gradient(np.log(y), np.log(t))
    best = None
    j = 0
    for i in range(t.size):
        if slope[i] > -spread:
            # Not yet decaying (or no longer): a flat start is no power law.
            j = i + 1
            continue
        # Shrink the window [j, i] until the slope's range fits within the spread.
        while slope[j:i + 1].max() - slope[j:i + 1].min() > spread:
            j += 1
        if best is None or t[i] / t[j] > t[best[1]] / t[best[0]]:
            best = (j, i)
    if best is None:
        raise ValueError(f"values never decay with a local exponent below -spread = {-spread:g}")
    a, b = best
    return float(t[a]), float(t[b]), float(slope[a:b + 1].mean())


# --- simulation --------------------------------------------------------------------------

class MemorySimulation(NamedTuple):
    """What :func:`simulate_memory` returns."""

    t: np.ndarray
    snr: np.ndarray
    """Mean over trials of the readout (in units of its noise at equilibrium)."""
    stderr: np.ndarray
    """Standard error of that mean."""
    noise: float
    """The measured standard deviation of the readout before the memory (1 in theory)."""


def _step(states, matrix_cum, rng):
    """One event for each synapse: next state drawn from the cumulative rows."""
    u = rng.random(states.size)
    return (u[:, None] > matrix_cum[states]).sum(axis=1)


def simulate_memory(model, n_synapses, t, rng=None, n_trials=20, rate=1.0):
    r"""Store one memory on simulated synapses and measure its SNR at times ``t``.

    Each trial starts :math:`N` synapses in states drawn from :math:`p^\infty`
    and gives synapse :math:`i` the event :math:`\xi_i = \pm1` (potentiation
    or depression, with :math:`f_{\mathrm{pot}} = \tfrac12`). The background
    events then arrive as a Poisson process of rate :math:`r` per synapse,
    simulated exactly: the number of events in each interval is Poisson, and
    each event is a potentiation or a depression with probability
    :math:`\tfrac12`. The ideal observer reads :math:`S(t) = N^{-1/2}\sum_i
    \xi_i w_{s_i(t)}`, whose standard deviation without a memory is 1 and
    whose mean is :func:`snr`. Also measured: the readout's standard
    deviation with the events :math:`\xi` drawn afresh (no memory stored).

    Parameters
    ----------
    model : tuple
        ``(m_pot, m_dep, w)``.
    n_synapses : int
    t : array_like
        Increasing times :math:`\ge 0`.
    rng : None, int or numpy.random.Generator
    n_trials : int, optional
    rate : float, optional
    """
    m_pot, m_dep, w = model
    m_pot, m_dep = _pair(m_pot, m_dep)
    w = _weights(w, m_pot.shape[0])
    N = v.integer("n_synapses", n_synapses, lo=1)
    t = v.real_array("t", t, lo=0.0)
    if t.ndim != 1 or np.any(np.diff(t) < 0):
        raise ValueError("t must be a 1-d array of increasing times")
    n_trials = v.integer("n_trials", n_trials, lo=2)
    r = v.real("rate", rate, lo=0.0, lo_open=True)
    rng = v.as_generator(rng)
    p = _equilibrium(_forgetting(m_pot, m_dep, 0.5))
    cum_pot, cum_dep = np.cumsum(m_pot, axis=1), np.cumsum(m_dep, axis=1)
    cum_pot[:, -1] = cum_dep[:, -1] = 1.0 + 1e-12
    readouts, nulls = [], []
    for _ in range(n_trials):
        states = rng.choice(p.size, size=N, p=p)
        xi = np.where(rng.random(N) < 0.5, 1.0, -1.0)
        # Readouts with fresh events and no memory: twenty per trial for the noise.
        fresh = np.where(rng.random((20, N)) < 0.5, 1.0, -1.0)
        nulls.extend(fresh @ w[states] / np.sqrt(N))
        states = np.where(xi > 0, _step(states, cum_pot, rng), _step(states, cum_dep, rng))
        now, out = 0.0, []
        for ti in t:
            counts = rng.poisson(r * (ti - now), N)
            for k in range(counts.max() if counts.size else 0):
                moving = np.flatnonzero(counts > k)
                pot = rng.random(moving.size) < 0.5
                s = states[moving]
                s_new = np.where(pot, _step(s, cum_pot, rng), _step(s, cum_dep, rng))
                states[moving] = s_new
            now = ti
            out.append(np.sum(xi * w[states]) / np.sqrt(N))
        readouts.append(out)
    readouts = np.array(readouts)
    return MemorySimulation(t, readouts.mean(axis=0), readouts.std(axis=0, ddof=1) / np.sqrt(n_trials),
                            float(np.std(nulls, ddof=1)))


# --- synaptic intelligence ------------------------------------------------------------------

def si_quadratic_importance(curvature, displacement, lr, n_steps, xi=1e-3):
    r"""Synaptic intelligence's importance :math:`\Omega` for gradient descent on a separable quadratic, in closed form.

    For :math:`L = \tfrac12\sum_k h_k(\theta_k - \theta_k^*)^2` from
    :math:`\theta_k(0) - \theta_k^* = d_k`, gradient descent with step
    :math:`\eta` has :math:`g_k(t) = h_kd_k(1 - \eta h_k)^t` and update
    :math:`\Delta\theta_k(t) = -\eta g_k(t)`, so the path integral
    :math:`\omega_k = -\sum_t g_k(t)\Delta\theta_k(t)` is a geometric sum,

    .. math::

        \omega_k = \frac{h_kd_k^2}{2 - \eta h_k}\bigl[1 - (1 - \eta h_k)^{2T}\bigr],
        \qquad
        \Omega_k = \frac{\omega_k}{\Delta_k^2 + \xi},\quad
        \Delta_k = -d_k\bigl[1 - (1 - \eta h_k)^T\bigr] .

    As :math:`\eta \to 0` and :math:`T \to \infty`, :math:`\omega_k \to
    h_kd_k^2/2`, the drop of the loss in coordinate :math:`k`, and
    :math:`\Omega_k \to h_k/2`: the importance measures the curvature
    (chapter eq. ``eq-cs-si-quadratic``).
    """
    h = v.real_array("curvature", curvature, lo=0.0)
    d = v.real_array("displacement", displacement)
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    T = v.integer("n_steps", n_steps, lo=1)
    xi = v.real("xi", xi, lo=0.0, lo_open=True)
    if np.any(lr * h >= 2):
        raise ValueError("lr * curvature must be below 2, where gradient descent is stable")
    decay = 1 - lr * h
    omega = h * d * d / (2 - lr * h) * (1 - decay ** (2 * T))
    delta = -d * (1 - decay**T)
    return v.scalar_or_array(omega / (delta * delta + xi))


class SynapticIntelligence:
    r"""The importance tracker of synaptic intelligence for a torch model.

    Call :meth:`accumulate` after every optimiser step with the gradient of
    the *task* loss (without the consolidation penalty) taken before the
    step; it adds :math:`-g\cdot\Delta\theta` with :math:`\Delta\theta` the
    step the optimiser actually took (not :math:`-\eta g`). At the end of a
    task :meth:`consolidate` adds :math:`\max(0, \omega/(\Delta^2 + \xi))` to
    :math:`\Omega`, resets :math:`\omega` and stores the new reference
    weights. :meth:`penalty` is :math:`c\sum_k\Omega_k(\theta_k -
    \tilde\theta_k)^2`.
    """

    def __init__(self, model, c, xi=1e-3):
        import torch

        self.c = v.real("c", c, lo=0.0)
        self.xi = v.real("xi", xi, lo=0.0, lo_open=True)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.omega = [torch.zeros_like(p) for p in self.params]
        self.Omega = [torch.zeros_like(p) for p in self.params]
        self.reference = [p.detach().clone() for p in self.params]
        self._before = None

    def snapshot(self, task_grads):
        """Record the task-loss gradients and the weights before an optimiser step."""
        self._before = ([g.detach().clone() for g in task_grads], [p.detach().clone() for p in self.params])

    def accumulate(self):
        """Add -g . (theta_after - theta_before) to omega, for the step just taken."""
        grads, before = self._before
        for om, g, p, b in zip(self.omega, grads, self.params, before):
            om -= g * (p.detach() - b)

    def consolidate(self):
        """End of a task: Omega += max(0, omega / (Delta^2 + xi)); reset omega; new reference."""
        for om, Om, p, ref in zip(self.omega, self.Omega, self.params, self.reference):
            delta = p.detach() - ref
            Om += (om / (delta * delta + self.xi)).clamp(min=0.0)
            om.zero_()
            ref.copy_(p.detach())

    def penalty(self):
        """The surrogate loss c sum Omega (theta - reference)^2, a tensor."""
        return self.c * sum((Om * (p - ref) ** 2).sum() for Om, p, ref in zip(self.Omega, self.params, self.reference))

    def add_penalty_gradient(self):
        """Add the gradient of :meth:`penalty`, 2 c Omega (theta - reference), to every parameter's ``.grad``.

        With the task loss alone back-propagated, this gives the gradient of
        the total loss in one backward pass instead of two.
        """
        import torch

        with torch.no_grad():
            for Om, p, ref in zip(self.Omega, self.params, self.reference):
                p.grad.add_(2 * self.c * Om * (p - ref))


def _mlp(n_in, n_hidden, n_out):
    import torch

    from . import torch_utils

    return torch.nn.Sequential(
        torch.nn.Linear(n_in, n_hidden), torch.nn.ReLU(),
        torch.nn.Linear(n_hidden, n_hidden), torch.nn.ReLU(),
        torch.nn.Linear(n_hidden, n_out),
    ).to(torch_utils.DTYPE)


def _check_tasks(tasks, held_out):
    if len(tasks) < 1:
        raise ValueError("tasks must hold at least one (X_train, y_train, X_test, y_test)")
    if held_out is not None and len(held_out) != len(tasks):
        raise ValueError(f"held_out must hold one (X, y) per task ({len(tasks)}), got {len(held_out)}")


def _start(tasks, held_out, rng, n_hidden, n_epochs, batch_size):
    """Validated counts, the minibatch generator and the seeded network shared by the two trainers."""
    import torch

    from . import torch_utils

    n_epochs = v.integer("n_epochs", n_epochs, lo=1)
    batch_size = v.integer("batch_size", batch_size, lo=1)
    _check_tasks(tasks, held_out)
    rng = v.as_generator(rng)
    gen = torch_utils.generator(rng)
    torch.manual_seed(int(rng.integers(2**31)))
    n_out = int(max(t[1].max() for t in tasks)) + 1
    return n_epochs, batch_size, gen, _mlp(tasks[0][0].shape[1], n_hidden, n_out)


def _accuracy(model, sets):
    import torch

    from . import torch_utils

    with torch.no_grad():
        return np.array([float((model(torch_utils.tensor(X)).argmax(dim=1).numpy() == np.asarray(y)).mean())
                         for X, y in sets])


def continual_learning(tasks, c, rng, n_hidden=64, n_epochs=20, lr=1e-3, batch_size=64, xi=0.1, held_out=None):
    r"""Train one torch MLP on ``tasks`` in sequence with synaptic intelligence of strength ``c``.

    Parameters
    ----------
    tasks : list of (X_train, y_train, X_test, y_test)
        Inputs as rows, integer labels; every task shares the one output
        layer (the permuted-digits setting).
    c : float
        Consolidation strength; 0 is plain fine-tuning.
    rng : int or numpy.random.Generator
        Seeds the initial weights and the minibatches.
    held_out : list of (X, y), optional
        One more evaluation set per task, such as a validation split on which
        to choose ``c`` without looking at the test sets.

    Returns
    -------
    ndarray, shape (n_tasks, n_tasks)
        ``acc[i, j]``: test accuracy on task ``j`` after training on task ``i``;
        with ``held_out``, a pair ``(acc, acc_held_out)`` of such matrices.
    """
    import torch

    from . import torch_utils

    c = v.real("c", c, lo=0.0)
    n_epochs, batch_size, gen, model = _start(tasks, held_out, rng, n_hidden, n_epochs, batch_size)
    si = SynapticIntelligence(model, c, xi)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999))
    data = [(torch_utils.tensor(a), torch_utils.tensor(b, None).long()) for a, b, _, _ in tasks]
    acc = np.zeros((len(tasks), len(tasks)))
    acc_held = np.zeros_like(acc)
    for i, (Xtr, ytr) in enumerate(data):
        for _ in range(n_epochs):
            order = torch.randperm(Xtr.shape[0], generator=gen)
            for start in range(0, Xtr.shape[0], batch_size):
                idx = order[start:start + batch_size]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(Xtr[idx]), ytr[idx]).backward()
                # The importance integrates the task loss's own gradient; the
                # penalty's is added in closed form afterwards.
                si.snapshot([p.grad for p in si.params])
                if c > 0:
                    si.add_penalty_gradient()
                opt.step()
                si.accumulate()
        # The authors keep one Adam optimiser across tasks (reset_optimizer = False).
        si.consolidate()
        acc[i] = _accuracy(model, [(X, y) for _, _, X, y in tasks])
        if held_out is not None:
            acc_held[i] = _accuracy(model, held_out)
    return (acc, acc_held) if held_out is not None else acc


def joint_training(tasks, rng, n_hidden=64, n_epochs=20, lr=1e-3, batch_size=64, held_out=None):
    r"""The ceiling of continual learning: the same MLP trained on all ``tasks`` at once.

    The training sets are pooled and shuffled together, and the network sees
    the pool for ``n_epochs`` epochs, about as many gradient steps as
    :func:`continual_learning` takes over all the tasks with the same
    arguments. Arguments as there.

    Returns
    -------
    ndarray, shape (n_tasks,)
        Test accuracy on each task; with ``held_out``, a pair of such arrays.
    """
    import torch

    from . import torch_utils

    n_epochs, batch_size, gen, model = _start(tasks, held_out, rng, n_hidden, n_epochs, batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999))
    X = torch_utils.tensor(np.concatenate([t[0] for t in tasks]))
    y = torch_utils.tensor(np.concatenate([t[1] for t in tasks]), None).long()
    for _ in range(n_epochs):
        order = torch.randperm(X.shape[0], generator=gen)
        for start in range(0, X.shape[0], batch_size):
            idx = order[start:start + batch_size]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    acc = _accuracy(model, [(X_, y_) for _, _, X_, y_ in tasks])
    return (acc, _accuracy(model, held_out)) if held_out is not None else acc
