r"""Dynamical isometry: the singular-value spectrum of a deep network's Jacobian.

For the chapter *Dynamical isometry* (``book/dynamical_isometry.md``), following
Pennington, Schoenholz & Ganguli (2017, 2018). Networks are those of
:mod:`statmech_dl.meanfield`, :math:`h^l = W^l \phi(h^{l-1}) + b^l`, with either
scaled Gaussian weights (variance :math:`\sigma_w^2/N`) or scaled orthogonal
weights :math:`W = \sigma_w O`. With inputs at the length fixed point
:math:`q^*`, the input-output Jacobian is

.. math::

    J = \frac{\partial x^L}{\partial x^0} = D^L W^L D^{L-1} W^{L-1} \cdots D^1 W^1,
    \qquad D^l = \diag\bigl(\phi'(h^l)\bigr),

where :math:`x^l = \phi(h^l)` are the activations. This module holds the
theory; simulated spectra come from :func:`statmech_dl.networks.jacobian_spectrum`.

Free probability
----------------
For a spectral distribution with moments :math:`m_k` let
:math:`\psi(x) = \sum_{k \ge 1} m_k x^k`, :math:`\chi = \psi^{-1}` and
:math:`S(z) = \frac{1+z}{z}\chi(z)`, the S-transform. For free matrices
:math:`S_{AB} = S_A S_B`, so

.. math::

    S_{JJ^\top}(z) = \bigl[S_{W^\top W}(z)\, S_{D^2}(z)\bigr]^L ,

with :math:`S_{W^\top W} = \sigma_w^{-2}` (orthogonal) or
:math:`\sigma_w^{-2}/(1+z)` (Gaussian), and :math:`S_{D^2}` set by the moments
:math:`\mu_k = \int Dz\, \phi'(\sqrt{q^*}z)^{2k}`. The density follows from the
Green's function :math:`G(w) = (1 + m)/w`, where :math:`m = \psi(1/w)` solves
:math:`w\, m\, S_{JJ^\top}(m) = 1 + m`; :math:`\rho(\lambda) = -\operatorname{Im}
G(\lambda + i0^+)/\pi`.

Numerically the library works with spectra normalised to mean one (so that
nothing overflows at large depth) and with the unknown :math:`x = \chi_{D^2}(m)`,
in which :math:`m = \psi_{D^2}(x)` is an explicit sum over the distribution of
:math:`D^2` (two atoms for ReLU and hard tanh, Gauss-Legendre nodes for smooth
nonlinearities). Of the many roots of the equation, the physical one is the
analytic continuation of :math:`m \approx 1/w` from large :math:`|w|`: for
every :math:`\lambda` the solver follows the root by Newton's method along
:math:`w = \lambda + i\eta` as :math:`\eta` falls from far above the spectrum to
:math:`10^{-10}`, never leaving the upper half-plane, where :math:`G` is analytic.
"""

import numpy as np

from . import _quadrature as quad
from . import _validation as v
from . import init, nonlinearities
from . import meanfield as mf

__all__ = [
    "derivative_moments",
    "critical_point",
    "isometric_q_star",
    "spectrum_variance",
    "s_transform",
    "point_masses",
    "spectral_density",
    "spectral_ccdf",
    "spectral_edge",
    "kolmogorov_distance",
]

_ETA_MIN = 1e-10        # final imaginary part of w, relative to the normalised spectrum


def _q(q_star):
    return v.real("q_star", q_star, lo=0.0)


def derivative_moments(q_star, phi="tanh", n_moments=2):
    r"""Moments :math:`\mu_k = \int Dz\, \phi'(\sqrt{q^*}z)^{2k}` of the diagonal of :math:`D^2`.

    :math:`\mu_1` sets the mean squared singular value per layer,
    :math:`\chi_1 = \sigma_w^2\mu_1`; :math:`\mu_2/\mu_1^2 - 1` is the relative
    variance of :math:`D^2`, which enters the spread of the Jacobian spectrum
    (chapter *Dynamical isometry*, equation ``eq-di-variance``).

    Parameters
    ----------
    q_star : float
        Length of the pre-activations, :math:`q^* \ge 0`.
    phi : str
        A name from :mod:`statmech_dl.nonlinearities`.
    n_moments : int, optional
        How many moments, at least 1.

    Returns
    -------
    ndarray, shape (n_moments,)
    """
    nl = nonlinearities.get(phi)
    q = _q(q_star)
    n_moments = v.integer("n_moments", n_moments, lo=1)
    return _derivative_moments(q, nl, n_moments)


