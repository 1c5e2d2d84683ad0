r"""Mean-field theory of signal propagation in deep random networks.

For the chapter *Transient chaos* (Poole et al. 2016; Schoenholz et al. 2017),
which is still to be written; the module is tested on its own.
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
    "simulate",
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

def q_map(q, sigma_w, sigma_b, phi="tanh"):
    r"""One step of the length map, :math:`\sigma_w^2 \int Dz\, \phi(\sqrt{q} z)^2 + \sigma_b^2`.

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
    """
    _phi(phi)
    q = v.real_array("q", q, lo=0.0)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    return v.scalar_or_array(sigma_w**2 * _average(phi, "f2", q) + sigma_b**2)


def q_star(sigma_w, sigma_b, phi="tanh"):
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

    Returns
    -------
    float or ndarray
    """
    f, df, ddf = _phi(phi)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
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


def c_map(c, sigma_w, sigma_b, phi="tanh"):
    r"""One step of the correlation map at the length fixed point :math:`q^*`.

    .. math::

        c \mapsto \frac{1}{q^*}\left[\sigma_w^2 \int Dz_1 Dz_2\,
        \phi(u_1)\phi(u_2) + \sigma_b^2\right], \quad
        u_1 = \sqrt{q^*} z_1,\ u_2 = \sqrt{q^*}\bigl(c z_1 + \sqrt{1-c^2} z_2\bigr).

    Parameters
    ----------
    c : array_like
        Correlations in :math:`[-1, 1]`.
    sigma_w, sigma_b : float
    phi : str
    """
    f = _phi(phi)[0]
    c = v.real_array("c", c, lo=-1.0, hi=1.0)
    sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
    qs = float(q_star(sigma_w, sigma_b, phi))
    if qs == 0.0:
        raise ValueError("q* = 0 (sigma_b = 0 in the ordered phase): the correlation map is undefined")
    return v.scalar_or_array((sigma_w**2 * _pair_expectation(f, f, qs, c) + sigma_b**2) / qs)


def c_star(sigma_w, sigma_b, phi="tanh"):
    r"""Stable fixed point :math:`c^*` of the correlation map.

    In the ordered phase (:math:`\chi_1 \le 1`) every pair of inputs converges
    and :math:`c^* = 1`. In the chaotic phase :math:`c = 1` is unstable and
    :math:`c^* < 1` is found by root-finding on :math:`[0, 1 - \delta]` (or
    :math:`[-1, 1-\delta]`), where :math:`\delta` is shrunk until the map lies
    below the diagonal. Deciding the phase from :math:`\chi_1` avoids iterating
    the map, whose convergence slows to a crawl near :math:`\chi_1 = 1`.
    """
    from scipy.optimize import brentq

    if float(chi1(sigma_w, sigma_b, phi)) <= 1.0:
        return 1.0

    def h(c):
        return float(c_map(c, sigma_w, sigma_b, phi)) - c

    delta = 1e-2
    while h(1 - delta) >= 0:
        delta /= 4
        if delta < 1e-12:
            raise ValueError("could not bracket c*: the network is too close to criticality")
    lo = 0.0 if h(0.0) >= 0 else -1.0
    return float(brentq(h, lo, 1 - delta, xtol=1e-13, rtol=1e-13))


def depth_scales(sigma_w, sigma_b, phi="tanh"):
    r"""Depth scales :math:`(\xi_q, \xi_c)` over which lengths and correlations converge.

    Following Schoenholz et al. (2017),

    .. math::

        \xi_q^{-1} = -\ln\Bigl[\chi_1 + \sigma_w^2 \int Dz\, \phi''(\sqrt{q^*}z)\,
        \phi(\sqrt{q^*}z)\Bigr], \qquad
        \xi_c^{-1} = -\ln\Bigl[\sigma_w^2 \int Dz_1Dz_2\, \phi'(u_1)\phi'(u_2)\Bigr]_{c = c^*} .

    In the ordered phase :math:`c^* = 1` and :math:`\xi_c = -1/\ln\chi_1`, which
    diverges at :math:`\chi_1 = 1` (returned as ``inf``), while :math:`\xi_q`
    stays finite. Smooth nonlinearities only (``tanh``, ``erf``).
    """
    f, df, ddf = _phi(phi)
    if phi not in ("tanh", "erf"):
        raise ValueError(f"phi must be 'tanh' or 'erf' for depth_scales, got {phi!r}")
    sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
    qs = float(q_star(sigma_w, sigma_b, phi))
    x1 = float(chi1(sigma_w, sigma_b, phi))
    slope_q = x1 + sigma_w**2 * float(_average(phi, "fddf", qs))
    xi_q = -1.0 / np.log(slope_q)
    if x1 == 1.0:
        return float(xi_q), np.inf
    cs = c_star(sigma_w, sigma_b, phi)
    slope_c = x1 if cs == 1.0 else sigma_w**2 * float(_pair_expectation(df, df, qs, cs))
    xi_c = np.inf if slope_c == 1.0 else -1.0 / np.log(slope_c)
    return float(xi_q), float(xi_c)


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
