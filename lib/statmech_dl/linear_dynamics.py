r"""Exact learning dynamics of linear networks.

Used by the chapters *Semantic development* (``book/semantic_development.md``)
and *Deep linear dynamics* (``book/deep_linear_dynamics.md``).

A linear network maps an input :math:`x \in \mathbb{R}^{N_1}` to
:math:`\hat y = W_{L} \cdots W_1 x`. Trained by full-batch gradient descent on
the mean squared error

.. math::

    \mathcal{L} = \frac{1}{2P} \sum_{\mu=1}^{P} \lVert y^\mu - \hat y^\mu \rVert^2 ,

its behaviour depends on the data only through the input correlations
:math:`\Sigma^{11} = \langle x x^\top \rangle` and the input-output correlations
:math:`\Sigma^{31} = \langle y x^\top \rangle = U S V^\top`. With whitened
inputs and decoupled initial conditions each singular mode of the three-layer
network evolves independently (Saxe, McClelland & Ganguli, 2014, 2019):

.. math::

    \tau \frac{da}{dt} = 2 a (s - a), \qquad
    a(t) = \frac{s\, e^{2st/\tau}}{e^{2st/\tau} - 1 + s/a_0} .

Time is measured in units of :math:`\tau`: a gradient-descent step with learning
rate :math:`\eta` advances :math:`t/\tau` by :math:`\eta`.

This module holds the theory. Networks are trained by
:func:`statmech_dl.training.train_linear_network`, and the curvature of their
loss is computed in :mod:`statmech_dl.saddles`.
"""

import numpy as np

from . import _validation as v

__all__ = [
    "mode_strength",
    "deep_mode_strength",
    "learning_time",
    "learning_time_deep_limit",
    "shallow_mode_strength",
    "half_time",
    "shallow_half_time",
    "input_output_correlations",
    "mode_decomposition",
    "theory_map",
    "project_modes",
    "decoupled_initial_weights",
    "effective_initial_strength",
    "crossing_time",
]


def _mode_args(t, s, a0, tau, a0_may_vanish=False, a0_name="a0"):
    t = v.real_array("t", t, lo=0.0)
    s = v.real_array("s", s, lo=0.0, lo_open=True)
    a0 = v.real_array(a0_name, a0, lo=0.0, lo_open=not a0_may_vanish)
    tau = v.real("tau", tau, lo=0.0, lo_open=True)
    return t, s, a0, tau


def mode_strength(t, s, a0, tau=1.0):
    r"""Strength of one input-output mode of a three-layer linear network.

    Exact solution of :math:`\tau\, \dot a = 2a(s-a)` from decoupled, balanced
    initial conditions (equation ``eq-semdev-exact`` of the chapter *Semantic
    development*):

    .. math::

        a(t) = \frac{s\, e^{2st/\tau}}{e^{2st/\tau} - 1 + s/a_0}
             = \frac{s}{1 + (s/a_0 - 1)\, e^{-2st/\tau}} .

    The second form is the one evaluated, because it never overflows.

    Parameters
    ----------
    t : array_like
        Time, :math:`0 \le t < \infty`, in the same units as ``tau``.
    s : array_like
        Singular value of the mode in :math:`\Sigma^{31}`, :math:`s > 0`.
    a0 : array_like
        Initial mode strength, :math:`a_0 > 0`.
    tau : float, optional
        Time constant :math:`\tau > 0` (the inverse learning rate).

    Returns
    -------
    float or ndarray
        :math:`a(t)`, broadcast over the arguments.
    """
    t, s, a0, tau = _mode_args(t, s, a0, tau)
    return v.scalar_or_array(s / (1.0 + (s / a0 - 1.0) * np.exp(-2.0 * s * t / tau)))


