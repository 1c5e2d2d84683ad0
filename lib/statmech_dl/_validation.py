"""Argument checks shared by the library.

Every public function validates its inputs with these helpers so that a bad
argument raises a :class:`ValueError` that names the parameter and the valid
range, instead of propagating NaN or infinity into a figure.
"""

import numbers

import numpy as np


def _describe(lo, hi, lo_open, hi_open):
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"{left}{lo_s}, {hi_s}{right}"


def real_array(name, value, lo=None, hi=None, lo_open=False, hi_open=False):
    """Return ``value`` as a float array, checking it is finite and in range."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or array of real numbers, got {value!r}") from None
    rng = _describe(lo, hi, lo_open, hi_open)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite and in {rng}, got {value!r}")
    bad = np.zeros(arr.shape, dtype=bool)
    if lo is not None:
        bad |= (arr <= lo) if lo_open else (arr < lo)
    if hi is not None:
        bad |= (arr >= hi) if hi_open else (arr > hi)
    if np.any(bad):
        first = arr[bad].flat[0]
        raise ValueError(f"{name} must lie in {rng}, got {first:g}")
    return arr


def real(name, value, lo=None, hi=None, lo_open=False, hi_open=False):
    """Scalar version of :func:`real_array`, returning a Python float."""
    arr = real_array(name, value, lo, hi, lo_open, hi_open)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    return float(arr)


def integer(name, value, lo=None, hi=None):
    """Return ``value`` as an int, checking it is an integer in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer in {_describe(lo, hi, False, False)}, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer in {_describe(lo, hi, False, False)}, got {value}")
    return value


def matrix(name, value, ndim=2):
    """Return ``value`` as a finite float array with ``ndim`` dimensions."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real array, got {type(value).__name__}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values")
    return arr


def as_generator(rng):
    """Turn ``rng`` (None, an int seed or a Generator) into a numpy Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be None, a non-negative integer seed or a numpy Generator, got {rng!r}")


def scalar_or_array(arr):
    """Return a Python float for 0-d results, the array otherwise."""
    return float(arr) if np.ndim(arr) == 0 else arr
