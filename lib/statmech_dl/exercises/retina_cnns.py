"""Checks for the exercises of the chapter *Retina CNNs*."""

import numpy as np

from .. import retina
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = ["check_spearman_brown", "check_feve", "check_linear_drive", "check_binomial_fano", "check_loss_curvature"]


@recorded
def check_spearman_brown(spearman_brown):
    """Exercise ``ex-rc-spearman-brown``: ``spearman_brown(rho, factor)``, the reliability of ``factor`` times as many repeats."""
    require_callable(spearman_brown, "spearman_brown")
    for rho, n in [(0.5, 2), (0.3, 4), (0.9, 0.5), (0.0, 3), (0.75, 1)]:
        assert_close(f"spearman_brown({rho}, {n})", spearman_brown(rho, n), n * rho / (1 + (n - 1) * rho),
                     rtol=1e-10, atol=1e-12,
                     hint="Write the reliability of an average of m repeats as Var(rate) / (Var(rate) + "
                          "noise / m), then eliminate the noise-to-signal ratio.")
    passed()


@recorded
def check_feve(feve):
    """Exercise ``ex-rc-feve``: ``feve(prediction, trials)`` for trials ``(n_repeats, n_frames, n_cells)``."""
    require_callable(feve, "feve")
    rng = np.random.default_rng(11)
    for K, T, C in [(2, 50, 1), (5, 200, 3), (12, 400, 2)]:
        rate = rng.gamma(2.0, 1.0, size=(T, C))
        trials = rng.poisson(rate, size=(K, T, C)).astype(float)
        prediction = rate + 0.3 * rng.standard_normal((T, C))
        assert_close(f"feve(prediction, trials) with {K} repeats", feve(prediction, trials),
                     retina.explainable_variance_explained(prediction, trials), rtol=1e-8,
                     hint="Subtract the noise variance (the variance across repeats, unbiased, averaged over "
                          "frames) from both the mean squared error and the total variance.")
    passed()


@recorded
def check_linear_drive(linear_drive):
    """Exercise ``ex-rc-alignment``: ``linear_drive(stimulus, kernel)`` with the chapter's alignment."""
    require_callable(linear_drive, "linear_drive")
    rng = np.random.default_rng(12)
    for T, L, P in [(30, 4, 5), (100, 10, 8), (12, 12, 3)]:
        s, kernel = rng.standard_normal((T, P)), rng.standard_normal((L, P))
        windows = np.lib.stride_tricks.sliding_window_view(s, L, axis=0)     # (T-L+1, P, L)
        expected = np.einsum("jpl,lp->j", windows, kernel)
        assert_close(f"linear_drive(stimulus of {T} frames, kernel of {L} lags)", linear_drive(s, kernel), expected,
                     rtol=1e-9, atol=1e-9,
                     hint="Row j uses frames j, ..., j + L - 1, and kernel row 0 weights the oldest of them; "
                          "a causal convolution would weight the newest.")
    passed()


@recorded
def check_binomial_fano(binomial_fano):
    """Exercise ``ex-rc-binomial-fano``: ``binomial_fano(mean_p, var_p, n_max)``, the Fano factor of a binomial
    count whose spike probability varies across trials with mean ``mean_p`` and variance ``var_p``."""
    require_callable(binomial_fano, "binomial_fano")
    for m, var, n in [(0.3, 0.0, 3), (0.3, 0.02, 3), (0.1, 0.005, 10), (0.6, 0.1, 1), (0.5, 0.05, 50)]:
        # Law of total variance: E[Var(n | p)] + Var(E[n | p]).
        expected = (n * m - n * (var + m ** 2) + n ** 2 * var) / (n * m)
        assert_close(f"binomial_fano({m}, {var}, {n})", binomial_fano(m, var, n), expected, rtol=1e-9,
                     hint="Split the variance of the count into the mean of the binomial variance "
                          "n_max p (1 - p) over trials, which needs E[p^2] = var_p + mean_p^2, and the variance "
                          "of the mean count n_max p; divide by the mean count.")
    passed()


@recorded
def check_loss_curvature(loss_curvature):
    """Exercise ``ex-rc-convexity``: ``loss_curvature(z, n)``, the second derivative in z of the Poisson loss
    softplus(z) - n log softplus(z)."""
    require_callable(loss_curvature, "loss_curvature")
    z = np.linspace(-8.0, 8.0, 33)
    for n in (0.0, 1.0, 3.0, 10.0):
        sp = np.logaddexp(0.0, z)
        sigma = 1.0 / (1.0 + np.exp(-z))
        expected = sigma * (1 - sigma) - n * (sigma * (1 - sigma) / sp - sigma ** 2 / sp ** 2)
        assert_close(f"loss_curvature(z, n={n:g}) on z in [-8, 8]", loss_curvature(z, n), expected,
                     rtol=1e-7, atol=1e-12,
                     hint="Differentiate twice with softplus' = sigma and sigma' = sigma (1 - sigma); the "
                          "log term gives a quotient rule.")
    passed()
