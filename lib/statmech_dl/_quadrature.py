r"""Gaussian averages for the mean-field theory (private: used by ``meanfield`` and ``isometry``).

The integrals :math:`\int Dz\, f(a + b z)` are evaluated with composite
Gauss-Legendre quadrature on panels whose edges sit both on a fixed grid in
:math:`z` (resolving the Gaussian weight) and at fixed points of the argument
:math:`x = a + bz` (resolving the nonlinearity, including the kinks of ReLU and
hard tanh at :math:`x = 0, \pm 1`). Plain Gauss-Hermite quadrature fails when
:math:`\sqrt{q}` is large, because :math:`\phi'(\sqrt q z)` is then sharply peaked
in :math:`z`; the panel rule is accurate to about :math:`10^{-10}` relative over
:math:`0 < \sigma_w \le 5`, :math:`0 \le \sigma_b \le 2` (tested against adaptive
quadrature and the closed forms for erf and ReLU).

Nothing here validates its arguments: the public functions of
:mod:`statmech_dl.meanfield` and :mod:`statmech_dl.isometry` do that once.
"""

import numpy as np
from scipy.interpolate import CubicSpline

__all__ = ["X_EDGES", "nodes", "expectation", "average", "pair_expectation", "integrand"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(12)
_GL_W_GAUSS = _GL_W / np.sqrt(2 * np.pi)                     # with the Gaussian's normalisation
_Z_EDGES = np.arange(-10.0, 10.5, 1.0)                       # the Gaussian weight
_EDGES = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0])
#: Panel edges in the argument x of the nonlinearity; they include every kink.
X_EDGES = np.concatenate([-_EDGES[:0:-1], _EDGES])


def nodes(a, b):
    """Quadrature nodes z and weights (Gaussian measure included) for E_z[f(a + b z)], b >= 0."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    shape = a.shape
    a, b = a.reshape(-1, 1), b.reshape(-1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_from_x = np.where(b > 0, (X_EDGES[None, :] - a) / b, 0.0)
    edges = np.sort(np.clip(np.concatenate([np.broadcast_to(_Z_EDGES, (a.shape[0], _Z_EDGES.size)),
                                            z_from_x], axis=1), -10.0, 10.0), axis=1)
    lo, hi = edges[:, :-1], edges[:, 1:]
    half, mid = (hi - lo)[:, :, None] / 2, (hi + lo)[:, :, None] / 2
    # In place: these arrays are large (540 x 540 for the inner average of a correlation map)
    # and every pass over them counts.
    z = half * _GL_X
    z += mid
    w = z * z
    w *= -0.5
    np.exp(w, out=w)
    w *= half
    w *= _GL_W_GAUSS
    n = z.shape[1] * z.shape[2]
    return z.reshape(shape + (n,)), w.reshape(shape + (n,))


def expectation(f, a, b):
    """E_z[f(a + b z)], vectorised over a and b (an array, or a float for 0-d input)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    z, w = nodes(a, b)
    x = z * b[..., None]
    x += a[..., None]
    out = np.einsum("...i,...i->...", w, f(x))       # no product array: a pass less
    return float(out) if out.ndim == 0 else out


def integrand(nl, kind):
    """The function g with E_z[g(sqrt(q) z)] for ``kind`` in f2, df2, ddf2, fddf."""
    if kind in ("ddf2", "fddf") and not nl.smooth:
        raise ValueError(f"phi={nl.name!r} has no second derivative (it has kinks)")
    f, df, ddf = nl.f, nl.df, nl.ddf
    return {
        "f2": lambda x: f(x) ** 2,
        "df2": lambda x: df(x) ** 2,
        "ddf2": lambda x: ddf(x) ** 2,
        "fddf": lambda x: f(x) * ddf(x),
    }[kind]


# Tabulated single averages E_z[g(sqrt(q) z)] as functions of q. A cubic spline
# of log|value| against log q on 3001 points (1e-10 <= q <= 1e3) reproduces the
# quadrature to ~1e-11 relative, and makes a 200 x 200 phase diagram take about
# a second; outside that range the quadrature is used directly.
_TABLE_Q = np.logspace(-10.0, 3.0, 3001)
_TABLES = {}


def average(nl, kind, q):
    """E_z[g(sqrt(q) z)] for g given by ``kind`` (see :func:`integrand`), vectorised over q >= 0."""
    q = np.asarray(q, dtype=float)
    if nl.homogeneous:
        # phi(x) = x phi'(x) with phi' in {0, 1}: E[phi^2] = q p and E[phi'^2] = p,
        # p the linear fraction; the identity has phi'' = 0.
        if kind in ("ddf2", "fddf"):
            integrand(nl, kind)             # raises for ReLU, whose phi'' is a delta function
            value = 0.0                     # the identity
        else:
            p = nl.linear_fraction(1.0)
            value = q * p if kind == "f2" else p
        return np.broadcast_to(np.asarray(value, dtype=float), q.shape).copy()
    g = integrand(nl, kind)
    key = (nl.name, kind)
    if key not in _TABLES:
        values = expectation(g, 0.0, np.sqrt(_TABLE_Q))
        sign = np.sign(values[len(values) // 2])
        if not np.all(sign * values > 0):
            raise RuntimeError(f"average {kind} of {nl.name} changes sign; it cannot be tabulated in log form")
        _TABLES[key] = (CubicSpline(np.log(_TABLE_Q), np.log(sign * values)), sign)
    spline, sign = _TABLES[key]
    out = np.empty(q.shape)
    inside = (q >= _TABLE_Q[0]) & (q <= _TABLE_Q[-1])
    out[inside] = sign * np.exp(spline(np.log(q[inside])))
    if np.any(~inside):
        out[~inside] = expectation(g, 0.0, np.sqrt(q[~inside]))
    return out


def pair_expectation(f1, f2, q, c):
    """E[f1(u1) f2(u2)] for variance-q Gaussians with correlation c (scalar q, array c)."""
    c = np.asarray(c, dtype=float)
    z1, w1 = nodes(0.0, np.sqrt(q))
    u1 = np.sqrt(q) * z1                                           # (n1,)
    # Inner average over z2 of f2(sqrt(q) (c z1 + sqrt(1 - c^2) z2)).
    a = np.sqrt(q) * c[..., None] * z1                              # (..., n1)
    b = np.broadcast_to(np.sqrt(q * np.maximum(1 - c**2, 0.0))[..., None], a.shape)
    inner = expectation(f2, a, b)
    return np.sum(w1 * f1(u1) * inner, axis=-1)
