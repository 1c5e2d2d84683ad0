"""Course assignments: nbgrader student editions generated from the chapters, and their grading.

    python tools/course.py build [--course DIR] [CHAPTER ...]      (make assignments)
    python tools/course.py grade SUBMISSIONS [--course DIR]        (make grade SUBMISSIONS=...)
    python tools/course.py export [--course DIR] [--output FILE]   (make grades-csv)

``build`` writes an nbgrader course directory (``_build/course`` by default): its
``nbgrader_config.py``, one source notebook ``source/<chapter>/<chapter>.ipynb`` for every
chapter with exercises, generated here from the chapter's MyST source, and the student
editions in ``release/``, made by ``nbgrader generate_assignment``. In a source notebook

* each code cell tagged ``solution`` becomes an nbgrader solution cell: a function keeps its
  signature and docstring, and its body sits between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (any other solution code is enclosed whole), so that nbgrader leaves
  the stub ``raise NotImplementedError()`` in the student edition;
* the check that follows each exercise becomes a locked, autograded test cell worth the
  exercise's points (``course/points.yml``): nbgrader restores its source from the gradebook
  before grading, so a student's edits to it, or its deletion, change nothing;
* the solution dropdowns (their prose and their code) are removed; the exercise statements,
  the text, the figures and every other code cell are kept, the code cells locked;
* the exercise directives become plain headings, which Jupyter renders without the book's
  Sphinx extensions.

``grade`` runs every submission in a bubblewrap sandbox (``tools/sandbox.py``): its code cannot
read or change the course (gradebook, ``source/``, other submissions, feedback), reach the
network, or fork without limit; nbgrader scores the executed notebook in the grader's process.
Where bubblewrap is missing it refuses, unless ``--unsafe-no-sandbox`` accepts the risk.
``grade`` takes a folder of submissions, ``SUBMISSIONS/<student>/<chapter>.ipynb`` (or
nbgrader's own ``SUBMISSIONS/<student>/<chapter>/<chapter>.ipynb``), copies each into the
course's ``submitted/`` folder (the original is never touched), checks that it is a readable
notebook, and runs ``nbgrader autograde`` and ``nbgrader generate_feedback`` for it. Every
cell runs under a time limit (``--timeout``, 120 s by default) and every kernel under a memory
cap (``--memory-gb``), so a runaway answer scores zero and the rest is graded. The report
gives the points of every exercise, with the hint of a failed check, and a progress line on
standard error counts the submissions, their rate and the time left.

``export`` writes the course's grades as CSV, one row per student and exercise (student,
assignment, exercise, points, max_points, hint), from the gradebook and the autograded
notebooks: what an instructor loads into a spreadsheet or a learning-management system.

The chapter conventions this relies on (tested in ``tests/course``): an exercise is a gated
``exercise-start`` block labelled ``ex-<prefix>-<name>``, its solution a gated
``solution-start`` dropdown holding code cells tagged ``solution``, and the first code cell
after the dropdown calls a check ``check_<name>(...)`` from ``statmech_dl.exercises``. A
chapter that breaks them makes ``build`` fail with a message naming the exercise.
"""

import argparse
import ast
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_files  # noqa: E402
import grading  # noqa: E402

ROOT = book_files.ROOT
DEFAULT_COURSE = ROOT / "_build" / "course"
POINTS_FILE = ROOT / "course" / "points.yml"
CONFIG_TEMPLATE = ROOT / "course" / "nbgrader_config.py"
#: The per-cell time limit of grading, in seconds: no chapter cell needs more than a minute
#: (the chapter budget), so two minutes stop only runaway code.
TIMEOUT = 120
#: The memory cap of a grading kernel, in GB: a chapter peaks under 1.5 GB of resident memory,
#: but torch and the BLAS libraries reserve several GB of address space that they never touch.
MEMORY_GB = 8

