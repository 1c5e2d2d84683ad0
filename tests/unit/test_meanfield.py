"""Mean-field theory against adaptive quadrature, closed forms and finite-width networks (statmech_dl.networks)."""

import numpy as np
import pytest
from scipy.integrate import quad

from statmech_dl import _quadrature, networks, nonlinearities
from statmech_dl import meanfield as mf

from grids import cases


def quad_average(g, q):
    """Adaptive quadrature of E_z[g(sqrt(q) z)], split where g varies."""
    pts = sorted({0.0, *[x / np.sqrt(q) for x in (-16, -8, -4, -2, -1, -0.5, 0.5, 1, 2, 4, 8, 16)
                         if abs(x / np.sqrt(q)) < 12], -12.0, 12.0})
    dens = lambda z: g(np.sqrt(q) * z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    return sum(quad(dens, a, b, epsabs=0, epsrel=1e-13, limit=200)[0] for a, b in zip(pts[:-1], pts[1:]))


@pytest.mark.parametrize("phi", ["tanh", "erf", "hard_tanh"])
@pytest.mark.parametrize("kind", ["f2", "df2", "ddf2", "fddf"])
def test_averages_match_adaptive_quadrature(phi, kind):
    if phi == "hard_tanh" and kind in ("ddf2", "fddf"):
        pytest.skip("hard tanh has no second derivative")
    nl = nonlinearities.get(phi)
    g = _quadrature.integrand(nl, kind)
    # The whole diagram: sigma_w <= 5, sigma_b <= 2 gives q* up to about 29.
    for q in (1e-6, 1e-3, 0.05, 0.7, 3.0, 11.0, 29.0, 60.0):
        assert _quadrature.average(nl, kind, q) == pytest.approx(quad_average(g, q), rel=1e-8)


def test_trap_plain_gauss_hermite_fails_where_we_do_not():
    # At sigma_w = 4, sigma_b = 0.3 the integrand of chi2 is sharply peaked in z.
    sw, sb = 4.0, 0.3
    qs = mf.q_star(sw, sb)
    g = _quadrature.integrand(nonlinearities.get("tanh"), "ddf2")
    exact = sw**2 * quad_average(g, qs)
    z, w = np.polynomial.hermite_e.hermegauss(200)
    hermite = sw**2 * np.sum(w * g(np.sqrt(qs) * z)) / np.sqrt(2 * np.pi)
    assert abs(hermite / exact - 1) > 1e-3
    assert mf.chi2(sw, sb) == pytest.approx(exact, rel=1e-8)


@pytest.mark.parametrize("q", [1e-4, 0.3, 2.0, 25.0])
def test_erf_and_relu_closed_forms(q):
    erf = nonlinearities.get("erf")
    assert _quadrature.average(erf, "f2", q) == pytest.approx(2 / np.pi * np.arcsin(2 * q / (1 + 2 * q)), rel=1e-9)
    assert _quadrature.average(erf, "df2", q) == pytest.approx(4 / np.pi / np.sqrt(1 + 4 * q), rel=1e-9)
    assert mf.q_map(q, 1.3, 0.2, "relu") == pytest.approx(1.69 * q / 2 + 0.04, rel=1e-12)
    assert mf.q_map(q, 1.3, 0.2, "linear") == pytest.approx(1.69 * q + 0.04, rel=1e-12)


@pytest.mark.parametrize("c", [-0.6, 0.0, 0.4, 0.9, 0.999])
def test_c_map_closed_forms(c):
    sw, sb = 1.2, 0.3
    qs = mf.q_star(sw, sb, "erf")
    exact = (sw**2 * 2 / np.pi * np.arcsin(2 * qs * c / (1 + 2 * qs)) + sb**2) / qs
    assert mf.c_map(c, sw, sb, "erf") == pytest.approx(exact, rel=1e-9)
    qr = mf.q_star(sw, sb, "relu")
    theta = np.arccos(c)
    exact = (sw**2 * qr / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * c) + sb**2) / qr
    assert mf.c_map(c, sw, sb, "relu") == pytest.approx(exact, rel=1e-9)


