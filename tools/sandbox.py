"""Run a submission's code where it cannot touch the course: a bubblewrap sandbox.

The grader (tools/course.py) uses it through :class:`SandboxedExecute`, an nbgrader
preprocessor that takes the place of nbgrader's own ``Execute``. nbgrader prepares the notebook
in the grader's process (it restores the locked cells and clears the outputs), the notebook is
executed in the sandbox, and nbgrader scores the executed notebook and writes the gradebook in
the grader's process again, after the sandbox has exited. Inside the sandbox (``bwrap``, from
Debian's ``bubblewrap``) the submission's code

* sees the machine read-only, with the instructor's home folder, the course directory and the
  submissions folder hidden behind empty folders (only the Python installation and the book's
  library are shown again): no gradebook, no ``source/``, no other submission, no feedback;
* can write only to a scratch folder of its own, which is deleted afterwards, and a private
  ``/tmp`` and ``/dev/shm`` (where Python's multiprocessing keeps its semaphores), each in memory
  and capped at ``TMPFS_MB``: files there are memory that the address-space cap does not count;
* has no network (a network namespace of its own), and its own process, IPC and host-name
  namespaces;
* runs without privileges, as a user id of its own when the grader runs as root (in a user
  namespace otherwise), with a cap on its address space and on its number of processes, and
  each cell under the grader's time limit.
"""

