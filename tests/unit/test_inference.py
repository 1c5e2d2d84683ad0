"""High-dimensional inference: the replica-symmetric theory against closed forms, exact finite-size results and solvers."""

import numpy as np
import pytest
from scipy import integrate

from statmech_dl import inference as inf


def trials(estimate, alpha, n_params, n_trials, rng, **kw):
    """Mean and standard error of q = |s_hat - s0|^2 / P over independent instances."""
    errors = []
    for _ in range(n_trials):
        X, y, s0 = inf.measurements(n_params, alpha, rng=rng, **kw)
        errors.append(np.mean((estimate(X, y) - s0) ** 2))
    errors = np.array(errors)
    return errors.mean(), errors.std(ddof=1) / np.sqrt(n_trials)


# --- closed forms ----------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.3, 0.6, 1.5, 2.0, 4.0])
def test_least_squares_against_exact_finite_size_means(alpha):
    """E tr (Z^T Z)^{-1} = P / (N - P - 1) for Gaussian Z: the simulated mean must match it within 4 standard errors."""
    P, noise_var, rng = 100, 0.5, np.random.default_rng(int(10 * alpha))
    N = int(round(alpha * P))
    mean, se = trials(lambda X, y: np.linalg.pinv(X) @ y, alpha, P, 200, rng, noise_var=noise_var)
    exact = (noise_var * P / (N - P - 1) if N > P
             else (1 - N / P) * 1.0 + noise_var * N / (P - N - 1))
    assert abs(mean - exact) < 4 * se
    # ... and the finite-size mean approaches the limit as 1/P.
    assert inf.least_squares_error(alpha, noise_var) == pytest.approx(exact, rel=6 / P / abs(alpha - 1))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("gamma", [0.1, 0.5, 2.0])
def test_ridge_closed_form_is_the_fixed_point(alpha, gamma):
    fp = inf.replica_fixed_point(alpha, "squared", ("ridge", gamma), "gaussian", 0.3, "gaussian")
    assert fp.error == pytest.approx(inf.ridge_error(alpha, 0.3, gamma), rel=1e-7)
    assert fp.channel_var == pytest.approx((0.3 + fp.error) / alpha, rel=1e-7)   # q_d = (sigma^2 + q)/alpha


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_ridge_against_direct_solves(alpha):
    rng, gamma, noise_var = np.random.default_rng(1), 0.5, 0.5

    def ridge(X, y):
        return np.linalg.solve(X.T @ X + gamma * np.eye(X.shape[1]), X.T @ y)

    mean, se = trials(ridge, alpha, 200, 40, rng, noise_var=noise_var)
    assert abs(mean - inf.ridge_error(alpha, noise_var, gamma)) < max(3 * se, 0.05 * mean)


def test_least_squares_from_the_general_fixed_point():
    for alpha in (1.5, 3.0):
        assert inf.replica_fixed_point(alpha, noise_var=0.7).error == pytest.approx(0.7 / (alpha - 1), rel=1e-7)


# --- unregularised M-estimation -------------------------------------------------------

def el_karoui_residuals(alpha, loss, noise_var, q, c, huber_k=1.0):
    """El Karoui's two equations, by independent adaptive quadrature (Laplace noise): both vanish at the solution."""
    b = np.sqrt(noise_var / 2)

    def density(x):
        s = np.sqrt(q)
        return float(np.exp(inf._laplace_gauss_logpdf(np.array([x]), b, q))[0]) if s > 0 else 0.0

    def prox(x):
        if loss == "absolute":
            return np.sign(x) * max(abs(x) - c, 0.0), float(abs(x) > c)
        if abs(x) <= huber_k * (1 + c):
            return x / (1 + c), 1 / (1 + c)
        return x - c * huber_k * np.sign(x), 1.0

    lim = 30 * np.sqrt(noise_var + q)
    pts = [-huber_k * (1 + c), -c, c, huber_k * (1 + c)]
    e_deriv = integrate.quad(lambda x: prox(x)[1] * density(x), -lim, lim, points=pts, limit=200)[0]
    e_sq = integrate.quad(lambda x: (x - prox(x)[0]) ** 2 * density(x), -lim, lim, points=pts, limit=200)[0]
    return e_deriv - (1 - 1 / alpha), e_sq - q / alpha


