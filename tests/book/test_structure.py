"""Static checks of the book: configuration, table of contents, chapters, Binder, pins.

These run in seconds and catch what a build would only catch late (or, for
Binder, which cannot be reached from here, never).
"""

import csv
import hashlib
import json
import re
import subprocess
import tomllib
from pathlib import Path

import jupytext
import pytest
import yaml

import book_files

ROOT = book_files.ROOT
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHAPTERS = book_files.chapters()

# The book's plan: part caption -> chapter files, in order. A part appears in
# _toc.yml only once it has a chapter, and lists only chapters that exist.
PLAN = {
    "I. Learning dynamics": ["semantic_development", "deep_linear_dynamics"],
    "II. Signal propagation": ["transient_chaos", "dynamical_isometry"],
    "III. Landscapes and inference": ["saddle_points", "high_dimensional_inference"],
    "IV. Memory, generation and the brain": ["complex_synapses", "diffusion_models", "retina_cnns"],
}


def chapter_ids(paths):
    return [p.stem for p in paths]


# --- table of contents ------------------------------------------------------

def test_toc_parts_follow_the_plan():
    toc = book_files.toc()
    parts = [p for p in toc["parts"] if p["caption"] in PLAN]
    captions = [p["caption"] for p in parts]
    assert captions == [c for c in PLAN if c in captions], "parts out of order"
    assert "I. Learning dynamics" in captions
    for part in parts:
        assert part.get("numbered") is True, f"part {part['caption']} must be numbered"
        names = [Path(c["file"]).name for c in part["chapters"]]
        planned = PLAN[part["caption"]]
        assert names == [n for n in planned if n in names], f"{part['caption']}: {names} not in plan order"
        assert set(names) <= set(planned)
    listed = {Path(c["file"]).name for p in parts for c in p["chapters"]}
    assert listed == {p.stem for p in CHAPTERS}, "every chapter belongs to a planned part"


def test_pages_exist_and_names_carry_no_numbers():
    for page in book_files.pages():
        assert page.exists()
        # Chapters and front and back matter in book/, the library reference in book/api/.
        assert page.parent in (ROOT / "book", ROOT / "book" / "api")
        assert not re.search(r"\d", page.stem), f"{page.name}: the TOC numbers chapters, not file names"


def test_every_public_module_has_a_reference_page():
    """Each public module of the library has its page in the library reference, listed in the
    TOC and in the module map; a missing one otherwise shows only as unresolved links."""
    modules = {p.stem for p in (ROOT / "lib" / "statmech_dl").glob("*.py") if not p.stem.startswith("_")}
    modules.add("exercises")
    listed = {p.stem for p in book_files.pages() if p.parent == ROOT / "book" / "api"} - {"index"}
    assert listed == modules, f"reference pages and modules differ: {listed ^ modules}"
    index = (ROOT / "book" / "api" / "index.md").read_text()
    for name in modules:
        assert f"{{py:mod}}`statmech_dl.{name}`" in index, f"{name} is missing from the module map"
        assert f"automodule:: statmech_dl.{name}" in (ROOT / "book" / "api" / f"{name}.md").read_text()


# --- configuration ----------------------------------------------------------

def test_config_builds_only_the_book():
    assert CONFIG["only_build_toc_files"] is True
    excluded = set(CONFIG["exclude_patterns"])
    assert {".venv", "lib", "tests", "_build", "README.md"} <= excluded
    assert CONFIG["execute"]["execute_notebooks"] == "cache"
    assert CONFIG["execute"]["allow_errors"] is False
    exts = set(CONFIG["parse"]["myst_enable_extensions"])
    assert {"dollarmath", "amsmath", "colon_fence"} <= exts
    sphinx = CONFIG["sphinx"]
    assert {"sphinx_exercise", "sphinx_proof", "sphinx_togglebutton"} <= set(sphinx["extra_extensions"])
    assert sphinx["config"]["nitpicky"] is True
    assert sphinx["config"]["nb_execution_raise_on_error"] is True
    assert "macros" in sphinx["config"]["mathjax3_config"]["tex"]
    assert CONFIG["bibtex_bibfiles"] == ["book/references.bib"]


