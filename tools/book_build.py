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
import functools
import hashlib
import json
import re
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

import book_files

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


def library_hash(folder=LIBRARY, files=None):
    """Hash of the library's Python source: its files' paths and contents (``files``: only those)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py") if files is None else files):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _module_file(name, folder):
    """The file of the library's module ``name`` (dotted, under the package), or None."""
    parts = name.split(".")
    if not parts or parts[0] != folder.name:
        return None
    base = folder.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(tree, package):
    """Dotted names that the code ``tree`` imports (relative imports resolved against ``package``)."""
    import ast

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # "from pkg import name": name is a module or an attribute of pkg; both are tried.
            found += [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            name = node.args[0].value
            found.append(f"{package}{name}" if name.startswith(".") else name)
    return found


def library_files(source, folder=LIBRARY):
    """The library's files that a MyST chapter's code runs: those it imports, theirs, and so on.

    Read from the import statements of the chapter's code cells and of each library module
    (anywhere in a module, including imports inside functions, and ``importlib.import_module``
    of a constant name), with the ``__init__.py`` of every package on the way. A chapter whose
    code cannot be parsed depends on the whole library.
    """
    import ast

    todo = []
    for cell in book_files.CODE_CELL.finditer(source):
        # IPython's magics and shell escapes are not Python.
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                         for line in book_files.split_cell(cell.group(2))[1].splitlines())
        try:
            todo += _imported_modules(ast.parse(code), "")
        except SyntaxError:
            return sorted(folder.rglob("*.py"))
    files = set()
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):       # the packages on the way are imported too
            path = _module_file(".".join(parts[:i]), folder)
            if path is None or path in files:
                continue
            files.add(path)
            # Relative imports resolve against the package: the module itself for an __init__.py.
            package = ".".join(parts[:i] if path.name == "__init__.py" else parts[:i - 1])
            stat = path.stat()
            todo += _file_imports(str(path), stat.st_mtime_ns, stat.st_size, package)
    return sorted(files)


@functools.lru_cache(maxsize=None)
def _file_imports(path, mtime_ns, size, package):
    # Keyed on the file's time and size: each chapter's scan reads the same modules.
    import ast

    return tuple(_imported_modules(ast.parse(Path(path).read_text(encoding="utf-8")), package))


def install_cell(url, branch, torch=False, library=None):
    """The text of the install cell, as a MyST code cell."""
    options = f'"--extra-index-url", "{TORCH_INDEX}", ' if torch else ""
    return _CELL.format(tag=INSTALL_TAG, options=options, extras="widgets,torch" if torch else "widgets",
                        url=url.rstrip("/"), branch=branch, library=library or library_hash())


def chapter_library_hash(source, folder=LIBRARY):
    """Hash of the library files the chapter's code runs (:func:`library_files`)."""
    return library_hash(folder, library_files(source, folder))


def add_install_cell(source, url, branch, library=None):
    """Insert the install cell before the first code cell of a MyST notebook (unchanged if it has none).

    The cell's metadata carries ``library`` or, by default, the hash of the library files that
    the chapter runs: a change to any of them, and only to them, makes the chapter execute again.
    """
    match = re.search(r"^```\{code-cell\}", source, flags=re.M)
    if match is None or INSTALL_TAG in source:
        return source
    cell = install_cell(url, branch, uses_torch(source), library or chapter_library_hash(source))
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


# --- alt text -------------------------------------------------------------------------
#
# A figure's image is described by its caption: without this, docutils writes the image's
# path as its alt text ("../_images/53f2....png"), which a screen reader reads out as a hash.
# An image without a caption takes its text from the cell's metadata (mystnb: image: alt:),
# which myst-nb already passes on. tests/book/test_build.py fails any image left with a path
# or nothing as its alt text.

_TEX_COMMAND = re.compile(r"\\([A-Za-z]+)")


