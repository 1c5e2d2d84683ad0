"""Checks for the exercises of the chapter *High-dimensional inference*."""

import numpy as np

from .. import inference
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = ["check_ridge_error", "check_cramer_rao_error", "check_sparse_posterior_mean"]


@recorded
def check_ridge_error(ridge_error):
    """Exercise ``ex-hdi-ridge``: ``ridge_error(alpha, noise_var, gamma)``, the asymptotic error of ridge regression."""
    require_callable(ridge_error, "ridge_error")
    for alpha in (0.3, 1.0, 2.5):
        for s2, gamma in [(0.1, 0.05), (0.5, 0.5), (2.0, 3.0)]:
            assert_close(f"ridge_error({alpha}, {s2}, {gamma})", ridge_error(alpha, s2, gamma),
                         inference.ridge_error(alpha, s2, gamma), rtol=1e-8,
                         hint="Both proximal maps are linear, so every expectation in the equations is a "
                              "second moment. Solve for the loss's response lambda_rho first (it obeys a "
                              "quadratic), then for q, which enters linearly.")
    passed()


@recorded
def check_cramer_rao_error(cramer_rao_error):
    """Exercise ``ex-hdi-cramer-rao``: ``cramer_rao_error(alpha)``, the bound's q for Laplace noise of unit variance."""
    require_callable(cramer_rao_error, "cramer_rao_error")
    for alpha in (1.5, 3.0, 6.0):
        # The learner's quadrature and root finding: a relative accuracy of 1e-4 is ample.
        assert_close(f"cramer_rao_error({alpha})", cramer_rao_error(alpha),
                     inference.m_estimation_error(alpha, "optimal", "laplace"), rtol=1e-4,
                     hint="Smooth the Laplace density with a Gaussian of variance q, compute the Fisher "
                          "information of the result by quadrature, and solve q alpha J = 1 for q (in "
                          "log q, by bisection). Check that q alpha tends to 1/2, the classical bound, as "
                          "alpha grows.")
    passed()


@recorded
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