@pytest.mark.parametrize("loss", ["absolute", "huber"])
@pytest.mark.parametrize("alpha", [2.0, 5.0])
def test_m_estimation_solves_el_karoui_system(loss, alpha):
    fp = inf.replica_fixed_point(alpha, loss, None, "laplace", 1.0, huber_k=1.0)
    r1, r2 = el_karoui_residuals(alpha, loss, 1.0, fp.error, fp.lam_loss)
    assert abs(r1) < 1e-4 and abs(r2) < 1e-4 * fp.error
    assert fp.channel_var == pytest.approx(fp.error)                  # no regulariser: q_d = q


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [2.0, 4.0])
def test_huber_against_irls(alpha):
    mean, se = trials(lambda X, y: inf.huber_regression(X, y, 1.0), alpha, 200, 30, np.random.default_rng(2),
                      noise="laplace", noise_var=1.0)
    theory = inf.m_estimation_error(alpha, "huber", "laplace", huber_k=1.0)
    assert abs(mean - theory) < max(3 * se, 0.05 * theory)


def test_huber_regression_is_optimal():
    X, y, _ = inf.measurements(50, 3.0, noise="laplace", rng=0)
    s = inf.huber_regression(X, y, 0.8)
    grad = X.T @ np.clip(y - X @ s, -0.8, 0.8)
    assert np.max(np.abs(grad)) < 1e-9


def test_laplace_noise_ordering_and_the_cramer_rao_bound():
    alphas = np.array([1.5, 2.0, 3.0, 5.0, 10.0])
    ls = inf.m_estimation_error(alphas, "squared", "laplace")
    lad = inf.m_estimation_error(alphas, "absolute", "laplace")
    hub = inf.m_estimation_error(alphas, "huber", "laplace")
    opt = inf.m_estimation_error(alphas, "optimal", "laplace")
    assert np.allclose(ls, 1 / (alphas - 1), rtol=1e-6)
    assert np.all(opt < np.minimum(np.minimum(ls, lad), hub))
    assert lad[0] > ls[0] and lad[-1] < ls[-1]          # least squares first, LAD at high density
    # The bound holds with equality for the optimum.
    J = np.array([inf.fisher_information(q, "laplace", 1.0) for q in opt])
    assert np.allclose(opt * alphas * J, 1.0, rtol=1e-8)
    # Gaussian noise: least squares is already optimal.
    assert inf.m_estimation_error(3.0, "optimal", "gaussian", 0.5) == pytest.approx(0.25, rel=1e-8)


def test_fisher_information_by_quadrature():
    b, q = np.sqrt(0.5), 0.4
    p = lambda x: np.exp(inf._laplace_gauss_logpdf(np.array([x]), b, q))[0]  # noqa: E731
    h = 1e-5
    dp = lambda x: (p(x + h) - p(x - h)) / (2 * h)  # noqa: E731
    J = integrate.quad(lambda x: dp(x) ** 2 / p(x), -25, 25, limit=200)[0]
    assert inf.fisher_information(q, "laplace", 1.0) == pytest.approx(J, rel=1e-5)
    assert inf.fisher_information(0.0, "laplace", 1.0) == 2.0


def test_optimal_loss_is_convex_and_its_moreau_envelope_is_the_smoothed_nll():
    rho, q = inf.optimal_loss(3.0, "laplace", 1.0)
    r = np.linspace(-6, 6, 2001)
    val, d1, d2 = rho(r)
    assert np.all(d2 >= 0) and np.all(np.diff(d1) > -1e-9) and d2[1000] > 0.1
    assert np.allclose(np.gradient(val, r), d1, atol=2e-3)
    # M_q[rho](x) = min_y rho(y) + (x - y)^2 / (2q) equals -log p_q(x) up to a constant.
    x = np.linspace(-3, 3, 13)
    env = np.array([np.min(val + (xi - r) ** 2 / (2 * q)) for xi in x])
    nll = -inf._laplace_gauss_logpdf(x, np.sqrt(0.5), q)
    assert np.allclose(env - env[6], nll - nll[6], atol=1e-4)


@pytest.mark.slow
def test_optimal_m_estimator_against_simulation():
    alpha = 3.0
    mean, se = trials(lambda X, y: inf.optimal_m_estimate(X, y, "laplace", 1.0), alpha, 200, 30,
                      np.random.default_rng(3), noise="laplace", noise_var=1.0)
    theory = inf.m_estimation_error(alpha, "optimal", "laplace")
    assert abs(mean - theory) < max(3 * se, 0.05 * theory)


