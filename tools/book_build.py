"""Sphinx extension: what the book's build adds to the chapters and to the reproduction page.

Loaded through ``sphinx: local_extensions`` in ``_config.yml``.

The install cell
----------------
Every chapter imports the library ``statmech_dl``. In the repository, on Binder
and in CI it is installed; in a chapter downloaded as ``.ipynb`` from the website
it is not. The build therefore inserts, before a chapter's first code cell, a
cell that installs the library when it is missing, from the repository and branch
named in ``_config.yml`` (``repository: url`` and ``branch``, the one place that
names them, so that a fork installs its own library). Where the library is
present the cell does nothing; where it cannot be installed it stops with a
message that says what to run. On the web page the cell is removed (tag
``remove-cell``); it stays in the downloadable notebook. Chapters that use torch
also install its CPU build from the PyTorch index, not the several-GB CUDA build
that plain PyPI gives.
"""

import datetime
import hashlib
import json
import re
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

INSTALL_TAG = "install-library"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

_CELL = '''```{{code-cell}} ipython3
:tags: [remove-cell, {tag}]

# Installs the book's library where it is missing (a downloaded copy of this chapter); else does nothing.
try:
    import statmech_dl  # noqa: F401
except ModuleNotFoundError:
    import subprocess
    import sys

    _install = [sys.executable, "-m", "pip", "install", {options}"statmech-dl[{extras}] @ git+{url}@{branch}"]
    print("Installing the library statmech_dl:", " ".join(_install[3:]))
    if subprocess.run(_install).returncode != 0:
        raise RuntimeError(
            "This chapter needs the library statmech_dl, and installing it failed (no network?). Run\\n    "
            + " ".join(_install[:-1]) + " '" + _install[-1] + "'\\n"
            "in a terminal, then restart the kernel; or clone the repository and run `make book`.") from None
```

'''


def uses_torch(source):
    """True if the chapter's code imports torch or the library's torch modules."""
    return bool(re.search(r"^\s*(import torch|from torch\b|from statmech_dl import .*\btorch_utils\b|"
                          r"from statmech_dl\.torch_utils\b)", source, flags=re.M))


def install_cell(url, branch, torch=False):
    """The text of the install cell, as a MyST code cell."""
    options = f'"--extra-index-url", "{TORCH_INDEX}", ' if torch else ""
    return _CELL.format(tag=INSTALL_TAG, options=options, extras="widgets,torch" if torch else "widgets",
                        url=url.rstrip("/"), branch=branch)


def add_install_cell(source, url, branch):
    """Insert the install cell before the first code cell of a MyST notebook (unchanged if it has none)."""
    match = re.search(r"^```\{code-cell\}", source, flags=re.M)
    if match is None or INSTALL_TAG in source:
        return source
    return source[:match.start()] + install_cell(url, branch, uses_torch(source)) + source[match.start():]


def _is_notebook(text):
    """A MyST notebook: front matter with a kernelspec."""
    parts = text.split("---", 2)
    return text.startswith("---") and len(parts) == 3 and "kernelspec:" in parts[1]


def _source_read(app, docname, source):
    options = app.config.html_theme_options
    url, branch = options.get("repository_url"), options.get("repository_branch", "main")
    if url and _is_notebook(source[0]):
        source[0] = add_install_cell(source[0], url, branch)


# --- the reproduction page ------------------------------------------------------------
#
# A chapter records each headline claim with statmech_dl.reproduction.record, which
# attaches it to the cell's output under CLAIM_MIME. myst-nb writes every executed
# chapter (freshly executed or taken from the cache) to _build/jupyter_execute; once
# all chapters are read, the {reproduction-table} directive's placeholder is replaced
# by the table of every record found there.

CLAIM_MIME = "application/vnd.statmech-dl.claim+json"
PAGE = "book/reproduction"
COLUMNS = ("Chapter", "Claim", "Source", "Source's value", "Our theory", "Our simulation", "Agreement", "Verdict")


class reproduction_placeholder(nodes.General, nodes.Element):
    """Replaced by the table of claims once every chapter has been executed."""


class ReproductionTable(SphinxDirective):
    def run(self):
        return [reproduction_placeholder()]


