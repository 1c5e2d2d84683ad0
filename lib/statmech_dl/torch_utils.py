"""The book's torch conventions, in one place (imports torch: load it only where torch is needed).

* :func:`generator`: a ``torch.Generator`` seeded from the chapter's NumPy
  random generator, so that two executions of a chapter print the same numbers;
* :func:`tensor` and :func:`numpy`: the border between the NumPy interfaces of
  the library and the tensors inside it (float64 by default, CPU only);
* importing this module limits torch to the thread count chosen by
  :func:`statmech_dl.set_num_threads` (one by default).
"""

import numpy as np
import torch

import statmech_dl

from . import _validation as v

__all__ = ["DTYPE", "generator", "tensor", "numpy"]

#: The default dtype: results compared with theory are computed in float64.
DTYPE = torch.float64

torch.set_num_threads(statmech_dl.num_threads())


def generator(rng=None):
    """A CPU ``torch.Generator`` seeded by one draw from ``rng`` (None, an int seed or a numpy Generator).

    Passing the chapter's ``numpy.random.Generator`` advances it by one draw,
    so that successive calls give independent torch streams.
    """
    seed = int(v.as_generator(rng).integers(0, 2**63 - 1))
    return torch.Generator(device="cpu").manual_seed(seed)


def tensor(x, dtype=DTYPE):
    """``x`` as a CPU tensor of ``dtype`` (``None`` keeps NumPy's dtype, e.g. for integer labels)."""
    # A copy for views with negative strides (x[:, ::-1]), which torch rejects.
    t = torch.as_tensor(np.ascontiguousarray(x))
    return t if dtype is None else t.to(dtype)


def numpy(t):
    """A tensor as a NumPy array, detached from the autograd graph."""
    return t.detach().cpu().numpy()
