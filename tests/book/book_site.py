"""The book built once per test run, shared by the test files of tests/book.

``make test`` runs pytest-xdist workers side by side; several of them need the built site (the
page checks, the second execution of each download, the PDF, the accessibility audit). The
first to ask builds it as ``make book`` does; the others wait on a lock and then use that build.
A failed build is reported to each of them without building again.
"""

import fcntl
import subprocess
import sys

import nbformat
import pytest

import book_files

ROOT = book_files.ROOT
BUILD_DIR = ROOT / "_build"
HTML = BUILD_DIR / "html"
CHAPTERS = book_files.chapters()
BUILD_TIMEOUT = 40 * 60      # seconds; a hung cell fails sooner, at the per-cell timeout in _config.yml
#: This test run's build: its run id, then whether it passed, then its log.
RECORD = BUILD_DIR / ".test-build"


def build_once(run_id):
    """Build the book unless this run (``run_id``) already did; return the build's log."""
    BUILD_DIR.mkdir(exist_ok=True)
    with open(BUILD_DIR / ".test-build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run, _, rest = RECORD.read_text().partition("\n") if RECORD.exists() else ("", "", "")
        if run != run_id:
            try:
                proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"), "--warningiserror",
                                       "--nitpick", "--keep-going"], cwd=ROOT, capture_output=True, text=True,
                                      timeout=BUILD_TIMEOUT)
                passed, log = proc.returncode == 0, proc.stdout + proc.stderr
            except subprocess.TimeoutExpired as err:
                passed, log = False, f"did not finish in {BUILD_TIMEOUT} s:\n{(err.stdout or b'')[-5000:]}"
            rest = f"{'passed' if passed else 'failed'}\n{log}"
            RECORD.write_text(f"{run_id}\n{rest}")
    status, _, log = rest.partition("\n")
    if status != "passed":
        pytest.fail(f"book build failed:\n{log[-8000:]}")
    return log


def page(built, name):
    path = built / f"{name}.html"
    assert path.exists(), f"{path} was not built"
    return path.read_text()


def executed_claims(built):
    """chapter stem -> the claim records in the build's executed notebook."""
    import book_build

    folder = built.parent / "jupyter_execute" / "book"
    return {c.stem: book_build.claims(nbformat.read(folder / f"{c.stem}.ipynb", as_version=4))
            for c in CHAPTERS}


def book_build_verdicts():
    import book_build
    from statmech_dl import reproduction

    assert book_build.VERDICTS == reproduction.VERDICTS
    return book_build.VERDICTS
