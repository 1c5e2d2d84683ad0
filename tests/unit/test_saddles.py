"""Loss landscapes: the exact Hessian of deep linear networks against finite differences and theory."""

import numpy as np
import pytest

from statmech_dl import init, saddles
from statmech_dl import linear_dynamics as ld


def balanced_solution(s, n_layers, n, rng):
    """Balanced weights whose product is U diag(s) V^T, layers joined by random rotations."""
    U, V = init.orthogonal(n, rng=rng), init.orthogonal(n, rng=rng)
    return ld.decoupled_initial_weights(U, V.T, s, n_hidden=n, rng=rng, n_layers=n_layers), U, V


@pytest.mark.parametrize("n_layers", [2, 3, 5, 8])
def test_hessian_top_eigenvalue_at_balanced_solution(n_layers):
    s = np.array([2.0, 1.3, 0.7])
    Ws, _, _ = balanced_solution(s, n_layers, 3, np.random.default_rng(n_layers))
    H = saddles.gauss_newton_hessian(Ws)
    top = np.linalg.eigvalsh(H)[-1]
    assert top == pytest.approx(saddles.hessian_top_eigenvalue(s.max(), n_layers), rel=1e-9)


def test_gauss_newton_hessian_matches_finite_differences_at_a_solution():
    rng = np.random.default_rng(0)
    Ws, U, V = balanced_solution([1.5, 0.8], 4, 2, rng)
    target = Ws[2] @ Ws[1] @ Ws[0]
    sigma11 = np.array([[1.0, 0.3], [0.3, 0.5]])
    shapes = [W.shape for W in Ws]
    theta0 = np.concatenate([W.ravel() for W in Ws])

    def loss(theta):
        mats, k = [], 0
        for shp in shapes:
            mats.append(theta[k:k + shp[0] * shp[1]].reshape(shp))
            k += shp[0] * shp[1]
        D = mats[2] @ mats[1] @ mats[0] - target
        return 0.5 * np.trace(D @ sigma11 @ D.T)

    h, n = 1e-4, theta0.size
    H_fd = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            H_fd[i, j] = (loss(theta0 + e_i + e_j) - loss(theta0 + e_i - e_j)
                          - loss(theta0 - e_i + e_j) + loss(theta0 - e_i - e_j)) / (4 * h * h)
    assert np.allclose(saddles.gauss_newton_hessian(Ws, sigma11), H_fd, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="^n_layers must"):
        saddles.hessian_top_eigenvalue(1.0, 1)
    with pytest.raises(ValueError, match="^weights"):
        saddles.gauss_newton_hessian([])


# --- the index, and the p-spin theory -------------------------------------------------

from scipy import integrate, stats  # noqa: E402


def test_block_eigvalsh_matches_the_whole_matrix():
    rng = np.random.default_rng(5)
    blocks = [rng.standard_normal((m, m)) for m in (1, 2, 2, 3, 5, 2)]
    H = np.zeros((15, 15))
    k = 0
    for B in blocks:
        H[k:k + len(B), k:k + len(B)] = B + B.T
        k += len(B)
    perm = rng.permutation(15)
    H = H[np.ix_(perm, perm)]                     # blocks scattered over the indices
    assert np.allclose(saddles.block_eigvalsh(H), np.linalg.eigvalsh(H), atol=1e-12)
    dense = rng.standard_normal((6, 6))
    assert np.allclose(saddles.block_eigvalsh(dense + dense.T), np.linalg.eigvalsh(dense + dense.T), atol=1e-12)
    with pytest.raises(ValueError, match="^H must be a symmetric"):
        saddles.block_eigvalsh(dense)


def test_hessian_index_counts_with_a_tolerance():
    assert saddles.hessian_index([-2.0, -1e-12, 0.0, 3e-13, 1.0, 4.0]) == (1, 3, 2)
    assert saddles.hessian_index([-2.0, -1e-3, 1.0], rtol=1e-2) == (1, 1, 1)


