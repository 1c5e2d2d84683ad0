"""Execute a notebook inside the sandbox (started by tools/sandbox.py; not meant to be run by hand).

    python sandbox_run.py IN.ipynb OUT.ipynb TIMEOUT KERNEL

It behaves as nbgrader's ``Execute``: errors are allowed, a cell that runs over its time limit
is interrupted and shows a ``CellTimeoutError``, and an error that left no output of its own is
added to the cell, so that the grader sees every failure. After each cell, every process the
cell left behind in the sandbox is killed (the kernel and this runner excepted): the children of
a fork bomb, which would otherwise keep both cores busy and push the cells after it past their
time limit.
"""

import os
import signal
import sys
import time

# jsonschema (under nbformat) imports rfc3987_syntax when it is installed, for an "iri" format
# check that notebooks never use; building its grammar takes about 2 s, paid by every submission.
sys.modules.setdefault("rfc3987_syntax", None)

from pathlib import Path  # noqa: E402

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbformat.notebooknode import NotebookNode  # noqa: E402

import kernel_replies  # noqa: E402  (beside this file)


def _in_sandbox():
    """Whether this runs in the sandbox's own process namespace (whose first process is bwrap)."""
    try:
        return Path("/proc/1/comm").read_text().strip() == "bwrap"
    except OSError:
        return False


def _kill_strays(kernel_pid):
    """Kill every process of the sandbox but its first one, this runner and the kernel.

    Only inside the sandbox's process namespace, where every other process is the submission's;
    without the sandbox (``--unsafe-no-sandbox``) nothing is killed.
    """
    if not _in_sandbox():
        return
    keep = {1, os.getpid(), os.getppid(), kernel_pid}

    def alive(pid):                      # a killed process stays listed, as a zombie, until reaped
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    for _ in range(20):                  # a fork bomb's children may still be forking
        strays = [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) not in keep and alive(e)]
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


def _record_error(cell, execute_reply, **kwargs):
    content = execute_reply["content"]
    if content["status"] != "error":
        return
    if any(o.output_type == "error" and o.ename == content["ename"] for o in cell.outputs):
        return
    cell.outputs.append(NotebookNode(output_type="error", ename=content["ename"], evalue=content["evalue"],
                                     traceback=content["traceback"] or ["(no traceback)"]))


def main(src, dst, timeout, kernel):
    kernel_replies.install()
    nb = nbformat.read(src, as_version=4)

    def after_cell(cell, execute_reply, **kwargs):
        _record_error(cell, execute_reply)
        _kill_strays(client.km.provisioner.pid)
    # The kernel is killed once the last cell has run: a polite shutdown waited for it to exit, and
    # in the sandbox it often took 3.5 s to do so, a third of a fast-path submission's time.
    client = NotebookClient(
        nb, timeout=int(timeout), interrupt_on_timeout=True, allow_errors=True, kernel_name=kernel,
        shutdown_kernel="immediate",
        extra_arguments=["--HistoryManager.hist_file=:memory:"], on_cell_executed=after_cell,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "",
                          "traceback": ["CellTimeoutError: No reply from kernel before timeout"]},
        resources={"metadata": {"path": "."}})
    try:
        client.execute()
    finally:
        # Whatever ran is written back, so that the grader scores it.
        nbformat.write(nb, dst)


if __name__ == "__main__":
    main(*sys.argv[1:5])
