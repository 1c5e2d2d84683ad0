"""Jacobian spectra: free-probability theory against finite-width simulations.

Simulated spectra come from networks of width 300 (three networks per case);
the tolerances below are set by the finite-width corrections, which are of
relative order L/N for the moments, and by the sampling of a few networks.
"""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import erf

from statmech_dl import networks, nonlinearities
from statmech_dl import isometry as iso
from statmech_dl import meanfield as mf

WIDTH, SEEDS = 300, range(3)


def simulated(sw, sb, L, phi, weights, q0=None):
    return np.concatenate([networks.jacobian_spectrum(WIDTH, L, sw, sb, phi, weights, rng=s, q0=q0) for s in SEEDS])


def test_derivative_moments():
    df = nonlinearities.get("tanh").df
    for q in (0.05, 0.7, 4.0):
        mu = iso.derivative_moments(q, "tanh", 3)
        for k in range(3):
            ref = quad(lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * df(np.sqrt(q) * z) ** (2 * k + 2),
                       -12, 12, limit=200)[0]
            assert mu[k] == pytest.approx(ref, rel=1e-9)
    assert np.allclose(iso.derivative_moments(2.0, "relu", 2), 0.5)
    assert np.allclose(iso.derivative_moments(0.3, "hard_tanh", 2), erf(1 / np.sqrt(0.6)))  # P(|h| < 1)
    assert np.allclose(iso.derivative_moments(0.0, "tanh", 2), 1.0)


@pytest.mark.parametrize("phi", ["tanh", "erf", "hard_tanh"])
def test_critical_point_is_critical_with_the_requested_fixed_point(phi):
    for q in (0.1, 0.5, 2.0, 6.0):
        sw, sb = iso.critical_point(q, phi)
        assert mf.chi1(sw, sb, phi) == pytest.approx(1.0, abs=1e-9)
        assert mf.q_star(sw, sb, phi) == pytest.approx(q, rel=1e-8)
    # Approaching q* -> 0 the critical tanh network becomes linear: sigma_w -> 1, sigma_b -> 0.
    if phi == "tanh":
        sw, sb = iso.critical_point(1e-4, phi)
        assert abs(sw - 1) < 1e-3 and sb < 1e-3
    assert iso.critical_point(1.0, "relu") == pytest.approx((np.sqrt(2), 0.0))


def test_variance_formula_limits():
    # Linear orthogonal networks are exactly isometric; Gaussian ones spread by L.
    assert iso.spectrum_variance(1.0, 0.0, 7, "linear", "orthogonal") == 0.0
    assert iso.spectrum_variance(1.0, 0.0, 7, "linear", "gaussian") == pytest.approx(7.0)
    # ReLU: mu2/mu1^2 - 1 = 1 whatever q*, so it is never isometric.
    assert iso.spectrum_variance(np.sqrt(2), 0.0, 5, "relu", "orthogonal") == pytest.approx(5.0)
    # Orthogonal tanh approaches isometry as q* -> 0; Gaussian never beats L.
    small = [iso.spectrum_variance(*iso.critical_point(q), 10, "tanh", "orthogonal") for q in (1.0, 0.1, 0.01)]
    assert small[0] > small[1] > small[2] and small[2] < 0.01
    sw, sb = iso.critical_point(0.01)
    assert iso.spectrum_variance(sw, sb, 10, "tanh", "gaussian") > 10


CASES = [  # phi, q*, depth, weights
    ("tanh", 0.5, 8, "orthogonal"),
    ("tanh", 0.5, 8, "gaussian"),
    ("tanh", 0.05, 20, "orthogonal"),
    ("erf", 1.0, 4, "orthogonal"),
    ("relu", 1.0, 4, "gaussian"),
    ("relu", 1.0, 5, "orthogonal"),
    ("hard_tanh", 0.3, 3, "orthogonal"),
    ("hard_tanh", 1.0, 5, "gaussian"),
    ("linear", 1.0, 5, "gaussian"),
]


@pytest.fixture(scope="module", params=[pytest.param(c, marks=pytest.mark.slow, id="-".join(map(str, c)))
                                        for c in CASES])
def case(request):
    phi, q, L, weights = request.param
    sw, sb = iso.critical_point(q, phi)
    return phi, sw, sb, L, weights, simulated(sw, sb, L, phi, weights, q0=q)


def test_variance_matches_simulation(case):
    phi, sw, sb, L, weights, ev = case
    theory = iso.spectrum_variance(sw, sb, L, phi, weights)
    # var/mean^2 is insensitive to the network-to-network scatter of the overall
    # scale (the mean eigenvalue of one deep Gaussian tanh network varies by ~20%).
    sim = ev.var() / ev.mean() ** 2
    assert sim == pytest.approx(theory, rel=0.08, abs=0.01)


