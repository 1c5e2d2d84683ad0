"""The exercise checks accept right answers and reject wrong ones with a hint.

A passing check prints exactly ``exercises.CORRECT`` (a formula there would give
the answer away under the exercise on the web page), and a failing one never
prints the expected value.
"""

import numpy as np
import pytest

from statmech_dl import exercises

from statmech_dl import linear_dynamics as ld
from statmech_dl import semantic as sm
from statmech_dl.exercises import semantic_development as ex


def test_half_time_check():
    ex.check_half_time(ld.half_time)
    with pytest.raises(AssertionError, match="rate is 2s/tau"):
        ex.check_half_time(lambda s, a0, tau=1.0: tau / s * np.log(s / a0 - 1))
    with pytest.raises(AssertionError, match="pass your function"):
        ex.check_half_time(1.0)


def test_tree_check():
    def right(eps):
        lam, mult = sm.hierarchy_spectrum(2, 2, eps)
        return np.repeat(lam, mult)

    ex.check_tree_eigenvalues(right)
    with pytest.raises(AssertionError, match="siblings"):
        ex.check_tree_eigenvalues(lambda eps: right(eps)[::-1])
    with pytest.raises(AssertionError, match="shape"):
        ex.check_tree_eigenvalues(lambda eps: right(eps)[:3])


def test_coherence_check():
    def right(n_items, n_features, k_items, noise_std):
        return int(np.floor(noise_std**2 * np.sqrt(n_items * n_features) / k_items)) + 1

    ex.check_min_category_features(right)
    # Using >= instead of > is off by one exactly at integer bounds.
    with pytest.raises(AssertionError, match="threshold \\(strictly\\)"):
        ex.check_min_category_features(
            lambda n, f, k, s: int(np.ceil(s**2 * np.sqrt(n * f) / k)))


def test_illusory_peak_check():
    t_peak = ex.illusory_peak_time()
    # The reference is a genuine interior maximum of the theory curve.
    data = sm.rogers_mcclelland()
    U, s, Vt = ld.mode_decomposition(data.matrix)
    f, i = data.features.index("has leaves"), data.items.index("pine")
    curve = lambda t: ld.mode_strength(t, s, 1e-3, 8.0) @ (U[f] * Vt[:, i])  # noqa: E731
    assert curve(t_peak) > curve(t_peak - 0.05) and curve(t_peak) > curve(t_peak + 0.05)
    assert curve(t_peak) > 0.5
    ex.check_illusory_peak(t_peak)
    with pytest.raises(AssertionError, match="tau -> P tau"):
        ex.check_illusory_peak(t_peak / 8)


# --- Deep linear dynamics ---------------------------------------------------

from statmech_dl import init, saddles  # noqa: E402
from statmech_dl.exercises import deep_linear_dynamics as dex  # noqa: E402


def test_deep_linear_checks_accept_right_answers():
    dex.check_three_layer_time(lambda s, u0, uf, tau: ld.learning_time(s, u0, uf, 3, tau))
    dex.check_hessian_top(saddles.hessian_top_eigenvalue)
    dex.check_haar(lambda n, rng: init.orthogonal(n, rng=rng))
    dex.check_product_variance(lambda L: float(L))
    dex.check_typical_value(lambda L: np.exp(-L), 3)


def test_deep_linear_checks_reject_wrong_answers():
    with pytest.raises(AssertionError, match="partial fractions"):
        dex.check_three_layer_time(lambda s, u0, uf, tau: tau / s * np.log(uf / u0))
    with pytest.raises(AssertionError, match="g g\\^T"):
        dex.check_hessian_top(lambda s, n: n * s**2)
    with pytest.raises(AssertionError, match="signs LAPACK chooses"):
        dex.check_haar(lambda n, rng: np.linalg.qr(rng.standard_normal((n, n)))[0])
    with pytest.raises(AssertionError, match="Fuss-Catalan"):
        dex.check_product_variance(lambda L: L + 1.0)
    with pytest.raises(AssertionError, match="mean logarithm"):
        dex.check_typical_value(lambda L: 1.0, 3)
    with pytest.raises(AssertionError, match="too large"):
        dex.check_typical_value(lambda L: np.exp(-L), 5)


# --- Transient chaos ----------------------------------------------------------

from statmech_dl import meanfield as mf  # noqa: E402
from statmech_dl.exercises import transient_chaos as tex  # noqa: E402