def _derivative_moments(q, nl, n_moments):
    if nl.piecewise_linear:
        return np.full(n_moments, nl.linear_fraction(q))      # phi'^2 is 0 or 1
    return np.array([quad.expectation(lambda x, k=k: nl.df(x) ** (2 * k), 0.0, np.sqrt(q))
                     for k in range(1, n_moments + 1)])


def critical_point(q_star, phi="tanh"):
    r"""The :math:`(\sigma_w, \sigma_b)` with fixed point :math:`q^*` and :math:`\chi_1 = 1`.

    Criticality fixes :math:`\sigma_w^2 = 1/\mu_1(q^*)`; the length map's fixed
    point then fixes :math:`\sigma_b^2 = q^* - \sigma_w^2 \int Dz\,
    \phi(\sqrt{q^*}z)^2`. Where that is negative no critical network has this
    :math:`q^*`, and ``ValueError`` is raised. ReLU and linear networks are
    critical only without biases, at :math:`\sigma_w = \sqrt 2` and 1, for any
    :math:`q^*` (their length map is then the identity).

    Parameters
    ----------
    q_star : float
        :math:`q^* \ge 0`.
    phi : str
        A name from :mod:`statmech_dl.nonlinearities`.

    Returns
    -------
    tuple of float
        :math:`(\sigma_w, \sigma_b)`.
    """
    nl = nonlinearities.get(phi)
    q = _q(q_star)
    if nl.homogeneous:
        return float(np.sqrt(1.0 / nl.linear_fraction(q))), 0.0
    sw2 = 1.0 / _derivative_moments(q, nl, 1)[0]
    sb2 = q - sw2 * quad.expectation(lambda x: nl.f(x) ** 2, 0.0, np.sqrt(q))
    if sb2 < -1e-12 * q:
        raise ValueError(f"q_star = {q:g} has no critical point for phi={phi!r}: it would need "
                         f"sigma_b^2 = {sb2:.3g} < 0")
    return float(np.sqrt(sw2)), float(np.sqrt(max(sb2, 0.0)))


def isometric_q_star(variance, depth, phi="tanh", weights="orthogonal"):
    r"""The :math:`q^*` on the critical line at which a depth-:math:`L` network has a given spectral variance.

    Solves ``spectrum_variance(*critical_point(q*), depth) = variance`` for
    :math:`q^*`. For orthogonal tanh networks :math:`\mu_2/\mu_1^2 - 1 \approx 8
    q^{*2}` at small :math:`q^*` (chapter *Dynamical isometry*, equation
    ``eq-di-prescription``), so :math:`q^* \approx \sqrt{v/(8L)}` at large depth:
    isometry at depth :math:`L` needs :math:`q^* \propto L^{-1/2}`.

    Parameters
    ----------
    variance : float
        Target relative variance :math:`v > 0` of the eigenvalues of :math:`JJ^\top`.
    depth : int
        :math:`L \ge 1`.
    phi : str, optional
        A smooth or hard-tanh nonlinearity whose variance vanishes as :math:`q^* \to 0`.
    weights : str, optional

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If no :math:`q^*` in :math:`[10^{-8}, 4]` gives the variance (for Gaussian
        weights it is at least :math:`L`).
    """
    from scipy.optimize import brentq

    variance = v.real("variance", variance, lo=0.0, lo_open=True)
    depth = v.integer("depth", depth, lo=1)
    nl = nonlinearities.get(phi)
    init.ensemble(weights)

    def gap(log_q):
        sw, sb = critical_point(np.exp(log_q), nl.name)
        return spectrum_variance(sw, sb, depth, nl.name, weights) - variance

    lo, hi = np.log(1e-8), np.log(4.0)
    if not gap(lo) < 0 < gap(hi):
        raise ValueError(f"variance must lie between the variances at q* = 1e-8 and 4 for {nl.name} "
                         f"with {weights} weights at depth {depth}, got {variance:g}")
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-12)))


