"""The shared trainers: linear networks, mean-field classifiers and the torch loop."""

import numpy as np
import pytest

from statmech_dl import datasets, training
from statmech_dl import meanfield as mf
from statmech_dl import semantic as sm


# --- linear networks ------------------------------------------------------------

def test_loss_is_recorded_and_decreases():
    data = sm.rogers_mcclelland()
    run = training.train_linear_network(np.eye(8), data.matrix, hidden=16, lr=0.01, n_steps=2000,
                                  init_scale=1e-2, rng=0, record_every=100)
    direct = 0.5 * np.mean(np.sum((data.matrix - run.maps[-1]) ** 2, axis=0))
    assert run.loss[-1] == pytest.approx(direct, rel=1e-9)
    assert np.all(np.diff(run.loss) <= 1e-12)


def test_training_is_seeded():
    data = sm.rogers_mcclelland()
    kw = dict(hidden=8, lr=0.01, n_steps=50, init_scale=0.1, record_every=10)
    a = training.train_linear_network(np.eye(8), data.matrix, rng=5, **kw)
    b = training.train_linear_network(np.eye(8), data.matrix, rng=5, **kw)
    assert np.array_equal(a.maps, b.maps)


def test_deeper_networks_train():
    data = sm.rogers_mcclelland()
    run = training.train_linear_network(np.eye(8), data.matrix, hidden=(16, 16), lr=0.02, n_steps=4000,
                                  init_scale=0.2, rng=0, record_every=500)
    assert run.loss[-1] < 1e-3 * run.loss[0]


@pytest.mark.parametrize("kwargs,name", [
    (dict(lr=0.0), "lr"), (dict(lr=np.nan), "lr"), (dict(n_steps=0), "n_steps"),
    (dict(n_steps=2.5), "n_steps"), (dict(hidden=0), "hidden"), (dict(record_every=0), "record_every"),
    (dict(init_scale=-1.0), "init_scale"), (dict(rng="seed"), "rng"),
])
def test_train_rejects_bad_arguments(kwargs, name):
    args = dict(hidden=4, lr=0.01, n_steps=10, init_scale=0.1, rng=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name} must"):
        training.train_linear_network(np.eye(3), np.ones((2, 3)), **args)


def test_train_rejects_mismatched_data_and_divergence():
    with pytest.raises(ValueError, match="same number of columns"):
        training.train_linear_network(np.eye(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="diverged"):
        training.train_linear_network(np.eye(3), 10 * np.ones((2, 3)), hidden=4, lr=50.0, n_steps=200,
                                init_scale=0.5, rng=0)
    with pytest.raises(ValueError, match=r"initial_weights\[0\] must have shape"):
        training.train_linear_network(np.eye(3), np.ones((2, 3)), hidden=4, initial_weights=[np.ones((4, 2)), np.ones((2, 4))])



def test_linear_networks_trained_side_by_side_match_lone_runs_and_stop_on_their_own():
    # Stacked networks keep their own arithmetic: every trajectory is the lone
    # one, bit for bit, including where each stops at the target loss.
    rng = np.random.default_rng(0)
    X, Y = 4.0 * np.eye(16), rng.standard_normal((16, 16))
    starts = [[rng.standard_normal((16, 16)) / 4 for _ in range(4)] for _ in range(5)]
    kw = dict(lr=0.01, n_steps=400, record_every=1, target_loss=2.0)
    lone = [training.train_linear_network(X, Y, hidden=(16,) * 3, initial_weights=w, **kw) for w in starts]
    stacked = training.train_linear_networks(X, Y, starts, **kw)
    assert len({len(r.t) for r in lone}) > 1          # the runs stop at different steps
    for a, b in zip(lone, stacked):
        assert np.array_equal(a.t, b.t) and np.array_equal(a.maps, b.maps) and np.array_equal(a.loss, b.loss)
        assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights))
    kw = dict(lr=0.01, n_steps=30, record_every=10, record_weights=True)
    a = training.train_linear_network(X, Y, hidden=(16,) * 3, initial_weights=starts[1], **kw)
    b = training.train_linear_networks(X, Y, starts, **kw)[1]
    assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights)) and a.weights[0].shape == (4, 16, 16)


