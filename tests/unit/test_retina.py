"""The retina module: metrics against recordings with a known rate, the synthetic retina against its own
averages, and the fitted models against circuits whose filters are known."""

import os
import pickle

import numpy as np
import pytest

from statmech_dl import retina
from statmech_dl import retina as rt


def recordings(n_repeats, n_frames, noise_sd, rng, n_cells=2):
    """Gaussian responses (shifted to stay non-negative) around known rates; returns (rate, trials)."""
    t = np.arange(n_frames)[:, None]
    rate = 20 + np.sin(t / 7 + np.arange(n_cells)) + 0.5 * np.cos(t / 3)
    return rate, rate + noise_sd * rng.standard_normal((n_repeats, n_frames, n_cells))


def test_split_half_reliability_matches_the_theory():
    rng = np.random.default_rng(0)
    for K, sd in [(4, 0.5), (10, 1.0), (20, 2.0)]:
        rate, r = recordings(K, 4000, sd, rng)
        expected = np.var(rate, axis=0) / (np.var(rate, axis=0) + sd**2 / K)
        raw, corrected = retina.split_half_reliability(r, rng, n_splits=30)
        np.testing.assert_allclose(corrected, expected, atol=0.02)
        # The raw split-half correlation is the reliability of K/2 repeats.
        half = np.var(rate, axis=0) / (np.var(rate, axis=0) + sd**2 / (K // 2))
        np.testing.assert_allclose(raw, half, atol=0.02)


def test_feve_is_one_for_the_true_rate_and_zero_for_the_mean():
    rng = np.random.default_rng(1)
    rate, r = recordings(10, 5000, 1.0, rng)
    np.testing.assert_allclose(retina.explainable_variance_explained(rate, r), 1.0, atol=0.02)
    mean = np.broadcast_to(r.mean(axis=(0, 1)), rate.shape)
    np.testing.assert_allclose(retina.explainable_variance_explained(mean, r), 0.0, atol=0.02)
    # Plain FEV charges the true rate for the noise: 1 - noise / total variance.
    np.testing.assert_allclose(retina.variance_explained(rate, r),
                               np.var(rate, axis=0) / (np.var(rate, axis=0) + 1.0), atol=0.02)
    np.testing.assert_allclose(retina.noise_variance(r), 1.0, atol=0.03)


def test_correlation_of_the_true_rate_reaches_the_ceiling():
    rng = np.random.default_rng(2)
    rate, r = recordings(12, 4000, 1.5, rng)
    # corr(rate, K-trial mean) = sqrt(reliability of the K-trial mean).
    _, corrected = retina.split_half_reliability(r, rng, n_splits=30)
    np.testing.assert_allclose(retina.correlation(rate, r.mean(axis=0)), np.sqrt(corrected), atol=0.02)
    np.testing.assert_allclose(retina.correlation(rate, 3 * rate + 1), 1.0, atol=1e-12)


def test_fano_factor_of_poisson_and_binomial_counts():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.1, 0.5, size=(2000, 1))
    poisson = rng.poisson(3 * p, size=(40, 2000, 1))
    binomial = rng.binomial(3, p, size=(40, 2000, 1))
    assert retina.fano_factor(poisson)[0] == pytest.approx(1.0, abs=0.02)
    expected = np.mean(3 * p * (1 - p)) / np.mean(3 * p)
    assert retina.fano_factor(binomial)[0] == pytest.approx(expected, abs=0.02)


def test_rank1_filter_and_similarity():
    rng = np.random.default_rng(4)
    t, s = rng.standard_normal(12), rng.standard_normal(7)
    temporal, spatial, fraction = retina.rank1_filter(np.outer(t, s))
    assert fraction == pytest.approx(1.0, abs=1e-12)
    assert abs(temporal @ t) / np.linalg.norm(t) == pytest.approx(1.0, abs=1e-12)
    assert abs(spatial @ s) / np.linalg.norm(s) == pytest.approx(1.0, abs=1e-12)
    # Sign flips and shifts within max_shift do not count as mismatches; larger shifts do.
    bump = np.exp(-0.5 * (np.arange(15) - 7.0) ** 2)
    shifted = -np.roll(bump, 2)
    assert retina.filter_similarity(shifted, bump, max_shift=2) == pytest.approx(1.0, abs=1e-9)
    assert retina.filter_similarity(shifted, bump, max_shift=0) < 0.4
    assert retina.filter_similarity(np.r_[0.0, 1.0], np.r_[1.0, 0.0]) == 0.0
    # align_profile undoes the shift and the sign that filter_similarity allowed for.
    np.testing.assert_allclose(retina.align_profile(shifted, bump, max_shift=2), bump, atol=1e-6)
    with pytest.raises(ValueError, match="same length"):
        retina.align_profile(bump[:-1], bump, max_shift=2)


def test_best_unit_correlation_finds_the_matching_unit():
    rng = np.random.default_rng(16)
    targets = rng.standard_normal((500, 3))
    units = np.zeros((500, 2, 4))                        # one dead unit stays at zero
    units[:, 0, :3] = -2 * targets + 0.01 * rng.standard_normal((500, 3))
    units[:, 1] = rng.standard_normal((500, 4))
    best = retina.best_unit_correlation(units, targets)
    assert best.shape == (3,) and np.all(best > 0.99)
    noise = retina.best_unit_correlation(units[:, 1], targets)
    assert np.all(noise < 0.2)
    with pytest.raises(ValueError, match="^units must have shape"):
        retina.best_unit_correlation(units[:10], targets)


@pytest.fixture(scope="module")
def synthetic():
    return retina.SyntheticRetina()


def test_synthetic_retina_shapes_and_stimuli(synthetic):
    rng = np.random.default_rng(5)
    for kind in ("natural", "white_noise"):
        s = synthetic.stimulus(kind, 250, rng)
        assert s.shape == (250, synthetic.n_pixels)
        counts = synthetic.respond(s, rng, n_repeats=3)
        assert counts.shape == (3, 250, synthetic.n_cells)
        assert counts.min() >= 0 and counts.max() <= synthetic.n_max
        assert synthetic.expected_counts(s, n_noise=5).shape == (250, synthetic.n_cells)
    # Each class is calibrated so that the linear bipolar drive has unit variance.
    for kind in ("natural", "white_noise"):
        x = synthetic._drive(synthetic.stimulus(kind, 3000, rng))[synthetic.temporal_length:]
        assert np.std(x) == pytest.approx(1.0, abs=0.1)


def test_natural_scenes_have_a_one_over_f_power_spectrum(synthetic):
    rng = np.random.default_rng(6)
    image = retina.one_over_f_image(128, rng)
    power = np.abs(np.fft.fft2(image)) ** 2
    fx = np.fft.fftfreq(128)
    f = np.hypot(fx[:, None], fx[None, :])
    keep = (f > 0.02) & (f < 0.4)
    slope = np.polyfit(np.log(f[keep]), np.log(power[keep]), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.05)
    s = synthetic.stimulus("natural", 4000, rng)
    # Fixational drift makes consecutive frames alike; white noise frames are independent.
    assert np.corrcoef(s[:-1].ravel(), s[1:].ravel())[0, 1] > 0.9
    w = synthetic.stimulus("white_noise", 4000, rng)
    assert abs(np.corrcoef(w[:-1].ravel(), w[1:].ravel())[0, 1]) < 0.02


def test_expected_counts_are_the_mean_over_repeats(synthetic):
    rng = np.random.default_rng(7)
    s = synthetic.stimulus("natural", 400, rng)
    trials = synthetic.respond(s, rng, n_repeats=300)
    expected = synthetic.expected_counts(s, n_noise=2000)
    # Where the cells fire (mean count > 0.1), the standardised differences are unbiased and of unit spread;
    # the Monte-Carlo error of the expectation (2000 noise draws) widens the spread by at most sqrt(1 + 300/2000).
    busy = (expected > 0.1) & (trials.std(axis=0) > 0)
    z = (trials.mean(axis=0) - expected)[busy] / (trials.std(axis=0, ddof=1)[busy] / np.sqrt(300))
    assert np.mean(z) == pytest.approx(0.0, abs=0.1)
    assert 0.93 < np.std(z) < 1.07 * np.sqrt(1 + 300 / 2000)
    # Binomial spiking is sub-Poisson.
    assert np.all(retina.fano_factor(trials) < 1)


def test_synthetic_retina_bad_arguments(synthetic):
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match="^kind must be one of"):
        synthetic.stimulus("movies", 10, rng)
    with pytest.raises(ValueError, match="^stimulus must have shape"):
        synthetic.respond(np.zeros((10, 7)), rng)
    with pytest.raises(ValueError, match="^n_repeats must be"):
        synthetic.respond(np.zeros((10, 40)), rng, n_repeats=0)


