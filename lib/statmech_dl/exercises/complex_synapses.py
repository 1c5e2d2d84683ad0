"""Checks for the exercises of the chapter *Complex synapses*."""

import numpy as np
from scipy import optimize

from .. import synapses
from . import assert_close, passed, require_callable

__all__ = ["check_binary_lifetime", "check_equilibrium", "check_quadratic_importance"]


def check_binary_lifetime(binary_lifetime):
    """Exercise ``ex-cs-binary-lifetime``: ``binary_lifetime(q, n_synapses, rate)``."""
    require_callable(binary_lifetime, "binary_lifetime")
    for q, N, r in [(0.5, 100, 1.0), (0.05, 1e4, 2.0), (1.0, 1e6, 0.5)]:
        model = synapses.binary(q)
        crossing = optimize.brentq(lambda t: synapses.snr(t, *model, n_synapses=N, rate=r) - 1,
                                   0.0, 1e3 / (q * r), xtol=1e-12)
        assert_close(f"binary_lifetime({q}, {N:g}, {r})", binary_lifetime(q, N, r), crossing, rtol=1e-6,
                     hint="Set the memory curve equal to 1 and solve for t.")
    assert_close("binary_lifetime(0.01, 100, 1.0)", binary_lifetime(0.01, 100, 1.0), 0.0, atol=1e-12,
                 hint="A memory whose SNR starts below 1 is never recalled.")
    passed()


def check_equilibrium(equilibrium_distribution):
    """Exercise ``ex-cs-equilibrium``: ``equilibrium_distribution(m_pot, m_dep, f_pot)``."""
    require_callable(equilibrium_distribution, "equilibrium_distribution")
    rng = np.random.default_rng(3)
    for m, f in [(4, 0.5), (6, 0.3), (8, 0.7)]:
        m_pot, m_dep, _ = synapses.random_model(m, rng)
        assert_close(f"equilibrium_distribution(..., f_pot={f}) with {m} states",
                     equilibrium_distribution(m_pot, m_dep, f), synapses.equilibrium(m_pot, m_dep, f),
                     rtol=1e-8, atol=1e-12,
                     hint="Probabilities evolve as a row vector: solve p W = 0, not W p = 0, with sum p = 1.")
    passed()


def check_quadratic_importance(quadratic_importance):
    """Exercise ``ex-cs-importance``: ``quadratic_importance(h, d, lr, n_steps, xi)``."""
    require_callable(quadratic_importance, "quadratic_importance")
    h, d = np.array([0.1, 0.5, 2.0, 5.0]), np.array([2.0, -1.0, 0.5, 0.3])
    for lr, T, xi in [(0.1, 10, 1e-3), (0.3, 100, 0.1), (0.01, 1000, 1e-2)]:
        assert_close(f"quadratic_importance(h, d, {lr}, {T}, {xi})", quadratic_importance(h, d, lr, T, xi),
                     synapses.si_quadratic_importance(h, d, lr, T, xi), rtol=1e-8,
                     hint="Sum the geometric series of -g * (step taken), then divide by the squared "
                          "total displacement plus xi.")
    passed()
