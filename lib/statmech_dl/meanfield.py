r"""Mean-field theory of signal propagation in deep random networks.

For the chapter *Transient chaos* (``book/transient_chaos.md``; Poole et al.
2016; Schoenholz et al. 2017), and used by :mod:`statmech_dl.isometry`.
Networks are :math:`h^l = W^l \phi(h^{l-1}) + b^l` with
:math:`W_{ij} \sim \mathcal N(0, \sigma_w^2/N)` and :math:`b_i \sim \mathcal N(0, \sigma_b^2)`.
Every function takes the nonlinearity by name: ``"tanh"``, ``"erf"``, ``"relu"``,
``"linear"`` or ``"hard_tanh"``. The standard deviations :math:`\sigma_w` and
:math:`\sigma_b` (not the variances) are the arguments.

Gaussian integrals
------------------
The integrals :math:`\int Dz\, f(a + b z)` are evaluated with composite
Gauss-Legendre quadrature on panels whose edges sit both on a fixed grid in
:math:`z` (resolving the Gaussian weight) and at fixed points of the argument
:math:`x = a + bz` (resolving the nonlinearity, including the kinks of ReLU and
hard tanh at :math:`x = 0, \pm 1`). Plain Gauss-Hermite quadrature fails when
:math:`\sqrt{q}` is large, because :math:`\phi'(\sqrt q z)` is then sharply peaked
in :math:`z`; the panel rule is accurate to about :math:`10^{-10}` relative over
:math:`0 < \sigma_w \le 5`, :math:`0 \le \sigma_b \le 2` (tested against adaptive
quadrature and the closed forms for erf and ReLU).
"""

import numpy as np

from . import _validation as v
from . import init

__all__ = [
    "PHIS",
    "gaussian_expectation",
    "q_map",
    "q_star",
    "c_map",
    "c_star",
    "chi1",
    "chi2",
    "critical_sigma_w",
    "depth_scales",
    "curvature_map",
    "curvature_fixed_point",
    "simulate",
    "propagate_circle",
    "gradient_norms",
    "train_classifier",
    "training_curve",
]

_SQRT_PI = np.sqrt(np.pi)


def _tanh(x):
    return np.tanh(x)


def _dtanh(x):
    return 1.0 / np.cosh(np.minimum(np.abs(x), 350.0)) ** 2


def _ddtanh(x):
    return -2.0 * np.tanh(x) * _dtanh(x)


def _erf(x):
    from scipy.special import erf

    return erf(x)


def _derf(x):
    return 2.0 / _SQRT_PI * np.exp(-x * x)


def _dderf(x):
    return -2.0 * x * _derf(x)


def _zero(x):
    return np.zeros_like(x)


def _one(x):
    return np.ones_like(x)


#: The nonlinearities: value, first and second derivative (None where the
#: second derivative is a distribution) and the points where it has kinks.
PHIS = {
    "tanh": (_tanh, _dtanh, _ddtanh),
    "erf": (_erf, _derf, _dderf),
    "linear": (lambda x: x, _one, _zero),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float), None),
    "hard_tanh": (lambda x: np.clip(x, -1.0, 1.0), lambda x: (np.abs(x) < 1).astype(float), None),
}


def _phi(name):
    if name not in PHIS:
        raise ValueError(f"phi must be one of {sorted(PHIS)}, got {name!r}")
    return PHIS[name]


def _sigmas(sigma_w, sigma_b):
    sigma_w = v.real_array("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real_array("sigma_b", sigma_b, lo=0.0)
    return np.broadcast_arrays(sigma_w, sigma_b)


# --- quadrature ---------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(12)
_Z_EDGES = np.arange(-10.0, 10.5, 1.0)                       # the Gaussian weight
_X_EDGES = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0])
_X_EDGES = np.concatenate([-_X_EDGES[:0:-1], _X_EDGES])       # the nonlinearity, incl. kinks


