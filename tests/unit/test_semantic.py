"""Data sets and theory of the semantic-development chapter, against sampling."""

import numpy as np
import pytest

from statmech_dl import linear_dynamics as ld
from statmech_dl import semantic as sm

TREES = [(1, 2), (2, 2), (3, 2), (2, 3), (3, 3), (2, 4)]


def test_rogers_mcclelland():
    items, features, Y = sm.rogers_mcclelland()
    assert items == ("pine", "oak", "rose", "daisy", "robin", "canary", "sunfish", "salmon")
    assert Y.shape == (36, 8) and set(np.unique(Y)) == {0.0, 1.0}
    leaves = features.index("has leaves")
    assert Y[leaves, items.index("pine")] == 0 and Y[leaves, items.index("oak")] == 1
    assert np.all(Y[features.index("ISA living thing")] == 1)
    # Each kind of property is present.
    for prefix in ("ISA ", "is ", "can ", "has "):
        assert any(f.startswith(prefix) for f in features)


def test_typicality_birds_orders_typicality():
    items, features, Y = sm.typicality_birds()
    U, s, Vt = ld.mode_decomposition(Y)
    typicality = U[:, 0] @ Y
    assert list(np.argsort(-typicality)) == [0, 1, 2, 3]
    assert np.allclose(typicality, s[0] * Vt[0])
    assert np.all(Y[features.index("has wings")] == 1)


@pytest.mark.parametrize("depth,branching", TREES)
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2, 0.35, 0.5])
def test_hierarchy_spectrum_matches_numerical_eigenvalues(depth, branching, eps):
    C = sm.hierarchy_correlation(depth, branching, eps)
    lam, mult = sm.hierarchy_spectrum(depth, branching, eps)
    assert mult.sum() == branching**depth
    assert np.all(np.diff(lam) <= 1e-12)
    assert np.allclose(np.repeat(lam, mult), np.sort(np.linalg.eigvalsh(C))[::-1], atol=1e-10)


@pytest.mark.parametrize("depth,branching", TREES)
def test_hierarchy_modes_diagonalise_the_correlation(depth, branching):
    modes, levels = sm.hierarchy_modes(depth, branching)
    P = branching**depth
    assert np.allclose(modes.T @ modes, np.eye(P))
    C = sm.hierarchy_correlation(depth, branching, 0.15)
    D = modes.T @ C @ modes
    assert np.allclose(D, np.diag(np.diag(D)), atol=1e-12)
    lam, mult = sm.hierarchy_spectrum(depth, branching, 0.15)
    for k, value in zip([-1] + list(range(depth)), lam):
        assert np.allclose(np.diag(D)[levels == k], value)


@pytest.mark.parametrize("eps", [0.02, 0.1, 0.3, 0.45])
def test_eigenvalues_strictly_decrease_with_level(eps):
    lam, _ = sm.hierarchy_spectrum(4, 3, eps)
    assert np.all(np.diff(lam) < 0)


def test_branching_diffusion_correlations_match_theory():
    n = 40000
    Y = sm.branching_diffusion(3, 2, n, 0.1, rng=0)
    assert Y.shape == (n, 8) and set(np.unique(Y)) == {-1.0, 1.0}
    C = sm.hierarchy_correlation(3, 2, 0.1)
    # Each entry is a mean of n products f_i f_j with variance 1 - C_ij^2.
    se = np.sqrt((1 - C**2) / n) + 1e-12
    assert np.max(np.abs(Y.T @ Y / n - C) / se) < 5
    assert abs(Y.mean()) < 5 / np.sqrt(n)


def test_branching_diffusion_limits_and_seeding():
    Y0 = sm.branching_diffusion(2, 3, 100, 0.0, rng=1)
    assert np.all(Y0 == Y0[:, :1])
    assert np.array_equal(sm.branching_diffusion(2, 2, 50, 0.2, rng=7), sm.branching_diffusion(2, 2, 50, 0.2, rng=7))
    Yh = sm.branching_diffusion(2, 2, 40000, 0.5, rng=2)
    assert np.max(np.abs(Yh.T @ Yh / 40000 - np.eye(4))) < 5 / np.sqrt(40000)


def test_sampled_level_eigenvalues_are_unbiased():
    depth, branching, eps, n_feat, n_samples = 3, 2, 0.1, 2000, 40
    lam, mult = sm.hierarchy_spectrum(depth, branching, eps)
    level_of = np.repeat(np.arange(len(lam)), mult)
    means = []
    for seed in range(n_samples):
        Y = sm.branching_diffusion(depth, branching, n_feat, eps, rng=seed)
        e = np.sort(np.linalg.eigvalsh(Y.T @ Y / n_feat))[::-1]
        means.append([e[level_of == k].mean() for k in range(len(lam))])
    means = np.array(means)
    z = (means.mean(0) - lam) / (means.std(0, ddof=1) / np.sqrt(n_samples))
    assert np.all(np.abs(z) < 4), z


# --- category coherence -----------------------------------------------------

