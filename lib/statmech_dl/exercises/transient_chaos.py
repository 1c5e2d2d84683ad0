"""Checks for the exercises of the chapter *Transient chaos*."""

import numpy as np

from .. import meanfield as mf
from . import assert_close, passed, require_callable

__all__ = ["check_relu_chi1", "check_erf_q_map", "check_curvature_fixed_point"]


def check_relu_chi1(relu_chi1):
    """Exercise ``ex-tc-relu``: ``relu_chi1(sigma_w)`` for ReLU networks."""
    require_callable(relu_chi1, "relu_chi1")
    for sw in (0.5, 1.0, np.sqrt(2), 1.3):
        assert_close(f"relu_chi1({sw:.4g})", relu_chi1(sw), mf.chi1(sw, 0.1, "relu"), rtol=1e-9,
                     hint="phi'(h)^2 is 1 for h > 0 and 0 otherwise; what fraction of a centred Gaussian is positive?")
    passed()


def check_erf_q_map(erf_q_map):
    """Exercise ``ex-tc-erf``: the closed-form length map ``erf_q_map(q, sigma_w, sigma_b)``."""
    require_callable(erf_q_map, "erf_q_map")
    for q, sw, sb in [(0.01, 1.0, 0.0), (0.5, 1.5, 0.3), (4.0, 3.0, 1.0), (30.0, 5.0, 2.0)]:
        assert_close(f"erf_q_map({q}, {sw}, {sb})", erf_q_map(q, sw, sb), mf.q_map(q, sw, sb, "erf"), rtol=1e-8,
                     hint="E[erf(u)^2] for u ~ N(0, q) is (2/pi) arcsin(2q / (1 + 2q)).")
    passed()


def check_curvature_fixed_point(kappa_fixed):
    """Exercise ``ex-tc-curvature``: ``kappa_fixed(chi1, chi2)``, the fixed point of the curvature map."""
    require_callable(kappa_fixed, "curvature_fixed_point")
    for sw, sb in [(1.8, 0.3), (2.5, 0.3), (4.0, 1.0)]:
        x1, x2 = mf.chi1(sw, sb), mf.chi2(sw, sb)
        assert_close(f"kappa_fixed({x1:.4g}, {x2:.4g})", kappa_fixed(x1, x2), mf.curvature_fixed_point(sw, sb),
                     rtol=1e-9, hint="Set kappa_l = kappa_{l-1} in the curvature recursion and solve.")
    passed()
