r"""Mean-field theory of signal propagation in deep random networks.

For the chapter *Transient chaos* (``book/transient_chaos.md``; Poole et al.
2016; Schoenholz et al. 2017), and used by :mod:`statmech_dl.isometry`.
Networks are :math:`h^l = W^l \phi(h^{l-1}) + b^l` with
:math:`W_{ij} \sim \mathcal N(0, \sigma_w^2/N)` and :math:`b_i \sim \mathcal N(0, \sigma_b^2)`.
As the width :math:`N \to \infty` the pre-activations are Gaussian and a few
summary statistics evolve deterministically from layer to layer:

* the length :math:`q^l` follows the length map :func:`q_map` to its fixed
  point :func:`q_star`;
* the correlation :math:`c^l` of two inputs follows the correlation map
  :func:`c_map` to :func:`c_star`;
* :func:`chi1` and :func:`chi2` set the growth of perturbations and of
  curvature, and :func:`depth_scales` the number of layers over which lengths
  and correlations converge.

This module holds the theory only. Finite networks that test it are simulated
by :mod:`statmech_dl.networks` and trained by :mod:`statmech_dl.training`.

Every function takes the nonlinearity by name (see
:mod:`statmech_dl.nonlinearities`: ``"tanh"``, ``"erf"``, ``"relu"``,
``"linear"`` or ``"hard_tanh"``) and the standard deviations :math:`\sigma_w` and
:math:`\sigma_b` (not the variances). Arguments are validated once, by the public
function called; the computations behind it call private, unchecked helpers, so
that, for example, :func:`depth_scales` finds :math:`q^*` once rather than once
per evaluation of the correlation map. The Gaussian integrals are accurate to
about :math:`10^{-10}` relative (composite Gauss-Legendre panels with edges at the
kinks of :math:`\phi`; see ``statmech_dl._quadrature``).
"""

import numpy as np

from . import _quadrature as quad
from . import _validation as v
from . import nonlinearities

__all__ = [
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
]


# --- validation at the door ------------------------------------------------------

def _sigmas(sigma_w, sigma_b):
    sigma_w = v.real_array("sigma_w", sigma_w, lo=0.0, lo_open=True)
    sigma_b = v.real_array("sigma_b", sigma_b, lo=0.0)
    return np.broadcast_arrays(sigma_w, sigma_b)


def _scalar_sigmas(sigma_w, sigma_b):
    return v.real("sigma_w", sigma_w, lo=0.0, lo_open=True), v.real("sigma_b", sigma_b, lo=0.0)


def _keep(dropout):
    return 1.0 if dropout is None else v.real("dropout", dropout, lo=0.0, hi=1.0, lo_open=True)


def _smooth(phi, what):
    nl = nonlinearities.get(phi)
    if not nl.smooth:
        raise ValueError(f"phi must be smooth (tanh, erf or linear) {what}, got {nl.name!r}")
    return nl


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
    a = v.real_array("a", a)
    b = v.real_array("b", b, lo=0.0)
    return quad.expectation(f, a, b)


# --- unchecked computations ------------------------------------------------------

def _q_star(sigma_w, sigma_b, nl):
    """Fixed point of the length map for validated arrays (dropout already folded into sigma_w)."""
    if nl.homogeneous:
        gain = sigma_w**2 * nl.linear_fraction(1.0)
        if np.any((gain >= 1) & (sigma_b > 0)):
            limit = 1.0 / nl.linear_fraction(1.0)
            raise ValueError(f"sigma_w must satisfy sigma_w^2 < {limit:g} for {nl.name} "
                             "with sigma_b > 0: otherwise q grows without bound")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sigma_b > 0, sigma_b**2 / (1 - gain), 0.0)
    if not nl.smooth:      # hard tanh: no phi'' for Newton's F'(q), so bisect
        lo, hi = np.zeros(sigma_w.shape), sigma_w**2 + sigma_b**2
        for _ in range(80):
            mid = (lo + hi) / 2
            g = sigma_w**2 * quad.average(nl, "f2", mid) + sigma_b**2 - mid
            lo, hi = np.where(g > 0, mid, lo), np.where(g > 0, hi, mid)
        return (lo + hi) / 2
    q = sigma_w**2 + sigma_b**2
    for _ in range(200):
        F = quad.average(nl, "f2", q)
        dF = quad.average(nl, "df2", q) + quad.average(nl, "fddf", q)
        g = sigma_w**2 * F + sigma_b**2 - q
        slope = sigma_w**2 * dF - 1.0
        # slope = 0 only at q = 0 with sigma_w * phi'(0) = 1 and sigma_b = 0, where g = 0 too.
        step = np.divide(g, slope, out=np.zeros_like(q), where=slope != 0)
        q_new = np.maximum(q - step, 0.0)
        if np.all(np.abs(q_new - q) <= 1e-13 * np.maximum(q_new, 1e-300) + 1e-300):
            return q_new
        q = q_new
    return q


