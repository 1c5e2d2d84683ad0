"""The whole book as one PDF (make pdf), from the execution cache the website's build filled."""

import os
import re
import subprocess

import pytest

from book_site import BUILD_TIMEOUT, CHAPTERS, ROOT, page

pytestmark = pytest.mark.book


PDF_TOOLS = ("xelatex", "latexmk", "pdftotext", "pdfimages")


@pytest.fixture(scope="module")
def pdf(built):
    """The book as one PDF, built by make pdf from the execution cache the website's build filled."""
    import shutil

    missing = [tool for tool in PDF_TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"no {', '.join(missing)}: make pdf needs Debian's TeX Live (make test installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.run(["make", "pdf"], cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert proc.returncode == 0, f"make pdf failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"
    assert "Executing notebook" not in proc.stdout and "executing" not in proc.stdout, "the PDF re-executed chapters"
    path = ROOT / "_build" / "latex" / "statmech-dl.pdf"
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return {"path": path, "text": text, "log": (path.parent / "statmech-dl.log").read_text(errors="replace")}


def test_the_pdf_has_every_chapter_numbered_as_on_the_website(pdf, built):
    import book_build

    text = pdf["text"]
    for number, chapter in enumerate(CHAPTERS, start=1):
        title = re.search(r"^# (.+)$", chapter.read_text(), flags=re.M).group(1).strip()
        assert f"Chapter {number}. {title}" in text, f"{title} is not chapter {number} in the PDF"
        # The website's first equation of the chapter is numbered (n.1), as in the PDF.
        assert f'<span class="eqno">({number}.1)' in page(built, f"book/{chapter.stem}")
        assert f"({number}.1)" in text
    assert "??" not in text, "an unresolved reference"
    assert "There were undefined references" not in pdf["log"]
    assert text.count(book_build.EXPLORATION_NOTE.split(".")[0]) == len(CHAPTERS), "each exploration says it moves"
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf["path"])], capture_output=True,
                                                              text=True, check=True).stdout).group(1))
    assert 200 <= pages <= 800, pages
    images = subprocess.run(["pdfimages", "-list", str(pdf["path"])], capture_output=True, text=True,
                            check=True).stdout.splitlines()[2:]
    figures = sum(len(re.findall(r"<img\b", page(built, f"book/{c.stem}"))) for c in CHAPTERS)
    assert len(images) >= figures - len(CHAPTERS), "every figure is embedded (the Binder logo aside)"
    assert (built / "statmech-dl.pdf").read_bytes() == pdf["path"].read_bytes(), "the website serves the PDF"
    assert 'href="../statmech-dl.pdf"' in page(built, "book/intro")