# --- regularised estimators --------------------------------------------------------

@pytest.mark.parametrize("prior", ["laplace", ("bernoulli_gauss", 0.3)])
def test_posterior_mean_by_quadrature_and_tweedie(prior):
    delta = 0.4

    def prior_pdf(s):
        if prior == "laplace":
            return np.exp(-np.sqrt(2) * abs(s)) / np.sqrt(2)
        return 0.3 * np.exp(-s * s / 2) / np.sqrt(2 * np.pi)

    for v_obs in (-2.0, -0.3, 0.0, 0.7, 3.0):
        like = lambda s: np.exp(-(v_obs - s) ** 2 / (2 * delta))  # noqa: E731
        num = integrate.quad(lambda s: s * prior_pdf(s) * like(s), -20, 20, points=[0.0], limit=200)[0]
        den = integrate.quad(lambda s: prior_pdf(s) * like(s), -20, 20, points=[0.0], limit=200)[0]
        if prior != "laplace":
            den += 0.7 * like(0.0)                      # the atom at zero
        assert inf.posterior_mean(v_obs, delta, prior) == pytest.approx(num / den, abs=1e-8)
        assert inf.optimal_regularizer_prox(v_obs, delta, prior) == pytest.approx(num / den, abs=1e-6)


def test_mmse_by_monte_carlo():
    rng = np.random.default_rng(4)
    s = rng.laplace(0, np.sqrt(0.5), 400_000)
    v_obs = s + np.sqrt(0.3) * rng.standard_normal(s.size)
    err = (inf.posterior_mean(v_obs, 0.3, "laplace") - s) ** 2
    assert abs(err.mean() - inf.mmse(0.3, "laplace")) < 4 * err.std() / np.sqrt(s.size)


def test_regularized_estimators_order():
    alphas = np.array([0.1, 0.5, 1.0, 2.0, 5.0, 20.0])
    opt = inf.regularized_error(alphas, 0.5, "laplace", "optimal")
    mapq = inf.regularized_error(alphas, 0.5, "laplace", "map")
    ridge = inf.regularized_error(alphas, 0.5, "laplace", "ridge")
    assert np.all(opt <= mapq * (1 + 1e-9)) and np.all(opt <= ridge * (1 + 1e-9))
    # Ridge is nearly optimal at low density, MAP at high density.
    assert ridge[0] / opt[0] - 1 < 0.01 and mapq[-1] / opt[-1] - 1 < 0.01
    assert mapq[0] / opt[0] - 1 > 0.1
    # For a Gaussian prior all three coincide.
    g = [inf.regularized_error(1.0, 0.5, "gaussian", e) for e in ("optimal", "map", "ridge")]
    assert np.allclose(g, g[0], rtol=1e-8)


# --- the LASSO, AMP and the l1 transition ----------------------------------------------

@pytest.mark.parametrize("alpha", [0.3, 1.0, 4.0])
def test_optimal_regularizer_prox_is_the_posterior_mean(alpha):
    """The smoothed MAP penalty's proximal map at lambda_sigma = q_d / sigma^2 is E[s | v] (Tweedie)."""
    noise_var = 0.7
    penalty, q, q_d = inf.optimal_regularizer(alpha, noise_var, "laplace")
    assert q == pytest.approx(inf.regularized_error(alpha, noise_var, "laplace", "optimal"), rel=1e-12)
    assert q_d == pytest.approx((noise_var + q) / alpha, rel=1e-12)
    s = np.linspace(-8, 8, 4001)
    val, d1, d2 = penalty(s)
    assert np.all(d2 >= 0) and np.all(np.diff(d1) > -1e-9)              # convex
    assert np.allclose(np.gradient(val, s), d1, atol=2e-3)
    lam = q_d / noise_var
    for v_obs in (-3.0, -0.4, 0.1, 1.2, 2.5):
        prox = s[np.argmin(val + (v_obs - s) ** 2 / (2 * lam))]            # brute force on the grid
        assert prox == pytest.approx(inf.posterior_mean(v_obs, q_d, "laplace"), abs=5e-3)