def _chi1_at(sigma_w, nl, qs):
    return sigma_w**2 * quad.average(nl, "df2", qs)


def _chi1(sigma_w, sigma_b, nl):
    if nl.homogeneous:
        # phi'^2 averages to a constant (1/2 or 1), so chi1 needs no q*.
        return _chi1_at(sigma_w, nl, np.zeros(np.shape(sigma_w)))
    return _chi1_at(sigma_w, nl, _q_star(sigma_w, sigma_b, nl))


def _c_map(c, sigma_w, sigma_b, nl, qs):
    return (sigma_w**2 * quad.pair_expectation(nl.f, nl.f, qs, c) + sigma_b**2) / qs


def _c_star(sigma_w, sigma_b, nl, rho, qs):
    from scipy.optimize import brentq

    def h(c):
        return float(_c_map(c, sigma_w, sigma_b, nl, qs)) - c

    if rho == 1.0:
        if float(_chi1_at(sigma_w, nl, qs)) <= 1.0:
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


def _positive_q_star(sigma_w, sigma_b, nl, rho):
    qs = float(_q_star(np.asarray(sigma_w / np.sqrt(rho)), np.asarray(sigma_b), nl))
    if qs == 0.0:
        raise ValueError("sigma_b must be > 0 here: with sigma_b = 0 in the ordered phase q* = 0 "
                         "and the correlation map is undefined")
    return qs


# --- length map -------------------------------------------------------------------

def q_map(q, sigma_w, sigma_b, phi="tanh", dropout=None):
    r"""One step of the length map, :math:`\frac{\sigma_w^2}{\rho} \int Dz\, \phi(\sqrt{q} z)^2 + \sigma_b^2`.

    With dropout (keep probability :math:`\rho`, activations scaled by
    :math:`1/\rho`) the squared length gains a factor :math:`1/\rho`;
    without it :math:`\rho = 1` (chapter *Transient chaos*, equation
    ``eq-tc-qmap``).

    Parameters
    ----------
    q : array_like
        Mean squared pre-activation of the previous layer, :math:`q \ge 0`.
    sigma_w : array_like
        Weight standard deviation (times :math:`\sqrt N`), :math:`> 0`.
    sigma_b : array_like
        Bias standard deviation, :math:`\ge 0`.
    phi : str
        Nonlinearity name, see :mod:`statmech_dl.nonlinearities`.
    dropout : float, optional
        Keep probability :math:`\rho \in (0, 1]`.
    """
    nl = nonlinearities.get(phi)
    q = v.real_array("q", q, lo=0.0)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    return v.scalar_or_array(sigma_w**2 / _keep(dropout) * quad.average(nl, "f2", q) + sigma_b**2)