def shallow_mode_strength(t, s, a0, tau=1.0):
    r"""Strength of one mode of a linear network with no hidden layer.

    With whitened inputs the map :math:`W` obeys :math:`\tau \dot W =
    \Sigma^{31} - W`, so each mode relaxes exponentially towards its target
    (chapter *Semantic development*, equation ``eq-semdev-shallow``):

    .. math::

        b(t) = s - (s - a_0)\, e^{-t/\tau} .

    Every mode reaches half its final strength at :math:`\tau \ln 2` when
    :math:`a_0 \to 0`, whatever its singular value: without depth there are no
    stages.

    Parameters
    ----------
    t : array_like
        Time, :math:`0 \le t < \infty`.
    s : array_like
        Singular value, :math:`s > 0`.
    a0 : array_like
        Initial strength, :math:`a_0 \ge 0`. Unlike the three-layer network,
        whose zero state is a fixed point that learning never leaves, the
        network without a hidden layer learns from :math:`a_0 = 0`.
    tau : float, optional
        Time constant, :math:`\tau > 0`.

    Returns
    -------
    float or ndarray
    """
    t, s, a0, tau = _mode_args(t, s, a0, tau, a0_may_vanish=True)
    return v.scalar_or_array(s - (s - a0) * np.exp(-t / tau))


def _half_args(s, a0, tau, a0_may_vanish=False):
    s = v.real_array("s", s, lo=0.0, lo_open=True)
    a0 = v.real_array("a0", a0, lo=0.0, lo_open=not a0_may_vanish)
    tau = v.real("tau", tau, lo=0.0, lo_open=True)
    if np.any(a0 >= s / 2):
        raise ValueError("a0 must lie in (0, s/2) for the mode to have a half-time ahead of it")
    return s, a0, tau


def half_time(s, a0, tau=1.0):
    r"""Time at which a three-layer mode reaches half its final strength.

    Setting :math:`a(t) = s/2` in :func:`mode_strength` gives

    .. math::

        t_{1/2} = \frac{\tau}{2s} \ln\!\left(\frac{s}{a_0} - 1\right),

    so stronger modes are learned first, in time :math:`O(\tau/s)`.

    Parameters
    ----------
    s : array_like
        Singular value, :math:`s > 0`.
    a0 : array_like
        Initial strength, :math:`0 < a_0 < s/2`.
    tau : float, optional
        Time constant, :math:`\tau > 0`.
    """
    s, a0, tau = _half_args(s, a0, tau)
    return v.scalar_or_array(tau / (2.0 * s) * np.log(s / a0 - 1.0))


def shallow_half_time(s, a0, tau=1.0):
    r"""Half-time of a mode of the network with no hidden layer.

    .. math::

        t_{1/2} = \tau \ln\!\left(2\,\frac{s - a_0}{s}\right)
        \xrightarrow{a_0 \to 0} \tau \ln 2 .

    Parameters
    ----------
    s : array_like
        Singular value, :math:`s > 0`.
    a0 : array_like
        Initial strength, :math:`0 \le a_0 < s/2`.
    tau : float, optional
        Time constant, :math:`\tau > 0`.
    """
    s, a0, tau = _half_args(s, a0, tau, a0_may_vanish=True)
    return v.scalar_or_array(tau * np.log(2.0 * (s - a0) / s))


def _n_layers(n_layers):
    return v.integer("n_layers", n_layers, lo=2)


def _deep_rate(u, s, n_layers, tau):
    return (n_layers - 1) * u ** (2.0 - 2.0 / (n_layers - 1)) * (s - u) / tau