def test_transient_chaos_checks():
    tex.check_relu_chi1(lambda sw: sw**2 / 2)
    tex.check_curvature_fixed_point(lambda x1, x2: 3 * x2 / (x1 * (x1 - 1)))
    tex.check_erf_chi1(lambda sw, q: sw**2 * 4 / (np.pi * np.sqrt(1 + 4 * q)))
    with pytest.raises(AssertionError, match="complete the square"):
        tex.check_erf_chi1(lambda sw, q: sw**2 * 4 / (np.pi * (1 + 4 * q)))
    with pytest.raises(AssertionError, match="fraction of a centred Gaussian"):
        tex.check_relu_chi1(lambda sw: sw**2)
    with pytest.raises(AssertionError, match="kappa_l = kappa_"):
        tex.check_curvature_fixed_point(lambda x1, x2: 3 * x2 / x1**2)
    assert mf.chi1(1.0, 0.1, "relu") == 0.5


# --- Dynamical isometry ---------------------------------------------------------

from statmech_dl.exercises import dynamical_isometry as dix  # noqa: E402


def test_dynamical_isometry_checks():
    dix.check_relu_variance(lambda L, w: L * (1.0 if w == "orthogonal" else 2.0))
    dix.check_bernoulli_s(lambda z, p: (1 + z) / (p + z))
    dix.check_top_atom(lambda p, L: max(0.0, 1.0 - L * (1.0 - p)))
    with pytest.raises(AssertionError, match="s1 of each weight ensemble"):
        dix.check_relu_variance(lambda L, w: float(L))
    with pytest.raises(AssertionError, match="invert it"):
        dix.check_bernoulli_s(lambda z, p: 1 / p)
    with pytest.raises(AssertionError, match="cannot be negative"):
        dix.check_top_atom(lambda p, L: 1.0 - L * (1.0 - p))


# --- what a check prints ---------------------------------------------------------

def test_a_passing_check_says_only_that_it_passed(capsys):
    tex.check_relu_chi1(lambda sw: sw**2 / 2)
    dix.check_top_atom(lambda p, L: max(0.0, 1.0 - L * (1.0 - p)))
    ex.check_illusory_peak(ex.illusory_peak_time())
    assert capsys.readouterr().out == (exercises.CORRECT + "\n") * 3


def test_a_failing_check_does_not_state_the_expected_value():
    t_peak = ex.illusory_peak_time()
    with pytest.raises(AssertionError) as err:
        ex.check_illusory_peak(0.5 * t_peak)
    assert f"{t_peak:.3g}" not in str(err.value) and "too small" in str(err.value)


# --- Saddle points ----------------------------------------------------------

from statmech_dl.exercises import saddle_points as spx  # noqa: E402


def _toy_step(x, y, method):
    g = np.array([x, y ** 3 - y])
    curvature = np.array([1.0, 3 * y ** 2 - 1])
    if method == "saddle_free":
        curvature = np.abs(curvature)
    return np.array([x, y]) - g / curvature


def test_saddle_points_checks_accept_right_answers(capsys):
    spx.check_hessian_variances(lambda n, p: (p * (p - 1) / n, 2 * p * (p - 1) / n))
    spx.check_autoencoder_index(
        lambda lam, S: sum(1 for i in S for j in range(len(lam)) if j not in S and lam[j] > lam[i]))
    spx.check_toy_step(_toy_step)
    assert capsys.readouterr().out.count("Correct") == 3


def test_saddle_points_checks_reject_wrong_answers():
    with pytest.raises(AssertionError, match="too small.*pairing") as err:
        spx.check_hessian_variances(lambda n, p: (p * (p - 1) / n, p * (p - 1) / n))   # diagonal = off-diagonal
    assert "0.4" not in str(err.value)          # the diagonal variance for n = 10, p = 2 is not given away
    with pytest.raises(AssertionError, match="two numbers"):
        spx.check_hessian_variances(lambda n, p: p * (p - 1) / n)
    with pytest.raises(AssertionError, match="more variance"):
        spx.check_autoencoder_index(lambda lam, S: sum(S))   # counts pairs inside S too
    with pytest.raises(AssertionError, match="absolute"):
        spx.check_toy_step(lambda x, y, m: _toy_step(x, y, "newton"))      # Newton for both
    with pytest.raises(AssertionError, match="Newton step"):
        spx.check_toy_step(lambda x, y, m: np.array([x, y]) - np.array([x, y ** 3 - y]))   # a gradient step


# --- High-dimensional inference -----------------------------------------------

from statmech_dl import inference  # noqa: E402
from statmech_dl.exercises import high_dimensional_inference as hdx  # noqa: E402