def q_star(sigma_w, sigma_b, phi="tanh", dropout=None):
    r"""Fixed point :math:`q^*` of the length map.

    Found by Newton's method on :math:`g(q) = \sigma_w^2 F(q) + \sigma_b^2 - q`
    with :math:`F(q) = \int Dz\, \phi(\sqrt q z)^2` and, by Gaussian integration
    by parts, :math:`F'(q) = \int Dz\,[\phi'^2 + \phi\phi'']`. For bounded
    :math:`\phi` the iteration starts at the upper bound
    :math:`\sigma_w^2 + \sigma_b^2`; since :math:`F` is concave it then descends
    monotonically to the root. Hard tanh, which has no :math:`\phi''`, is
    bisected. ReLU and linear networks have closed forms and no finite fixed
    point when :math:`\sigma_w^2 \ge 2` (ReLU) or :math:`\sigma_w \ge 1` (linear)
    with :math:`\sigma_b > 0`; this raises ``ValueError``.

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
    nl = nonlinearities.get(phi)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    if dropout is not None:
        sigma_w = sigma_w / np.sqrt(_keep(dropout))
    return v.scalar_or_array(_q_star(sigma_w, sigma_b, nl))


def chi1(sigma_w, sigma_b, phi="tanh"):
    r""":math:`\chi_1 = \sigma_w^2 \int Dz\, \phi'(\sqrt{q^*} z)^2`.

    The factor by which a small perturbation's squared length is stretched per
    layer, and the mean squared singular value of one layer's Jacobian
    :math:`W D` (chapter *Transient chaos*, equation ``eq-tc-chi1``). The
    network is ordered for :math:`\chi_1 < 1` and chaotic for :math:`\chi_1 > 1`.
    """
    nl = nonlinearities.get(phi)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    return v.scalar_or_array(_chi1(sigma_w, sigma_b, nl))


def chi2(sigma_w, sigma_b, phi="tanh"):
    r""":math:`\chi_2 = \sigma_w^2 \int Dz\, \phi''(\sqrt{q^*} z)^2`.

    Sets the growth of curvature (Poole et al. 2016). Zero for linear networks;
    infinite for ReLU and hard tanh, whose second derivative is a delta
    function.
    """
    nl = nonlinearities.get(phi)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    if not nl.smooth:
        return v.scalar_or_array(np.full(sigma_w.shape, np.inf))
    return v.scalar_or_array(sigma_w**2 * quad.average(nl, "ddf2", _q_star(sigma_w, sigma_b, nl)))


def critical_sigma_w(sigma_b, phi="tanh"):
    r"""The :math:`\sigma_w` at which :math:`\chi_1 = 1`, for each :math:`\sigma_b`.

    :math:`\sqrt 2` for ReLU and 1 for linear networks (:math:`1/\sqrt p`, with
    :math:`p` the linear fraction); otherwise found by bisection in
    :math:`\sigma_w \in (0, 20]`, where :math:`\chi_1` increases with
    :math:`\sigma_w`.
    """
    nl = nonlinearities.get(phi)
    sigma_b = v.real_array("sigma_b", sigma_b, lo=0.0)
    if nl.homogeneous:
        return v.scalar_or_array(np.full(sigma_b.shape, np.sqrt(1.0 / nl.linear_fraction(1.0))))
    lo, hi = np.full(sigma_b.shape, 1e-3), np.full(sigma_b.shape, 20.0)
    for _ in range(50):
        mid = (lo + hi) / 2
        above = np.asarray(_chi1(mid, sigma_b, nl)) > 1
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    return v.scalar_or_array((lo + hi) / 2)


# --- correlation map ------------------------------------------------------------

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
    nl = nonlinearities.get(phi)
    c = v.real_array("c", c, lo=-1.0, hi=1.0)
    sigma_w, sigma_b = _scalar_sigmas(sigma_w, sigma_b)
    qs = _positive_q_star(sigma_w, sigma_b, nl, _keep(dropout))
    return v.scalar_or_array(_c_map(c, sigma_w, sigma_b, nl, qs))


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
    nl = nonlinearities.get(phi)
    sigma_w, sigma_b = _scalar_sigmas(sigma_w, sigma_b)
    rho = _keep(dropout)
    qs = _positive_q_star(sigma_w, sigma_b, nl, rho)
    return _c_star(sigma_w, sigma_b, nl, rho, qs)


def depth_scales(sigma_w, sigma_b, phi="tanh", dropout=None):
    r"""Depth scales :math:`(\xi_q, \xi_c)` over which lengths and correlations converge.

    Following Schoenholz et al. (2017) (chapter *Transient chaos*, equation
    ``eq-tc-xi``),

    .. math::

        \xi_q^{-1} = -\ln\Bigl[\tfrac{\sigma_w^2}{\rho}\int Dz\,\bigl(\phi'^2 +
        \phi''\phi\bigr)(\sqrt{q^*}z)\Bigr], \qquad
        \xi_c^{-1} = -\ln\Bigl[\sigma_w^2 \int Dz_1Dz_2\, \phi'(u_1)\phi'(u_2)\Bigr]_{c = c^*} ,

    the logarithms of the slopes of the two maps at their fixed points. Without
    dropout (:math:`\rho = 1`) in the ordered phase :math:`c^* = 1` and
    :math:`\xi_c = -1/\ln\chi_1`, which diverges at :math:`\chi_1 = 1`
    (returned as ``inf``), while :math:`\xi_q` stays finite. Dropout keeps
    :math:`c^* < 1` and so bounds :math:`\xi_c`. Smooth, saturating
    nonlinearities only (``tanh``, ``erf``).
    """
    nl = nonlinearities.get(phi)
    if not nl.smooth or nl.homogeneous:
        raise ValueError(f"phi must be 'tanh' or 'erf' for depth_scales, got {nl.name!r}")
    sigma_w, sigma_b = _scalar_sigmas(sigma_w, sigma_b)
    rho = _keep(dropout)
    qs = _positive_q_star(sigma_w, sigma_b, nl, rho)
    slope_q = sigma_w**2 / rho * float(quad.average(nl, "df2", qs) + quad.average(nl, "fddf", qs))
    xi_q = -1.0 / np.log(slope_q)
    if rho == 1.0:
        x1 = float(_chi1_at(sigma_w, nl, qs))
        if x1 == 1.0:
            return float(xi_q), np.inf
        cs = _c_star(sigma_w, sigma_b, nl, rho, qs)
        slope_c = x1 if cs == 1.0 else sigma_w**2 * float(quad.pair_expectation(nl.df, nl.df, qs, cs))
    else:
        cs = _c_star(sigma_w, sigma_b, nl, rho, qs)
        slope_c = sigma_w**2 * float(quad.pair_expectation(nl.df, nl.df, qs, cs))
    xi_c = np.inf if slope_c == 1.0 else -1.0 / np.log(slope_c)
    return float(xi_q), float(xi_c)


# --- curvature ------------------------------------------------------------------

def _chi12(sigma_w, sigma_b, nl):
    qs = _q_star(np.asarray(sigma_w), np.asarray(sigma_b), nl)
    return float(_chi1_at(sigma_w, nl, qs)), float(sigma_w**2 * quad.average(nl, "ddf2", qs))


def curvature_map(kappa_sq, sigma_w, sigma_b, phi="tanh"):
    r"""One layer of the curvature recursion for a curve at :math:`q^*`.

    For the width-normalised curvature :math:`\tilde\kappa = \sqrt N \kappa`
    (Poole et al. 2016; chapter *Transient chaos*, equation ``eq-tc-curvature``),

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
    nl = _smooth(phi, "for the curvature map")
    sigma_w, sigma_b = _scalar_sigmas(sigma_w, sigma_b)
    x1, x2 = _chi12(sigma_w, sigma_b, nl)
    return v.scalar_or_array(3 * x2 / x1**2 + kappa_sq / x1)


def curvature_fixed_point(sigma_w, sigma_b, phi="tanh"):
    r""":math:`\tilde\kappa^{*2} = 3\chi_2 / (\chi_1(\chi_1 - 1))`, defined in the chaotic phase.

    Raises ``ValueError`` for :math:`\chi_1 \le 1`, where curvature grows
    without bound with depth.
    """
    nl = _smooth(phi, "for the curvature fixed point")
    sigma_w, sigma_b = _scalar_sigmas(sigma_w, sigma_b)
    x1, x2 = _chi12(sigma_w, sigma_b, nl)
    if x1 <= 1.0:
        raise ValueError(f"sigma_w must put the network in the chaotic phase (chi1 > 1), got chi1 = {x1:.4g}")
    return 3 * x2 / (x1 * (x1 - 1))
