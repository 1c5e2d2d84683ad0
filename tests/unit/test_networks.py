"""Finite-width random networks: the measurement helpers, seeding, exact first layers and validation.

How the simulated networks agree with the mean-field theory is tested with the
theory, in test_meanfield.py and test_isometry.py.
"""

import numpy as np
import pytest

from statmech_dl import init, networks
from statmech_dl import meanfield as mf

from grids import cases


def test_correlated_inputs_and_scaling():
    x = networks.correlated_inputs(20000, 0.3, rng=0)
    assert x.shape == (20000, 2)
    assert np.corrcoef(x.T)[0, 1] == pytest.approx(0.3, abs=4 / np.sqrt(20000))
    q = np.array([0.5, 2.0])
    scaled = networks.scale_to_length(x, q, 1.5, 0.3)
    # sigma_w^2 |x|^2 / N + sigma_b^2 is exactly the requested length.
    assert np.allclose(1.5**2 * np.mean(scaled**2, axis=0) + 0.09, q, rtol=1e-12)
    with pytest.raises(ValueError, match="^q must"):
        networks.scale_to_length(x, 0.05, 1.0, 0.3)       # below sigma_b^2
    with pytest.raises(ValueError, match="^x must"):
        networks.scale_to_length(np.zeros((4, 2)), 1.0, 1.0, 0.1)


def test_layer_statistics():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((3, 50, 4))
    q, c = networks.layer_statistics(h)
    assert q.shape == (3, 4) and c.shape == (3, 4, 4)
    assert np.allclose(q[1, 2], np.mean(h[1, :, 2] ** 2))
    expected = np.mean(h[2, :, 0] * h[2, :, 3]) / np.sqrt(q[2, 0] * q[2, 3])
    assert c[2, 0, 3] == pytest.approx(expected) and np.allclose(np.diagonal(c, axis1=1, axis2=2), 1)
    with pytest.raises(ValueError, match="^h must"):
        networks.layer_statistics(np.zeros((2, 5)))


@pytest.mark.parametrize("phi,sw,sb", cases())
def test_simulate_draws_weights_through_init_and_is_seeded(phi, sw, sb):
    x = np.random.default_rng(1).standard_normal((30, 2))
    for draw_weights in (False, True):
        a = networks.simulate(x, 3, sw, sb, phi, rng=5, draw_weights=draw_weights)
        assert np.array_equal(a, networks.simulate(x, 3, sw, sb, phi, rng=5, draw_weights=draw_weights))
    # With its weights drawn, the first layer is W x + b with W from init.gaussian on the same stream.
    gen = np.random.default_rng(5)
    W = init.gaussian(30, 30, sw, gen)
    b = gen.standard_normal((30, 1)) * sb
    assert np.allclose(a[0], W @ x + b)


@pytest.mark.parametrize("dropout", [None, 0.8])
def test_a_network_sampled_layer_by_layer_is_the_network_with_its_weights_drawn(dropout):
    """The default sampler draws W phi(h) from its exact Gaussian law: the lengths and correlations of
    every layer, their means and their seed-to-seed spread at a small width (where finite-width
    fluctuations are large), match those of networks whose weights are drawn, within sampling error."""
    N, depth, n_seeds, sw, sb = 12, 4, 3000, 1.8, 0.3
    x = networks.scale_to_length(networks.correlated_inputs(N, 0.5, rng=3), np.array([0.6, 1.4]), sw, sb)
    stats = {}
    for draw_weights in (False, True):
        q, c = zip(*(networks.layer_statistics(networks.simulate(x, depth, sw, sb, rng=seed, dropout=dropout,
                                                                  draw_weights=draw_weights))
                     for seed in range(n_seeds * draw_weights, n_seeds * (1 + draw_weights))))
        stats[draw_weights] = np.concatenate([np.array(q), np.array(c)[:, :, 0, 1:]], axis=2)   # (seeds, layer, 3)
    a, b = stats[False], stats[True]
    se = np.sqrt((a.var(axis=0) + b.var(axis=0)) / n_seeds)
    # Twelve means (four layers, two lengths and a correlation): each within 4 standard errors.
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < 4 * se)
    # The spread across networks, a finite-width effect: the variances agree within 15%
    # (the standard error of a variance ratio from 3,000 draws of these skewed statistics is about 4%).
    assert np.all(np.abs(a.var(axis=0) / b.var(axis=0) - 1) < 0.15)


def test_sampling_a_layer_copes_with_parallel_inputs():
    x = np.repeat(np.random.default_rng(0).standard_normal((40, 1)), 2, axis=1)
    h = networks.simulate(x, 3, 1.5, 0.0, rng=1)
    assert np.all(np.isfinite(h)) and np.allclose(h[:, :, 0], h[:, :, 1])
    with pytest.raises(ValueError, match="^draw_weights must"):
        networks.simulate(x, 3, 1.5, 0.0, draw_weights=1)


def test_great_circle_starts_as_a_circle():
    sw, sb, N = 2.0, 0.3, 200
    r = networks.propagate_circle(N, 1, sw, sb, n_points=32, rng=0)
    qs = mf.q_star(sw, sb)
    assert r["euclidean"][0] == pytest.approx(2 * np.pi * np.sqrt(N * qs), rel=1e-12)
    assert r["kappa_sq"][0] == pytest.approx(1 / qs, rel=1e-12)
    assert r["grassmannian"][0] == pytest.approx(2 * np.pi, rel=1e-12)   # a circle's unit tangent turns once
    r = networks.propagate_circle(N, 1, sw, sb, n_points=32, rng=0, q=0.5)
    assert r["kappa_sq"][0] == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize("weights", ["orthogonal", "gaussian"])
def test_linear_jacobian_is_the_product_of_the_weights(weights):
    # With phi = identity the Jacobian is W^L ... W^1 exactly.
    ev = networks.jacobian_spectrum(20, 3, 1.3, 0.0, "linear", weights, rng=2, q0=1.0)
    gen = np.random.default_rng(2)
    gen.standard_normal(20)                                 # the input draw
    J = np.eye(20)
    for _ in range(3):
        W = init.draw(weights, 20, 20, 1.3, gen)
        gen.standard_normal(20)                             # the biases (zero here)
        J = W @ J
    assert np.allclose(ev, np.sort(np.linalg.svd(J, compute_uv=False) ** 2))


@pytest.mark.parametrize("call,name", [
    (lambda: networks.simulate(np.ones((4, 2)), 0, 1.0, 0.1), "depth"),
    (lambda: networks.simulate(np.ones((4, 2)), 2, 1.0, 0.1, dropout=0.0), "dropout"),
    (lambda: networks.simulate(np.ones((4, 2)), 2, 0.0, 0.1), "sigma_w"),
    (lambda: networks.simulate(np.ones((4, 2)), 2, 1.0, 0.1, "sigmoid"), "phi"),
    (lambda: networks.propagate_circle(10, 2, 1.0, 0.1, "relu"), "phi"),
    (lambda: networks.propagate_circle(10, 2, 1.0, 0.1, n_points=4), "n_points"),
    (lambda: networks.gradient_norms(np.ones((4, 2)), 1, 1.0, 0.1), "depth"),
    (lambda: networks.jacobian_spectrum(1, 3, 1.0, 0.1), "width"),
    (lambda: networks.jacobian_spectrum(10, 3, np.sqrt(2), 0.0, "relu"), "q0"),
    (lambda: networks.jacobian_spectrum(10, 3, 1.0, 0.1, weights="uniform"), "weights"),
    (lambda: networks.correlated_inputs(10, 1.5), "c"),
])
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()