@pytest.mark.parametrize("x", [-1.5, -1.0, -0.6, 0.0, 0.3, 0.95, 1.0, 2.0])
def test_semicircle_cdf_integrates_the_density(x):
    density = lambda t: 2 / np.pi * np.sqrt(max(1 - t * t, 0.0))  # noqa: E731
    expected = integrate.quad(density, -1, min(max(x, -1), 1))[0]
    assert saddles.semicircle_cdf(x) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("p", [2, 3, 4])
def test_pspin_index_against_shifted_goe(p):
    """Large GOE matrices scaled to radius 2 sqrt(p(p-1)), shifted by -pu: the fraction of negative eigenvalues."""
    rng, m = np.random.default_rng(p), 800
    A = rng.standard_normal((m, m))
    goe = (A + A.T) / np.sqrt(2 * m) * np.sqrt(p * (p - 1))
    ev = np.linalg.eigvalsh(goe)
    for u in [-1.5, -1.0, -0.4, 0.0, 0.7]:
        measured = np.mean(ev - p * u < 0)
        # The number of eigenvalues in an interval fluctuates by O(sqrt(log m)), so 3/m is generous.
        assert measured == pytest.approx(saddles.pspin_index(u, p), abs=3 / m + 2e-3)
    assert saddles.pspin_index(-saddles.pspin_threshold(p), p) == 0
    assert saddles.pspin_index(0.0, p) == pytest.approx(0.5)


def test_pspin_ground_energy_and_the_layers_of_the_band():
    # Known values of the spherical 3-spin ground state (Crisanti & Sommers; Auffinger, Ben Arous & Cerny).
    assert saddles.pspin_ground_energy(3) == pytest.approx(1.6570, abs=5e-4)
    for p in (3, 4, 6):
        e0, e_inf = saddles.pspin_ground_energy(p), saddles.pspin_threshold(p)
        assert e0 == saddles.pspin_index_edge(0, p)
        edges = [saddles.pspin_index_edge(k, p) for k in range(4)]
        # Minima reach deepest, then saddles of index 1, 2, ...: E_0 > E_1 > E_2 > E_3 > E_inf.
        assert all(a > b for a, b in zip(edges, edges[1:])) and edges[-1] > e_inf
        for k, e in enumerate(edges):
            assert saddles.pspin_complexity(-e, p, index=k) == pytest.approx(0.0, abs=1e-10)
            assert saddles.pspin_complexity(-e_inf, p, index=k) > 0
            assert saddles.pspin_complexity(-e - 0.01, p, index=k) < 0


@pytest.mark.parametrize("p", [3, 4])
def test_pspin_complexity_in_the_bulk_is_the_log_potential_of_the_semicircle(p):
    """For |u| <= E_inf: Sigma = (1 - log p)/2 - u^2/2 + int log|x - pu| d(semicircle of radius 2 sqrt(p(p-1)))."""
    radius = 2 * np.sqrt(p * (p - 1))
    for u in (-1.2, -0.5, 0.0, 0.9):
        def integrand(t):
            return np.log(abs(radius * t - p * u)) * 2 / np.pi * np.sqrt(1 - t * t)
        pole = p * u / radius
        log_potential = integrate.quad(integrand, -1, 1, points=[pole], limit=200)[0]
        expected = 0.5 * (1 - np.log(p)) - 0.5 * u * u + log_potential
        assert saddles.pspin_complexity(u, p) == pytest.approx(expected, abs=1e-7)
    # Symmetric under H -> -H, continuous at the threshold, and flat at u = 0 at (1/2) log(p - 1).
    e_inf = saddles.pspin_threshold(p)
    assert saddles.pspin_complexity(0.0, p) == pytest.approx(0.5 * np.log(p - 1))
    assert saddles.pspin_complexity(-1.7, p) == pytest.approx(saddles.pspin_complexity(1.7, p))
    assert saddles.pspin_complexity(-e_inf - 1e-9, p) == pytest.approx(saddles.pspin_complexity(-e_inf + 1e-9, p))
    assert saddles.pspin_complexity(-e_inf + 0.1, p, index=0) == -np.inf


