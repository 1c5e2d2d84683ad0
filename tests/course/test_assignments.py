"""Course assignments (tools/course.py): student editions generated from the chapters, and grading.

The fast tests check the generated notebooks and the exercise convention on every chapter. The
end-to-end tests build a course directory per chapter with nbgrader's own SQLite gradebook and
grade real submissions with nbgrader: the instructor's solutions, the unchanged student edition,
a wrong answer, runaway code, tampered test cells and broken files.
"""

import ast
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

import book_files
import course
import grading
import submissions

CHAPTERS = course.chapters_with_exercises()
# For work on one chapter: COURSE_CHAPTERS=semantic_development,retina_cnns pytest tests/course
if os.environ.get("COURSE_CHAPTERS"):
    CHAPTERS = [c for c in CHAPTERS if c.stem in os.environ["COURSE_CHAPTERS"].split(",")]
IDS = [c.stem for c in CHAPTERS]


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


# --- The generated source notebooks ------------------------------------------------------------

def test_every_chapter_has_exercises():
    assert [c.stem for c in course.chapters_with_exercises()] == [c.stem for c in book_files.chapters()]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_source_notebook_follows_nbgrader(chapter):
    nb, exercises = course.source_notebook(chapter, (2, {}))
    text = chapter.read_text()
    labels = re.findall(r"```\{exercise-start\}\n:label: (ex-[\w-]+)", text)
    assert [e.label for e in exercises] == labels and len(labels) >= 3
    ids = [nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    for e in exercises:
        check = nb.cells[e.check]
        meta = nbgrader_meta(check)
        assert meta["grade"] and meta["locked"] and meta["points"] == 2 and not meta["solution"]
        assert course._CHECK.search(check.source) and "statmech_dl.exercises" in text
        for i in e.solutions:
            cell = nb.cells[i]
            assert nbgrader_meta(cell)["solution"] and not nbgrader_meta(cell)["locked"]
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
            assert i < e.check
    # Every other code cell is locked; the solution prose and the directives are gone.
    for cell in nb.cells:
        if cell.cell_type == "code" and not nbgrader_meta(cell).get("solution"):
            assert nbgrader_meta(cell)["locked"]
        assert "solution-start" not in cell.source and "exercise-start" not in cell.source
    prose = re.findall(r"```\{solution-start\}[^\n]*\n(?::[^\n]*\n)*```\n(.*?)(?:```\{code-cell\}|```\{solution-end)",
                       text, flags=re.S)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for block in prose:
        for line in block.splitlines():
            if len(line) > 40:
                assert line not in markdown, f"solution prose leaked into the student edition: {line}"


def test_solution_source_keeps_signatures_and_docstrings():
    source = textwrap.dedent('''\
        def f(x, y=2):
            """Add."""
            z = x + y
            return z


        def g(
            a,
        ):
            return a
        ''')
    out = course.solution_source(source)
    assert out.splitlines()[:2] == ["def f(x, y=2):", '    """Add."""']
    assert "    ### BEGIN SOLUTION\n    z = x + y\n    return z\n    ### END SOLUTION" in out
    assert "):\n    ### BEGIN SOLUTION\n    return a\n    ### END SOLUTION" in out
    ast.parse(out)
    assert course.solution_source("x = 1\nprint(x)") == "### BEGIN SOLUTION\nx = 1\nprint(x)\n### END SOLUTION"
    assert course.solution_source("def h(x): return x").startswith("### BEGIN SOLUTION")


CHAPTER_TEMPLATE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Toy

```{{code-cell}} ipython3
import numpy as np
```

## Exercises

```{{exercise-start}}
:label: ex-toy-one
```
Implement `one()`.
```{{exercise-end}}
```

```{{solution-start}} ex-toy-one
:class: dropdown
```
It is one.

{solution}
```{{solution-end}}
```

{check}
"""

SOLUTION = """```{code-cell} ipython3
:tags: [solution]

def one():
    return 1
```
"""
CHECK = """```{code-cell} ipython3
from statmech_dl.exercises import toy as checks

checks.check_one(one)
```
"""


@pytest.mark.parametrize("solution, check, message", [
    (SOLUTION, "", "has no check"),
    (SOLUTION, "```{code-cell} ipython3\nprint(one())\n```\n", "has no check"),
    ("", CHECK, "has no solution code"),
    (SOLUTION.replace(":tags: [solution]\n", ""), CHECK, "must be tagged 'solution'"),
], ids=["no-check", "not-a-check", "check-without-solution", "untagged-solution"])
def test_a_chapter_that_breaks_the_convention_fails(tmp_path, solution, check, message):
    path = tmp_path / "toy.md"
    path.write_text(CHAPTER_TEMPLATE.format(solution=solution, check=check))
    with pytest.raises(course.ConventionError, match=message):
        course.source_notebook(path, (1, {}))


def test_a_check_outside_any_exercise_fails(tmp_path):
    path = tmp_path / "toy.md"
    text = CHAPTER_TEMPLATE.format(solution=SOLUTION, check=CHECK)
    path.write_text(text.replace("## Exercises", CHECK + "\n## Exercises"))
    with pytest.raises(course.ConventionError, match="no exercise and solution before it"):
        course.source_notebook(path, (1, {}))
    path.write_text(text.replace("```{solution-start} ex-toy-one\n:class: dropdown\n```\n",
                                 "```{solution} ex-toy-one\n```\n"))
    with pytest.raises(course.ConventionError, match="gated"):
        course.source_notebook(path, (1, {}))


def test_the_course_tool_runs_from_the_environments_python_alone(tmp_path):
    # Without the environment activated (its scripts not on PATH), nbgrader must still find the
    # helpers it starts by name, such as alembic for the gradebook.
    chapter = next(c for c in CHAPTERS if c.stem == "semantic_development")
    proc = subprocess.run([sys.executable, str(Path(course.__file__)), "build", "--course", str(tmp_path / "c"),
                           str(chapter)], env={"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "c" / "release" / "semantic_development" / "semantic_development.ipynb").exists()


def test_points_default_and_override(tmp_path):
    points = tmp_path / "points.yml"
    points.write_text("default: 3\nexercises:\n  ex-toy-one: 5\n")
    assert course.load_points(points) == (3, {"ex-toy-one": 5})
    path = tmp_path / "toy.md"
    path.write_text(CHAPTER_TEMPLATE.format(solution=SOLUTION, check=CHECK))
    nb, exercises = course.source_notebook(path, course.load_points(points))
    assert nbgrader_meta(nb.cells[exercises[0].check])["points"] == 5
    points.write_text("default: 0\n")
    with pytest.raises(ValueError, match="points for default must be a positive number"):
        course.load_points(points)
    # The book's own points file is valid and names only real exercises.
    default, overrides = course.load_points()
    labels = {e.label for c in CHAPTERS for e in course.source_notebook(c)[1]}
    assert default > 0 and set(overrides) <= labels


# --- End to end, with nbgrader ---------------------------------------------------------------

def require_sandbox():
    """Skip the test where bubblewrap cannot run; in CI, where make test installs it, fail instead."""
    import sandbox

    reason = sandbox.available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail("CI needs bubblewrap to grade: make test installs it as root. " + reason)
        pytest.skip(reason)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _submission(course_dir, name, wrong=None, edit=None):
    """The release filled with the instructor's solutions; exercise ``wrong`` gets wrong code."""
    def pick(gid, solution):
        return submissions.wrong_answer(solution) if wrong and gid.startswith(wrong + "-solution") else solution

    release = submissions.release_with(course_dir, name, pick)
    if edit:
        edit(release)
    return release


def _grade_ids(nb, kind):
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get(kind)]


