"""Exact linear-network dynamics against simulated gradient descent.

As in neural-tangents, analytic results are checked against finite simulations
over parameter grids. Gradient descent differs from gradient flow by O(lr), so
decoupled-start comparisons use a tolerance proportional to the learning rate
and also check that halving the learning rate halves the error.
"""

import numpy as np
import pytest

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
    run = ld.train_linear_network(X, Y, hidden=8, lr=lr, n_steps=int(round(t_end / lr)),
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
    run = ld.train_linear_network(np.eye(P), Y, hidden=16, lr=0.005, n_steps=8000,
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
    run = ld.train_linear_network(np.eye(P), Y, hidden=32, lr=0.005, n_steps=12000,
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
    run = ld.train_linear_network(np.eye(P), Y, hidden=(), lr=0.01, n_steps=3000, init_scale=0.0,
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


def test_loss_is_recorded_and_decreases():
    data = sm.rogers_mcclelland()
    run = ld.train_linear_network(np.eye(8), data.matrix, hidden=16, lr=0.01, n_steps=2000,
                                  init_scale=1e-2, rng=0, record_every=100)
    direct = 0.5 * np.mean(np.sum((data.matrix - run.maps[-1]) ** 2, axis=0))
    assert run.loss[-1] == pytest.approx(direct, rel=1e-9)
    assert np.all(np.diff(run.loss) <= 1e-12)


def test_training_is_seeded():
    data = sm.rogers_mcclelland()
    kw = dict(hidden=8, lr=0.01, n_steps=50, init_scale=0.1, record_every=10)
    a = ld.train_linear_network(np.eye(8), data.matrix, rng=5, **kw)
    b = ld.train_linear_network(np.eye(8), data.matrix, rng=5, **kw)
    assert np.array_equal(a.maps, b.maps)


def test_deeper_networks_train():
    data = sm.rogers_mcclelland()
    run = ld.train_linear_network(np.eye(8), data.matrix, hidden=(16, 16), lr=0.02, n_steps=4000,
                                  init_scale=0.2, rng=0, record_every=500)
    assert run.loss[-1] < 1e-3 * run.loss[0]


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


@pytest.mark.parametrize("kwargs,name", [
    (dict(lr=0.0), "lr"), (dict(lr=np.nan), "lr"), (dict(n_steps=0), "n_steps"),
    (dict(n_steps=2.5), "n_steps"), (dict(hidden=0), "hidden"), (dict(record_every=0), "record_every"),
    (dict(init_scale=-1.0), "init_scale"), (dict(rng="seed"), "rng"),
])
def test_train_rejects_bad_arguments(kwargs, name):
    args = dict(hidden=4, lr=0.01, n_steps=10, init_scale=0.1, rng=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name} must"):
        ld.train_linear_network(np.eye(3), np.ones((2, 3)), **args)


def test_train_rejects_mismatched_data_and_divergence():
    with pytest.raises(ValueError, match="same number of columns"):
        ld.train_linear_network(np.eye(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="diverged"):
        ld.train_linear_network(np.eye(3), 10 * np.ones((2, 3)), hidden=4, lr=50.0, n_steps=200,
                                init_scale=0.5, rng=0)
    with pytest.raises(ValueError, match=r"initial_weights\[0\] must have shape"):
        ld.train_linear_network(np.eye(3), np.ones((2, 3)), hidden=4, initial_weights=[np.ones((4, 2)), np.ones((2, 4))])
