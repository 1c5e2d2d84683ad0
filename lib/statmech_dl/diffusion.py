r"""Diffusion models: the forward process, its posteriors, and likelihood bounds on a data set of known density.

The library of the chapter *Diffusion models* (Sohl-Dickstein et al. 2015;
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
    "oracle_sample",
    "mmd",
    "sliced_wasserstein",
    "cross_entropy_bits",
    "kernel_stein_discrepancy",
    "ReverseModel",
    "train",
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
        m = scale * self.means
        # |x - m|^2 expanded into a matrix product: no (n, K, 2) array. The
        # cancellation costs ~1e-15 of |x|^2, far below a component's width.
        d2 = np.sum(x * x, axis=1)[:, None] - 2 * (x @ m.T) + np.sum(m * m, axis=1)[None, :]
        return -0.5 * np.maximum(d2, 0.0) / var - np.log(2 * np.pi * var)

    def _responsibilities(self, x, scale=1.0, var=None):
        """Posterior weights of the components for every point, shape (n, K); rows sum to 1."""
        logw = self._components(x, scale, var)
        w = np.exp(logw - logw.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)

    def log_prob(self, x):
        r""":math:`\log p(x)` in nats, shape (n,)."""
        x = self._points(x)
        return special.logsumexp(self._components(x), axis=1) - np.log(len(self.means))

    def score(self, x):
        r""":math:`\nabla_x\log p(x)`, shape (n, 2): the responsibility-weighted :math:`(m_k - x)/\sigma^2`."""
        x = self._points(x)
        return (self._responsibilities(x) @ self.means - x) / self.sd**2

    def conditional(self, coordinate, value):
        r"""The exact conditional of the other coordinate given ``x[coordinate] = value``: a 1-d mixture.

        :math:`p(x_{\bar c}\mid x_c) \propto \sum_k \mathcal N(x_c; m_{kc},
        \sigma^2)\,\mathcal N(x_{\bar c}; m_{k\bar c}, \sigma^2)`.

        Returns
        -------
        weights, means : ndarray, shape (K,)
        sd : float
        """
        c = v.integer("coordinate", coordinate, lo=0, hi=1)
        value = v.real("value", value)
        logw = -0.5 * (value - self.means[:, c]) ** 2 / self.sd**2
        w = np.exp(logw - special.logsumexp(logw))
        return w, self.means[:, 1 - c].copy(), self.sd

    def conditional_cdf(self, coordinate, value, x):
        """CDF of the exact conditional (:meth:`conditional`) at the points ``x``."""
        w, m, sd = self.conditional(coordinate, value)
        x = np.asarray(x, dtype=float)
        return special.ndtr((x[..., None] - m) / sd) @ w

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
        w = self._responsibilities(xt, scale=a, var=total)
        gain = a * self.sd**2 / total
        # Component k's mean of x0 is (1 - gain a) m_k + gain x_t, so the
        # mixture's moments need only the weighted first and second moments
        # of the component centres.
        keep = 1 - gain * a
        centre = w @ self.means
        spread = w @ (self.means * self.means) - centre * centre
        mean = keep * centre + gain * xt
        return mean, np.maximum(keep * keep * spread, 0.0) + self.sd**2 * s / total


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
    r"""Sohl-Dickstein et al.'s schedule, as in their code: :math:`\beta_t` is ``1/linspace(T, 2, T)``, from :math:`1/T`
    at :math:`t = 1` to :math:`1/2` at :math:`t = T`, with 0.001 added to :math:`\beta_1`.

    In closed form :math:`\beta_t = 1/\bigl(T - (t - 1)\tfrac{T - 2}{T - 1}\bigr)`: the
    reciprocals are evenly spaced.
    """
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


def _oracle_kernel(density, xt, t, betas, edge="learned"):
    # Mean and per-coordinate variance of the moment-matched Gaussian kernel
    # p(x_{t-1} | x_t) (eq. of oracle_bound); t = 1 is the decoder.
    ab = _alpha_bar(betas)
    m0, v0 = density.denoise(xt, np.sqrt(ab[t]), 1 - ab[t])
    if t == 1 and edge == "fixed":
        return np.sqrt(1 - betas[0]) * xt, np.full_like(xt, betas[0])
    if t == 1:
        return m0, np.maximum(v0, 1e-300)
    c0, ct, bt = _posterior_coefficients(t, betas)
    return c0 * m0 + ct * xt, bt + c0 * c0 * v0


def _noised_sample(density, t, betas, n, rng):
    ab = _alpha_bar(betas)
    x0 = density.sample(n, rng)
    return x0, np.sqrt(ab[t]) * x0 + np.sqrt(1 - ab[t]) * rng.standard_normal(x0.shape)


def oracle_bound(density, betas, n, rng=None, edge="learned"):
    r"""The best likelihood bound any Gaussian reverse kernels with diagonal variance can reach, in bits per data point.

    The bound of Sohl-Dickstein et al. (2015) in the arrangement of Ho et al.
    (2020, eq. 5)

    .. math::

        K = \mathbb E_q\Bigl[\log p(x_0\mid x_1)
        - \sum_{t=2}^T D_{\mathrm{KL}}\bigl(q(x_{t-1}\mid x_t, x_0)\,\|\,p(x_{t-1}\mid x_t)\bigr)
        - D_{\mathrm{KL}}\bigl(q(x_T\mid x_0)\,\|\,\mathcal N(0, I)\bigr)\Bigr]

    is maximised, for each :math:`x_t`, by the Gaussian kernel whose mean and
    per-coordinate variance are those of the true reverse conditional
    :math:`q(x_{t-1}\mid x_t)`: mean :math:`a_t\mathbb E[x_0\mid x_t] +
    b_tx_t` and variance :math:`\tilde\beta_t + a_t^2\operatorname{Var}[x_0\mid
    x_t]`, with :math:`\tilde\mu_t = a_tx_0 + b_tx_t`. For the mixture these
    moments are exact (:meth:`SwissRoll.denoise`). The average over
    :math:`x_0` given :math:`x_t` is then done in closed form: the step
    :math:`t \ge 2` contributes :math:`-\tfrac12\sum_i\log\bigl(1 +
    a_t^2\operatorname{Var}[x_{0,i}\mid x_t]/\tilde\beta_t\bigr)` nats and the
    decoder :math:`-\tfrac12\sum_i\log\bigl(2\pi
    e\operatorname{Var}[x_{0,i}\mid x_1]\bigr)`, so that only :math:`x_t` is
    sampled (``n`` draws per step, independent across steps), which removes
    the noise of :math:`x_0` from the estimate without changing its mean. The
    decoder :math:`p(x_0\mid x_1)` is the moment-matched Gaussian
    (``edge="learned"``). With ``edge="fixed"`` it is instead the paper's
    edge approximation: the last reverse step copies the forward step under
    the stationary Gaussian, :math:`p(x_0\mid x_1) = \mathcal
    N(\sqrt{\alpha_1}x_1, \beta_1I)`, which turns the :math:`t = 1` and prior
    terms into the entropy terms of the paper's eq. 14.

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
    if edge not in ("learned", "fixed"):
        raise ValueError(f"edge must be 'learned' or 'fixed', got {edge!r}")
    T = len(betas)
    ab = _alpha_bar(betas)
    # Each term's mean and variance (nats); terms of different steps are independent.
    means, variances = [], []

    def add(values):
        means.append(values.mean())
        variances.append(values.var(ddof=1) / n)

    # Decoder: E[log p(x0 | x1) | x1] for the Gaussian p(x0 | x1) = N(m, v).
    _, x1 = _noised_sample(density, 1, betas, n, rng)
    m0, v0 = density.denoise(x1, np.sqrt(ab[1]), 1 - ab[1])
    m, var = _oracle_kernel(density, x1, 1, betas, edge)
    add(-0.5 * np.sum(np.log(2 * np.pi * var) + (v0 + (m0 - m) ** 2) / var, axis=1))
    for t in range(2, T + 1):
        _, xt = _noised_sample(density, t, betas, n, rng)
        _, bt = _posterior_coefficients(t, betas)[1:]
        _, var = _oracle_kernel(density, xt, t, betas)
        # E over x0 | xt of KL(q(x_{t-1} | xt, x0) || N(mean, var)), the mean being matched.
        add(-0.5 * np.sum(np.log(var / bt), axis=1))
    # Prior term: KL(N(sqrt(ab_T) x0, (1 - ab_T) I) || N(0, I)).
    x0 = density.sample(n, rng)
    s2 = 1 - ab[T]
    add(-0.5 * np.sum(s2 + ab[T] * x0 * x0 - 1 - np.log(s2), axis=1))
    return float(np.sum(means) / _LOG2), float(np.sqrt(np.sum(variances)) / _LOG2)


