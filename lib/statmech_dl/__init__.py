"""Library behind *Statistical Mechanics of Deep Learning*.

Each module serves one topic of the book:

``linear_dynamics``
    exact learning dynamics of linear networks (chapters *Semantic development* and
    *Deep linear dynamics*);
``semantic``
    the data sets and theory of semantic development (chapter *Semantic development*);
``init``
    weight initialisations and the spectra of their products (chapter *Deep linear dynamics*);
``datasets``
    small bundled data sets, such as the 8x8 digits (chapter *Deep linear dynamics*);
``meanfield``
    mean-field signal propagation in deep random networks (chapter *Transient chaos*);
``isometry``
    free-probability spectra of deep networks' Jacobians (chapter *Dynamical isometry*);
``plotting``
    the book's figure style;
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

__all__ = ["set_num_threads", "__version__"]

_limits = None


def set_num_threads(n=1):
    """Limit the BLAS/OpenMP thread pools (and torch, if imported) to ``n`` threads.

    Parameters
    ----------
    n : int
        Number of threads, at least 1.
    """
    global _limits
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    # threadpool_limits applies immediately to every loaded library; keeping the
    # object alive keeps the limit in force for the whole session.
    _limits = threadpool_limits(limits=n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


set_num_threads(1)
