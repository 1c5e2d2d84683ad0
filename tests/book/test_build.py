"""The website builds with warnings as errors, and shows what a reader needs.

Builds into the repository's _build folder, sharing the execution cache with
``make book``: the build executes every chapter (once; a cached chapter is not
executed again), once per test run whichever test file asks first
(``book_site.py``). Then checks the built pages. The second execution of each
chapter's download is in ``test_downloads.py``, the PDF in ``test_pdf.py``, and
the checks in a headless browser in ``test_in_a_browser.py``, so that
pytest-xdist's workers share them.
"""

import hashlib
import os
import json
import math
import re
import subprocess
import sys

import jupytext
import nbformat
import pytest
import yaml

import book_files
from book_site import CHAPTERS, ROOT, book_build_verdicts, build_once, executed_claims, page

pytestmark = pytest.mark.book


def test_the_build_executes_no_chapter_itself(built, testrun_uid):
    """tools/build_book.py executes the chapters on every core into the cache before the build;
    myst-nb then finds each in the cache and executes none, one after another, itself. That
    shows the parallel step's notebooks hash as myst-nb's do (a mismatch would execute twice)."""
    log = build_once(testrun_uid)
    executed = [line for line in log.splitlines() if "Executing notebook using" in line]
    assert not executed, "the build executed chapters the parallel step should have:\n" + "\n".join(executed)


def test_front_matter(built):
    intro = page(built, "book/intro")
    for topic in ("Who it is for", "How to read it", "How to run a chapter", "How to use it in a course"):
        assert topic in intro
    assert "Notation" in page(built, "book/notation")
    bib = page(built, "book/bibliography")
    assert "Saxe" in bib and "Rogers" in bib
    status = page(built, "book/status")
    assert "Wall time (s)" in status and "Peak memory (MB)" in status, "benchmark table missing"
    for chapter in CHAPTERS:
        digest = hashlib.sha256(chapter.read_bytes()).hexdigest()[:12]
        assert f"<td><p>{chapter.stem}</p></td>" in status, f"no benchmark row for {chapter.stem}"
        assert digest in status, f"the status page shows a stale measurement of {chapter.stem}"
    assert "Execution during the last build" in status
    assert (built / "index.html").exists()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_page(built, chapter):
    html = page(built, f"book/{chapter.stem}")
    # Figures with numbered captions, equations, citations, exercises and solutions.
    # At least five figures, the exploration's (its frames embedded in the page) among them.
    figures = len(re.findall(r"<img [^>]*src=\"../_images/", html)) + html.count('class="statmech-scrubber"')
    assert figures >= 5
    assert re.search(r"Fig\. \d+\.\d+", html), "figures need numbered captions"
    assert re.search(r'class="math notranslate nohighlight"', html)
    assert re.search(r'id="equation-eq-', html)
    # An author-year citation in the text links to its entry in the bibliography.
    assert re.search(r'<a class="reference internal" href="bibliography\.html#id\d+"', html), "no citation link"
    n_exercises = html.count('class="exercise admonition"')
    assert n_exercises >= 3
    assert html.count('class="solution dropdown admonition"') == n_exercises, "every solution is gated"
    # The exploration works without a kernel: frames embedded, a slider per parameter. No
    # ipywidgets reach the page, whose sliders would be dead there; the live version's source does.
    scrubber = re.search(r'<div class="statmech-scrubber" id="[\w-]+" data-frame="(\d+)">', html)
    assert scrubber, "no kernel-free exploration on the page"
    data = json.loads(re.search(r'class="statmech-scrubber-data">(.*?)</script>', html, flags=re.S).group(1))
    assert len(data["frames"]) == math.prod(data["shape"]) >= 4
    assert html.count('<input type="range"') == len(data["shape"])
    assert "application/vnd.jupyter.widget-view+json" not in html
    assert "application/vnd.jupyter.widget-state+json" not in html
    assert "embed-amd" not in html and "require.min.js" not in html
    code = re.sub(r"<[^>]+>", "", html)  # the highlighted source, as text
    assert "widgets.interact(\n    exploration.live(" in code, "the live version's code is shown"
    # Launch button: Binder, from the one repository URL, opening the chapter in JupyterLab.
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].rstrip("/").split("github.com/")[1]
    assert f"mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/book/{chapter.stem}.md" in html
    assert f"_sources/book/{chapter.stem}.ipynb" in html