def ln_cell(rng, n_frames, n_lags, n_pixels, shape=None):
    """Poisson counts of an LN cell with a known (time-forwards) filter; returns (stimulus, counts, filter)."""
    shape = (n_pixels,) if shape is None else shape
    s = rng.standard_normal((n_frames, *shape))
    t = np.arange(n_lags)
    temporal = np.exp(-(n_lags - 1 - t) / 3.0) * np.sin((n_lags - 1 - t) / 2.0 + 0.3)
    coords = np.indices(shape)
    centre = (np.array(shape) - 1) / 2
    spatial = np.exp(-sum((c - m) ** 2 for c, m in zip(coords, centre)) / 4)
    kernel = temporal[(slice(None),) + (None,) * len(shape)] * spatial
    kernel /= np.linalg.norm(kernel)
    windows = np.lib.stride_tricks.sliding_window_view(s, n_lags, axis=0)        # (T', *shape, n_lags)
    drive = np.tensordot(windows, np.moveaxis(kernel, 0, -1), axes=len(shape) + 1)
    counts = np.zeros((n_frames, 1))
    counts[n_lags - 1:, 0] = rng.poisson(np.log1p(np.exp(2 * drive - 1)))
    return s, counts, kernel


def binary_ln_cell(rng, n_frames, n_pixels, n_lags, contrast, delay=2):
    """Poisson counts of an LN cell driven by binary white noise (each pixel +-contrast); returns (s, counts, filter).

    The filter is separable: a Gaussian in space (s.d. n_pixels / 8) times a damped cosine in time peaking
    ``delay`` frames before the response, unit norm, in the models' order (oldest frame first).
    """
    s = contrast * rng.choice([-1.0, 1.0], size=(n_frames, n_pixels))
    spatial = np.exp(-0.5 * ((np.arange(n_pixels) - (n_pixels - 1) / 2) / (n_pixels / 8)) ** 2)
    lag = np.arange(n_lags)[::-1]
    temporal = np.exp(-np.abs(lag - delay) / 1.5) * np.cos(lag / 2.0)
    kernel = np.outer(temporal, spatial)
    kernel /= np.linalg.norm(kernel)
    windows = np.lib.stride_tricks.sliding_window_view(s, n_lags, axis=0)
    drive = np.einsum("jpl,lp->j", windows, kernel)
    counts = np.zeros((n_frames, 1))
    counts[n_lags - 1:, 0] = rng.poisson(np.logaddexp(0.0, 2 * drive - 0.5))
    return s, counts, kernel


