"""Small data sets that ship with installed packages (nothing is downloaded).

Used by the chapters on deep networks, starting with *Deep linear dynamics*.
"""

from typing import NamedTuple

import numpy as np

from . import _validation as v

__all__ = ["Split", "digits"]


class Split(NamedTuple):
    """A train/test split with inputs as columns and one-hot targets.

    Attributes
    ----------
    X_train, X_test : ndarray, shape (n_inputs, n_examples)
    Y_train, Y_test : ndarray, shape (n_classes, n_examples)
        One-hot targets.
    y_train, y_test : ndarray of int
        Class labels.
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    y_test: np.ndarray


_SCALES = ("pixel_std", "unit_length")


def digits(n_train=1000, n_components=None, rng=0, scale="pixel_std"):
    r"""scikit-learn's bundled 8x8 handwritten digits, split, centred and scaled.

    The 1797 images (64 pixels, 10 classes) are the book's small stand-in for
    MNIST. Pixels are centred and scaled by the training set's overall standard
    deviation; optionally projected on the training set's leading principal
    components. With ``scale="unit_length"`` both sets are then divided by one
    more constant, so that the training inputs have :math:`\lVert x\rVert^2 /
    n_{\mathrm{in}} = 1` on average: the input length that the mean-field theory
    of the chapters *Transient chaos* and *Dynamical isometry* assumes.

    Parameters
    ----------
    n_train : int, optional
        Training examples, between 10 and 1787; the rest form the test set.
    n_components : int, optional
        If given (1 to 64), keep this many principal components.
    rng : None, int or numpy.random.Generator
        Shuffles the examples before splitting.
    scale : str, optional
        ``"pixel_std"`` or ``"unit_length"``.

    Returns
    -------
    Split
    """
    from sklearn.datasets import load_digits

    n_train = v.integer("n_train", n_train, lo=10, hi=1787)
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {list(_SCALES)}, got {scale!r}")
    if n_components is not None:
        n_components = v.integer("n_components", n_components, lo=1, hi=64)
    data = load_digits()
    order = v.as_generator(rng).permutation(len(data.target))
    X, y = data.data[order].astype(float), data.target[order]
    X_train, X_test = X[:n_train], X[n_train:]
    mean = X_train.mean(axis=0)
    pixel_std = X_train.std()
    X_train, X_test = (X_train - mean) / pixel_std, (X_test - mean) / pixel_std
    if n_components is not None:
        _, _, Vt = np.linalg.svd(X_train, full_matrices=False)
        X_train, X_test = X_train @ Vt[:n_components].T, X_test @ Vt[:n_components].T
    if scale == "unit_length":
        length = np.sqrt(np.mean(np.sum(X_train**2, axis=1)) / X_train.shape[1])
        X_train, X_test = X_train / length, X_test / length
    eye = np.eye(10)
    y_train, y_test = y[:n_train], y[n_train:]
    return Split(X_train.T, eye[y_train].T, y_train, X_test.T, eye[y_test].T, y_test)
