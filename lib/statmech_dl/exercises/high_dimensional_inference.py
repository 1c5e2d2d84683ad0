"""Checks for the exercises of the chapter *High-dimensional inference*."""

import numpy as np

from .. import inference
from . import assert_close, passed, require_callable

__all__ = ["check_min_norm_error", "check_huber_prox", "check_sparse_posterior_mean"]


def check_min_norm_error(min_norm_error):
    """Exercise ``ex-hdi-minnorm``: ``min_norm_error(alpha, noise_var)`` for alpha < 1."""
    require_callable(min_norm_error, "min_norm_error")
    for alpha, s2 in [(0.1, 0.0), (0.3, 0.5), (0.6, 1.0), (0.9, 0.2)]:
        assert_close(f"min_norm_error({alpha}, {s2})", min_norm_error(alpha, s2),
                     inference.least_squares_error(alpha, s2), rtol=1e-9,
                     hint="Add the variance of the signal outside the row space to the noise that "
                          "(X X^T)^{-1} amplifies.")
    passed()


def check_huber_prox(huber_prox):
    """Exercise ``ex-hdi-huber-prox``: ``huber_prox(x, lam, k)``."""
    require_callable(huber_prox, "huber_prox")
    x = np.linspace(-5, 5, 41)
    for lam, k in [(0.5, 1.0), (2.0, 0.3), (0.1, 2.0)]:
        expected = inference._prox_loss("huber", x, lam, k)[0]
        assert_close(f"huber_prox(x, {lam}, {k})", huber_prox(x, lam, k), expected, rtol=1e-9, atol=1e-12,
                     hint="Solve the optimality condition on each piece of the loss, and check where "
                          "each solution is consistent.")
    passed()


def check_sparse_posterior_mean(sparse_posterior_mean):
    """Exercise ``ex-hdi-sparse-denoiser``: ``sparse_posterior_mean(v, delta, rho)``."""
    require_callable(sparse_posterior_mean, "sparse_posterior_mean")
    v = np.linspace(-4, 4, 33)
    for delta, rho in [(0.1, 0.1), (0.5, 0.3), (2.0, 0.8)]:
        expected = inference.posterior_mean(v, delta, ("bernoulli_gauss", rho))
        assert_close(f"sparse_posterior_mean(v, {delta}, {rho})", sparse_posterior_mean(v, delta, rho),
                     expected, rtol=1e-8, atol=1e-12,
                     hint="Weigh the posterior mean given a nonzero component by the posterior "
                          "probability that it is nonzero.")
    passed()