@pytest.mark.parametrize("contrast, n_pixels, n_lags", [(0.5, 8, 4), (1.0, 16, 8), (2.0, 40, 16), (1.0, 16, 16)])
def test_fit_ln_recovers_known_filters_at_several_contrasts_sizes_and_lags(contrast, n_pixels, n_lags):
    rng = np.random.default_rng(1)
    s, counts, kernel = binary_ln_cell(rng, 20_000, n_pixels, n_lags, contrast)
    model = retina.fit_ln(s, counts, n_lags)
    learned = model.first_layer()[0]
    assert learned.shape == kernel.shape
    # The estimation error of a D-dimensional filter from n samples leaves
    # 1 - cos of order D / (2 n I), with I the Fisher information per sample
    # along the filter; at D <= 640 and n = 20,000 it was at most 0.007
    # (0.9931 at D = 256), and it halves when n doubles.
    cos = np.sum(learned * kernel) / np.linalg.norm(learned)
    assert cos >= 0.99
    # The prediction follows the true rate.
    windows = np.lib.stride_tricks.sliding_window_view(s, n_lags, axis=0)
    rate = np.logaddexp(0.0, 2 * np.einsum("jpl,lp->j", windows, kernel) - 0.5)
    assert np.corrcoef(model.predict(s)[:, 0], rate)[0, 1] > 0.99


def test_fit_ln_solves_the_case_where_the_old_torch_fitter_failed():
    # The review's cell: a Gaussian spatial filter with a two-frame delay on
    # 16 pixels of binary noise, 10,000 frames, 8 lags. The old minibatch
    # Adam fit went uphill here (a wrong float32 convolution gradient in
    # torch's CPU backend for a kernel as wide as its input) and predicted
    # the rate with r ~ 0.
    rng = np.random.default_rng(0)
    s = rng.choice([-1.0, 1.0], size=(10_000, 16))
    kernel = np.zeros((8, 16))
    kernel[8 - 1 - 2] = np.exp(-0.5 * ((np.arange(16) - 7.5) / 2) ** 2)
    kernel /= np.linalg.norm(kernel)
    windows = np.lib.stride_tricks.sliding_window_view(s, 8, axis=0)
    rate = np.logaddexp(0.0, np.einsum("jpl,lp->j", windows, kernel) - 0.5)
    counts = np.zeros((10_000, 1))
    counts[7:, 0] = rng.poisson(rate)
    model = retina.fit_ln(s, counts, 8)
    assert np.corrcoef(model.predict(s)[:, 0], rate)[0, 1] > 0.95
    learned = model.first_layer()[0]
    assert np.sum(learned * kernel) / np.linalg.norm(learned) > 0.95


