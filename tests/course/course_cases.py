"""What the course's tests share: the chapters graded, the chapter that carries the misbehaving
submissions, and small helpers for nbgrader notebooks and the sandbox."""

import os

import nbformat
import pytest

import course

CHAPTERS = course.chapters_with_exercises()
# For work on one chapter: COURSE_CHAPTERS=semantic_development,retina_cnns pytest tests/course
if os.environ.get("COURSE_CHAPTERS"):
    CHAPTERS = [c for c in CHAPTERS if c.stem in os.environ["COURSE_CHAPTERS"].split(",")]
IDS = [c.stem for c in CHAPTERS]

SPECIAL = "semantic_development"   # the cheapest chapter carries the misbehaving submissions


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def require_sandbox():
    """Skip the test where bubblewrap cannot run; in CI, where make test installs it, fail instead."""
    import sandbox

    reason = sandbox.available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail("CI needs bubblewrap to grade: make test installs it as root. " + reason)
        pytest.skip(reason)


def grade_ids(nb, kind):
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get(kind)]


def write_submission(folder, student, name, nb):
    (folder / student).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / student / f"{name}.ipynb")