def _ridge(alpha, s2, gamma):
    c = (-(alpha + gamma - 1) + np.sqrt((alpha + gamma - 1) ** 2 + 4 * gamma)) / (2 * gamma)
    lam_s = (1 + c) / alpha
    return ((lam_s * gamma) ** 2 + s2 / alpha) / ((1 + lam_s * gamma) ** 2 - 1 / alpha)


def test_inference_checks_accept_right_answers(capsys):
    hdx.check_ridge_error(_ridge)
    hdx.check_cramer_rao_error(lambda a: inference.m_estimation_error(a, "optimal", "laplace"))
    hdx.check_sparse_posterior_mean(lambda v, d, r: inference.posterior_mean(v, d, ("bernoulli_gauss", r)))
    assert capsys.readouterr().out.count("Correct") == 3


def test_inference_checks_reject_wrong_answers():
    with pytest.raises(AssertionError, match="quadratic"):
        hdx.check_ridge_error(lambda a, s2, g: _ridge(a, 0.0, g))               # forgot the noise
    with pytest.raises(AssertionError, match="too small.*Fisher"):
        hdx.check_cramer_rao_error(lambda a: 0.5 / a)                           # the classical bound
    with pytest.raises(AssertionError, match="nonzero"):
        hdx.check_sparse_posterior_mean(lambda v, d, r: v / (1 + d))            # ignores sparsity


# --- Complex synapses -----------------------------------------------------------

from statmech_dl import synapses  # noqa: E402
from statmech_dl.exercises import complex_synapses as csx  # noqa: E402


def _kemeny(m_pot, m_dep, f):
    n = m_pot.shape[0]
    W = f * m_pot + (1 - f) * m_dep - np.eye(n)
    p = synapses.equilibrium(m_pot, m_dep, f)
    return np.trace(np.linalg.inv(np.outer(np.ones(n), p) - W)) - 1


def test_synapse_checks_accept_right_answers(capsys):
    csx.check_serial_initial_snr(lambda M, N: 2 * np.sqrt(N) / M)
    csx.check_equilibrium(synapses.equilibrium)
    csx.check_kemeny(_kemeny)
    assert capsys.readouterr().out.count("Correct") == 3


def test_synapse_checks_reject_wrong_answers():
    with pytest.raises(AssertionError, match="equally likely") as err:
        csx.check_serial_initial_snr(lambda M, N: np.sqrt(N) / M)                    # one state only
    with pytest.raises(AssertionError, match="row vector"):
        csx.check_equilibrium(lambda mp, md, f: np.ones(mp.shape[0]) / mp.shape[0])   # uniform
    with pytest.raises(AssertionError, match="fundamental matrix"):
        csx.check_kemeny(lambda mp, md, f: _kemeny(mp, md, f) + 1)                     # tr Z, not tr Z - 1


# --- Diffusion models -------------------------------------------------------------

from statmech_dl import diffusion  # noqa: E402
from statmech_dl.exercises import diffusion_models as dmx  # noqa: E402


def test_diffusion_checks_accept_right_answers(capsys):
    dmx.check_marginal(diffusion.forward_marginal)
    dmx.check_posterior_variance(lambda t, b: diffusion.posterior(0.0, 0.0, t, b)[1])
    dmx.check_null_bound(diffusion.null_bound)
    dmx.check_gaussian_kl(diffusion_gaussian_kl_per_coordinate)
    dmx.check_ksd_gaussian(ksd_gaussian_by_quadrature)
    assert capsys.readouterr().out.count("Correct") == 5


def diffusion_gaussian_kl_per_coordinate(mu1, v1, mu2, v2):
    # A right answer computed another way: the KL of each coordinate, summed (the Gaussians factorise).
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    return float(sum(np.log(np.sqrt(v2 / v1)) + (v1 + (a - b) ** 2) / (2 * v2) - 0.5 for a, b in zip(mu1, mu2)))


def ksd_gaussian_by_quadrature(m, v, h, d):
    # A right answer computed another way: x.y = |c|^2 - |r|^2/4 with c = (x + y)/2 and r = x - y
    # independent, and the r-integrals done numerically per coordinate (the kernel factorises).
    from scipy import integrate, stats

    density = stats.norm(0.0, np.sqrt(2 * v)).pdf

    def moment(power):
        return integrate.quad(lambda r: r**power * np.exp(-r * r / (2 * h * h)) * density(r), -np.inf, np.inf,
                              epsabs=1e-13, epsrel=1e-12)[0]

    k1, r2 = moment(0), moment(2)                 # per coordinate: E k, E k r^2
    m = np.atleast_1d(np.asarray(m, float))
    Ek = k1**d
    E_kr2 = d * r2 * k1 ** (d - 1)
    Ec2 = np.sum(m**2) + d * v / 2
    return Ek * Ec2 - E_kr2 / 4 - E_kr2 / h**2 + Ek * d / h**2 - E_kr2 / h**4


