"""Checks for the exercises of the chapter *Saddle points*."""

import numpy as np

from .. import saddles
from . import assert_close, passed, require_callable

__all__ = ["check_index_fraction", "check_autoencoder_index", "check_saddle_free_step"]


def check_index_fraction(index_fraction):
    """Exercise ``ex-sp-index``: ``index_fraction(u, p)``, the p-spin index at energy per spin ``u``."""
    require_callable(index_fraction, "index_fraction")
    for p in (2, 3, 5):
        for u in (-2.0, -1.2, -0.5, 0.0, 0.4, 1.1, 3.0):
            assert_close(f"index_fraction({u}, {p})", index_fraction(u, p), saddles.pspin_index(u, p),
                         rtol=1e-9, atol=1e-12,
                         hint="Count the eigenvalues of the shifted semicircle that lie below zero; "
                              "outside the semicircle's support the answer is 0 or 1.")
    passed()


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


def check_saddle_free_step(saddle_free_step):
    """Exercise ``ex-sp-saddle-free``: ``saddle_free_step(g, H, damping)``."""
    require_callable(saddle_free_step, "saddle_free_step")
    rng = np.random.default_rng(1)
    for d, damping in [(2, 0.0), (5, 0.1), (8, 1.0)]:
        M = rng.standard_normal((d, d))
        H, g = M + M.T, rng.standard_normal(d)
        assert_close(f"saddle_free_step(g, H, {damping}) in {d} dimensions", saddle_free_step(g, H, damping),
                     saddles.saddle_free_step(g, H, damping), rtol=1e-8, atol=1e-10,
                     hint="Diagonalise H, replace each eigenvalue by its absolute value plus the damping, "
                          "and step against the gradient in that metric.")
    passed()