SPECIAL = "semantic_development"   # the cheapest chapter carries the misbehaving submissions

#: The code of a submission that attacks the course: it reads the solutions and the gradebook,
#: rewrites every gradebook it can find, deletes the other students' work and opens a network
#: connection. Each attempt prints BLOCKED or DONE.
INTRUDER = """
import glob, os, shutil, socket, sqlite3
def attempt(what, action):
    try:
        action()
        print("DONE", what)
    except Exception as err:
        print("BLOCKED", what, type(err).__name__)
attempt("read the solutions", lambda: open(glob.glob("COURSE/source/*/*.ipynb")[0]).read())
attempt("read the gradebook", lambda: open("COURSE/gradebook.db", "rb").read())
attempt("list the submissions", lambda: os.listdir("SUBMISSIONS")[0])
def rewrite_grades():
    found = glob.glob("COURSE/*.db") + glob.glob(os.path.expanduser("~/**/*.db"), recursive=True)
    for path in found + glob.glob("../**/*.db", recursive=True):
        db = sqlite3.connect(path)
        db.execute("UPDATE grade SET manual_score = 1, extra_credit = 5")
        db.commit()
    if not found:
        raise FileNotFoundError("no gradebook")
attempt("rewrite the gradebook", rewrite_grades)
def delete_work():
    targets = glob.glob("COURSE/autograded/*") + glob.glob("COURSE/feedback/*") + glob.glob("SUBMISSIONS/*")
    if not targets:
        raise FileNotFoundError("nothing to delete")
    for t in targets:
        shutil.rmtree(t)
attempt("delete the others' work", delete_work)
attempt("open a network connection", lambda: socket.create_connection(("1.1.1.1", 80), timeout=3))
attempt("write outside its folder", lambda: open("/usr/evil.txt", "w").write("x"))
"""


def _check_names(chapter):
    import importlib

    return sorted(n for n in dir(importlib.import_module(f"statmech_dl.exercises.{chapter}")) if n.startswith("check_"))