def test_repository_url_is_set_in_one_place():
    url = CONFIG["repository"]["url"]
    assert url.startswith("https://")
    assert CONFIG["launch_buttons"]["binderhub_url"]
    assert CONFIG["launch_buttons"]["notebook_interface"] == "jupyterlab"
    # No other tracked file the build or Binder reads may hard-code it (the
    # README quotes it only to say where to change it).
    tracked = subprocess.run(["git", "ls-files", "book", "binder", "lib", "tools", "_toc.yml"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert tracked, "git ls-files found nothing"
    for name in tracked:
        assert url not in (ROOT / name).read_text(errors="ignore"), f"{name} repeats the repository URL"


# Standard LaTeX/MathJax commands the book may use. Any other command in a
# page's mathematics must be one of the book's macros, defined in _config.yml.
STANDARD_TEX = set("""
alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi rho
sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega
frac tfrac dfrac sqrt sum prod int oint partial nabla infty cdot cdots ldots dots times odot otimes
le ge leq geq ne neq approx simeq sim propto equiv to mapsto in notin subset perp pm mp
left right bigl bigr Bigl Bigr bigg Bigg big Big langle rangle lVert rVert lvert rvert lceil rceil
lfloor rfloor quad qquad text mathrm mathbf mathcal mathbb operatorname hat tilde bar dot ddot vec
widehat widetilde overline underline ln log exp sin cos tan tanh arcsin arccos arctan det max min
sup inf lim binom begin end top arg mid ell gg ll Longrightarrow Rightarrow longrightarrow setminus
""".split())

MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", flags=re.S)


def math_commands(page):
    """Every \\command used in a page's mathematics: markdown text and figure captions."""
    nb = jupytext.read(page)
    texts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    texts += [c.metadata.get("mystnb", {}).get("figure", {}).get("caption", "") for c in nb.cells]
    return {cmd for t in texts for m in MATH.findall(t) for cmd in re.findall(r"\\([A-Za-z]+)", m[0] or m[1])}


@pytest.mark.parametrize("page", book_files.pages(), ids=lambda p: p.stem)
def test_every_macro_in_the_mathematics_is_defined(page):
    macros = set(CONFIG["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"])
    assert not macros & STANDARD_TEX, "a book macro must not shadow a standard command"
    undefined = math_commands(page) - macros - STANDARD_TEX
    assert not undefined, f"{page.name} uses undefined macros {sorted(undefined)}: define them in _config.yml"


@pytest.mark.parametrize("page", book_files.pages(), ids=lambda p: p.stem)
def test_display_equations_fit_the_text_column(page):
    """No display equation is likely to overflow the column at 1280 px (tools/equation_width.py)."""
    import equation_width as ew

    macros = CONFIG["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    for label, tex in ew.display_equations(page.read_text()):
        px = ew.width_em(tex, macros) * ew.EM_PX
        assert px <= ew.MAX_PX, (f"{page.name}: equation {label or tex[:60]!r} is about {px:.0f} px wide; "
                                 f"the column holds {ew.COLUMN_PX}. Break it over lines (gathered, or aligned).")


def test_equation_width_flags_the_equations_that_overflowed():
    """Rendered at 1280 px these took 866 and 714 px of a 676 px column (measured in Chromium)."""
    import equation_width as ew

    macros = CONFIG["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    cmap = (r"c^l = \frac{1}{q^*}\left[\sigma_w^2 \int Dz_1 Dz_2\, \phi(u_1)\phi(u_2) + \sigma_b^2\right], \qquad"
            r"u_1 = \sqrt{q^*} z_1,\ u_2 = \sqrt{q^*}\left(c^{l-1} z_1 + \sqrt{1-(c^{l-1})^2}\, z_2\right) .")
    flow = (r"\tau \frac{d W^{21}}{dt} = W^{32\T}\left(\Syx - W^{32}W^{21}\Sxx\right), \qquad"
            r"\tau \frac{d W^{32}}{dt} = \left(\Syx - W^{32}W^{21}\Sxx\right) W^{21\T},")
    for tex in (cmap, flow):
        assert ew.width_em(tex, macros) * ew.EM_PX > ew.MAX_PX
    split = r"\begin{gathered} a + b \\ c + d + e \end{gathered}"
    assert ew.width_em(split) == pytest.approx(ew.width_em("c + d + e") + 1.0)


def test_macro_check_catches_an_undefined_macro(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\nThe correlation $\\Sxy = 1$ and $$\\frac{1}{2}\\Sxx$$.\n")
    assert math_commands(page) == {"Sxy", "frac", "Sxx"}


# --- chapters ---------------------------------------------------------------

@pytest.fixture(params=CHAPTERS, ids=chapter_ids(CHAPTERS))
def chapter(request):
    return request.param


def test_chapter_structure(chapter):
    text = chapter.read_text()
    nb = jupytext.read(chapter)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert re.search(r"```\{admonition\} Learning objectives\n:class: tip\n", text), "learning objectives, as a tip"
    assert "## Summary" in text
    assert "{cite:t}" in text or "{cite:p}" in text
    labels = re.findall(r"^\$\$ *\((eq-[\w-]+)\)", text, flags=re.M)
    assert len(labels) >= 3 and len(labels) == len(set(labels))
    book_labels = {lab for page in book_files.pages()
                   for lab in re.findall(r"^\$\$ *\((eq-[\w-]+)\)", page.read_text(), flags=re.M)}
    for ref in re.findall(r"\{eq\}`([\w-]+)`", text):
        assert ref in book_labels, f"{{eq}}`{ref}` has no equation anywhere in the book"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import statmech_dl" in code or "from statmech_dl" in code
    assert "use_book_style()" in code
    assert "# NBVAL_CHECK_OUTPUT" in code
    assert "mystnb" in text and "figure" in text


def test_chapter_exploration_follows_the_convention(chapter):
    """A kernel-free scrubber for the website, then the same drawing function live for a
    notebook, whose output the website removes: no slider on the page without a kernel."""
    cells = [c for c in jupytext.read(chapter).cells if c.cell_type == "code"]
    scrub = [i for i, c in enumerate(cells) if "exploration.scrubber(" in c.source]
    assert len(scrub) == 1, "one exploration.scrubber(...) per chapter"
    draw = re.search(r"exploration\.scrubber\(\s*(\w+)", cells[scrub[0]].source).group(1)
    assert re.search(rf"^def {draw}\(\s*fig\b", cells[scrub[0]].source, flags=re.M), "the drawing function sits with it"
    assert "hide-input" in cells[scrub[0]].metadata.get("tags", [])
    live = cells[scrub[0] + 1]
    assert f"exploration.live({draw}," in live.source and "widgets.interact(" in live.source
    assert "remove-output" in live.metadata.get("tags", []), "the live widget's output is removed on the website"
    for c in cells:
        if "widgets.interact" in c.source:
            assert "remove-output" in c.metadata.get("tags", []), "a widget outside the live cell would be dead"


FIGURE_CALL = re.compile(r"plt\.subplots\(|plt\.figure\(|labelled\(fig\)")


def test_every_figure_says_what_it_shows(chapter):
    """A reader who cannot see a figure gets its alt text: the caption (the build copies it,
    tools/book_build.py), else ``mystnb: image: alt:`` in the cell's metadata; the
    exploration's image takes its ``alt=`` sentence. None may be empty or a file name."""
    import book_build

    cells = [c for c in jupytext.read(chapter).cells if c.cell_type == "code"]
    for cell in cells:
        if not FIGURE_CALL.search(cell.source):
            continue
        meta = cell.metadata.get("mystnb", {})
        text = meta.get("figure", {}).get("caption") or meta.get("image", {}).get("alt") or ""
        assert len(text.split()) >= 4 and not book_build.looks_like_path(text), \
            f"{chapter.stem}: a figure without a caption or alt text: {cell.source[:70]!r}"
    scrub = next(c.source for c in cells if "exploration.scrubber(" in c.source)
    assert re.search(r"\balt=", scrub), f"{chapter.stem}: the exploration's image needs alt=..."


def test_alt_text_from_a_caption_reads_as_text():
    from docutils import nodes
    from sphinx.addnodes import pending_xref

    import book_build

    caption = nodes.caption()
    caption += nodes.Text("The length map ")
    ref = pending_xref("", refdomain="math", reftype="eq", reftarget="eq-tc-qmap")
    ref += nodes.literal("", "eq-tc-qmap")
    caption += ref
    caption += nodes.Text(" for ")
    caption += nodes.math("\\tanh", "\\tanh")
    caption += nodes.Text(": colour is ")
    caption += nodes.math("\\log_{10}\\chi_1", "\\log_{10}\\chi_1")
    caption += nodes.Text(".")
    assert book_build.spoken(caption) == "The length map for tanh: colour is log_10 chi_1."
    for alt, needs in [(None, True), ("", True), ("../_images/53f2.png", True), ("figure.svg", True),
                       ("The length map for tanh.", False)]:
        image = nodes.image(uri="../_images/53f2.png", **({} if alt is None else {"alt": alt}))
        assert book_build.needs_alt(image) == needs, alt


def test_the_sidebars_toggles_are_named_after_their_pages():
    """The theme's open/close control of a page's sub-pages holds only an icon: it gets a name."""
    import book_build

    sidebar = ('<li><a class="reference internal" href="a.html">A page</a></li>'
               '<li><a class="current reference internal" href="#">The library <code>statmech_dl</code></a>'
               '<details open="open"><summary><span class="toctree-toggle"></span></summary>')
    named = book_build.name_toggles(sidebar)
    assert named.count("<summary") == 1
    assert '<details open="open"><summary aria-label="Pages under The library statmech_dl">' in named


def test_chapter_links_every_library_function_it_uses(chapter):
    import library_links

    missing = set(library_links.used(chapter)) - library_links.linked(chapter)
    assert not missing, (f"{chapter.name} uses {sorted(missing)} without linking them to the library "
                         f"reference: run python tools/library_links.py {chapter.relative_to(ROOT)} --update")


def test_labels_carry_the_chapter_prefix(chapter):
    """eq-<prefix>-, fig-<prefix>- and ex-<prefix>- with the chapter's prefix from book_files.LABEL_PREFIXES."""
    assert chapter.stem in book_files.LABEL_PREFIXES, "add the chapter's label prefix to tools/book_files.py"
    prefix = book_files.LABEL_PREFIXES[chapter.stem]
    text = chapter.read_text()
    figures = [c.metadata.get("mystnb", {}).get("figure", {}).get("name") for c in jupytext.read(chapter).cells]
    labels = (re.findall(r"^\$\$ *\(([\w-]+)\)", text, flags=re.M)
              + re.findall(r"^:label: ([\w-]+)", text, flags=re.M)
              + [name for name in figures if name])
    assert labels
    for label in labels:
        assert re.fullmatch(rf"(eq|fig|ex)-{prefix}-[a-z0-9-]+", label), f"{label} breaks the label rule"


def test_code_lines_fit_the_code_block(chapter):
    import format_code_cells

    long = format_code_cells.long_lines(chapter)
    assert not long, (f"{chapter.name}: code lines longer than {format_code_cells.LINE_LENGTH} characters at "
                      f"lines {[n for n, _ in long]}: run python tools/format_code_cells.py and shorten the rest")


def test_label_prefixes_are_unique():
    assert len(set(book_files.LABEL_PREFIXES.values())) == len(book_files.LABEL_PREFIXES)


def test_chapter_exercises_follow_the_convention(chapter):
    text = chapter.read_text()
    exercises = re.findall(r"```\{exercise-start\}\n:label: (ex-[\w-]+)", text)
    solutions = re.findall(r"```\{solution-start\} (ex-[\w-]+)\n:class: dropdown", text)
    assert len(exercises) >= 3
    assert exercises == solutions, "every exercise needs a gated dropdown solution, in order"
    nb = jupytext.read(chapter)
    solution_cells = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solution_cells) >= len(exercises)
    checks = re.findall(r"check_\w+\(", "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                                                   and "solution" not in c.metadata.get("tags", [])))
    assert len(checks) >= len(exercises), "each exercise is followed by a check from statmech_dl.exercises"
    # The checks come from the chapter's own module of statmech_dl.exercises.
    assert (f"statmech_dl.exercises.{chapter.stem}" in text
            or f"from statmech_dl.exercises import {chapter.stem}" in text)


def test_every_citation_is_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set()
    for page in book_files.pages():
        for group in re.findall(r"\{cite:[tp]\}`([^`]+)`", page.read_text()):
            cited |= {k.strip() for k in group.split(",")}
    assert cited, "no citations found"
    assert cited <= keys, f"missing from references.bib: {cited - keys}"


# --- Binder -----------------------------------------------------------------

def test_binder_configuration():
    binder = ROOT / "binder"
    req = (binder / "requirements.txt").read_text()
    lines = [line.strip() for line in req.splitlines() if line.strip() and not line.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    torch_pins = [line for line in lines if line.startswith("torch")]
    assert torch_pins and all(re.fullmatch(r"torch==[\d.]+\+cpu", p) for p in torch_pins), torch_pins
    root_torch = re.search(r"^torch==([\d.]+)$", (ROOT / "requirements.txt").read_text(), flags=re.M)
    assert torch_pins[0] == f"torch=={root_torch.group(1)}+cpu", "Binder's torch must match the book's pin"
    assert "-r ../requirements.txt" in lines, "Binder ignores the root files, so include them"
    assert any(line.startswith("jupytext") for line in lines)
    assert any(line.startswith("jupyterlab") for line in lines)
    assert (binder / "runtime.txt").read_text().strip().startswith("python-3.11")

    assert any(re.fullmatch(r"jupyterlab-myst==[\d.]+", line) for line in lines), "MyST rendering in JupyterLab"

    post = binder / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    script = post.read_text()
    assert re.search(r"pip install .*-e \.", script), "postBuild must install the library"
    assert "default_setting_overrides.json" in script and ".jupyter/labconfig" in script
    assert "python tools/binder_prepare.py" in script
    overrides = yaml.safe_load((binder / "default_setting_overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook" and viewers["myst"] == "Jupytext Notebook"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=chapter_ids(CHAPTERS))
def test_binder_copy_of_a_chapter_renders_like_the_website(chapter):
    """What binder/postBuild does to a chapter: macros as MyST front matter, book-wide roles resolved."""
    import binder_prepare

    original = jupytext.read(chapter)
    prepared = jupytext.reads(binder_prepare.prepare(chapter.read_text(), binder_prepare.citations(),
                                                     binder_prepare.equation_numbers()), fmt="md:myst")
    first = prepared.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("---\n")
    front = yaml.safe_load(first.source.split("---")[1])
    config_macros = CONFIG["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    assert front["math"] == {f"\\{k}": v for k, v in config_macros.items()}
    markdown = "\n".join(c.source for c in prepared.cells if c.cell_type == "markdown")
    assert not re.search(r"\{(cite:[tp]|ref|py:\w+)\}`", markdown), "a role only the whole book resolves"
    for ref in re.findall(r"\{eq\}`([\w-]+)`", markdown):
        assert re.search(rf"^\$\$ *\({ref}\)", chapter.read_text(), flags=re.M), \
            f"{{eq}}`{ref}` points to another chapter and was left unresolved"
    code = lambda nb: [c.source for c in nb.cells if c.cell_type == "code"]  # noqa: E731
    assert code(prepared) == code(original), "code cells are never touched"


# --- dependencies -----------------------------------------------------------

def test_dependencies_are_pinned():
    req = (ROOT / "requirements.txt").read_text()
    lines = [line.strip() for line in req.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "-c constraints.txt"
    pins = dict(line.split("==") for line in lines[1:])
    assert all(pins.values()), "every requirement is pinned with =="
    assert pins["jupyter-book"].startswith("1."), "Jupyter Book 1 (v2 is a different tool)"
    assert pins["torch"] == "2.13.0"
    for ext in ("sphinx-exercise", "sphinx-proof", "sphinx-togglebutton", "sphinxcontrib-bibtex",
                "myst-nb", "jupytext", "nbval", "ipywidgets", "threadpoolctl"):
        assert ext in pins
    lock = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    lock = {k.lower().replace("_", "-"): v for k, v in lock.items()}
    for name, version in pins.items():
        assert lock.get(name.lower().replace("_", "-")) == version, f"{name} differs from constraints.txt"


def test_the_install_takes_torch_cpu_build_without_another_index_here():
    """make installs torch==<pin>+cpu before requirements.txt: local wheels first (--no-index), else the CPU index."""
    makefile = (ROOT / "Makefile").read_text()
    assert "TORCH_VERSION := $(shell sed -n 's/^torch==//p' requirements.txt)" in makefile
    local = re.search(r"pip install .*--no-index --no-deps \"torch==\$\(TORCH_VERSION\)\+cpu\"", makefile)
    fallback = re.search(r"\|\| .*pip install .*\"torch==\$\(TORCH_VERSION\)\+cpu\" --index-url \$\(TORCH_CPU_INDEX\)",
                         makefile)
    assert local and fallback and local.start() < fallback.start() < makefile.index("-r requirements.txt")
    assert "TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu" in makefile


def test_the_library_declares_what_it_imports():
    import ast
    import sys

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ ]", d)[0].lower() for d in project["dependencies"]}
    optional = {re.split(r"[<>=!~ ]", d)[0].lower() for extra in project["optional-dependencies"].values()
                for d in extra}
    distribution = {"sklearn": "scikit-learn", "PIL": "pillow"}
    imported = set()
    for path in (ROOT / "lib" / "statmech_dl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            imported |= {n.split(".")[0] for n in names}
    third_party = {distribution.get(n, n).lower() for n in imported
                   if n not in sys.stdlib_module_names and n != "statmech_dl"}
    assert third_party <= declared | optional, f"undeclared: {third_party - declared - optional}"
    assert "torch" in optional and "torch" not in declared, "torch is optional: import statmech_dl stays torch-free"


def test_cell_timeout_is_the_same_everywhere():
    assert CONFIG["execute"]["timeout"] == book_files.CELL_TIMEOUT


# --- status page ------------------------------------------------------------

def test_benchmark_is_current_and_within_budget():
    """The status page's measurements belong to the current chapter sources.

    This is not a timed test: it checks that `make benchmark` was run after the
    last change to each chapter, and that the recorded run met the budget.
    """
    path = ROOT / "book" / "_data" / "benchmark.csv"
    rows = {r["Chapter"]: r for r in csv.DictReader(path.open())}
    for chapter in CHAPTERS:
        assert chapter.stem in rows, f"{chapter.stem} has not been benchmarked: run `make benchmark`"
        row = rows[chapter.stem]
        digest = hashlib.sha256(chapter.read_bytes()).hexdigest()[:12]
        assert row["Source hash"] == digest, f"{chapter.stem} changed since it was benchmarked: run `make benchmark`"
        assert float(row["Wall time (s)"]) <= 60.0
        assert float(row["Peak memory (MB)"]) <= 1500.0


def test_benchmark_names_the_slowest_cells_by_their_line(tmp_path):
    import benchmark
    import nbformat

    chapter = tmp_path / "chapter.md"
    chapter.write_text("# Title\n\n```{code-cell} ipython3\nx = 1\n```\n\ntext\n\n```{code-cell} ipython3\n"
                       "y = 2\n```\n\n```{code-cell} ipython3\nz = 3\n```\n")
    cells = [nbformat.v4.new_code_cell(src) for src in ("x = 1", "y = 2", "z = 3")]
    for cell, seconds in zip(cells, (0.5, 4.0, 1.25)):
        cell.metadata["execution"] = {"iopub.execute_input": "2026-12-03T10:00:00.000000Z",
                                      "shell.execute_reply": f"2026-12-03T10:00:0{seconds:.6f}Z"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")] + cells)
    assert benchmark.slowest_cells(chapter, nb, n=2) == [(10, 4.0), (14, 1.25)]


def test_a_change_to_a_library_module_reexecutes_only_the_chapters_that_run_it(tmp_path):
    """Each chapter's install cell carries the hash of the library files its code imports, theirs
    and so on: editing the retina module changes the hash of *Retina CNNs* alone, editing the
    argument checks every chapter's."""
    import shutil

    import book_build

    copy = tmp_path / "statmech_dl"
    shutil.copytree(ROOT / "lib" / "statmech_dl", copy, ignore=shutil.ignore_patterns("__pycache__"))
    sources = {chapter.stem: chapter.read_text() for chapter in CHAPTERS}

    def hashes():
        return {stem: book_build.chapter_library_hash(text, copy) for stem, text in sources.items()}

    def edit(name):
        path = copy / name
        path.write_text(path.read_text() + "\n# edited\n")

    before = hashes()
    assert before == hashes()
    files = book_build.library_files(sources["retina_cnns"], copy)
    names = {path.relative_to(copy).as_posix() for path in files}
    # What the chapter imports, what that imports inside a function (fit_cnn: torch_utils,
    # training) and by importlib, and the packages' __init__ files.
    assert {"__init__.py", "retina.py", "torch_utils.py", "training.py", "plotting.py", "exercises/__init__.py",
            "exercises/retina_cnns.py"} <= names
    assert "networks.py" not in names and "diffusion.py" not in names
    edit("retina.py")
    after = hashes()
    assert [stem for stem in sources if after[stem] != before[stem]] == ["retina_cnns"]
    edit("_validation.py")
    assert all(hashes()[stem] != after[stem] for stem in sources)


def test_a_change_to_the_library_reexecutes_the_chapters(tmp_path):
    """The execution cache keys a chapter on its code cells; the install cell carries the
    library's hash in its metadata, so that editing the library invalidates the cache."""
    import shutil

    import book_build
    import jupytext
    from jupyter_cache.cache.main import JupyterCacheBase

    copy = tmp_path / "statmech_dl"
    shutil.copytree(ROOT / "lib" / "statmech_dl", copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = book_build.library_hash(copy)
    assert before == book_build.library_hash(copy)
    (copy / "meanfield.py").write_text((copy / "meanfield.py").read_text() + "\n# edited\n")
    after = book_build.library_hash(copy)
    assert after != before
    chapter = CHAPTERS[0].read_text()
    cache = JupyterCacheBase(str(tmp_path / "cache"))
    keys = []
    for library in (before, after):
        text = book_build.add_install_cell(chapter, "https://github.com/o/r", "main", library)
        notebook = jupytext.reads(text, fmt="md:myst")
        assert notebook.cells[[c.cell_type for c in notebook.cells].index("code")].metadata["library_source"] == library
        keys.append(cache.create_hashed_notebook(notebook)[1])
    assert keys[0] != keys[1]


def test_make_test_provides_the_browser_for_the_exploration_check():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\bbrowser\b", makefile, flags=re.M)
    rule = makefile[makefile.index("\nbrowser:"):]
    assert "command -v chromium" in rule and "apt-get install -y -qq chromium" in rule
    assert '[ "$$(id -u)" = 0 ]' in rule, "install only where we may"
    # axe-core and MathJax for the accessibility audit, pinned by the lock file.
    assert "npm ci --prefix tests/browser" in rule
    lock = json.loads((ROOT / "tests" / "browser" / "package-lock.json").read_text())
    assert {"node_modules/axe-core", "node_modules/mathjax"} <= set(lock["packages"])


def test_bibliography_is_an_author_year_list():
    """Citations read "Saxe et al. (2014)"; the bibliography shows no [n] labels to match."""
    css = (ROOT / "_static" / "book.css").read_text()
    assert re.search(r"div\.citation-list div\.citation > span\.label \{\s*display: none;", css)
    bib = (ROOT / "book" / "bibliography.md").read_text()
    assert ":list:" not in bib, "citations resolve only against a citation list (the default)"
    assert CONFIG["sphinx"]["config"]["bibtex_reference_style"] == "author_year"
