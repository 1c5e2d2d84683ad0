"""Retina metrics against synthetic recordings whose true rate and noise are known."""

import numpy as np
import pytest

from statmech_dl import retina


def recordings(n_repeats, n_bins, noise_sd, rng):
    """Gaussian responses around a known rate: rate_t + noise; returns (rate, responses)."""
    t = np.arange(n_bins)
    rate = 2 + np.sin(t / 7) + 0.5 * np.cos(t / 3)
    return rate, rate + noise_sd * rng.standard_normal((n_repeats, n_bins))


def test_split_half_reliability_matches_the_theory():
    rng = np.random.default_rng(0)
    for K, sd in [(4, 0.5), (10, 1.0), (20, 2.0)]:
        rate, r = recordings(K, 4000, sd, rng)
        expected = np.var(rate) / (np.var(rate) + sd**2 / K)
        assert retina.split_half_reliability(r, 50, rng) == pytest.approx(expected, abs=0.02)


def test_feve_is_one_for_the_true_rate_and_zero_for_the_mean():
    rng = np.random.default_rng(1)
    rate, r = recordings(10, 5000, 1.0, rng)
    assert retina.fraction_of_explainable_variance_explained(rate, r) == pytest.approx(1.0, abs=0.02)
    assert retina.fraction_of_explainable_variance_explained(np.full(5000, r.mean()), r) == pytest.approx(
        0.0, abs=0.02)
    # Plain FEV charges the true rate for the noise: 1 - noise / total variance.
    assert retina.fraction_of_variance_explained(rate, r) == pytest.approx(
        np.var(rate) / (np.var(rate) + 1.0), abs=0.02)
    assert retina.noise_variance(r) == pytest.approx(1.0, abs=0.03)


def test_rate_correlation_of_the_true_rate_reaches_the_ceiling():
    rng = np.random.default_rng(2)
    rate, r = recordings(12, 4000, 1.5, rng)
    # corr(rate, K-mean) = sqrt(reliability of the K-mean).
    ceiling = np.sqrt(retina.split_half_reliability(r, 50, rng))
    assert retina.rate_correlation(rate, r) == pytest.approx(ceiling, abs=0.02)


def test_retina_bad_arguments():
    with pytest.raises(ValueError, match="^responses must have shape"):
        retina.split_half_reliability(np.ones((1, 10)))
    with pytest.raises(ValueError, match="^prediction must have shape"):
        retina.rate_correlation(np.ones(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="no explainable variance"):
        retina.fraction_of_explainable_variance_explained(np.arange(4.0), np.ones((3, 4)))
