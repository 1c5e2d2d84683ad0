"""Complex synapses: memory curves against closed forms, simulation and the bounds; synaptic intelligence."""

import numpy as np
import pytest
from scipy import linalg

from statmech_dl import synapses as sy

FAMILIES = {"binary": sy.binary(0.4), "serial": sy.serial(6, 0.7), "cascade": sy.cascade(8, 0.4)}


def test_binary_memory_curve_in_closed_form():
    t = np.linspace(0, 20, 11)
    for q in (0.1, 0.5, 1.0):
        assert np.allclose(sy.snr(t, *sy.binary(q), n_synapses=400), 20 * q * np.exp(-q * t), rtol=1e-10)
        assert sy.snr_area(*sy.binary(q), n_synapses=400) == pytest.approx(20.0)


@pytest.mark.parametrize("name", FAMILIES)
def test_modes_and_area_agree_with_the_curve(name):
    model = FAMILIES[name]
    amp, tau = sy.snr_modes(*model, n_synapses=9, rate=2.0)
    t = np.linspace(0, 10, 21)
    curve = np.real(np.sum(amp[None, :] * np.exp(-t[:, None] / tau[None, :]), axis=1))
    assert np.allclose(curve, sy.snr(t, *model, n_synapses=9, rate=2.0), atol=1e-10)
    area = np.trapezoid(sy.snr(np.linspace(0, 400, 40001), *model, n_synapses=9, rate=2.0), dx=0.01)
    assert sy.snr_area(*model, n_synapses=9, rate=2.0) == pytest.approx(area, rel=1e-4)
    assert np.real(np.sum(amp * tau)) == pytest.approx(sy.snr_area(*model, n_synapses=9, rate=2.0), rel=1e-8)


def test_equilibrium_is_a_left_null_vector():
    m_pot, m_dep, _ = sy.cascade(6, 0.3)
    p = sy.equilibrium(m_pot, m_dep, 0.3)
    W = 0.3 * m_pot + 0.7 * m_dep - np.eye(6)
    assert np.allclose(p @ W, 0) and p.sum() == pytest.approx(1.0)
    # The classic bug: a right null vector (transposed W) is not the equilibrium.
    assert not np.allclose(W @ p, 0)


def test_mean_first_passage_times_by_linear_solves_and_kemeny():
    rng = np.random.default_rng(0)
    m_pot, m_dep, _ = sy.random_model(6, rng)
    W = 0.5 * (m_pot + m_dep) - np.eye(6)
    T = sy.mean_first_passage_times(m_pot, m_dep)
    for j in range(6):
        # T_ij solves sum_k W_ik T_kj = -1 for i != j, with T_jj = 0.
        others = [i for i in range(6) if i != j]
        sol = np.linalg.solve(W[np.ix_(others, others)], -np.ones(5))
        assert np.allclose(T[others, j], sol)
    p = sy.equilibrium(m_pot, m_dep)
    assert np.allclose(T @ p, sy.kemeny_constant(m_pot, m_dep))


@pytest.mark.slow
def test_bounds_hold_over_random_models():
    """No random model exceeds SNR(0) <= sqrt N, area <= sqrt N (M-1)/r, or the envelope."""
    rng = np.random.default_rng(1)
    t = np.geomspace(1e-2, 1e3, 80)
    for _ in range(400):
        M = int(rng.choice([2, 4, 6, 8, 10]))
        model = sy.random_model(M, rng)
        assert sy.snr(0.0, *model) <= 1 + 1e-9
        assert sy.snr_area(*model, rate=2.0) <= (M - 1) / 2.0 + 1e-9
        assert np.all(sy.snr(t, *model) <= sy.envelope(t, M) + 1e-9)
        m_pot, m_dep, w = model
        eta = sy.eta_plus(m_pot, m_dep, w)
        p = sy.equilibrium(m_pot, m_dep)
        assert sy.snr_area(*model) == pytest.approx(p @ (m_dep - m_pot) @ eta, rel=1e-8, abs=1e-12)


