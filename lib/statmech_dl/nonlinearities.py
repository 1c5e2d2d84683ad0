r"""Pointwise nonlinearities, each one small immutable object looked up by name.

Used by the theory of signal propagation (:mod:`statmech_dl.meanfield`,
:mod:`statmech_dl.isometry`), by the simulation of random networks
(:mod:`statmech_dl.networks`) and by the trainers (:mod:`statmech_dl.training`).
A :class:`Nonlinearity` carries what the theory needs about :math:`\phi`:

* the function and its first two derivatives, :math:`\phi`, :math:`\phi'` and
  :math:`\phi''` (``None`` where :math:`\phi''` is a distribution, at kinks);
* the points where :math:`\phi'` jumps (its *kinks*), which numerical
  quadrature must put on panel edges;
* whether it is *positively homogeneous*, :math:`\phi(\alpha x) = \alpha\phi(x)`
  for :math:`\alpha > 0` (ReLU and the identity). Then :math:`\phi(x) =
  x\phi'(x)`, so :math:`\int Dz\,\phi(\sqrt q z)^2 = q\int Dz\,\phi'(z)^2`: the
  length map is linear in :math:`q` and :math:`\chi_1` does not depend on
  :math:`q^*`;
* for piecewise-linear :math:`\phi` with slopes 0 and 1, the *linear fraction*
  :math:`p(q)`, the fraction of units on the slope-one part when the
  pre-activations have variance :math:`q`.

The book's nonlinearities are ``"tanh"``, ``"erf"``, ``"linear"``, ``"relu"``
and ``"hard_tanh"`` (:data:`NAMES`).
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy.special import erf as _erf

__all__ = ["Nonlinearity", "NAMES", "get"]


@dataclass(frozen=True)
class Nonlinearity:
    r"""A pointwise nonlinearity :math:`\phi` and what the mean-field theory needs to know of it.

    Attributes
    ----------
    name : str
    f, df : callable
        :math:`\phi` and :math:`\phi'`, vectorised over NumPy arrays.
    ddf : callable or None
        :math:`\phi''`, or ``None`` where it is a sum of delta functions
        (ReLU, hard tanh).
    kinks : tuple of float
        Points where :math:`\phi'` jumps.
    homogeneous : bool
        :math:`\phi(\alpha x) = \alpha\phi(x)` for every :math:`\alpha > 0`.
    piecewise_linear : bool
        :math:`\phi'` takes only the values 0 and 1.
    """

    name: str
    f: Callable
    df: Callable
    ddf: Optional[Callable]
    kinks: tuple = ()
    homogeneous: bool = False
    piecewise_linear: bool = False

    @property
    def smooth(self):
        """True when :math:`\\phi''` exists as a function (no kinks)."""
        return self.ddf is not None

    def linear_fraction(self, q):
        r"""Fraction :math:`p` of units with :math:`\phi' = 1` at pre-activation variance :math:`q`.

        :math:`p = 1` for the identity, :math:`1/2` for ReLU and
        :math:`\operatorname{erf}(1/\sqrt{2q})` for hard tanh (1 at
        :math:`q = 0`); the other units have :math:`\phi' = 0`. Defined for
        piecewise-linear nonlinearities only. ``q`` is trusted: callers
        validate it.
        """
        if not self.piecewise_linear:
            raise ValueError(f"phi must be piecewise linear for a linear fraction, got {self.name!r}")
        if self.name == "relu":
            return 0.5
        if self.name == "hard_tanh" and q > 0:
            return float(_erf(1.0 / np.sqrt(2.0 * q)))
        return 1.0


def _dtanh(x):
    return 1.0 / np.cosh(np.minimum(np.abs(x), 350.0)) ** 2


def _derf(x):
    return 2.0 / np.sqrt(np.pi) * np.exp(-x * x)


_ALL = (
    Nonlinearity("tanh", np.tanh, _dtanh, lambda x: -2.0 * np.tanh(x) * _dtanh(x)),
    Nonlinearity("erf", _erf, _derf, lambda x: -2.0 * x * _derf(x)),
    Nonlinearity("linear", lambda x: x, np.ones_like, np.zeros_like,
                 homogeneous=True, piecewise_linear=True),
    Nonlinearity("relu", lambda x: np.maximum(x, 0.0), lambda x: (np.asarray(x) > 0).astype(float), None,
                 kinks=(0.0,), homogeneous=True, piecewise_linear=True),
    Nonlinearity("hard_tanh", lambda x: np.clip(x, -1.0, 1.0), lambda x: (np.abs(x) < 1).astype(float), None,
                 kinks=(-1.0, 1.0), piecewise_linear=True),
)
_BY_NAME = {nl.name: nl for nl in _ALL}

#: Names of the book's nonlinearities.
NAMES = tuple(_BY_NAME)


def get(phi):
    """The :class:`Nonlinearity` called ``phi`` (a name from :data:`NAMES`, or a Nonlinearity, returned as is).

    Raises
    ------
    ValueError
        If ``phi`` names no nonlinearity.
    """
    if isinstance(phi, Nonlinearity):
        return phi
    try:
        return _BY_NAME[phi]
    except (KeyError, TypeError):
        raise ValueError(f"phi must be one of {list(NAMES)}, got {phi!r}") from None