def test_kac_rice_density_counts_the_2n_critical_points_of_p2():
    """For p = 2 the critical points are the +-eigenvectors of J: exactly 2n, two of each index."""
    n = 6
    u = np.linspace(-4, 4, 801)
    rho, err = saddles.pspin_kac_rice_density(u, n, 2, n_samples=20000, rng=1)
    total, total_err = integrate.trapezoid(rho, u), integrate.trapezoid(err, u)
    # The Monte-Carlo errors of nearby u are correlated (the same matrices), so the integrated
    # error bounds the integral's error; four of them.
    assert total == pytest.approx(2 * n, abs=4 * total_err)
    assert total_err < 0.02 * 2 * n
    for k in (0, 3, 5):
        rho_k, err_k = saddles.pspin_kac_rice_density(u, n, 2, index=k, n_samples=20000, rng=1)
        assert integrate.trapezoid(rho_k, u) == pytest.approx(2, abs=4 * integrate.trapezoid(err_k, u))


def test_kac_rice_density_approaches_the_complexity():
    """(1/n) log rho_n(u) - Sigma(u) is a prefactor, O(log n / n): it shrinks as n grows."""
    gaps = {n: np.log(saddles.pspin_kac_rice_density(0.0, n, 3, n_samples=600, rng=0)[0]) / n
            - saddles.pspin_complexity(0.0, 3) for n in (20, 80)}
    assert 0 < gaps[80] < 0.5 * gaps[20]


def test_pspin_census_finds_every_critical_point_of_p2():
    n = 7
    J = saddles.pspin_couplings(n, 2, np.random.default_rng(3))
    energy, index, first = saddles.pspin_census(J, 400, rng=0)
    assert energy == pytest.approx(np.repeat(np.linalg.eigvalsh(J), 2), abs=1e-9)
    assert list(index) == list(np.repeat(np.arange(n), 2))
    assert first.min() >= 0 and first.max() < 400


@pytest.mark.slow
def test_pspin_census_against_kac_rice():
    """The mean census of small 3-spin landscapes against the Kac-Rice expectation (three standard errors)."""
    n, landscapes = 8, 24
    counts, minima = [], []
    for seed in range(landscapes):
        J = saddles.pspin_couplings(n, 3, np.random.default_rng([80, seed]))
        energy, index, first = saddles.pspin_census(J, 2000, np.random.default_rng([81, seed]))
        assert np.mean(first >= 1000) < 0.05        # saturated: the second thousand starts add little
        counts.append(energy.size)
        minima.append(np.sum(index == 0))
    u = np.linspace(-2.4, 2.4, 241)
    expected = integrate.trapezoid(saddles.pspin_kac_rice_density(u, n, 3, n_samples=20000, rng=0)[0], u)
    expected_min = integrate.trapezoid(saddles.pspin_kac_rice_density(u, n, 3, index=0, n_samples=20000, rng=0)[0], u)
    for found, exp in ((counts, expected), (minima, expected_min)):
        se = np.std(found, ddof=1) / np.sqrt(landscapes)
        assert abs(np.mean(found) - exp) < 3 * se + 0.01 * exp


def test_pspin_couplings_have_the_stated_covariance():
    """E[H(s)H(s')] = n (s.s'/n)^p, over independent draws of the couplings (four standard errors)."""
    n, p, draws = 6, 3, 4000
    rng = np.random.default_rng(0)
    s1 = np.sqrt(n) * np.eye(n)[0]
    s2 = np.sqrt(n) * (0.6 * np.eye(n)[0] + 0.8 * np.eye(n)[1])
    samples = []
    for _ in range(draws):
        J = saddles.pspin_couplings(n, p, rng)
        samples.append((n * saddles.pspin_energy(s1, J), n * saddles.pspin_energy(s2, J)))
    h1, h2 = np.array(samples).T
    for est, target in [(h1 * h1, n), (h1 * h2, n * 0.6**p)]:
        assert abs(est.mean() - target) < 4 * est.std() / np.sqrt(draws)