def deep_mode_strength(t, s, u0, n_layers, tau=1.0):
    r"""Mode strength of a deep linear network with ``n_layers`` layers of units.

    A network with :math:`N_l` layers of units (input and output included) has
    :math:`N_l - 1` weight matrices. From balanced, decoupled initial
    conditions every layer carries the same strength :math:`w` of a mode and
    the product :math:`u = w^{N_l-1}` obeys (chapter *Deep linear dynamics*,
    equation ``eq-dld-reduced``)

    .. math::

        \tau \frac{du}{dt} = (N_l - 1)\, u^{2 - 2/(N_l-1)} (s - u) .

    ``n_layers=2`` is the network without a hidden layer
    (:func:`shallow_mode_strength`) and ``n_layers=3`` the three-layer network
    (:func:`mode_strength`); both use their closed forms. Deeper networks are
    integrated numerically in :math:`\ln u` (relative accuracy about
    :math:`10^{-9}`).

    Parameters
    ----------
    t : array_like
        Times, :math:`0 \le t < \infty`.
    s : float or array_like
        Singular value, :math:`s > 0`.
    u0 : float or array_like
        Initial strength of the product, :math:`u_0 > 0`.
    n_layers : int
        :math:`N_l \ge 2`, layers of units including input and output.
    tau : float, optional
        Time constant :math:`\tau > 0`.

    Returns
    -------
    float or ndarray
        :math:`u(t)`, broadcast over ``t``, ``s`` and ``u0``.
    """
    from scipy.integrate import solve_ivp

    t, s, u0, tau = _mode_args(t, s, u0, tau, a0_name="u0")
    n_layers = _n_layers(n_layers)
    if n_layers == 2:
        return shallow_mode_strength(t, s, u0, tau)
    if n_layers == 3:
        return mode_strength(t, s, u0, tau)
    t, s, u0 = np.broadcast_arrays(t, s, u0)
    shape = t.shape
    t, s, u0 = t.ravel(), s.ravel(), u0.ravel()
    out = np.empty(t.shape)
    # One integration per distinct (s, u0): group the elements by the pair,
    # packed as one complex number (a far cheaper sort than unique rows).
    pairs, group = np.unique(s + 1j * u0, return_inverse=True)
    for k, pair in enumerate(pairs):
        s_i, u0_i = pair.real, pair.imag
        mask = group == k
        times = np.unique(t[mask])
        if u0_i == s_i:
            out[mask] = s_i
            continue

        # In x = ln u the solution is smooth over the many decades u crosses.
        def rhs(_, x, s_i=s_i):
            u = np.exp(x[0])
            return [_deep_rate(u, s_i, n_layers, tau) / u]

        sol = solve_ivp(rhs, (0.0, float(times[-1])), [np.log(u0_i)], t_eval=times,
                        method="DOP853", rtol=1e-11, atol=1e-12)
        if not sol.success:  # pragma: no cover - DOP853 does not fail on this smooth problem
            raise RuntimeError(f"integration failed: {sol.message}")
        out[mask] = np.interp(t[mask], times, np.exp(sol.y[0]))
    return v.scalar_or_array(out.reshape(shape))


def _time_args(s, u0, uf, n_layers, tau):
    s = v.real("s", s, lo=0.0, lo_open=True)
    u0 = v.real("u0", u0, lo=0.0, lo_open=True)
    uf = v.real("uf", uf, lo=0.0, lo_open=True)
    n_layers = _n_layers(n_layers)
    tau = v.real("tau", tau, lo=0.0, lo_open=True)
    if u0 == s:
        raise ValueError("u0 must differ from s: a mode that starts at its target never moves")
    if u0 < s and not u0 <= uf < s:
        raise ValueError(f"uf must lie in [u0, s) = [{u0:g}, {s:g}) for a mode that grows, got {uf:g}")
    if u0 > s and not s < uf <= u0:
        raise ValueError(f"uf must lie in (s, u0] = ({s:g}, {u0:g}] for a mode that shrinks, got {uf:g}")
    return s, u0, uf, n_layers, tau


