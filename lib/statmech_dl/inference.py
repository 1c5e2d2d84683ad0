r"""High-dimensional inference: the error of convex estimators when data and unknowns are comparable in number.

The convention of the chapter *High-dimensional inference*, used by every
function here:

* measurements :math:`y_\mu = x_\mu\cdot s^0 + \varepsilon_\mu`,
  :math:`\mu = 1\dots N`, with i.i.d. :math:`x_{\mu i} \sim \mathcal N(0, 1/P)`,
  so that each :math:`x_\mu\cdot s^0` has the variance of one signal
  component;
* the measurement density :math:`\alpha = N/P`;
* the M-estimator :math:`\hat s = \arg\min_s \sum_\mu \rho(y_\mu - x_\mu\cdot
  s) + \sum_i \sigma(s_i)`;
* the error :math:`q = \lVert\hat s - s^0\rVert^2/P`;
* a signal prior of unit variance unless a parameter says otherwise.

(AMP papers take :math:`x_{\mu i} \sim \mathcal N(0, 1/N)`, El Karoui et
al. :math:`\mathcal N(0, 1)`; the conversions are in the docstrings where
they are used.)

**Theory.** As :math:`N, P \to \infty` at fixed :math:`\alpha`, the estimator
behaves like two scalar problems (chapter *High-dimensional inference*,
eq. ``eq-hdi-rs``). Each signal component is the proximal map of the
regulariser applied to the truth plus Gaussian noise of variance
:math:`q_d`, and each residual the proximal map of the loss applied to the
noise plus Gaussian noise of variance :math:`q`:

.. math::

    \hat s_i = \mathcal P_{\lambda_\sigma\sigma}(s^0_i + \sqrt{q_d}\,z), \qquad
    r_\mu = \mathcal P_{\lambda_\rho\rho}(\varepsilon_\mu + \sqrt q\,z'),

with :math:`\mathcal P_{\lambda f}(x) = \arg\min_y [f(y) + (x-y)^2/(2\lambda)]`,
and the four numbers :math:`(q, q_d, \lambda_\rho, \lambda_\sigma)` fixed by

.. math::

    q = \mathbb E[(\hat s - s^0)^2], \quad
    \lambda_\rho = \lambda_\sigma \mathbb E[\mathcal P'_{\lambda_\sigma\sigma}], \quad
    \frac{\lambda_\rho}{\lambda_\sigma} = \alpha\,\mathbb E[1 - \mathcal P'_{\lambda_\rho\rho}], \quad
    q_d = \frac{\alpha\lambda_\sigma^2}{\lambda_\rho^2}
          \mathbb E[(\varepsilon_q - \mathcal P_{\lambda_\rho\rho}(\varepsilon_q))^2],

:math:`\varepsilon_q = \varepsilon + \sqrt q z'` (:func:`replica_fixed_point`).
Expectations are sums over fine grids weighted by closed-form densities of
:math:`\varepsilon_q` and :math:`s^0 + \sqrt{q_d}z`, and by the closed-form
posterior moments of :math:`s^0` given :math:`s^0 + \sqrt{q_d}z`, so that the
kinks of the absolute loss and the soft threshold cost nothing.

**Simulation.** :func:`measurements` draws instances; :func:`huber_regression`
(Newton/IRLS), :func:`optimal_m_estimate`, :func:`amp_lasso`,
:func:`amp_bayes` and :func:`l1_recovery` (a linear programme) solve them.
"""

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import optimize, special

from . import _validation as v

__all__ = [
    "least_squares_error",
    "ridge_error",
    "replica_fixed_point",
    "FixedPoint",
    "m_estimation_error",
    "fisher_information",
    "optimal_loss",
    "regularized_error",
    "posterior_mean",
    "mmse",
    "optimal_regularizer_prox",
    "optimal_regularizer",
    "optimal_regularized_estimate",
    "lasso_state_evolution",
    "amp_state_evolution",
    "donoho_tanner",
    "measurements",
    "huber_regression",
    "optimal_m_estimate",
    "amp_lasso",
    "amp_bayes",
    "AMPResult",
    "l1_recovery",
    "lasso",
    "LOSSES",
    "NOISES",
]

#: Losses of the unregularised M-estimator.
LOSSES = ("squared", "absolute", "huber", "optimal")
#: Noise distributions.
NOISES = ("gaussian", "laplace")
_PRIORS = ("gaussian", "laplace", "bernoulli_gauss")
_ESTIMATORS = ("optimal", "map", "ridge")

_GRID = 4001          # points of every integration grid
_WIDTH = 14.0         # half-width of a grid, in standard deviations


# --- arguments -------------------------------------------------------------------

def _alpha(alpha, lo=0.0):
    return v.real_array("alpha", alpha, lo=lo, lo_open=True)


def _noise(noise):
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {list(NOISES)}, got {noise!r}")
    return noise


def _prior(prior):
    """('gaussian', None), ('laplace', None) or ('bernoulli_gauss', rho)."""
    if isinstance(prior, tuple) and len(prior) == 2 and prior[0] == "bernoulli_gauss":
        return "bernoulli_gauss", v.real("prior density rho", prior[1], lo=0.0, hi=1.0, lo_open=True)
    if prior in ("gaussian", "laplace"):
        return prior, None
    if isinstance(prior, tuple) and len(prior) == 2 and prior[0] in ("gaussian", "laplace") and prior[1] is None:
        return prior
    raise ValueError(f"prior must be 'gaussian', 'laplace' or ('bernoulli_gauss', rho), got {prior!r}")


def _prior_var(prior):
    name, rho = prior
    return rho if name == "bernoulli_gauss" else 1.0


# --- scalar densities and posterior moments ----------------------------------------

def _laplace_gauss_logpdf(x, b, var):
    """log of the density of L + sqrt(var) z, L Laplace of scale b (variance 2 b^2)."""
    s = np.sqrt(var)
    # p(x) = 1/(4b) exp(var/(2b^2)) [e^{-x/b} erfc((var/b - x)/(s sqrt2)) + e^{x/b} erfc((var/b + x)/(s sqrt2))]
    a1 = -x / b + special.log_ndtr((x - var / b) / s)
    a2 = x / b + special.log_ndtr((-x - var / b) / s)
    return np.log(1.0 / (2.0 * b)) + var / (2.0 * b * b) + np.logaddexp(a1, a2)


def _noisy_logpdf(kind, x, var, extra_var):
    """log density of a variable of kind ('gaussian' | 'laplace', variance var) plus N(0, extra_var)."""
    if kind == "gaussian":
        total = var + extra_var
        return -0.5 * x * x / total - 0.5 * np.log(2 * np.pi * total)
    b = np.sqrt(var / 2.0)
    if extra_var == 0.0:
        return -np.abs(x) / b - np.log(2.0 * b)
    return _laplace_gauss_logpdf(x, b, extra_var)


def _grid(std):
    x = np.linspace(-_WIDTH * std, _WIDTH * std, _GRID)
    return x, x[1] - x[0]