def test_pspin_riemannian_matches_finite_differences_along_geodesics():
    n, p = 7, 3
    rng = np.random.default_rng(2)
    J = saddles.pspin_couplings(n, p, rng)
    s = rng.standard_normal(n)
    s *= np.sqrt(n) / np.linalg.norm(s)
    u, g, H, Q = saddles.pspin_riemannian(s, J)
    assert np.allclose(Q.T @ Q, np.eye(n - 1)) and np.allclose(Q.T @ s, 0)
    R = np.sqrt(n)

    def along(q, t):
        # The unit-speed great circle through s with tangent q.
        return n * saddles.pspin_energy(np.cos(t / R) * s + R * np.sin(t / R) * q, J)

    h = 1e-4
    for i in range(n - 1):
        q = Q[:, i]
        assert (along(q, h) - along(q, -h)) / (2 * h) == pytest.approx(g[i], rel=1e-6, abs=1e-8)
        second = (along(q, h) - 2 * along(q, 0) + along(q, -h)) / h**2
        assert second == pytest.approx(H[i, i], rel=1e-4, abs=1e-5)
    assert u == pytest.approx(along(Q[:, 0], 0) / n)


@pytest.mark.slow
def test_pspin_critical_points_follow_the_index_law():
    n, p = 30, 3
    rng = np.random.default_rng(5)
    J = saddles.pspin_couplings(n, p, rng)
    energy, index, sigma = saddles.pspin_critical_points(J, 8, rng, return_sigma=True)
    assert len(energy) > 30 and np.all(np.diff(energy) >= 0)
    for s in sigma:
        assert np.linalg.norm(saddles.pspin_riemannian(s, J)[1]) < 1e-8 * np.sqrt(n)
    assert stats.spearmanr(energy, index)[0] > 0.95
    # A GOE of size 29 puts the index off the large-n law by about 0.015 on average (one eigenvalue is 0.034).
    assert np.mean(np.abs(index - saddles.pspin_index(energy, p))) < 0.03
    # Minima only below -E_inf + finite-size slack, never below the ground state.
    assert energy.min() > -saddles.pspin_ground_energy(p) - 0.1
    random_energy, random_index = saddles.pspin_critical_points(J, 30, rng, levels=())
    assert abs(np.mean(random_index) - 0.5) < 0.05 and abs(np.mean(random_energy)) < 0.15


# --- the linear autoencoder ---------------------------------------------------------

def autoencoder_loss(A, B, sigma):
    R = np.eye(sigma.shape[0]) - B @ A
    return 0.5 * np.trace(R @ sigma @ R.T)


def test_linear_autoencoder_hessian_matches_finite_differences():
    rng = np.random.default_rng(3)
    n, k = 5, 2
    M = rng.standard_normal((n, n))
    sigma = M @ M.T / n
    A, B = rng.standard_normal((k, n)), rng.standard_normal((n, k))
    theta = np.concatenate([A.ravel(), B.ravel()])
    f = lambda t: autoencoder_loss(t[:k * n].reshape(k, n), t[k * n:].reshape(n, k), sigma)  # noqa: E731
    H = saddles.linear_autoencoder_hessian(A, B, sigma)
    h, d = 1e-4, theta.size
    E = np.eye(d) * h
    H_fd = np.array([[(f(theta + E[i] + E[j]) - f(theta + E[i] - E[j]) - f(theta - E[i] + E[j])
                       + f(theta - E[i] - E[j])) / (4 * h * h) for j in range(d)] for i in range(d)])
    assert np.allclose(H, H_fd, atol=1e-5)