def oracle_sample(density, betas, n, rng=None, known=None, edge="learned"):
    r"""Sample the reverse process with the oracle kernels of :func:`oracle_bound` (moment-matched Gaussians).

    ``known=(coordinate, value)`` inpaints as :meth:`ReverseModel.sample`
    does, so that the error of the inpainting *method* can be told from that
    of a trained model; ``edge`` as in :func:`oracle_bound`.
    """
    betas = _betas(betas)
    n = v.integer("n", n, lo=1)
    rng = v.as_generator(rng)
    if edge not in ("learned", "fixed"):
        raise ValueError(f"edge must be 'learned' or 'fixed', got {edge!r}")
    ab = _alpha_bar(betas)
    x = rng.standard_normal((n, 2))
    for t in range(len(betas), 0, -1):
        if known is not None:
            x[:, known[0]] = np.sqrt(ab[t]) * known[1] + np.sqrt(1 - ab[t]) * rng.standard_normal(n)
        mean, var = _oracle_kernel(density, x, t, betas, edge)
        x = mean + np.sqrt(var) * rng.standard_normal((n, 2))
    if known is not None:
        x[:, known[0]] = known[1]
    return x


# --- sample quality --------------------------------------------------------------------

def mmd(x, y, bandwidth=None):
    r"""Squared maximum mean discrepancy with a Gaussian kernel (unbiased estimate).

    The bandwidth defaults to the median distance between points of the
    pooled sample (the usual heuristic). A sequence of bandwidths (``None``
    among them meaning the median) returns one value for each, sharing the
    distance matrix.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    z = np.vstack([x, y])
    d2 = _squared_distances(z, z)
    several = np.ndim(bandwidth) == 1
    out = []
    for h in (bandwidth if several else [bandwidth]):
        if h is None:
            h = np.sqrt(_median_off_diagonal(d2))
        h = v.real("bandwidth", h, lo=0.0, lo_open=True)
        # The kernel in float32 (its exp runs several times faster), summed in
        # float64: each block's mean is then right to about 1e-8, far below
        # the sampling spread of the estimate.
        k = np.exp((-d2 / (2 * h**2)).astype(np.float32))
        n, m = len(x), len(y)
        kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
        out.append(float((kxx.sum(dtype=float) - np.trace(kxx, dtype=float)) / (n * (n - 1))
                         + (kyy.sum(dtype=float) - np.trace(kyy, dtype=float)) / (m * (m - 1))
                         - 2 * kxy.sum(dtype=float) / (n * m)))
    return np.array(out) if several else out[0]


def _squared_distances(x, y):
    # Squared distances between the rows of x and those of y, without an
    # (n, m, d) intermediate and in place: the matrix is large (4000 points:
    # 128 MB), and each pass over it counts.
    d2 = x @ y.T
    d2 *= -2.0
    d2 += np.sum(x * x, axis=1)[:, None]
    d2 += np.sum(y * y, axis=1)[None, :]
    return np.maximum(d2, 0.0, out=d2)


def _median_off_diagonal(d2):
    # The median over pairs i < j of a symmetric matrix: the strict upper
    # triangle, gathered row by row (index arrays for it would take 128 MB
    # for 4000 points), then partitioned around its middle.
    n = len(d2)
    flat = np.concatenate([d2[i, i + 1:] for i in range(n - 1)])
    half = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, half)[half])
    lo, hi = np.partition(flat, [half - 1, half])[[half - 1, half]]
    return float(0.5 * (lo + hi))


def sliced_wasserstein(x, y, n_projections=100, rng=None):
    """Sliced 1-Wasserstein distance: the 1-d distance of sorted projections, averaged over random directions."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y):
        raise ValueError("x and y must hold the same number of points")
    rng = v.as_generator(rng)
    theta = rng.uniform(0, np.pi, n_projections)
    dirs = np.column_stack([np.cos(theta), np.sin(theta)])
    px, py = np.sort(x @ dirs.T, axis=0), np.sort(y @ dirs.T, axis=0)
    return float(np.mean(np.abs(px - py)))