def learning_time(s, u0, uf, n_layers, tau=1.0):
    r"""Time for a mode of a deep linear network to grow from ``u0`` to ``uf``.

    Separating variables in the reduced dynamics of :func:`deep_mode_strength`,

    .. math::

        t = \frac{\tau}{N_l - 1} \int_{u_0}^{u_f}
            \frac{du}{u^{2 - 2/(N_l-1)} (s - u)} ,

    which for :math:`N_l = 3` is :math:`\frac{\tau}{2s}\ln\frac{u_f(s-u_0)}{u_0(s-u_f)}`
    and for :math:`N_l = 2` is :math:`\tau\ln\frac{s-u_0}{s-u_f}` (chapter
    *Deep linear dynamics*, equation ``eq-dld-time``). Other depths are
    integrated numerically.

    Parameters
    ----------
    s : float
        Singular value, :math:`s > 0`.
    u0 : float
        Initial strength, :math:`u_0 > 0`, :math:`u_0 \ne s`.
    uf : float
        Final strength, between ``u0`` and ``s`` (never ``s`` itself, which is
        reached only as :math:`t \to \infty`).
    n_layers : int
        :math:`N_l \ge 2`.
    tau : float, optional
        Time constant, :math:`\tau > 0`.

    Returns
    -------
    float
    """
    from scipy.integrate import quad

    s, u0, uf, n_layers, tau = _time_args(s, u0, uf, n_layers, tau)
    if uf == u0:
        return 0.0
    if n_layers == 2:
        return tau * np.log((s - u0) / (s - uf))
    if n_layers == 3:
        return tau / (2 * s) * np.log(uf * (s - u0) / (u0 * (s - uf)))
    # Integrate in x = ln u; the 1/(s-u) part is integrated exactly and only the
    # smooth remainder numerically: u^(1-p)/(s-u) = [u^(1-p) - s^(1-p)]/(s-u) + s^(1-p)/(s-u).
    q = 2.0 / (n_layers - 1) - 1.0          # 1 - p with p = 2 - 2/(N_l - 1)

    def smooth(x):
        u = np.exp(x)
        if abs(s - u) < 1e-12 * s:
            return -q * s ** (q - 1)        # limit of [u^q - s^q]/(s - u) * u / u
        return u * (u ** (q - 1) - s ** (q - 1)) / (s - u)

    a, b = np.log(u0), np.log(uf)
    part, _ = quad(smooth, a, b, epsabs=0.0, epsrel=1e-12, limit=200)
    singular = s ** (q - 1) * np.log((s - u0) / (s - uf))
    return float(tau / (n_layers - 1) * (part + singular))


def learning_time_deep_limit(s, u0, uf, n_layers, tau=1.0):
    r"""Large-depth form of :func:`learning_time`.

    As :math:`N_l \to \infty` the exponent :math:`2 - 2/(N_l-1) \to 2` and

    .. math::

        t \simeq \frac{\tau}{N_l - 1}\left[\frac{1}{s}\left(\frac{1}{u_0} -
        \frac{1}{u_f}\right) + \frac{1}{s^2}\ln\frac{u_f (s - u_0)}{u_0 (s - u_f)}\right] .

    With a learning rate :math:`\propto 1/N_l` (so :math:`\tau \propto N_l`)
    and :math:`u_0 = O(1)`, the number of iterations stays finite as depth
    grows (chapter *Deep linear dynamics*, equation ``eq-dld-deep-limit``).

    Parameters
    ----------
    s, u0, uf, n_layers, tau
        As in :func:`learning_time`, with ``u0 < uf < s``.
    """
    s, u0, uf, n_layers, tau = _time_args(s, u0, uf, n_layers, tau)
    if u0 > s:
        raise ValueError("u0 must lie in (0, s): the large-depth form is for growing modes")
    bracket = (1 / u0 - 1 / uf) / s + np.log(uf * (s - u0) / (u0 * (s - uf))) / s**2
    return float(tau / (n_layers - 1) * bracket)