class _Network:
    """A validated network: sigma_w, depth L, nonlinearity, ensemble, q* and chi1."""

    def __init__(self, sigma_w, sigma_b, depth, phi, weights):
        self.nl = nonlinearities.get(phi)
        self.weights = init.ensemble(weights)
        self.gaussian = self.weights == "gaussian"
        self.sigma_w = v.real("sigma_w", sigma_w, lo=0.0, lo_open=True)
        sigma_b = v.real("sigma_b", sigma_b, lo=0.0)
        self.L = v.integer("depth", depth, lo=1)
        if self.nl.homogeneous:
            self.q = 1.0               # D^2 does not depend on q* for these
        else:
            # q* = 0 (no biases, ordered phase) is allowed: D^2 is then constant.
            self.q = float(mf.q_star(self.sigma_w, sigma_b, phi))
        self.mu1 = _derivative_moments(self.q, self.nl, 1)[0]
        self.chi = self.sigma_w**2 * self.mu1


def spectrum_variance(sigma_w, sigma_b, depth, phi="tanh", weights="orthogonal"):
    r"""Relative variance :math:`\sigma^2_{JJ^\top}/m_1^2` of the eigenvalues of :math:`JJ^\top`.

    Expanding each S-transform to first order, :math:`S(z) = m_1^{-1}(1 + s_1 z
    + \dots)` with :math:`s_1 = -\operatorname{var}/m_1^2`, and multiplying,

    .. math::

        \frac{\sigma^2_{JJ^\top}}{m_1^2} = L\left(\frac{\mu_2}{\mu_1^2} - 1 - s_1\right),

    with :math:`s_1 = 0` for orthogonal and :math:`-1` for Gaussian weights. The
    mean is :math:`m_1 = \chi_1^L`. Exact for infinitely wide networks at any
    :math:`(\sigma_w, \sigma_b)` with a finite fixed point.

    Parameters
    ----------
    sigma_w : float
        :math:`> 0`.
    sigma_b : float
        :math:`\ge 0`.
    depth : int
        :math:`L \ge 1`.
    phi : str
        A name from :mod:`statmech_dl.nonlinearities`.
    weights : str
        ``"orthogonal"`` or ``"gaussian"``.

    Returns
    -------
    float
    """
    net = _Network(sigma_w, sigma_b, depth, phi, weights)
    mu1, mu2 = _derivative_moments(net.q, net.nl, 2)
    s1 = -1.0 if net.gaussian else 0.0
    return float(net.L * (mu2 / mu1**2 - 1.0 - s1))


# --- the distribution of D^2 and the S-transform -------------------------------

def _d2_distribution(q, nl):
    r"""Atoms (values, weights) of :math:`D^2/\mu_1`, normalised to mean one."""
    if nl.piecewise_linear:
        p = nl.linear_fraction(q)
        if p == 1.0:
            return np.array([1.0]), np.array([1.0])
        return np.array([0.0, 1.0 / p]), np.array([1.0 - p, p])
    # The panel nodes are symmetric in z and phi'^2 is even: keep z > 0, double the weight.
    z, w = quad.nodes(0.0, np.sqrt(q))
    keep = z > 0
    g = nl.df(np.sqrt(q) * z[keep]) ** 2
    w = 2.0 * w[keep]
    w = w / w.sum()
    return g / np.sum(w * g), w


def _edge_bound(L, g, w, gaussian):
    """A bound on the top of the mean-one spectrum: (L + 1) exp(L var), var the per-layer relative variance."""
    spread = float(np.sum(w * g**2) - 1.0) + (1.0 if gaussian else 0.0)
    return (L + 1) * np.exp(min(L * spread, 60.0))


def _psi(x, g, w):
    """m = psi(x) = E[g x / (1 - g x)], 1 + m and dm/dx, for complex x of any shape.

    1 + m = E[1 / (1 - g x)] is summed on its own: near the bottom of a spectrum
    m -> -1, and forming 1 + m by addition would lose every digit.
    """
    # The sums over the atoms are matrix-vector products (BLAS), and
    # E[g x / (1 - g x)] = x E[g / (1 - g x)] saves a product per atom.
    inv = 1.0 / (1.0 - g * x[..., None])
    wg = (w * g).astype(complex)
    m, a = x * (inv @ wg), inv @ w.astype(complex)
    inv *= inv
    return m, a, inv @ wg


