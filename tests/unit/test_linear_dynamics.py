"""Exact linear-network dynamics against simulated gradient descent.

As in neural-tangents, analytic results are checked against finite simulations
over parameter grids. Gradient descent differs from gradient flow by O(lr), so
decoupled-start comparisons use a tolerance proportional to the learning rate
and also check that halving the learning rate halves the error.
"""

import numpy as np
import pytest

from statmech_dl import init, training
from statmech_dl import linear_dynamics as ld
from statmech_dl import semantic as sm


def random_modes(n_out, n_in, s, rng):
    U, _ = np.linalg.qr(rng.standard_normal((n_out, len(s))))
    V, _ = np.linalg.qr(rng.standard_normal((n_in, len(s))))
    return U, np.asarray(s, float), V.T


# --- closed forms -----------------------------------------------------------

@pytest.mark.parametrize("s", [0.3, 1.0, 4.0])
@pytest.mark.parametrize("a0", [1e-4, 0.05])
@pytest.mark.parametrize("tau", [1.0, 8.0])
def test_mode_strength_solves_logistic_ode(s, a0, tau):
    t = np.linspace(0, 20 * tau / s, 2001)
    a = ld.mode_strength(t, s, a0, tau)
    assert a[0] == pytest.approx(a0, rel=1e-12)
    dadt = np.gradient(a, t, edge_order=2)
    rhs = 2 * a * (s - a) / tau
    assert np.max(np.abs(dadt - rhs)) < 2e-3 * np.max(np.abs(rhs))
    assert a[-1] == pytest.approx(s, rel=1e-6)


def test_mode_strength_matches_paper_form_and_does_not_overflow():
    s, a0, tau, t = 2.0, 1e-3, 1.0, np.linspace(0, 5, 50)
    e = np.exp(2 * s * t / tau)
    assert np.allclose(ld.mode_strength(t, s, a0, tau), s * e / (e - 1 + s / a0), rtol=1e-12)
    with np.errstate(over="raise"):
        assert ld.mode_strength(1e6, s, a0, tau) == pytest.approx(s)


def test_mode_strength_broadcasts_and_returns_float_for_scalars():
    out = ld.mode_strength(np.linspace(0, 1, 5)[:, None], np.array([1.0, 2.0, 3.0]), 1e-2)
    assert out.shape == (5, 3)
    assert isinstance(ld.mode_strength(1.0, 1.0, 0.1), float)


@pytest.mark.parametrize("s,a0,tau", [(1.0, 1e-3, 1.0), (5.0, 0.3, 2.0), (0.2, 1e-6, 8.0)])
def test_half_times(s, a0, tau):
    assert ld.mode_strength(ld.half_time(s, a0, tau), s, a0, tau) == pytest.approx(s / 2, rel=1e-10)
    assert ld.shallow_mode_strength(ld.shallow_half_time(s, a0, tau), s, a0, tau) == pytest.approx(s / 2, rel=1e-10)


def test_shallow_half_time_is_tau_ln2_for_every_strength():
    s = np.array([0.1, 1.0, 10.0])
    assert np.allclose(ld.shallow_half_time(s, 0.0, 3.0), 3.0 * np.log(2))
    t = np.linspace(0, 5, 200)
    b = ld.shallow_mode_strength(t[:, None], s, 0.0, 1.0)
    assert np.allclose(np.gradient(b, t, axis=0, edge_order=2), (s - b), atol=2e-3)


# --- simulation against theory ---------------------------------------------

def decoupled_error(s_values, a0, lr, seed):
    rng = np.random.default_rng(seed)
    n_in = n_out = 6
    U, s, Vt = random_modes(n_out, n_in, s_values, rng)
    # Whitened inputs: X X^T / P = I.
    P = 12
    Q, _ = np.linalg.qr(rng.standard_normal((P, n_in)))
    X = np.sqrt(P) * Q.T
    Y = (U * s) @ Vt @ X
    init = ld.decoupled_initial_weights(U, Vt, a0, n_hidden=8, rng=seed)
    t_end = 12.0 / min(s_values)
    run = training.train_linear_network(X, Y, hidden=8, lr=lr, n_steps=int(round(t_end / lr)),
                                  initial_weights=init, record_every=max(1, int(0.05 / lr)))
    a = ld.project_modes(run.maps, U, Vt)
    theory = ld.mode_strength(run.t[:, None], s, a0, tau=1.0)
    return np.max(np.abs(a - theory) / s)