def test_linear_networks_reject_mismatched_starts():
    X, Y = np.eye(3), np.ones((2, 3))
    with pytest.raises(ValueError, match=r"initial_weights\[1\] has layer shapes"):
        training.train_linear_networks(X, Y, [[np.ones((4, 3)), np.ones((2, 4))], [np.ones((5, 3)), np.ones((2, 5))]])
    with pytest.raises(ValueError, match=r"initial_weights\[0\] must chain from 3 inputs to 2 outputs"):
        training.train_linear_networks(X, Y, [[np.ones((4, 3)), np.ones((3, 4))]])
    with pytest.raises(ValueError, match="^initial_weights must be a non-empty list"):
        training.train_linear_networks(X, Y, [])
    with pytest.raises(ValueError, match="^lr must"):
        training.train_linear_networks(X, Y, [[np.ones((2, 3))]], lr=-1.0)
    with pytest.raises(ValueError, match="diverged"):
        training.train_linear_networks(X, 10 * Y, [[np.ones((4, 3)), np.ones((2, 4))]] * 2, lr=50.0, n_steps=200)


# --- mean-field classifiers -----------------------------------------------------

def test_trainability_follows_the_correlation_depth_scale():
    # Digits, 40 hidden tanh layers of width 32: near the critical line (xi_c huge)
    # the network learns; deep in the ordered phase (xi_c ~ 3.6, 40 layers > 6 xi_c)
    # it stays near chance (10%).
    d = datasets.digits(n_train=1000, rng=0, scale="unit_length")
    X = d.X_train.T
    sb = np.sqrt(0.05)
    critical = training.train_classifier(X, d.y_train, 40, mf.critical_sigma_w(sb), sb, rng=0)
    ordered = training.train_classifier(X, d.y_train, 40, 1.0, sb, rng=0)
    assert 6 * mf.depth_scales(1.0, sb)[1] < 40
    assert critical > 0.4 and ordered < 0.25
    with pytest.raises(ValueError, match="^y must"):
        training.train_classifier(X, d.y_train[:-1], 2, 1.0, sb)


def test_training_curve_records_learning_and_orthogonal_isometric_start_is_faster():
    # 30 tanh layers at sigma_w = 1.1, sigma_b = 0 (Saxe et al. 2014): orthogonal
    # weights keep every singular value of the Jacobian near one and learn faster
    # than Gaussian weights with the same sigma_w (mean of two seeds, 100 steps).
    d = datasets.digits(n_train=500, rng=0, scale="unit_length")
    X, Xt = d.X_train.T, d.X_test.T
    loss = {}
    for weights in ("orthogonal", "gaussian"):
        curves = [training.training_curve(X, d.y_train, 30, 1.1, 0.0, width=48, n_steps=100, lr=0.01, rng=s,
                                    weights=weights, X_test=Xt, y_test=d.y_test, record_every=50)
                  for s in range(2)]
        assert list(curves[0]["step"]) == [0, 50, 100]
        assert set(curves[0]) == {"step", "loss", "accuracy", "test_accuracy"}
        assert np.all(curves[0]["loss"][1:] < curves[0]["loss"][0])
        loss[weights] = np.mean([c["loss"][-1] for c in curves])
    assert loss["orthogonal"] < 0.8 * loss["gaussian"]
    # The accuracy returned by train_classifier is the last point of its curve.
    acc = training.train_classifier(X, d.y_train, 3, 1.2, 0.1, n_steps=20, rng=3)
    curve = training.training_curve(X, d.y_train, 3, 1.2, 0.1, n_steps=20, rng=3, record_every=20)
    assert acc == curve["accuracy"][-1]
    with pytest.raises(ValueError, match="weights"):
        training.training_curve(X, d.y_train, 3, 1.0, 0.0, weights="uniform")
    with pytest.raises(ValueError, match="X_test and y_test"):
        training.training_curve(X, d.y_train, 3, 1.0, 0.0, X_test=Xt)
    with pytest.raises(ValueError, match="record_every"):
        training.training_curve(X, d.y_train, 3, 1.0, 0.0, record_every=0)