#: Appended to the course's nbgrader configuration by ``build``: every autograde, from ``make
#: grade`` or ``nbgrader autograde`` by hand, executes the submission in the sandbox.
SANDBOX_CONFIG = """
# Added by tools/course.py build: submissions run in a bubblewrap sandbox (tools/sandbox.py).
import sys
sys.path.insert(0, {tools!r})
from nbgrader_sandbox import AUTOGRADE_PREPROCESSORS  # noqa: E402
c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
"""

_CHECK = re.compile(r"\bcheck_\w+\s*\(")
_EXERCISE_START = re.compile(r"```\{exercise-start\}\n:label: (ex-[\w-]+)\n```\n?")
_EXERCISE_END = re.compile(r"```\{exercise-end\}\n```\n?")
_SOLUTION_START = re.compile(r"```\{solution-start\} (ex-[\w-]+)\n(?::[\w-]+:.*\n)*```")
_SOLUTION_END = re.compile(r"```\{solution-end\}\n```\n?")
_UNGATED = re.compile(r"```\{(exercise|solution)\}")


class ConventionError(ValueError):
    """A chapter's exercises break the convention that student editions are generated from."""


@dataclass
class Exercise:
    label: str
    number: int
    solutions: list = field(default_factory=list)   # indices of the solution code cells
    check: int = None                                # index of the check cell