@pytest.mark.parametrize("eigenvalues", [
    [5.0, 3.0, 2.0, 1.0, 0.5],                 # distinct
    [4.0, 2.5, 1.0, 0.3, 0.0, 0.0],            # two directions without variance
    [3.0, 2.0, 2.0, 1.0, 0.0],                 # a tie
])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_linear_autoencoder_critical_points_against_the_exact_hessian(eigenvalues, k):
    """Index, zero modes, loss and stationarity of every critical point, in a randomly rotated basis."""
    lam = np.array(eigenvalues)
    n = lam.size
    U = init.orthogonal(n, rng=np.random.default_rng(k))
    sigma = U @ np.diag(lam) @ U.T
    points = saddles.linear_autoencoder_critical_points(lam, k)
    assert len(points) == len(list(__import__("itertools").combinations(range(n), k)))
    assert [c[1] for c in points] == sorted(c[1] for c in points)
    assert points[0][0] == tuple(range(k)) and points[0][2] == 0
    for subset, loss, index in points:
        G = np.random.default_rng(sum(subset)).standard_normal((k, k)) + 3 * np.eye(k)   # any GL(k) gauge
        A = G @ U[:, list(subset)].T
        B = U[:, list(subset)] @ np.linalg.inv(G)
        assert autoencoder_loss(A, B, sigma) == pytest.approx(loss, abs=1e-12)
        R = np.eye(n) - B @ A
        assert np.allclose(B.T @ R @ sigma, 0, atol=1e-10) and np.allclose(R @ sigma @ A.T, 0, atol=1e-10)
        ev = np.linalg.eigvalsh(saddles.linear_autoencoder_hessian(A, B, sigma))
        n_neg, n_zero, _ = saddles.hessian_index(ev, rtol=1e-9)
        assert n_neg == index
        assert n_zero == saddles.linear_autoencoder_zero_modes(lam, subset)
    # Distinct positive eigenvalues: the global minimum is the only point of index 0.
    if len(set(lam[lam > 0])) == np.sum(lam > 0) and np.sum(lam == 0) <= 1:
        assert sum(c[2] == 0 for c in points) == 1


# --- optimisers near saddles --------------------------------------------------------

def toy(part):
    return lambda x: saddles.toy_saddle(x)[part]


def test_toy_saddle_derivatives():
    x = np.array([0.7, -0.4])
    f, g, H = saddles.toy_saddle(x)
    h = 1e-6
    for i in range(2):
        e = np.eye(2)[i] * h
        assert (toy(0)(x + e) - toy(0)(x - e)) / (2 * h) == pytest.approx(g[i], rel=1e-7)
        assert np.allclose((toy(1)(x + e) - toy(1)(x - e)) / (2 * h), H[i], atol=1e-7)


def test_saddle_free_step():
    rng = np.random.default_rng(4)
    M = rng.standard_normal((6, 6))
    H = M + M.T
    g = rng.standard_normal(6)
    step = saddles.saddle_free_step(g, H)
    ev, V = np.linalg.eigh(H)
    # Along every eigenvector the step is Newton's with |lambda|, so always downhill.
    assert np.allclose(V.T @ step, -(V.T @ g) / np.abs(ev))
    assert g @ step < 0
    P = M @ M.T + np.eye(6)                     # positive definite: Newton's step
    assert np.allclose(saddles.saddle_free_step(g, P, 0.0), -np.linalg.solve(P, g))
    assert np.allclose(saddles.saddle_free_step(g, P, 0.5), -np.linalg.solve(P + 0.5 * np.eye(6), g))


def test_descend_on_the_toy_saddle():
    start = [1.0, 1e-4]
    newton = saddles.descend(toy(1), toy(2), start, "newton", 20)
    assert np.allclose(newton[-1], 0, atol=1e-12)             # attracted to the saddle
    sfn = saddles.descend(toy(1), toy(2), start, "saddle_free", 40)
    assert np.allclose(sfn[-1], [0, 1], atol=1e-10)           # repelled, to the minimum
    # Gradient descent: the y-coordinate grows by (1 + lr) per step near the saddle.
    lr = 0.2
    gd = saddles.descend(toy(1), toy(2), start, "gd", 200, lr=lr)
    escape = np.argmax(np.abs(gd[:, 1]) > 0.05)
    assert abs(escape - np.log(0.05 / 1e-4) / np.log(1 + lr)) <= 1
    assert np.allclose(gd[1:, 0], (1 - lr) ** np.arange(1, 201))
    # A line search never lets the loss rise.
    f = toy(0)
    path = saddles.descend(toy(1), toy(2), [0.3, 0.9], "saddle_free", 15, lr=3.0, loss=f)
    losses = [f(x) for x in path]
    assert np.all(np.diff(losses) <= 0)