def spoken(node):
    """A caption as plain text: maths as its TeX without backslashes and braces, and
    equation references (which show a label, not yet a number, when this runs) left out."""
    from sphinx.addnodes import pending_xref

    parts = []
    for child in node.findall(lambda n: isinstance(n, (nodes.Text, nodes.math))):
        if any(isinstance(a, pending_xref) and a.get("reftype") == "eq" for a in _ancestors(child)):
            continue
        if isinstance(child, nodes.math):
            tex = _TEX_COMMAND.sub(r" \1 ", child.astext()).replace("{", "").replace("}", "")
            parts.append(re.sub(r" +([_^])", r"\1", tex))
        elif not isinstance(child.parent, nodes.math):
            parts.append(child.astext())
    text = re.sub(r"\s+", " ", "".join(parts)).strip()
    return re.sub(r" ([,.;:)])", r"\1", text)


def _ancestors(node):
    while node.parent is not None:
        node = node.parent
        yield node


_PATH_LIKE = re.compile(r"\S*\.(png|jpe?g|svg|gif)\b|_images/|^[0-9a-f]{16,}")


def looks_like_path(text):
    """True for a file name, a path or a hash: what an alt text must not be."""
    return _PATH_LIKE.search(text) is not None


def needs_alt(image):
    """True if an image has no alt text of its own: none, empty, or its own file path."""
    alt = (image.get("alt") or "").strip()
    return not alt or alt == image.get("uri") or looks_like_path(alt)


def _alt_from_captions(app, doctree):
    for figure in doctree.findall(nodes.figure):
        captions = [c for c in figure.children if isinstance(c, nodes.caption)]
        if not captions:
            continue
        for image in figure.findall(nodes.image):
            if needs_alt(image):
                image["alt"] = spoken(captions[0])


# --- the navigation's toggles, and the bibliography's roles ----------------------------
#
# The theme opens and closes a page's sub-pages in the sidebar with a <summary> that holds
# only a chevron icon, which a screen reader announces as nothing (axe-core: summary-name,
# serious). Each gets a name from the link it belongs to. tools/page_audit.py audits every
# page with axe-core (tests/book/test_in_a_browser.py).

_TOGGLE = re.compile(r'(<a class="[^"]*reference internal[^"]*" href="[^"]*">((?:(?!</a>).)*)</a><details[^>]*>)'
                     r'<summary>', flags=re.S)


def name_toggles(html):
    """The sidebar's HTML with every toggle named after its page: "Pages under <title>"."""
    return _TOGGLE.sub(lambda m: f'{m.group(1)}<summary aria-label="Pages under '
                                 f'{re.sub(r"<[^>]+>", "", m.group(2)).strip()}">', str(html))


def _accessible_page(app, pagename, templatename, context, doctree):
    # docutils marks bibliography entries role="doc-biblioentry" inside role="list": a
    # deprecated role, and a list without items (axe-core: aria-required-children, critical).
    if "body" in context:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')
    generate = context.get("generate_toctree_html")
    if generate is None or getattr(generate, "names_toggles", False):
        return

    def generate_named(kind, *args, **kwargs):
        out = generate(kind, *args, **kwargs)
        return name_toggles(out) if kind == "sidebar" else out

    generate_named.names_toggles = True
    context["generate_toctree_html"] = generate_named


# --- the PDF ----------------------------------------------------------------------------
#
# The book's macros (\R, \Sxx, ...) are defined once, for MathJax, in _config.yml; the
# LaTeX build (make pdf) gets the same definitions in its preamble.


def latex_macros(macros):
    """LaTeX definitions of MathJax macros {name: body}; each replaces any command of that name."""
    return "".join(f"\\providecommand{{\\{name}}}{{}}\\renewcommand{{\\{name}}}{{{body}}}\n"
                   for name, body in macros.items())


def unnumbered_chapters(tex, docnames):
    """The LaTeX with the chapters of ``docnames`` unnumbered (listed in the contents all the same).

    The website numbers only the book's chapters (the parts with ``numbered: true`` in _toc.yml);
    LaTeX would number every page, the front matter first, and every chapter and equation number
    in the PDF would then be one more than on the website. Their sections are not numbered either.
    """
    for docname in docnames:
        pattern = re.compile(r"\\chapter\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}(\n\\label\{\\detokenize\{"
                             + re.escape(docname) + r":)")
        tex = pattern.sub(lambda m: "\\setcounter{secnumdepth}{-1}\n"
                                    f"\\chapter*{{{m.group(1)}}}\\addcontentsline{{toc}}{{chapter}}{{{m.group(1)}}}"
                                    f"{m.group(2)}", tex, count=1)
    # Their sections are unnumbered too; a numbered chapter numbers its sections again (the
    # report class's depth, 2: sections and subsections).
    return re.sub(r"^\\chapter\{", lambda m: "\\setcounter{secnumdepth}{2}\n\\chapter{", tex, flags=re.M)


