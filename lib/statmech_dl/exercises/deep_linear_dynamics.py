"""Checks for the exercises of the chapter *Deep linear dynamics*."""

import numpy as np

from .. import init
from .. import linear_dynamics as ld
from .. import saddles
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = ["check_three_layer_time", "check_hessian_top", "check_haar", "check_product_variance",
           "check_typical_value"]


@recorded
def check_three_layer_time(learning_time_3):
    """Exercise ``ex-dld-time``: ``learning_time_3(s, u0, uf, tau)`` in closed form."""
    require_callable(learning_time_3, "three_layer_time")
    for s, u0, uf, tau in [(1.0, 1e-3, 0.5, 1.0), (3.0, 0.01, 2.9, 2.0), (0.4, 1e-4, 0.01, 5.0)]:
        assert_close(f"learning_time_3({s}, {u0}, {uf}, {tau})", learning_time_3(s, u0, uf, tau),
                     ld.learning_time(s, u0, uf, 3, tau), rtol=1e-8,
                     hint="With N_l = 3 the integrand is 1/(2 u (s - u)); use partial fractions.")
    passed()


@recorded
def check_hessian_top(top_eigenvalue):
    """Exercise ``ex-dld-curvature``: ``top_eigenvalue(s, n_layers)`` of a scalar chain."""
    require_callable(top_eigenvalue, "hessian_top")
    for s in (0.5, 1.0, 2.0):
        for n_layers in (2, 3, 5, 10, 30):
            assert_close(f"top_eigenvalue({s}, {n_layers})", top_eigenvalue(s, n_layers),
                         saddles.hessian_top_eigenvalue(s, n_layers), rtol=1e-9,
                         hint="At the solution the Hessian is g g^T with g_i = prod_{j != i} w_j.")
    passed()


@recorded
def check_haar(haar_orthogonal, n=3, n_samples=3000):
    """Exercise ``ex-dld-haar``: ``haar_orthogonal(n, rng)`` must be exactly Haar."""
    require_callable(haar_orthogonal, "haar")
    rng = np.random.default_rng(12345)
    traces, corner = [], []
    for _ in range(n_samples):
        Q = np.asarray(haar_orthogonal(n, rng), dtype=float)
        if Q.shape != (n, n) or not np.allclose(Q @ Q.T, np.eye(n), atol=1e-10):
            raise AssertionError("haar_orthogonal(n, rng) must return an n x n orthogonal matrix")
        traces.append(np.trace(Q))
        corner.append(Q[0, 0])
    se = 1 / np.sqrt(n_samples)      # Var(tr Q) = 1 for Haar matrices
    if abs(np.mean(traces)) > 4 * se or abs(np.mean(corner)) > 4 * se:
        raise AssertionError(
            f"mean trace {np.mean(traces):+.3f} (Haar: 0 +- {se:.3f}): the diagonal is biased. Is Z = QR "
            "unique? Look at the signs LAPACK chooses for the diagonal of R.")
    passed()


@recorded
def check_product_variance(variance):
    """Exercise ``ex-dld-spectrum``: ``variance(depth)`` of the squared singular values."""
    require_callable(variance, "product_variance")
    for depth in (1, 2, 5, 10, 30):
        m1, m2 = init.gaussian_product_moments(depth, 2)
        assert_close(f"variance({depth})", variance(depth), m2 - m1**2, rtol=1e-9,
                     hint="The variance is the second moment minus the squared first; both are Fuss-Catalan "
                          "moments of the text.")
    passed()


@recorded
def check_typical_value(typical, depth_tenfold):
    """Exercise ``ex-dld-spectrum``: ``typical(L)``, the geometric-mean squared singular value, and the depth
    at which it is ten times smaller than the mean."""
    require_callable(typical, "typical")
    for depth in (1, 2, 3, 5, 10):
        assert_close(f"typical({depth})", typical(depth), np.exp(init.gaussian_product_log_mean(depth)),
                     rtol=1e-9, hint="Determinants multiply: the mean logarithm of the squared singular "
                                     "values adds up over the layers. What is it for one layer?")
    expected = next(L for L in range(1, 100) if np.exp(init.gaussian_product_log_mean(L)) <= 0.1)
    if depth_tenfold != expected:
        raise AssertionError(f"depth_tenfold = {depth_tenfold!r} is too {'large' if depth_tenfold > expected else 'small'}: "
                             "it is the smallest whole number of layers at which typical(L) <= 0.1.")
    passed()
