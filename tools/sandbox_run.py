"""Execute a notebook inside the sandbox (started by tools/sandbox.py; not meant to be run by hand).

    python sandbox_run.py IN.ipynb OUT.ipynb TIMEOUT KERNEL

It behaves as nbgrader's ``Execute``: errors are allowed, a cell that runs over its time limit
is interrupted and shows a ``CellTimeoutError``, and an error that left no output of its own is
added to the cell, so that the grader sees every failure.
"""

import sys

# jsonschema (under nbformat) imports rfc3987_syntax when it is installed, for an "iri" format
# check that notebooks never use; building its grammar takes about 2 s, paid by every submission.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbformat.notebooknode import NotebookNode  # noqa: E402


def _record_error(cell, execute_reply, **kwargs):
    content = execute_reply["content"]
    if content["status"] != "error":
        return
    if any(o.output_type == "error" and o.ename == content["ename"] for o in cell.outputs):
        return
    cell.outputs.append(NotebookNode(output_type="error", ename=content["ename"], evalue=content["evalue"],
                                     traceback=content["traceback"] or ["(no traceback)"]))


def main(src, dst, timeout, kernel):
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(
        nb, timeout=int(timeout), interrupt_on_timeout=True, allow_errors=True, kernel_name=kernel,
        extra_arguments=["--HistoryManager.hist_file=:memory:"], on_cell_executed=_record_error,
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