def cross_entropy_bits(density, samples):
    r""":math:`-\mathbb E_{x \sim \text{samples}}\log_2 p(x)` under the true density, with its standard error.

    Equal to the data's entropy :math:`-L` for perfect samples. It is **not**
    a discrepancy: Gibbs' inequality bounds :math:`-\mathbb E_m \log p` below
    by the *sampler's* entropy, not the data's, so a sampler that is too
    concentrated (a thinner roll, or only the spine) scores *below* the
    data's entropy. It catches samples that are too spread out and misses
    samples that are too narrow; use :func:`kernel_stein_discrepancy` for a
    measure that vanishes only for the true density.
    """
    lp = -density.log_prob(samples) / _LOG2
    return float(lp.mean()), float(lp.std(ddof=1) / np.sqrt(len(lp)))


def kernel_stein_discrepancy(samples, score, bandwidth):
    r"""Squared kernel Stein discrepancy of ``samples`` against a density known through its score (U-statistic).

    .. math::

        \mathrm{KSD}^2 = \frac{1}{n(n-1)}\sum_{i \ne j} u(x_i, x_j), \qquad
        u(x, y) = s(x)^\top s(y)\,k + s(x)^\top\nabla_y k + s(y)^\top\nabla_x k
                  + \operatorname{tr}\nabla_x\nabla_y k ,

    with :math:`s = \nabla\log p` and the Gaussian kernel :math:`k(x, y) =
    e^{-\lVert x - y\rVert^2/2h^2}` of bandwidth :math:`h`. Its expectation
    is zero if and only if the samples come from :math:`p` (the kernel is
    characteristic and :math:`p` smooth), and positive otherwise: too wide
    and too narrow samplers alike. The U-statistic is unbiased, so it
    scatters around zero for exact samples, with a spread of order
    :math:`1/n`. Small bandwidths see fine structure (the gaps between the
    arms of a roll), large ones the overall shape.

    Parameters
    ----------
    samples : array_like, shape (n, d)
        At least 2 points.
    score : callable
        ``score(x)`` returns :math:`\nabla\log p(x)`, shape (n, d).
    bandwidth : float
        :math:`h > 0`.
    """
    x = v.matrix("samples", samples)
    if len(x) < 2:
        raise ValueError(f"samples must hold at least 2 points, got {len(x)}")
    h = v.real("bandwidth", bandwidth, lo=0.0, lo_open=True)
    if not callable(score):
        raise ValueError("score must be callable as score(x)")
    s = np.asarray(score(x), dtype=float)
    if s.shape != x.shape or not np.all(np.isfinite(s)):
        raise ValueError(f"score(samples) must return finite values of shape {x.shape}, got {s.shape}")
    n, d = x.shape
    sxi = np.sum(s * x, axis=1)   # s_i . x_i
    # u(x_i, x_j) is symmetric: sum the blocks on and above the diagonal of row blocks
    # (those above twice), each block assembled in place. Half the arithmetic, and blocks
    # small enough to stay in the cache.
    total, block = 0.0, 256
    for a in range(0, n, block):
        b = min(a + block, n)
        xa, sa = x[a:b], s[a:b]
        xr, sr = x[a:], s[a:]
        d2 = _squared_distances(xa, xr)
        k = np.exp(d2 / (-2 * h**2))
        # s(x)^T grad_y k = k s_i.(x_i - x_j)/h^2 and s(y)^T grad_x k = -k s_j.(x_i - x_j)/h^2.
        cross = sa @ xr.T             # s_i . x_j
        cross += xa @ sr.T            # + s_j . x_i
        cross -= sxi[a:b, None]
        cross -= sxi[None, a:]
        cross /= -h**2
        u = sa @ sr.T
        u += cross
        u += d / h**2
        d2 /= h**4
        u -= d2
        u *= k
        np.fill_diagonal(u, 0.0)      # the diagonal of the whole matrix lies in the first columns
        total += u[:, : b - a].sum() + 2.0 * u[:, b - a:].sum()
    return float(total / (n * (n - 1)))


