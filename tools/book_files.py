"""Which files make up the book: read from _toc.yml, shared by tools and tests."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


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


def run_nbval(notebook):
    """Re-execute ``notebook`` with nbval and compare its ``# NBVAL_CHECK_OUTPUT`` cells.

    Returns the completed process; ``returncode == 0`` means the notebook ran
    without error and those cells printed exactly what is stored in it.
    """
    import subprocess
    import sys

    notebook = Path(notebook)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-q", str(notebook)],
        cwd=notebook.parent, capture_output=True, text=True,
    )