def test_tanh_mlp_landscape_derivatives_and_the_mean_predictor_saddle():
    rng = np.random.default_rng(6)
    n_in, n_out, n_hidden, P = 3, 4, 5, 40
    X = rng.standard_normal((n_in, P))
    X -= X.mean(axis=1, keepdims=True)
    Y = rng.standard_normal((n_out, P))
    L = saddles.tanh_mlp_landscape(X, Y, n_hidden)
    assert L.n_params == n_hidden * (n_in + 1) + n_out * (n_hidden + 1)
    theta = 0.5 * rng.standard_normal(L.n_params)
    g, H = L.grad(theta), L.hess(theta)
    # Against torch autograd, an independent computation of the same derivatives.
    import torch
    from torch.func import grad as t_grad
    from torch.func import jacrev
    Xt, Yt = torch.tensor(X.T), torch.tensor(Y.T)

    def t_loss(t):
        sizes = [n_hidden * n_in, n_hidden, n_out * n_hidden, n_out]
        W1, b1, W2, b2 = torch.split(t, sizes)
        out = torch.tanh(Xt @ W1.reshape(n_hidden, n_in).T + b1) @ W2.reshape(n_out, n_hidden).T + b2
        return 0.5 * ((out - Yt) ** 2).sum(dim=1).mean()
    T = torch.tensor(theta, dtype=torch.float64)
    assert L.loss(theta) == pytest.approx(float(t_loss(T)), rel=1e-13)
    assert np.allclose(g, t_grad(t_loss)(T).numpy(), rtol=1e-12, atol=1e-14)
    assert np.allclose(H, jacrev(jacrev(t_loss))(T).numpy(), rtol=1e-12, atol=1e-14)
    assert np.array_equal(H, H.T)
    h = 1e-5
    E = np.eye(L.n_params) * h
    assert np.allclose([(L.loss(theta + e) - L.loss(theta - e)) / (2 * h) for e in E], g, atol=1e-8)
    assert np.allclose([(L.grad(theta + e) - L.grad(theta - e)) / (2 * h) for e in E], H, atol=1e-7)
    # At W = 0, b1 = 0, b2 = mean(y) the network predicts the mean: the Hessian's W1-W2 block has
    # eigenvalues +-s_i, the singular values of the input-output correlation, each once per hidden unit.
    W1, b1, W2, b2 = L.unpack(np.zeros(L.n_params))
    saddle = np.concatenate([W1.ravel(), b1, W2.ravel(), Y.mean(axis=1)])
    assert np.linalg.norm(L.grad(saddle)) < 1e-12
    s = np.linalg.svd((Y - Y.mean(axis=1, keepdims=True)) @ X.T / P, compute_uv=False)
    ev = np.linalg.eigvalsh(L.hess(saddle))
    assert np.allclose(ev[:n_hidden * s.size], np.sort(np.repeat(-s, n_hidden)))
    assert saddles.hessian_index(ev, 1e-9)[0] == n_hidden * min(n_in, n_out)


def test_critical_point_search_finds_saddles_and_reports_gradient_flat_ends():
    # On the toy landscape, from near the saddle and near a minimum: both are found.
    x, gnorm, n_iter = saddles.critical_point_search(toy(1), toy(2), [0.1, 0.05])
    assert gnorm <= 1e-10 and np.allclose(x, 0, atol=1e-10) and n_iter < 30
    x, gnorm, _ = saddles.critical_point_search(toy(1), toy(2), [0.2, 0.8])
    assert gnorm <= 1e-10 and np.allclose(x, [0, 1], atol=1e-10)
    # f = (x^2 - 1)^2 / 4 + y^3 / 3 + y: grad (x^3 - x, y^2 + 1) never vanishes; |grad|^2 has its minimum
    # at y = 0 with H g = 0 there: a gradient-flat point, returned with its non-zero gradient.
    g = lambda z: np.array([z[0] ** 3 - z[0], z[1] ** 2 + 1])
    h = lambda z: np.diag([3 * z[0] ** 2 - 1, 2 * z[1]])
    x, gnorm, _ = saddles.critical_point_search(g, h, [0.9, 0.3], max_iter=200)
    # Convergence to a non-zero residual is slow (linear), so only near it; what matters is that the
    # search ends there with |grad| about 1, far above gtol.
    assert gnorm == pytest.approx(1.0, abs=0.01) and abs(x[1]) < 0.05 and abs(abs(x[0]) - 1) < 1e-6
    with pytest.raises(ValueError, match="^max_iter"):
        saddles.critical_point_search(g, h, [0.0, 0.0], max_iter=0)
    with pytest.raises(ValueError, match="^gtol"):
        saddles.critical_point_search(g, h, [0.0, 0.0], gtol=0)