def _chi_d2(z, g, w):
    """chi = psi^{-1} at z by Newton's method continued from 0 along the segment [0, z]."""
    z = np.asarray(z, dtype=complex)
    x = np.zeros_like(z)
    for t in np.linspace(0.0, 1.0, 41)[1:]:
        for _ in range(30):
            m, _, dm = _psi(x, g, w)
            step = (m - t * z) / dm
            x = x - step
            if np.all(np.abs(step) <= 1e-14 * np.maximum(np.abs(x), 1e-300)):
                break
    m = _psi(x, g, w)[0]
    if not np.allclose(m, z, rtol=1e-9, atol=1e-12):
        raise ValueError("z lies outside the region where the S-transform of D^2 can be continued from 0")
    return x


def s_transform(z, sigma_w, sigma_b, depth=1, phi="tanh", weights="orthogonal"):
    r"""The S-transform :math:`S_{JJ^\top}(z)` of a depth-:math:`L` network's Jacobian.

    .. math::

        S_{JJ^\top}(z) = \left[\frac{S_{D^2}(z)}{\sigma_w^2}\right]^L
        \times \begin{cases} 1 & \text{orthogonal}\\ (1+z)^{-L} & \text{Gaussian}\end{cases}

    :math:`S_{D^2}` is in closed form for the piecewise-linear nonlinearities
    (:math:`D^2` is a Bernoulli variable with :math:`P(1) = p`, giving
    :math:`S_{D^2} = (1+z)/(p+z)`, with :math:`p = 1/2` for ReLU and
    :math:`p = \operatorname{erf}(1/\sqrt{2q^*})` for hard tanh, and 1 for
    linear networks) and is computed from :math:`\psi_{D^2}` by numerical
    inversion for ``tanh`` and ``erf``.

    Parameters
    ----------
    z : array_like
        Real or complex points near the origin (the inverse of :math:`\psi` is
        continued along the segment from 0 to ``z``).
    sigma_w, sigma_b : float
    depth : int, optional
    phi : str, optional
    weights : str, optional

    Returns
    -------
    complex ndarray or complex
    """
    net = _Network(sigma_w, sigma_b, depth, phi, weights)
    z = np.asarray(z, dtype=complex)
    if not np.all(np.isfinite(z)):
        raise ValueError("z must be finite")
    if net.nl.piecewise_linear:
        p = net.nl.linear_fraction(net.q)
        s_d = np.ones_like(z) if p == 1.0 else (1 + z) / (p + z)
    else:
        g, w = _d2_distribution(net.q, net.nl)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_norm = np.where(z == 0, 1.0, (1 + z) * _chi_d2(z, g, w) / np.where(z == 0, 1.0, z))
        s_d = s_norm / net.mu1
    s_w = 1.0 / (1 + z) if net.gaussian else np.ones_like(z)
    out = (s_d * s_w / net.sigma_w**2) ** net.L
    return complex(out) if out.ndim == 0 else out


def point_masses(sigma_w, sigma_b, depth, phi="tanh", weights="orthogonal"):
    r"""Atoms of the spectrum of :math:`JJ^\top`: locations and masses.

    When :math:`\phi'` vanishes on a fraction :math:`1-p` of the units (ReLU,
    :math:`p = 1/2`; hard tanh, :math:`p = \operatorname{erf}(1/\sqrt{2q^*})`),
    :math:`J` has rank :math:`pN` and :math:`JJ^\top` an atom of mass
    :math:`1-p` at zero. With orthogonal weights and :math:`\phi' \in \{0, 1\}`,
    the vectors that stay on the linear units through all :math:`L` layers are
    stretched by exactly :math:`\sigma_w^L`; they form a subspace of dimension
    :math:`N(1 - L(1-p))`, an atom at :math:`\sigma_w^{2L}` of mass
    :math:`\max(0, 1 - L(1-p))`. Smooth nonlinearities have no atoms.

    Returns
    -------
    locations, masses : ndarray
        Only atoms with positive mass, in increasing order of location.
    """
    return _point_masses(_Network(sigma_w, sigma_b, depth, phi, weights))