#: Code appended to a wrong first answer that would make the check pass in the kernel.
PATCHES = {
    # Every check of the chapter's module replaced, by name, by one that prints a pass (attribute
    # stores, which the fast path follows: this submission is graded through it).
    "patch_module": """
import statmech_dl.exercises.semantic_development as m
def passes(*args, **kwargs):
    print("Correct: your answer passes every test case.")
""" + "".join(f"m.{name} = passes\n" for name in _check_names("semantic_development")),
    # NumPy's comparison made to agree with anything.
    "patch_numpy": """
import numpy
numpy.allclose = lambda *args, **kwargs: True
""",
    # builtins: every later import of the checks' module gets a fake one that passes everything.
    "patch_builtins": """
import builtins, types
real_import = builtins.__import__
fake = types.ModuleType("checks")
fake.__getattr__ = lambda name: (lambda *args, **kwargs: print("Correct: your answer passes every test case."))
def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
    if name.startswith("statmech_dl.exercises"):
        parent = types.ModuleType("statmech_dl.exercises")
        parent.semantic_development = fake
        return parent
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = fake_import
""",
}


def _special_submissions(course_dir, folder, stopped_folder):
    """The misbehaving submissions of chapter SPECIAL, in ``folder``; those whose answers run
    until they are stopped at the time limit (an infinite loop and a memory hoard; a fork bomb
    and a 100 GB allocation) in ``stopped_folder``, graded with a short limit. (The sandbox kills
    the fork bomb's processes after its cell, so that they cannot slow the cells after it.)"""
    release = nbformat.read(course_dir / "release" / SPECIAL / f"{SPECIAL}.ipynb", as_version=4)
    solution_ids = _grade_ids(release, "solution")
    check_ids = _grade_ids(release, "grade")

    def answers(first, second):
        """An edit that replaces the first two answers by the given code."""
        def edit(nb):
            for cell in nb.cells:
                gid = nbgrader_meta(cell).get("grade_id")
                if gid in solution_ids[:2]:
                    cell.source = first if gid == solution_ids[0] else second
        return edit

    loop_and_hoard = answers("while True:\n    pass\n",
                             "import numpy as np\nhoard = []\nwhile True:\n    hoard.append(np.ones(10**8))\n")
    fork_and_grab = answers("import os\nwhile True:\n    os.fork()\n",
                            "import numpy as np\nx = np.ones(int(100e9 / 8))\n")

    def tamper(nb):
        # Edit the first test cell into a pass, delete the second, for a wrong first answer.
        keep = []
        for cell in nb.cells:
            gid = nbgrader_meta(cell).get("grade_id")
            if gid == check_ids[0]:
                cell.source = "print('all correct')"
            if gid != check_ids[1]:
                keep.append(cell)
        nb.cells = keep

    def intrude(nb):
        # At the top of the first answer: every attempt is caught and reported, so that the
        # answer after it still runs.
        code = INTRUDER.replace("COURSE", str(course_dir.resolve())).replace("SUBMISSIONS", str(folder.resolve()))
        for cell in nb.cells:
            if nbgrader_meta(cell).get("grade_id") == solution_ids[0]:
                cell.source = code + "\n" + cell.source
                break

    def patch(code):
        """An edit that appends ``code`` to the (wrong) first answer."""
        def edit(nb):
            for cell in nb.cells:
                if nbgrader_meta(cell).get("grade_id") == solution_ids[0]:
                    cell.source += "\n" + code
                    break
        return edit

    made = {
        "runaway": _submission(course_dir, SPECIAL, edit=loop_and_hoard),
        "tampered": _submission(course_dir, SPECIAL, wrong=check_ids[0].rsplit("-check", 1)[0], edit=tamper),
        "forkbomb": _submission(course_dir, SPECIAL, edit=fork_and_grab),
        # Graded last (students go in alphabetical order), when the others' grades, feedback and
        # files are all there to be attacked.
        "zz_intruder": _submission(course_dir, SPECIAL, edit=intrude),
    }
    wrong_first = check_ids[0].rsplit("-check", 1)[0]
    for student, code in PATCHES.items():
        made[student] = _submission(course_dir, SPECIAL, wrong=wrong_first, edit=patch(code))
    for student, nb in made.items():
        _write_submission(stopped_folder if student in ("runaway", "forkbomb") else folder, student, SPECIAL, nb)
    (folder / "empty").mkdir()
    (folder / "empty" / f"{SPECIAL}.ipynb").write_text("")
    (folder / "malformed").mkdir()
    (folder / "malformed" / f"{SPECIAL}.ipynb").write_text('{"cells": [ {"cell_type": "code"')


VARIANTS = ("solution", "unchanged", "wrong")