def test_saddles_bad_arguments():
    with pytest.raises(ValueError, match="^p must"):
        saddles.pspin_index(0.0, p=1)
    with pytest.raises(ValueError, match="^p must"):
        saddles.pspin_couplings(4, 1)
    with pytest.raises(ValueError, match="^n must"):
        saddles.pspin_couplings(1, 3)
    with pytest.raises(ValueError, match="^n\\*\\*p"):
        saddles.pspin_couplings(500, 3)
    J = saddles.pspin_couplings(4, 3, 0)
    with pytest.raises(ValueError, match="^sigma must lie on the sphere"):
        saddles.pspin_energy(np.ones(4) * 3, J)
    with pytest.raises(ValueError, match="^sigma must have shape"):
        saddles.pspin_energy(np.ones(5), J)
    with pytest.raises(ValueError, match="^n_starts"):
        saddles.pspin_critical_points(J, 0)
    with pytest.raises(ValueError, match="^k must"):
        saddles.linear_autoencoder_critical_points([3.0, 2.0, 1.0], 3)
    with pytest.raises(ValueError, match="^eigenvalues must be in descending"):
        saddles.linear_autoencoder_critical_points([1.0, 2.0, 3.0], 1)
    with pytest.raises(ValueError, match="^subset must"):
        saddles.linear_autoencoder_zero_modes([3.0, 2.0, 1.0], (0, 0))
    with pytest.raises(ValueError, match="^H must be symmetric"):
        saddles.saddle_free_step([1.0, 0.0], [[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="^H must have shape"):
        saddles.saddle_free_step([1.0, 0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match="^damping must"):
        saddles.saddle_free_step([1.0, 0.0], np.eye(2), damping=-1.0)
    with pytest.raises(ValueError, match="singular"):
        saddles.saddle_free_step([1.0, 0.0], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="^method must"):
        saddles.descend(toy(1), toy(2), [1.0, 0.0], "adam", 3)
    with pytest.raises(ValueError, match="^n_steps must"):
        saddles.descend(toy(1), toy(2), [1.0, 0.0], "gd", -1)
    with pytest.raises(ValueError, match="^point must"):
        saddles.toy_saddle([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="^rtol must"):
        saddles.hessian_index([1.0], rtol=1.0)
    with pytest.raises(ValueError, match="^n_hidden must"):
        saddles.tanh_mlp_landscape(np.ones((2, 3)), np.ones((1, 3)), 0)
    with pytest.raises(ValueError, match="^theta must have shape"):
        saddles.tanh_mlp_landscape(np.ones((2, 3)), np.ones((1, 3)), 2).grad(np.ones(4))
    with pytest.raises(ValueError, match="^index must"):
        saddles.pspin_complexity(-1.7, 3, index=-1)
    with pytest.raises(ValueError, match="^k must"):
        saddles.pspin_index_edge(-1)
    with pytest.raises(ValueError, match="^index must"):
        saddles.pspin_kac_rice_density(0.0, 5, 3, index=5)
    with pytest.raises(ValueError, match="^n_samples \\* n"):
        saddles.pspin_kac_rice_density(0.0, 100, 3, n_samples=1000)
    with pytest.raises(ValueError, match="^n_starts"):
        saddles.pspin_census(J, 0)
