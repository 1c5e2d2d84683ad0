r"""Weight initialisations, shared by the chapters on deep networks.

Used first in the chapter *Deep linear dynamics* (``book/deep_linear_dynamics.md``),
and by the signal-propagation chapters.

* :func:`orthogonal`: Haar-distributed (uniformly random) orthogonal matrices;
* :func:`semi_orthogonal`: rectangular matrices with orthonormal rows or columns;
* :func:`gaussian`: i.i.d. Gaussian entries of variance :math:`g^2/N_{\mathrm{in}}`
  (the scaled Gaussian of Glorot & Bengio 2010);
* :func:`draw`: either ensemble by name (:data:`ENSEMBLES`), the one entry point
  used by the simulations and trainers;
* :func:`gaussian_product_moments`: the large-width moments of the squared
  singular values of a product of such Gaussian matrices.
"""

from math import comb

import numpy as np

from . import _validation as v

__all__ = ["ENSEMBLES", "orthogonal", "semi_orthogonal", "gaussian", "ensemble", "draw", "gaussian_product_moments",
           "gaussian_product_log_mean"]

#: Names of the weight ensembles that :func:`draw` knows.
ENSEMBLES = ("orthogonal", "gaussian")


def orthogonal(n, gain=1.0, rng=None):
    r"""An :math:`n \times n` Haar-distributed orthogonal matrix, times ``gain``.

    The QR decomposition :math:`Z = QR` of a matrix of i.i.d. standard
    Gaussians gives an orthogonal :math:`Q`, but LAPACK's sign convention for
    the diagonal of :math:`R` makes :math:`Q` *not* uniformly distributed.
    Multiplying column :math:`j` of :math:`Q` by :math:`\operatorname{sgn}
    R_{jj}` makes the decomposition unique and :math:`Q` exactly Haar
    (Mezzadri 2007).

    Parameters
    ----------
    n : int
        Size, :math:`n \ge 1`.
    gain : float, optional
        Scale :math:`g > 0`; every singular value equals ``gain``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (n, n)
    """
    n = v.integer("n", n, lo=1)
    gain = v.real("gain", gain, lo=0.0, lo_open=True)
    Z = v.as_generator(rng).standard_normal((n, n))
    Q, R = np.linalg.qr(Z)
    signs = np.sign(np.diag(R))
    signs[signs == 0] = 1.0
    return gain * Q * signs


def semi_orthogonal(n_out, n_in, gain=1.0, rng=None):
    r"""A Haar-random :math:`n_{\mathrm{out}} \times n_{\mathrm{in}}` matrix with orthonormal rows or columns.

    The leading block of :func:`orthogonal` of size :math:`\max(n_{\mathrm{out}},
    n_{\mathrm{in}})`: its rows are orthonormal when :math:`n_{\mathrm{out}} \le
    n_{\mathrm{in}}`, its columns otherwise. Times ``gain``.

    Parameters
    ----------
    n_out, n_in : int
        Shape, both :math:`\ge 1`.
    gain : float, optional
        :math:`g > 0`.
    rng : None, int or numpy.random.Generator
    """
    n_out = v.integer("n_out", n_out, lo=1)
    n_in = v.integer("n_in", n_in, lo=1)
    return orthogonal(max(n_out, n_in), gain, rng)[:n_out, :n_in]


def gaussian(n_out, n_in, gain=1.0, rng=None):
    r"""A matrix of i.i.d. Gaussian entries with variance :math:`g^2 / n_{\mathrm{in}}`.

    With ``gain=1`` the mean squared singular value is one, but the spectrum is
    spread out; see :func:`gaussian_product_moments`.

    Parameters
    ----------
    n_out, n_in : int
        Shape, both :math:`\ge 1`.
    gain : float, optional
        :math:`g > 0`.
    rng : None, int or numpy.random.Generator
    """
    n_out = v.integer("n_out", n_out, lo=1)
    n_in = v.integer("n_in", n_in, lo=1)
    gain = v.real("gain", gain, lo=0.0, lo_open=True)
    return gain / np.sqrt(n_in) * v.as_generator(rng).standard_normal((n_out, n_in))


def ensemble(name):
    """Return ``name`` if it is one of :data:`ENSEMBLES`; raise ``ValueError`` naming ``weights`` otherwise."""
    if name not in ENSEMBLES:
        raise ValueError(f"weights must be one of {list(ENSEMBLES)}, got {name!r}")
    return name


def draw(weights, n_out, n_in, gain=1.0, rng=None):
    r"""An :math:`n_{\mathrm{out}} \times n_{\mathrm{in}}` weight matrix from the ensemble named ``weights``.

    ``"gaussian"`` gives :func:`gaussian` (entries of variance
    :math:`g^2/n_{\mathrm{in}}`) and ``"orthogonal"`` gives :func:`semi_orthogonal`
    (every singular value :math:`g`). Both have mean squared singular value
    :math:`g^2` when square, but only the orthogonal one has them all equal
    (chapter *Dynamical isometry*).

    Parameters
    ----------
    weights : str
        One of :data:`ENSEMBLES`.
    n_out, n_in : int
    gain : float, optional
        :math:`g > 0`.
    rng : None, int or numpy.random.Generator
    """
    if ensemble(weights) == "gaussian":
        return gaussian(n_out, n_in, gain, rng)
    return semi_orthogonal(n_out, n_in, gain, rng)


def gaussian_product_moments(depth, n_moments=2):
    r"""Moments of the squared singular values of a product of Gaussian matrices.

    For a product of ``depth`` square matrices from :func:`gaussian` with
    ``gain=1``, as the width grows the eigenvalues :math:`\lambda` of
    :math:`W W^\top` follow the Fuss-Catalan distribution, whose moments are

    .. math::

        \E[\lambda^k] = \frac{1}{Lk + 1}\binom{(L+1)k}{k} ,

    so the mean is 1 and the variance :math:`L`: the spectrum spreads further
    with every layer, most singular values shrinking towards zero and a few
    growing large (chapter *Deep linear dynamics*, equation ``eq-dld-fuss-catalan``).

    Parameters
    ----------
    depth : int
        Number of matrices :math:`L \ge 1`.
    n_moments : int, optional
        How many moments, :math:`k = 1, \dots,` ``n_moments`` (at least 1).

    Returns
    -------
    ndarray, shape (n_moments,)
    """
    L = v.integer("depth", depth, lo=1)
    n_moments = v.integer("n_moments", n_moments, lo=1)
    return np.array([comb((L + 1) * k, k) / (L * k + 1) for k in range(1, n_moments + 1)], dtype=float)


def gaussian_product_log_mean(depth):
    r"""Mean logarithm of the squared singular values of a product of ``depth`` Gaussian matrices.

    Determinants multiply, so :math:`\frac1N \ln\det(W^\top W) = \sum_l \frac1N
    \ln\det(W_l^\top W_l)`: the mean logarithm is additive over the layers. For
    one square matrix from :func:`gaussian` (``gain=1``) the squared singular
    values follow the Marchenko-Pastur law with ratio one, :math:`\rho(x) =
    \sqrt{x(4-x)}/(2\pi x)` on :math:`[0, 4]`, whose mean logarithm is
    :math:`-1`. Hence, as the width grows,

    .. math::

        \E[\ln\lambda] = -L, \qquad \exp \E[\ln\lambda] = e^{-L}:

    the typical (geometric-mean) squared singular value falls exponentially with
    depth while the mean stays one (chapter *Deep linear dynamics*).

    Parameters
    ----------
    depth : int
        :math:`L \ge 1`.

    Returns
    -------
    float
    """
    return -float(v.integer("depth", depth, lo=1))
