"""A hung kernel fails fast, with a message that says so, instead of stalling the test run."""

import nbformat

import book_files


def test_a_hung_cell_fails_at_the_cell_timeout(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("print(1)"), nbformat.v4.new_code_cell("import time\ntime.sleep(600)")]
    path = tmp_path / "hang.ipynb"
    nbformat.write(nb, path)
    proc = book_files.run_nbval(path, timeout=120, cell_timeout=3)
    assert proc.returncode not in (0, -1), "the cell timeout, not the overall one, must stop the run"
    assert "Timeout" in proc.stdout or "timed out" in proc.stdout, proc.stdout[-2000:]