def load_points(path=POINTS_FILE):
    """``(default, {label: points})`` from the points file."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    default = data.get("default", 1)
    overrides = data.get("exercises") or {}
    for name, value in [("default", default), *overrides.items()]:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{path}: points for {name} must be a positive number, got {value!r}")
    return default, dict(overrides)


def _split_markdown(chapter, text, state):
    """Rewrite one markdown cell: exercise directives become headings, solution prose goes.

    ``state`` carries what spans cells: the open exercise, whether a solution dropdown is open,
    and the exercises found so far. Returns the kept text.
    """
    if _UNGATED.search(text):
        raise ConventionError(f"{chapter}: use the gated exercise-start/solution-start directives, "
                              "not {exercise} or {solution}")
    out, pos = [], 0
    tokens = sorted(
        [(m.start(), m.end(), "exercise", m.group(1)) for m in _EXERCISE_START.finditer(text)]
        + [(m.start(), m.end(), "exercise-end", None) for m in _EXERCISE_END.finditer(text)]
        + [(m.start(), m.end(), "solution", m.group(1)) for m in _SOLUTION_START.finditer(text)]
        + [(m.start(), m.end(), "solution-end", None) for m in _SOLUTION_END.finditer(text)])
    for start, end, kind, label in tokens:
        if not state["in_solution"]:
            out.append(text[pos:start])
        pos = end
        if kind == "exercise":
            _close_exercise(chapter, state)
            exercise = Exercise(label, len(state["exercises"]) + 1)
            state["exercises"].append(exercise)
            state["current"] = exercise
            out.append(f"### Exercise {exercise.number} (`{label}`)\n\n")
        elif kind == "solution":
            current = state["current"]
            if current is None or current.label != label:
                raise ConventionError(f"{chapter}: solution {label} does not follow its exercise")
            state["in_solution"] = True
        elif kind == "solution-end":
            if not state["in_solution"]:
                raise ConventionError(f"{chapter}: solution-end without solution-start")
            state["in_solution"] = False
            state["await_check"] = True
    if not state["in_solution"]:
        out.append(text[pos:])
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


def _close_exercise(chapter, state):
    exercise = state["current"]
    if exercise is None:
        return
    if not exercise.solutions:
        raise ConventionError(f"{chapter}: exercise {exercise.label} has no solution code "
                              "(a code cell tagged 'solution' inside its solution dropdown)")
    if exercise.check is None:
        raise ConventionError(f"{chapter}: exercise {exercise.label} has no check: the first code "
                              "cell after its solution must call check_<name>(...) from "
                              "statmech_dl.exercises")
    state["current"] = None


def solution_source(source):
    """The source of a solution cell with nbgrader's solution markers.

    A cell of function definitions keeps each signature and docstring, and each body goes
    between the markers at the body's indentation; any other cell is enclosed whole.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    lines = source.rstrip("\n").split("\n")
    functions = tree is not None and tree.body and all(
        isinstance(node, ast.FunctionDef) and node.body[0].lineno > node.lineno for node in tree.body)
    if not functions:
        return "### BEGIN SOLUTION\n" + source.rstrip("\n") + "\n### END SOLUTION"
    out, pos = [], 0
    for node in tree.body:
        body = node.body
        first = body[0]
        if (len(body) > 1 and isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            first = body[1]                            # keep the docstring visible
        start, end = first.lineno - 1, node.end_lineno
        indent = re.match(r"\s*", lines[start]).group(0)
        out += lines[pos:start] + [indent + "### BEGIN SOLUTION"] + lines[start:end]
        out.append(indent + "### END SOLUTION")
        pos = end
    out += lines[pos:]
    return "\n".join(out)


def _nbgrader(grade_id, solution=False, grade=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def source_notebook(chapter, points=None):
    """The nbgrader source notebook of ``chapter`` (a path to its MyST file) and its exercises, as a pair.

    Raises :class:`ConventionError` if the chapter's exercises break the convention.
    """
    chapter = Path(chapter)
    default, overrides = points if points is not None else load_points()
    nb = jupytext.read(chapter)
    state = {"exercises": [], "current": None, "in_solution": False, "await_check": False}
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = _split_markdown(chapter.name, cell.source, state)
            if text:
                cell.source = text
                cells.append(cell)
            continue
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        tags = cell.metadata.get("tags", [])
        current = state["current"]
        index = len(cells)
        if "solution" in tags:
            if not state["in_solution"] or current is None:
                raise ConventionError(f"{chapter.name}: a cell tagged 'solution' lies outside a "
                                      "solution dropdown")
            current.solutions.append(index)
            cell.source = solution_source(cell.source)
            cell.metadata["nbgrader"] = _nbgrader(f"{current.label}-solution-{len(current.solutions)}",
                                                  solution=True)
            cell.metadata["tags"] = [t for t in tags if t != "solution"]
        elif state["in_solution"]:
            raise ConventionError(f"{chapter.name}: the code in the solution of {current.label} must be "
                                  "tagged 'solution'")
        elif state["await_check"]:
            state["await_check"] = False
            if not _CHECK.search(cell.source):
                raise ConventionError(f"{chapter.name}: exercise {current.label} has no check: the first "
                                      "code cell after its solution must call check_<name>(...)")
            current.check = index
            cell.metadata["nbgrader"] = _nbgrader(f"{current.label}-check", grade=True, locked=True,
                                                  points=overrides.get(current.label, default))
        else:
            if _CHECK.search(cell.source):
                raise ConventionError(f"{chapter.name}: a check is called with no exercise and "
                                      f"solution before it:\n{cell.source}")
            cell.metadata["nbgrader"] = _nbgrader(f"cell-{index}", locked=True)
        cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    _close_exercise(chapter.name, state)
    nb.cells = cells
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb, state["exercises"]


def chapters_with_exercises():
    return [c for c in book_files.chapters() if "{exercise-start}" in c.read_text()]


#: ``nbgrader generate_assignment --force`` for each assignment named on the command line, in one
#: process (nbgrader's start-up, about 2 s, once instead of once per chapter), with the course's
#: configuration.
_GENERATE = r"""
import sys
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

config = PyFileConfigLoader("nbgrader_config.py", path=".").load_config()
api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
failed = False
for name in sys.argv[1:]:
    result = api.generate_assignment(name, force=True)
    if not result["success"]:
        print(f"{name}:\n{result.get('log', '')}\n{result.get('error', '')}", file=sys.stderr)
        failed = True
sys.exit(failed)
"""


def _run(argv, course, **kwargs):
    # nbgrader starts helpers by name (alembic, to set up its gradebook): this interpreter's
    # scripts come first on PATH, so that the tool works from the environment's Python alone,
    # without activating the environment.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run([sys.executable, *argv], cwd=course, capture_output=True, text=True, env=env, **kwargs)


class SandboxUnavailable(RuntimeError):
    """Grading was asked to sandbox submissions and the sandbox cannot run here."""


_CONFIG_LOCK = threading.Lock()


def _check_sandbox_config(course):
    """Make sure that nbgrader, reading the course's configuration, will execute in the sandbox.

    nbgrader logs an error in its configuration file and goes on with its defaults, which would
    run the submissions unsandboxed: the configuration is loaded here first, and any error, or a
    list of autograde steps without the sandbox, stops the grading.
    """
    from traitlets.config.loader import PyFileConfigLoader

    try:
        # Two threads importing nbconvert at once (through the configuration) can each see the
        # other's half-initialised module and fail with a circular ImportError: load one at a time.
        with _CONFIG_LOCK:
            config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
        steps = config.Autograde.autograde_preprocessors
    except Exception as err:
        raise SandboxUnavailable(f"{course}/nbgrader_config.py does not load ({type(err).__name__}: {err}); "
                                 "run `make assignments` again") from err
    # An unset option reads as a lazy placeholder, not a list.
    steps = steps if isinstance(steps, (list, tuple)) else []
    if not any(getattr(step, "__name__", "") == "SandboxedExecute" for step in steps):
        raise SandboxUnavailable(f"{course} was built without the sandbox: run `make assignments` again")


def build(course=DEFAULT_COURSE, chapters=None, points_file=POINTS_FILE):
    """Write the course directory and release every chapter; return {chapter: [exercise labels]}."""
    course = Path(course)
    points = load_points(points_file)
    every = chapters_with_exercises()
    chapters = [Path(c) for c in chapters] if chapters else every
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONFIG_TEMPLATE, course / "nbgrader_config.py")
    with (course / "nbgrader_config.py").open("a") as config:
        config.write(SANDBOX_CONFIG.format(tools=str(Path(__file__).resolve().parent)))
    built, all_labels = {}, set()
    for chapter in chapters:
        nb, exercises = source_notebook(chapter, points)
        folder = course / "source" / chapter.stem
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{chapter.stem}.ipynb")
        built[chapter.stem] = [e.label for e in exercises]
        all_labels |= set(built[chapter.stem])
    # A typo in the points file would leave an exercise at the default: when every chapter is
    # built, each label must name an exercise.
    unknown = set(points[1]) - all_labels
    if unknown and {c.stem for c in chapters} >= {c.stem for c in every}:
        raise ValueError(f"{points_file}: no chapter has the exercises {sorted(unknown)}")
    proc = _run(["-c", _GENERATE, *built], course)
    if proc.returncode:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{proc.stdout}{proc.stderr}")
    return built


# --- Grading -------------------------------------------------------------------------------

@dataclass
class Result:
    student: str
    assignment: str
    file: str
    scores: dict = field(default_factory=dict)      # grade_id -> (score, max_score)
    hints: dict = field(default_factory=dict)       # grade_id -> message of the failed check
    error: str = ""
    feedback: str = ""
    seconds: float = 0.0                            # time of the grading task
    fast: bool = False                              # only the cells the exercises need ran

    @property
    def total(self):
        return sum(s for s, _ in self.scores.values()), sum(m for _, m in self.scores.values())


def find_submissions(folder, assignments):
    """``[(student, assignment, path)]`` under ``folder``, in either layout."""
    found = []
    for student in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        for name in assignments:
            for path in (student / f"{name}.ipynb", student / name / f"{name}.ipynb"):
                if path.exists():
                    found.append((student.name, name, path))
                    break
    return found


def _check_notebook(path):
    try:
        text = Path(path).read_text()
        if not text.strip():
            return "the file is empty"
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:                  # any unreadable file is reported, never raised
        return f"not a readable notebook ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
    return ""


def _hints(autograded):
    """The hint of each failed test cell of an autograded notebook (see ``grading.scores_and_hints``)."""
    nb = nbformat.read(autograded, as_version=4)
    return grading.scores_and_hints(nb, grading.verdicts_from_outputs(nb))[1]


def grade(submissions, course=DEFAULT_COURSE, timeout=TIMEOUT, memory_gb=MEMORY_GB, assignments=None,
          sandboxed=True, workers=None, scheduler=None, fast=True, progress=True):
    """Grade every submission under ``submissions``; return a list of :class:`Result`.

    Each submission is one task of ``tools/grading.py``, run on a local Dask cluster of
    ``workers`` processes (one per core by default; 0 grades in this process) or on the cluster
    of the Dask ``scheduler`` at that address. Its code runs in the sandbox of
    ``tools/sandbox.py``, which hides the course and the submissions from it; ``sandboxed=False``
    runs it with the grader's own rights instead, and is for machines without bubblewrap whose
    instructor accepts that risk. ``fast=False`` executes every cell of every submission instead
    of only those the exercises need.
    """
    import sandbox

    course = Path(course).resolve()
    if not (course / "release").exists():
        raise FileNotFoundError(f"{course} has no release/ folder: run `make assignments` first")
    if sandboxed:
        _check_sandbox_config(course)
        reason = sandbox.available()
        if reason:
            raise SandboxUnavailable(reason)
    assignments = assignments or sorted(p.name for p in (course / "source").iterdir() if p.is_dir())
    found = find_submissions(submissions, assignments)
    results = {(student, name): Result(student, name, str(path)) for student, name, path in found}
    releases = {name: (course / "release" / name / f"{name}.ipynb").read_text() for name in assignments}
    texts, tasks = {}, []
    for student, name, path in found:
        problem = _check_notebook(path)
        if problem:
            results[student, name].error = f"{path}: {problem}; nothing was graded for {student}/{name}"
            continue
        texts[student, name] = Path(path).read_text()
        tasks.append({"student": student, "assignment": name, "submission": texts[student, name],
                      "release": releases[name], "timeout": timeout, "memory_gb": memory_gb,
                      "hide": [str(course), str(Path(submissions).resolve())], "sandboxed": sandboxed,
                      "fast": fast})
    # The bar counts the submissions to execute; an unreadable file is reported at once.
    bar = Progress(len(tasks), stream=None if progress else io.StringIO())
    done = 0
    bar.update(done)

    def on_result(out):
        nonlocal done
        result = results[out["student"], out["assignment"]]
        result.scores, result.hints = out["scores"], out["hints"]
        result.seconds, result.fast = out.get("seconds", 0.0), out.get("fast", False)
        if out["error"]:
            result.error = f"{result.file}: {out['error']}"
        result.feedback = grading.record(course, out, texts[out["student"], out["assignment"]])
        done += 1
        bar.update(done)

    grading.run(tasks, on_result, scheduler=scheduler, workers=workers)
    bar.close()
    return [results[student, name] for student, name, _ in found]


class Progress:
    """A progress line on standard error: submissions graded, their rate, and the time left.

    On a terminal the line is rewritten in place; elsewhere (a log file, CI) each update is a
    line of its own.
    """

    def __init__(self, total, stream=None, clock=time.monotonic):
        self.total, self.stream, self.clock = total, stream or sys.stderr, clock
        self.start = clock()
        self.inplace = getattr(self.stream, "isatty", lambda: False)()

    def line(self, done):
        elapsed = self.clock() - self.start
        width = 30
        filled = width * done // self.total if self.total else width
        text = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} submissions"
        if done:
            rate = elapsed / done
            text += f", {rate:.1f} s each, about {rate * (self.total - done):.0f} s left"
        return text

    def update(self, done):
        if self.total:
            self.stream.write(("\r" if self.inplace else "") + self.line(done) + ("" if self.inplace else "\n"))
            self.stream.flush()

    def close(self):
        if self.inplace and self.total:
            self.stream.write("\n")
            self.stream.flush()