def _unnumbered_in_latex(app, exception):
    if exception is not None or app.builder.format != "latex":
        return
    numbered = {doc for doc, numbers in app.env.toc_secnumbers.items() if numbers}
    docnames = [doc for doc in book_order() if doc not in numbered]
    for path in Path(app.outdir).glob("*.tex"):
        path.write_text(unnumbered_chapters(path.read_text(encoding="utf-8"), docnames), encoding="utf-8")


EXPLORATION_NOTE = ("Above, the exploration's first figure. On the website its sliders show every setting "
                    "of its grid, and in Binder or a downloaded notebook the live version takes any value.")


def _is_exploration(node):
    return isinstance(node, nodes.container) and node.get("nb_element") == "cell_code" and any(
        n.get("nb_element") == "cell_code_source" and "exploration.scrubber(" in n.astext()
        for n in node.findall(nodes.container))


def _mark_explorations(app, doctree):
    # Marked while the cell's code is there: the PDF drops hidden inputs before it is resolved.
    for cell in list(doctree.findall(_is_exploration)):
        cell["classes"].append("statmech-exploration")


def _exploration_note(app, doctree, docname):
    """In the PDF an exploration is its first frame (statmech_dl.exploration.Scrubber._repr_png_),
    followed by one line that says where it moves."""
    if app.builder.format != "latex":
        return
    marked = [n for n in doctree.findall(nodes.Element) if "statmech-exploration" in n["classes"]]
    for cell in marked:
        cell.parent.insert(cell.parent.index(cell) + 1,
                           nodes.paragraph(text=EXPLORATION_NOTE, classes=["exploration-note"]))


def _latex_preamble(app, config):
    macros = (config.mathjax3_config or {}).get("tex", {}).get("macros", {})
    elements = dict(config.latex_elements or {})
    elements["preamble"] = elements.get("preamble", "") + latex_macros(macros)
    config.latex_elements = elements


# --- the reproduction page ------------------------------------------------------------
#
# A chapter records each headline claim with statmech_dl.reproduction.record, which
# attaches it to the metadata of the cell's output under CLAIM_KEY. myst-nb writes every executed
# chapter (freshly executed or taken from the cache) to _build/jupyter_execute; once
# all chapters are read, the {reproduction-table} directive's placeholder is replaced
# by every record found there, in book order: one card per claim (a title and a list of
# its fields, which wrap on any screen and print as they are), under a heading and a
# count of verdicts per chapter, after a filter that shows one verdict at a time.

CLAIM_KEY = "statmech_dl.claim"  # statmech_dl.reproduction.METADATA_KEY
PAGE = "book/reproduction"
#: The verdicts, best first (statmech_dl.reproduction.VERDICTS; the book's build does not import the library).
VERDICTS = ("reproduced", "reproduced, scaled down", "qualitative only", "not reproduced", "not tested")
#: A claim's fields after its title, as the card lists them.
FIELDS = ("Source", "Our theory", "Our simulation", "Agreement", "Verdict")


def verdict_class(verdict):
    """The CSS class of a claim with this verdict: "not reproduced" -> "verdict-not-reproduced"."""
    return "verdict-" + verdict.replace(",", "").replace(" ", "-")


class reproduction_placeholder(nodes.General, nodes.Element):
    """Replaced by the claims once every chapter has been executed."""


class chapter_heading(nodes.TextElement):
    """A chapter's heading on the reproduction page: <h2> on the website, an unnumbered
    subsection in LaTeX (it is made after reading, too late to be a section of the page)."""


def _visit_heading_html(self, node):
    self.body.append(self.starttag(node, "h2", ""))


def _depart_heading_html(self, node):
    self.body.append("</h2>\n")


def _visit_heading_latex(self, node):
    self.body.append("\n\\subsection*{")


def _depart_heading_latex(self, node):
    self.body.append("}\n")


class ReproductionTable(SphinxDirective):
    def run(self):
        return [reproduction_placeholder()]


