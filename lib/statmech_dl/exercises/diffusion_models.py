"""Checks for the exercises of the chapter *Diffusion models*."""

import numpy as np

from .. import diffusion
from . import assert_close, passed, require_callable

__all__ = ["check_marginal", "check_posterior_variance", "check_null_bound"]


def check_marginal(marginal):
    """Exercise ``ex-dm-marginal``: ``marginal(t, betas)``."""
    require_callable(marginal, "marginal")
    for betas in (diffusion.sd_betas(10), diffusion.linear_betas(30, 1e-3, 0.2)):
        for t in (0, 1, 4, len(betas)):
            assert_close(f"marginal({t}, betas)", marginal(t, betas), diffusion.forward_marginal(t, betas),
                         rtol=1e-10, atol=1e-14,
                         hint="Compose two Gaussian steps: means multiply, variances add after scaling.")
    passed()


def check_posterior_variance(posterior_variance):
    """Exercise ``ex-dm-posterior-variance``: ``posterior_variance(t, betas)``."""
    require_callable(posterior_variance, "posterior_variance")
    betas = diffusion.sd_betas(20)
    for t in (1, 2, 10, 20):
        assert_close(f"posterior_variance({t}, betas)", posterior_variance(t, betas),
                     diffusion.posterior(np.zeros(1), np.zeros(1), t, betas)[1], rtol=1e-10, atol=1e-14,
                     hint="Add the precisions of q(x_{t-1} | x_0) and of q(x_t | x_{t-1}) as a function of x_{t-1}.")
    passed()


def check_null_bound(null_bound):
    """Exercise ``ex-dm-null``: ``null_bound(d)``."""
    require_callable(null_bound, "null_bound")
    for d in (1, 2, 10):
        assert_close(f"null_bound({d})", null_bound(d), diffusion.null_bound(d), rtol=1e-12,
                     hint="Average the log of the standard Gaussian density over data of unit variance, "
                          "and convert nats to bits.")
    passed()