def export_csv(course=DEFAULT_COURSE, output=None):
    """Write every grade in the course's gradebook as CSV; return the number of rows written.

    One row per student and graded exercise: student, assignment, exercise (the check's grade
    id without its ``-check`` suffix), points, max_points, and the hint of a failed check (from
    the autograded notebook; empty when the check passed). ``output`` defaults to
    ``COURSE/reports/grades.csv``.
    """
    from nbgrader.api import Gradebook

    course = Path(course).resolve()
    database = course / "gradebook.db"
    if not database.exists():
        raise FileNotFoundError(f"{course} has no gradebook.db: grade some submissions first")
    output = Path(output) if output else course / "reports" / "grades.csv"
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with Gradebook(f"sqlite:///{database}") as gb:
        for assignment in gb.assignments:
            for notebook in assignment.notebooks:
                for submission in notebook.submissions:
                    student = submission.student.id
                    autograded = course / "autograded" / student / assignment.name / f"{notebook.name}.ipynb"
                    hints = _hints(autograded) if autograded.exists() else {}
                    for g in sorted(submission.grades, key=lambda g: g.name):
                        if g.max_score is None or g.max_score == 0:
                            continue
                        rows.append([student, assignment.name, re.sub(r"-check$", "", g.name),
                                     f"{float(g.score):g}", f"{float(g.max_score):g}", hints.get(g.name, "")])
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    with output.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "assignment", "exercise", "points", "max_points", "hint"])
        writer.writerows(rows)
    return len(rows)