def book_order():
    """Every page's docname, in the order of the table of contents (book_files reads _toc.yml)."""
    return [page.relative_to(book_files.ROOT).with_suffix("").as_posix() for page in book_files.pages()]


def executed_notebooks(app):
    """docname -> executed notebook (dict) of every chapter, as myst-nb wrote it in this build, in book order."""
    folder = Path(app.outdir).parent / "jupyter_execute"
    out = {}
    for docname in book_order():
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
    from pybtex.plugin import find_plugin
    from pybtex.richtext import Text

    # Found once: render_as("text") looks the backend up among every installed package's entry
    # points at each call (3 s for the bibliography's 148 names).
    text = find_plugin("pybtex.backends", "text")()

    def plain(latex):
        return Text.from_latex(latex).render(text)

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
            domain = app.env.get_domain("math")
            if label not in domain.equations:
                raise ExtensionError(f"reproduction page: no equation labelled {label!r}")
            if app.builder.format == "latex":
                # LaTeX numbers the equations itself: a \ref to the equation's label.
                from sphinx.builders.latex.nodes import math_reference

                para += math_reference("", docname=domain.equations[label][0], target=label)
            else:
                xref = pending_xref("", refdomain="math", reftype="eq", reftarget=label, refdoc=fromdoc)
                para += domain.resolve_xref(app.env, fromdoc, app.builder, "eq", label, xref, nodes.Text(label))
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


def _verdict_counts(records):
    """{verdict: number of records with it}, for every verdict in the order of VERDICTS."""
    return {v: sum(rec["verdict"] == v for rec in records) for v in VERDICTS}


def _counts(records):
    """ "3 claims: 2 reproduced, 1 not reproduced" for a list of records (verdicts in the order of VERDICTS)."""
    parts = ", ".join(f"{k} {v}" for v, k in _verdict_counts(records).items() if k)
    return f"{len(records)} claim{'s' if len(records) != 1 else ''}: {parts}."


def _filter(records):
    """Radio buttons that show one verdict at a time: plain HTML, and CSS (_static/book.css) does the rest.

    No script, so the filter works without a kernel, without JavaScript and offline; other
    builders (LaTeX) skip raw HTML and print every claim.
    """
    options = [("all", f"all ({len(records)})")] + [
        (verdict_class(v), f"{v} ({n})") for v, n in _verdict_counts(records).items()]
    inputs = "".join(
        f'<span class="verdict-option"><input type="radio" name="verdict-filter" id="show-{key}" value="{key}"'
        f'{" checked" if key == "all" else ""}><label for="show-{key}">{text}</label></span>'
        for key, text in options)
    return nodes.raw("", f'<fieldset class="verdict-filter"><legend>Show the claims judged</legend>{inputs}'
                     "</fieldset>", format="html")


def _field(term, body):
    item = nodes.definition_list_item()
    item += nodes.term(text=term)
    definition = nodes.definition()
    definition += body
    item += definition
    return item