def _mixed(course_dir, name):
    """The release with answer i of the chapter in variant VARIANTS[i % 3], and those variants."""
    source = nbformat.read(course_dir / "source" / name / f"{name}.ipynb", as_version=4)
    checks = _grade_ids(source, "grade")
    variant = {c.rsplit("-check", 1)[0]: VARIANTS[i % 3] for i, c in enumerate(checks)}

    def pick(gid, solution):
        kind = variant[grading.exercise_of(gid)]
        return {"solution": solution, "wrong": submissions.wrong_answer(solution)}.get(kind)

    return submissions.release_with(course_dir, name, pick), {c: variant[c.rsplit("-check", 1)[0]] for c in checks}


def _write_submission(folder, student, name, nb):
    (folder / student).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / student / f"{name}.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One course of every chapter, graded by two graders at once.

    The first grades, in this process on a local Dask cluster and through the fast path, every
    chapter's solution and a mixed submission (solutions, unchanged stubs and wrong answers),
    then the misbehaving submissions of one chapter. The second, started beside it as a separate
    ``tools/course.py grade`` process, grades the same mixed submissions under another name with
    every cell executed: the fast path must score what full execution scores.
    """
    require_sandbox()
    root = tmp_path_factory.mktemp("course")
    course_dir = root / "course"
    course.build(course_dir, CHAPTERS)
    fast, special, full = root / "submissions", root / "special", root / "full"
    info = {}
    for chapter in CHAPTERS:
        name = chapter.stem
        source = nbformat.read(course_dir / "source" / name / f"{name}.ipynb", 4)
        mixed, variants = _mixed(course_dir, name)
        _write_submission(fast, "solution", name, source)
        _write_submission(fast, "mixed", name, mixed)
        _write_submission(full, "mixed_full", name, mixed)
        info[name] = {"exercises": _grade_ids(source, "grade"), "variants": variants, "course": course_dir}
    _special_submissions(course_dir, fast, special)
    before = {p: _digest(p) for folder in (fast, special) for p in folder.rglob("*.ipynb")}
    start = time.perf_counter()
    # The full grader: its own process and Dask cluster, every cell under the default time limit.
    other = subprocess.Popen([sys.executable, str(Path(course.__file__)), "grade", str(full), "--course",
                              str(course_dir), "--full", "--workers", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = course.grade(fast, course_dir, timeout=30, memory_gb=course.MEMORY_GB, workers=2)
    # Then the runaway answers, into the same course. They cost the whole time limit, so it is
    # short for them: no other cell of that chapter's fast path takes a second.
    results += course.grade(special, course_dir, timeout=5, memory_gb=course.MEMORY_GB, workers=2)
    fast_seconds = time.perf_counter() - start
    log, _ = other.communicate(timeout=3600)
    full_seconds = time.perf_counter() - start
    assert other.returncode == 0, log[-5000:]
    full_results = json.loads((course_dir / "reports" / "grades.json").read_text())
    after = {p: _digest(p) for folder in (fast, special) for p in folder.rglob("*.ipynb")}
    by = {}
    for r in results:
        by.setdefault(r.assignment, {})[r.student] = r
    for r in full_results:
        res = course.Result(r["student"], r["assignment"], r["file"], {k: tuple(v) for k, v in r["scores"].items()},
                            r["hints"], r["error"], r["feedback"], r["seconds"], r["fast"])
        by[r["assignment"]][r["student"]] = res
    out = {name: dict(info[name], results=by[name]) for name in info}
    out["_"] = {"unchanged_files": before == after, "course": course_dir, "fast_seconds": fast_seconds,
                "full_seconds": full_seconds}
    summary = {name: {s: (r.total, round(r.seconds, 1), r.fast) for s, r in g["results"].items()}
               for name, g in out.items() if name != "_"}
    print(f"\nfast grader {fast_seconds:.0f} s, full grader {full_seconds:.0f} s; "
          "(got, max), seconds, fast path:\n" + json.dumps(summary, indent=1))
    return out


@pytest.mark.book
@pytest.mark.parametrize("name", IDS)
def test_solutions_get_full_marks(graded, name):
    r = graded[name]["results"]["solution"]
    assert not r.error, r.error
    assert list(r.scores) == graded[name]["exercises"]
    assert all(score == max_score > 0 for score, max_score in r.scores.values()), course.report([r])
    assert r.feedback and "html" in r.feedback


@pytest.mark.book
@pytest.mark.parametrize("name", IDS)
def test_stubs_and_wrong_answers_score_zero_and_show_the_hint(graded, name):
    r = graded[name]["results"]["mixed"]
    assert not r.error, r.error
    assert list(r.scores) == graded[name]["exercises"], "every exercise is reported"
    feedback = html.unescape(re.sub(r"<[^>]+>", "", open(r.feedback).read()))
    for gid, variant in graded[name]["variants"].items():
        score, max_score = r.scores[gid]
        assert score == (max_score if variant == "solution" else 0), (variant, course.report([r]))
        if variant == "wrong":
            hint = r.hints[gid]
            assert hint.startswith("AssertionError: "), hint
            # The feedback page shows the hint (its text, once the markup and escapes are removed).
            assert hint.split(": ", 1)[1][:40] in feedback
        if variant == "unchanged":
            assert r.hints[gid].startswith(("NotImplementedError", "NameError")), r.hints[gid]


@pytest.mark.book
@pytest.mark.parametrize("name", IDS)
def test_the_fast_path_scores_what_full_execution_scores(graded, name):
    fast, full = graded[name]["results"]["mixed"], graded[name]["results"]["mixed_full"]
    assert fast.fast and not full.fast and not full.error, full.error
    assert fast.scores == full.scores and fast.hints == full.hints, course.report([fast, full])
    # Every submission of the chapter that could be followed took the fast path.
    assert graded[name]["results"]["solution"].fast


@pytest.mark.book
def test_two_graders_at_once_leave_a_sound_gradebook(graded):
    import sqlite3

    from nbgrader.api import Gradebook

    course_dir = graded["_"]["course"]
    db = sqlite3.connect(course_dir / "gradebook.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    # Each grader's grades are all there, once each, as each grader computed them.
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        for name in IDS:
            for student, result in graded[name]["results"].items():
                if result.error and not result.scores:
                    continue
                submission = gb.find_submission_notebook(name, name, student)
                assert {g.name: (float(g.score), float(g.max_score)) for g in submission.grades} == result.scores


@pytest.mark.book
@pytest.mark.parametrize("student", sorted(PATCHES))
def test_a_patched_check_numpy_or_builtins_gains_nothing(graded, student):
    r = graded[SPECIAL]["results"][student]
    assert not r.error, r.error
    # Replacing builtins.__import__ cannot be followed: that submission runs every cell.
    assert r.fast == (student != "patch_builtins")
    scores = list(r.scores.values())
    # Exactly what the answers earn: the wrong first answer scores zero, the right ones score.
    # The test cells took the checks loaded before the submission's code ran, so the answers
    # were recorded whatever the patch did in the kernel, and judged where it never ran.
    assert scores[0][0] == 0 and r.hints[list(r.scores)[0]].startswith("AssertionError"), course.report([r])
    assert all(s == m > 0 for s, m in scores[1:]), course.report([r])


@pytest.mark.book
def test_runaway_code_is_stopped_and_the_rest_is_graded(graded):
    r = graded[SPECIAL]["results"]["runaway"]
    assert not r.error, r.error
    scores = list(r.scores.values())
    assert scores[0][0] == 0 and scores[1][0] == 0          # the loop and the hoard
    assert all(s == m for s, m in scores[2:]), course.report([r])
    autograded = graded["_"]["course"] / "autograded" / "runaway" / SPECIAL / f"{SPECIAL}.ipynb"
    errors = [o for c in nbformat.read(autograded, 4).cells if nbgrader_meta(c).get("solution")
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # The loop is interrupted at the time limit; the hoard hits the memory cap or the time limit,
    # whichever comes first (filling 8 GB takes about 15 s on the book's machine).
    stopped = {"KeyboardInterrupt", "CellTimeoutError"}
    assert errors[0]["ename"] in stopped and errors[1]["ename"] in stopped | {"MemoryError"}
    # The report says why the exercise scored zero.
    hints = list(r.hints.values())
    assert hints[0].startswith("answer stopped at the time limit")
    assert hints[1].startswith(("answer stopped at the memory cap", "answer stopped at the time limit"))


@pytest.mark.book
def test_editing_or_deleting_a_test_cell_does_not_change_the_grade(graded):
    r = graded[SPECIAL]["results"]["tampered"]
    assert not r.error, r.error
    scores = list(r.scores.values())
    assert scores[0][0] == 0                                 # wrong answer, edited check restored
    assert all(s == m for s, m in scores[1:])                # deleted check restored and passed
    assert list(r.scores) == graded[SPECIAL]["exercises"]


@pytest.mark.book
def test_broken_files_are_reported_by_name_and_affect_no_one_else(graded):
    results = graded[SPECIAL]["results"]
    assert results["empty"].error.startswith(results["empty"].file + ": the file is empty")
    assert results["malformed"].error.startswith(results["malformed"].file + ": not a readable notebook")
    assert not results["malformed"].scores
    assert all(not r.error for s, r in results.items() if s not in ("empty", "malformed"))


@pytest.mark.book
def test_submitted_files_are_never_modified(graded):
    assert graded["_"]["unchanged_files"]


def test_progress_line_counts_rate_and_time_left():
    out = io.StringIO()
    ticks = iter([0.0, 0.0, 20.0, 50.0])
    progress = course.Progress(4, stream=out, clock=lambda: next(ticks))
    progress.update(0)
    progress.update(2)      # 20 s for two: 10 s each, two left
    progress.update(4)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("0/4 submissions")
    assert "2/4 submissions, 10.0 s each, about 20 s left" in lines[1]
    assert "4/4 submissions, 12.5 s each, about 0 s left" in lines[2]
    assert lines[2].startswith("[" + "#" * 30 + "]")


@pytest.mark.book
def test_grades_export_as_csv_matches_the_graded_results(graded, tmp_path):
    output = tmp_path / "grades.csv"
    n = course.export_csv(graded["_"]["course"], output)
    with output.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n
    exported = {(r["student"], r["assignment"], r["exercise"]): r for r in rows}
    expected = 0
    for name in IDS:
        for student, result in graded[name]["results"].items():
            for grade_id, (score, max_score) in result.scores.items():
                row = exported[student, name, grade_id.rsplit("-check", 1)[0]]
                assert float(row["points"]) == score and float(row["max_points"]) == max_score
                assert row["hint"] == result.hints.get(grade_id, "")
                expected += 1
    assert n == expected


def _other_students(graded):
    return {s: r for s, r in graded[SPECIAL]["results"].items() if s != "zz_intruder" and not r.error}


@pytest.mark.book
def test_a_submission_cannot_read_the_course_change_grades_or_delete_work(graded):
    from nbgrader.api import Gradebook

    g = graded[SPECIAL]
    r = g["results"]["zz_intruder"]
    assert not r.error, r.error
    # Every attempt failed in the submission's own cell...
    autograded = g["course"] / "autograded" / "zz_intruder" / SPECIAL / f"{SPECIAL}.ipynb"
    first = next(c for c in nbformat.read(autograded, 4).cells if nbgrader_meta(c).get("solution"))
    printed = "".join(o.get("text", "") for o in first.get("outputs", []))
    attempts = [line for line in printed.splitlines() if line.startswith(("BLOCKED", "DONE"))]
    assert len(attempts) == 7 and all(a.startswith("BLOCKED") for a in attempts), printed
    # ... and it is graded on its answers, all correct.
    assert all(score == max_score for score, max_score in r.scores.values())
    # Nobody else's grade changed in the gradebook, and their feedback is still there.
    with Gradebook(f"sqlite:///{g['course'] / 'gradebook.db'}") as gb:
        for student, result in _other_students(graded).items():
            submission = gb.find_submission_notebook(SPECIAL, SPECIAL, student)
            now = {x.name: (float(x.score), float(x.max_score)) for x in submission.grades}
            assert now == result.scores, student
            assert all(x.extra_credit in (None, 0) for x in submission.grades)
            assert Path(result.feedback).exists()


@pytest.mark.book
def test_a_fork_bomb_and_a_huge_allocation_are_stopped_and_the_rest_is_graded(graded):
    r = graded[SPECIAL]["results"]["forkbomb"]
    assert not r.error, r.error
    scores = list(r.scores.values())
    assert scores[0][0] == 0 and scores[1][0] == 0
    assert all(s == m for s, m in scores[2:]), course.report([r])
    hints = list(r.hints.values())
    # The fork bomb meets the process cap (or, were it slower to fork, the time limit).
    assert hints[0].startswith(("answer stopped at the process cap", "answer stopped at the time limit"))
    assert hints[1].startswith("answer stopped at the memory cap")


def test_the_sandbox_starts_matplotlib_from_the_graders_font_list(tmp_path):
    """Each sandbox starts with an empty home: Matplotlib would list the machine's fonts again for
    every submission (0.7 s). It finds a copy of the grader's list in its own, writable folder."""
    import sandbox

    require_sandbox()
    # Before Matplotlib is imported, its folder holds the list; importing it reads the list and
    # writes nothing (a rebuilt list would be written anew).
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nfolder = os.environ['MPLCONFIGDIR']\n"
        "before = {f: os.stat(os.path.join(folder, f)).st_mtime_ns for f in os.listdir(folder)}\n"
        "import matplotlib\nfrom matplotlib import font_manager\n"
        "after = {f: os.stat(os.path.join(folder, f)).st_mtime_ns for f in os.listdir(folder)}\n"
        "print(matplotlib.get_cachedir() == folder, any(f.startswith('fontlist') for f in before))\n"
        "print(before == after, len(font_manager.fontManager.ttflist) > 0)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    code, err = sandbox.execute_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb", timeout=60, memory_gb=4)
    assert code == 0, err
    outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs)
    assert text == "True True\nTrue True\n", text