def test_networks_trained_side_by_side_learn_what_each_learns_alone():
    # training_curves stacks the networks; each draws from its own generator in
    # the order a lone network would, so each curve is the lone curve (up to
    # the order of floating-point sums: 1e-12 of a loss of order one).
    d = datasets.digits(n_train=300, rng=0, scale="unit_length")
    X = d.X_train.T
    args = dict(width=16, n_steps=40, record_every=20)
    both = training.training_curves(np.stack([X, 0.5 * X]), d.y_train, 6, [1.0, 1.3], [0.0, 0.2],
                                    lr=[0.01, 0.05], rng=[4, 9], weights=["gaussian", "orthogonal"], **args)
    alone = [training.training_curve(X, d.y_train, 6, 1.0, 0.0, lr=0.01, rng=4, weights="gaussian", **args),
             training.training_curve(0.5 * X, d.y_train, 6, 1.3, 0.2, lr=0.05, rng=9, weights="orthogonal",
                                     **args)]
    assert both["loss"].shape == (2, 3) and list(both["step"]) == [0, 20, 40]
    for k, curve in enumerate(alone):
        np.testing.assert_allclose(both["loss"][k], curve["loss"], rtol=1e-12)
        np.testing.assert_array_equal(both["accuracy"][k], curve["accuracy"])
    # Single precision changes the losses in the sixth digit, not the learning.
    double = training.training_curve(X, d.y_train, 6, 1.0, 0.0, lr=0.01, rng=4, dtype="float64", **args)
    np.testing.assert_allclose(alone[0]["loss"], double["loss"], rtol=1e-4)
    assert not np.array_equal(alone[0]["loss"], double["loss"])


def test_training_curves_reject_inconsistent_networks():
    d = datasets.digits(n_train=100, rng=0, scale="unit_length")
    X = d.X_train.T
    with pytest.raises(ValueError, match="disagree on the number of networks"):
        training.training_curves(X, d.y_train, 2, [1.0, 1.1], 0.0, lr=[0.1, 0.2, 0.3], rng=[0, 1])
    with pytest.raises(ValueError, match="rng must give one seed"):
        training.training_curves(X, d.y_train, 2, [1.0, 1.1], 0.0, rng=0)
    with pytest.raises(ValueError, match=r"disagree on the number of networks: \[2, 3\]"):
        training.training_curves(np.stack([X, X, X]), d.y_train, 2, [1.0, 1.1], 0.0, rng=[0, 1])
    with pytest.raises(ValueError, match="^X_test must hold one input matrix per network"):
        training.training_curves(X, d.y_train, 2, [1.0, 1.1], 0.0, rng=[0, 1], X_test=np.stack([X] * 3),
                                 y_test=d.y_train)
    with pytest.raises(ValueError, match="^dtype"):
        training.training_curve(X, d.y_train, 2, 1.0, 0.0, dtype="float16")
    with pytest.raises(ValueError, match="^sigma_w must lie in"):
        training.training_curves(X, d.y_train, 2, [1.0, -1.0], 0.0, rng=[0, 1])
    with pytest.raises(ValueError, match="training_curves trains several"):
        training.training_curve(X, d.y_train, 2, [1.0, 1.1], 0.0)
    # A learning rate far too large: the error names the network that diverged.
    with pytest.raises(ValueError, match=r"lr=1e\+38 .*network 1"):
        training.training_curves(X, d.y_train, 4, 2.0, 0.0, lr=[0.01, 1e38], rng=[0, 1], n_steps=20,
                                 record_every=10)