def test_serial_area_approaches_the_bound_with_sticky_ends():
    for M in (4, 8, 16):
        ratios = [sy.snr_area(*sy.serial(M, 1.0, end_exit=e)) / (M - 1) for e in (1.0, 0.1, 0.01, 0.001)]
        assert np.all(np.diff(ratios) > 0) and ratios[-1] > 0.99 and max(ratios) <= 1
        assert sy.snr(0.0, *sy.serial(M, 1.0, end_exit=0.001)) < 0.002     # bought with the initial SNR
    assert sy.snr_area(*sy.serial(2, 1.0)) == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_simulated_memory_matches_the_formula(name):
    model = FAMILIES[name]
    t = np.array([0.0, 0.5, 2.0, 5.0])
    sim = sy.simulate_memory(model, 4000, t, rng=2, n_trials=30)
    theory = sy.snr(t, *model, n_synapses=4000)
    assert np.all(np.abs(sim.snr - theory) < 4 * sim.stderr + 1e-9)
    # The readout's noise without a memory is 1 (600 readouts: 4 s.e. of a std is about 0.12).
    assert abs(sim.noise - 1) < 0.12


def test_si_tracker_against_the_closed_form():
    torch = pytest.importorskip("torch")
    h, d, lr, T = np.array([0.5, 1.0, 3.0]), np.array([1.0, -2.0, 0.3]), 0.2, 30
    model = torch.nn.Module()
    model.theta = torch.nn.Parameter(torch.tensor(d, dtype=torch.float64))
    si = sy.SynapticIntelligence(model, c=1.0, xi=1e-3)
    opt = torch.optim.SGD([model.theta], lr=lr)
    for _ in range(T):
        loss = 0.5 * (torch.tensor(h) * model.theta**2).sum()
        g = torch.autograd.grad(loss, [model.theta], retain_graph=True)
        opt.zero_grad()
        loss.backward()
        si.snapshot(g)
        opt.step()
        si.accumulate()
    si.consolidate()
    assert np.allclose(si.Omega[0].numpy(), sy.si_quadratic_importance(h, d, lr, T, 1e-3), rtol=1e-10)
    assert np.all(si.omega[0].numpy() == 0)        # reset after the task
    # Small steps, long training: Omega -> h / 2.
    assert np.allclose(sy.si_quadratic_importance(h, d, 1e-4, 10**7, 1e-9), h / 2, rtol=1e-3)


def test_cascade_and_serial_are_valid_models():
    for model in (sy.cascade(10, 0.5), sy.cascade(4, 0.2), sy.serial(10, 0.3)):
        m_pot, m_dep, w = model
        assert np.allclose(m_pot.sum(axis=1), 1) and np.all(m_pot >= 0)
        assert np.all(linalg.eigvals(0.5 * (m_pot + m_dep) - np.eye(len(w))).real <= 1e-12)


def test_synapses_bad_arguments():
    m_pot, m_dep, w = sy.binary(0.5)
    with pytest.raises(ValueError, match="^m_pot must have rows that sum to 1"):
        sy.snr(0.0, m_pot * 0.9, m_dep, w)
    with pytest.raises(ValueError, match="^m_dep must have non-negative"):
        sy.snr(0.0, m_pot, np.array([[1.2, -0.2], [0.0, 1.0]]), w)
    with pytest.raises(ValueError, match="^w must have one weight"):
        sy.snr(0.0, m_pot, m_dep, np.ones(3))
    with pytest.raises(ValueError, match="^w must hold weights"):
        sy.snr(0.0, m_pot, m_dep, np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="^f_pot must"):
        sy.equilibrium(m_pot, m_dep, 1.0)
    with pytest.raises(ValueError, match="ergodic"):
        sy.equilibrium(np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="^n_states must be even"):
        sy.serial(5)
    with pytest.raises(ValueError, match="^x must"):
        sy.cascade(6, 0.7)
    with pytest.raises(ValueError, match="^lr \\* curvature"):
        sy.si_quadratic_importance([3.0], [1.0], 1.0, 10)


def test_continual_learning_returns_the_accuracy_matrix():
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = (X[:, 0] > 0).astype(int)
    tasks = [(X[:80], y[:80], X[80:], y[80:]), (X[:80, ::-1], y[:80], X[80:, ::-1], y[80:])]
    acc = sy.continual_learning(tasks, 1.0, rng=1, n_hidden=8, n_epochs=2, batch_size=20)
    assert acc.shape == (2, 2) and np.all((acc >= 0) & (acc <= 1))
    assert acc[0, 0] > 0.6                       # the first task is learned