def test_optimal_regularizer_limits_are_ridge_and_map():
    """Large q_d (low alpha): nearly quadratic; small q_d (high alpha): nearly sigma^2 sqrt(2) |s|."""
    noise_var = 1.0
    # At alpha = 0.02 the estimates are shrunk to |s| < 0.3: there the penalty is the best ridge's,
    # sigma'(s) = sigma^2 s, within 3%.
    s = np.array([0.02, 0.05, 0.1, 0.2])
    low, _, qd_low = inf.optimal_regularizer(0.02, noise_var)
    assert qd_low > 50 and np.allclose(low(s)[1] / s, noise_var, rtol=0.03)
    high, _, qd_high = inf.optimal_regularizer(200.0, noise_var)
    assert qd_high < 0.01
    s = np.array([1.0, 2.0, 3.0])
    assert np.allclose(high(s)[1], noise_var * np.sqrt(2), rtol=0.02)   # the Laplace MAP slope
    with pytest.raises(ValueError, match="log-concave"):
        inf.optimal_regularizer(1.0, 1.0, ("bernoulli_gauss", 0.1))


def test_optimal_regularized_estimate_reaches_the_minimum():
    """Against an independent solver (L-BFGS) on the same strictly convex objective."""
    from scipy import optimize
    rng = np.random.default_rng(11)
    X, y, _ = inf.measurements(60, 0.8, noise_var=0.5, prior="laplace", rng=rng)
    s_hat = inf.optimal_regularized_estimate(X, y, 0.5)
    penalty = inf.optimal_regularizer(X.shape[0] / X.shape[1], 0.5)[0]

    def objective(t):
        r = y - X @ t
        val, d1, _ = penalty(t)
        return 0.5 * r @ r + val.sum(), -X.T @ r + d1
    ref = optimize.minimize(objective, np.zeros(60), jac=True, method="L-BFGS-B",
                            options=dict(gtol=1e-12, ftol=1e-15, maxiter=5000)).x
    # Both end within the precision of the tabulated penalty (its value and slope are interpolated).
    assert objective(s_hat)[0] <= objective(ref)[0] * (1 + 1e-8)
    assert np.allclose(s_hat, ref, atol=1e-4)


@pytest.mark.slow
def test_optimal_regularized_estimate_attains_the_bayes_error():
    for alpha in (0.5, 2.0):
        mean, se = trials(lambda X, y: inf.optimal_regularized_estimate(X, y, 1.0), alpha, 300, 20,
                          np.random.default_rng(12), noise_var=1.0, prior="laplace")
        theory = inf.regularized_error(alpha, 1.0, "laplace", "optimal")
        assert abs(mean - theory) < 3 * se + 0.02 * theory      # 3 s.e. plus an O(1/P) allowance


def test_lasso_satisfies_the_optimality_conditions():
    rng = np.random.default_rng(21)
    X, y, _ = inf.measurements(300, 0.5, noise_var=0.01, prior=("bernoulli_gauss", 0.1), rng=rng)
    lam = 0.1
    s_hat = inf.lasso(X, y, lam)
    grad = X.T @ (y - X @ s_hat)
    active = s_hat != 0
    assert 0 < active.sum() < 150
    assert np.max(np.abs(grad[active] - lam * np.sign(s_hat[active]))) < 1e-10
    assert np.max(np.abs(grad[~active])) <= lam + 1e-10
    with pytest.raises(ValueError, match="^lam"):
        inf.lasso(X, y, 0.0)


def test_amp_lasso_solves_the_lasso():
    X, y, s0 = inf.measurements(400, 0.5, noise_var=0.01, prior=("bernoulli_gauss", 0.1), rng=5)
    lam = 0.1
    s = inf.amp_lasso(X, y, lam, n_iter=60).estimate
    g = X.T @ (y - X @ s)
    active = s != 0
    assert np.max(np.abs(g[active] - lam * np.sign(s[active]))) < 1e-6
    assert np.max(np.abs(g[~active])) <= lam * (1 + 1e-6)
    ista = inf.amp_lasso(X, y, lam, n_iter=3000, onsager=False).estimate
    assert np.linalg.norm(ista - s) < 1e-4 * np.linalg.norm(s)


