"""Parameter grids shared by the unit tests, in the manner of neural-tangents' ``test_utils.product``.

Theory is compared with simulation over the same grid of nonlinearities and
(sigma_w, sigma_b) everywhere, built here once. ``pytest.mark.parametrize``
takes :func:`cases` directly, with readable ids.
"""

import itertools

import pytest

from statmech_dl import nonlinearities

#: Every nonlinearity of the book.
PHIS = nonlinearities.NAMES

#: (sigma_w, sigma_b): ordered, near-critical and chaotic for tanh, with biases.
SIGMAS = ((0.8, 0.05), (1.3, 0.3), (2.5, 0.5))


def has_fixed_point(phi, sigma_w, sigma_b):
    """False where the length map has no finite fixed point (ReLU or linear with gain >= 1 and a bias)."""
    nl = nonlinearities.get(phi)
    return not (nl.homogeneous and sigma_b > 0 and sigma_w**2 * nl.linear_fraction(1.0) >= 1)


def cases(phis=PHIS, sigmas=SIGMAS, *more):
    """pytest parameters for every (phi, sigma_w, sigma_b, *more) with a finite fixed point."""
    out = []
    for phi, (sw, sb), *rest in itertools.product(phis, sigmas, *more):
        if has_fixed_point(phi, sw, sb):
            out.append(pytest.param(phi, sw, sb, *rest, id="-".join(str(x) for x in (phi, sw, sb, *rest))))
    return out
