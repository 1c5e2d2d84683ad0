r"""Diffusion models: the forward process, its posteriors, and likelihood bounds on a data set of known density.

Groundwork for the chapter *Diffusion models* (Sohl-Dickstein et al. 2015;
Ho et al. 2020). The forward process adds Gaussian noise in :math:`T` steps,

.. math::

    q(x_t \mid x_{t-1}) = \mathcal N\bigl(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_tI\bigr),
    \qquad
    q(x_t \mid x_0) = \mathcal N\bigl(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t)I\bigr),

with :math:`\alpha_t = 1 - \beta_t` and :math:`\bar\alpha_t = \prod_{s \le t}
\alpha_s`. ``betas[t-1]`` is :math:`\beta_t`. The data set is a swiss roll
made as an exact mixture of Gaussians (:func:`swiss_roll`), so that its
log-likelihood, the posterior :math:`q(x_{t-1}\mid x_t)` of the reverse
process and the best bound any Gaussian reverse kernel can reach
(:func:`oracle_bound`) are all computable. Likelihoods are in bits per data
point unless a name says nats.
"""

import numpy as np
from scipy import special

from . import _validation as v

__all__ = [
    "SwissRoll",
    "swiss_roll",
    "sd_betas",
    "linear_betas",
    "forward_marginal",
    "posterior",
    "posterior_precision_form",
    "null_bound",
    "oracle_bound",
    "log_likelihood",
]

_LOG2 = np.log(2.0)


class SwissRoll:
    r"""An equal-weight mixture of isotropic Gaussians in the plane (see :func:`swiss_roll`).

    Attributes
    ----------
    means : ndarray, shape (K, 2)
    sd : float
        The common standard deviation of the components.
    """

    def __init__(self, means, sd):
        self.means = np.asarray(means, dtype=float)
        self.sd = float(sd)

    def _points(self, x):
        x = v.real_array("x", x)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (n, 2), got {x.shape}")
        return x

    def sample(self, n, rng=None):
        """``n`` points, shape (n, 2)."""
        n = v.integer("n", n, lo=1)
        rng = v.as_generator(rng)
        k = rng.integers(0, len(self.means), n)
        return self.means[k] + self.sd * rng.standard_normal((n, 2))

    def _components(self, x, scale=1.0, var=None):
        """log N(x; scale * m_k, var I) for every point and component, shape (n, K)."""
        var = self.sd**2 if var is None else var
        d2 = np.sum((x[:, None, :] - scale * self.means[None, :, :]) ** 2, axis=2)
        return -0.5 * d2 / var - np.log(2 * np.pi * var)

    def log_prob(self, x):
        r""":math:`\log p(x)` in nats, shape (n,)."""
        x = self._points(x)
        return special.logsumexp(self._components(x), axis=1) - np.log(len(self.means))

    def score(self, x):
        r""":math:`\nabla_x\log p(x)`, shape (n, 2): the responsibility-weighted :math:`(m_k - x)/\sigma^2`."""
        x = self._points(x)
        logw = self._components(x)
        w = np.exp(logw - special.logsumexp(logw, axis=1, keepdims=True))
        return (w @ self.means - x) / self.sd**2

    def denoise(self, xt, signal, noise_var):
        r"""Posterior mean and per-coordinate variance of :math:`x_0` given :math:`x_t = a x_0 + \sqrt{s}\,z`.

        Each component's posterior is Gaussian with mean :math:`m_k +
        \frac{a\sigma^2}{a^2\sigma^2 + s}(x_t - am_k)` and variance
        :math:`\frac{\sigma^2 s}{a^2\sigma^2 + s}`; they are mixed with the
        responsibilities of the components for :math:`x_t`.

        Returns
        -------
        mean : ndarray, shape (n, 2)
        var : ndarray, shape (n, 2)
        """
        a, s = float(signal), float(noise_var)
        xt = self._points(xt)
        total = a * a * self.sd**2 + s
        logw = self._components(xt, scale=a, var=total)
        w = np.exp(logw - special.logsumexp(logw, axis=1, keepdims=True))
        gain = a * self.sd**2 / total
        # Component means of x0 given xt, shape (n, K, 2).
        mu = self.means[None, :, :] + gain * (xt[:, None, :] - a * self.means[None, :, :])
        mean = np.einsum("nk,nkd->nd", w, mu)
        second = np.einsum("nk,nkd->nd", w, mu * mu) + self.sd**2 * s / total
        return mean, np.maximum(second - mean * mean, 0.0)