def test_memory_lifetime_and_its_bound():
    N = 1e4
    # Binary synapse: SNR = sqrt(N) q exp(-q t) falls to 1 at ln(sqrt(N) q) / q.
    for q in (0.05, 0.5, 1.0):
        expected = np.log(np.sqrt(N) * q) / q
        assert sy.memory_lifetime(*sy.binary(q), N) == pytest.approx(expected, rel=1e-9)
    # With the best q = e eps / sqrt(N) the binary synapse meets the M = 2 bound exactly.
    for eps in (1.0, 3.0):
        best = sy.memory_lifetime(*sy.binary(np.e * eps / np.sqrt(N)), N, threshold=eps)
        assert best == pytest.approx(sy.lifetime_bound(2, N, eps), rel=1e-6)
    # No model exceeds the bound of its size.
    rng = np.random.default_rng(4)
    for M in (2, 4, 8):
        for _ in range(8):
            model = sy.random_model(M, rng)
            assert sy.memory_lifetime(*model, N) <= sy.lifetime_bound(M, N) * (1 + 1e-9)
    assert sy.memory_lifetime(*sy.binary(0.001), 100) == 0.0     # SNR(0) = 0.01 < 1
    with pytest.raises(ValueError, match="t_max"):
        sy.memory_lifetime(*sy.binary(1e-6), 1e16, t_max=10.0)
    with pytest.raises(ValueError, match="^threshold"):
        sy.lifetime_bound(4, N, threshold=0.0)


def test_power_law_range():
    t = np.geomspace(1e-2, 1e6, 400)
    start, stop, exponent = sy.power_law_range(t, t ** -0.7 * np.exp(-t / 1e4))
    assert exponent == pytest.approx(-0.7, abs=0.1) and start == t[0] and 1e2 < stop < 1e4
    # A single exponential is a power law over less than a decade at this spread.
    t_short = np.geomspace(1e-2, 50, 300)
    start, stop, _ = sy.power_law_range(t_short, np.exp(-t_short))
    assert stop / start < 10
    with pytest.raises(ValueError, match="increasing"):
        sy.power_law_range(t[::-1], t)


def test_penalty_gradient_in_closed_form_matches_autograd():
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(4, 3).double()
    si = sy.SynapticIntelligence(model, c=2.5, xi=1e-3)
    for Om in si.Omega:
        Om.copy_(torch.rand(Om.shape, generator=gen, dtype=Om.dtype))
    with torch.no_grad():
        for p in si.params:
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    expected = torch.autograd.grad(si.penalty(), si.params)
    for p in si.params:
        p.grad = torch.zeros_like(p)
    si.add_penalty_gradient()
    for p, g in zip(si.params, expected):
        np.testing.assert_allclose(p.grad.numpy(), g.numpy(), rtol=1e-12)


def _two_tasks(rng):
    # Opposite rules on inputs that a context feature tells apart (the last
    # input is -2 for the first task and +2 for the second): joint training
    # can learn both, sequential training overwrites the first.
    tasks = []
    for context, sign in ((-2.0, 1.0), (2.0, -1.0)):
        X = rng.standard_normal((160, 6))
        X[:, -1] = context
        y = (sign * X[:, 0] > 0).astype(int)
        tasks.append((X[:120], y[:120], X[120:], y[120:]))
    return tasks


def test_held_out_sets_and_the_joint_training_ceiling():
    pytest.importorskip("torch")
    tasks = _two_tasks(np.random.default_rng(0))
    held = [(t[2], t[3]) for t in tasks]
    acc = sy.continual_learning(tasks, 0.0, rng=1, n_hidden=16, n_epochs=30, batch_size=20)
    acc2, acc_held = sy.continual_learning(tasks, 0.0, rng=1, n_hidden=16, n_epochs=30, batch_size=20,
                                           held_out=held)
    # The held-out sets here are the test sets: the two matrices agree, and
    # asking for them does not change the training.
    np.testing.assert_array_equal(acc, acc2)
    np.testing.assert_array_equal(acc, acc_held)
    joint, joint_held = sy.joint_training(tasks, rng=1, n_hidden=16, n_epochs=30, batch_size=20, held_out=held)
    np.testing.assert_array_equal(joint, joint_held)
    # Joint training learns both opposite rules (chance is 0.5; 40 test
    # points each), which it can only do from the pooled data.
    assert acc[1, 1] > 0.8 and joint.min() > 0.8
    with pytest.raises(ValueError, match="^held_out must hold one"):
        sy.joint_training(tasks, rng=1, held_out=held[:1])
    with pytest.raises(ValueError, match="^batch_size must"):
        sy.continual_learning(tasks, 1.0, rng=1, batch_size=0)
