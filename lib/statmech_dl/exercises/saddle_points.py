"""Checks for the exercises of the chapter *Saddle points*."""

import numpy as np

from .. import saddles
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = ["check_hessian_variances", "check_autoencoder_index", "check_toy_step"]


@recorded
def check_hessian_variances(hessian_variances):
    """Exercise ``ex-sp-hessian-variance``: ``hessian_variances(n, p)`` returns the variances of an off-diagonal and a diagonal entry of the tangent Hessian."""
    require_callable(hessian_variances, "hessian_variances")
    for n in (10, 40, 1000):
        for p in (2, 3, 5):
            got = hessian_variances(n, p)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise AssertionError("hessian_variances(n, p) should return two numbers: "
                                     "(off-diagonal variance, diagonal variance)")
            base = p * (p - 1) / n
            for which, value, factor in (("off-diagonal", got[0], 1.0), ("diagonal", got[1], 2.0)):
                assert_close(f"the {which} variance for n = {n}, p = {p}", value, factor * base, rtol=1e-9,
                             hint="Differentiate the covariance twice in sigma and twice in sigma', then set "
                                  "sigma' = sigma: in tangent directions only the terms in which every "
                                  "derivative lands on the dot product survive. For a diagonal entry, count "
                                  "the ways of pairing the four indices.")
    passed()


@recorded
def check_autoencoder_index(autoencoder_index):
    """Exercise ``ex-sp-autoencoder``: ``autoencoder_index(eigenvalues, subset)``."""
    require_callable(autoencoder_index, "autoencoder_index")
    rng = np.random.default_rng(0)
    for n, k in [(4, 1), (6, 2), (7, 3)]:
        lam = np.sort(rng.uniform(0.1, 5.0, n))[::-1]
        for subset, _, index in saddles.linear_autoencoder_critical_points(lam, k):
            got = autoencoder_index(lam, subset)
            if got != index:
                raise AssertionError(
                    f"autoencoder_index(eigenvalues, {subset}) with n = {n} gave {got}, which is too "
                    f"{'large' if got > index else 'small'}. Only a swap of a kept direction for a "
                    "discarded one with more variance lowers the loss.")
    passed()


@recorded
def check_toy_step(toy_step):
    """Exercise ``ex-sp-toy-maps``: ``toy_step(x, y, method)``, one undamped step of ``"newton"`` or ``"saddle_free"``."""
    require_callable(toy_step, "toy_step")

    def grad(z):
        return saddles.toy_saddle(z)[1]

    def hess(z):
        return saddles.toy_saddle(z)[2]

    for method in ("newton", "saddle_free"):
        for x, y in [(1.0, 1e-4), (0.3, 0.05), (-0.7, 0.2), (2.0, -0.4), (0.0, 0.9), (0.5, 1.5)]:
            expected = saddles.descend(grad, hess, [x, y], method, 1)[1]
            try:
                got = toy_step(x, y, method)
            except Exception as err:   # noqa: BLE001 - the learner's code may raise anything
                raise AssertionError(f"toy_step({x}, {y}, {method!r}) raised {type(err).__name__}: {err}") from None
            assert_close(f"toy_step({x}, {y}, {method!r})", got, expected, rtol=1e-9, atol=1e-12,
                         hint="The Hessian of f is diagonal, so each coordinate takes its own Newton step, "
                              "gradient over curvature. Saddle-free Newton divides by the absolute "
                              "curvature instead.")
    passed()