def newton_ln(X, Y, l2, n_iter=50):
    """An independent solver of the penalised Poisson-softplus loss: plain Newton's method, exact Hessian, float64."""
    A = np.c_[X, np.ones(len(X))]
    theta = np.zeros(A.shape[1])
    theta[-1] = np.log(np.expm1(Y.mean()))
    penalty = np.r_[np.full(X.shape[1], l2), 0.0]

    def loss(t):
        z = A @ t
        return np.mean(np.logaddexp(0, z) - Y * np.log(np.logaddexp(0, z))) + np.sum(penalty * t ** 2)

    for _ in range(n_iter):
        z = A @ theta
        sp, sig = np.logaddexp(0, z), 1 / (1 + np.exp(-z))
        d1 = sig - Y * sig / sp
        d2 = sig * (1 - sig) - Y * (sig * (1 - sig) / sp - sig ** 2 / sp ** 2)
        grad = A.T @ d1 / len(A) + 2 * penalty * theta
        hess = (A * d2[:, None]).T @ A / len(A) + 2 * np.diag(penalty)
        step, t = np.linalg.solve(hess, grad), 1.0
        while loss(theta - t * step) > loss(theta) and t > 1e-8:
            t /= 2
        theta = theta - t * step
    return theta[:-1], theta[-1], loss(theta)


@pytest.mark.parametrize("l2", [0.0, 1e-3, 1e-1])
def test_fit_ln_reaches_the_convex_optimum_of_an_independent_newton_solver(l2):
    rng = np.random.default_rng(3)
    n_lags, n_pixels = 3, 6
    s = rng.standard_normal((3000, n_pixels))
    windows = np.lib.stride_tricks.sliding_window_view(s, n_lags, axis=0)
    X = np.moveaxis(windows, -1, 1).reshape(len(windows), -1)
    w = rng.standard_normal((X.shape[1], 2)) * 0.3
    counts = np.zeros((3000, 2))
    counts[n_lags - 1:] = rng.poisson(np.logaddexp(0, X @ w - 0.3))
    model = retina.fit_ln(s, counts, n_lags, l2=l2)
    assert np.all(model.history["gradient_norm"] < 1e-6)
    for c in range(2):
        w_newton, b_newton, loss_newton = newton_ln(X, counts[n_lags - 1:, c], l2)
        learned = model.first_layer()[c].ravel()
        # Both stop where the gradient is ~1e-7 on a problem of condition ~10:
        # the weights agree to ~1e-6 and the losses to ~1e-12.
        np.testing.assert_allclose(learned, w_newton, atol=1e-5)
        np.testing.assert_allclose(model._bias[c], b_newton, atol=1e-5)
        z = X @ learned + model._bias[c]
        y = counts[n_lags - 1:, c]
        loss = np.mean(np.logaddexp(0, z) - y * np.log(np.logaddexp(0, z))) + l2 * learned @ learned
        assert loss - loss_newton < 1e-10


def test_fit_ln_chooses_the_penalty_per_cell_on_held_out_data():
    rng = np.random.default_rng(4)
    s, counts, _ = binary_ln_cell(rng, 20_000, 16, 8, 1.0)
    # A second cell whose spikes ignore the stimulus: any filter is noise.
    counts = np.c_[counts, rng.poisson(0.8, size=20_000)]
    model = retina.fit_ln(s, counts, 8)
    h = model.history
    assert h["validation_nll"].shape == (len(h["l2_grid"]), 2)
    np.testing.assert_array_equal(h["l2"], h["l2_grid"][np.argmin(h["validation_nll"], axis=0)])
    assert h["l2"][1] == h["l2_grid"].max() and h["l2"][0] < h["l2"][1]
    held = retina.fit_ln(s, counts, 8, refit=False)
    # 19,993 windows, 80% of them rounded (15,994), plus the 7 frames of history.
    assert held.history["n_fit_frames"] == 16_001 and "n_iter" not in held.history
    np.testing.assert_array_equal(held.history["l2"], h["l2"])