def _signal_channel(prior, delta):
    """Grid v, weights p(v) dv and posterior moments E[s|v], E[s^2|v] for v = s + sqrt(delta) z."""
    name, rho = prior
    x, h = _grid(np.sqrt(_prior_var(prior) + delta) + 1e-300)
    if name == "gaussian":
        logp = _noisy_logpdf("gaussian", x, 1.0, delta)
        m1 = x / (1.0 + delta)
        m2 = m1 * m1 + delta / (1.0 + delta)
    elif name == "bernoulli_gauss":
        l0 = -0.5 * x * x / delta - 0.5 * np.log(2 * np.pi * delta)
        l1 = -0.5 * x * x / (1.0 + delta) - 0.5 * np.log(2 * np.pi * (1.0 + delta))
        logp = np.logaddexp(np.log1p(-rho) + l0, np.log(rho) + l1)
        on = np.exp(np.log(rho) + l1 - logp)                 # P(s != 0 | v)
        m1 = on * x / (1.0 + delta)
        m2 = on * (x * x / (1.0 + delta) ** 2 + delta / (1.0 + delta))
    else:
        m1, m2, logp = _laplace_posterior(x, delta)
    w = np.exp(logp) * h
    return x, w / w.sum(), m1, m2


def _laplace_posterior(x, delta):
    """Posterior mean and second moment of a unit-variance Laplace s given v = s + sqrt(delta) z."""
    b = np.sqrt(0.5)
    s = np.sqrt(delta)
    mu_p, mu_m = x - delta / b, x + delta / b
    a_p, a_m = mu_p / s, mu_m / s
    # log weights of the s > 0 and s < 0 pieces (common factors dropped).
    lw_p = -x / b + special.log_ndtr(a_p)
    lw_m = x / b + special.log_ndtr(-a_m)
    lz = np.logaddexp(lw_p, lw_m)
    w_p, w_m = np.exp(lw_p - lz), np.exp(lw_m - lz)
    # Inverse Mills ratios phi(a)/Phi(a), computed stably.
    r_p = np.exp(-0.5 * a_p * a_p - 0.5 * np.log(2 * np.pi) - special.log_ndtr(a_p))
    r_m = np.exp(-0.5 * a_m * a_m - 0.5 * np.log(2 * np.pi) - special.log_ndtr(-a_m))
    e1_p, e1_m = mu_p + s * r_p, mu_m - s * r_m
    e2_p, e2_m = delta + mu_p * mu_p + mu_p * s * r_p, delta + mu_m * mu_m - mu_m * s * r_m
    logp = _laplace_gauss_logpdf(x, b, delta)
    return w_p * e1_p + w_m * e1_m, w_p * e2_p + w_m * e2_m, logp


def _noise_channel(noise, noise_var, q):
    """Grid x and weights p(x) dx for eps_q = eps + sqrt(q) z."""
    x, h = _grid(np.sqrt(noise_var + q))
    w = np.exp(_noisy_logpdf(noise, x, noise_var, q)) * h
    return x, w / w.sum()


# --- proximal maps: (value, derivative) -----------------------------------------------

def _prox_loss(loss, x, lam, huber_k):
    if loss == "squared":
        return x / (1.0 + lam), np.full_like(x, 1.0 / (1.0 + lam))
    if loss == "absolute":
        out = np.sign(x) * np.maximum(np.abs(x) - lam, 0.0)
        return out, (np.abs(x) > lam).astype(float)
    inside = np.abs(x) <= huber_k * (1.0 + lam)
    out = np.where(inside, x / (1.0 + lam), x - lam * huber_k * np.sign(x))
    return out, np.where(inside, 1.0 / (1.0 + lam), 1.0)


def _prox_reg(reg, x, lam):
    kind, strength = reg
    if kind is None:
        return x, np.ones_like(x)
    if kind == "ridge":
        return x / (1.0 + lam * strength), np.full_like(x, 1.0 / (1.0 + lam * strength))
    t = lam * strength
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0), (np.abs(x) > t).astype(float)


# --- closed forms ------------------------------------------------------------------