def test_grading_refuses_without_the_sandbox_and_says_what_to_install(tmp_path, monkeypatch):
    import sandbox

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    reason = sandbox.available()
    assert "apt-get install bubblewrap" in reason and "--unsafe-no-sandbox" in reason
    (tmp_path / "release").mkdir()
    config = course.SANDBOX_CONFIG.format(tools=str(Path(course.__file__).resolve().parent))
    (tmp_path / "nbgrader_config.py").write_text(config)
    with pytest.raises(course.SandboxUnavailable, match="bubblewrap"):
        course.grade(tmp_path / "none", tmp_path)
    # nbgrader would log a broken configuration and grade unsandboxed with its defaults: the
    # grader loads it first and stops.
    (tmp_path / "nbgrader_config.py").write_text(config + "import no_such_module\n")
    with pytest.raises(course.SandboxUnavailable, match="does not load"):
        course.grade(tmp_path / "none", tmp_path)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    with pytest.raises(course.SandboxUnavailable, match="built without the sandbox"):
        course.grade(tmp_path / "none", tmp_path)


@pytest.fixture
def dask_cluster(tmp_path):
    """A Dask scheduler and two workers, each a process of its own on localhost, as a real deployment runs them.

    Yields ``(address, {worker address: process})``.
    """
    require_sandbox()
    from distributed import Client

    address, procs = grading.start_cluster(tmp_path, workers=2, nanny=False)
    try:
        with Client(address, timeout="60s") as client:
            by_pid = {p.pid: p for p in procs[1:]}
            yield address, {addr: by_pid[pid] for addr, pid in client.run(os.getpid).items()}
    finally:
        for p in procs:
            p.kill()
            p.wait()