@pytest.mark.slow
def test_amp_lasso_follows_state_evolution():
    alpha, lam, noise_var, prior = 0.5, 0.1, 0.01, ("bernoulli_gauss", 0.1)
    fp = inf.lasso_state_evolution(alpha, lam, noise_var, prior)
    theta = lam * fp.lam_reg
    se = inf.amp_state_evolution(alpha, noise_var, prior, 15, threshold=theta)
    assert se[-1] == pytest.approx(fp.error, rel=1e-4)
    rng = np.random.default_rng(6)
    curves = []
    for _ in range(30):
        X, y, s0 = inf.measurements(1000, alpha, noise_var=noise_var, prior=prior, rng=rng)
        hist = inf.amp_lasso(X, y, lam, n_iter=15, threshold=theta).history
        curves.append(np.mean((hist - s0) ** 2, axis=1))
    curves = np.array(curves)
    mean, se_err = curves.mean(axis=0), curves.std(axis=0, ddof=1) / np.sqrt(len(curves))
    assert np.all(np.abs(mean - se) < np.maximum(3 * se_err, 0.05 * se))


@pytest.mark.slow
def test_bayes_amp_reaches_the_mmse():
    alpha, noise_var = 1.0, 0.5
    se = inf.amp_state_evolution(alpha, noise_var, "laplace", 15)
    assert se[-1] == pytest.approx(inf.regularized_error(alpha, noise_var, "laplace", "optimal"), rel=1e-4)
    rng = np.random.default_rng(7)
    errors = []
    for _ in range(20):
        X, y, s0 = inf.measurements(1000, alpha, noise_var=noise_var, prior="laplace", rng=rng)
        errors.append(np.mean((inf.amp_bayes(X, y, "laplace", 15).estimate - s0) ** 2))
    assert abs(np.mean(errors) - se[-1]) < max(3 * np.std(errors) / np.sqrt(20), 0.05 * se[-1])


def test_donoho_tanner():
    # The published value at delta = 0.5 for signed signals (Donoho & Tanner 2009): 0.385.
    assert inf.donoho_tanner(0.5) == pytest.approx(0.385, abs=2e-3)
    d = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    rho = inf.donoho_tanner(d)
    assert np.all(np.diff(rho) > 0) and np.all(rho < inf.donoho_tanner(d, signed=False))


def test_l1_recovery_succeeds_below_and_fails_above_the_transition():
    rng = np.random.default_rng(8)
    P, N = 100, 50

    def success(k):
        X = rng.standard_normal((N, P)) / np.sqrt(P)
        s0 = np.zeros(P)
        s0[rng.choice(P, k, replace=False)] = rng.standard_normal(k)
        return np.linalg.norm(inf.l1_recovery(X, X @ s0) - s0) < 1e-5 * np.linalg.norm(s0)

    assert all(success(5) for _ in range(5))            # rho = 0.1, far below 0.385
    assert not any(success(35) for _ in range(5))        # rho = 0.7, far above


def test_inference_bad_arguments():
    with pytest.raises(ValueError, match="^alpha must"):
        inf.least_squares_error(0.0, 1.0)
    with pytest.raises(ValueError, match="^alpha must differ"):
        inf.least_squares_error(1.0, 1.0)
    with pytest.raises(ValueError, match="^noise_var must"):
        inf.ridge_error(2.0, -1.0, 0.5)
    with pytest.raises(ValueError, match="^alpha must"):
        inf.m_estimation_error(0.8, "squared", "gaussian")
    with pytest.raises(ValueError, match="^loss must"):
        inf.m_estimation_error(2.0, "cauchy", "gaussian")
    with pytest.raises(ValueError, match="^noise must"):
        inf.m_estimation_error(2.0, "squared", "student")
    with pytest.raises(ValueError, match="^prior must"):
        inf.regularized_error(2.0, 0.5, "uniform")
    with pytest.raises(ValueError, match="^estimator must"):
        inf.regularized_error(2.0, 0.5, "laplace", "lasso")
    with pytest.raises(ValueError, match="^regularizer must"):
        inf.replica_fixed_point(2.0, regularizer=("elastic", 1.0))
    with pytest.raises(ValueError, match="^y must have shape"):
        inf.amp_lasso(np.ones((5, 10)), np.ones(4), 0.1)
    with pytest.raises(ValueError, match="^delta must"):
        inf.donoho_tanner(1.5)
    with pytest.raises(ValueError, match="^lam must"):
        inf.lasso_state_evolution(0.5, 0.0, 0.1)