# --- the reverse model in torch ----------------------------------------------------------

class ReverseModel:
    r"""A trained reverse process :math:`p(x_{t-1}\mid x_t) = \mathcal N(f_\mu(x_t, t), \operatorname{diag}f_\Sigma(x_t, t))`.

    Built by :func:`train`. The network is shared across time: random Fourier
    features of :math:`x_t`, two tanh layers, and a linear readout of its own
    for every step :math:`t` (as in the authors' swiss-roll model, whose
    readouts are per-step). With ``objective="bound"`` the readout gives
    :math:`g` and :math:`s` with

    .. math::

        f_\mu = \frac{x_t + \beta_t(g - x_t)}{\sqrt{\alpha_t}}, \qquad
        f_\Sigma = \frac{2\beta_t}{\alpha_t}\operatorname{sigmoid}(s),

    a mean in the form of the true reverse mean (:math:`g - x_t` plays the
    score; :math:`g = 0` is exact for Gaussian data of unit variance, and
    keeps trajectories from running away where the network was never
    trained) and a variance perturbed around :math:`\beta_t` and bounded, so
    that the KL terms cannot blow up. With ``objective="simple"`` (DDPM) it
    predicts the noise, :math:`\hat\varepsilon = \sqrt{1-\bar\alpha_t}x_t + g`
    and :math:`f_\mu = (x_t - \beta_t\hat\varepsilon/\sqrt{1-\bar\alpha_t})/\sqrt{\alpha_t}`,
    with the fixed variance :math:`\beta_t`.
    """

    def __init__(self, net, betas, objective):
        self.net, self.betas, self.objective = net, np.asarray(betas, float), objective
        #: The network's dtype (float32: see :func:`train`); inputs are cast to it.
        self.dtype = next(net.parameters()).dtype
        self.history = {}

    def _kernel(self, xt, t):
        """Mean and variance tensors of p(x_{t-1} | x_t) for integer step tensor t."""
        import torch

        b = torch.as_tensor(self.betas, dtype=xt.dtype)[t - 1][:, None]
        a = 1 - b
        out = self.net(xt, t)
        # The network learns a bounded correction to the exact answer for Gaussian
        # data of unit variance (score -x_t, noise sqrt(1 - alpha_bar) x_t): far
        # from the data, where it was never trained (and where periodic features
        # alias), the kernel still pulls x_t back instead of amplifying it.
        ab = torch.as_tensor(_alpha_bar(self.betas), dtype=xt.dtype)[t][:, None]
        if self.objective == "bound":
            score = -xt + out[:, :2]
            return (xt + b * score) / torch.sqrt(a), 2 * b / a * torch.sigmoid(out[:, 2:])
        eps = torch.sqrt(1 - ab) * xt + out[:, :2]
        return (xt - b / torch.sqrt(1 - ab) * eps) / torch.sqrt(a), b.expand(-1, 2)

    def bound(self, x, n_repeats=4, seed=0):
        r"""The bound :math:`K` in bits per data point, averaged over ``x`` and ``n_repeats`` forward paths, summing every step."""
        import torch

        from . import torch_utils

        x = torch_utils.tensor(np.repeat(np.asarray(x, float), n_repeats, axis=0), dtype=self.dtype)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            total = _prior_kl(x, self.betas).double()
            for t in range(1, len(self.betas) + 1):
                total = total + _step_loss(self, x, torch.full((x.shape[0],), t), gen)[0].double()
        return float(-total.mean() / _LOG2)

    def oracle_gap(self, density, n, rng=None, per_step=False):
        r"""How far the model's bound is below the oracle's, :math:`K_{\mathrm{oracle}} - K`, in bits per data point.

        For every :math:`x_t` the bound's step term, averaged over
        :math:`x_0` given :math:`x_t`, differs between any Gaussian kernel
        :math:`p` and the oracle kernel :math:`p^*` of :func:`oracle_bound`
        (the moment-matched one) by exactly :math:`D_{\mathrm{KL}}(p^*(\cdot\mid
        x_t)\,\|\,p(\cdot\mid x_t))`, because the step term depends on
        :math:`x_0` only through the first two moments of :math:`\tilde\mu_t`.
        Hence

        .. math::

            K_{\mathrm{oracle}} - K = \sum_{t=1}^T \mathbb E_{x_t\sim q(x_t)}
            D_{\mathrm{KL}}\bigl(p^*(x_{t-1}\mid x_t)\,\|\,p(x_{t-1}\mid x_t)\bigr)
            \ \ge 0,

        which is estimated here with ``n`` draws of :math:`x_t` per step from
        ``density`` (the data the model was trained on). Its noise is that of
        the gap alone, far below that of the two bounds estimated
        separately.

        Returns
        -------
        gap, stderr : float
            Bits per point and the Monte Carlo standard error; or, with
            ``per_step=True``, two arrays of length :math:`T`: each step's
            term and its standard error (index 0 is the decoder,
            :math:`t = 1`).
        """
        import torch

        n = v.integer("n", n, lo=2)
        rng = v.as_generator(rng)
        means, variances = [], []
        for t in range(1, len(self.betas) + 1):
            _, xt = _noised_sample(density, t, self.betas, n, rng)
            m, var = _oracle_kernel(density, xt, t, self.betas)
            with torch.no_grad():
                mt, vt = self._kernel(torch.as_tensor(xt, dtype=self.dtype), torch.full((n,), t))
            mt, vt = mt.double().numpy(), vt.double().numpy()
            kl = 0.5 * np.sum(np.log(vt / var) + (var + (m - mt) ** 2) / vt - 1, axis=1) / _LOG2
            means.append(kl.mean())
            variances.append(kl.var(ddof=1) / n)
        if per_step:
            return np.array(means), np.sqrt(variances)
        return float(np.sum(means)), float(np.sqrt(np.sum(variances)))

    def sample(self, n, seed=0, trajectory=False, known=None):
        r"""``n`` samples of the reverse process from :math:`x_T \sim \mathcal N(0, I)`.

        With ``trajectory=True`` return all of :math:`x_T, \dots, x_0`, shape
        (T + 1, n, 2). ``known=(coordinate, value)`` inpaints: at every step
        the known coordinate of :math:`x_{t-1}` is replaced by a draw from the
        forward marginal of the known value, :math:`\mathcal
        N(\sqrt{\bar\alpha_{t-1}}c, 1 - \bar\alpha_{t-1})` (exactly :math:`c` at
        :math:`t = 1`), so that the other coordinate evolves next to it. This
        replacement is a simple stand-in, **not** the paper's posterior
        multiplication (Sohl-Dickstein et al. 2015, Sec. 2.5), which
        multiplies each reverse kernel by a factor :math:`r(x_{t-1})`; it
        ignores the correlation between the known coordinate and the path of
        the unknown one, and only partly conditions the samples.
        """
        import torch

        from . import torch_utils

        n = v.integer("n", n, lo=1)
        gen = torch.Generator().manual_seed(int(seed))
        ab = _alpha_bar(self.betas)
        x = torch.randn(n, 2, generator=gen, dtype=self.dtype)
        path = [x]
        with torch.no_grad():
            for t in range(len(self.betas), 0, -1):
                if known is not None:
                    k, c = known
                    x = x.clone()
                    x[:, k] = np.sqrt(ab[t]) * c + np.sqrt(1 - ab[t]) * torch.randn(n, generator=gen, dtype=x.dtype)
                mean, var = self._kernel(x, torch.full((n,), t))
                x = mean + torch.sqrt(var) * torch.randn(n, 2, generator=gen, dtype=mean.dtype)
                if known is not None and t == 1:
                    x[:, known[0]] = known[1]
                path.append(x)
        out = torch.stack(path) if trajectory else x
        return torch_utils.numpy(out)

    def inpaint(self, coordinate, value, n, seed=0):
        """Samples of the other coordinate given ``x[coordinate] = value`` (see :meth:`sample`)."""
        coordinate = v.integer("coordinate", coordinate, lo=0, hi=1)
        value = v.real("value", value)
        return self.sample(n, seed, known=(coordinate, value))[:, 1 - coordinate]