import functools
import getpass
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The first of the unprivileged user ids that sandboxes run as when the grader is root: each
#: sandbox takes its own (no account needs to exist), so that the process cap of one submission
#: (which counts every process of its user) never starves another graded at the same time.
FIRST_UID = 200_000
_count = itertools.count()
#: Processes and threads the submission may have at once: a kernel needs a few dozen.
MAX_PROCESSES = 256
#: Size in MB of each folder of the sandbox held in memory (``/tmp``, ``/dev/shm``); the empty
#: folders that hide the course and the home folder get one MB.
TMPFS_MB = 256
RUNNER = Path(__file__).resolve().with_name("sandbox_run.py")
#: statmech_dl.exercises.answer_records.GRADING_ENV (not imported: the sandbox needs no library).
GRADING_ENV = "STATMECH_DL_GRADING"
LIBRARY = Path(__file__).resolve().parents[1] / "lib"
INSTALL = ("grading runs each submission in a bubblewrap sandbox, which is not available here: "
           "install it (Debian or Ubuntu: apt-get install bubblewrap) or, accepting that "
           "submissions then run with your rights and can read and change the whole course, "
           "grade with --unsafe-no-sandbox")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create its namespaces on this machine."""


def _root():
    return os.geteuid() == 0


def available():
    """``""`` if the sandbox works on this machine, else the reason it does not."""
    tools = ["bwrap", "prlimit"] + (["setpriv"] if _root() else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"{' and '.join(missing)} not found; " + INSTALL
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o777)
        proc = subprocess.run(command([sys.executable, "-c", "import numpy"], scratch),
                              capture_output=True, text=True)
    if proc.returncode:
        return f"bwrap could not start Python in a sandbox ({proc.stderr.strip()[-300:]}); " + INSTALL
    return ""


def _shown_again():
    # What the code needs from the folders that are hidden: the interpreter, the environment,
    # the library (installed in development mode from the repository) and the runner.
    return sorted({Path(p).resolve() for p in (sys.base_prefix, sys.prefix, LIBRARY, RUNNER.parent)})


def _user_processes():
    user = getpass.getuser()
    proc = subprocess.run(["ps", "-L", "-u", user, "--no-headers"], capture_output=True, text=True)
    return len(proc.stdout.splitlines())


def command(argv, scratch, hide=(), memory_gb=8, max_processes=MAX_PROCESSES):
    """The command line that runs ``argv`` in the sandbox, in the folder ``scratch``.

    ``hide`` lists folders (such as the course directory) that the code must not see; the
    instructor's home folder is always hidden.
    """
    scratch = str(Path(scratch).resolve())
    # Without a size, bwrap's tmpfs may grow to half the machine's memory.
    shared, hidden = ["--size", str(TMPFS_MB * 2**20)], ["--size", str(2**20)]
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--perms", "1777", *shared, "--tmpfs", "/tmp", "--perms", "1777", *shared, "--tmpfs", "/dev/shm"]
    home = Path.home().resolve()
    if home != Path("/") and home.exists():
        cmd += [*hidden, "--tmpfs", str(home)]
    for path in _shown_again():
        if path.exists():
            # The folders on the way may lie in a hidden one (the home folder, or /tmp for a
            # clone there): bwrap makes them private unless told otherwise.
            for parent in reversed(path.parents):
                if parent != Path("/"):
                    cmd += ["--perms", "0755", "--dir", str(parent)]
            cmd += ["--ro-bind", str(path), str(path)]
    for folder in hide:
        folder = Path(folder).resolve()
        if folder.exists():
            cmd += [*hidden, "--tmpfs", str(folder)]
    cmd += ["--bind", scratch, scratch, "--unshare-net", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--die-with-parent", "--new-session", "--chdir", scratch,
            "--setenv", "HOME", scratch, "--setenv", "TMPDIR", "/tmp",
            "--setenv", "JUPYTER_RUNTIME_DIR", "/tmp/jupyter", "--setenv", "MPLCONFIGDIR", f"{scratch}/.matplotlib",
            "--setenv", "IPYTHONDIR", "/tmp/ipython", "--setenv", "USER", "student",
            "--setenv", "LOGNAME", "student",
            # The checks display records of the answers, which the grader judges outside.
            "--setenv", GRADING_ENV, "1"]
    limits = ["prlimit", f"--as={int(memory_gb * 2**30)}"]
    if _root():
        # Root is exempt from the process cap: drop to an unprivileged user of this sandbox's
        # own, with no capabilities left.
        uid = FIRST_UID + (os.getpid() % 10_000) * 100 + next(_count) % 100
        limits = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all", *limits, f"--nproc={max_processes}"]
    else:
        # The cap counts every process of the user: allow this many more than run now.
        cmd.insert(1, "--unshare-user")
        limits.append(f"--nproc={_user_processes() + max_processes}")
    return cmd + ["--", *limits, "--", *argv]


@functools.cache
def _font_list():
    """Matplotlib's list of the machine's fonts, as this process's Matplotlib cached it.

    A sandbox starts with an empty Matplotlib folder, where Matplotlib would scan every font of
    the machine again (0.7 s of each submission's time, more with TeX Live's fonts): it gets a copy
    of this list instead. The list names fonts in folders the sandbox shows read-only.
    """
    import matplotlib
    from matplotlib import font_manager       # builds the list in this process if it is missing

    path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    return path if path.exists() else None


def _address_space(gb):
    import resource

    limit = int(gb * 2**30)
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def execute_notebook(nb_path, out_path, hide=(), timeout=120, memory_gb=8, kernel_name="python3",
                     sandboxed=True):
    """Execute the notebook ``nb_path`` in the sandbox and write the executed notebook to ``out_path``.

    Cells run with errors allowed and each under ``timeout`` seconds (a cell that runs over is
    interrupted and shows a ``CellTimeoutError``); the whole run is stopped after the sum of
    the cells' limits. Returns ``(exit_code, stderr)`` of the sandbox; ``out_path`` is written
    whenever the runner got as far as writing its result. ``sandboxed=False`` runs it with the
    grader's own rights (``--unsafe-no-sandbox``), under the same limits of time and memory.
    """
    nb_path = Path(nb_path)
    with tempfile.TemporaryDirectory(prefix="submission-") as scratch:
        scratch = Path(scratch)
        os.chmod(scratch, 0o777)
        shutil.copy(nb_path, scratch / "notebook.ipynb")
        os.chmod(scratch / "notebook.ipynb", 0o666)
        fonts = _font_list()
        if fonts is not None:
            (scratch / ".matplotlib").mkdir(mode=0o777)
            os.chmod(scratch / ".matplotlib", 0o777)
            shutil.copy(fonts, scratch / ".matplotlib" / fonts.name)
            os.chmod(scratch / ".matplotlib" / fonts.name, 0o666)
        argv = [sys.executable, str(RUNNER), "notebook.ipynb", "executed.ipynb", str(timeout), kernel_name]
        n_cells = max(1, nb_path.read_text().count('"cell_type": "code"'))
        if sandboxed:
            argv, extra = command(argv, scratch, hide, memory_gb), {}
        else:
            extra = {"cwd": scratch, "env": dict(os.environ, **{GRADING_ENV: "1"}),
                     "preexec_fn": _address_space(memory_gb)}
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * n_cells + 60, **extra)
            code, err = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code, err = -9, f"the notebook ran over {exc.timeout} s in all and was stopped"
        executed = scratch / "executed.ipynb"
        if executed.exists():
            shutil.copy(executed, out_path)
        return code, err