def test_ccdf_matches_simulation(case):
    """Kolmogorov distance between the theoretical and simulated distributions.

    Eigenvalues of one matrix repel each other, so the empirical distribution of
    900 eigenvalues fluctuates far less than 900 independent samples would
    (whose 95% Kolmogorov band is 0.045); 0.03 leaves room for finite width.
    Eigenvalues below 1e-6 of the mean are rounding noise around the rank atom.
    """
    phi, sw, sb, L, weights, ev = case
    assert iso.kolmogorov_distance(ev, sw, sb, L, phi, weights) < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("phi,q,L,weights", [("tanh", 1.0, 3, "orthogonal"), ("tanh", 0.3, 6, "gaussian"),
                                             ("erf", 0.3, 2, "gaussian"), ("hard_tanh", 1.0, 4, "orthogonal"),
                                             ("relu", 1.0, 3, "gaussian"), ("linear", 1.0, 4, "gaussian")])
def test_density_moments_and_normalisation(phi, q, L, weights):
    """Density plus atoms integrate to one, with mean chi1^L and the variance of eq. (variance)."""
    sw, sb = iso.critical_point(q, phi)
    sw *= 1.03                                    # off criticality, too
    chi_L = mf.chi1(sw, sb, phi) ** L
    # Piecewise-linear phi are cheap (two atoms in D^2): resolve their edge singularities finely.
    lam = np.geomspace(1e-24 * chi_L, 1e4 * chi_L, 2500 if phi in ("tanh", "erf") else 20000)
    rho = iso.spectral_density(lam, sw, sb, L, phi, weights)
    locs, masses = iso.point_masses(sw, sb, L, phi, weights)

    def integral(power):
        f = rho * lam ** (power + 1)
        return np.sum((f[1:] + f[:-1]) / 2 * np.diff(np.log(lam))) + np.sum(masses * locs**power)

    assert rho[-1] == 0.0
    assert integral(0) == pytest.approx(1.0, abs=4e-3)
    assert integral(1) / chi_L == pytest.approx(1.0, abs=4e-3)
    var = integral(2) / integral(1) ** 2 - 1
    assert var == pytest.approx(iso.spectrum_variance(sw, sb, L, phi, weights), rel=5e-3)


def test_single_layer_and_marchenko_pastur():
    # One orthogonal tanh layer: the distribution of sigma_w^2 phi'(h)^2, exactly.
    sw, sb = iso.critical_point(1.0)
    top = sw**2
    f = lambda x: float(iso.spectral_density(np.array([x]), sw, sb, 1)[0])  # noqa: E731
    assert quad(f, 0, top, limit=300)[0] == pytest.approx(1.0, abs=1e-6)
    assert quad(lambda x: x * f(x), 0, top, limit=300)[0] == pytest.approx(1.0, abs=1e-6)
    # One Gaussian linear layer: Marchenko-Pastur with ratio one.
    lam = np.linspace(0.01, 3.99, 50)
    mp = np.sqrt(4 - lam) / (2 * np.pi * np.sqrt(lam))
    assert np.allclose(iso.spectral_density(lam, 1.0, 0.0, 1, "linear", "gaussian"), mp, rtol=1e-7)
    # Orthogonal linear networks: one atom at sigma_w^(2L) and no continuous part.
    locs, masses = iso.point_masses(1.1, 0.0, 4, "linear", "orthogonal")
    assert np.allclose(locs, [1.1**8]) and np.allclose(masses, [1.0])
    assert np.all(iso.spectral_density([0.5, 1.1**8], 1.1, 0.0, 4, "linear", "orthogonal") == 0)


def test_point_masses_of_hard_tanh_match_simulation():
    q, L = 0.3, 3
    sw, sb = iso.critical_point(q, "hard_tanh")
    locs, masses = iso.point_masses(sw, sb, L, "hard_tanh", "orthogonal")
    p = iso.derivative_moments(q, "hard_tanh", 1)[0]
    assert np.allclose(masses, [1 - p, 1 - L * (1 - p)])
    ev = simulated(sw, sb, L, "hard_tanh", "orthogonal")
    at_top = np.mean(np.abs(ev / locs[1] - 1) < 1e-8)
    at_zero = np.mean(ev < 1e-12 * locs[1])
    # The number of linear units per layer is binomial, with standard deviation sqrt(p(1-p)/N)
    # as a fraction. The rank of J is the smallest of the L counts, about one such deviation
    # below pN; allow that bias plus four standard errors of the three-network mean.
    sd = np.sqrt(p * (1 - p) / WIDTH)
    se = sd / np.sqrt(len(SEEDS))
    assert at_zero == pytest.approx(masses[0] + sd, abs=4 * se)
    assert at_top == pytest.approx(masses[1], abs=4 * np.sqrt(L) * se)