def _point_masses(net):
    if not net.nl.piecewise_linear:
        return np.zeros(0), np.zeros(0)
    p = net.nl.linear_fraction(net.q)
    locs, masses = [0.0], [1.0 - p]
    if not net.gaussian:
        locs.append(net.sigma_w ** (2 * net.L))
        masses.append(max(0.0, 1.0 - net.L * (1.0 - p)))
    keep = np.array(masses) > 0
    return np.array(locs)[keep], np.array(masses)[keep]


def _continue(lam, L, gaussian, g, w, start, per_e):
    """Follow the root from w = lam + i start down to lam + i 1e-10 lam; return (1 + m, residual)."""
    n_steps = int(np.ceil(per_e * np.log(start / (_ETA_MIN * float(np.min(lam))))))
    etas = np.geomspace(start, _ETA_MIN * lam, n_steps)
    x = 1.0 / (lam + 1j * etas[0])
    for k, eta in enumerate(etas):
        wz = lam + 1j * eta
        for _ in range(3 if k < n_steps - 1 else 8):
            m, a, dm = _psi(x, g, w)
            R = x / m if gaussian else a * x / m
            dlogR = (1 / x - dm / m) if gaussian else (dm / a + 1 / x - dm / m)
            RL = R**L
            P = wz * m * RL - a
            dP = wz * RL * dm + wz * m * L * RL * dlogR - dm
            step = P / dP
            # Damp steps that would jump to another root.
            big = np.abs(step) > 0.5 * np.abs(x)
            step[big] *= 0.5 * np.abs(x[big]) / np.abs(step[big])
            x = x - step
    m, a, _ = _psi(x, g, w)
    residual = np.abs(wz * m * (x / m if gaussian else a * x / m) ** L - a) / np.abs(a)
    return a, residual


def _solve(lam, L, gaussian, g, w, edge):
    """1 + m, m = psi_{JJ^T}(1/w), at w = lam + i 0+ for the normalised spectrum, by continuation in eta."""
    lam = np.asarray(lam, dtype=float)
    # Far above the spectrum m ~ 1/w: start well beyond the bound on its upper edge.
    start = 1e4 * max(1.0, float(np.max(lam))) * edge
    # Three steps per factor e in eta keep each Newton start inside the physical root's
    # basin; with one, narrow spectra (orthogonal tanh at small q*) jumped to a real root
    # at some lambda and showed holes. Points that fail to converge are followed again
    # in steps four times finer.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        a, residual = _continue(lam, L, gaussian, g, w, start, per_e=3)
        bad = ~(residual <= 1e-8)
        if np.any(bad):
            a[bad], residual[bad] = _continue(lam[bad], L, gaussian, g, w, start, per_e=12)
    if not np.all(residual <= 1e-8):
        raise RuntimeError(f"the spectral equation did not converge (residual {np.nanmax(residual):.2g})")
    return a


