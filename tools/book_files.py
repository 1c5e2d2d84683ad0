"""Which files make up the book: read from _toc.yml, shared by tools and tests."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: The short prefix of each chapter's labels: its equations, figures and exercises are
#: labelled eq-<prefix>-<name>, fig-<prefix>-<name> and ex-<prefix>-<name> (for example
#: eq-tc-qmap), and its exercise checks live in statmech_dl.exercises.<chapter file name>.
#: A new chapter adds its prefix here; the structure tests enforce the rule.
LABEL_PREFIXES = {
    "semantic_development": "semdev",
    "deep_linear_dynamics": "dld",
    "transient_chaos": "tc",
    "dynamical_isometry": "di",
    "saddle_points": "sp",
    "high_dimensional_inference": "hdi",
    "complex_synapses": "cs",
    "diffusion_models": "dm",
    "retina_cnns": "rc",
}


def toc():
    """The parsed _toc.yml."""
    return yaml.safe_load((ROOT / "_toc.yml").read_text())


def _entries(node):
    for key in ("parts", "chapters", "sections"):
        for child in node.get(key, []) or []:
            if "file" in child:
                yield child["file"]
            yield from _entries(child)


def pages():
    """Every page in the table of contents, as paths with their suffix, in order."""
    data = toc()
    out = []
    for name in [data["root"], *_entries(data)]:
        matches = [p for p in (ROOT / f"{name}.md", ROOT / f"{name}.ipynb") if p.exists()]
        if not matches:
            raise FileNotFoundError(f"_toc.yml lists {name!r}, which has no .md or .ipynb file")
        out.append(matches[0])
    return out


def is_notebook(path):
    """True for a MyST Markdown notebook (jupytext header with a kernelspec)."""
    text = Path(path).read_text()
    return text.startswith("---") and "kernelspec:" in text.split("---", 2)[1]


def chapters():
    """The executable chapters (MyST notebooks) in table-of-contents order."""
    return [p for p in pages() if is_notebook(p)]


def benchmark_seconds():
    """``{chapter stem: seconds}`` from the benchmark table (book/_data/benchmark.csv), or ``{}``."""
    import csv

    table = ROOT / "book" / "_data" / "benchmark.csv"
    if not table.exists():
        return {}
    with table.open(newline="") as fh:
        return {row["Chapter"]: float(row["Wall time (s)"]) for row in csv.DictReader(fh)}


#: Seconds a single cell may run, and a kernel may take to start, before an
#: execution is declared hung. A chapter runs in under a minute, so a cell that
#: takes two is stuck; failing then beats stalling a 90-minute CI run.
CELL_TIMEOUT = 120
STARTUP_TIMEOUT = 60


def run_nbval(notebook, timeout=600, cell_timeout=CELL_TIMEOUT):
    """Re-execute ``notebook`` with nbval and compare its ``# NBVAL_CHECK_OUTPUT`` cells.

    Returns the completed process; ``returncode == 0`` means the notebook ran
    without error and those cells printed exactly what is stored in it. A hung
    kernel fails at the per-cell timeout, and the whole run is cut off after
    ``timeout`` seconds with ``returncode == -1`` and a message in ``stdout``.
    """
    import subprocess
    import sys

    notebook = Path(notebook)
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
           f"--nbval-cell-timeout={cell_timeout}", f"--nbval-kernel-startup-timeout={STARTUP_TIMEOUT}",
           "-q", str(notebook)]
    try:
        return subprocess.run(cmd, cwd=notebook.parent, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        return subprocess.CompletedProcess(cmd, -1, f"{out}\nnbval did not finish in {timeout} s: a hung kernel?", "")


#: A MyST code cell (jupytext's format, as the chapters are written): its opening fence line, its
#: body (options, then code) and its closing fence.
CODE_CELL = re.compile(r"^(```\{code-cell\}[^\n]*\n)(.*?)^(```)[ \t]*$", flags=re.M | re.S)


def split_cell(body):
    """(options, code) of a code cell's body: a '---' YAML block or ':key:' lines, then the code."""
    lines = body.splitlines(keepends=True)
    i = 0
    if lines and lines[0].strip() == "---":
        i = next(k for k in range(1, len(lines)) if lines[k].strip() == "---") + 1
    while i < len(lines) and lines[i].startswith(":"):
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    return "".join(lines[:i]), "".join(lines[i:])
