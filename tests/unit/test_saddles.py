"""Loss landscapes: the exact Hessian of deep linear networks against finite differences and theory."""

import numpy as np
import pytest

from statmech_dl import init, saddles
from statmech_dl import linear_dynamics as ld


def balanced_solution(s, n_layers, n, rng):
    """Balanced weights whose product is U diag(s) V^T, layers joined by random rotations."""
    U, V = init.orthogonal(n, rng=rng), init.orthogonal(n, rng=rng)
    return ld.decoupled_initial_weights(U, V.T, s, n_hidden=n, rng=rng, n_layers=n_layers), U, V


@pytest.mark.parametrize("n_layers", [2, 3, 5, 8])
def test_hessian_top_eigenvalue_at_balanced_solution(n_layers):
    s = np.array([2.0, 1.3, 0.7])
    Ws, _, _ = balanced_solution(s, n_layers, 3, np.random.default_rng(n_layers))
    H = saddles.gauss_newton_hessian(Ws)
    top = np.linalg.eigvalsh(H)[-1]
    assert top == pytest.approx(saddles.hessian_top_eigenvalue(s.max(), n_layers), rel=1e-9)


def test_gauss_newton_hessian_matches_finite_differences_at_a_solution():
    rng = np.random.default_rng(0)
    Ws, U, V = balanced_solution([1.5, 0.8], 4, 2, rng)
    target = Ws[2] @ Ws[1] @ Ws[0]
    sigma11 = np.array([[1.0, 0.3], [0.3, 0.5]])
    shapes = [W.shape for W in Ws]
    theta0 = np.concatenate([W.ravel() for W in Ws])

    def loss(theta):
        mats, k = [], 0
        for shp in shapes:
            mats.append(theta[k:k + shp[0] * shp[1]].reshape(shp))
            k += shp[0] * shp[1]
        D = mats[2] @ mats[1] @ mats[0] - target
        return 0.5 * np.trace(D @ sigma11 @ D.T)

    h, n = 1e-4, theta0.size
    H_fd = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            H_fd[i, j] = (loss(theta0 + e_i + e_j) - loss(theta0 + e_i - e_j)
                          - loss(theta0 - e_i + e_j) + loss(theta0 - e_i - e_j)) / (4 * h * h)
    assert np.allclose(saddles.gauss_newton_hessian(Ws, sigma11), H_fd, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="^n_layers must"):
        saddles.hessian_top_eigenvalue(1.0, 1)
    with pytest.raises(ValueError, match="^weights"):
        saddles.gauss_newton_hessian([])