SIGMAS = [(0.5, 0.0), (1.0, 0.05), (1.5, 0.3), (2.5, 1.0), (4.0, 0.3), (5.0, 2.0)]


@pytest.mark.parametrize("phi", ["tanh", "erf", "hard_tanh"])
@pytest.mark.parametrize("sw,sb", SIGMAS)
def test_q_star_is_a_fixed_point(phi, sw, sb):
    qs = mf.q_star(sw, sb, phi)
    assert mf.q_map(qs, sw, sb, phi) == pytest.approx(qs, rel=1e-9, abs=1e-12)


def test_q_star_vectorised_and_relu():
    sw, sb = np.meshgrid([0.5, 1.0, 3.0], [0.0, 0.5])
    qs = mf.q_star(sw, sb)
    assert qs.shape == (2, 3)
    assert np.allclose(mf.q_map(qs, sw, sb), qs, rtol=1e-9, atol=1e-12)
    assert mf.q_star(1.2, 0.5, "relu") == pytest.approx(0.25 / (1 - 0.72))
    with pytest.raises(ValueError, match="sigma_w must satisfy"):
        mf.q_star(1.5, 0.5, "relu")


@pytest.mark.parametrize("phi", ["tanh", "erf", "hard_tanh"])
@pytest.mark.parametrize("sb", [0.0, 0.3, 1.0, 2.0])
def test_critical_line(phi, sb):
    sw = mf.critical_sigma_w(sb, phi)
    assert mf.chi1(sw, sb, phi) == pytest.approx(1.0, abs=1e-9)
    assert mf.chi1(0.98 * sw, sb, phi) < 1 < mf.chi1(1.02 * sw, sb, phi)


def test_critical_values_of_piecewise_linear_networks():
    assert mf.critical_sigma_w(0.7, "relu") == pytest.approx(np.sqrt(2))
    assert mf.chi1(np.sqrt(2) * 0.99, 0.1, "relu") == pytest.approx(0.99**2)
    assert mf.critical_sigma_w(0.7, "linear") == 1.0
    assert mf.chi2(0.9, 0.1, "linear") == 0.0 and mf.chi2(1.0, 0.1, "relu") == np.inf


def test_c_star():
    assert mf.c_star(0.8, 0.3) == 1.0                     # ordered
    cs = mf.c_star(2.5, 0.3)
    assert cs < 1 and mf.c_map(cs, 2.5, 0.3) == pytest.approx(cs, abs=1e-10)
    assert mf.c_star(2.5, 0.0) == pytest.approx(0.0, abs=1e-10)   # odd phi, no bias


def test_depth_scales():
    sb = 0.3
    crit = mf.critical_sigma_w(sb)
    xi_q, xi_c = mf.depth_scales(0.8 * crit, sb)
    assert xi_c == pytest.approx(-1 / np.log(mf.chi1(0.8 * crit, sb)))
    near = [mf.depth_scales(f * crit, sb)[1] for f in (0.9, 0.99, 0.999)]
    assert near[0] < near[1] < near[2] and near[2] > 100
    assert all(np.isfinite(mf.depth_scales(f * crit, sb)[0]) for f in (0.9, 0.999, 1.1))
    chaotic = mf.depth_scales(1.5 * crit, sb)[1]
    assert np.isfinite(chaotic) and chaotic > 0


# --- theory against wide networks, over the grid of phi x (sigma_w, sigma_b) -----

N_WIDE, N_NETS = 1000, 6
#: Four standard errors of an average over N_NETS networks of width N_WIDE: a mean of
#: N squared Gaussians has relative standard error sqrt(2/N), a sample correlation
#: over N units a standard error below 1/sqrt(N).
Q_RTOL = 4 * np.sqrt(2 / (N_WIDE * N_NETS))
C_ATOL = 4 / np.sqrt(N_WIDE * N_NETS)