@pytest.mark.parametrize("s_values", [(3.0, 1.5, 0.7), (2.0, 1.0)])
@pytest.mark.parametrize("a0", [1e-3, 1e-2])
def test_decoupled_gradient_descent_follows_exact_solution(s_values, a0):
    lr = 0.01
    err = decoupled_error(s_values, a0, lr, seed=0)
    # The one-step error of Euler on a logistic with rate 2s is O(lr * s); the
    # accumulated error on a(t)/s stays below a few times lr * s_max.
    assert err < 3 * lr * max(s_values)
    # First-order convergence: halving the learning rate roughly halves the error.
    err_half = decoupled_error(s_values, a0, lr / 2, seed=0)
    assert 0.35 < err_half / err < 0.65


def test_one_hot_items_rescale_time_by_P():
    data = sm.rogers_mcclelland()
    Y = data.matrix
    P = Y.shape[1]
    U, s, Vt = ld.mode_decomposition(Y)
    init = ld.decoupled_initial_weights(U, Vt, 1e-3, n_hidden=16, rng=1)
    run = training.train_linear_network(np.eye(P), Y, hidden=16, lr=0.005, n_steps=8000,
                                  initial_weights=init, record_every=40)
    a = ld.project_modes(run.maps, U, Vt)
    good = np.max(np.abs(a - ld.mode_strength(run.t[:, None], s, 1e-3, tau=P)) / s)
    wrong = np.max(np.abs(a - ld.mode_strength(run.t[:, None], s, 1e-3, tau=1.0)) / s)
    assert good < 0.01
    assert wrong > 0.5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_small_random_init_half_times(seed):
    # From small random weights the decoupled theory with a0 from
    # effective_initial_strength predicts each half-time; residual mode coupling
    # delays weak modes by at most ~2.5% here (measured over seeds), so 5%
    # separates that from a wrong theory (a factor-2 rate error gives 100%).
    data = sm.rogers_mcclelland()
    Y = data.matrix
    P = Y.shape[1]
    U, s, Vt = ld.mode_decomposition(Y)
    run = training.train_linear_network(np.eye(P), Y, hidden=32, lr=0.005, n_steps=12000,
                                  init_scale=1e-3, rng=seed, record_every=20, record_weights=True)
    a0 = ld.effective_initial_strength([w[0] for w in run.weights], U, Vt)
    a = ld.project_modes(run.maps, U, Vt)
    sim = np.array([ld.crossing_time(run.t, a[:, k] / s[k], 0.5) for k in range(len(s))])
    theory = ld.half_time(s, a0, tau=P)
    assert np.all(np.abs(sim / theory - 1) < 0.05)
    # Stage order: stronger modes are learned first.
    assert np.all(np.diff(sim[[0, 1, 2, 4, 5, 7]]) > 0)


def test_shallow_network_simulation():
    data = sm.rogers_mcclelland()
    Y = data.matrix
    P = Y.shape[1]
    U, s, Vt = ld.mode_decomposition(Y)
    run = training.train_linear_network(np.eye(P), Y, hidden=(), lr=0.01, n_steps=3000, init_scale=0.0,
                                  record_every=10)
    a = ld.project_modes(run.maps, U, Vt)
    theory = ld.shallow_mode_strength(run.t[:, None], s, 0.0, tau=P)
    assert np.max(np.abs(a - theory) / s) < 1e-3
    halves = [ld.crossing_time(run.t, a[:, k] / s[k], 0.5) for k in range(len(s))]
    assert np.allclose(halves, P * np.log(2), rtol=5e-3)


def test_effective_initial_strength_of_decoupled_weights_is_a0():
    rng = np.random.default_rng(0)
    U, s, Vt = random_modes(7, 5, [3.0, 2.0, 1.0], rng)
    a0 = np.array([1e-3, 2e-3, 5e-4])
    W = ld.decoupled_initial_weights(U, Vt, a0, n_hidden=6, rng=1)
    assert np.allclose(W[1] @ W[0], (U * a0) @ Vt)
    assert np.allclose(ld.effective_initial_strength(W, U, Vt), a0)


# --- helpers ----------------------------------------------------------------

