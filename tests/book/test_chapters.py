"""Every chapter executes, and prints the same headline numbers twice.

Jupytext converts the chapter to .ipynb in a temporary folder; nbclient
executes it once to store outputs; then nbval (``--nbval-lax``) executes it
again in a fresh kernel and compares the cells marked ``# NBVAL_CHECK_OUTPUT``.
A chapter whose numbers change between runs has an unseeded random generator.
"""


import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

import book_files

CHAPTERS = book_files.chapters()

pytestmark = pytest.mark.book


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_executes_reproducibly(chapter, tmp_path):
    nb = jupytext.read(chapter)
    checked = [c for c in nb.cells if c.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in c.source]
    assert checked, "mark the cells that print headline numbers with # NBVAL_CHECK_OUTPUT"
    assert any("solution" in c.metadata.get("tags", []) for c in nb.cells), "solution tags lost in conversion"

    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in checked:
        assert cell.outputs, f"a checked cell printed nothing:\n{cell.source[:200]}"
    path = tmp_path / f"{chapter.stem}.ipynb"
    nbformat.write(nb, path)

    proc = book_files.run_nbval(path)
    assert proc.returncode == 0, f"second execution differs or fails:\n{proc.stdout[-6000:]}"
