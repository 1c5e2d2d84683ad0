"""Deep linear dynamics: reduced ODE, learning times, curvature, initialisations."""

import numpy as np
import pytest

from statmech_dl import datasets, init
from statmech_dl import linear_dynamics as ld


# --- reduced dynamics -------------------------------------------------------

def test_deep_mode_strength_reduces_to_closed_forms():
    t = np.linspace(0, 6, 50)
    assert np.allclose(ld.deep_mode_strength(t, 2.0, 0.01, 3), ld.mode_strength(t, 2.0, 0.01))
    assert np.allclose(ld.deep_mode_strength(t, 2.0, 0.01, 2), ld.shallow_mode_strength(t, 2.0, 0.01))


@pytest.mark.parametrize("n_layers", [4, 6, 11, 31])
@pytest.mark.parametrize("s,u0", [(2.0, 0.01), (1.0, 0.3), (0.5, 2.0)])
def test_deep_mode_strength_solves_reduced_ode(n_layers, s, u0):
    # Resolve the transition, which sharpens with depth: span 1.2 learning times.
    u_end = s * (1 - 1e-3) if u0 < s else s * (1 + 1e-3)
    t = np.linspace(0, 1.2 * ld.learning_time(s, u0, u_end, n_layers), 20001)
    u = ld.deep_mode_strength(t, s, u0, n_layers)
    assert u[0] == pytest.approx(u0)
    rhs = (n_layers - 1) * u ** (2 - 2 / (n_layers - 1)) * (s - u)
    assert np.max(np.abs(np.gradient(u, t, edge_order=2) - rhs)) < 1e-3 * max(np.max(np.abs(rhs)), 1e-3)


@pytest.mark.parametrize("n_layers", [2, 3, 4, 7, 20])
@pytest.mark.parametrize("uf", [0.05, 1.0, 1.99])
def test_learning_time_inverts_the_trajectory(n_layers, uf):
    t = ld.learning_time(2.0, 0.01, uf, n_layers, tau=3.0)
    assert ld.deep_mode_strength(t, 2.0, 0.01, n_layers, tau=3.0) == pytest.approx(uf, rel=1e-8)


def test_learning_time_shrinking_mode_and_zero_interval():
    t = ld.learning_time(1.0, 3.0, 1.5, 5)
    assert ld.deep_mode_strength(t, 1.0, 3.0, 5) == pytest.approx(1.5, rel=1e-8)
    assert ld.learning_time(1.0, 0.2, 0.2, 5) == 0.0