def _prior_kl(x0, betas):
    import torch

    abT = float(_alpha_bar(betas)[-1])
    s2 = 1 - abT
    return 0.5 * torch.sum(s2 + abT * x0 * x0 - 1 - np.log(s2), dim=1)


def _step_loss(model, x0, t, gen):
    """-log p(x0|x1) at t = 1, KL(q(x_{t-1}|x_t,x0) || p) for t >= 2, per point (nats)."""
    import torch

    betas = model.betas
    ab = torch.as_tensor(_alpha_bar(betas), dtype=x0.dtype)
    b = torch.as_tensor(betas, dtype=x0.dtype)[t - 1][:, None]
    eps = torch.randn(x0.shape, generator=gen, dtype=x0.dtype)
    xt = torch.sqrt(ab[t])[:, None] * x0 + torch.sqrt(1 - ab[t])[:, None] * eps
    mean, var = model._kernel(xt, t)
    abm = ab[t - 1][:, None]
    c0 = torch.sqrt(abm) * b / (1 - ab[t])[:, None]
    ct = torch.sqrt(1 - b) * (1 - abm) / (1 - ab[t])[:, None]
    bt = (1 - abm) * b / (1 - ab[t])[:, None]
    mu = c0 * x0 + ct * xt
    # At t = 1 the posterior variance is 0 and the KL is not used (the decoder
    # term is); give it a harmless variance there, or its infinite log would
    # turn the gradient of torch.where into NaN.
    bt = torch.where((t == 1)[:, None], torch.ones_like(bt), bt)
    kl = 0.5 * torch.sum(bt / var + (mu - mean) ** 2 / var - 1 + torch.log(var / bt), dim=1)
    nll = 0.5 * torch.sum(torch.log(2 * np.pi * var) + (x0 - mean) ** 2 / var, dim=1)
    return torch.where(t == 1, nll, kl), eps, xt