def _one_orthogonal_layer_density(lam, sigma_w, q, nl):
    r"""Density of :math:`\sigma_w^2\phi'(h)^2`, :math:`h \sim \mathcal N(0, q)`, by change of variables.

    With a single orthogonal layer :math:`JJ^\top = \sigma_w^2 D^2`: no free
    convolution smooths the distribution of :math:`D^2`, so it is computed
    exactly instead of from quadrature nodes. :math:`\phi'^2` decreases on
    :math:`h > 0` (tanh, erf); the two roots :math:`\pm h` of
    :math:`\sigma_w^2\phi'(h)^2 = \lambda` each contribute
    :math:`p(h)/|d\lambda/dh|`.
    """
    df, ddf = nl.df, nl.ddf
    top = sigma_w**2 * df(0.0) ** 2
    inside = lam < top
    lo, hi = np.zeros(lam.shape), np.full(lam.shape, 50.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        above = sigma_w**2 * df(mid) ** 2 > lam
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    h = (lo + hi) / 2
    p_h = np.exp(-h * h / (2 * q)) / np.sqrt(2 * np.pi * q)
    slope = np.abs(2 * sigma_w**2 * df(h) * ddf(h))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(inside & (slope > 0), 2 * p_h / slope, 0.0)
    return rho


def spectral_density(lam, sigma_w, sigma_b, depth, phi="tanh", weights="orthogonal"):
    r"""Density of the continuous part of the spectrum of :math:`JJ^\top` at the points ``lam``.

    Solves :math:`w\, m\, S_{JJ^\top}(m) = 1 + m` on the physical branch (see the
    module docstring) and returns :math:`\rho(\lambda) = -\operatorname{Im}
    m(\lambda + i0^+)/(\pi\lambda)`. Point masses are not included: they are
    returned by :func:`point_masses`, and the density integrates to one minus
    their total mass.

    Parameters
    ----------
    lam : array_like
        Eigenvalues at which to evaluate, :math:`\lambda > 0`.
    sigma_w, sigma_b : float
    depth : int
    phi : str
        A name from :mod:`statmech_dl.nonlinearities`.
    weights : str
        ``"orthogonal"`` or ``"gaussian"``.

    Returns
    -------
    ndarray
        Same shape as ``lam``.
    """
    lam = v.real_array("lam", lam, lo=0.0, lo_open=True)
    return _spectral_density(lam, _Network(sigma_w, sigma_b, depth, phi, weights))


def _spectral_density(lam, net):
    if np.sum(_point_masses(net)[1]) > 1 - 1e-12:
        return np.zeros(lam.shape)            # atoms only, e.g. orthogonal linear networks
    if net.L == 1 and not net.gaussian and not net.nl.piecewise_linear:
        return _one_orthogonal_layer_density(lam, net.sigma_w, net.q, net.nl)
    g, w = _d2_distribution(net.q, net.nl)
    scale = net.chi**net.L
    flat = lam.reshape(-1) / scale
    one_plus_m = _solve(flat, net.L, net.gaussian, g, w, _edge_bound(net.L, g, w, net.gaussian))
    rho = np.maximum(-one_plus_m.imag / (np.pi * flat), 0.0) / scale
    # Far from the support, Im m is of order eta = 1e-10 times the spectrum's scale.
    rho[rho * scale * flat < 1e-8] = 0.0
    return rho.reshape(lam.shape)


def spectral_ccdf(lam, sigma_w, sigma_b, depth, phi="tanh", weights="orthogonal", n_grid=800):
    r"""Fraction of eigenvalues of :math:`JJ^\top` larger than each ``lam``, point masses included.

    The continuous part is integrated downwards from the top of the spectrum
    on a logarithmic grid, :math:`\int_\lambda^\infty \rho = \int \rho(\lambda')
    \lambda'\, d\ln\lambda'`, which resolves both the heavy tails of deep
    Gaussian networks and the pile-up of small eigenvalues.

    Parameters
    ----------
    lam : array_like
        :math:`\lambda > 0`.
    sigma_w, sigma_b, depth, phi, weights
        As in :func:`spectral_density`.
    n_grid : int, optional
        Points of the integration grid, at least 100.

    Returns
    -------
    ndarray
    """
    lam = v.real_array("lam", lam, lo=0.0, lo_open=True)
    n_grid = v.integer("n_grid", n_grid, lo=100)
    return _spectral_ccdf(lam, _Network(sigma_w, sigma_b, depth, phi, weights), n_grid)


def _spectral_ccdf(lam, net, n_grid):
    locs, masses = _point_masses(net)
    out = np.zeros(lam.shape)
    for loc, mass in zip(locs, masses):
        out += mass * (loc > lam)
    if np.sum(masses) > 1 - 1e-12:
        return out
    # Find the top of the support on a coarse grid, then integrate on a fine one.
    scale = net.chi**net.L
    hi = scale * 4.0 * _edge_bound(net.L, *_d2_distribution(net.q, net.nl), net.gaussian)
    coarse = np.geomspace(min(lam.min(), scale) * 1e-3, hi, 200)
    rho = _spectral_density(coarse, net)
    top = coarse[min(np.flatnonzero(rho > 0).max() + 1, coarse.size - 1)] if np.any(rho > 0) else scale
    grid = np.geomspace(min(lam.min(), top) * 0.999, top, n_grid)
    f = _spectral_density(grid, net) * grid
    upper = np.concatenate([np.cumsum(((f[1:] + f[:-1]) / 2 * np.diff(np.log(grid)))[::-1])[::-1], [0.0]])
    return out + np.interp(np.log(lam), np.log(grid), upper, right=0.0)


def spectral_edge(sigma_w, sigma_b, depth, phi="tanh", weights="orthogonal", rtol=1e-4):
    r"""The largest eigenvalue of :math:`JJ^\top` in an infinitely wide network: the top of the spectrum.

    The right edge of the support of :func:`spectral_density`, or the highest
    point mass if that lies above it. Found on a logarithmic grid and refined by
    bisection on the sign of the density. For Gaussian linear networks it is the
    edge of the Fuss-Catalan law, :math:`(L+1)^{L+1}/L^L`, which grows like
    :math:`e(L+1)` with depth; isometric networks keep it near one (chapter
    *Dynamical isometry*). A finite network's largest eigenvalue fluctuates
    around it by an amount that shrinks as its width grows.

    Parameters
    ----------
    sigma_w, sigma_b, depth, phi, weights
        As in :func:`spectral_density`.
    rtol : float, optional
        Relative accuracy, in :math:`(0, 0.1]`.

    Returns
    -------
    float
    """
    rtol = v.real("rtol", rtol, lo=0.0, hi=0.1, lo_open=True)
    net = _Network(sigma_w, sigma_b, depth, phi, weights)
    locs, masses = _point_masses(net)
    top_atom = float(locs.max()) if locs.size else 0.0
    if np.sum(masses) > 1 - 1e-12:
        return top_atom
    scale = net.chi**net.L
    grid = np.geomspace(scale * 1e-3, scale * 4.0 * _edge_bound(net.L, *_d2_distribution(net.q, net.nl),
                                                                 net.gaussian), 120)
    rho = _spectral_density(grid, net)
    k = int(np.flatnonzero(rho > 0).max())
    lo, hi = grid[k], grid[min(k + 1, grid.size - 1)]
    while hi / lo > 1 + rtol:
        mid = np.sqrt(lo * hi)
        if _spectral_density(np.array([mid]), net)[0] > 0:
            lo = mid
        else:
            hi = mid
    return max(float(np.sqrt(lo * hi)), top_atom)


def kolmogorov_distance(eigenvalues, sigma_w, sigma_b, depth, phi="tanh", weights="orthogonal", floor=1e-6,
                        n_points=150, n_grid=800):
    r"""Largest gap between the theoretical and an empirical distribution of eigenvalues of :math:`JJ^\top`.

    Compares :func:`spectral_ccdf` (point masses included) with the fraction of
    ``eigenvalues`` above :math:`\lambda`, on ``n_points`` logarithmically
    spaced :math:`\lambda` from ``floor`` times the mean :math:`\chi_1^L` to the
    largest eigenvalue. Below the floor, simulated eigenvalues are rounding
    noise around the atom at zero.

    Parameters
    ----------
    eigenvalues : array_like
        Simulated eigenvalues, e.g. from :func:`statmech_dl.networks.jacobian_spectrum`.
    sigma_w, sigma_b, depth, phi, weights
        As in :func:`spectral_density`.
    floor : float, optional
        In :math:`(0, 1)`.
    n_points, n_grid : int, optional
        Comparison points (at least 2) and the integration grid of :func:`spectral_ccdf`.

    Returns
    -------
    float
    """
    ev = np.sort(v.real_array("eigenvalues", eigenvalues, lo=0.0).reshape(-1))
    if ev.size == 0:
        raise ValueError("eigenvalues must not be empty")
    floor = v.real("floor", floor, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    n_points = v.integer("n_points", n_points, lo=2)
    net = _Network(sigma_w, sigma_b, depth, phi, weights)
    low = floor * net.chi**net.L
    if ev[-1] <= low:
        raise ValueError("eigenvalues must reach above floor times the mean chi1^L")
    lam = np.geomspace(low, ev[-1], n_points)
    empirical = 1.0 - np.searchsorted(ev, lam, side="right") / ev.size
    n_grid = v.integer("n_grid", n_grid, lo=100)
    return float(np.max(np.abs(_spectral_ccdf(lam, net, n_grid) - empirical)))