def test_downloaded_notebook_without_the_library_says_what_to_run(built):
    """The install cell: first code cell of every download, removed from the web page.

    Run where the library is absent and cannot be installed (here the network is
    closed, and pip is told to use no index), it fails with a message that says
    what to run, not with a bare ModuleNotFoundError. Where the library is
    present it does nothing, which the nbval execution above shows.
    """
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"].rstrip("/")
    for chapter in CHAPTERS:
        nb = nbformat.read(built / "_sources" / "book" / f"{chapter.stem}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "install-library" in code[0].metadata.get("tags", []), f"{chapter.stem}: no install cell first"
        assert f"git+{url}@{config['repository']['branch']}" in code[0].source, "install from the configured repo"
        assert "Installs the book's library" not in page(built, f"book/{chapter.stem}"), "the cell shows on the web"
    script = "import sys\nsys.modules['statmech_dl'] = None  # the library is absent\n" + code[0].source
    env = dict(os.environ, PIP_NO_INDEX="1", GIT_TERMINAL_PROMPT="0")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert "RuntimeError: This chapter needs the library statmech_dl" in proc.stderr, proc.stderr[-2000:]
    assert "pip install 'statmech-dl[widgets] @ git+" in proc.stderr
    assert "ModuleNotFoundError" not in proc.stderr


def test_binder_equation_numbers_are_the_websites(built):
    """Binder shows references to other chapters' equations as numbers: the same as the built pages."""
    import binder_prepare

    for label, number in binder_prepare.equation_numbers().items():
        chapter = next(c for c in CHAPTERS if re.search(rf"^\$\$ *\({label}\)", c.read_text(), flags=re.M))
        shown = f'<span class="eqno">{number}<a class="headerlink" href="#equation-{label}"'
        assert shown in page(built, f"book/{chapter.stem}"), f"{label} is not {number} on the website"


# --- the reproduction page -----------------------------------------------------------

def recorded_keys(chapter):
    """Keys of the reproduction.record(...) calls in a chapter's source."""
    code = "\n".join(c.source for c in jupytext.read(chapter).cells if c.cell_type == "code")
    return re.findall(r"reproduction\.record\(\s*\"([\w-]+)\"", code)


def test_every_chapter_records_its_claims(built):
    import book_build
    from statmech_dl import reproduction

    assert book_build.CLAIM_KEY == reproduction.METADATA_KEY
    for chapter, records in executed_claims(built).items():
        assert records, f"{chapter} records no claim for the reproduction page"
        for rec in records:
            assert rec["source_value"].strip(), f"{rec['key']} has no source value"
            assert rec["verdict"] in reproduction.VERDICTS
            if rec["verdict"] == "not tested":
                assert rec["holds"] is None and rec["error"] is None and rec["why"].strip()
                continue
            holds = rec["error"] <= rec["tolerance"] if rec["error"] is not None else rec["holds"]
            assert holds == (rec["verdict"] != "not reproduced"), f"{rec['key']}: verdict against its tolerance"
            assert rec["key"].startswith(book_files.LABEL_PREFIXES[chapter] + "-")


def test_reproduction_page_lists_exactly_the_recorded_claims(built):
    import book_build

    html = page(built, "book/reproduction")
    on_page = re.findall(r'<div class="claim [^"]*" id="claim-([\w-]+)"', html)
    in_sources = [key for chapter in CHAPTERS for key in recorded_keys(chapter)]
    executed = {rec["key"] for records in executed_claims(built).values() for rec in records}
    assert set(in_sources) == executed, "an executed chapter and its source disagree: rebuild without the cache"
    assert on_page == in_sources, "the page lists every claim once, chapter by chapter in book order"
    text = re.sub(r"<[^>]+>", "", html)
    assert re.search(r"\d+ claims from \d+ chapters: \d+ reproduced, \d+ reproduced, scaled down, "
                     r"\d+ qualitative only, \d+ not reproduced, \d+ not tested\.", text)
    assert re.search(r"Built on \d{4}-\d{2}-\d{2} from chapter sources [0-9a-f]{12}", text)
    # Each chapter heads its claims, in book order, with a count of its verdicts.
    headings = re.findall(r'<h2 class="reproduction-chapter-title"><a class="reference internal" '
                          r'href="(\w+)\.html">', html)
    assert headings == [c.stem for c in CHAPTERS]
    for chapter, records in executed_claims(built).items():
        verdicts = [rec["verdict"] for rec in records]
        parts = ", ".join(f"{verdicts.count(v)} {v}" for v in book_build_verdicts() if v in verdicts)
        assert f"{len(records)} claims: {parts}." in text or f"1 claim: {parts}." in text, chapter
    # Maths and equation references in the records are rendered, not shown as markup.
    claims = html[html.index('<div class="reproduction-claims'):html.index("<footer")]
    assert "{eq}" not in claims and "$" not in claims and "<table" not in claims
    assert '<span class="math notranslate nohighlight">' in claims
    assert re.search(r'<a class="reference internal" href="[\w_]+\.html#equation-eq-[\w-]+">\(\d+\.\d+\)', claims)
    # The filter: a radio button per verdict and one for all, and no script of its own.
    options = re.findall(r'<input type="radio" name="verdict-filter" id="show-([\w-]+)"', html)
    assert options == ["all"] + [book_build.verdict_class(v) for v in book_build_verdicts()]
    assert 'href="reproduction.html' in page(built, "book/status")
    assert 'href="reproduction.html' in page(built, "book/intro")


def test_a_build_from_the_execution_cache_keeps_every_output(built):
    """A chapter taken from the execution cache still has its outputs in the download: myst-nb 1.4
    writes cached chapters without them, and tools/book_build.py puts them back.

    The session's build is such a build: tools/build_book.py fills the cache first, and the build
    takes every chapter from it (test_the_build_executes_no_chapter_itself). So each download must
    hold exactly the outputs that the cache recorded for its code, and the reproduction page,
    made from those outputs, every claim (test_reproduction_page_lists_exactly_the_recorded_claims).
    """
    from jupyter_cache import get_cache

    cache = get_cache(str(built.parent / ".jupyter_cache"))
    for chapter in CHAPTERS:
        download = nbformat.read(built / "_sources" / "book" / f"{chapter.stem}.ipynb", as_version=4)
        _, cached = cache.merge_match_into_notebook(download)   # KeyError: not from the cache
        got = [cell.outputs for cell in download.cells if cell.cell_type == "code"]
        assert any(got), f"{chapter.stem}: the download has no outputs"
        assert got == [cell.outputs for cell in cached.cells if cell.cell_type == "code"], chapter.stem


# --- pages every reader can use ------------------------------------------------------

def test_every_image_says_what_it_shows(built):
    """No image's alt text is empty or a file name (a screen reader would read out a hash);
    a figure's says what it shows, in a sentence (tools/book_build.py takes its caption)."""
    import book_build

    assert book_build.needs_alt({"uri": "../_images/ab12.png", "alt": "../_images/ab12.png"})
    import page_audit

    seen = 0
    # The book's pages (the generated indices' toggle icons are Sphinx's, with alt "-").
    for path in page_audit.pages(built):
        for tag in re.findall(r"<img\b[^>]*>", path.read_text(encoding="utf-8")):
            alt = re.search(r'\balt="([^"]*)"', tag)
            alt = alt.group(1).strip() if alt else ""
            where = f"{path.relative_to(built)}: {tag[:120]}"
            assert alt and not book_build.looks_like_path(alt), f"no alt text, or a path: {where}"
            if "logo" not in alt.lower():
                assert len(alt.split()) >= 4, f"alt text that is not a sentence: {where}"
                seen += 1
    assert seen >= 2 * len(CHAPTERS), "expected the chapters' figures"