@pytest.mark.book
def test_a_worker_killed_mid_grade_loses_nothing(tmp_path, dask_cluster):
    import threading

    from distributed import Client
    from nbgrader.api import Gradebook

    address, workers = dask_cluster
    course_dir = tmp_path / "course"
    chapter = next(c for c in CHAPTERS if c.stem == SPECIAL) if SPECIAL in IDS else CHAPTERS[0]
    name = chapter.stem
    course.build(course_dir, [chapter])
    folder = tmp_path / "submissions"
    source = nbformat.read(course_dir / "source" / name / f"{name}.ipynb", 4)
    students = [f"student{i}" for i in range(4)]
    for student in students:
        _write_submission(folder, student, name, source)
    killed = []

    def kill_one_busy_worker():
        with Client(address, timeout="30s") as client:
            deadline = time.time() + 300
            while time.time() < deadline and not killed:
                busy = [w for w, tasks in client.processing().items() if tasks and w in workers]
                if busy:
                    time.sleep(2.0)                          # well inside the task's execution
                    workers[busy[0]].kill()
                    killed.append(busy[0])
                time.sleep(0.1)

    killer = threading.Thread(target=kill_one_busy_worker)
    killer.start()
    results = course.grade(folder, course_dir, scheduler=address)
    killer.join()
    assert killed, "no worker was killed"
    assert sorted(r.student for r in results) == students
    for r in results:
        assert not r.error and all(s == m > 0 for s, m in r.scores.values()), course.report([r])
    # One submission per student in the gradebook, each with one grade per exercise.
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        assert sorted(s.student.id for s in gb.find_notebook(name, name).submissions) == students
        for student in students:
            grades = gb.find_submission_notebook(name, name, student).grades
            assert sorted(g.name for g in grades) == sorted(_grade_ids(source, "grade"))


