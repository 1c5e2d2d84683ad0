"""Importing the library pins BLAS and torch to one thread (the fast path on 2 cores)."""

import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info

import statmech_dl


def test_blas_limited_to_one_thread():
    import numpy as np

    np.linalg.svd(np.ones((4, 4)))
    pools = [p for p in threadpool_info() if p["user_api"] in ("blas", "openmp")]
    assert pools, "no BLAS thread pool found"
    assert all(p["num_threads"] == 1 for p in pools), pools


def test_torch_imported_afterwards_uses_one_thread():
    code = "import statmech_dl, torch; print(torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match="^n must"):
        statmech_dl.set_num_threads(0)
    assert statmech_dl.set_num_threads(2) == 2
    assert statmech_dl.set_num_threads(1) == 1
