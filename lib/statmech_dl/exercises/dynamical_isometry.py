"""Checks for the exercises of the chapter *Dynamical isometry*."""

import numpy as np

from .. import isometry as iso
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = ["check_relu_variance", "check_bernoulli_s", "check_top_atom"]


@recorded
def check_relu_variance(relu_variance):
    """Exercise ``ex-di-relu``: ``relu_variance(depth, weights)`` for critical ReLU networks."""
    require_callable(relu_variance, "relu_variance")
    for depth in (1, 3, 10):
        for weights in ("orthogonal", "gaussian"):
            assert_close(f"relu_variance({depth}, {weights!r})", relu_variance(depth, weights),
                         iso.spectrum_variance(np.sqrt(2), 0.0, depth, "relu", weights), rtol=1e-9,
                         hint="What are mu1 and mu2 when phi'^2 is 0 or 1? Then use eq-di-variance with "
                              "the s1 of each weight ensemble.")
    passed()


@recorded
def check_bernoulli_s(bernoulli_s):
    """Exercise ``ex-di-bernoulli``: the S-transform ``bernoulli_s(z, p)`` of a Bernoulli diagonal."""
    require_callable(bernoulli_s, "bernoulli_s")
    z = np.array([-0.3, -0.1, 0.05, 0.2, 0.5])
    for q in (0.3, 1.0, 3.0):
        sw, sb = iso.critical_point(q, "hard_tanh")
        p = iso.derivative_moments(q, "hard_tanh", 1)[0]
        # One orthogonal hard-tanh layer: S_{JJ^T} = S_{D^2} / sigma_w^2.
        expected = (iso.s_transform(z, sw, sb, 1, "hard_tanh", "orthogonal") * sw**2).real
        assert_close(f"bernoulli_s(z, p={p:.4f})", bernoulli_s(z, p), expected, rtol=1e-9,
                     hint="psi(x) = p x / (1 - x); invert it, then multiply by (1 + z)/z.")
    passed()


@recorded
def check_top_atom(top_atom):
    """Exercise ``ex-di-atom``: ``top_atom(p, depth)``, the point mass of orthogonal hard tanh at sigma_w^(2L)."""
    require_callable(top_atom, "top_atom")
    for q in (0.2, 0.5, 1.0):
        sw, sb = iso.critical_point(q, "hard_tanh")
        p = iso.derivative_moments(q, "hard_tanh", 1)[0]
        for depth in (1, 2, 4, 8):
            locs, masses = iso.point_masses(sw, sb, depth, "hard_tanh", "orthogonal")
            expected = float(masses[np.isclose(locs, sw ** (2 * depth))].sum())
            assert_close(f"top_atom({p:.4f}, {depth})", top_atom(p, depth), expected, rtol=1e-9, atol=1e-12,
                         hint="Count the dimensions that stay on the linear units through each layer; "
                              "a mass cannot be negative.")
    passed()
