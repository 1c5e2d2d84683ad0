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


def digits(n_train=1000, n_components=None, rng=0):
    r"""scikit-learn's bundled 8x8 handwritten digits, split, centred and scaled.

    The 1797 images (64 pixels, 10 classes) are the book's small stand-in for
    MNIST. Pixels are centred and scaled by the training set's overall standard
    deviation; optionally projected on the training set's leading principal
    components.

    Parameters
    ----------
    n_train : int, optional
        Training examples, between 10 and 1787; the rest form the test set.
    n_components : int, optional
        If given (1 to 64), keep this many principal components.
    rng : None, int or numpy.random.Generator
        Shuffles the examples before splitting.

    Returns
    -------
    Split
    """
    from sklearn.datasets import load_digits

    n_train = v.integer("n_train", n_train, lo=10, hi=1787)
    if n_components is not None:
        n_components = v.integer("n_components", n_components, lo=1, hi=64)
    data = load_digits()
    order = v.as_generator(rng).permutation(len(data.target))
    X, y = data.data[order].astype(float), data.target[order]
    X_train, X_test = X[:n_train], X[n_train:]
    mean = X_train.mean(axis=0)
    scale = X_train.std()
    X_train, X_test = (X_train - mean) / scale, (X_test - mean) / scale
    if n_components is not None:
        _, _, Vt = np.linalg.svd(X_train, full_matrices=False)
        X_train, X_test = X_train @ Vt[:n_components].T, X_test @ Vt[:n_components].T
    eye = np.eye(10)
    y_train, y_test = y[:n_train], y[n_train:]
    return Split(X_train.T, eye[y_train].T, y_train, X_test.T, eye[y_test].T, y_test)
