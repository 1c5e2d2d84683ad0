"""Checks for the exercises of the chapter *Complex synapses*."""

import numpy as np

from .. import synapses
from . import assert_close, passed, require_callable
from .answer_records import recorded

__all__ = ["check_serial_initial_snr", "check_equilibrium", "check_kemeny"]


@recorded
def check_serial_initial_snr(serial_initial_snr):
    """Exercise ``ex-cs-serial-snr``: ``serial_initial_snr(n_states, n_synapses)``, SNR(0) of the serial chain (q = 1, f_pot = 1/2)."""
    require_callable(serial_initial_snr, "serial_initial_snr")
    for M in (2, 4, 6, 10, 16):
        for N in (1.0, 400.0):
            assert_close(f"serial_initial_snr({M}, {N:g})", serial_initial_snr(M, N),
                         synapses.snr(0.0, *synapses.serial(M), n_synapses=N), rtol=1e-9,
                         hint="At equilibrium every state is equally likely. Find the states from which "
                              "one potentiation and one depression lead to different weights; only they "
                              "contribute to p(M_pot - M_dep)w.")
    passed()


@recorded
def check_kemeny(kemeny):
    """Exercise ``ex-cs-kemeny``: ``kemeny(m_pot, m_dep, f_pot)``, Kemeny's constant of the forgetting process."""
    require_callable(kemeny, "kemeny")
    rng = np.random.default_rng(5)
    for m, f in [(3, 0.5), (5, 0.4), (8, 0.6)]:
        m_pot, m_dep, _ = synapses.random_model(m, rng)
        assert_close(f"kemeny(...) with {m} states, f_pot = {f}", kemeny(m_pot, m_dep, f),
                     synapses.kemeny_constant(m_pot, m_dep, f), rtol=1e-8,
                     hint="Write the mean first-passage times through the fundamental matrix, "
                          "Z = (1 p - W)^(-1), and sum them weighted by p: the terms that depend on the "
                          "start state cancel because the rows of Z sum to one.")
    passed()


@recorded
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
