"""Checks for the exercises of the chapter *Semantic development*.

Each check takes the learner's answer (a function or a number), compares it
with the library's implementation and raises :class:`AssertionError` with a
hint when it disagrees.
"""

import functools

import numpy as np

from .. import linear_dynamics as ld
from .. import semantic as sm
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = [
    "check_half_time",
    "check_tree_eigenvalues",
    "check_min_category_features",
    "check_illusory_peak",
    "illusory_peak_time",
]


@recorded
def check_half_time(half_time):
    """Exercise ``ex-semdev-half-time``: ``half_time(s, a0, tau)`` of a three-layer mode."""
    require_callable(half_time, "half_time")
    for s, a0, tau in [(1.0, 1e-3, 1.0), (5.0, 1e-2, 1.0), (0.3, 1e-4, 2.5), (7.0, 0.5, 8.0)]:
        expected = ld.half_time(s, a0, tau)
        hint = ("Solve a(t) = s/2 in the exact solution; remember the rate is 2s/tau."
                if abs(half_time(s, a0, tau) - expected) > 0.01 * expected else "")
        assert_close(f"half_time(s={s}, a0={a0}, tau={tau})", half_time(s, a0, tau), expected, rtol=1e-6, hint=hint)
    passed()


@recorded
def check_tree_eigenvalues(tree_eigenvalues):
    """Exercise ``ex-semdev-tree``: the four eigenvalues of a depth-2 binary tree."""
    require_callable(tree_eigenvalues, "tree_eigenvalues")
    for eps in [0.0, 0.05, 0.1, 0.25, 0.4, 0.5]:
        ev, mult = sm.hierarchy_spectrum(2, 2, eps)
        expected = np.repeat(ev, mult)
        got = np.asarray(tree_eigenvalues(eps), dtype=float)
        assert_close(f"tree_eigenvalues({eps})", got, expected, rtol=1e-9, atol=1e-12,
                     hint="Return all four eigenvalues in decreasing order; "
                          "entries of C are 1, r^2 (siblings) and r^4 (cousins) with r = 1 - 2 eps.")
    passed()


@recorded
def check_min_category_features(min_category_features):
    """Exercise ``ex-semdev-coherence``: the fewest features that make a category learnable."""
    require_callable(min_category_features, "min_category_features")
    for n_items, n_features, k_items, noise in [(100, 100, 10, 1.0), (400, 100, 20, 1.0),
                                                (50, 200, 5, 0.5), (1000, 1000, 30, 2.0)]:
        expected = next(k for k in range(1, n_features + 1)
                        if sm.coherence_theory(n_items, n_features, k_items, k, noise).learnable)
        got = min_category_features(n_items, n_features, k_items, noise)
        if got != expected:
            raise AssertionError(
                f"min_category_features({n_items}, {n_features}, {k_items}, {noise}) returned {got}, which is "
                f"too {'large' if got > expected else 'small'}. The smallest K_f is the first one at which the "
                "coherence exceeds the learnability threshold (strictly).")
    passed()


@functools.lru_cache(maxsize=16)
def illusory_peak_time(a0=1e-3, tau=1.0):
    """Time of the maximum of the predicted 'pine has leaves' output (reference answer).

    Time is in units of ``tau`` per training example: with one-hot items the
    modes evolve with time constant ``P * tau`` (chapter *Semantic development*).
    Cached: a grader judges many answers against it.
    """
    from scipy.optimize import minimize_scalar

    data = sm.rogers_mcclelland()
    U, s, Vt = ld.mode_decomposition(data.matrix)
    P = data.matrix.shape[1]
    f, i = data.features.index("has leaves"), data.items.index("pine")
    weights = U[f] * Vt[:, i]

    def neg(t):
        return -float(weights @ ld.mode_strength(t, s, a0, tau * P))

    grid = np.linspace(0, 20 * tau * P, 4001)
    t0 = grid[np.argmax(ld.mode_strength(grid[:, None], s, a0, tau * P) @ weights)]
    res = minimize_scalar(neg, bounds=(max(0.0, t0 - 0.01 * tau * P), t0 + 0.01 * tau * P),
                          method="bounded", options={"xatol": 1e-10})
    return float(res.x)


@recorded
def check_illusory_peak(t_peak, a0=1e-3):
    """Exercise ``ex-semdev-illusory``: when does the network most believe pine has leaves?"""
    expected = illusory_peak_time(a0)
    assert_close("t_peak", t_peak, expected, rtol=1e-3,
                 hint="Use y_hat = U diag(a(t)) V^T with one-hot items (tau -> P tau), "
                      "and maximise the (has leaves, pine) entry over t.")
    passed()
