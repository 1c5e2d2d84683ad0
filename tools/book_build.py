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

The cell also carries, in its metadata, a hash of the library's source. The
execution cache (jupyter-cache) keys a notebook on its code cells, so without it
a change to the library would leave every chapter's cached outputs in place.

Executed notebooks from the cache
---------------------------------
myst-nb writes each executed chapter to ``_build/jupyter_execute``, from where the
website's download (``_sources/*.ipynb``) and the reproduction page take it. When
a chapter comes from the execution cache, myst-nb 1.4 writes the notebook without
its outputs (it merges the cached outputs into a copy); the build puts them back.
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
:library_source: {library}

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


LIBRARY = Path(__file__).resolve().parents[1] / "lib" / "statmech_dl"


def library_hash(folder=LIBRARY):
    """Hash of the library's Python source: its files' paths and contents."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def install_cell(url, branch, torch=False, library=None):
    """The text of the install cell, as a MyST code cell."""
    options = f'"--extra-index-url", "{TORCH_INDEX}", ' if torch else ""
    return _CELL.format(tag=INSTALL_TAG, options=options, extras="widgets,torch" if torch else "widgets",
                        url=url.rstrip("/"), branch=branch, library=library or library_hash())


def add_install_cell(source, url, branch, library=None):
    """Insert the install cell before the first code cell of a MyST notebook (unchanged if it has none)."""
    match = re.search(r"^```\{code-cell\}", source, flags=re.M)
    if match is None or INSTALL_TAG in source:
        return source
    cell = install_cell(url, branch, uses_torch(source), library)
    return source[:match.start()] + cell + source[match.start():]


def _is_notebook(text):
    """A MyST notebook: front matter with a kernelspec."""
    parts = text.split("---", 2)
    return text.startswith("---") and len(parts) == 3 and "kernelspec:" in parts[1]


def _source_read(app, docname, source):
    options = app.config.html_theme_options
    url, branch = options.get("repository_url"), options.get("repository_branch", "main")
    if url and _is_notebook(source[0]):
        source[0] = add_install_cell(source[0], url, branch)


def _restore_cached_outputs(app, doctree):
    """Put a cached chapter's outputs back into the notebook myst-nb wrote without them."""
    path = Path(app.outdir).parent / "jupyter_execute" / f"{app.env.docname}.ipynb"
    if not path.exists():
        return
    import nbformat
    from jupyter_cache import get_cache

    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if not code or any(cell.get("execution_count") for cell in code):
        return
    cache = get_cache(app.env.mystnb_config.execution_cache_path)
    try:
        _, merged = cache.merge_match_into_notebook(notebook)
    except KeyError:   # not in the cache: the chapter was not executed (e.g. execution off)
        return
    nbformat.write(merged, path)


# --- the reproduction page ------------------------------------------------------------
#
# A chapter records each headline claim with statmech_dl.reproduction.record, which
# attaches it to the metadata of the cell's output under CLAIM_KEY. myst-nb writes every executed
# chapter (freshly executed or taken from the cache) to _build/jupyter_execute; once
# all chapters are read, the {reproduction-table} directive's placeholder is replaced
# by the table of every record found there.

CLAIM_KEY = "statmech_dl.claim"  # statmech_dl.reproduction.METADATA_KEY
PAGE = "book/reproduction"
COLUMNS = ("Claim", "Source", "Our theory", "Our simulation", "Agreement", "Verdict")
WIDTHS = (18, 20, 15, 15, 14, 18)


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
    return [out["metadata"][CLAIM_KEY] for cell in notebook["cells"] if cell["cell_type"] == "code"
            for out in cell.get("outputs", []) if CLAIM_KEY in out.get("metadata", {})]


def _citations(app):
    """bibtex key -> "Author et al. (year)", with LaTeX accents turned into characters."""
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    def plain(latex):
        return Text.from_latex(latex).render_as("text")

    out = {}
    for bib in app.config.bibtex_bibfiles:
        for key, entry in parse_file(Path(app.srcdir) / bib).entries.items():
            last = [plain(" ".join(p.last_names)) for p in entry.persons.get("author", [])]
            names = last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2 else f"{last[0]} et al."
            out[key] = f"{names} ({entry.fields.get('year', 'n.d.')})"
    return out


_MARKUP = re.compile(r"\$([^$]+)\$|\{eq\}`([\w-]+)`")


