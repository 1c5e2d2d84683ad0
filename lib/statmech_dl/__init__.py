"""Library behind *Statistical Mechanics of Deep Learning*.

Each module serves one topic or concern of the book:

``linear_dynamics``
    exact learning dynamics of linear networks (chapters *Semantic development*
    and *Deep linear dynamics*);
``semantic``
    the data sets and theory of semantic development (chapter *Semantic development*);
``meanfield``
    mean-field theory of signal propagation in deep random networks (chapter
    *Transient chaos*);
``isometry``
    free-probability spectra of deep networks' Jacobians (chapter *Dynamical isometry*);
``saddles``
    loss landscapes: Hessians, critical points and the optimisers that cross them
    (chapter *Saddle points*);
``inference``
    the error of convex estimators at finite measurement density, and the solvers
    that test it (chapter *High-dimensional inference*);
``synapses``
    memory in synapses with internal states, and synaptic intelligence (chapter
    *Complex synapses*);
``diffusion``
    diffusion models: the forward process, its posteriors, likelihood bounds and a
    reverse model in torch (chapter *Diffusion models*);
``retina``
    a synthetic retina, LN and CNN models of it in torch, and the metrics that
    score them against repeated recordings (chapter *Retina CNNs*);
``networks``
    finite-width random networks, simulated to test the mean-field theory;
``training``
    the training loops shared by all chapters (NumPy, and torch for later chapters);
``nonlinearities``
    the pointwise nonlinearities, each an object carrying phi, phi', phi'' and its kinks;
``init``
    weight initialisations and the spectra of their products;
``datasets``
    small bundled data sets, such as the 8x8 digits;
``plotting``
    the book's figure style;
``exploration``
    explorations that respond on the static website (figures precomputed over a
    grid of parameters) and live in a notebook;
``reproduction``
    the records of each chapter's headline claims for the reproduction page;
``torch_utils``
    the torch conventions (seeded generators, float64, one thread); imports torch;
``exercises``
    check functions for the exercises, one module per chapter.

Importing the package limits BLAS, OpenMP and torch to a single thread. On the
2-core machines the book targets (and on Binder) multi-threaded OpenBLAS is
dramatically *slower* for the matrix sizes used here: a 400x400 QR takes about
1.8 s with threads and 0.014 s without. Call :func:`set_num_threads` to choose
another number.
"""

import os
import sys

# Environment variables only reach libraries that are loaded later (torch reads
# OMP_NUM_THREADS when it is imported), so set them before anything else.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from threadpoolctl import threadpool_limits  # noqa: E402

__version__ = "0.1.0"

__all__ = ["set_num_threads", "num_threads", "__version__"]

_limits = None
_n_threads = 1


def set_num_threads(n=1):
    """Limit the BLAS/OpenMP thread pools (and torch, if imported) to ``n`` threads.

    Parameters
    ----------
    n : int
        Number of threads, at least 1.
    """
    global _limits, _n_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    _n_threads = n
    # threadpool_limits applies immediately to every loaded library; keeping the
    # object alive keeps the limit in force for the whole session.
    _limits = threadpool_limits(limits=n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def num_threads():
    """The thread count set by :func:`set_num_threads` (1 unless changed)."""
    return _n_threads


set_num_threads(1)