def _stratified_steps(batch_size, T, gen):
    # Every step floor(B / T) times, and the remaining B mod T slots to
    # distinct steps drawn at random: each step's expected share is exactly
    # 1 / T, so T times the batch mean is an unbiased estimate of the sum.
    import torch

    reps, extra = divmod(batch_size, T)
    return torch.cat([torch.arange(1, T + 1).repeat(reps), torch.randperm(T, generator=gen)[:extra] + 1])


def train(data, betas, n_steps, seed, objective="bound", n_features=64, width=64, scale=3.0, batch_size=1024,
          lr=5e-3, record_every=250, eval_data=None):
    r"""Train a reverse model on ``data`` (shape (n, 2)); return the :class:`ReverseModel`.

    ``objective="bound"`` maximises the bound :math:`K`: each minibatch draws
    its steps stratified over :math:`1\dots T` (each step
    :math:`\lfloor B/T\rfloor` times, the remaining :math:`B \bmod T`
    slots to distinct random steps) and the loss is :math:`T` times the mean
    per-step term plus the prior term, an unbiased estimate of :math:`-K`. ``objective="simple"`` minimises DDPM's
    :math:`L_{\mathrm{simple}} = \mathbb E\lVert\varepsilon -
    \hat\varepsilon(x_t, t)\rVert^2`, which is not the bound. Adam with a
    cosine learning-rate decay; float32, one thread, seeded by ``seed``.
    The model's ``history`` holds the step and, every ``record_every`` steps,
    the bound on ``eval_data`` (bits per point; one forward path per point,
    the same paths at every record).
    """
    import torch

    from . import torch_utils

    if objective not in ("bound", "simple"):
        raise ValueError(f"objective must be 'bound' or 'simple', got {objective!r}")
    data = v.matrix("data", data)
    if data.shape[1] != 2:
        raise ValueError(f"data must have shape (n, 2), got {data.shape}")
    betas = _betas(betas)
    n_steps = v.integer("n_steps", n_steps, lo=1)
    T = len(betas)
    torch.manual_seed(int(seed))
    gen = torch.Generator().manual_seed(int(seed) + 1)
    # float32: twice as fast as float64 on one thread, and the bound is
    # reported to two decimals of a bit (evaluations sum in float64).
    dtype = torch.float32

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("freq", scale * torch.randn(2, n_features, generator=gen, dtype=dtype))
            self.trunk = torch.nn.Sequential(
                torch.nn.Linear(2 * n_features, width), torch.nn.Tanh(),
                torch.nn.Linear(width, width), torch.nn.Tanh()).to(dtype)
            # One readout per step, started at zero: the initial kernel leaves x_t unchanged.
            self.readout = torch.nn.Parameter(torch.zeros(T + 1, width, 4, dtype=dtype))
            self.bias = torch.nn.Parameter(torch.zeros(T + 1, 4, dtype=dtype))

        def forward(self, x, t):
            z = x @ self.freq
            h = self.trunk(torch.cat([torch.sin(z), torch.cos(z)], dim=1))
            # Every step's readout at once, then each row's own: one matrix
            # product instead of gathering a (batch, width, 4) weight tensor,
            # whose backward pass is a slow scatter.
            every = (h @ self.readout.permute(1, 0, 2).reshape(h.shape[1], -1)).view(len(h), -1, 4)
            return every[torch.arange(len(h)), t] + self.bias[t]

    model = ReverseModel(Net(), betas, objective)
    X = torch_utils.tensor(data, dtype=dtype)
    opt = torch.optim.Adam(model.net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
    history = {"step": [], "bound": []}
    for step in range(1, n_steps + 1):
        x0 = X[torch.randint(0, X.shape[0], (batch_size,), generator=gen)]
        t = _stratified_steps(batch_size, T, gen)
        if objective == "bound":
            per_step, _, _ = _step_loss(model, x0, t, gen)
            loss = T * per_step.mean() + _prior_kl(x0, betas).mean()
        else:
            ab = torch.as_tensor(_alpha_bar(betas), dtype=dtype)[t][:, None]
            eps = torch.randn(x0.shape, generator=gen, dtype=x0.dtype)
            xt = torch.sqrt(ab) * x0 + torch.sqrt(1 - ab) * eps
            predicted = torch.sqrt(1 - ab) * xt + model.net(xt, t)[:, :2]
            loss = ((predicted - eps) ** 2).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if eval_data is not None and (step % record_every == 0 or step == n_steps):
            history["step"].append(step)
            # The same forward paths at every record (common random numbers):
            # the curve's changes are the model's, not the paths'.
            history["bound"].append(model.bound(eval_data, n_repeats=1, seed=0))
    model.history = {k: np.array(val) for k, val in history.items()}
    return model
