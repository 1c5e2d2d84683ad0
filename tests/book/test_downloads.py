"""Each chapter's downloadable notebook, executed once more with nbval.

The cells marked ``# NBVAL_CHECK_OUTPUT`` must print what the build printed. That second execution
proves both that the download runs and that the chapter is deterministic: a chapter whose
numbers change between runs has an unseeded random generator. With the build's, each chapter is
executed twice by ``make test``; each chapter is a unit of its own, which pytest-xdist gives to
whichever worker is free.
"""

import nbformat
import pytest

import book_files
from book_site import CHAPTERS

pytestmark = pytest.mark.book


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_downloadable_notebook_executes(built, chapter, tmp_path):
    src = built / "_sources" / "book" / f"{chapter.stem}.ipynb"
    assert src.exists(), "the .ipynb download is missing"
    nb = nbformat.read(src, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # Every code cell was executed by the build, and none failed.
    assert all(c.execution_count for c in code), "the download holds unexecuted cells"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert any("solution" in c.metadata.get("tags", []) for c in code), "solution tags lost"
    for c in code:
        if "figure" in c.metadata.get("mystnb", {}):
            images = [o for o in c.outputs if "image/png" in o.get("data", {})]
            # Two images under one figure name give two targets of the same name.
            assert len(images) == 1, f"figure {c.metadata['mystnb']['figure']['name']} shows {len(images)} images"
    checked = [c for c in code if "# NBVAL_CHECK_OUTPUT" in c.source]
    assert checked, "mark the cells that print headline numbers with # NBVAL_CHECK_OUTPUT"
    assert all(c.outputs for c in checked), "a cell marked # NBVAL_CHECK_OUTPUT printed nothing"
    path = tmp_path / src.name
    nbformat.write(nb, path)
    proc = book_files.run_nbval(path)
    assert proc.returncode == 0, f"the downloaded notebook fails or differs from the build:\n{proc.stdout[-6000:]}"