def _claims(app, fromdoc, records):
    """The claims as cards, grouped by chapter in book order; each chapter heads its cards with a count."""
    labels = app.env.domaindata["std"]["labels"]
    cites = _citations(app)
    out = nodes.container(classes=["reproduction-claims"])
    by_chapter = {}
    for docname, rec in records:
        by_chapter.setdefault(docname, []).append(rec)
    for docname, recs in by_chapter.items():
        chapter = nodes.container(classes=["reproduction-chapter"]
                                  + sorted({verdict_class(rec["verdict"]) for rec in recs}))
        title = chapter_heading(classes=["reproduction-chapter-title"])
        title += nodes.reference("", app.env.titles[docname].astext(), internal=True,
                                 refuri=app.builder.get_relative_uri(fromdoc, docname))
        chapter += title
        chapter += nodes.paragraph(text=_counts(recs), classes=["reproduction-counts"])
        for rec in recs:
            if rec["section"] not in labels or labels[rec["section"]][0] != docname:
                raise ExtensionError(f"claim {rec['key']!r}: section label {rec['section']!r} is not in {docname}")
            target_doc, anchor, _ = labels[rec["section"]]
            link = nodes.reference("", "", internal=True,
                                   refuri=app.builder.get_relative_uri(fromdoc, target_doc) + "#" + anchor)
            link += _inline(app, fromdoc, rec["claim"]).children
            claim_title = nodes.paragraph(classes=["claim-title"])
            claim_title += nodes.strong("", "", link)
            source = nodes.paragraph()
            source += nodes.emphasis(text="; ".join(cites.get(k.strip(), k.strip())
                                                    for k in rec["source"].split(",")))
            source += nodes.Text(": ")
            source += _inline(app, fromdoc, rec["source_value"]).children
            verdict = nodes.paragraph()
            verdict += nodes.strong(text=rec["verdict"])
            verdict += nodes.Text(": ")
            verdict += _inline(app, fromdoc, rec["why"]).children
            fields = nodes.definition_list(classes=["claim-fields"])
            bodies = [source] + [_inline(app, fromdoc, rec[k]) for k in ("theory", "simulation", "agreement")]
            for term, body in zip(FIELDS, bodies + [verdict]):
                fields += _field(term, body)
            card = nodes.container(classes=["claim", verdict_class(rec["verdict"])], ids=[f"claim-{rec['key']}"])
            card += claim_title
            card += fields
            chapter += card
        out += chapter
    return out


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
    counts = _verdict_counts([rec for _, rec in records])
    digest, commit = _source_hash(app, list(notebooks))
    summary = nodes.paragraph()
    summary += nodes.strong(text=f"{len(records)} claims from {len(notebooks)} chapters: ")
    summary += nodes.Text(", ".join(f"{n} {v}" for v, n in counts.items()) + ". ")
    summary += nodes.Text(f"Built on {datetime.date.today().isoformat()} from chapter sources {digest}"
                          + (f" (commit {commit})" if commit else "") + ".")
    summary["classes"].append("reproduction-summary")
    for node in placeholders:
        node.replace_self([summary, _filter([rec for _, rec in records]), _claims(app, docname, records)])


def _outdated(app, env, added, changed, removed):
    """Pages to read again although their source did not change.

    The reproduction page depends on every chapter's outputs: it is read at every build.
    A chapter depends on the library files its code runs: after one of them changed, the
    chapter is read again, and its install cell's new library hash makes the execution cache
    miss. The other chapters are left alone.
    """
    outdated = [PAGE] if PAGE in env.found_docs else []
    known = getattr(env, "statmech_dl_library_hashes", None)
    if not isinstance(known, dict):
        known = env.statmech_dl_library_hashes = {}
    for doc in sorted(env.found_docs):
        source = Path(env.doc2path(doc)).read_text(encoding="utf-8")
        if not _is_notebook(source):
            continue
        current = chapter_library_hash(source)
        if known.get(doc) != current:
            known[doc] = current
            if doc not in added and doc not in changed:
                outdated.append(doc)
    return outdated


def _one_document(app, doctree):
    """Make every node of the page belong to the page's document before Sphinx pickles it.

    Nodes parsed on their own (the library's docstrings on the API pages) keep a reference to
    the document they were parsed in, whose settings hold the build environment; pickled with
    the page, that drags in the environment and, through sphinx-exercise's registry of
    solutions, whole chapters: 12 MB per API page, 235 MB in all, and seconds of unpickling at
    every build that numbers the figures.
    """
    for node in doctree.findall(include_self=False):
        if vars(node).get("_document", doctree) is not doctree:
            node.document = doctree


def setup(app):
    app.connect("config-inited", _latex_preamble)
    app.connect("doctree-read", _one_document)
    app.connect("build-finished", _unnumbered_in_latex)
    app.connect("source-read", _source_read)
    app.connect("doctree-read", _restore_cached_outputs)
    app.connect("doctree-read", _page_has_maths)
    app.connect("doctree-read", _drop_widget_state)
    app.connect("doctree-read", _alt_from_captions)
    app.connect("doctree-read", _mark_explorations)
    app.add_node(reproduction_placeholder)
    app.add_node(chapter_heading, html=(_visit_heading_html, _depart_heading_html),
                 latex=(_visit_heading_latex, _depart_heading_latex))
    app.add_directive("reproduction-table", ReproductionTable)
    app.connect("doctree-resolved", _fill)
    app.connect("doctree-resolved", _exploration_note)
    # After the theme has put its navigation functions in the page's context.
    app.connect("html-page-context", _accessible_page, priority=900)
    app.connect("env-get-outdated", _outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