def input_output_correlations(X, Y):
    r"""Input and input-output correlation matrices of a data set.

    Parameters
    ----------
    X : array_like, shape (N1, P)
        Inputs, one column per example.
    Y : array_like, shape (N3, P)
        Targets, one column per example.

    Returns
    -------
    sigma11 : ndarray, shape (N1, N1)
        :math:`\Sigma^{11} = X X^\top / P`.
    sigma31 : ndarray, shape (N3, N1)
        :math:`\Sigma^{31} = Y X^\top / P`.

    Notes
    -----
    For one-hot inputs (one input unit per item) :math:`\Sigma^{11} = I/P` and
    :math:`\Sigma^{31} = Y/P`: the network learns the singular values of
    :math:`Y` on the time scale :math:`P\tau` (chapter *Semantic development*).
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same number of columns (examples), got {X.shape[1]} and {Y.shape[1]}")
    P = X.shape[1]
    return X @ X.T / P, Y @ X.T / P


def _fix_signs(U, Vt):
    # A singular vector is defined up to sign; make the largest item loading of
    # each object analyser positive (lowest index wins ties) so that figures and
    # printed numbers do not depend on LAPACK's arbitrary choice.
    for k in range(Vt.shape[0]):
        row = Vt[k]
        mag = np.abs(row)
        idx = int(np.flatnonzero(mag >= mag.max() * (1 - 1e-8))[0])
        if row[idx] < 0:
            Vt[k] *= -1
            U[:, k] *= -1
    return U, Vt


def mode_decomposition(sigma31, tol=1e-10):
    r"""Singular value decomposition :math:`\Sigma^{31} = U S V^\top` into modes.

    The columns of :math:`U` are the *feature synthesisers*, the rows of
    :math:`V^\top` the *object analysers* and :math:`S` the *mode strengths*
    (chapter *Semantic development*). Modes with singular value below
    ``tol * s_max`` are dropped, and signs are fixed so that each analyser's
    largest loading is positive.

    Parameters
    ----------
    sigma31 : array_like, shape (N3, N1)
    tol : float, optional
        Relative threshold in :math:`[0, 1)` below which modes are dropped.

    Returns
    -------
    U : ndarray, shape (N3, K)
    s : ndarray, shape (K,)
        Singular values in decreasing order.
    Vt : ndarray, shape (K, N1)
    """
    sigma31 = v.matrix("sigma31", sigma31)
    tol = v.real("tol", tol, lo=0.0, hi=1.0, hi_open=True)
    U, s, Vt = np.linalg.svd(sigma31, full_matrices=False)
    keep = s > tol * s[0]
    U, s, Vt = U[:, keep].copy(), s[keep].copy(), Vt[keep].copy()
    U, Vt = _fix_signs(U, Vt)
    return U, s, Vt


def theory_map(U, strengths, Vt):
    r"""The input-output map :math:`U\, \mathrm{diag}(a)\, V^\top`.

    Parameters
    ----------
    U : array_like, shape (N3, K)
    strengths : array_like, shape (..., K)
        Mode strengths; leading dimensions (for example time) are kept.
    Vt : array_like, shape (K, N1)

    Returns
    -------
    ndarray, shape (..., N3, N1)
    """
    U = v.matrix("U", U)
    Vt = v.matrix("Vt", Vt)
    a = np.asarray(strengths, dtype=float)
    if a.shape[-1] != U.shape[1] or U.shape[1] != Vt.shape[0]:
        raise ValueError(f"strengths must end in K={U.shape[1]} to match U and Vt, got shape {a.shape}")
    return np.einsum("ik,...k,kj->...ij", U, a, Vt)


def project_modes(maps, U, Vt):
    r"""Mode strengths :math:`a_\alpha = u_\alpha^\top W v_\alpha` of network maps.

    Parameters
    ----------
    maps : array_like, shape (..., N3, N1)
        Input-output maps, for example ``LinearTrajectory.maps``.
    U : array_like, shape (N3, K)
    Vt : array_like, shape (K, N1)

    Returns
    -------
    ndarray, shape (..., K)
    """
    U = v.matrix("U", U)
    Vt = v.matrix("Vt", Vt)
    W = np.asarray(maps, dtype=float)
    if W.shape[-2:] != (U.shape[0], Vt.shape[1]):
        raise ValueError(f"maps must end in shape {(U.shape[0], Vt.shape[1])}, got {W.shape}")
    return np.einsum("ik,...ij,kj->...k", U, W, Vt)


def decoupled_initial_weights(U, Vt, a0, n_hidden, rng=None, n_layers=3):
    r"""Balanced, decoupled initial weights whose product is :math:`U \diag(a_0) V^\top`.

    For ``n_layers`` layers of units the weights are :math:`W^{l} = R^{l+1}
    \diag(a_0^{1/(N_l-1)}) R^{l\top}` with :math:`R^{1} = V`, :math:`R^{N_l} =
    U` and random :math:`N_2 \times K` matrices with orthonormal columns in
    between. Every layer then carries the same strength of every mode, and
    gradient flow on whitened data follows :func:`mode_strength`
    (``n_layers=3``, chapter *Semantic development*) or
    :func:`deep_mode_strength` (chapter *Deep linear dynamics*) exactly.

    Parameters
    ----------
    U : array_like, shape (N3, K)
    Vt : array_like, shape (K, N1)
    a0 : float or array_like, shape (K,)
        Initial strengths of the product, all :math:`> 0`.
    n_hidden : int
        Width of every hidden layer, :math:`\ge K`.
    rng : None, int or numpy.random.Generator
    n_layers : int, optional
        Layers of units :math:`N_l \ge 2`, input and output included.

    Returns
    -------
    list of ndarray
        The :math:`N_l - 1` weight matrices, first layer first.
    """
    U = v.matrix("U", U)
    Vt = v.matrix("Vt", Vt)
    K = U.shape[1]
    n_hidden = v.integer("n_hidden", n_hidden, lo=K)
    n_layers = v.integer("n_layers", n_layers, lo=2)
    a0 = np.broadcast_to(v.real_array("a0", a0, lo=0.0, lo_open=True), (K,))
    gen = v.as_generator(rng)
    frames = [Vt.T] + [np.linalg.qr(gen.standard_normal((n_hidden, K)))[0]
                       for _ in range(n_layers - 2)] + [U]
    root = a0 ** (1.0 / (n_layers - 1))
    return [(frames[l + 1] * root) @ frames[l].T for l in range(n_layers - 1)]


def effective_initial_strength(weights, U, Vt):
    r"""Initial mode strengths that a small random initialisation acts like.

    For small weights the projections :math:`b = W^{21} v_\alpha` and
    :math:`c = W^{32\top} u_\alpha` obey :math:`\dot b = s c,\ \dot c = s b`
    (in units where the whitened dynamics has :math:`\tau = 1`), so
    :math:`b + c` grows as :math:`e^{st}` while :math:`b - c` decays. The mode
    strength :math:`a = c^\top b` then grows as :math:`\tfrac14 \lVert b_0 +
    c_0\rVert^2 e^{2st}`, which matches the early phase of
    :func:`mode_strength` with

    .. math::

        a_0^{\mathrm{eff}} = \tfrac14 \lVert W^{21}(0) v_\alpha
        + W^{32}(0)^\top u_\alpha \rVert^2 .

    Parameters
    ----------
    weights : sequence of two arrays
        ``[W21, W32]`` at time zero.
    U : array_like, shape (N3, K)
    Vt : array_like, shape (K, N1)

    Returns
    -------
    ndarray, shape (K,)
    """
    if len(weights) != 2:
        raise ValueError(f"weights must hold exactly two matrices [W21, W32], got {len(weights)}")
    W21 = v.matrix("weights[0]", weights[0])
    W32 = v.matrix("weights[1]", weights[1])
    U = v.matrix("U", U)
    Vt = v.matrix("Vt", Vt)
    b = W21 @ Vt.T
    c = W32.T @ U
    return 0.25 * np.sum((b + c) ** 2, axis=0)


def crossing_time(t, values, level):
    """First time at which a sampled curve reaches ``level``.

    Linear interpolation between the two samples that bracket the first
    crossing. Used to read half-times off simulated learning curves.

    Parameters
    ----------
    t : array_like, shape (T,)
        Increasing sample times.
    values : array_like, shape (T,)
        The curve, starting below ``level``.
    level : float

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the curve starts at or above ``level`` or never reaches it.
    """
    t = v.real_array("t", t)
    values = v.real_array("values", values)
    level = v.real("level", level)
    if t.ndim != 1 or t.shape != values.shape or t.size < 2:
        raise ValueError(f"t and values must be 1-d arrays of the same length >= 2, got {t.shape} and {values.shape}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("t must be strictly increasing")
    if values[0] >= level:
        raise ValueError(f"values must start below level={level:g}, got {values[0]:g}")
    above = np.flatnonzero(values >= level)
    if above.size == 0:
        raise ValueError(f"values never reach level={level:g} (maximum {values.max():g}); simulate longer")
    k = int(above[0])
    frac = (level - values[k - 1]) / (values[k] - values[k - 1])
    return float(t[k - 1] + frac * (t[k] - t[k - 1]))