def _inline(app, fromdoc, text):
    """A paragraph from a record's text: $...$ is inline maths, {eq}`label` a numbered link."""
    from sphinx.addnodes import pending_xref

    para = nodes.paragraph()
    at = 0
    for match in _MARKUP.finditer(text):
        para += nodes.Text(text[at:match.start()])
        if match.group(1) is not None:
            para += nodes.math(match.group(1), match.group(1))
        else:
            label = match.group(2)
            xref = pending_xref("", refdomain="math", reftype="eq", reftarget=label, refdoc=fromdoc)
            link = app.env.get_domain("math").resolve_xref(app.env, fromdoc, app.builder, "eq", label, xref,
                                                            nodes.Text(label))
            if link is None:
                raise ExtensionError(f"reproduction page: no equation labelled {label!r}")
            para += link
        at = match.end()
    para += nodes.Text(text[at:])
    return para


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
    """One row per claim, grouped under a row naming the chapter."""
    labels = app.env.domaindata["std"]["labels"]
    cites = _citations(app)
    table = nodes.table(classes=["reproduction-table"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    for width in WIDTHS:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += _row(COLUMNS)
    group += head
    body = nodes.tbody()
    chapter = None
    for docname, rec in records:
        if rec["section"] not in labels or labels[rec["section"]][0] != docname:
            raise ExtensionError(f"claim {rec['key']!r}: section label {rec['section']!r} is not in {docname}")
        if docname != chapter:
            chapter = docname
            title = nodes.paragraph()
            title += nodes.reference("", app.env.titles[docname].astext(), internal=True,
                                     refuri=app.builder.get_relative_uri(fromdoc, docname))
            entry = nodes.entry(morecols=len(COLUMNS) - 1)
            entry += title
            row = nodes.row(classes=["reproduction-chapter"])
            row += entry
            body += row
        target_doc, anchor, _ = labels[rec["section"]]
        link = nodes.reference("", "", internal=True,
                               refuri=app.builder.get_relative_uri(fromdoc, target_doc) + "#" + anchor)
        link += _inline(app, fromdoc, rec["claim"]).children
        claim = nodes.paragraph()
        claim += link
        source = nodes.paragraph()
        source += nodes.emphasis(text="; ".join(cites.get(k.strip(), k.strip()) for k in rec["source"].split(",")))
        source += nodes.Text(": ")
        source += _inline(app, fromdoc, rec["source_value"]).children
        verdict = nodes.paragraph()
        verdict += nodes.strong(text=rec["verdict"])
        verdict += nodes.Text(": ")
        verdict += _inline(app, fromdoc, rec["why"]).children
        row = _row([claim, source] + [_inline(app, fromdoc, rec[k]) for k in ("theory", "simulation", "agreement")]
                   + [verdict])
        row["ids"].append(f"claim-{rec['key']}")
        row["classes"].append("verdict-" + rec["verdict"].replace(",", "").replace(" ", "-"))
        body += row
    group += body
    return table


def _drop_widget_state(app, doctree):
    """No ipywidgets on the website: their sliders would be dead without a kernel.

    Each chapter's live exploration has its output removed on the web (tag
    ``remove-output``), and a kernel-free scrubber (statmech_dl.exploration)
    stands in for it; the widget state and the widget JavaScript myst-nb would
    load from a CDN then serve nothing, so they are dropped from the page.
    """
    metadata = getattr(app.env, "nb_metadata", {}).get(app.env.docname, {})
    for key in [k for k in metadata.get("js_files", {}) if k.startswith("ipywidgets")]:
        del metadata["js_files"][key]


def _page_has_maths(app, doctree):
    # The table's maths arrives after reading; tell Sphinx now that the page needs MathJax.
    if app.env.docname == PAGE:
        app.env.get_domain("math").data["has_equations"][PAGE] = True


def _fill(app, doctree, docname):
    placeholders = list(doctree.findall(reproduction_placeholder))
    if not placeholders:
        return
    notebooks = executed_notebooks(app)
    records = [(doc, rec) for doc, nb in notebooks.items() for rec in claims(nb)]
    counts = {v: sum(rec["verdict"] == v for _, rec in records) for v in
              ("reproduced", "reproduced, scaled down", "qualitative only", "not reproduced", "not tested")}
    digest, commit = _source_hash(app, list(notebooks))
    summary = nodes.paragraph()
    summary += nodes.strong(text=f"{len(records)} claims from {len(notebooks)} chapters: ")
    summary += nodes.Text(", ".join(f"{n} {v}" for v, n in counts.items()) + ". ")
    summary += nodes.Text(f"Built on {datetime.date.today().isoformat()} from chapter sources {digest}"
                          + (f" (commit {commit})" if commit else "") + ".")
    summary["classes"].append("reproduction-summary")
    for node in placeholders:
        node.replace_self([summary, _table(app, docname, records)])


def _outdated(app, env, added, changed, removed):
    """Pages to read again although their source did not change.

    The reproduction page depends on every chapter's outputs: it is read at every build.
    A chapter depends on the library: after the library changed, every chapter is read
    again, and its install cell's new library hash makes the execution cache miss.
    """
    outdated = [PAGE] if PAGE in env.found_docs else []
    current = library_hash()
    if getattr(env, "statmech_dl_library_hash", None) != current:
        env.statmech_dl_library_hash = current
        outdated += [doc for doc in sorted(env.found_docs)
                     if _is_notebook(Path(env.doc2path(doc)).read_text(encoding="utf-8"))]
    return outdated


def setup(app):
    app.connect("source-read", _source_read)
    app.connect("doctree-read", _restore_cached_outputs)
    app.connect("doctree-read", _page_has_maths)
    app.connect("doctree-read", _drop_widget_state)
    app.add_node(reproduction_placeholder)
    app.add_directive("reproduction-table", ReproductionTable)
    app.connect("doctree-resolved", _fill)
    app.connect("env-get-outdated", _outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