def test_deep_limit():
    gaps = [abs(ld.learning_time(2.0, 0.5, 1.5, n) / ld.learning_time_deep_limit(2.0, 0.5, 1.5, n) - 1)
            for n in (10, 100, 1000)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-2


def test_iterations_stay_finite_with_lr_proportional_to_inverse_depth():
    # tau = (N_l - 1)/c steps: the number of steps converges as depth grows.
    steps = [ld.learning_time(2.0, 0.5, 1.9, n, tau=(n - 1) / 0.1) for n in (5, 50, 500)]
    assert steps[2] == pytest.approx(steps[1], rel=0.05)
    assert steps[2] < 2 * steps[0]


@pytest.mark.parametrize("n_layers", [3, 5, 9])
@pytest.mark.parametrize("s", [0.5, 2.0])
def test_scalar_chain_gradient_descent_follows_reduced_ode(n_layers, s):
    # A chain of scalar weights is a deep linear network of width one.
    u0, lr = 0.05, 1e-3
    w0 = u0 ** (1 / (n_layers - 1))
    X, Y = np.ones((1, 1)), np.full((1, 1), s)
    run = ld.train_linear_network(X, Y, hidden=(1,) * (n_layers - 2), lr=lr,
                                  n_steps=int(6 / lr), record_every=50,
                                  initial_weights=[np.full((1, 1), w0)] * (n_layers - 1))
    theory = ld.deep_mode_strength(run.t, s, u0, n_layers)
    assert np.max(np.abs(run.maps[:, 0, 0] - theory)) < 20 * lr * s * (n_layers - 1)


# --- curvature --------------------------------------------------------------

def balanced_solution(s, n_layers, n, rng):
    """Balanced weights whose product is U diag(s) V^T, layers joined by random rotations."""
    U, V = init.orthogonal(n, rng=rng), init.orthogonal(n, rng=rng)
    return ld.decoupled_initial_weights(U, V.T, s, n_hidden=n, rng=rng, n_layers=n_layers), U, V


@pytest.mark.parametrize("n_layers", [2, 3, 4, 7])
def test_decoupled_weights_are_balanced_with_the_right_product(n_layers):
    rng = np.random.default_rng(0)
    s = np.array([2.0, 1.0, 0.5])
    Ws, U, V = balanced_solution(s, n_layers, 3, rng)
    W = Ws[0]
    for Wl in Ws[1:]:
        W = Wl @ W
    assert np.allclose(W, (U * s) @ V.T)
    for lower, upper in zip(Ws[:-1], Ws[1:]):
        assert np.allclose(lower @ lower.T, upper.T @ upper)   # balance is conserved by gradient flow


@pytest.mark.parametrize("n_layers", [4, 8])
def test_decoupled_matrix_network_follows_reduced_ode(n_layers):
    rng = np.random.default_rng(1)
    n, s, u0, lr = 5, np.array([2.0, 1.4, 0.9]), 0.02, 2e-3
    U, V = init.semi_orthogonal(n, 3, rng=rng), init.semi_orthogonal(n, 3, rng=rng)
    X = np.sqrt(n) * np.eye(n)
    Y = (U * s) @ V.T @ X
    weights = ld.decoupled_initial_weights(U, V.T, u0, n_hidden=4, rng=rng, n_layers=n_layers)
    t_end = 1.3 * ld.learning_time(s.min(), u0, 0.99 * s.min(), n_layers)
    run = ld.train_linear_network(X, Y, hidden=[4] * (n_layers - 2), lr=lr, n_steps=int(t_end / lr),
                                  record_every=20, initial_weights=weights)
    sim = ld.project_modes(run.maps, U, V.T)
    theory = ld.deep_mode_strength(run.t[:, None], s, u0, n_layers)
    # Euler error: a few times lr times the largest rate (N_l - 1) s_max^2.
    assert np.max(np.abs(sim - theory) / s) < 2 * lr * (n_layers - 1) * s.max() ** 2


@pytest.mark.parametrize("n_layers", [2, 3, 5, 8])
def test_hessian_top_eigenvalue_at_balanced_solution(n_layers):
    s = np.array([2.0, 1.3, 0.7])
    Ws, _, _ = balanced_solution(s, n_layers, 3, np.random.default_rng(n_layers))
    H = ld.gauss_newton_hessian(Ws)
    top = np.linalg.eigvalsh(H)[-1]
    assert top == pytest.approx(ld.hessian_top_eigenvalue(s.max(), n_layers), rel=1e-9)


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
    assert np.allclose(ld.gauss_newton_hessian(Ws, sigma11), H_fd, atol=1e-6)


# --- initialisation ---------------------------------------------------------

def test_orthogonal_is_orthogonal_with_gain():
    Q = init.orthogonal(50, gain=1.3, rng=0)
    assert np.allclose(Q @ Q.T, 1.69 * np.eye(50))
    R = init.semi_orthogonal(10, 50, rng=0)
    assert np.allclose(R @ R.T, np.eye(10))
    C = init.semi_orthogonal(50, 10, rng=0)
    assert np.allclose(C.T @ C, np.eye(10))


def test_orthogonal_is_haar_and_plain_qr_is_not():
    # For Haar matrices E[tr Q] = 0 and E[Q_00] = 0; LAPACK's QR without the
    # sign correction has a strongly biased diagonal.
    n, m = 4, 4000
    rng = np.random.default_rng(0)
    haar = np.array([np.trace(init.orthogonal(n, rng=rng)) for _ in range(m)])
    plain = np.array([np.trace(np.linalg.qr(rng.standard_normal((n, n)))[0]) for _ in range(m)])
    se = np.sqrt(1.0 / m)            # Var(tr Q) = 1 for Haar Q, n >= 2
    assert abs(haar.mean()) < 4 * se
    assert abs(plain.mean()) > 20 * se
    q00 = np.array([init.orthogonal(n, rng=rng)[0, 0] for _ in range(m)])
    assert np.mean(q00**2) == pytest.approx(1 / n, rel=0.08)


def test_gaussian_variance():
    W = init.gaussian(300, 200, gain=1.5, rng=0)
    assert W.var() == pytest.approx(1.5**2 / 200, rel=0.02)


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_gaussian_product_moments_against_simulation(depth):
    m1, m2 = init.gaussian_product_moments(depth, 2)
    assert m1 == 1.0 and m2 - 1 == pytest.approx(depth)
    n, rng = 400, np.random.default_rng(depth)
    lam = []
    for _ in range(3):
        W = np.eye(n)
        for _ in range(depth):
            W = init.gaussian(n, n, rng=rng) @ W
        lam.append(np.linalg.svd(W, compute_uv=False) ** 2)
    lam = np.concatenate(lam)
    assert lam.mean() == pytest.approx(1.0, rel=0.05)
    # Finite-width corrections to the variance are O(depth^2 / n).
    assert lam.var() == pytest.approx(depth, rel=0.05 + 2 * depth / n)


def test_digits_split():
    d = datasets.digits(n_train=500, rng=1)
    assert d.X_train.shape == (64, 500) and d.X_test.shape == (64, 1297)
    assert d.Y_train.shape == (10, 500) and np.all(d.Y_train.sum(0) == 1)
    assert np.allclose(d.X_train.mean(axis=1), 0)
    assert np.array_equal(d.X_train, datasets.digits(n_train=500, rng=1).X_train)
    assert datasets.digits(n_train=500, n_components=20, rng=1).X_train.shape == (20, 500)


# --- validation -------------------------------------------------------------

@pytest.mark.parametrize("call,name", [
    (lambda: ld.deep_mode_strength(1.0, 1.0, 0.1, 1), "n_layers"),
    (lambda: ld.deep_mode_strength(1.0, 1.0, 0.0, 4), "u0"),
    (lambda: ld.learning_time(1.0, 0.0, 0.5, 4), "u0"),
    (lambda: ld.learning_time(1.0, 0.1, 1.0, 4), "uf"),
    (lambda: ld.learning_time(1.0, 0.1, 1.5, 4), "uf"),
    (lambda: ld.learning_time(1.0, 1.0, 0.5, 4), "u0"),
    (lambda: ld.learning_time(-1.0, 0.1, 0.5, 4), "s"),
    (lambda: ld.learning_time(1.0, 0.1, 0.5, 4, tau=0), "tau"),
    (lambda: ld.hessian_top_eigenvalue(1.0, 1), "n_layers"),
    (lambda: init.orthogonal(0), "n"),
    (lambda: init.orthogonal(3, gain=0.0), "gain"),
    (lambda: init.gaussian(3, 0), "n_in"),
    (lambda: init.gaussian_product_moments(0), "depth"),
    (lambda: datasets.digits(n_train=5), "n_train"),
    (lambda: ld.train_linear_network(np.eye(2), np.eye(2), target_loss=-1.0), "target_loss"),
])
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()