def test_fit_ln_bad_arguments():
    rng = np.random.default_rng(5)
    s = rng.standard_normal((400, 6))
    counts = rng.poisson(1.0, size=(400, 2))
    with pytest.raises(ValueError, match="^l2 must lie in"):
        retina.fit_ln(s, counts, 3, l2=-1.0)
    with pytest.raises(ValueError, match="^l2_grid must lie in"):
        retina.fit_ln(s, counts, 3, l2_grid=[1e-3, -1])
    with pytest.raises(ValueError, match="^validation_fraction must lie in"):
        retina.fit_ln(s, counts, 3, validation_fraction=0.7)
    with pytest.raises(ValueError, match="^counts must hold at least one spike in every cell"):
        retina.fit_ln(s, np.c_[counts[:, :1], np.zeros(400)], 3)
    with pytest.raises(ValueError, match="^tol must lie in"):
        retina.fit_ln(s, counts, 3, tol=0)
    with pytest.raises(ValueError, match="did not converge in max_iter = 1"):
        retina.fit_ln(s, counts, 3, l2=0.0, max_iter=1)


def test_fit_cnn_early_stopping_returns_the_network_with_the_lowest_held_out_loss():
    rng = np.random.default_rng(6)
    s, counts, _ = binary_ln_cell(rng, 3000, 16, 6, 1.0)
    model = retina.fit_cnn(s, counts, 6, seed=0, n_steps=200, validation_fraction=0.25, validate_every=20)
    h = model.history
    np.testing.assert_array_equal(h["validation_step"], np.arange(20, 201, 20))
    assert h["best_step"] == h["validation_step"][np.argmin(h["validation_nll"])]
    held_s, held_c = s[2250:], counts[2250 + 5:, 0]
    rate = model.predict(held_s)[:, 0]
    np.testing.assert_allclose(np.mean(rate - held_c * np.log(rate)), h["validation_nll"].min(), rtol=1e-5)
    with pytest.raises(ValueError, match="^validation_fraction must lie in"):
        retina.fit_cnn(s, counts, 6, validation_fraction=0.0)


@pytest.mark.parametrize("shape, kernel", [((40,), (25, 11)), ((8, 8), (6, 8, 8))])
def test_cnn_first_layer_gradient_in_float32_matches_float64(shape, kernel):
    # torch 2.13's CPU backend computes a wrong float32 weight gradient for
    # some convolutions whose kernel spans the whole input; guard the
    # shapes the CNN trains with against float64 autograd.
    import torch

    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.functional.conv2d if len(shape) == 1 else torch.nn.functional.conv3d
    x = torch.randn(8, 1, 88, *shape, generator=gen)
    w = torch.randn(8, 1, *kernel, generator=gen)
    grads = []
    for dtype in (torch.float32, torch.float64):
        wd = w.detach().to(dtype).clone().requires_grad_()
        out = conv(x.to(dtype), wd)
        (out * torch.ones_like(out)).sum().backward()
        grads.append(wd.grad.double())
    scale = grads[1].abs().max()
    assert (grads[0] - grads[1]).abs().max() / scale < 1e-5


def test_fit_ln_and_cnn_take_images_and_the_cnn_shrinks_its_kernels():
    rng = np.random.default_rng(10)
    s, counts, kernel = ln_cell(rng, 3000, 6, None, shape=(8, 8))
    ln = retina.fit_ln(s, counts, 6)
    assert np.sum(ln.first_layer()[0] * kernel) / np.linalg.norm(ln.first_layer()[0]) > 0.9
    cnn = retina.fit_cnn(s, counts, 6, seed=0, kernels=(11, 7), n_steps=200)
    assert cnn.first_layer().shape == (8, 6, 8, 8)
    h1, h2 = cnn.hidden(s[:100])
    assert h1.shape == (95, 8, 1, 1) and h2.shape == (95, 8, 1, 1)
    prediction = cnn.predict(s)
    assert prediction.shape == (3000 - 6 + 1, 1) and np.all(prediction > 0)
    assert retina.correlation(prediction, ln.predict(s))[0] > 0.8


@pytest.mark.parametrize("n_cells, rate", [(1, 0.005), (3, 0.5), (9, 5.0)])
def test_fit_cnn_handles_any_number_of_cells_and_rates_from_sparse_to_dense(n_cells, rate):
    rng = np.random.default_rng(11)
    s = rng.standard_normal((2000, 23))
    counts = rng.poisson(rate, size=(2000, n_cells))
    model = retina.fit_cnn(s, counts, 10, seed=1, n_steps=50)
    p = model.predict(s)
    assert p.shape == (1991, n_cells) and np.all(np.isfinite(p)) and np.all(p > 0)
    # The output starts at the mean count and does not drift far from it on stimulus-independent data.
    np.testing.assert_allclose(p.mean(axis=0), counts.mean(axis=0), rtol=0.5, atol=0.01)