def _nodes(a, b):
    """Quadrature nodes z and weights (Gaussian measure included) for E_z[f(a + b z)]."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    shape = a.shape
    a, b = a.reshape(-1, 1), b.reshape(-1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_from_x = np.where(b > 0, (_X_EDGES[None, :] - a) / b, 0.0)
    edges = np.sort(np.clip(np.concatenate([np.broadcast_to(_Z_EDGES, (a.shape[0], _Z_EDGES.size)),
                                            z_from_x], axis=1), -10.0, 10.0), axis=1)
    lo, hi = edges[:, :-1], edges[:, 1:]
    half, mid = (hi - lo) / 2, (hi + lo) / 2
    z = mid[:, :, None] + half[:, :, None] * _GL_X[None, None, :]
    w = half[:, :, None] * _GL_W[None, None, :] * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    n = z.shape[1] * z.shape[2]
    return z.reshape(shape + (n,)), w.reshape(shape + (n,))


def gaussian_expectation(f, a=0.0, b=1.0):
    r"""The Gaussian average :math:`\int Dz\, f(a + b z)`, vectorised over ``a`` and ``b``.

    Parameters
    ----------
    f : callable
        Vectorised function of one array argument.
    a, b : array_like
        Offset and scale (:math:`b \ge 0`), broadcast together.

    Returns
    -------
    float or ndarray
    """
    a = np.asarray(a, dtype=float)
    b = v.real_array("b", b, lo=0.0)
    z, w = _nodes(a, b)
    return v.scalar_or_array(np.sum(w * f(np.asarray(a)[..., None] + np.asarray(b)[..., None] * z), axis=-1))


# Tabulated single averages E_z[g(sqrt(q) z)] as functions of q. A cubic spline
# of log|value| against log q on 3001 points (1e-10 <= q <= 1e3) reproduces the
# quadrature to ~1e-11 relative, and makes a 200 x 200 phase diagram take about
# a second; outside that range the quadrature is used directly.
_TABLE_Q = np.logspace(-10.0, 3.0, 3001)
_TABLES = {}


def _integrand(phi, kind):
    f, df, ddf = _phi(phi)
    if kind in ("ddf2", "fddf") and ddf is None:
        raise ValueError(f"phi={phi!r} has no second derivative (it has kinks)")
    return {
        "f2": lambda x: f(x) ** 2,
        "df2": lambda x: df(x) ** 2,
        "ddf2": lambda x: ddf(x) ** 2,
        "fddf": lambda x: f(x) * ddf(x),
    }[kind]


def _average(phi, kind, q):
    """E_z[g(sqrt(q) z)] for g given by ``kind``, vectorised over q >= 0."""
    from scipy.interpolate import CubicSpline

    g = _integrand(phi, kind)
    q = np.asarray(q, dtype=float)
    # Piecewise-linear nonlinearities have exact, simple averages.
    exact = {("linear", "f2"): q, ("linear", "df2"): 1.0, ("linear", "ddf2"): 0.0,
             ("linear", "fddf"): 0.0, ("relu", "f2"): q / 2, ("relu", "df2"): 0.5}
    if (phi, kind) in exact:
        return np.broadcast_to(np.asarray(exact[(phi, kind)], dtype=float), q.shape).copy()
    key = (phi, kind)
    if key not in _TABLES:
        values = gaussian_expectation(g, 0.0, np.sqrt(_TABLE_Q))
        sign = np.sign(values[len(values) // 2])
        if not np.all(sign * values > 0):
            raise RuntimeError(f"average {kind} of {phi} changes sign; it cannot be tabulated in log form")
        _TABLES[key] = (CubicSpline(np.log(_TABLE_Q), np.log(sign * values)), sign)
    spline, sign = _TABLES[key]
    out = np.empty(q.shape)
    inside = (q >= _TABLE_Q[0]) & (q <= _TABLE_Q[-1])
    out[inside] = sign * np.exp(spline(np.log(q[inside])))
    if np.any(~inside):
        out[~inside] = gaussian_expectation(g, 0.0, np.sqrt(q[~inside]))
    return out


# --- length map ---------------------------------------------------------------

def _keep(dropout):
    return 1.0 if dropout is None else v.real("dropout", dropout, lo=0.0, hi=1.0, lo_open=True)


def q_map(q, sigma_w, sigma_b, phi="tanh", dropout=None):
    r"""One step of the length map, :math:`\frac{\sigma_w^2}{\rho} \int Dz\, \phi(\sqrt{q} z)^2 + \sigma_b^2`.

    With dropout (keep probability :math:`\rho`, activations scaled by
    :math:`1/\rho`) the squared length gains a factor :math:`1/\rho`;
    without it :math:`\rho = 1`.

    Parameters
    ----------
    q : array_like
        Mean squared pre-activation of the previous layer, :math:`q \ge 0`.
    sigma_w : array_like
        Weight standard deviation (times :math:`\sqrt N`), :math:`> 0`.
    sigma_b : array_like
        Bias standard deviation, :math:`\ge 0`.
    phi : str
        Nonlinearity name, see :data:`PHIS`.
    dropout : float, optional
        Keep probability :math:`\rho \in (0, 1]`.
    """
    _phi(phi)
    q = v.real_array("q", q, lo=0.0)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    return v.scalar_or_array(sigma_w**2 / _keep(dropout) * _average(phi, "f2", q) + sigma_b**2)


def q_star(sigma_w, sigma_b, phi="tanh", dropout=None):
    r"""Fixed point :math:`q^*` of the length map.

    Found by Newton's method on :math:`g(q) = \sigma_w^2 F(q) + \sigma_b^2 - q`
    with :math:`F(q) = \int Dz\, \phi(\sqrt q z)^2` and, by Gaussian integration
    by parts, :math:`F'(q) = \int Dz\,[\phi'^2 + \phi\phi'']`. For bounded
    :math:`\phi` the iteration starts at the upper bound
    :math:`\sigma_w^2 + \sigma_b^2`; since :math:`F` is concave it then descends
    monotonically to the root. ReLU and linear networks have closed forms and
    no finite fixed point when :math:`\sigma_w^2 \ge 2` (ReLU) or
    :math:`\sigma_w \ge 1` (linear) with :math:`\sigma_b > 0`; this raises
    ``ValueError``.

    Parameters
    ----------
    sigma_w, sigma_b : array_like
        As in :func:`q_map`; broadcast together.
    phi : str
    dropout : float, optional
        Keep probability :math:`\rho`; dropout acts like :math:`\sigma_w^2 \to
        \sigma_w^2/\rho` in the length map.

    Returns
    -------
    float or ndarray
    """
    f, df, ddf = _phi(phi)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    if dropout is not None:
        sigma_w = sigma_w / np.sqrt(_keep(dropout))
    if phi in ("relu", "linear"):
        gain = sigma_w**2 / (2.0 if phi == "relu" else 1.0)
        if np.any((gain >= 1) & (sigma_b > 0)):
            raise ValueError(f"sigma_w must satisfy sigma_w^2 < {2 if phi == 'relu' else 1} for {phi} "
                             "with sigma_b > 0: otherwise q grows without bound")
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(sigma_b > 0, sigma_b**2 / (1 - gain), 0.0)
        return v.scalar_or_array(out)
    if ddf is None:      # hard tanh: no phi'' for Newton's F'(q), so bisect
        lo, hi = np.zeros(sigma_w.shape), sigma_w**2 + sigma_b**2
        for _ in range(80):
            mid = (lo + hi) / 2
            g = q_map(mid, sigma_w, sigma_b, phi) - mid
            lo, hi = np.where(g > 0, mid, lo), np.where(g > 0, hi, mid)
        return v.scalar_or_array((lo + hi) / 2)
    q = sigma_w**2 + sigma_b**2
    for _ in range(200):
        F = _average(phi, "f2", q)
        dF = _average(phi, "df2", q) + _average(phi, "fddf", q)
        g = sigma_w**2 * F + sigma_b**2 - q
        slope = sigma_w**2 * dF - 1.0
        # slope = 0 only at q = 0 with sigma_w * phi'(0) = 1 and sigma_b = 0, where g = 0 too.
        step = np.divide(g, slope, out=np.zeros_like(q), where=slope != 0)
        q_new = np.maximum(q - step, 0.0)
        if np.all(np.abs(q_new - q) <= 1e-13 * np.maximum(q_new, 1e-300) + 1e-300):
            q = q_new
            break
        q = q_new
    return v.scalar_or_array(q)


def chi1(sigma_w, sigma_b, phi="tanh"):
    r""":math:`\chi_1 = \sigma_w^2 \int Dz\, \phi'(\sqrt{q^*} z)^2`.

    The factor by which a small perturbation's squared length is stretched per
    layer, and the mean squared singular value of one layer's Jacobian
    :math:`D W`. The network is ordered for :math:`\chi_1 < 1` and chaotic for
    :math:`\chi_1 > 1`.
    """
    _phi(phi)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    if phi in ("relu", "linear"):
        # phi'^2 averages to a constant (1/2 or 1), so chi1 needs no q*.
        return v.scalar_or_array(sigma_w**2 * _average(phi, "df2", np.zeros(sigma_w.shape)))
    qs = np.asarray(q_star(sigma_w, sigma_b, phi))
    return v.scalar_or_array(sigma_w**2 * _average(phi, "df2", qs))


def chi2(sigma_w, sigma_b, phi="tanh"):
    r""":math:`\chi_2 = \sigma_w^2 \int Dz\, \phi''(\sqrt{q^*} z)^2`.

    Sets the growth of curvature (Poole et al. 2016). Zero for linear networks;
    infinite for ReLU and hard tanh, whose second derivative is a delta
    function.
    """
    ddf = _phi(phi)[2]
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    if ddf is None:
        return v.scalar_or_array(np.full(sigma_w.shape, np.inf))
    qs = np.asarray(q_star(sigma_w, sigma_b, phi))
    return v.scalar_or_array(sigma_w**2 * _average(phi, "ddf2", qs))


def critical_sigma_w(sigma_b, phi="tanh"):
    r"""The :math:`\sigma_w` at which :math:`\chi_1 = 1`, for each :math:`\sigma_b`.

    :math:`\sqrt 2` for ReLU and 1 for linear networks; otherwise found by
    bisection in :math:`\sigma_w \in (0, 20]`, where :math:`\chi_1` increases
    with :math:`\sigma_w`.
    """
    _phi(phi)
    sigma_b = v.real_array("sigma_b", sigma_b, lo=0.0)
    if phi == "relu":
        return v.scalar_or_array(np.full(sigma_b.shape, np.sqrt(2.0)))
    if phi == "linear":
        return v.scalar_or_array(np.ones(sigma_b.shape))
    lo, hi = np.full(sigma_b.shape, 1e-3), np.full(sigma_b.shape, 20.0)
    for _ in range(50):
        mid = (lo + hi) / 2
        above = np.asarray(chi1(mid, sigma_b, phi)) > 1
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    return v.scalar_or_array((lo + hi) / 2)


# --- correlation map ------------------------------------------------------------

def _pair_expectation(f1, f2, q, c):
    """E[f1(u1) f2(u2)] for unit-variance-q Gaussians with correlation c (scalar q, array c)."""
    c = np.asarray(c, dtype=float)
    z1, w1 = _nodes(0.0, np.sqrt(q))
    u1 = np.sqrt(q) * z1                                           # (n1,)
    # Inner average over z2 of f2(sqrt(q) (c z1 + sqrt(1 - c^2) z2)).
    a = np.sqrt(q) * c[..., None] * z1                              # (..., n1)
    b = np.broadcast_to(np.sqrt(q * np.maximum(1 - c**2, 0.0))[..., None], a.shape)
    inner = gaussian_expectation(f2, a, b)
    return np.sum(w1 * f1(u1) * inner, axis=-1)


def c_map(c, sigma_w, sigma_b, phi="tanh", dropout=None):
    r"""One step of the correlation map at the length fixed point :math:`q^*`.

    .. math::

        c \mapsto \frac{1}{q^*}\left[\sigma_w^2 \int Dz_1 Dz_2\,
        \phi(u_1)\phi(u_2) + \sigma_b^2\right], \quad
        u_1 = \sqrt{q^*} z_1,\ u_2 = \sqrt{q^*}\bigl(c z_1 + \sqrt{1-c^2} z_2\bigr).

    With dropout (independent masks for the two inputs, keep probability
    :math:`\rho`) :math:`q^*` is that of the length map with dropout, while the
    cross term keeps :math:`\sigma_w^2`: then :math:`c = 1` is no longer a
    fixed point (Schoenholz et al. 2017).

    Parameters
    ----------
    c : array_like
        Correlations in :math:`[-1, 1]`.
    sigma_w, sigma_b : float
    phi : str
    dropout : float, optional
        Keep probability :math:`\rho \in (0, 1]`.
    """
    f = _phi(phi)[0]
    c = v.real_array("c", c, lo=-1.0, hi=1.0)
    sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
    qs = float(q_star(sigma_w, sigma_b, phi, dropout))
    if qs == 0.0:
        raise ValueError("sigma_b must be > 0 here: with sigma_b = 0 in the ordered phase q* = 0 "
                         "and the correlation map is undefined")
    return v.scalar_or_array((sigma_w**2 * _pair_expectation(f, f, qs, c) + sigma_b**2) / qs)


def c_star(sigma_w, sigma_b, phi="tanh", dropout=None):
    r"""Stable fixed point :math:`c^*` of the correlation map.

    Without dropout, in the ordered phase (:math:`\chi_1 \le 1`) every pair of
    inputs converges and :math:`c^* = 1`. In the chaotic phase :math:`c = 1` is
    unstable and :math:`c^* < 1` is found by root-finding on :math:`[0, 1 -
    \delta]` (or :math:`[-1, 1-\delta]`), where :math:`\delta` is shrunk until
    the map lies below the diagonal. Deciding the phase from :math:`\chi_1`
    avoids iterating the map, whose convergence slows to a crawl near
    :math:`\chi_1 = 1`. With dropout :math:`c^* < 1` always.
    """
    from scipy.optimize import brentq

    def h(c):
        return float(c_map(c, sigma_w, sigma_b, phi, dropout)) - c

    if dropout is None or _keep(dropout) == 1.0:
        if float(chi1(sigma_w, sigma_b, phi)) <= 1.0:
            return 1.0
        delta = 1e-2
        while h(1 - delta) >= 0:
            delta /= 4
            if delta < 1e-12:
                raise ValueError("sigma_w is too close to the critical line to bracket c*")
        hi = 1 - delta
    else:
        hi = 1.0
    lo = 0.0 if h(0.0) >= 0 else -1.0
    return float(brentq(h, lo, hi, xtol=1e-13, rtol=1e-13))


def depth_scales(sigma_w, sigma_b, phi="tanh", dropout=None):
    r"""Depth scales :math:`(\xi_q, \xi_c)` over which lengths and correlations converge.

    Following Schoenholz et al. (2017),

    .. math::

        \xi_q^{-1} = -\ln\Bigl[\tfrac{\sigma_w^2}{\rho}\int Dz\,\bigl(\phi'^2 +
        \phi''\phi\bigr)(\sqrt{q^*}z)\Bigr], \qquad
        \xi_c^{-1} = -\ln\Bigl[\sigma_w^2 \int Dz_1Dz_2\, \phi'(u_1)\phi'(u_2)\Bigr]_{c = c^*} ,

    the logarithms of the slopes of the two maps at their fixed points. Without
    dropout (:math:`\rho = 1`) in the ordered phase :math:`c^* = 1` and
    :math:`\xi_c = -1/\ln\chi_1`, which diverges at :math:`\chi_1 = 1`
    (returned as ``inf``), while :math:`\xi_q` stays finite. Dropout keeps
    :math:`c^* < 1` and so bounds :math:`\xi_c`. Smooth nonlinearities only
    (``tanh``, ``erf``).
    """
    f, df, ddf = _phi(phi)
    if phi not in ("tanh", "erf"):
        raise ValueError(f"phi must be 'tanh' or 'erf' for depth_scales, got {phi!r}")
    sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
    rho = _keep(dropout)
    qs = float(q_star(sigma_w, sigma_b, phi, dropout))
    slope_q = sigma_w**2 / rho * float(_average(phi, "df2", qs) + _average(phi, "fddf", qs))
    xi_q = -1.0 / np.log(slope_q)
    if rho == 1.0:
        x1 = float(chi1(sigma_w, sigma_b, phi))
        if x1 == 1.0:
            return float(xi_q), np.inf
        cs = c_star(sigma_w, sigma_b, phi)
        slope_c = x1 if cs == 1.0 else sigma_w**2 * float(_pair_expectation(df, df, qs, cs))
    else:
        cs = c_star(sigma_w, sigma_b, phi, dropout)
        slope_c = sigma_w**2 * float(_pair_expectation(df, df, qs, cs))
    xi_c = np.inf if slope_c == 1.0 else -1.0 / np.log(slope_c)
    return float(xi_q), float(xi_c)


def curvature_map(kappa_sq, sigma_w, sigma_b, phi="tanh"):
    r"""One layer of the curvature recursion for a curve at :math:`q^*`.

    For the width-normalised curvature :math:`\tilde\kappa = \sqrt N \kappa`
    (Poole et al. 2016),

    .. math::

        \tilde\kappa_{l}^2 = \frac{3\chi_2}{\chi_1^2} + \frac{\tilde\kappa_{l-1}^2}{\chi_1} .

    The first term is the bending added by the nonlinearity, the second the
    straightening by the stretch :math:`\chi_1`.

    Parameters
    ----------
    kappa_sq : array_like
        :math:`\tilde\kappa_{l-1}^2 \ge 0`.
    sigma_w, sigma_b : float
    phi : str
        A smooth nonlinearity (``tanh``, ``erf`` or ``linear``).
    """
    kappa_sq = v.real_array("kappa_sq", kappa_sq, lo=0.0)
    if phi in ("relu", "hard_tanh"):
        raise ValueError(f"phi must be smooth for the curvature map, got {phi!r}")
    x1, x2 = float(chi1(sigma_w, sigma_b, phi)), float(chi2(sigma_w, sigma_b, phi))
    return v.scalar_or_array(3 * x2 / x1**2 + kappa_sq / x1)


def curvature_fixed_point(sigma_w, sigma_b, phi="tanh"):
    r""":math:`\tilde\kappa^{*2} = 3\chi_2 / (\chi_1(\chi_1 - 1))`, defined in the chaotic phase.

    Raises ``ValueError`` for :math:`\chi_1 \le 1`, where curvature grows
    without bound with depth.
    """
    x1, x2 = float(chi1(sigma_w, sigma_b, phi)), float(chi2(sigma_w, sigma_b, phi))
    if x1 <= 1.0:
        raise ValueError(f"sigma_w must put the network in the chaotic phase (chi1 > 1), got chi1 = {x1:.4g}")
    return 3 * x2 / (x1 * (x1 - 1))


# --- simulation -----------------------------------------------------------------

def simulate(inputs, depth, sigma_w, sigma_b, phi="tanh", rng=None, dropout=None):
    r"""Propagate inputs through one random deep network; return the pre-activations.

    Layer :math:`l` computes :math:`h^l = W^l \phi(h^{l-1}) + b^l` (for
    :math:`l = 1` the inputs themselves are multiplied: :math:`h^1 = W^1 x + b^1`),
    with fresh Gaussian weights of variance :math:`\sigma_w^2/N` and biases of
    variance :math:`\sigma_b^2`. The mean squared pre-activation of input
    :math:`a`, :math:`q^l_a = \frac1N \sum_i (h^l_{ia})^2`, and the correlation
    :math:`c^l_{ab} = \frac1N \sum_i h^l_{ia} h^l_{ib} / \sqrt{q^l_a q^l_b}` follow
    the length and correlation maps as :math:`N \to \infty`.

    Parameters
    ----------
    inputs : array_like, shape (N, n_inputs)
        One input per column; all layers have width ``N``.
    depth : int
        Number of layers, :math:`\ge 1`.
    sigma_w, sigma_b : float
    phi : str
    rng : None, int or numpy.random.Generator
    dropout : float, optional
        Keep probability :math:`\rho \in (0, 1]`: each input column gets its own
        independent dropout mask on :math:`\phi(h)` at every layer, scaled by
        :math:`1/\rho`.

    Returns
    -------
    ndarray, shape (depth, N, n_inputs)
        Pre-activations :math:`h^1, \dots, h^L`.
    """
    f = _phi(phi)[0]
    X = v.matrix("inputs", inputs)
    depth = v.integer("depth", depth, lo=1)
    sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
    if dropout is not None:
        dropout = v.real("dropout", dropout, lo=0.0, hi=1.0, lo_open=True)
    gen = v.as_generator(rng)
    N = X.shape[0]
    out = np.empty((depth,) + X.shape)
    x = X
    for layer in range(depth):
        W = gen.standard_normal((N, N)) * (sigma_w / np.sqrt(N))
        b = gen.standard_normal((N, 1)) * sigma_b
        if dropout is not None and layer > 0:
            x = x * (gen.random(x.shape) < dropout) / dropout
        h = W @ x + b
        out[layer] = h
        x = f(h)
    return out


def propagate_circle(width, depth, sigma_w, sigma_b, phi="tanh", n_points=64, rng=None):
    r"""Propagate a great circle through a random network, with exact derivatives.

    The first layer's pre-activations trace the circle
    :math:`h^1(\theta) = \sqrt{N q^*}\,(u^0\cos\theta + u^1\sin\theta)` for
    random orthonormal :math:`u^0, u^1`. Its tangent :math:`v = \partial_\theta h`
    and acceleration :math:`a = \partial_\theta^2 h` are propagated exactly by the
    chain rule, :math:`v' = W(\phi'(h)\odot v)` and
    :math:`a' = W(\phi''(h)\odot v\odot v + \phi'(h)\odot a)`, so no finite
    differences are needed. Per layer the function returns

    * the Euclidean length :math:`L^E = \int \lVert v\rVert\, d\theta`;
    * the mean width-normalised curvature :math:`\tilde\kappa^2 = N\,\overline{\kappa^2}`,
      with :math:`\kappa = \sqrt{\lVert v\rVert^2\lVert a\rVert^2 - (v\cdot a)^2}/\lVert v\rVert^3`;
    * the Grassmannian length :math:`L^G = \int \kappa\lVert v\rVert\, d\theta`, the
      length traced by the unit tangent.

    Integrals over :math:`\theta` use the trapezoidal rule on ``n_points``
    equally spaced angles, which is spectrally accurate for periodic curves.

    Parameters
    ----------
    width : int
        :math:`N \ge 2`.
    depth : int
        Number of layers :math:`\ge 1` (layer 1 is the circle itself).
    sigma_w, sigma_b : float
    phi : str
        ``tanh``, ``erf`` or ``linear`` (a second derivative is needed).
    n_points : int, optional
        Angles on the circle, :math:`\ge 8`.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    dict of ndarray, each of shape (depth,)
        ``"euclidean"``, ``"kappa_sq"`` and ``"grassmannian"``.
    """
    f, df, ddf = _phi(phi)
    if ddf is None:
        raise ValueError(f"phi must be smooth (tanh, erf or linear) to propagate curvature, got {phi!r}")
    width = v.integer("width", width, lo=2)
    depth = v.integer("depth", depth, lo=1)
    n_points = v.integer("n_points", n_points, lo=8)
    sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
    gen = v.as_generator(rng)
    qs = float(q_star(sigma_w, sigma_b, phi))
    basis, _ = np.linalg.qr(gen.standard_normal((width, 2)))
    theta = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
    radius = np.sqrt(width * qs)
    h = radius * (np.outer(basis[:, 0], np.cos(theta)) + np.outer(basis[:, 1], np.sin(theta)))
    vel = radius * (-np.outer(basis[:, 0], np.sin(theta)) + np.outer(basis[:, 1], np.cos(theta)))
    acc = -h.copy()
    dtheta = 2 * np.pi / n_points
    stats = {"euclidean": [], "kappa_sq": [], "grassmannian": []}
    for layer in range(depth):
        if layer > 0:
            W = gen.standard_normal((width, width)) * (sigma_w / np.sqrt(width))
            b = gen.standard_normal((width, 1)) * sigma_b
            d1, d2 = df(h), ddf(h)
            h, vel, acc = W @ f(h) + b, W @ (d1 * vel), W @ (d2 * vel * vel + d1 * acc)
        vv = np.sum(vel * vel, axis=0)
        aa = np.sum(acc * acc, axis=0)
        va = np.sum(vel * acc, axis=0)
        kappa = np.sqrt(np.maximum(vv * aa - va * va, 0.0)) / vv**1.5
        speed = np.sqrt(vv)
        stats["euclidean"].append(np.sum(speed) * dtheta)
        stats["kappa_sq"].append(width * np.mean(kappa**2))
        stats["grassmannian"].append(np.sum(kappa * speed) * dtheta)
    return {k: np.array(val) for k, val in stats.items()}


def gradient_norms(inputs, depth, sigma_w, sigma_b, phi="tanh", rng=None):
    r"""Squared norms of back-propagated error signals through one random network.

    A forward pass computes :math:`h^1, \dots, h^L` as in :func:`simulate`; a
    random unit-variance error :math:`\delta^L` at the top is then propagated
    down by :math:`\delta^{l-1} = \phi'(h^{l-1}) \odot W^{l\top}\delta^{l}`. At
    the length fixed point, :math:`\lVert\delta^{l-1}\rVert^2 \approx \chi_1
    \lVert\delta^l\rVert^2`: gradients vanish in the ordered phase and explode in
    the chaotic one (Schoenholz et al. 2017).

    Parameters
    ----------
    inputs : array_like, shape (N, n_inputs)
    depth : int
        :math:`L \ge 2`.
    sigma_w, sigma_b : float
    phi : str
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (depth, n_inputs)
        :math:`\lVert\delta^l\rVert^2 / N` for :math:`l = 1, \dots, L`.
    """
    f, df, _ = _phi(phi)
    X = v.matrix("inputs", inputs)
    depth = v.integer("depth", depth, lo=2)
    sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
    gen = v.as_generator(rng)
    N = X.shape[0]
    weights, pre = [], []
    x = X
    for _ in range(depth):
        W = gen.standard_normal((N, N)) * (sigma_w / np.sqrt(N))
        h = W @ x + gen.standard_normal((N, 1)) * sigma_b
        weights.append(W)
        pre.append(h)
        x = f(h)
    delta = gen.standard_normal(X.shape)
    norms = [np.mean(delta**2, axis=0)]
    for layer in range(depth - 1, 0, -1):
        delta = df(pre[layer - 1]) * (weights[layer].T @ delta)
        norms.append(np.mean(delta**2, axis=0))
    return np.array(norms[::-1])


def train_classifier(X, y, depth, sigma_w, sigma_b, width=32, phi="tanh", n_steps=300, lr=0.005,
                     batch_size=64, rng=None):
    r"""Train a deep random network with SGD on a classification task; return its training accuracy.

    The network has ``depth`` hidden layers of ``width`` units with
    nonlinearity ``phi``, initialised from the mean-field ensemble
    (:math:`W_{ij} \sim \mathcal N(0, \sigma_w^2/n_{\mathrm{in}})`,
    :math:`b_i \sim \mathcal N(0, \sigma_b^2)`), and a linear read-out trained
    with softmax cross-entropy by plain minibatch SGD. Used for the trainability
    experiment: signals and gradients survive only about :math:`\xi_c` layers,
    so networks much deeper than a few :math:`\xi_c` fail to train (Schoenholz
    et al. 2017). :func:`training_curve` records the whole course of training.

    Parameters
    ----------
    X : array_like, shape (n_examples, n_inputs)
        Inputs, one example per row (scaled so that :math:`\lVert x\rVert^2/n_{\mathrm{in}} \approx 1`).
    y : array_like of int, shape (n_examples,)
        Class labels :math:`0, \dots, K-1`.
    depth : int
        Hidden layers, :math:`\ge 1`.
    sigma_w, sigma_b : float
    width : int, optional
    phi : str, optional
    n_steps, batch_size : int, optional
    lr : float, optional
        Learning rate :math:`> 0`.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    float
        Accuracy on the training set after ``n_steps`` steps.
    """
    curve = training_curve(X, y, depth, sigma_w, sigma_b, width=width, phi=phi, n_steps=n_steps, lr=lr,
                           batch_size=batch_size, rng=rng, record_every=n_steps)
    return float(curve["accuracy"][-1])


def _labels(name, y, n_rows):
    y = np.asarray(y)
    if y.shape != (n_rows,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(f"{name} must hold one non-negative integer label per row, got shape {y.shape}")
    return y


def training_curve(X, y, depth, sigma_w, sigma_b, width=32, phi="tanh", n_steps=300, lr=0.005,
                   batch_size=64, rng=None, weights="gaussian", X_test=None, y_test=None, record_every=50):
    r"""Train a deep network with minibatch SGD and record its loss and accuracy as it learns.

    The network is that of :func:`train_classifier` (``depth`` hidden layers of
    ``width`` units, a linear read-out, softmax cross-entropy). Its weights are
    either ``"gaussian"`` (entries of variance :math:`\sigma_w^2/n_{\mathrm{in}}`)
    or ``"orthogonal"`` (:math:`\sigma_w` times a Haar matrix with orthonormal rows
    or columns, :func:`statmech_dl.init.semi_orthogonal`), which compares the
    initialisations of the chapter *Dynamical isometry* at equal
    :math:`\sigma_w`: both have the same mean squared singular value, but only
    the orthogonal one has all singular values equal.

    Parameters
    ----------
    X, y, depth, sigma_w, sigma_b, width, phi, n_steps, lr, batch_size, rng
        As in :func:`train_classifier`.
    weights : str, optional
        ``"gaussian"`` or ``"orthogonal"``.
    X_test, y_test : array_like, optional
        A held-out set whose accuracy is recorded too.
    record_every : int, optional
        Record after every this many steps (and before the first), :math:`\ge 1`.

    Returns
    -------
    dict of ndarray
        ``"step"``, ``"loss"`` (mean cross-entropy on the whole training set),
        ``"accuracy"`` and, with a test set, ``"test_accuracy"``.
    """
    f, df, _ = _phi(phi)
    X = v.matrix("X", X)
    y = _labels("y", y, X.shape[0])
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test = v.matrix("X_test", X_test)
        if X_test.shape[1] != X.shape[1]:
            raise ValueError(f"X_test must have {X.shape[1]} columns like X, got {X_test.shape[1]}")
        y_test = _labels("y_test", y_test, X_test.shape[0])
    if weights not in ("gaussian", "orthogonal"):
        raise ValueError(f"weights must be 'gaussian' or 'orthogonal', got {weights!r}")
    depth = v.integer("depth", depth, lo=1)
    width = v.integer("width", width, lo=1)
    n_steps = v.integer("n_steps", n_steps, lo=1)
    record_every = v.integer("record_every", record_every, lo=1)
    batch_size = v.integer("batch_size", batch_size, lo=1, hi=X.shape[0])
    sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    gen = v.as_generator(rng)
    n_classes = int(y.max()) + 1
    sizes = [X.shape[1]] + [width] * depth + [n_classes]
    if weights == "gaussian":
        Ws = [gen.standard_normal((sizes[i], sizes[i + 1])) * (sigma_w / np.sqrt(sizes[i]))
              for i in range(len(sizes) - 1)]
    else:
        Ws = [init.semi_orthogonal(sizes[i], sizes[i + 1], sigma_w, gen) for i in range(len(sizes) - 1)]
    bs = [gen.standard_normal(sizes[i + 1]) * sigma_b for i in range(len(sizes) - 1)]

    def forward(a):
        pre, acts = [], [a]
        for layer, (W, b) in enumerate(zip(Ws, bs)):
            h = a @ W + b
            pre.append(h)
            a = f(h) if layer < len(Ws) - 1 else h
            acts.append(a)
        return pre, acts

    def evaluate(inputs, labels):
        logits = forward(inputs)[1][-1]
        if not np.all(np.isfinite(logits)):
            raise ValueError(f"training diverged: lr={lr:g} is too large for sigma_w={sigma_w:g}")
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        return -float(np.mean(log_p[np.arange(len(labels)), labels])), float(np.mean(np.argmax(logits, axis=1) == labels))

    record = {"step": [], "loss": [], "accuracy": [], "test_accuracy": []}

    def snapshot(step):
        loss, acc = evaluate(X, y)
        record["step"].append(step)
        record["loss"].append(loss)
        record["accuracy"].append(acc)
        if X_test is not None:
            record["test_accuracy"].append(evaluate(X_test, y_test)[1])

    with np.errstate(over="ignore", invalid="ignore"):
        snapshot(0)              # evaluation draws no random numbers
        for step in range(1, n_steps + 1):
            idx = gen.integers(0, X.shape[0], batch_size)
            pre, acts = forward(X[idx])
            logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            grad = np.exp(logits)
            grad /= grad.sum(axis=1, keepdims=True)
            grad[np.arange(batch_size), y[idx]] -= 1.0
            grad /= batch_size
            for layer in range(len(Ws) - 1, -1, -1):
                gW, gb = acts[layer].T @ grad, grad.sum(axis=0)
                if layer > 0:
                    # For tanh, phi' = 1 - phi^2 reuses the stored activations (the
                    # arrays are small, so each saved numpy call matters).
                    slope = 1.0 - acts[layer] ** 2 if phi == "tanh" else df(pre[layer - 1])
                    grad = (grad @ Ws[layer].T) * slope
                Ws[layer] -= lr * gW
                bs[layer] -= lr * gb
            if step % record_every == 0 or step == n_steps:
                snapshot(step)
    if X_test is None:
        del record["test_accuracy"]
    return {k: np.array(val) for k, val in record.items()}