def test_coherence_formula_and_threshold():
    assert sm.category_coherence(100, 400, 10, 20, 0.5) == pytest.approx(10 * 20 / (0.25 * 200))
    # Learnable exactly when the coherence exceeds one.
    for k_f in range(1, 40):
        th = sm.coherence_theory(200, 200, 20, k_f, 1.0)
        assert th.learnable == (th.coherence > 1)
        assert (th.item_overlap > 0) == th.learnable


@pytest.mark.parametrize("n_items,n_features", [(400, 400), (600, 200), (200, 600)])
@pytest.mark.parametrize("coherence", [3.0, 6.0])
def test_spiked_category_matches_random_matrix_theory(n_items, n_features, coherence):
    k_items = 30
    k_features = int(round(coherence * np.sqrt(n_items * n_features) / k_items))
    th = sm.coherence_theory(n_items, n_features, k_items, k_features, 1.0)
    ov_i, ov_f, sv = [], [], []
    for seed in range(4):
        Y, v, u = sm.coherent_category(n_items, n_features, k_items, k_features, 1.0, rng=seed)
        U, s, Vt = np.linalg.svd(Y, full_matrices=False)
        ov_i.append((Vt[0] @ v) ** 2)
        ov_f.append((U[:, 0] @ u) ** 2)
        sv.append(s[0])
    # Finite-size fluctuations of the overlaps are O(1/sqrt(N)) ~ 0.05 per sample.
    assert np.mean(ov_i) == pytest.approx(th.item_overlap, abs=0.04)
    assert np.mean(ov_f) == pytest.approx(th.feature_overlap, abs=0.04)
    assert np.mean(sv) == pytest.approx(th.singular_value, rel=0.02)


def test_incoherent_category_is_not_a_mode():
    th = sm.coherence_theory(400, 400, 20, 4, 1.0)
    assert not th.learnable and th.item_overlap == 0.0
    Y, v, _ = sm.coherent_category(400, 400, 20, 4, 1.0, rng=0)
    _, s, Vt = np.linalg.svd(Y)
    assert (Vt[0] @ v) ** 2 < 0.05
    assert s[0] == pytest.approx(th.bulk_edge, rel=0.03)


# --- inductive generalisation ----------------------------------------------

def test_teaching_converges_to_similarity_ratios():
    rng = np.random.default_rng(0)
    W21 = rng.standard_normal((6, 8))
    pred = sm.teach_novel_property(W21, 2, lr=0.5 / np.sum(W21[:, 2] ** 2), n_steps=200)
    assert np.allclose(pred, W21.T @ W21[:, 2] / np.sum(W21[:, 2] ** 2))
    W32 = rng.standard_normal((10, 6))
    pred = sm.teach_novel_item(W32, 3, lr=0.5 / np.sum(W32[3] ** 2), n_steps=200)
    assert np.allclose(pred, W32 @ W32[3] / np.sum(W32[3] ** 2))


# --- validation -------------------------------------------------------------

@pytest.mark.parametrize("call,name", [
    (lambda: sm.branching_diffusion(0, 2, 10, 0.1), "depth"),
    (lambda: sm.branching_diffusion(2, 1, 10, 0.1), "branching"),
    (lambda: sm.branching_diffusion(2, 2, 0, 0.1), "n_features"),
    (lambda: sm.branching_diffusion(2, 2, 10, -0.1), "flip_prob"),
    (lambda: sm.branching_diffusion(2, 2, 10, 0.6), "flip_prob"),
    (lambda: sm.hierarchy_spectrum(2, 2, np.nan), "flip_prob"),
    (lambda: sm.hierarchy_spectrum(1.5, 2, 0.1), "depth"),
    (lambda: sm.hierarchy_correlation(20, 4, 0.1), "branching\\*\\*depth"),
    (lambda: sm.coherence_theory(100, 100, 200, 5, 1.0), "k_items"),
    (lambda: sm.coherence_theory(100, 100, 10, 5, 0.0), "noise_std"),
    (lambda: sm.teach_novel_property(np.ones((3, 4)), 4), "item"),
    (lambda: sm.teach_novel_property(np.ones((3, 4)), 0, lr=10.0), "lr"),
])
def test_bad_arguments_raise_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


@pytest.mark.parametrize("depth,branching,features", [(3, 2, (4, 2, 8, 1)), (2, 3, (1, 2, 3)), (3, 2, (1, 0, 3, 2))])
def test_category_hierarchy_singular_values(depth, branching, features):
    data = sm.category_hierarchy(depth, branching, features)
    assert data.matrix.shape == (sum(f * branching**l for l, f in enumerate(features)), branching**depth)
    s, mult, coherence = sm.category_hierarchy_spectrum(depth, branching, features)
    svd = np.sort(np.linalg.svd(data.matrix, compute_uv=False))[::-1]
    assert np.allclose(svd, np.sort(np.repeat(s, mult))[::-1], atol=1e-10)
    # s_k^2 is the summed coherence of the categories below level k, in units of sigma^2 sqrt(N_o N_f).
    scale = np.sqrt(data.matrix.shape[1] * data.matrix.shape[0])
    assert np.allclose(s[1:] ** 2, [scale * coherence[k + 1:].sum() for k in range(depth)])
    with pytest.raises(ValueError, match="^features_per_level must"):
        sm.category_hierarchy(depth, branching, features[:-1])