def test_mode_decomposition_reconstructs_with_fixed_signs():
    Y = sm.rogers_mcclelland().matrix
    U, s, Vt = ld.mode_decomposition(Y)
    assert np.allclose((U * s) @ Vt, Y)
    assert np.all(np.diff(s) <= 0)
    for row in Vt:
        # Convention: the first loading of (near-)maximal magnitude is positive.
        first = np.flatnonzero(np.abs(row) >= np.abs(row).max() * (1 - 1e-8))[0]
        assert row[first] > 0
    assert np.allclose(ld.project_modes(ld.theory_map(U, s, Vt), U, Vt), s)


def test_crossing_time():
    t = np.linspace(0, 1, 11)
    assert ld.crossing_time(t, t, 0.55) == pytest.approx(0.55)
    with pytest.raises(ValueError, match="never reach"):
        ld.crossing_time(t, t, 2.0)
    with pytest.raises(ValueError, match="start below"):
        ld.crossing_time(t, t + 1, 0.5)


# --- validation -------------------------------------------------------------

@pytest.mark.parametrize("fn", [ld.mode_strength, ld.shallow_mode_strength])
@pytest.mark.parametrize("kwargs,name", [
    (dict(t=-1.0, s=1.0, a0=0.1), "t"),
    (dict(t=np.inf, s=1.0, a0=0.1), "t"),
    (dict(t=np.nan, s=1.0, a0=0.1), "t"),
    (dict(t=1.0, s=0.0, a0=0.1), "s"),
    (dict(t=1.0, s=-2.0, a0=0.1), "s"),
    (dict(t=1.0, s=1.0, a0=-0.1), "a0"),
    (dict(t=1.0, s=1.0, a0=0.1, tau=0.0), "tau"),
])
def test_mode_strength_rejects_bad_arguments(fn, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        fn(**kwargs)


def test_deep_mode_strength_rejects_zero_a0():
    with pytest.raises(ValueError, match=r"^a0 must lie in \(0"):
        ld.mode_strength(1.0, 1.0, 0.0)
    assert ld.shallow_mode_strength(1.0, 1.0, 0.0) == pytest.approx(1 - np.exp(-1))


def test_half_time_requires_a0_below_half():
    with pytest.raises(ValueError, match="a0 must lie in"):
        ld.half_time(1.0, 0.6)


# --- deep networks: reduced dynamics --------------------------------------------

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
    run = training.train_linear_network(X, Y, hidden=(1,) * (n_layers - 2), lr=lr,
                                  n_steps=int(6 / lr), record_every=50,
                                  initial_weights=[np.full((1, 1), w0)] * (n_layers - 1))
    theory = ld.deep_mode_strength(run.t, s, u0, n_layers)
    assert np.max(np.abs(run.maps[:, 0, 0] - theory)) < 20 * lr * s * (n_layers - 1)


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
    run = training.train_linear_network(X, Y, hidden=[4] * (n_layers - 2), lr=lr, n_steps=int(t_end / lr),
                                  record_every=20, initial_weights=weights)
    sim = ld.project_modes(run.maps, U, V.T)
    theory = ld.deep_mode_strength(run.t[:, None], s, u0, n_layers)
    # Euler error: a few times lr times the largest rate (N_l - 1) s_max^2.
    assert np.max(np.abs(sim - theory) / s) < 2 * lr * (n_layers - 1) * s.max() ** 2


@pytest.mark.parametrize("call,name", [
    (lambda: ld.deep_mode_strength(1.0, 1.0, 0.1, 1), "n_layers"),
    (lambda: ld.deep_mode_strength(1.0, 1.0, 0.0, 4), "u0"),
    (lambda: ld.learning_time(1.0, 0.0, 0.5, 4), "u0"),
    (lambda: ld.learning_time(1.0, 0.1, 1.0, 4), "uf"),
    (lambda: ld.learning_time(1.0, 0.1, 1.5, 4), "uf"),
    (lambda: ld.learning_time(1.0, 1.0, 0.5, 4), "u0"),
    (lambda: ld.learning_time(-1.0, 0.1, 0.5, 4), "s"),
    (lambda: ld.learning_time(1.0, 0.1, 0.5, 4, tau=0), "tau"),
])
def test_deep_theory_rejects_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()