def wide_statistics(phi, sw, sb, c0, depth, seed0=0):
    """Mean length and correlation per layer of N_NETS networks fed two inputs at q* with correlation c0."""
    qs = mf.q_star(sw, sb, phi)
    q_all, c_all = [], []
    for seed in range(seed0, seed0 + N_NETS):
        rng = np.random.default_rng(seed)
        x = networks.scale_to_length(networks.correlated_inputs(N_WIDE, c0, rng), qs, sw, sb)
        q, c = networks.layer_statistics(networks.simulate(x, depth, sw, sb, phi, rng=rng))
        q_all.append(q.mean(axis=1))
        c_all.append(c[:, 0, 1])
    return qs, np.mean(q_all, axis=0), np.mean(c_all, axis=0)


@pytest.mark.slow
@pytest.mark.parametrize("phi,sw,sb", cases())
def test_wide_networks_follow_the_length_and_correlation_maps(phi, sw, sb):
    depth = 6
    qs, q_sim, c_sim = wide_statistics(phi, sw, sb, c0=0.6, depth=depth)
    assert np.allclose(q_sim, qs, rtol=Q_RTOL)
    # Iterate the correlation map from the first layer's measured correlation.
    c_theory = [c_sim[0]]
    for _ in range(depth - 1):
        c_theory.append(mf.c_map(c_theory[-1], sw, sb, phi))
    assert np.max(np.abs(c_sim - np.array(c_theory))) < C_ATOL


@pytest.mark.slow
@pytest.mark.parametrize("phi,sw,sb", cases())
def test_q_map_layer_by_layer_from_a_small_input(phi, sw, sb):
    rng = np.random.default_rng(3)
    x = 0.1 * rng.standard_normal((N_WIDE, N_NETS))
    q_sim = networks.layer_statistics(networks.simulate(x, 5, sw, sb, phi, rng=rng))[0].mean(axis=1)
    q = [sw**2 * np.mean(x**2) + sb**2]
    for _ in range(4):
        q.append(mf.q_map(q[-1], sw, sb, phi))
    # One network: the inputs share its weights, so the error is that of one
    # width-N average, sqrt(2/N) per layer, compounded over five layers.
    assert np.allclose(q_sim, q, rtol=5 * 4 * np.sqrt(2 / N_WIDE))


@pytest.mark.parametrize("call,name", [
    (lambda: mf.q_map(1.0, -1.0, 0.1), "sigma_w"),
    (lambda: mf.q_map(1.0, 1.0, -0.1), "sigma_b"),
    (lambda: mf.q_map(-1.0, 1.0, 0.1), "q"),
    (lambda: mf.chi1(1.0, 0.1, "sigmoid"), "phi"),
    (lambda: mf.c_map(1.5, 1.0, 0.1), "c"),
    (lambda: mf.c_map(0.5, 1.0, 0.0), "sigma_b"),
    (lambda: mf.depth_scales(1.0, 0.1, "relu"), "phi"),
    (lambda: mf.depth_scales(1.0, 0.1, dropout=1.5), "dropout"),
    (lambda: mf.curvature_map(1.0, 1.0, 0.1, "relu"), "phi"),
    (lambda: mf.curvature_fixed_point(0.5, 0.1), "sigma_w"),
    (lambda: mf.gaussian_expectation(np.tanh, 0.0, -1.0), "b"),
])
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_depth_scales_find_q_star_once():
    # Validation at the door: one call runs the fixed-point search once, not once
    # per evaluation of the correlation map (it ran 14 times before the library
    # was reorganised).
    from unittest import mock

    with mock.patch.object(mf, "_q_star", wraps=mf._q_star) as spy:
        mf.depth_scales(2.5, 0.3)
    assert spy.call_count == 1


# --- depth scales, curvature, gradients, dropout ----------------------------

def test_correlation_decay_rate_is_the_depth_scale():
    # Iterating the exact c-map in the ordered phase, 1 - c shrinks by exp(-1/xi_c) per layer.
    sw, sb = 1.1, 0.3
    _, xi_c = mf.depth_scales(sw, sb)
    c = [0.5]
    for _ in range(40):
        c.append(float(mf.c_map(c[-1], sw, sb)))
    gap = 1 - np.array(c)
    assert gap[-1] / gap[-2] == pytest.approx(np.exp(-1 / xi_c), rel=1e-3)