# --- torch ------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _regression(seed):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(200)
    model = torch.nn.Linear(3, 1, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)

    def loss(m, xb, yb):
        err = m(xb)[:, 0] - yb
        return (err**2).mean(), {"max_error": err.abs().max()}

    hist = training.fit(model, loss, (X, y), n_steps=400, rng=seed, lr=0.05, batch_size=32, record_every=100)
    return model, hist


def test_fit_learns_is_seeded_and_returns_numpy():
    model, a = _regression(1)
    _, b = _regression(1)
    _, c = _regression(2)
    assert set(a) == {"step", "loss", "max_error"}
    assert list(a["step"]) == [100, 200, 300, 400] and isinstance(a["loss"], np.ndarray)
    assert np.array_equal(a["loss"], b["loss"]) and not np.array_equal(a["loss"], c["loss"])
    assert np.allclose(model.weight.detach().numpy(), [[1.0, -2.0, 0.5]], atol=0.05)
    assert a["loss"][-1] < 0.02 < a["loss"][0]


def test_fit_rejects_bad_arguments_and_divergence():
    model = torch.nn.Linear(2, 1, dtype=torch.float64)
    X, y = np.ones((10, 2)), np.ones(10)

    def loss(m, xb, yb):
        return ((m(xb)[:, 0] - yb) ** 2).mean()

    with pytest.raises(ValueError, match="^optimizer must"):
        training.fit(model, loss, (X, y), 5, rng=0, optimizer="lbfgs")
    with pytest.raises(ValueError, match="^n_steps must"):
        training.fit(model, loss, (X, y), 0, rng=0)
    with pytest.raises(ValueError, match="^data arrays must"):
        training.fit(model, loss, (X, y[:5]), 5, rng=0)
    with pytest.raises(ValueError, match="^batch_size must"):
        training.fit(model, loss, (X, y), 5, rng=0, batch_size=11)
    with pytest.raises(ValueError, match="diverged"):
        training.fit(model, loss, (1e3 * X, y), 50, rng=0, lr=10.0, optimizer="sgd")


def test_importing_the_library_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, statmech_dl, statmech_dl.training, statmech_dl.networks, statmech_dl.meanfield, "
            "statmech_dl.isometry, statmech_dl.saddles; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_torch_generator_is_seeded_from_numpy():
    from statmech_dl import torch_utils

    a = torch.rand(3, generator=torch_utils.generator(np.random.default_rng(4)))
    b = torch.rand(3, generator=torch_utils.generator(np.random.default_rng(4)))
    assert torch.equal(a, b)
    assert torch_utils.tensor([1, 2]).dtype == torch.float64
    assert torch_utils.tensor(np.array([1, 2]), dtype=None).dtype == torch.int64
    assert isinstance(torch_utils.numpy(torch.ones(2, requires_grad=True) * 2), np.ndarray)


def test_fit_decays_the_learning_rate_geometrically():
    import torch

    # SGD on f = w^2 / 2 multiplies w by (1 - lr_t) at step t: the product checks the schedule.
    model = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        model.weight.fill_(1.0)
    lr, lr_final, n = 0.1, 0.001, 5
    training.fit(model, lambda m, x: 0.5 * (m.weight ** 2).sum(), [np.zeros((1, 1))], n, rng=0, lr=lr,
                 lr_final=lr_final, optimizer="sgd")
    rates = lr * (lr_final / lr) ** (np.arange(n) / (n - 1))
    assert model.weight.item() == pytest.approx(np.prod(1 - rates), rel=1e-12)
    with pytest.raises(ValueError, match="^lr_final must"):
        training.fit(model, lambda m, x: (m.weight ** 2).sum(), [np.zeros((1, 1))], 2, rng=0, lr_final=0.0)