def test_fits_are_seeded():
    rng = np.random.default_rng(12)
    s = rng.standard_normal((800, 12))
    counts = rng.poisson(1.0, size=(800, 2))
    a = retina.fit_cnn(s, counts, 5, seed=3, n_steps=20).predict(s)
    b = retina.fit_cnn(s, counts, 5, seed=3, n_steps=20).predict(s)
    np.testing.assert_array_equal(a, b)
    noisy = retina.fit_cnn(s, counts, 5, seed=3, n_steps=20)
    np.testing.assert_array_equal(noisy.predict(s, noise=True, rng=1), noisy.predict(s, noise=True, rng=1))
    assert not np.array_equal(noisy.predict(s, noise=True, rng=1), noisy.predict(s, noise=True, rng=2))


@pytest.mark.slow
def test_cnn_predicts_on_off_cells_that_the_ln_model_cannot(synthetic):
    rng = np.random.default_rng(13)
    s = synthetic.stimulus("natural", 20000, rng)
    counts = synthetic.respond(s, rng)[0]
    test = synthetic.stimulus("natural", 1500, rng)
    rate = synthetic.expected_counts(test)[24:]
    ln = retina.correlation(retina.fit_ln(s, counts, 25).predict(test), rate)
    cnn = retina.correlation(retina.fit_cnn(s, counts, 25).predict(test), rate)
    on_off = np.array(synthetic.cell_types) == "ON-OFF"
    assert np.all(ln[on_off] < 0.3) and np.all(cnn[on_off] > 0.8)
    assert np.all(cnn > ln)


def test_models_bad_arguments():
    rng = np.random.default_rng(14)
    s = rng.standard_normal((50, 6))
    counts = rng.poisson(1.0, size=(50, 2))
    with pytest.raises(ValueError, match="^stimulus must have at least n_lags"):
        retina.fit_ln(s[:4], counts[:4], 5)
    with pytest.raises(ValueError, match="^counts must have one row per stimulus frame"):
        retina.fit_cnn(s, counts[:40], 5)
    with pytest.raises(ValueError, match="^counts must be non-negative"):
        retina.fit_ln(s, -counts, 5)
    with pytest.raises(ValueError, match="^stimulus must have shape"):
        retina.fit_ln(np.zeros(50), counts, 5)
    with pytest.raises(ValueError, match="^n_lags must be"):
        retina.fit_cnn(s, counts, 0)
    model = retina.fit_ln(s, counts, 5, l2=1e-2)
    with pytest.raises(ValueError, match="^stimulus must have frames of shape"):
        model.predict(np.zeros((50, 7)))
    with pytest.raises(ValueError, match="noise=True needs a CNN"):
        model.predict(s, noise=True)


def test_metrics_bad_arguments():
    rng = np.random.default_rng(15)
    trials = rng.poisson(2.0, size=(4, 30, 2)).astype(float)
    with pytest.raises(ValueError, match="^trials must have shape"):
        retina.split_half_reliability(trials[:1], rng)
    with pytest.raises(ValueError, match="^trials must be a 3-d array"):
        retina.noise_variance(trials[0])
    with pytest.raises(ValueError, match="^prediction must have shape"):
        retina.explainable_variance_explained(np.ones((30, 3)), trials)
    with pytest.raises(ValueError, match="^trials must hold non-negative counts"):
        retina.fano_factor(-trials)
    with pytest.raises(ValueError, match="no explainable variance"):
        retina.explainable_variance_explained(np.ones((30, 2)), np.broadcast_to(trials[:1] * 0 + 1, (4, 30, 2)))
    with pytest.raises(ValueError, match="must vary over frames"):
        retina.correlation(np.ones((30, 2)), trials[0])


def test_fit_cnn_patience_ends_training_after_that_many_validations_without_improvement():
    rng = np.random.default_rng(7)
    s = rng.standard_normal((1500, 12))
    counts = rng.poisson(0.5, size=(1500, 1))          # nothing to learn: the held-out loss soon stops improving
    model = retina.fit_cnn(s, counts, 5, seed=0, n_steps=2000, validation_fraction=0.3, validate_every=10,
                           patience=3)
    h = model.history
    steps, losses = h["validation_step"], h["validation_nll"]
    assert steps[-1] < 2000 and h["step"][-1] == steps[-1]
    # It stopped exactly three validations after the best one.
    assert len(losses) - 1 - np.argmin(losses) == 3
    with pytest.raises(ValueError, match="^patience must be an integer in"):
        retina.fit_cnn(s, counts, 5, validation_fraction=0.3, patience=0)


