"""Checks for the exercises of the chapter *Transient chaos*."""

import numpy as np

from .. import meanfield as mf
from .. import nonlinearities
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = ["check_relu_chi1", "check_erf_chi1", "check_curvature_fixed_point"]


@recorded
def check_relu_chi1(relu_chi1):
    """Exercise ``ex-tc-relu``: ``relu_chi1(sigma_w)`` for ReLU networks."""
    require_callable(relu_chi1, "relu_chi1")
    for sw in (0.5, 1.0, np.sqrt(2), 1.3):
        assert_close(f"relu_chi1({sw:.4g})", relu_chi1(sw), mf.chi1(sw, 0.1, "relu"), rtol=1e-9,
                     hint="phi'(h)^2 is 1 for h > 0 and 0 otherwise; what fraction of a centred Gaussian is positive?")
    passed()


@recorded
def check_erf_chi1(erf_chi1):
    """Exercise ``ex-tc-erf``: ``erf_chi1(sigma_w, q)``, chi1 of an erf network at length ``q``, in closed form."""
    require_callable(erf_chi1, "erf_chi1")
    erf = nonlinearities.get("erf")
    for sw, q in [(0.5, 0.0), (0.886, 0.01), (1.5, 0.7), (3.0, 12.0)]:
        expected = sw**2 * mf.gaussian_expectation(lambda x: erf.df(x) ** 2, 0.0, np.sqrt(q))
        assert_close(f"erf_chi1({sw}, {q})", erf_chi1(sw, q), expected, rtol=1e-8,
                     hint="Square erf'(u) and complete the square in the Gaussian integral over z.")
    passed()


@recorded
def check_curvature_fixed_point(kappa_fixed):
    """Exercise ``ex-tc-curvature``: ``kappa_fixed(chi1, chi2)``, the fixed point of the curvature map."""
    require_callable(kappa_fixed, "curvature_fixed_point")
    for sw, sb in [(1.8, 0.3), (2.5, 0.3), (4.0, 1.0)]:
        x1, x2 = mf.chi1(sw, sb), mf.chi2(sw, sb)
        assert_close(f"kappa_fixed({x1:.4g}, {x2:.4g})", kappa_fixed(x1, x2), mf.curvature_fixed_point(sw, sb),
                     rtol=1e-9, hint="Set kappa_l = kappa_{l-1} in the curvature recursion and solve.")
    passed()