def swiss_roll(thickness=0.5, n_components=400):
    r"""The swiss roll of the chapter, as an exact mixture of Gaussians.

    Component means :math:`(t_k\cos t_k, t_k\sin t_k)` with :math:`t_k =
    1.5\pi(1 + 2(k + \tfrac12)/K)`, :math:`k = 0\dots K-1`, and standard
    deviation ``thickness``; the means are centred on their average, and
    means and standard deviation are then scaled by one constant so that the
    mixture has variance 1 per coordinate on average.
    """
    thickness = v.real("thickness", thickness, lo=0.0, lo_open=True)
    K = v.integer("n_components", n_components, lo=1)
    t = 1.5 * np.pi * (1 + 2 * (np.arange(K) + 0.5) / K)
    means = np.column_stack([t * np.cos(t), t * np.sin(t)])
    means -= means.mean(axis=0)
    var = np.mean(np.sum(means**2, axis=1)) / 2 + thickness**2
    scale = 1.0 / np.sqrt(var)
    return SwissRoll(means * scale, thickness * scale)


def _betas(betas):
    b = v.real_array("betas", betas, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    if b.ndim != 1:
        raise ValueError(f"betas must be a 1-d array, got shape {b.shape}")
    return b


def sd_betas(T):
    r"""Sohl-Dickstein et al.'s schedule: :math:`\beta_t = 1/(T - t + 1)` spaced as ``1/linspace(T, 2, T)``, with 0.001 added to :math:`\beta_1`."""
    T = v.integer("T", T, lo=2)
    b = 1.0 / np.linspace(T, 2, T)
    b[0] += 1e-3
    return b


def linear_betas(T, start=1e-4, end=0.02):
    """DDPM's linear schedule from ``start`` to ``end``."""
    T = v.integer("T", T, lo=1)
    start = v.real("start", start, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    end = v.real("end", end, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    return np.linspace(start, end, T)


def _alpha_bar(betas):
    return np.concatenate([[1.0], np.cumprod(1.0 - betas)])


def _step(t, betas):
    return v.integer("t", t, lo=0, hi=len(betas))


def forward_marginal(t, betas):
    r"""``(sqrt(alpha_bar_t), 1 - alpha_bar_t)``: :math:`q(x_t\mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}x_0, (1-\bar\alpha_t)I)`; ``t = 0`` gives ``(1, 0)``."""
    betas = _betas(betas)
    t = _step(t, betas)
    ab = _alpha_bar(betas)[t]
    return float(np.sqrt(ab)), float(1.0 - ab)


def _posterior_coefficients(t, betas):
    ab = _alpha_bar(betas)
    b = betas[t - 1]
    c0 = np.sqrt(ab[t - 1]) * b / (1 - ab[t])
    ct = np.sqrt(1 - b) * (1 - ab[t - 1]) / (1 - ab[t])
    return c0, ct, (1 - ab[t - 1]) * b / (1 - ab[t])


def posterior(x0, xt, t, betas):
    r"""``(mu_tilde, beta_tilde)`` of :math:`q(x_{t-1}\mid x_t, x_0)`, in DDPM's form, for :math:`1 \le t \le T`.

    .. math::

        \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t}x_0
        + \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t,
        \qquad
        \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t .
    """
    betas = _betas(betas)
    t = v.integer("t", t, lo=1, hi=len(betas))
    x0, xt = np.asarray(x0, dtype=float), np.asarray(xt, dtype=float)
    c0, ct, var = _posterior_coefficients(t, betas)
    return c0 * x0 + ct * xt, float(var)


def posterior_precision_form(x0, xt, t, betas):
    r"""The same posterior as Sohl-Dickstein et al. write it: precisions add, means are precision-weighted.

    :math:`q(x_{t-1}\mid x_0)` has precision :math:`1/(1-\bar\alpha_{t-1})` and
    :math:`q(x_t\mid x_{t-1})`, read as a function of :math:`x_{t-1}`, precision
    :math:`\alpha_t/\beta_t`, so the posterior variance is the inverse of their
    sum and its mean the precision-weighted average of
    :math:`\sqrt{\bar\alpha_{t-1}}x_0` and :math:`x_t/\sqrt{\alpha_t}`.
    """
    betas = _betas(betas)
    t = v.integer("t", t, lo=1, hi=len(betas))
    ab = _alpha_bar(betas)
    a = 1 - betas[t - 1]
    if t == 1:
        # q(x_0 | x_0) has infinite precision: the posterior is a point mass at x_0.
        return np.asarray(x0, float) + 0.0 * np.asarray(xt, float), 0.0
    p_prior, p_like = 1 / (1 - ab[t - 1]), a / betas[t - 1]
    var = 1 / (p_prior + p_like)
    mean = var * (p_prior * np.sqrt(ab[t - 1]) * np.asarray(x0, float) + p_like * np.asarray(xt, float) / np.sqrt(a))
    return mean, float(var)


def null_bound(dim):
    r"""Log-likelihood, in bits per data point, of data with unit variance per coordinate under :math:`\mathcal N(0, I)`: :math:`-\tfrac d2\log_2(2\pi e)`."""
    d = v.integer("dim", dim, lo=1)
    return -0.5 * d * np.log2(2 * np.pi * np.e)


def log_likelihood(density, n, rng=None):
    r"""Monte Carlo estimate of :math:`L = \mathbb E_p[\log_2 p(x)]` in bits, with its standard error."""
    n = v.integer("n", n, lo=2)
    x = density.sample(n, rng)
    lp = density.log_prob(x) / _LOG2
    return float(lp.mean()), float(lp.std(ddof=1) / np.sqrt(n))


def oracle_bound(density, betas, n, rng=None):
    r"""The best likelihood bound any Gaussian reverse kernels with diagonal variance can reach, in bits per data point.

    The bound (Sohl-Dickstein et al. 2015, eq. 14; in DDPM's arrangement)

    .. math::

        K = \mathbb E_q\Bigl[\log p(x_0\mid x_1)
        - \sum_{t=2}^T D_{\mathrm{KL}}\bigl(q(x_{t-1}\mid x_t, x_0)\,\|\,p(x_{t-1}\mid x_t)\bigr)
        - D_{\mathrm{KL}}\bigl(q(x_T\mid x_0)\,\|\,\mathcal N(0, I)\bigr)\Bigr]

    is maximised, for each :math:`x_t`, by the Gaussian kernel whose mean and
    per-coordinate variance are those of the true reverse conditional
    :math:`q(x_{t-1}\mid x_t)`: mean :math:`a_t\mathbb E[x_0\mid x_t] +
    b_tx_t` and variance :math:`\tilde\beta_t + a_t^2\operatorname{Var}[x_0\mid
    x_t]`, with :math:`\tilde\mu_t = a_tx_0 + b_tx_t`. For the mixture these
    moments are exact (:meth:`SwissRoll.denoise`); the expectation over
    :math:`(x_0, x_t)` is a Monte Carlo average over ``n`` pairs per step.
    The decoder :math:`p(x_0\mid x_1)` is likewise the moment-matched Gaussian.

    Returns
    -------
    bound : float
        Bits per data point.
    stderr : float
        Its Monte Carlo standard error.
    """
    betas = _betas(betas)
    n = v.integer("n", n, lo=2)
    rng = v.as_generator(rng)
    T = len(betas)
    ab = _alpha_bar(betas)
    d = 2
    terms = np.zeros(n)
    # Decoder term: x0 ~ data, x1 ~ q(x1 | x0), Gaussian p(x0 | x1) with the true posterior moments.
    x0 = density.sample(n, rng)
    x1 = np.sqrt(ab[1]) * x0 + np.sqrt(1 - ab[1]) * rng.standard_normal((n, d))
    m, var = density.denoise(x1, np.sqrt(ab[1]), 1 - ab[1])
    var = np.maximum(var, 1e-300)
    terms += -0.5 * np.sum(np.log(2 * np.pi * var) + (x0 - m) ** 2 / var, axis=1)
    for t in range(2, T + 1):
        x0 = density.sample(n, rng)
        xt = np.sqrt(ab[t]) * x0 + np.sqrt(1 - ab[t]) * rng.standard_normal((n, d))
        c0, ct, bt = _posterior_coefficients(t, betas)
        m0, v0 = density.denoise(xt, np.sqrt(ab[t]), 1 - ab[t])
        mean = c0 * m0 + ct * xt
        var = bt + c0 * c0 * v0
        mu_tilde = c0 * x0 + ct * xt
        kl = 0.5 * np.sum(bt / var + (mu_tilde - mean) ** 2 / var - 1 + np.log(var / bt), axis=1)
        terms -= kl
    # Prior term: KL(N(sqrt(ab_T) x0, (1 - ab_T) I) || N(0, I)).
    x0 = density.sample(n, rng)
    s2 = 1 - ab[T]
    terms -= 0.5 * np.sum(s2 + ab[T] * x0 * x0 - 1 - np.log(s2), axis=1)
    bits = terms / _LOG2
    return float(bits.mean()), float(bits.std(ddof=1) / np.sqrt(n))