def test_filter_similarity_signed_tells_a_flipped_filter_and_pooled_field_matches_the_drive(synthetic):
    a = np.array([0.0, 1.0, 2.0, 1.0, 0.0])
    assert retina.filter_similarity(-a, a, signed=True) == pytest.approx(-1.0)
    assert retina.filter_similarity(-a, a) == pytest.approx(1.0)
    # The pooled field applied to a stimulus is the pool of the subunits' linear drive.
    rng = np.random.default_rng(8)
    s = rng.standard_normal((200, synthetic.n_pixels))
    x = synthetic._drive(s)                                       # (200, n_subunits), causal
    field = synthetic.pooled_receptive_field()                    # (cells, temporal_length, pixels), forwards
    L = synthetic.temporal_length
    windows = np.lib.stride_tricks.sliding_window_view(s, L, axis=0)   # (200 - L + 1, pixels, L)
    drive = np.einsum("jpl,clp->jc", windows, field)
    np.testing.assert_allclose(drive, x[L - 1:] @ synthetic._ganglion_pool.T, atol=1e-12)


def test_reversing_grating_and_its_harmonics():
    g = rt.reversing_grating(12, 10, bar_width=2, half_cycle=3, phase=1, contrast=0.5)
    assert g.shape == (12, 10) and set(np.unique(g)) == {-0.5, 0.5}
    # Bars of two pixels, shifted by one; every third frame all bars swap.
    np.testing.assert_array_equal(g[0], 0.5 * np.array([-1, 1, 1, -1, -1, 1, 1, -1, -1, 1]))
    np.testing.assert_array_equal(g[3], -g[0])
    np.testing.assert_array_equal(g[6], g[0])
    # Known sinusoids at the reversal frequency and twice it.
    t = np.arange(120)
    r = np.stack([2.0 * np.cos(2 * np.pi * t / 20) + 0.5 * np.sin(2 * np.pi * t / 10 + 1.0),
                  np.abs(np.cos(np.pi * t / 10))], axis=1)
    f1, f2 = rt.harmonic_amplitudes(r, 10)
    np.testing.assert_allclose([f1[0], f2[0]], [2.0, 0.5], atol=1e-12)
    # |cos| repeats every reversal: no first harmonic.
    assert f1[1] < 1e-12 and f2[1] > 0.1
    with pytest.raises(ValueError, match="^response must span whole cycles"):
        rt.harmonic_amplitudes(r[:110], 10)
    with pytest.raises(ValueError, match="^bar_width must"):
        rt.reversing_grating(12, 10, 0, 3)


def test_drive_contributions_add_up_to_the_drive():
    torch = pytest.importorskip("torch")
    retina = rt.SyntheticRetina()
    rng = np.random.default_rng(3)
    s = retina.stimulus("natural", 400, rng)
    # The retina: ON, OFF and amacrine shares sum to the pooled drive.
    parts = retina.drive_contributions(s, 4, n_noise=5)
    layers = retina.interneurons(s, n_noise=5)
    pool = retina._ganglion_pool[4]
    drive = (layers["on"] + layers["off"] - retina.inhibition * layers["amacrine"]) @ pool
    np.testing.assert_allclose(parts.sum(axis=(1, 2)), drive, atol=1e-12)
    assert parts.shape == (400, 3, retina.n_subunits)
    # An ON cell pools no OFF bipolar.
    assert np.all(retina.drive_contributions(s, 0, n_noise=5)[:, 1] == 0)
    # The CNN: the hidden units' shares plus the bias give the rate through softplus.
    counts = retina.respond(s, rng)[0]
    model = rt.fit_cnn(s, counts, 10, seed=0, n_steps=5)
    shares, bias = model.drive_contributions(s, 2)
    z = shares.sum(axis=(1, 2)) + bias
    rate = np.logaddexp(0.0, z) + 1e-3
    np.testing.assert_allclose(rate, model.predict(s)[:, 2], rtol=1e-5)
    with pytest.raises(ValueError, match="^cell must"):
        model.drive_contributions(s, 6)
    with pytest.raises(ValueError, match="^cell must"):
        retina.drive_contributions(s, -1)


def _two_recordings(n_frames=600):
    retina_ = rt.SyntheticRetina()
    rng = np.random.default_rng(5)
    data = {}
    for kind in ("natural", "white_noise"):
        s = retina_.stimulus(kind, n_frames, rng)
        data[kind] = (s, retina_.respond(s, rng)[0])
    return data


_LN_OPTIONS = dict(validation_fraction=0.2, refit=False)
_CNN_OPTIONS = dict(seed=1, n_steps=30, validation_fraction=0.2, validate_every=10)