def test_s_transform():
    sw, sb = iso.critical_point(0.8)
    q = mf.q_star(sw, sb)
    mu1, mu2 = iso.derivative_moments(q, "tanh", 2)
    # Series S(z) = (1 + s1 z) / m1 with s1 = -(relative variance).
    z = 1e-4
    s = iso.s_transform(z, sw, sb, 1, "tanh", "orthogonal")
    assert s.real == pytest.approx(1 / (sw**2 * mu1) * (1 - (mu2 / mu1**2 - 1) * z), rel=1e-7)
    # Multiplicativity over layers and the Gaussian factor.
    zs = np.array([0.05, -0.1 + 0.05j])
    one = iso.s_transform(zs, sw, sb, 1, "tanh", "orthogonal")
    assert np.allclose(iso.s_transform(zs, sw, sb, 4, "tanh", "gaussian"), (one / (1 + zs)) ** 4)
    # The numerical inversion reproduces the closed form for a Bernoulli D^2.
    p = 0.7
    g, w = np.array([0.0, 1.0]), np.array([1 - p, p])
    num = (1 + zs) * iso._chi_d2(zs, g, w) / zs
    assert np.allclose(num, (1 + zs) / (p + zs), rtol=1e-10)


def test_validation():
    with pytest.raises(ValueError, match="phi"):
        iso.critical_point(1.0, "sigmoid")
    with pytest.raises(ValueError, match="q_star"):
        iso.critical_point(-1.0)
    with pytest.raises(ValueError, match="weights"):
        iso.spectrum_variance(1.0, 0.1, 3, "tanh", "uniform")
    with pytest.raises(ValueError, match="depth"):
        iso.spectral_density([1.0], 1.0, 0.1, 0)
    with pytest.raises(ValueError, match="sigma_w"):
        iso.spectrum_variance(0.0, 0.1, 3)
    with pytest.raises(ValueError, match="lam"):
        iso.spectral_density([0.0, 1.0], 1.0, 0.1, 3)
    with pytest.raises(ValueError, match="width"):
        networks.jacobian_spectrum(1, 3, 1.0, 0.1)
    with pytest.raises(ValueError, match="q0"):
        networks.jacobian_spectrum(10, 3, np.sqrt(2), 0.0, "relu")
    with pytest.raises(ValueError, match="n_grid"):
        iso.spectral_ccdf([1.0], 1.0, 0.1, 3, n_grid=5)
    with pytest.raises(ValueError, match="floor"):
        iso.kolmogorov_distance([0.5, 1.0], 1.0, 0.1, 3, floor=0.0)
    with pytest.raises(ValueError, match="eigenvalues"):
        iso.kolmogorov_distance([0.0, 1e-9], 1.0, 0.1, 3)


def test_density_follows_the_physical_branch_inside_a_narrow_spectrum():
    # Orthogonal tanh at small q* has a spectrum of width ~0.3 around one. Following the root in
    # steps too coarse for it once jumped to a real (unphysical) root at scattered lambda,
    # leaving holes of zero density inside the support.
    sw, sb = iso.critical_point(0.02)
    ev = simulated(sw, sb, 8, "tanh", "orthogonal")
    lo, hi = np.quantile(ev, [0.02, 0.98])
    lam = np.linspace(lo, hi, 300)
    rho = iso.spectral_density(lam, sw, sb, 8)
    assert np.all(rho > 0.05 * rho.max())


@pytest.mark.parametrize("depth", [1, 2, 5, 10])
def test_spectral_edge_of_gaussian_linear_networks_is_fuss_catalan(depth):
    # The edge of the Fuss-Catalan law, (L + 1)^(L + 1) / L^L.
    edge = iso.spectral_edge(1.0, 0.0, depth, "linear", "gaussian", rtol=1e-5)
    assert edge == pytest.approx((depth + 1) ** (depth + 1) / depth**depth, rel=1e-3)


@pytest.mark.slow
def test_spectral_edge_against_wide_networks():
    # Orthogonal tanh at q* = 0.1: a narrow spectrum, whose top a width-400 network samples.
    sw, sb = iso.critical_point(0.1)
    edge = iso.spectral_edge(sw, sb, 8, "tanh", "orthogonal")
    tops = [networks.jacobian_spectrum(400, 8, sw, sb, "tanh", "orthogonal", rng=s).max() for s in range(3)]
    assert np.mean(tops) == pytest.approx(edge, rel=0.05)
    # Orthogonal linear networks: a single atom at sigma_w^(2L).
    assert iso.spectral_edge(1.2, 0.0, 3, "linear", "orthogonal") == pytest.approx(1.2**6)


def test_isometric_q_star():
    for variance, depth, phi in [(0.25, 10, "tanh"), (1.0, 16, "erf"), (0.5, 4, "hard_tanh")]:
        q = iso.isometric_q_star(variance, depth, phi)
        sw, sb = iso.critical_point(q, phi)
        assert iso.spectrum_variance(sw, sb, depth, phi) == pytest.approx(variance, rel=1e-8)
    # Large depth: q* -> sqrt(v / (8 L)) for tanh (eq-di-prescription).
    assert iso.isometric_q_star(0.25, 10000) == pytest.approx(np.sqrt(0.25 / 80000), rel=0.02)
    with pytest.raises(ValueError, match="^variance must"):
        iso.isometric_q_star(1.0, 16, "tanh", "gaussian")      # Gaussian variance is at least L
    with pytest.raises(ValueError, match="^depth must"):
        iso.isometric_q_star(1.0, 0)
