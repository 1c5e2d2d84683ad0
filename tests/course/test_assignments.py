"""Course assignments (tools/course.py): student editions generated from the chapters, and grading.

The fast tests check the generated notebooks and the exercise convention on every chapter. The
end-to-end tests build a course directory per chapter with nbgrader's own SQLite gradebook and
grade real submissions with nbgrader: the instructor's solutions, the unchanged student edition,
a wrong answer, runaway code, tampered test cells and broken files. The grading engine's other
tests (the course tool, the sandbox's start and limits, a killed Dask worker, nbgrader by hand,
the fast path's analysis) are in test_grading_engine.py, which pytest-xdist runs beside this one.
"""

import ast
import csv
import hashlib
import html
import json
import re
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
from course_cases import CHAPTERS, IDS, SPECIAL, grade_ids, nbgrader_meta, require_sandbox, write_submission


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
    solution_ids = grade_ids(release, "solution")
    check_ids = grade_ids(release, "grade")

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
        write_submission(stopped_folder if student in ("runaway", "forkbomb") else folder, student, SPECIAL, nb)
    (folder / "empty").mkdir()
    (folder / "empty" / f"{SPECIAL}.ipynb").write_text("")
    (folder / "malformed").mkdir()
    (folder / "malformed" / f"{SPECIAL}.ipynb").write_text('{"cells": [ {"cell_type": "code"')


VARIANTS = ("solution", "unchanged", "wrong")


def _mixed(course_dir, name):
    """The release with answer i of the chapter in variant VARIANTS[i % 3], and those variants."""
    source = nbformat.read(course_dir / "source" / name / f"{name}.ipynb", as_version=4)
    checks = grade_ids(source, "grade")
    variant = {c.rsplit("-check", 1)[0]: VARIANTS[i % 3] for i, c in enumerate(checks)}

    def pick(gid, solution):
        kind = variant[grading.exercise_of(gid)]
        return {"solution": solution, "wrong": submissions.wrong_answer(solution)}.get(kind)

    return submissions.release_with(course_dir, name, pick), {c: variant[c.rsplit("-check", 1)[0]] for c in checks}


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
        write_submission(fast, "solution", name, source)
        write_submission(fast, "mixed", name, mixed)
        write_submission(full, "mixed_full", name, mixed)
        info[name] = {"exercises": grade_ids(source, "grade"), "variants": variants, "course": course_dir}
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
