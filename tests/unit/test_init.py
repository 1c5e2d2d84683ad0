"""Weight initialisations: Haar orthogonal matrices, Gaussian matrices and the spectra of their products."""

import numpy as np
import pytest

from statmech_dl import init


def test_orthogonal_is_orthogonal_with_gain():
    Q = init.orthogonal(50, gain=1.3, rng=0)
    assert np.allclose(Q @ Q.T, 1.69 * np.eye(50))
    R = init.semi_orthogonal(10, 50, rng=0)
    assert np.allclose(R @ R.T, np.eye(10))
    C = init.semi_orthogonal(50, 10, rng=0)
    assert np.allclose(C.T @ C, np.eye(10))


def test_orthogonal_is_haar_and_plain_qr_is_not():
    # For Haar matrices E[tr Q] = 0 and E[Q_00] = 0; LAPACK's QR without the
    # sign correction has a strongly biased diagonal.
    n, m = 4, 4000
    rng = np.random.default_rng(0)
    haar = np.array([np.trace(init.orthogonal(n, rng=rng)) for _ in range(m)])
    plain = np.array([np.trace(np.linalg.qr(rng.standard_normal((n, n)))[0]) for _ in range(m)])
    se = np.sqrt(1.0 / m)            # Var(tr Q) = 1 for Haar Q, n >= 2
    assert abs(haar.mean()) < 4 * se
    assert abs(plain.mean()) > 20 * se
    q00 = np.array([init.orthogonal(n, rng=rng)[0, 0] for _ in range(m)])
    assert np.mean(q00**2) == pytest.approx(1 / n, rel=0.08)


def test_gaussian_variance():
    W = init.gaussian(300, 200, gain=1.5, rng=0)
    assert W.var() == pytest.approx(1.5**2 / 200, rel=0.02)


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_gaussian_product_moments_against_simulation(depth):
    m1, m2 = init.gaussian_product_moments(depth, 2)
    assert m1 == 1.0 and m2 - 1 == pytest.approx(depth)
    n, rng = 400, np.random.default_rng(depth)
    lam = []
    for _ in range(3):
        W = np.eye(n)
        for _ in range(depth):
            W = init.gaussian(n, n, rng=rng) @ W
        lam.append(np.linalg.svd(W, compute_uv=False) ** 2)
    lam = np.concatenate(lam)
    assert lam.mean() == pytest.approx(1.0, rel=0.05)
    # Finite-width corrections to the variance are O(depth^2 / n).
    assert lam.var() == pytest.approx(depth, rel=0.05 + 2 * depth / n)


@pytest.mark.parametrize("depth", [1, 3, 8])
def test_gaussian_product_log_mean_against_simulation(depth):
    # The mean log squared singular value is -L at large width; at N = 300 the
    # finite-size correction is O(L/N) and the sample average over N values
    # has standard error about pi/sqrt(6 N) per layer (log of a chi-square).
    n, rng = 300, np.random.default_rng(depth)
    W = np.eye(n)
    for _ in range(depth):
        W = init.gaussian(n, n, rng=rng) @ W
    log_mean = np.mean(np.log(np.linalg.svd(W, compute_uv=False) ** 2))
    assert log_mean == pytest.approx(init.gaussian_product_log_mean(depth), abs=0.05 * depth + 0.05)


def test_draw_names_the_ensemble():
    rng = np.random.default_rng(0)
    W = init.draw("orthogonal", 4, 7, 1.5, rng)
    assert W.shape == (4, 7) and np.allclose(W @ W.T, 2.25 * np.eye(4))
    G = init.draw("gaussian", 30, 20, 2.0, np.random.default_rng(1))
    assert np.array_equal(G, init.gaussian(30, 20, 2.0, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="^weights must"):
        init.draw("uniform", 3, 3)


@pytest.mark.parametrize("call,name", [
    (lambda: init.orthogonal(0), "n"),
    (lambda: init.orthogonal(3, gain=0.0), "gain"),
    (lambda: init.gaussian(3, 0), "n_in"),
    (lambda: init.gaussian_product_moments(0), "depth"),
])
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()
