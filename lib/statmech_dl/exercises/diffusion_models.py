"""Checks for the exercises of the chapter *Diffusion models*."""

import numpy as np

from .. import diffusion
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = ["check_marginal", "check_posterior_variance", "check_null_bound", "check_gaussian_kl", "check_ksd_gaussian"]


@recorded
def check_marginal(marginal):
    """Exercise ``ex-dm-marginal``: ``marginal(t, betas)``."""
    require_callable(marginal, "marginal")
    for betas in (diffusion.sd_betas(10), diffusion.linear_betas(30, 1e-3, 0.2)):
        for t in (0, 1, 4, len(betas)):
            assert_close(f"marginal({t}, betas)", marginal(t, betas), diffusion.forward_marginal(t, betas),
                         rtol=1e-10, atol=1e-14,
                         hint="Compose two Gaussian steps: means multiply, variances add after scaling.")
    passed()


@recorded
def check_posterior_variance(posterior_variance):
    """Exercise ``ex-dm-posterior-variance``: ``posterior_variance(t, betas)``."""
    require_callable(posterior_variance, "posterior_variance")
    betas = diffusion.sd_betas(20)
    for t in (1, 2, 10, 20):
        assert_close(f"posterior_variance({t}, betas)", posterior_variance(t, betas),
                     diffusion.posterior(np.zeros(1), np.zeros(1), t, betas)[1], rtol=1e-10, atol=1e-14,
                     hint="Add the precisions of q(x_{t-1} | x_0) and of q(x_t | x_{t-1}) as a function of x_{t-1}.")
    passed()


@recorded
def check_null_bound(null_bound):
    """Exercise ``ex-dm-null``: ``null_bound(d)``."""
    require_callable(null_bound, "null_bound")
    for d in (1, 2, 10):
        assert_close(f"null_bound({d})", null_bound(d), diffusion.null_bound(d), rtol=1e-12,
                     hint="Average the log of the standard Gaussian density over data of unit variance, "
                          "and convert nats to bits.")
    passed()


@recorded
def check_gaussian_kl(gaussian_kl):
    """Exercise ``ex-dm-kl``: ``gaussian_kl(mu1, var1, mu2, var2)``, KL(N(mu1, var1 I) || N(mu2, var2 I)) in nats."""
    require_callable(gaussian_kl, "gaussian_kl")
    cases = [(np.zeros(2), 1.0, np.zeros(2), 1.0), (np.array([0.3, -1.0]), 0.2, np.array([0.1, 0.0]), 0.5),
             (np.array([1.0, 2.0, 3.0]), 2.0, np.zeros(3), 0.7), (np.array([0.5]), 0.01, np.array([0.4]), 0.02)]
    for mu1, v1, mu2, v2 in cases:
        d = len(mu1)
        expected = 0.5 * (d * v1 / v2 + np.sum((mu1 - mu2) ** 2) / v2 - d + d * np.log(v2 / v1))
        assert_close(f"gaussian_kl(mu1, {v1}, mu2, {v2}) in {d} dimensions", gaussian_kl(mu1, v1, mu2, v2),
                     expected, rtol=1e-9, atol=1e-12,
                     hint="Average log N(x; mu1, var1) - log N(x; mu2, var2) over x ~ N(mu1, var1 I): the "
                          "quadratic form under the second Gaussian averages to (d var1 + |mu1 - mu2|^2) / var2.")
    passed()


@recorded
def check_ksd_gaussian(ksd_gaussian):
    """Exercise ``ex-dm-ksd``: ``ksd_gaussian(m, v, h, d)``, the squared KSD of N(m, v I) samples against N(0, I)
    with a Gaussian kernel of bandwidth h (``m`` a vector of length d)."""
    require_callable(ksd_gaussian, "ksd_gaussian")
    for m, v, h, d in [(np.zeros(2), 1.0, 1.0, 2), (np.array([0.5, 0.0]), 1.0, 1.0, 2), (np.zeros(1), 0.5, 0.3, 1),
                       (np.array([0.2, -0.1, 0.4]), 2.0, 2.0, 3)]:
        tau = 2 * v * h**2 / (h**2 + 2 * v)
        expected = (h**2 / (h**2 + 2 * v)) ** (d / 2) * (
            np.sum(m**2) + d * v / 2 - d * tau / 4 - d * tau / h**2 + d / h**2 - d * tau / h**4)
        assert_close(f"ksd_gaussian(m, {v}, {h}, {d})", ksd_gaussian(m, v, h, d), expected, rtol=1e-8, atol=1e-12,
                     hint="With s(x) = -x the four terms combine to k (x.y - |r|^2/h^2 + d/h^2 - |r|^2/h^4) with "
                          "r = x - y; split x.y with c = (x + y)/2, and average over r under the Gaussian "
                          "tilted by the kernel.")
    passed()