@pytest.mark.slow
def test_euclidean_length_and_curvature_of_a_great_circle():
    sw, sb, N, depth, n_net = 2.0, 0.3, 1000, 8, 4
    runs = [networks.propagate_circle(N, depth, sw, sb, n_points=48, rng=seed) for seed in range(n_net)]
    eu = np.mean([r["euclidean"] for r in runs], axis=0)
    kappa = np.mean([r["kappa_sq"] for r in runs], axis=0)
    # Layer 1 is the circle itself: length 2 pi sqrt(N q*) and kappa~^2 = 1/q*.
    qs = mf.q_star(sw, sb)
    assert eu[0] == pytest.approx(2 * np.pi * np.sqrt(N * qs), rel=1e-9)
    assert kappa[0] == pytest.approx(1 / qs, rel=1e-9)
    # The length grows by sqrt(chi1) per layer; a squared norm over N units has
    # relative standard error sqrt(2/N) per network.
    growth = np.exp(np.mean(np.diff(np.log(eu))))
    assert growth == pytest.approx(np.sqrt(mf.chi1(sw, sb)), rel=4 * np.sqrt(2 / (N * n_net * (depth - 1))))
    theory = [1 / qs]
    for _ in range(depth - 1):
        theory.append(float(mf.curvature_map(theory[-1], sw, sb)))
    # The chi2 term comes from sums of v_i^4, whose relative spread is about
    # sqrt(96/9 / N) ~ 10% per network and layer; 4 networks: ~5%, so 15% = 3 s.e.
    assert np.allclose(kappa, theory, rtol=0.15)
    assert theory[-1] < mf.curvature_fixed_point(sw, sb)


@pytest.mark.slow
def test_backpropagated_gradients_scale_by_chi1_per_layer():
    N = 1000
    for sw in (0.9, 2.0):
        sb = 0.3
        qs = mf.q_star(sw, sb)
        x = networks.scale_to_length(np.random.default_rng(0).standard_normal((N, 4)), qs, sw, sb)
        g = networks.gradient_norms(x, 12, sw, sb, rng=1)
        ratio = np.exp(np.mean(np.log(g[:-1] / g[1:])))
        # 11 layers x 4 inputs of squared norms over N units.
        assert ratio == pytest.approx(mf.chi1(sw, sb), rel=4 * np.sqrt(2 / (N * 44)))


def test_dropout_destroys_the_critical_point():
    sb = 0.3
    crit = mf.critical_sigma_w(sb)
    assert mf.depth_scales(crit, sb)[1] == np.inf or mf.depth_scales(crit, sb)[1] > 1e4
    cs = mf.c_star(crit, sb, dropout=0.9)
    assert cs < 1 and mf.c_map(cs, crit, sb, dropout=0.9) == pytest.approx(cs, abs=1e-10)
    xi_c = [mf.depth_scales(f * crit, sb, dropout=0.9)[1] for f in (0.8, 1.0, 1.2)]
    assert all(np.isfinite(xi_c)) and max(xi_c) < 20
    assert mf.q_star(1.0, 0.3, dropout=0.5) > mf.q_star(1.0, 0.3)


@pytest.mark.slow
def test_dropout_simulation_reaches_the_dropout_fixed_point():
    sw, sb, rho, N = 1.0, 0.3, 0.8, 1000
    cs = mf.c_star(sw, sb, dropout=rho)
    x = networks.scale_to_length(networks.correlated_inputs(N, 0.99, 0), mf.q_star(sw, sb, dropout=rho), sw, sb)
    c_deep = []
    for seed in range(4):
        h = networks.simulate(x, 25, sw, sb, rng=seed, dropout=rho)
        c_deep.append(np.mean(networks.layer_statistics(h[-5:])[1][:, 0, 1]))
    assert np.mean(c_deep) == pytest.approx(cs, abs=4 / np.sqrt(N * 4))
