r"""Retina models: the metrics that compare a model's predicted firing rate with repeated recordings.

Groundwork for the chapter *Retina CNNs* (McIntosh et al. 2016). Responses to
a repeated stimulus are an array ``responses`` of shape ``(n_repeats,
n_bins)``: spike counts of one cell in each time bin on each repeat. A model
predicts a rate ``prediction`` of shape ``(n_bins,)``. Trial-to-trial noise
limits how well *any* prediction can match single trials, and even the
trial average, so every score here comes with its ceiling:

* :func:`rate_correlation`: Pearson correlation of the prediction with the
  trial-averaged rate, the paper's headline metric;
* :func:`split_half_reliability`: the correlation between the averages of
  two halves of the repeats, corrected to the full number of repeats by the
  Spearman–Brown formula: the retina's own reliability, the ceiling for
  :func:`rate_correlation`;
* :func:`fraction_of_variance_explained` and
  :func:`fraction_of_explainable_variance_explained` (FEV and FEVE): the
  variance of single trials that a prediction explains, before and after
  removing the noise variance that no prediction can explain.
"""

import numpy as np

from . import _validation as v

__all__ = [
    "rate_correlation",
    "split_half_reliability",
    "noise_variance",
    "fraction_of_variance_explained",
    "fraction_of_explainable_variance_explained",
]


def _responses(responses, min_repeats=2):
    r = v.matrix("responses", responses)
    if r.shape[0] < min_repeats or r.shape[1] < 2:
        raise ValueError(f"responses must have shape (n_repeats >= {min_repeats}, n_bins >= 2), got {r.shape}")
    return r


def _prediction(prediction, n_bins):
    p = v.real_array("prediction", prediction)
    if p.shape != (n_bins,):
        raise ValueError(f"prediction must have shape ({n_bins},) to match the responses, got {p.shape}")
    return p


def rate_correlation(prediction, responses):
    """Pearson correlation of ``prediction`` with the trial-averaged rate ``responses.mean(axis=0)``."""
    r = _responses(responses, min_repeats=1)
    p = _prediction(prediction, r.shape[1])
    m = r.mean(axis=0)
    if np.std(p) == 0 or np.std(m) == 0:
        raise ValueError("prediction and the trial-averaged rate must both vary over time")
    return float(np.corrcoef(p, m)[0, 1])


def split_half_reliability(responses, n_splits=100, rng=None):
    r"""The Spearman–Brown-corrected split-half correlation of the trial averages.

    The repeats are split at random into two halves of :math:`K/2` (``n_splits``
    times); :math:`\rho_{1/2}` is the mean correlation of the two halves'
    averages, and

    .. math::

        \rho_K = \frac{2\rho_{1/2}}{1 + \rho_{1/2}}

    estimates the correlation between two independent averages of :math:`K`
    repeats: the reliability of the recorded rate, and the ceiling for
    :func:`rate_correlation`. For a true rate :math:`\lambda_t` with noise
    variance :math:`\sigma^2` per trial, :math:`\rho_K \to
    \operatorname{Var}\lambda/(\operatorname{Var}\lambda + \sigma^2/K)`.
    """
    r = _responses(responses)
    n_splits = v.integer("n_splits", n_splits, lo=1)
    rng = v.as_generator(rng)
    K = r.shape[0]
    half = K // 2
    rhos = []
    for _ in range(n_splits):
        order = rng.permutation(K)
        a, b = r[order[:half]].mean(axis=0), r[order[half:2 * half]].mean(axis=0)
        rhos.append(np.corrcoef(a, b)[0, 1])
    rho = float(np.mean(rhos))
    return 2 * rho / (1 + rho)


def noise_variance(responses):
    r"""The trial-to-trial variance, :math:`\sigma^2_{\mathrm{noise}} = \langle\operatorname{Var}_k r_{kt}\rangle_t` (unbiased over repeats)."""
    r = _responses(responses)
    return float(np.mean(np.var(r, axis=0, ddof=1)))


def fraction_of_variance_explained(prediction, responses):
    r"""FEV, not corrected for noise: :math:`1 - \langle(r_{kt} - p_t)^2\rangle/\operatorname{Var}(r)` over all single trials.

    Even the true rate scores below 1: it cannot explain the trial-to-trial
    noise, a fraction :math:`\sigma^2_{\mathrm{noise}}/\operatorname{Var}(r)`.
    """
    r = _responses(responses, min_repeats=1)
    p = _prediction(prediction, r.shape[1])
    return float(1 - np.mean((r - p) ** 2) / np.var(r))


def fraction_of_explainable_variance_explained(prediction, responses):
    r"""FEVE: the fraction of the *explainable* variance of single trials that the prediction explains.

    .. math::

        \mathrm{FEVE} = 1 - \frac{\langle(r_{kt} - p_t)^2\rangle - \sigma^2_{\mathrm{noise}}}
                               {\operatorname{Var}(r) - \sigma^2_{\mathrm{noise}}} ,

    with :func:`noise_variance`. The true rate scores 1 up to sampling error,
    a constant prediction at the mean rate about 0; unlike FEV it does not
    penalise a model for the noise of the recording.
    """
    r = _responses(responses)
    p = _prediction(prediction, r.shape[1])
    noise = noise_variance(r)
    explainable = np.var(r) - noise
    if explainable <= 0:
        raise ValueError("responses have no explainable variance: the noise is as large as the total variance")
    return float(1 - (np.mean((r - p) ** 2) - noise) / explainable)