def least_squares_error(alpha, noise_var, signal_var=1.0):
    r"""Error of least squares: :math:`\sigma^2/(\alpha - 1)` for :math:`\alpha > 1`; of the minimum-norm solution below.

    For :math:`\alpha > 1` the estimate is :math:`\hat s = (X^\top X)^{-1}X^\top
    y`, with error :math:`q = \frac{\sigma^2}{P}\operatorname{tr}(X^\top X)^{-1}
    \to \sigma^2/(\alpha - 1)`: the noise-plus-error self-consistency
    :math:`q = (\sigma^2 + q)/\alpha` (chapter *High-dimensional inference*,
    eq. ``eq-hdi-ls``), not the classical :math:`\sigma^2/\alpha`. For
    :math:`\alpha < 1` the minimum-norm solution :math:`X^\top(XX^\top)^{-1}y`
    misses the component of :math:`s^0` outside the row space and amplifies
    the noise:

    .. math::

        q = (1 - \alpha)\,v_s + \frac{\alpha\sigma^2}{1 - \alpha} .

    Both diverge at :math:`\alpha = 1` when :math:`\sigma^2 > 0`.

    Parameters
    ----------
    alpha : float or array_like
        :math:`\alpha > 0`, :math:`\ne 1`.
    noise_var : float
        :math:`\sigma^2 \ge 0`.
    signal_var : float, optional
        :math:`v_s \ge 0`.
    """
    a = _alpha(alpha)
    if np.any(a == 1.0):
        raise ValueError("alpha must differ from 1, where the error of least squares diverges")
    s2 = v.real("noise_var", noise_var, lo=0.0)
    vs = v.real("signal_var", signal_var, lo=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(a > 1, s2 / (a - 1), (1 - a) * vs + a * s2 / (1 - a))
    return v.scalar_or_array(out)


def ridge_error(alpha, noise_var, gamma, signal_var=1.0):
    r"""Error of ridge regression, :math:`\sigma(s) = \gamma s^2/2` with the squared loss, in closed form.

    With the squared loss, :math:`\lambda_\sigma = (1 + \lambda_\rho)/\alpha`
    and :math:`q_d = (\sigma^2 + q)/\alpha`; the ridge proximal map
    :math:`v/(1 + \lambda_\sigma\gamma)` turns the fixed point
    :func:`replica_fixed_point` into a quadratic for :math:`c =
    \lambda_\rho`,

    .. math::

        \gamma c^2 + (\alpha + \gamma - 1)c - 1 = 0, \qquad
        q = \frac{(\lambda_\sigma\gamma)^2 v_s + \sigma^2/\alpha}
                 {(1 + \lambda_\sigma\gamma)^2 - 1/\alpha} .

    At :math:`\gamma = \sigma^2/v_s` ridge is the posterior mean of a
    Gaussian prior, the Bayes-optimal estimator.

    Parameters
    ----------
    alpha : float or array_like
        :math:`\alpha > 0`.
    noise_var : float
        :math:`\sigma^2 \ge 0`.
    gamma : float
        :math:`\gamma > 0`.
    signal_var : float, optional
        :math:`v_s \ge 0`.
    """
    a = _alpha(alpha)
    s2 = v.real("noise_var", noise_var, lo=0.0)
    g = v.real("gamma", gamma, lo=0.0, lo_open=True)
    vs = v.real("signal_var", signal_var, lo=0.0)
    b = a + g - 1.0
    c = (-b + np.sqrt(b * b + 4.0 * g)) / (2.0 * g)
    lam = (1.0 + c) / a
    t = lam * g
    return v.scalar_or_array((t * t * vs + s2 / a) / ((1.0 + t) ** 2 - 1.0 / a))


# --- the general fixed point ---------------------------------------------------------

class FixedPoint(NamedTuple):
    """The replica-symmetric fixed point of :func:`replica_fixed_point`."""

    error: float
    """:math:`q`, the error per component."""
    channel_var: float
    """:math:`q_d`, the noise variance of the scalar signal channel."""
    lam_loss: float
    """:math:`\\lambda_\\rho`."""
    lam_reg: float
    """:math:`\\lambda_\\sigma`."""


def _slope(values, x, exact):
    """The derivative of a proximal map on the grid. Where it jumps (soft threshold,
    Huber), the pointwise derivative makes grid averages wrong by O(h); the
    centred difference of the continuous map averages the jump over its cell,
    which is O(h^2)."""
    return exact if np.ptp(exact) == 0 else np.gradient(values, x)


def _expect_reg(reg, prior, q_d, lam_s):
    x, w, m1, m2 = _signal_channel(prior, q_d)
    eta, deta = _prox_reg(reg, x, lam_s)
    deta = _slope(eta, x, deta)
    err = np.sum(w * (eta * eta - 2.0 * eta * m1 + m2))
    return err, np.sum(w * deta)


def _solve(alpha, loss, reg, noise, noise_var, prior, huber_k, tol=1e-10, max_iter=2000):
    q = _prior_var(prior) if reg[0] is not None else noise_var / max(alpha - 1.0, 0.1) + 0.1
    q_d = (noise_var + q) / alpha
    lam_r = lam_s = 1.0
    log_lam_s = 0.0
    prev = None
    for it in range(max_iter):
        xe, we = _noise_channel(noise, noise_var, q)
        xs, ws, m1, m2 = _signal_channel(prior, q_d) if reg[0] is not None else (None,) * 4

        def lam_loss_of(lam_s):
            if reg[0] is None:
                return lam_s
            eta, deta = _prox_reg(reg, xs, lam_s)
            return lam_s * np.sum(ws * _slope(eta, xs, deta))

        def gap(log_lam_s):
            lam_s = np.exp(log_lam_s)
            # A threshold far beyond the signal makes lam_rho underflow to 0; the
            # ratio E[1 - P'] / lam_rho has a finite limit, which a floor keeps.
            lam_r = max(lam_loss_of(lam_s), 1e-9 * lam_s)
            p, dp = _prox_loss(loss, xe, lam_r, huber_k)
            return lam_s * alpha * np.sum(we * (1.0 - _slope(p, xe, dp))) / lam_r - 1.0

        # The gap is negative for small lam_s; scan for its first sign change (for
        # very large lam_s an l1 threshold silences every component and the gap
        # turns negative again, so a fixed bracket can miss the root).
        # After the first step the root moves little: try a bracket around the last one.
        if it > 0 and gap(log_lam_s - 0.25) < 0 <= gap(log_lam_s + 0.25):
            log_lam_s = optimize.brentq(gap, log_lam_s - 0.25, log_lam_s + 0.25, xtol=1e-13)
        else:
            scan = np.linspace(-30.0, 30.0, 61)
            values = [gap(t) for t in scan]
            ups = [i for i in range(1, scan.size) if values[i - 1] < 0 <= values[i]]
            if not ups:
                raise ValueError(f"no fixed point at alpha={alpha:g}: the estimator has no finite error here")
            log_lam_s = optimize.brentq(gap, scan[ups[0] - 1], scan[ups[0]], xtol=1e-13)
        lam_s = np.exp(log_lam_s)
        lam_r = max(lam_loss_of(lam_s), 1e-9 * lam_s)
        px, _ = _prox_loss(loss, xe, lam_r, huber_k)
        q_d_new = alpha * lam_s**2 / lam_r**2 * np.sum(we * (xe - px) ** 2)
        if reg[0] is None:
            q_new = q_d_new
        else:
            eta, _ = _prox_reg(reg, xs, lam_s)
            q_new = np.sum(ws * (eta * eta - 2.0 * eta * m1 + m2))
        if abs(q_new - q) < tol * max(q, 1e-12) and abs(q_d_new - q_d) < tol * max(q_d, 1e-12):
            q, q_d = q_new, q_d_new
            break
        # Anderson acceleration with a memory of one step (a secant step on the residual
        # F(x) - x, x = (q, q_d)), which converges in a few tens of steps where plain damping
        # needs hundreds near alpha = 1. Damped steps, half of the way, are the fallback: the
        # undamped map overshoots near alpha = 1 and near the l1 transition.
        x, fx = np.array([q, q_d]), np.array([q_new, q_d_new])
        res = fx - x
        step = 0.5 * x + 0.5 * fx
        if prev is not None and np.linalg.norm(res) < np.linalg.norm(prev[1]):
            d_res, d_f = res - prev[1], fx - prev[2]
            denom = d_res @ d_res
            if denom > 0:
                trial = fx - (res @ d_res / denom) * d_f
                if np.all(trial > 0) and np.all(trial < 10 * np.maximum(x, fx)):
                    step = trial
        prev = (x, res, fx)
        q, q_d = float(step[0]), float(step[1])
    else:
        raise RuntimeError(f"the fixed point did not converge at alpha={alpha:g}")
    return FixedPoint(float(q), float(q_d), float(lam_r), float(lam_s))


def _loss_spec(loss):
    if loss not in LOSSES[:3]:
        raise ValueError(f"loss must be one of {list(LOSSES[:3])}, got {loss!r}")
    return loss


def _reg_spec(regularizer):
    if regularizer is None:
        return None, None
    if isinstance(regularizer, tuple) and len(regularizer) == 2 and regularizer[0] in ("ridge", "l1"):
        return regularizer[0], v.real(f"{regularizer[0]} strength", regularizer[1], lo=0.0, lo_open=True)
    raise ValueError(f"regularizer must be None, ('ridge', gamma) or ('l1', lam), got {regularizer!r}")


def replica_fixed_point(alpha, loss="squared", regularizer=None, noise="gaussian", noise_var=1.0,
                        prior="gaussian", huber_k=1.0):
    r"""Solve the replica-symmetric equations for an M-estimator; return its :class:`FixedPoint`.

    The four equations of the module docstring (chapter *High-dimensional
    inference*, eq. ``eq-hdi-rs``) are solved by a damped iteration on
    :math:`(q, q_d)`; at each step the pair :math:`(\lambda_\rho,
    \lambda_\sigma)` is solved jointly (a one-dimensional root in
    :math:`\log\lambda_\sigma`). Unregularised, :math:`q_d = q` and the
    equations reduce to El Karoui et al.'s (2013) system: with their
    normalisation :math:`x_{\mu i} \sim \mathcal N(0, 1)`, :math:`p/n =
    1/\alpha` and :math:`\lVert\hat\beta - \beta_0\rVert^2 = q`.

    Parameters
    ----------
    alpha : float
        :math:`\alpha > 0` (:math:`> 1` without a regulariser).
    loss : str, optional
        ``"squared"`` (:math:`r^2/2`), ``"absolute"`` (:math:`|r|`) or
        ``"huber"`` (:math:`r^2/2` for :math:`|r| \le k`, :math:`k|r| - k^2/2`
        beyond).
    regularizer : tuple, optional
        ``None``, ``("ridge", gamma)`` for :math:`\gamma s^2/2` or
        ``("l1", lam)`` for :math:`\lambda|s|`.
    noise : str, optional
        ``"gaussian"`` or ``"laplace"``.
    noise_var : float, optional
        :math:`\sigma^2 \ge 0` (:math:`> 0` for Laplace noise).
    prior : str or tuple, optional
        ``"gaussian"``, ``"laplace"`` (unit variance) or
        ``("bernoulli_gauss", rho)`` (zero with probability :math:`1-\rho`,
        else :math:`\mathcal N(0, 1)`). Irrelevant without a regulariser.
    huber_k : float, optional
        :math:`k > 0`.

    Raises
    ------
    ValueError
        For bad arguments, and where the estimator has no finite error
        (for example no regulariser at :math:`\alpha \le 1`).
    """
    alpha = v.real("alpha", alpha, lo=0.0, lo_open=True)
    loss = _loss_spec(loss)
    reg = _reg_spec(regularizer)
    noise = _noise(noise)
    noise_var = v.real("noise_var", noise_var, lo=0.0, lo_open=noise == "laplace")
    prior = _prior(prior)
    huber_k = v.real("huber_k", huber_k, lo=0.0, lo_open=True)
    if reg[0] is None and alpha <= 1.0:
        raise ValueError(f"alpha must be > 1 for an unregularised estimator, got {alpha:g}")
    return _solve(alpha, loss, reg, noise, noise_var, prior, huber_k)


# --- the optimal unregularised M-estimator ---------------------------------------------

def fisher_information(q, noise="laplace", noise_var=1.0):
    r"""Fisher information :math:`J[\varepsilon_q] = \int p_q'^2/p_q` of the noise smoothed by a Gaussian of variance ``q``.

    :math:`p_q` is the density of :math:`\varepsilon + \sqrt q z`. For
    Gaussian noise :math:`J = 1/(\sigma^2 + q)`.
    """
    q = v.real("q", q, lo=0.0)
    noise = _noise(noise)
    noise_var = v.real("noise_var", noise_var, lo=0.0, lo_open=True)
    if noise == "gaussian":
        return 1.0 / (noise_var + q)
    if q == 0.0:
        return 2.0 / noise_var                       # Laplace: (1/b)^2 with b^2 = var/2
    x, w = _noise_channel(noise, noise_var, q)
    score = _score(noise, x, noise_var, q)
    return float(np.sum(w * score * score))


def _score(noise, x, noise_var, q, order=1):
    """d/dx (order 1) or d^2/dx^2 (order 2) of log p_q, by centred differences of the closed form."""
    h = (1e-5 if order == 1 else 1e-4) * np.sqrt(noise_var + q)
    lp = lambda t: _noisy_logpdf(noise, t, noise_var, q)  # noqa: E731
    if order == 1:
        return (lp(x + h) - lp(x - h)) / (2 * h)
    return (lp(x + h) - 2 * lp(x) + lp(x - h)) / (h * h)


def _optimal_q(alpha, noise, noise_var):
    def gap(log_q):
        q = np.exp(log_q)
        return q * alpha * fisher_information(q, noise, noise_var) - 1.0
    return float(np.exp(optimize.brentq(gap, np.log(1e-8 * noise_var), np.log(1e4 * noise_var + 1e4), xtol=1e-13)))


def m_estimation_error(alpha, loss, noise, noise_var=1.0, huber_k=1.0):
    r"""Asymptotic error :math:`q` of the unregularised M-estimator with ``loss`` under ``noise``.

    ``"squared"``, ``"absolute"`` and ``"huber"`` solve El Karoui's system
    (:func:`replica_fixed_point` without a regulariser). ``"optimal"`` is the
    best convex loss (Advani & Ganguli 2016): by Cauchy–Schwarz the fixed
    point obeys the high-dimensional Cramér–Rao bound

    .. math::

        q \ge \frac{1}{\alpha\,J[\varepsilon_q]}

    (chapter *High-dimensional inference*, eq. ``eq-hdi-cramer-rao``), with
    equality for the loss :func:`optimal_loss`; the error is the smallest root
    of :math:`q\,\alpha J[\varepsilon_q] = 1`. For Gaussian noise every loss
    here is beaten or matched by least squares, :math:`q = \sigma^2/(\alpha -
    1)`.

    Parameters
    ----------
    alpha : float or array_like
        :math:`\alpha > 1`.
    loss : str
        One of :data:`LOSSES`.
    noise : str
        One of :data:`NOISES`.
    noise_var : float, optional
        :math:`\sigma^2 > 0`.
    huber_k : float, optional
        :math:`k > 0`, for ``"huber"``.
    """
    a = _alpha(alpha, lo=1.0)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
    noise = _noise(noise)
    noise_var = v.real("noise_var", noise_var, lo=0.0, lo_open=True)
    huber_k = v.real("huber_k", huber_k, lo=0.0, lo_open=True)
    if loss == "optimal":
        out = np.array([_optimal_q(float(x), noise, noise_var) for x in a.ravel()]).reshape(a.shape)
    else:
        out = np.array([_solve(float(x), loss, (None, None), noise, noise_var, ("gaussian", None), huber_k).error
                        for x in a.ravel()]).reshape(a.shape)
    return v.scalar_or_array(out)


def optimal_loss(alpha, noise="laplace", noise_var=1.0):
    r"""The optimal convex loss at measurement density ``alpha``, as a callable ``(value, derivative, second derivative)``.

    The loss whose Moreau envelope with parameter :math:`q` (the optimal
    error) is the negative log-density of the smoothed noise,
    :math:`\mathcal M_q[\rho_{\mathrm{opt}}] = -\log p_q`, that is

    .. math::

        \rho_{\mathrm{opt}}(x) = \max_y\Bigl[-\log p_q(y) - \frac{(x - y)^2}{2q}\Bigr] ,

    a smoothed negative log-likelihood (Advani & Ganguli 2016). It is
    convex for log-concave noise, since :math:`-(\log p_q)'' \le 1/q`. Its
    derivative follows from the maximiser: with :math:`F = -\log p_q`,
    :math:`\rho'(x) = F'(y)` where :math:`x = y - qF'(y)`, and
    :math:`\rho''(x) = F''/(1 - qF'')`. Tabulated on a grid and
    interpolated; beyond the grid it continues linearly (Laplace noise) or
    quadratically (Gaussian noise).

    Returns
    -------
    callable
        ``rho(r)`` returning the arrays ``(rho, rho', rho'')``.
    q : float
        The error it attains, :func:`m_estimation_error` with ``"optimal"``.
    """
    alpha = v.real("alpha", alpha, lo=1.0, lo_open=True)
    noise = _noise(noise)
    noise_var = v.real("noise_var", noise_var, lo=0.0, lo_open=True)
    x, value, dF, second, q = _optimal_loss_table(alpha, noise, noise_var)

    def rho(r):
        r = np.asarray(r, dtype=float)
        d1 = np.interp(r, x, dF)
        d2 = np.interp(r, x, second)
        val = np.interp(r, x, value)
        # Beyond the table: continue with the slope and curvature at its edges.
        for edge, sign in ((0, -1), (-1, 1)):
            out = sign * (r - x[edge]) > 0
            dr = r[out] - x[edge]
            val[out] = value[edge] + dF[edge] * dr + 0.5 * second[edge] * dr * dr
            d1[out] = dF[edge] + second[edge] * dr
        return val, d1, d2

    return rho, q


@lru_cache(maxsize=32)
def _optimal_loss_table(alpha, noise, noise_var):
    """The optimal loss tabulated on a grid (cached: every instance at one density shares it)."""
    q = _optimal_q(alpha, noise, noise_var)
    y, _ = _grid(np.sqrt(noise_var + q))
    F = -_noisy_logpdf(noise, y, noise_var, q)
    dF = -_score(noise, y, noise_var, q)
    ddF = np.maximum(-_score(noise, y, noise_var, q, order=2), 0.0)
    x = y - q * dF
    value = F - (x - y) ** 2 / (2 * q)
    second = ddF / (1.0 - q * ddF)
    return x, value, dF, second, q


# --- regularised estimators with Gaussian noise ---------------------------------------------

def posterior_mean(v_obs, channel_var, prior="laplace"):
    r""":math:`\mathbb E[s^0 \mid v]` for :math:`v = s^0 + \sqrt{\Delta}z`: the MMSE denoiser of the scalar channel.

    Closed forms: :math:`v/(1+\Delta)` for the Gaussian prior; for the
    Laplace prior a mixture of two truncated Gaussians (the posterior is
    Gaussian on each half-line); for Bernoulli–Gauss
    :math:`\pi(v)\,v/(1+\Delta)` with :math:`\pi` the posterior probability
    of a nonzero component.
    """
    x = v.real_array("v", v_obs)
    delta = v.real("channel_var", channel_var, lo=0.0, lo_open=True)
    name, rho = _prior(prior)
    flat = x.ravel()
    if name == "gaussian":
        m1 = flat / (1.0 + delta)
    elif name == "bernoulli_gauss":
        l0 = -0.5 * flat**2 / delta - 0.5 * np.log(delta)
        l1 = -0.5 * flat**2 / (1.0 + delta) - 0.5 * np.log(1.0 + delta)
        on = special.expit(np.log(rho) + l1 - np.log1p(-rho) - l0)
        m1 = on * flat / (1.0 + delta)
    else:
        m1 = _laplace_posterior(flat, delta)[0]
    return v.scalar_or_array(m1.reshape(x.shape))


def mmse(channel_var, prior="laplace"):
    r"""Minimum mean squared error :math:`\mathbb E[(s^0 - \mathbb E[s^0\mid v])^2]` of the scalar channel."""
    delta = v.real("channel_var", channel_var, lo=0.0, lo_open=True)
    return _mmse(delta, _prior(prior))


def _mmse(delta, prior):
    _, w, m1, m2 = _signal_channel(prior, delta)
    return float(np.sum(w * (m2 - m1 * m1)))


def optimal_regularizer_prox(v_obs, channel_var, prior="laplace"):
    r"""The proximal map of the optimal regulariser, :math:`v + \Delta\,\partial_v\log p_v(v)`, from the density alone.

    The optimal regulariser is the smoothed MAP penalty
    :math:`\sigma_{\mathrm{opt}} = -\mathcal M_{\Delta}^{-1}[\log p_v]`, the
    function whose Moreau envelope with parameter :math:`\Delta = q_d` is
    :math:`-\log p_v`, :math:`p_v` the density of :math:`s^0 + \sqrt\Delta z`.
    Its proximal map is therefore :math:`v - \Delta(-\log p_v)'(v)`, computed
    here by differentiating the closed-form density numerically. Tweedie's
    formula says this equals :func:`posterior_mean`: the optimal M-estimator
    denoises like the Bayes posterior mean (chapter *High-dimensional
    inference*).
    """
    x = v.real_array("v", v_obs)
    delta = v.real("channel_var", channel_var, lo=0.0, lo_open=True)
    name, rho = _prior(prior)
    h = 1e-5 * np.sqrt(1.0 + delta)

    def logp(t):
        if name == "bernoulli_gauss":
            return np.logaddexp(np.log1p(-rho) - 0.5 * t * t / delta - 0.5 * np.log(delta),
                                np.log(rho) - 0.5 * t * t / (1 + delta) - 0.5 * np.log(1 + delta))
        return _noisy_logpdf(name, t, 1.0, delta)

    return v.scalar_or_array(x + delta * (logp(x + h) - logp(x - h)) / (2 * h))


def optimal_regularizer(alpha, noise_var, prior="laplace"):
    r"""The optimal convex regulariser (smoothed MAP) at density ``alpha``, for the squared loss, as a callable ``(value, derivative, second derivative)``.

    With the loss :math:`\tfrac12 r^2` and Gaussian noise of variance
    :math:`\sigma^2`, the regulariser that attains the Bayes error
    (Advani & Ganguli 2016b; chapter *High-dimensional inference*, eq.
    ``eq-hdi-smoothed-map``) has a proximal map equal to the posterior mean of
    the signal channel :math:`v = s^0 + \sqrt{q_d}z`. At the Bayes fixed point
    :math:`q = \mathrm{mmse}(q_d)`, :math:`q_d = (\sigma^2 + q)/\alpha`, the
    replica-symmetric equations give the channel's response
    :math:`\lambda_\sigma = q_d/\sigma^2`, and the regulariser is

    .. math::

        \sigma_{\mathrm{opt}}(s) = \sigma^2 f(s), \qquad
        f(s) = \max_v\Bigl[-\log p_v(v) - \frac{(s - v)^2}{2q_d}\Bigr],

    the function whose Moreau envelope with parameter :math:`q_d` is
    :math:`-\log p_v`: a smoothed MAP penalty, since :math:`q_d \to 0` gives
    :math:`-\sigma^2\log p_s`, the MAP penalty, and a large :math:`q_d` makes
    :math:`p_v` nearly Gaussian and :math:`f` nearly quadratic, a ridge. With
    :math:`F = -\log p_v`: :math:`f'(s) = F'(v)` and :math:`f''(s) =
    F''/(1 - q_dF'')` where :math:`s = v - q_dF'(v)`. The construction needs a
    log-concave prior, for which :math:`F'' < 1/q_d` and :math:`f` is convex.

    Parameters
    ----------
    alpha : float
        :math:`\alpha > 0`.
    noise_var : float
        :math:`\sigma^2 > 0`.
    prior : str, optional
        ``"laplace"`` or ``"gaussian"`` (log-concave, unit variance).

    Returns
    -------
    callable
        ``sigma(s)`` returning the arrays ``(value, first, second)``
        derivatives, tabulated and interpolated, continued linearly beyond
        the table.
    q : float
        The error it attains, the Bayes error :func:`regularized_error`.
    channel_var : float
        :math:`q_d`.
    """
    alpha = v.real("alpha", alpha, lo=0.0, lo_open=True)
    noise_var = v.real("noise_var", noise_var, lo=0.0, lo_open=True)
    name, _ = _prior(prior)
    if name not in ("laplace", "gaussian"):
        raise ValueError(f"prior must be log-concave, 'laplace' or 'gaussian', got {prior!r}")
    x, value, d1, slope, q, q_d = _optimal_regularizer_table(alpha, noise_var, name)

    def penalty(s):
        s = np.asarray(s, dtype=float)
        i = np.clip(np.searchsorted(x, s) - 1, 0, x.size - 2)
        ds = np.clip(s, x[0], x[-1]) - x[i]
        val = value[i] + d1[i] * ds + 0.5 * slope[i] * ds * ds
        f1 = d1[i] + slope[i] * ds
        f2 = slope[i].copy()
        beyond = (s < x[0]) | (s > x[-1])
        edge = np.where(s < x[0], x[0], x[-1])
        val[beyond] += f1[beyond] * (s[beyond] - edge[beyond])
        f2[beyond] = 0.0
        return noise_var * val, noise_var * f1, noise_var * f2

    return penalty, q, q_d


@lru_cache(maxsize=32)
def _optimal_regularizer_table(alpha, noise_var, name):
    """f of optimal_regularizer tabulated on a grid (cached: every instance at one density shares it)."""
    q = _bayes_q(alpha, noise_var, (name, None))
    q_d = (noise_var + q) / alpha
    v_grid, _ = _grid(np.sqrt(1.0 + q_d))
    # F' increases (log-concave prior); the running maximum removes the rounding noise of the
    # centred differences in the far tails, where F' is flat to nine digits.
    dF = np.maximum.accumulate(-_score(name, v_grid, 1.0, q_d))
    s = v_grid - q_d * dF
    # f' = F'(v) at s(v). Between the nodes f' is interpolated linearly, and f and f'' are the
    # integral and the slope of that interpolant, so that the three agree exactly (a C^1 piecewise
    # quadratic): Newton's method then converges to the minimiser of the same function it evaluates.
    slope = np.diff(dF) / np.diff(s)
    value = np.concatenate([[0.0], np.cumsum(0.5 * (dF[1:] + dF[:-1]) * np.diff(s))])
    value -= np.interp(0.0, s, value)
    return s, value, dF, slope, q, q_d


def _bayes_q(alpha, noise_var, prior):
    """Smallest-error fixed point of q = mmse((noise_var + q)/alpha), from q = prior variance down."""
    q = _prior_var(prior)
    for _ in range(10000):
        q_new = _mmse((noise_var + q) / alpha, prior)
        if abs(q_new - q) < 1e-12 * max(q, 1e-12):
            return q_new
        q = q_new
    raise RuntimeError(f"Bayes state evolution did not converge at alpha={alpha:g}")


def regularized_error(alpha, noise_var, prior="laplace", estimator="optimal"):
    r"""Error of a regularised estimator with the squared loss and Gaussian noise.

    * ``"optimal"``: the optimal regularised M-estimator (smoothed MAP,
      Advani & Ganguli 2016b), whose error equals the Bayes MMSE of the same
      problem: the fixed point :math:`q = \mathrm{mmse}((\sigma^2 + q)/\alpha)`
      reached from :math:`q = 1`, which Bayes-optimal AMP attains
      (:func:`amp_bayes`).
    * ``"map"``: the MAP estimator, :math:`\sigma = -\sigma^2\log p(s)` with the
      loss :math:`r^2/2`; for the Laplace prior of unit variance that is
      :math:`\sqrt2\sigma^2|s|`, for the Gaussian prior ridge.
    * ``"ridge"``: the best ridge, :math:`\gamma = \sigma^2/v_s`
      (:func:`ridge_error`).

    Parameters
    ----------
    alpha : float or array_like
        :math:`\alpha > 0`.
    noise_var : float
        :math:`\sigma^2 > 0`.
    prior : str or tuple, optional
        ``"laplace"``, ``"gaussian"`` or ``("bernoulli_gauss", rho)``.
    estimator : str, optional
        ``"optimal"``, ``"map"`` or ``"ridge"``.
    """
    a = _alpha(alpha)
    s2 = v.real("noise_var", noise_var, lo=0.0, lo_open=True)
    prior = _prior(prior)
    if estimator not in _ESTIMATORS:
        raise ValueError(f"estimator must be one of {list(_ESTIMATORS)}, got {estimator!r}")
    vs = _prior_var(prior)
    if estimator == "ridge" or (estimator == "map" and prior[0] == "gaussian"):
        return ridge_error(a, s2, s2 / vs, vs)
    if estimator == "map":
        if prior[0] != "laplace":
            raise ValueError("estimator='map' needs a prior with a density: 'laplace' or 'gaussian'")
        reg = ("l1", np.sqrt(2.0) * s2)
        out = [_solve(float(x), "squared", reg, "gaussian", s2, prior, 1.0).error for x in a.ravel()]
    else:
        out = [_bayes_q(float(x), s2, prior) for x in a.ravel()]
    return v.scalar_or_array(np.array(out).reshape(a.shape))


# --- the LASSO and AMP ---------------------------------------------------------------

def lasso_state_evolution(alpha, lam, noise_var, prior=("bernoulli_gauss", 0.1)):
    r"""Fixed point of the LASSO :math:`\tfrac12\lVert y - Xs\rVert^2 + \lambda\lVert s\rVert_1`.

    The squared loss gives :math:`q_d = (\sigma^2 + q)/\alpha` and
    :math:`\lambda_\sigma = 1/(\alpha - \mathbb E[\eta'])`, so the scalar
    channel is soft thresholding at :math:`\theta = \lambda\lambda_\sigma`,
    the calibration :math:`\lambda = \theta(\alpha - \mathbb E[\eta'])` of
    AMP's fixed point (Donoho, Maleki & Montanari 2009; in their
    normalisation :math:`A = X/\sqrt\alpha`, their threshold is
    :math:`\theta\sqrt\alpha` on :math:`s\sqrt\alpha`).

    Returns
    -------
    FixedPoint
        with ``lam_reg`` = :math:`\lambda_\sigma`; the threshold is
        ``lam * lam_reg``.
    """
    alpha = v.real("alpha", alpha, lo=0.0, lo_open=True)
    lam = v.real("lam", lam, lo=0.0, lo_open=True)
    s2 = v.real("noise_var", noise_var, lo=0.0)
    prior = _prior(prior)
    return _solve(alpha, "squared", ("l1", lam), "gaussian", s2, prior, 1.0)


def amp_state_evolution(alpha, noise_var, prior, n_iter, threshold=None):
    r"""State evolution of AMP from :math:`\hat s = 0`: the predicted error :math:`q_t` after each iteration.

    .. math::

        q_d^t = \frac{\sigma^2 + q_t}{\alpha}, \qquad
        q_{t+1} = \mathbb E\bigl[(\eta(s^0 + \sqrt{q_d^t}z) - s^0)^2\bigr],

    with :math:`q_0 = v_s`; :math:`\eta` is soft thresholding at
    ``threshold`` (AMP for the LASSO at a fixed threshold) or, with
    ``threshold=None``, the posterior mean (Bayes-optimal AMP).

    Returns
    -------
    ndarray, shape (n_iter + 1,)
    """
    alpha = v.real("alpha", alpha, lo=0.0, lo_open=True)
    s2 = v.real("noise_var", noise_var, lo=0.0)
    prior = _prior(prior)
    n_iter = v.integer("n_iter", n_iter, lo=0)
    if threshold is not None:
        threshold = v.real("threshold", threshold, lo=0.0)
    q = [_prior_var(prior)]
    for _ in range(n_iter):
        q_d = (s2 + q[-1]) / alpha
        if threshold is None:
            q.append(_mmse(q_d, prior))
        else:
            q.append(_expect_reg(("l1", threshold), prior, q_d, 1.0)[0])
    return np.array(q)


def donoho_tanner(delta, signed=True):
    r"""The :math:`\ell_1` phase transition :math:`\rho_{\mathrm{DT}}(\delta)` from the minimax formula.

    Noiseless :math:`\ell_1` minimisation recovers a :math:`k`-sparse signal
    from :math:`N = \delta P` measurements when :math:`k/N < \rho(\delta)`,
    with (Donoho, Maleki & Montanari 2009)

    .. math::

        \rho(\delta) = \max_{z \ge 0}
        \frac{1 - (\kappa/\delta)[(1 + z^2)\Phi(-z) - z\varphi(z)]}
             {1 + z^2 - \kappa[(1 + z^2)\Phi(-z) - z\varphi(z)]},

    :math:`\kappa = 2` for signals of either sign (the cross-polytope),
    :math:`\kappa = 1` for non-negative ones (the simplex). Ganguli &
    Sompolinsky (2010) derived the same boundary with the replica method. In
    this book's notation :math:`\delta = \alpha`.
    """
    d = v.real_array("delta", delta, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    kappa = 2.0 if signed else 1.0

    def rho(dd):
        def neg(z):
            m = (1 + z * z) * special.ndtr(-z) - z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
            return -(1 - kappa / dd * m) / (1 + z * z - kappa * m)
        res = optimize.minimize_scalar(neg, bounds=(0.0, 20.0), method="bounded", options={"xatol": 1e-12})
        return -res.fun

    return v.scalar_or_array(np.array([rho(float(x)) for x in d.ravel()]).reshape(d.shape))


# --- simulation ------------------------------------------------------------------------

def _draw(kind, size, var, rng):
    name, rho = kind if isinstance(kind, tuple) else (kind, None)
    if name == "gaussian":
        return np.sqrt(var) * rng.standard_normal(size)
    if name == "laplace":
        return rng.laplace(0.0, np.sqrt(var / 2.0), size)
    return rng.standard_normal(size) * (rng.random(size) < rho)


def measurements(n_params, alpha, noise="gaussian", noise_var=1.0, prior="gaussian", rng=None):
    r"""A random instance :math:`(X, y, s^0)` in the book's convention.

    :math:`X` is :math:`N \times P` with :math:`N = \mathrm{round}(\alpha P)`
    and i.i.d. :math:`\mathcal N(0, 1/P)` entries; :math:`s^0` is drawn from
    ``prior`` and :math:`\varepsilon` from ``noise`` with variance
    ``noise_var``.
    """
    P = v.integer("n_params", n_params, lo=1)
    alpha = v.real("alpha", alpha, lo=0.0, lo_open=True)
    noise = _noise(noise)
    s2 = v.real("noise_var", noise_var, lo=0.0)
    prior = _prior(prior)
    rng = v.as_generator(rng)
    N = max(1, int(round(alpha * P)))
    X = rng.standard_normal((N, P)) / np.sqrt(P)
    s0 = _draw(prior if prior[0] == "bernoulli_gauss" else prior[0], P, 1.0, rng)
    y = X @ s0 + _draw(noise, N, s2, rng)
    return X, y, s0


def _xy(X, y):
    X = v.matrix("X", X)
    y = v.real_array("y", y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    return X, y


def _newton_minimise(objective, newton_system, s, max_iter=100, tol=1e-10):
    """Newton's method with a backtracking line search on a convex objective; newton_system(s) = (g, H).

    Stops when the step or the decrease of the objective is negligible, or when no halving of the
    step lowers the objective (the minimum, to the precision of the objective).
    """
    f = objective(s)
    for _ in range(max_iter):
        g, H = newton_system(s)
        step = -np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-10:
            f_new = objective(s + t * step)
            if f_new <= f:
                break
            t *= 0.5
        else:
            break
        s, f_old, f = s + t * step, f, f_new
        if np.linalg.norm(t * step) < tol * (1.0 + np.linalg.norm(s)) or f_old - f <= 1e-15 * abs(f):
            break
    return s


def _newton(X, y, derivs, s, max_iter=100, tol=1e-10):
    """Newton's method for sum_mu rho(y - X s); derivs(r) = (rho, rho', rho'')."""
    def newton_system(s):
        _, d1, d2 = derivs(y - X @ s)
        return -X.T @ d1, X.T @ (X * np.maximum(d2, 1e-12)[:, None])

    return _newton_minimise(lambda s: np.sum(derivs(y - X @ s)[0]), newton_system, s, max_iter, tol)


def optimal_regularized_estimate(X, y, noise_var, prior="laplace", max_iter=100, tol=1e-10):
    r"""The smoothed-MAP estimate :math:`\arg\min_s \tfrac12\lVert y - Xs\rVert^2 + \sum_i\sigma_{\mathrm{opt}}(s_i)`, by Newton's method.

    :math:`\sigma_{\mathrm{opt}}` is :func:`optimal_regularizer` at this
    :math:`\alpha = N/P`. The objective is strictly convex (the squared loss
    plus a strictly convex penalty for the Laplace prior), so Newton's method
    with a backtracking line search, started from the ridge estimate with
    :math:`\gamma = \sigma^2`, converges to the unique minimiser; it stops
    when a step is below ``tol`` relative to the estimate, or when the
    objective no longer decreases.

    Parameters
    ----------
    X : array_like, shape (N, P)
    y : array_like, shape (N,)
    noise_var : float
        :math:`\sigma^2 > 0`, the noise variance the regulariser is built for.
    prior : str, optional
        ``"laplace"`` or ``"gaussian"``.
    max_iter : int, optional
    tol : float, optional

    Returns
    -------
    ndarray, shape (P,)
    """
    X, y = _xy(X, y)
    noise_var = v.real("noise_var", noise_var, lo=0.0, lo_open=True)
    max_iter = v.integer("max_iter", max_iter, lo=1)
    tol = v.real("tol", tol, lo=0.0, lo_open=True)
    N, P = X.shape
    penalty, _, _ = optimal_regularizer(N / P, noise_var, prior)
    G, b = X.T @ X, X.T @ y
    s = np.linalg.solve(G + noise_var * np.eye(P), b)

    def objective(t):
        r = y - X @ t
        return 0.5 * r @ r + np.sum(penalty(t)[0])

    def newton_system(t):
        _, p1, p2 = penalty(t)
        return G @ t - b + p1, G + np.diag(np.maximum(p2, 1e-12))

    return _newton_minimise(objective, newton_system, s, max_iter, tol)


def huber_regression(X, y, k=1.0, max_iter=100):
    r"""The Huber M-estimate :math:`\arg\min_s\sum_\mu\rho_k(y_\mu - x_\mu\cdot s)`, by Newton's method (IRLS).

    Each step solves :math:`X^\top D X\,\Delta = X^\top\rho_k'(r)` with
    :math:`D = \operatorname{diag}(\rho_k''(r))`, 1 inside :math:`|r| \le k`
    and 0 outside (floored at :math:`10^{-12}`), with a backtracking line
    search: the iteratively reweighted least squares of robust regression,
    exact in finitely many steps once the set of large residuals settles.
    Starts from least squares.
    """
    X, y = _xy(X, y)
    k = v.real("k", k, lo=0.0, lo_open=True)

    def derivs(r):
        a = np.abs(r)
        inside = a <= k
        return np.where(inside, 0.5 * r * r, k * a - 0.5 * k * k), np.clip(r, -k, k), inside.astype(float)

    s0 = np.linalg.lstsq(X, y, rcond=None)[0]
    return _newton(X, y, derivs, s0, max_iter=max_iter)


def optimal_m_estimate(X, y, noise="laplace", noise_var=1.0):
    r"""The unregularised M-estimate with the optimal loss (:func:`optimal_loss`) at this :math:`\alpha = N/P`, by Newton's method."""
    X, y = _xy(X, y)
    alpha = X.shape[0] / X.shape[1]
    rho, _ = optimal_loss(alpha, noise, noise_var)
    s0 = np.linalg.lstsq(X, y, rcond=None)[0]
    return _newton(X, y, rho, s0)


class AMPResult(NamedTuple):
    """What :func:`amp_lasso` and :func:`amp_bayes` return."""

    estimate: np.ndarray
    """The final estimate :math:`\\hat s`."""
    channel_var: np.ndarray
    """:math:`\\hat q_d^t = \\lVert z^t\\rVert^2/(N\\alpha)` at each iteration: the scalar channel's noise, estimated from the residual without the truth."""
    history: np.ndarray
    """The estimate after each iteration, shape (n_iter + 1, P), the first being 0."""


def _amp(X, y, denoise, n_iter):
    N, P = X.shape
    alpha = N / P
    s = np.zeros(P)
    z = y.copy()
    hist, chan = [s.copy()], []
    for _ in range(n_iter):
        q_d = float(z @ z) / (N * alpha)
        chan.append(q_d)
        v_in = s + X.T @ z / alpha
        s, mean_deriv = denoise(v_in, q_d, s)
        # The Onsager term: without it the residual is correlated with X and the
        # scalar-channel picture, and the state evolution, fail.
        z = y - X @ s + z * mean_deriv / alpha
        hist.append(s.copy())
    chan.append(float(z @ z) / (N * alpha))
    return AMPResult(s, np.array(chan), np.array(hist))


def amp_lasso(X, y, lam, n_iter=30, threshold=None, onsager=True):
    r"""Approximate message passing for the LASSO :math:`\tfrac12\lVert y - Xs\rVert^2 + \lambda\lVert s\rVert_1`.

    In the book's convention (:math:`X^\top X \approx \alpha I`):

    .. math::

        \hat s^{t+1} = \eta\bigl(\hat s^t + X^\top z^t/\alpha;\ \theta_t\bigr), \qquad
        z^{t+1} = y - X\hat s^{t+1} + \frac{\langle\eta'\rangle}{\alpha} z^t ,

    :math:`\eta` soft thresholding and :math:`\langle\eta'\rangle` the
    fraction of nonzero components. At a fixed point the LASSO's optimality
    conditions hold exactly when :math:`\lambda = \theta(\alpha -
    \langle\eta'\rangle)`, so by default each step chooses the threshold
    that satisfies this relation for the current input :math:`v` (with
    :math:`\langle\eta'\rangle` the fraction of :math:`|v_i| > \theta`);
    the truth is never used. ``threshold`` fixes :math:`\theta` instead,
    for comparing the iterates with :func:`amp_state_evolution`. With
    ``onsager=False`` the memory term is dropped: the iteration is then
    plain iterative soft thresholding (ISTA), :math:`\hat s \leftarrow
    \eta(\hat s + X^\top(y - X\hat s)/L;\ \lambda/L)` with :math:`L =
    \lVert X\rVert_2^2` (the step :math:`1/\alpha` of AMP diverges without
    the memory term, since :math:`\lVert X\rVert_2^2 \approx (1 + \sqrt\alpha)^2`),
    which solves the same LASSO far more slowly; ``threshold`` is then ignored.
    """
    X, y = _xy(X, y)
    lam = v.real("lam", lam, lo=0.0, lo_open=True)
    n_iter = v.integer("n_iter", n_iter, lo=1)
    alpha = X.shape[0] / X.shape[1]
    if threshold is not None:
        threshold = v.real("threshold", threshold, lo=0.0)

    def calibrated(v_in):
        # theta (alpha - fraction of |v| above theta) = lam: increasing in theta, so
        # bisect. (Recalibrating from the previous iterate's sparsity instead
        # oscillates: near the fixed point a small change of the active set swings
        # the threshold.)
        a = np.abs(v_in)

        def f(theta):
            return theta * (alpha - np.mean(a > theta)) - lam

        hi = max(a.max(), lam / alpha) * 1.01 + lam
        return optimize.brentq(f, 0.0, hi, xtol=1e-14) if f(hi) > 0 else hi

    def denoise(v_in, q_d, s):
        theta = threshold if threshold is not None else calibrated(v_in)
        out = np.sign(v_in) * np.maximum(np.abs(v_in) - theta, 0.0)
        return out, float(np.mean(out != 0))

    if not onsager:
        return _ista(X, y, lam, n_iter)
    return _amp(X, y, denoise, n_iter)


def _ista(X, y, lam, n_iter):
    """Iterative soft thresholding with step 1/||X||^2: the convergent iteration without AMP's memory term."""
    N, P = X.shape
    L = np.linalg.norm(X, 2) ** 2
    s = np.zeros(P)
    hist, chan = [s.copy()], []
    for _ in range(n_iter):
        z = y - X @ s
        chan.append(float(z @ z) / (N * (N / P)))
        v_in = s + X.T @ z / L
        s = np.sign(v_in) * np.maximum(np.abs(v_in) - lam / L, 0.0)
        hist.append(s.copy())
    z = y - X @ s
    chan.append(float(z @ z) / (N * (N / P)))
    return AMPResult(s, np.array(chan), np.array(hist))


def amp_bayes(X, y, prior="laplace", n_iter=30):
    r"""Bayes-optimal AMP: the posterior-mean denoiser, with the channel noise :math:`q_d^t` estimated from the residual.

    The same iteration as :func:`amp_lasso`, with :math:`\eta =`
    :func:`posterior_mean` at :math:`\Delta = \hat q_d^t` and
    :math:`\langle\eta'\rangle` its average derivative, computed by a
    centred difference. Its error follows :func:`amp_state_evolution` with
    ``threshold=None`` and converges to :func:`regularized_error` with
    ``"optimal"``.
    """
    X, y = _xy(X, y)
    n_iter = v.integer("n_iter", n_iter, lo=1)
    prior_spec = _prior(prior)
    prior_arg = prior_spec if prior_spec[0] == "bernoulli_gauss" else prior_spec[0]

    def denoise(v_in, q_d, s):
        h = 1e-5 * np.sqrt(1.0 + q_d)
        out = posterior_mean(v_in, q_d, prior_arg)
        slope = (posterior_mean(v_in + h, q_d, prior_arg) - posterior_mean(v_in - h, q_d, prior_arg)) / (2 * h)
        return out, float(np.mean(slope))

    return _amp(X, y, denoise, n_iter)


def lasso(X, y, lam, tol=1e-13):
    r"""The LASSO solution :math:`\arg\min_s \tfrac12\lVert y - Xs\rVert^2 + \lambda\lVert s\rVert_1`, by coordinate descent.

    An independent, well-kept solver for the problem that :func:`amp_lasso`
    solves by message passing: scikit-learn's coordinate descent, whose
    objective :math:`\frac{1}{2N}\lVert y - Xs\rVert^2 + a\lVert s\rVert_1`
    is ours with :math:`a = \lambda/N`. It stops when the duality gap is
    below ``tol`` times :math:`\lVert y\rVert^2/N`, which leaves the
    optimality conditions :math:`X^\top(y - X\hat s) \in \lambda\,\partial\lVert
    \hat s\rVert_1` satisfied to about :math:`10^{-12}`.

    Parameters
    ----------
    X : array_like, shape (N, P)
    y : array_like, shape (N,)
    lam : float
        :math:`\lambda > 0`.
    tol : float, optional
        Relative duality gap, :math:`> 0`.

    Returns
    -------
    ndarray, shape (P,)
    """
    X, y = _xy(X, y)
    lam = v.real("lam", lam, lo=0.0, lo_open=True)
    tol = v.real("tol", tol, lo=0.0, lo_open=True)
    from sklearn.linear_model import Lasso

    model = Lasso(alpha=lam / X.shape[0], fit_intercept=False, tol=tol, max_iter=1_000_000)
    return model.fit(X, y).coef_.copy()


def l1_recovery(X, y):
    r"""Noiseless :math:`\ell_1` recovery :math:`\min\lVert s\rVert_1` subject to :math:`Xs = y`, as a linear programme (HiGHS).

    Written with :math:`s = u - w`, :math:`u, w \ge 0`, minimising
    :math:`\sum(u + w)`. Returns the minimiser, or raises ``ValueError`` if the
    solver fails.
    """
    X, y = _xy(X, y)
    P = X.shape[1]
    res = optimize.linprog(np.ones(2 * P), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise ValueError(f"the linear programme failed: {res.message}")
    return res.x[:P] - res.x[P:]