def executed_notebooks(app):
    """docname -> executed notebook (dict) of every chapter, as myst-nb wrote it in this build."""
    folder = Path(app.outdir).parent / "jupyter_execute"
    out = {}
    for docname in sorted(app.env.found_docs):
        path = folder / f"{docname}.ipynb"
        if path.exists():
            out[docname] = json.loads(path.read_text())
    return out


def claims(notebook):
    """The records in one executed notebook's outputs, in order."""
    return [out["data"][CLAIM_MIME] for cell in notebook["cells"] if cell["cell_type"] == "code"
            for out in cell.get("outputs", []) if CLAIM_MIME in out.get("data", {})]


def _citations(app):
    from pybtex.database import parse_file

    out = {}
    for bib in app.config.bibtex_bibfiles:
        for key, entry in parse_file(Path(app.srcdir) / bib).entries.items():
            last = [" ".join(p.last_names).replace("{", "").replace("}", "")
                    for p in entry.persons.get("author", [])]
            names = last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2 else f"{last[0]} et al."
            out[key] = f"{names} ({entry.fields.get('year', 'n.d.')})"
    return out


def _source_hash(app, docnames):
    digest = hashlib.sha256()
    for docname in docnames:
        digest.update(Path(app.env.doc2path(docname)).read_bytes())
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=app.srcdir, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return digest.hexdigest()[:12], commit


def _row(cells):
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.Node) else nodes.paragraph(text=str(cell))
        row += entry
    return row


def _table(app, fromdoc, records):
    labels = app.env.domaindata["std"]["labels"]
    cites = _citations(app)
    table = nodes.table(classes=["reproduction-table"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    for width in (12, 16, 12, 13, 10, 10, 12, 15):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += _row(COLUMNS)
    group += head
    body = nodes.tbody()
    for docname, rec in records:
        if rec["section"] not in labels or labels[rec["section"]][0] != docname:
            raise ExtensionError(f"claim {rec['key']!r}: section label {rec['section']!r} is not in {docname}")
        target_doc, anchor, _ = labels[rec["section"]]
        uri = app.builder.get_relative_uri(fromdoc, target_doc) + "#" + anchor
        link = nodes.paragraph()
        link += nodes.reference("", app.env.titles[docname].astext(), refuri=uri, internal=True)
        source = "; ".join(cites.get(k.strip(), k.strip()) for k in rec["source"].split(","))
        verdict = nodes.paragraph()
        verdict += nodes.strong(text=rec["verdict"])
        verdict += nodes.Text(f": {rec['why']}")
        cells = [link, rec["claim"], source, rec["source_value"], rec["theory"], rec["simulation"],
                 rec["agreement"], verdict]
        row = _row(cells)
        row["classes"].append("verdict-" + rec["verdict"].replace(",", "").replace(" ", "-"))
        body += row
    group += body
    return table


def _fill(app, doctree, docname):
    placeholders = list(doctree.findall(reproduction_placeholder))
    if not placeholders:
        return
    notebooks = executed_notebooks(app)
    records = [(doc, rec) for doc, nb in notebooks.items() for rec in claims(nb)]
    counts = {v: sum(rec["verdict"] == v for _, rec in records) for v in
              ("reproduced", "reproduced, scaled down", "qualitative only", "not reproduced")}
    digest, commit = _source_hash(app, list(notebooks))
    summary = nodes.paragraph()
    summary += nodes.strong(text=f"{len(records)} claims from {len(notebooks)} chapters: ")
    summary += nodes.Text(", ".join(f"{n} {v}" for v, n in counts.items()) + ". ")
    summary += nodes.Text(f"Built on {datetime.date.today().isoformat()} from chapter sources {digest}"
                          + (f" (commit {commit})" if commit else "") + ".")
    summary["classes"].append("reproduction-summary")
    for node in placeholders:
        node.replace_self([summary, _table(app, docname, records)])


def _always_outdated(app, env, added, changed, removed):
    # The page depends on every chapter's outputs: rebuild it whenever the book is built.
    return [PAGE] if PAGE in env.found_docs else []


def setup(app):
    app.connect("source-read", _source_read)
    app.add_node(reproduction_placeholder)
    app.add_directive("reproduction-table", ReproductionTable)
    app.connect("doctree-resolved", _fill)
    app.connect("env-get-outdated", _always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
