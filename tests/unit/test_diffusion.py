"""Diffusion models: the swiss-roll mixture, the forward process and the oracle bound."""

import numpy as np
import pytest
from statmech_dl import diffusion as df


def test_swiss_roll_density_normalisation_and_scale():
    roll = df.swiss_roll(0.5, n_components=60)
    x = roll.sample(200_000, rng=0)
    assert np.mean(x.var(axis=0)) == pytest.approx(1.0, abs=0.01)
    # The density integrates to 1 (a fine grid on a box holding the roll; the
    # components are smooth on the scale of the grid, so the sum is accurate).
    g = np.linspace(-4, 4, 401)
    xx, yy = np.meshgrid(g, g)
    dens = np.exp(roll.log_prob(np.column_stack([xx.ravel(), yy.ravel()])))
    assert dens.sum() * (g[1] - g[0]) ** 2 == pytest.approx(1.0, abs=1e-4)


def test_score_is_the_gradient_of_log_prob():
    roll = df.swiss_roll(0.3, n_components=50)
    x = np.array([[0.2, -0.4], [1.1, 0.7], [-1.5, 0.1]])
    h = 1e-6
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        fd = (roll.log_prob(x + e) - roll.log_prob(x - e)) / (2 * h)
        assert np.allclose(roll.score(x)[:, i], fd, rtol=1e-6, atol=1e-6)


def test_forward_marginal_matches_iterated_steps():
    betas = df.sd_betas(10)
    rng = np.random.default_rng(1)
    x0 = np.full((200_000, 1), 0.7)
    x = x0.copy()
    for b in betas[:6]:
        x = np.sqrt(1 - b) * x + np.sqrt(b) * rng.standard_normal(x.shape)
    a, s2 = df.forward_marginal(6, betas)
    assert x.mean() == pytest.approx(a * 0.7, abs=4 * np.sqrt(s2 / x.size))
    assert x.var() == pytest.approx(s2, rel=0.01)
    assert df.forward_marginal(0, betas) == (1.0, 0.0)


def test_two_forms_of_the_posterior_agree_and_match_bayes():
    betas = df.linear_betas(50)
    rng = np.random.default_rng(2)
    x0, xt = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    for t in (1, 2, 25, 50):
        m1, v1 = df.posterior(x0, xt, t, betas)
        m2, v2 = df.posterior_precision_form(x0, xt, t, betas)
        assert np.allclose(m1, m2) and v1 == pytest.approx(v2)
    assert df.posterior(x0, xt, 1, betas)[1] == 0.0          # beta_tilde_1 = 0: x0 is known


def test_denoise_against_monte_carlo():
    roll = df.swiss_roll(0.4, n_components=40)
    rng = np.random.default_rng(3)
    a, s = 0.6, 0.64
    x0 = roll.sample(400_000, rng)
    xt = a * x0 + np.sqrt(s) * rng.standard_normal(x0.shape)
    # Condition on x_t falling in a small box; compare with the exact posterior moments at its centre.
    centre = np.array([0.3, -0.2])
    inside = np.all(np.abs(xt - centre) < 0.03, axis=1)
    mean, var = roll.denoise(centre[None, :], a, s)
    assert np.allclose(x0[inside].mean(axis=0), mean[0], atol=4 * np.sqrt(var[0].max() / inside.sum()) + 0.01)


@pytest.mark.slow
def test_oracle_bound_below_the_likelihood_and_rising_with_T():
    roll = df.swiss_roll(0.5)
    L, L_se = df.log_likelihood(roll, 20_000, rng=4)
    k40, se40 = df.oracle_bound(roll, df.sd_betas(40), 1000, rng=5)
    k200, se200 = df.oracle_bound(roll, df.sd_betas(200), 1000, rng=6)
    assert k40 < k200 + 2 * np.hypot(se40, se200)
    assert k200 < L + 3 * np.hypot(se200, L_se)
    assert k40 > df.null_bound(2)


def test_diffusion_bad_arguments():
    with pytest.raises(ValueError, match="^thickness must"):
        df.swiss_roll(-0.1)
    with pytest.raises(ValueError, match="^betas must"):
        df.forward_marginal(1, [0.5, 1.2])
    with pytest.raises(ValueError, match="^t must"):
        df.forward_marginal(5, [0.1, 0.2])
    with pytest.raises(ValueError, match="^x must have shape"):
        df.swiss_roll().log_prob(np.ones((3, 3)))


def test_trained_reverse_model_improves_and_stays_below_the_likelihood():
    pytest.importorskip("torch")
    roll = df.swiss_roll(0.5, n_components=100)
    betas = df.sd_betas(10)
    data = roll.sample(4000, rng=1)
    held_out = roll.sample(500, rng=2)
    model = df.train(data, betas, 300, seed=0, eval_data=held_out, record_every=150)
    assert len(model.history["bound"]) == 2
    untrained = df.train(data, betas, 1, seed=0, lr=1e-12)
    K, K0 = model.bound(held_out), untrained.bound(held_out)
    L, L_se = df.log_likelihood(roll, 20_000, rng=3)
    assert K0 < K < L + 3 * L_se
    assert model.sample(7, seed=1).shape == (7, 2)
    assert model.sample(5, seed=1, trajectory=True).shape == (11, 5, 2)
    inpainted = model.inpaint(1, 0.5, 9, seed=2)
    assert inpainted.shape == (9,) and np.all(np.isfinite(inpainted))
    with pytest.raises(ValueError, match="^objective must"):
        df.train(data, betas, 1, seed=0, objective="score")
    with pytest.raises(ValueError, match="^data must have shape"):
        df.train(np.ones((10, 3)), betas, 1, seed=0)


def test_sample_metrics():
    roll = df.swiss_roll(0.5, n_components=100)
    x, y = roll.sample(400, rng=4), roll.sample(400, rng=5)
    far = y + 3.0
    assert abs(df.mmd(x, y)) < df.mmd(x, far)
    assert df.sliced_wasserstein(x, y, rng=0) < df.sliced_wasserstein(x, far, rng=0)
    ce_true = df.cross_entropy_bits(roll, x)[0]
    thick = df.SwissRoll(roll.means, 2 * roll.sd).sample(400, rng=6)
    assert df.cross_entropy_bits(roll, thick)[0] > ce_true + 1


def test_fixed_edge_is_worse_than_the_learned_decoder():
    roll = df.swiss_roll(0.5, n_components=100)
    betas = df.sd_betas(10)
    learned = df.oracle_bound(roll, betas, 400, rng=7)
    fixed = df.oracle_bound(roll, betas, 400, rng=7, edge="fixed")
    assert fixed[0] < learned[0]
    with pytest.raises(ValueError, match="^edge must"):
        df.oracle_bound(roll, betas, 10, rng=7, edge="none")