@pytest.mark.parametrize("parallel", [False, True])
def test_fitting_ln_and_cnn_together_gives_the_models_of_separate_fits(parallel):
    pytest.importorskip("torch")
    data = _two_recordings()
    both = rt.fit_ln_and_cnn(data, 6, _LN_OPTIONS, _CNN_OPTIONS, parallel=parallel)
    assert list(both) == list(data)
    for kind, (s, c) in data.items():
        ln = rt.fit_ln(s, c, 6, **_LN_OPTIONS)
        cnn = rt.fit_cnn(s, c, 6, **_CNN_OPTIONS)
        np.testing.assert_array_equal(both[kind]["LN"].predict(s), ln.predict(s))
        np.testing.assert_array_equal(both[kind]["CNN"].predict(s), cnn.predict(s))
        np.testing.assert_array_equal(both[kind]["CNN"].history["validation_nll"], cnn.history["validation_nll"])
        assert both[kind]["LN"].history["l2"].tolist() == ln.history["l2"].tolist()
    with pytest.raises(ValueError, match="^data must be a non-empty dict"):
        rt.fit_ln_and_cnn({}, 6)
    with pytest.raises(ValueError, match="^parallel must be True, False or None"):
        rt.fit_ln_and_cnn(data, 6, parallel="yes")


def test_fits_in_workers_that_die_or_cannot_start_are_made_here(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    data = _two_recordings(300)
    expected = rt.fit_ln_and_cnn(data, 6, _LN_OPTIONS, _CNN_OPTIONS, parallel=False)
    fit, here = rt._fit, os.getpid()
    calls = []

    def dies_in_a_worker(*args):
        if os.getpid() != here:
            (tmp_path / f"worker-{os.getpid()}").touch()
            os._exit(1)
        calls.append(args[0])
        return fit(*args)

    # Sent to the workers by name, as the function it replaces.
    dies_in_a_worker.__module__, dies_in_a_worker.__qualname__ = rt.__name__, "_fit"
    monkeypatch.setattr(rt, "_fit", dies_in_a_worker)
    died = rt.fit_ln_and_cnn(data, 6, _LN_OPTIONS, _CNN_OPTIONS, parallel=True)
    assert list(tmp_path.glob("worker-*")), "no fit was sent to a worker"
    # Every fit was made again here: the workers' deaths lost nothing.
    assert sorted(calls) == ["CNN", "CNN", "LN", "LN"]
    monkeypatch.setattr(rt, "_worker_pool", lambda n: None)
    calls.clear()
    no_pool = rt.fit_ln_and_cnn(data, 6, _LN_OPTIONS, _CNN_OPTIONS, parallel=True)
    assert sorted(calls) == ["CNN", "CNN", "LN", "LN"]
    for kind, (s, _) in data.items():
        for models in (died, no_pool):
            for name in ("LN", "CNN"):
                np.testing.assert_array_equal(models[kind][name].predict(s), expected[kind][name].predict(s))


def test_fits_stay_in_this_process_by_default_when_memory_or_cores_are_short(monkeypatch):
    pytest.importorskip("torch")
    data = _two_recordings(300)
    assert 0 < rt._available_memory_gb() < float("inf")
    assert rt._available_cores() >= 1

    def no_pool(n):
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(rt, "_worker_pool", no_pool)
    monkeypatch.setattr(rt, "_available_cores", lambda: 2)
    monkeypatch.setattr(rt, "_available_memory_gb", lambda: rt.WORKER_MEMORY_GB / 2)
    rt.fit_ln_and_cnn(data, 6, _LN_OPTIONS, _CNN_OPTIONS)
    monkeypatch.setattr(rt, "_available_cores", lambda: 1)
    monkeypatch.setattr(rt, "_available_memory_gb", lambda: 64.0)
    rt.fit_ln_and_cnn(data, 6, _LN_OPTIONS, _CNN_OPTIONS)


def test_a_pickled_cnn_predicts_exactly_as_before():
    pytest.importorskip("torch")
    s, c = _two_recordings(300)["natural"]
    cnn = rt.fit_cnn(s, c, 6, seed=2, n_steps=5)
    copy = pickle.loads(pickle.dumps(cnn))
    np.testing.assert_array_equal(copy.predict(s), cnn.predict(s))
    np.testing.assert_array_equal(copy.predict(s, noise=True, rng=np.random.default_rng(1)),
                                  cnn.predict(s, noise=True, rng=np.random.default_rng(1)))
    np.testing.assert_array_equal(copy.first_layer(), cnn.first_layer())
    assert not copy.network.training
    ln = rt.fit_ln(s, c, 6, l2=0.01)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ln)).predict(s), ln.predict(s))