def report(results):
    """A plain-text report of the results, one block per submission."""
    lines = []
    for r in results:
        lines.append(f"{r.student} / {r.assignment}  ({r.file})")
        if r.error:
            lines.append(f"  ERROR: {r.error}")
            continue
        for grade_id, (score, max_score) in r.scores.items():
            hint = r.hints.get(grade_id, "")
            lines.append(f"  {grade_id:40s} {score:g} / {max_score:g}" + (f"   {hint}" if hint else ""))
        got, total = r.total
        lines.append(f"  total {got:g} / {total:g}; feedback: {r.feedback or 'none'}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate the course directory and release the assignments")
    b.add_argument("chapters", nargs="*", help="chapter sources (default: every chapter with exercises)")
    b.add_argument("--course", default=DEFAULT_COURSE)
    g = sub.add_parser("grade", help="autograde a folder of submissions")
    g.add_argument("submissions")
    g.add_argument("--course", default=DEFAULT_COURSE)
    g.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds per cell")
    g.add_argument("--memory-gb", type=float, default=MEMORY_GB, help="address-space cap of a kernel")
    g.add_argument("--workers", type=int, default=None,
                   help="worker processes of the local Dask cluster (default: one per core; 0: grade here)")
    g.add_argument("--scheduler", default=None,
                   help="address of a running Dask scheduler (e.g. tcp://host:8786) to grade on its cluster")
    g.add_argument("--full", action="store_true",
                   help="execute every cell of every submission, not only those the exercises need")
    g.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run submissions with your own rights (only where bubblewrap is unavailable)")
    e = sub.add_parser("export", help="write the gradebook's grades as CSV")
    e.add_argument("--course", default=DEFAULT_COURSE)
    e.add_argument("--output", default=None, help="CSV file (default: COURSE/reports/grades.csv)")
    args = parser.parse_args(argv)
    if args.command == "export":
        output = Path(args.output) if args.output else Path(args.course) / "reports" / "grades.csv"
        n = export_csv(args.course, output)
        print(f"{n} grades -> {output}")
        return 0
    if args.command == "build":
        built = build(args.course, args.chapters)
        for name, labels in built.items():
            print(f"{name}: {len(labels)} exercises -> {Path(args.course) / 'release' / name}")
        return 0
    try:
        results = grade(args.submissions, args.course, args.timeout, args.memory_gb,
                        sandboxed=not args.unsafe_no_sandbox, workers=args.workers,
                        scheduler=args.scheduler, fast=not args.full)
    except SandboxUnavailable as err:
        print(f"make grade: {err}", file=sys.stderr)
        return 2
    print(report(results))
    (Path(args.course) / "reports").mkdir(exist_ok=True)
    out = Path(args.course) / "reports" / "grades.json"
    out.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    print(f"\n{len(results)} submissions; grades in {out}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