# --- The grading engine's parts (no sandbox) --------------------------------------------------------

def _code(source, **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = dict({"grade": False, "solution": False, "locked": False}, **nbgrader)
    return cell


def test_prepare_restores_locked_cells_and_keeps_the_answers():
    release = nbformat.v4.new_notebook(cells=[
        _code("import numpy as np", grade_id="cell-0", locked=True),
        _code("raise NotImplementedError()", grade_id="ex-a-solution-1", solution=True),
        _code("check_a(f)", grade_id="ex-a-check", grade=True, locked=True, points=1),
        _code("raise NotImplementedError()", grade_id="ex-b-solution-1", solution=True),
        _code("check_b(g)", grade_id="ex-b-check", grade=True, locked=True, points=1)])
    submission = nbformat.v4.new_notebook(cells=[
        _code("import numpy as np; print('edited')", grade_id="cell-0", locked=True),
        _code("def f(): return 1", grade_id="ex-a-solution-1", solution=True),
        _code("helper = 2"),                                          # the student's own cell
        # ex-a-check deleted; ex-b's answer deleted; ex-b-check edited and copied
        _code("print('pass')", grade_id="ex-b-check", grade=True, locked=True, points=5),
        _code("print('pass')", grade_id="ex-b-check", grade=True, locked=True, points=5)])
    nb = grading.prepare(submission, release)
    assert [c.source for c in nb.cells] == ["import numpy as np", "def f(): return 1", "helper = 2", "check_a(f)",
                                            "raise NotImplementedError()", "check_b(g)"]
    assert nbgrader_meta(nb.cells[5])["points"] == 1 and not nbgrader_meta(nb.cells[2])


def _notebook(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def test_test_cells_take_the_checks_loaded_before_the_submission():
    module = "statmech_dl.exercises.semantic_development"
    g = grading.GENUINE
    assert grading.genuine_imports(
        "from statmech_dl.exercises import semantic_development as checks\n\nchecks.check_a(a)", module
    ) == f"checks = {g}\n\nchecks.check_a(a)"
    assert grading.genuine_imports(
        "from statmech_dl.exercises.semantic_development import check_a, check_b as b\n"
        "import statmech_dl.exercises.semantic_development as m, numpy as np", module
    ) == f"check_a = {g}.check_a; b = {g}.check_b\nm = {g}; import numpy as np"
    # Another chapter's checks, code that is not an import, and broken code are left alone.
    for source in ("from statmech_dl.exercises import retina_cnns as checks", "x = 1", "def (:"):
        assert grading.genuine_imports(source, module) == source
    run = grading.armed(_notebook(_code("from statmech_dl.exercises import semantic_development as c",
                                        grade=True, grade_id="ex-check", points=1)), module)
    assert f"{g} = " in run.cells[0].source and run.cells[1].source == f"c = {g}"


def test_the_fast_path_follows_names_and_changes_in_place():
    cells = [
        _code("import numpy as np\nrng = np.random.default_rng(0)"),         # 0 needed: np, rng
        _code("big = np.ones(10**7).sum()"),                                  # 1 not needed
        _code("data = rng.normal(size=3)"),                                   # 2 needed: data
        _code("rng.normal()"),                                                # 3 needed: changes rng
        _code("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot(data)"),  # 4 not needed
        _code("data[0] = 1.0"),                                               # 5 needed: changes data
        _code("for k in range(3):\n    print(k)"),                            # 6 not needed: k rebound below
        _code("def answer(x):\n    k = 2\n    return x + data.sum() + rng.normal()",
              grade_id="ex-a-solution-1", solution=True),
        _code("check_a(answer)", grade_id="ex-a-check", grade=True)]
    assert grading.needed_cells(_notebook(*cells)) == [0, 2, 3, 5, 7, 8]
    # Code whose names cannot be followed: the whole notebook runs.
    for source in ("exec('x = 1')", "globals()['x'] = 1", "from os import *", "%timeit 1"):
        assert grading.needed_cells(_notebook(*cells[:1], _code(source), *cells[1:])) is None
    # A function of the notebook that changes its argument makes its call a change.
    change = _code("def grow(a):\n    a.append(1)\ngrow(items)")
    keep = _code("def show(a):\n    print(len(a))\nshow(items)")
    use = [_code("items = []"), change, keep, _code("def f():\n    return items", grade_id="ex-s-1", solution=True)]
    assert grading.needed_cells(_notebook(*use)) == [0, 1, 3]


@pytest.mark.book
def test_nbgrader_autograde_by_hand_is_sandboxed_and_judged_outside(graded):
    """The course's nbgrader configuration runs a submission in the sandbox and takes the verdicts
    from the answer records: a wrong answer with a patched NumPy gets what the answers earn."""
    from nbgrader.api import Gradebook

    course_dir = graded["_"]["course"]
    submitted = course_dir / "submitted" / "by_hand" / SPECIAL
    submitted.mkdir(parents=True)
    patched = graded[SPECIAL]["results"]["patch_numpy"]
    shutil.copy(patched.file, submitted / f"{SPECIAL}.ipynb")
    proc = course._run(["-m", "nbgrader", "autograde", SPECIAL, "--student", "by_hand", "--force"], course_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        grades = gb.find_submission_notebook(SPECIAL, SPECIAL, "by_hand").grades
        scores = {g.name: (float(g.score), float(g.max_score)) for g in grades}
    assert scores == patched.scores, scores


@pytest.mark.parametrize("source, exposed, kills", [
    ("x = y + 1", {"y"}, {"x"}),
    ("x += 1", {"x"}, set()),
    ("for k in range(3):\n    r = k\n    print(r)", {"range", "print"}, {"k"}),
    ("for k in ks:\n    total = total + k", {"ks", "total"}, {"k"}),
    ("if flag:\n    z = 1\nprint(z)", {"flag", "print", "z"}, set()),
    ("data = [f(v) for v in values]", {"f", "values"}, {"data"}),
    ("def g():\n    return h + 1\nh = 2", set(), {"g", "h"}),
    ("def g():\n    return h + 1", {"h"}, {"g"}),
    ("with open(p) as handle:\n    text = handle.read()\nprint(text)", {"open", "p", "print"}, {"handle", "text"}),
])
def test_names_read_before_they_are_bound(source, exposed, kills):
    names = grading.cell_names(source)
    assert names["exposed"] - {"print", "range", "open"} == exposed - {"print", "range", "open"}
    assert names["kills"] == kills
