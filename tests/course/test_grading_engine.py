"""The grading engine apart from the graded course of test_assignments.py: the course tool from a
bare environment, the sandbox's start, the refusal without a sandbox, a Dask worker killed
mid-grade, the progress line, and the pieces of a grade (the notebook restored from the release,
the checks' genuine imports, the cells the fast path runs).

A file of its own, so that pytest-xdist runs it beside the graded course rather than after it.
"""

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import course
import grading
import submissions
from course_cases import CHAPTERS, IDS, SPECIAL, grade_ids, nbgrader_meta, require_sandbox, write_submission


# --- The course tool and the sandbox --------------------------------------------------------------

@pytest.fixture(scope="module")
def built_course(tmp_path_factory):
    """A course of one chapter (SPECIAL), built once by the course tool as an instructor runs it,
    from the environment's Python alone; each test that grades works in a copy of its own.

    Returns ``(folder, chapter name, the tool's CompletedProcess)``.
    """
    chapter = next(c for c in CHAPTERS if c.stem == SPECIAL) if SPECIAL in IDS else CHAPTERS[0]
    folder = tmp_path_factory.mktemp("one_chapter") / "course"
    # Without the environment activated (its scripts not on PATH), nbgrader must still find the
    # helpers it starts by name, such as alembic for the gradebook.
    proc = subprocess.run([sys.executable, str(Path(course.__file__)), "build", "--course", str(folder), str(chapter)],
                          env={"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    return folder, chapter.stem, proc


def _copy_of(built_course, tmp_path):
    folder, name, proc = built_course
    assert proc.returncode == 0, "the course tool failed: " + proc.stdout[-3000:] + proc.stderr[-3000:]
    shutil.copytree(folder, tmp_path / "course")
    return tmp_path / "course", name


def test_the_course_tool_runs_from_the_environments_python_alone(built_course):
    folder, name, proc = built_course
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (folder / "release" / name / f"{name}.ipynb").exists()
    assert (folder / "source" / name / f"{name}.ipynb").exists() and (folder / "gradebook.db").exists()


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


def _printed_in_a_sandbox(tmp_path, source):
    """What a one-cell notebook of ``source`` prints when the grading sandbox executes it."""
    import sandbox

    require_sandbox()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    code, err = sandbox.execute_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb", timeout=60, memory_gb=4)
    assert code == 0, err
    outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs
    return "".join(o.get("text", "") for o in outputs)


def test_the_sandbox_starts_matplotlib_from_the_graders_font_list(tmp_path):
    """Each sandbox starts with an empty home: Matplotlib would list the machine's fonts again for
    every submission (0.7 s). It finds a copy of the grader's list in its own, writable folder."""
    # Before Matplotlib is imported, its folder holds the list; importing it reads the list and
    # writes nothing (a rebuilt list would be written anew).
    text = _printed_in_a_sandbox(
        tmp_path,
        "import os\nfolder = os.environ['MPLCONFIGDIR']\n"
        "before = {f: os.stat(os.path.join(folder, f)).st_mtime_ns for f in os.listdir(folder)}\n"
        "import matplotlib\nfrom matplotlib import font_manager\n"
        "after = {f: os.stat(os.path.join(folder, f)).st_mtime_ns for f in os.listdir(folder)}\n"
        "print(matplotlib.get_cachedir() == folder, any(f.startswith('fontlist') for f in before))\n"
        "print(before == after, len(font_manager.fontManager.ttflist) > 0)")
    assert text == "True True\nTrue True\n", text


def test_the_sandbox_holds_its_memory_folders_to_a_size_and_gives_processes_their_semaphores(tmp_path):
    """/tmp and /dev/shm live in memory that the address-space cap does not count: each stops
    at TMPFS_MB. /dev/shm is writable, so that a chapter's worker processes start (Retina CNNs
    fits its models in two)."""
    import sandbox

    text = _printed_in_a_sandbox(
        tmp_path,
        "import concurrent.futures, multiprocessing, os\n"
        "with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('fork')) as pool:\n"
        "    print(sorted(pool.map(abs, [-1, -2])))\n"
        "for folder in ('/tmp', '/dev/shm'):\n"
        "    try:\n"
        "        with open(folder + '/big', 'wb') as f:\n"
        f"            for _ in range({sandbox.TMPFS_MB + 64}):\n"
        "                f.write(bytes(2**20))\n"
        "        print(folder, 'not stopped')\n"
        "    except OSError as err:\n"
        "        print(folder, err.strerror, os.path.getsize(folder + '/big') // 2**20)")
    lines = text.splitlines()
    assert lines[0] == "[1, 2]", text
    for line, folder in zip(lines[1:], ("/tmp", "/dev/shm"), strict=True):
        # The kernel's own files in /tmp (its connection file, IPython's history) take a little.
        name, _, written = line.rpartition(" ")
        assert name == f"{folder} No space left on device", text
        assert sandbox.TMPFS_MB - 8 <= int(written) <= sandbox.TMPFS_MB, text


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
def test_a_worker_killed_mid_grade_loses_nothing(tmp_path, built_course, dask_cluster):
    import threading

    from distributed import Client
    from nbgrader.api import Gradebook

    address, workers = dask_cluster
    course_dir, name = _copy_of(built_course, tmp_path)
    folder = tmp_path / "submissions"
    source = nbformat.read(course_dir / "source" / name / f"{name}.ipynb", 4)
    students = [f"student{i}" for i in range(3)]
    for student in students:
        write_submission(folder, student, name, source)
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
            assert sorted(g.name for g in grades) == sorted(grade_ids(source, "grade"))


@pytest.mark.book
def test_nbgrader_autograde_by_hand_is_sandboxed_and_judged_outside(tmp_path, built_course):
    """The course's nbgrader configuration runs a submission in the sandbox and takes the verdicts
    from the answer records: a wrong answer with a patched NumPy gets what the answers earn."""
    from nbgrader.api import Gradebook

    require_sandbox()
    course_dir, name = _copy_of(built_course, tmp_path)
    checks = grade_ids(nbformat.read(course_dir / "source" / name / f"{name}.ipynb", 4), "grade")
    wrong = checks[0].rsplit("-check", 1)[0]

    def pick(gid, solution):
        if not gid.startswith(wrong + "-solution"):
            return solution
        return submissions.wrong_answer(solution) + "\nimport numpy\nnumpy.allclose = lambda *args, **kwargs: True\n"

    # nbgrader's layout: submitted/<student>/<assignment>/<notebook>.ipynb
    write_submission(course_dir / "submitted" / "by_hand", name, name, submissions.release_with(course_dir, name, pick))
    proc = course._run(["-m", "nbgrader", "autograde", name, "--student", "by_hand", "--force"], course_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        grades = gb.find_submission_notebook(name, name, "by_hand").grades
        scores = {g.name: (float(g.score), float(g.max_score)) for g in grades}
    assert sorted(scores) == sorted(checks), scores
    assert scores[checks[0]][0] == 0 and all(s == m > 0 for g, (s, m) in scores.items() if g != checks[0]), scores

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

