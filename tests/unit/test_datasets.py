"""The bundled 8x8 digits: split, scaling and validation."""

import numpy as np
import pytest

from statmech_dl import datasets


def test_digits_split():
    d = datasets.digits(n_train=500, rng=1)
    assert d.X_train.shape == (64, 500) and d.X_test.shape == (64, 1297)
    assert d.Y_train.shape == (10, 500) and np.all(d.Y_train.sum(0) == 1)
    assert np.allclose(d.X_train.mean(axis=1), 0)
    assert np.array_equal(d.X_train, datasets.digits(n_train=500, rng=1).X_train)
    assert datasets.digits(n_train=500, n_components=20, rng=1).X_train.shape == (20, 500)


def test_unit_length_scaling():
    d = datasets.digits(n_train=500, rng=1, scale="unit_length")
    assert np.mean(np.sum(d.X_train**2, axis=0)) / 64 == pytest.approx(1.0, rel=1e-12)
    plain = datasets.digits(n_train=500, rng=1)
    nonzero = plain.X_test != 0
    ratio = d.X_test[nonzero] / plain.X_test[nonzero]
    assert np.allclose(ratio, ratio[0], rtol=1e-12)                  # one constant for both sets
    with pytest.raises(ValueError, match="^scale must"):
        datasets.digits(scale="unit")
    with pytest.raises(ValueError, match="^n_train must"):
        datasets.digits(n_train=5)