def test_diffusion_checks_reject_wrong_answers():
    with pytest.raises(AssertionError, match="means multiply"):
        dmx.check_marginal(lambda t, b: (np.prod(1 - np.asarray(b)[:t]), 1 - np.prod(1 - np.asarray(b)[:t])))
    with pytest.raises(AssertionError, match="precisions"):
        dmx.check_posterior_variance(lambda t, b: b[t - 1])                     # the forward variance
    with pytest.raises(AssertionError, match="nats to bits"):
        dmx.check_null_bound(lambda d: -0.5 * d * np.log(2 * np.pi * np.e))     # nats
    with pytest.raises(AssertionError, match="quadratic form"):
        dmx.check_gaussian_kl(lambda m1, v1, m2, v2: 0.5 * np.sum((m1 - m2) ** 2) / v2)  # means only
    with pytest.raises(AssertionError, match="tilted"):
        dmx.check_ksd_gaussian(lambda m, v, h, d: np.sum(m**2) + d * (v - 1) ** 2)       # no kernel


def test_ksd_gaussian_closed_form_agrees_with_the_library_estimate():
    # The exercise's closed form, against the library's U-statistic on many samples.
    rng = np.random.default_rng(0)
    m, v, h = np.array([0.4, 0.0]), 1.5, 1.0
    est = np.mean([diffusion.kernel_stein_discrepancy(m + np.sqrt(v) * rng.standard_normal((1500, 2)),
                                                      lambda z: -z, h) for _ in range(4)])
    # Spread of the mean of four estimates at n = 1500: about 0.005.
    assert est == pytest.approx(ksd_gaussian_by_quadrature(m, v, h, 2), abs=0.02)


# --- Retina CNNs -------------------------------------------------------------------

from statmech_dl import retina  # noqa: E402
from statmech_dl.exercises import retina_cnns as rcx  # noqa: E402


def test_retina_checks_accept_right_answers(capsys):
    rcx.check_spearman_brown(lambda rho, n: n * rho / (1 + (n - 1) * rho))
    rcx.check_feve(retina.explainable_variance_explained)
    rcx.check_linear_drive(lambda s, k: np.array([np.sum(s[j:j + len(k)] * k) for j in range(len(s) - len(k) + 1)]))
    rcx.check_binomial_fano(lambda m, var, n: 1 - (var + m ** 2) / m + n * var / m)
    rcx.check_loss_curvature(retina_loss_curvature)
    assert capsys.readouterr().out.count("Correct") == 5


def retina_loss_curvature(z, n):
    # A right answer written another way: sigma (1 - sigma)(1 - n / sp) + n (sigma / sp)^2.
    sp, sigma = np.logaddexp(0, z), 1 / (1 + np.exp(-z))
    return sigma * (1 - sigma) * (1 - n / sp) + n * (sigma / sp) ** 2


def test_retina_curvature_is_non_negative_so_the_ln_fit_is_convex():
    z = np.linspace(-30, 30, 601)
    for n in (0, 1, 2, 5, 20):
        sp, sigma = np.logaddexp(0, z), 1 / (1 + np.exp(-z))
        assert np.all(sigma * (1 - sigma) - n * (sigma * (1 - sigma) / sp - sigma ** 2 / sp ** 2) >= -1e-15)


def test_retina_checks_reject_wrong_answers():
    with pytest.raises(AssertionError, match="eliminate"):
        rcx.check_spearman_brown(lambda rho, n: n * rho)                                   # no saturation
    with pytest.raises(AssertionError, match="noise variance"):
        rcx.check_feve(retina.variance_explained)                                          # plain FEV
    with pytest.raises(AssertionError, match="oldest"):
        rcx.check_linear_drive(lambda s, k: np.array([np.sum(s[j:j + len(k)] * k[::-1])   # causal order
                                                      for j in range(len(s) - len(k) + 1)]))
    with pytest.raises(AssertionError, match="law of total|E\\[p\\^2\\]"):
        rcx.check_binomial_fano(lambda m, var, n: 1 - m + n * var / m)                     # forgets var in E[p^2]
    with pytest.raises(AssertionError, match="quotient rule"):
        rcx.check_loss_curvature(lambda z, n: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z))))  # n dropped
