"""The nonlinearity objects: derivatives against finite differences, kinks, homogeneity, linear fraction."""

import numpy as np
import pytest
from scipy.special import erf

from statmech_dl import _quadrature, nonlinearities

from grids import PHIS


@pytest.mark.parametrize("phi", PHIS)
def test_derivatives_match_finite_differences_away_from_kinks(phi):
    nl = nonlinearities.get(phi)
    x = np.linspace(-3, 3, 601)
    x = x[np.min(np.abs(x[:, None] - np.array(nl.kinks + (99.0,))[None, :]), axis=1) > 1e-3]
    h = 1e-6
    assert np.allclose(nl.df(x), (nl.f(x + h) - nl.f(x - h)) / (2 * h), atol=1e-7)
    if nl.smooth:
        assert np.allclose(nl.ddf(x), (nl.df(x + h) - nl.df(x - h)) / (2 * h), atol=1e-6)
    else:
        # A kink is where phi' jumps.
        for k in nl.kinks:
            assert nl.df(np.array([k - 1e-3]))[0] != nl.df(np.array([k + 1e-3]))[0]


@pytest.mark.parametrize("phi", PHIS)
def test_kinks_are_panel_edges_of_the_quadrature(phi):
    assert set(nonlinearities.get(phi).kinks) <= set(_quadrature.X_EDGES)


@pytest.mark.parametrize("phi", PHIS)
def test_homogeneity_flag(phi):
    nl = nonlinearities.get(phi)
    x = np.linspace(-2, 2, 41)
    assert nl.homogeneous == bool(np.allclose(nl.f(3.0 * x), 3.0 * nl.f(x)))


def test_linear_fraction():
    assert nonlinearities.get("relu").linear_fraction(7.0) == 0.5
    assert nonlinearities.get("linear").linear_fraction(7.0) == 1.0
    hard = nonlinearities.get("hard_tanh")
    assert hard.linear_fraction(0.0) == 1.0
    assert hard.linear_fraction(2.0) == pytest.approx(erf(1 / 2))
    # The fraction of a Gaussian sample on the linear part.
    z = np.random.default_rng(0).standard_normal(200000) * np.sqrt(2.0)
    assert np.mean(hard.df(z)) == pytest.approx(hard.linear_fraction(2.0), abs=4 * 0.5 / np.sqrt(z.size))
    with pytest.raises(ValueError, match="^phi must be piecewise linear"):
        nonlinearities.get("tanh").linear_fraction(1.0)


def test_lookup():
    tanh = nonlinearities.get("tanh")
    assert nonlinearities.get(tanh) is tanh and tanh.smooth and not tanh.homogeneous
    with pytest.raises(ValueError, match="^phi must be one of"):
        nonlinearities.get("sigmoid")
    with pytest.raises(Exception):
        tanh.name = "other"                       # immutable
