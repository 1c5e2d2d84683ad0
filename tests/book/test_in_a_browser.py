"""The built pages in headless Chromium: every page passes axe-core's accessibility audit, the
reproduction page fits the screen and filters, and each exploration's sliders work without a
kernel or network."""

import os
from pathlib import Path

import pytest

from book_site import CHAPTERS, book_build_verdicts, executed_claims

pytestmark = pytest.mark.book


@pytest.fixture(scope="module")
def audit(built):
    """axe-core's audit of every page at 1280 px (tools/page_audit.py), written beside the site."""
    import page_audit

    missing = page_audit.available()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the browser checks' tooling: {missing}")
        pytest.skip(missing)
    reports = page_audit.audit_all(built)
    (built.parent / "accessibility.txt").write_text(page_audit.summary(reports) + "\n")
    return reports


def test_every_page_passes_the_accessibility_audit(audit, built):
    """WCAG 2.1 A and AA in axe-core: no violation of impact serious or critical on any page;
    the rest are listed in _build/accessibility.txt."""
    import page_audit

    assert len(audit) >= len(CHAPTERS) + 20, "every page of the site is audited"
    assert all(r["maths_typeset"] > 0 for name, r in audit.items() if Path(name).stem in
               {c.stem for c in CHAPTERS}), "MathJax rendered the chapters' maths (from the local tooling)"
    failing = {name: page_audit.failing(r) for name, r in audit.items() if page_audit.failing(r)}
    assert not failing, page_audit.summary({name: audit[name] for name in failing})


def test_reproduction_page_needs_no_sideways_scrolling_and_filters_by_verdict(audit, built):
    """At 1280 px and at a phone's 390 px nothing on the page scrolls sideways (the maths
    rendered); each verdict button shows exactly that verdict's claims, "all" shows every one."""
    import book_build
    import page_audit

    desktop = audit[str(Path("book") / "reproduction.html")]
    assert desktop["scrollers"] == [], desktop["scrollers"]
    phone = page_audit.audit(built / "book" / "reproduction.html", width=390)
    assert phone["scrollers"] == [], phone["scrollers"]
    records = [rec for records in executed_claims(built).values() for rec in records]
    chapters = {chapter: {rec["verdict"] for rec in recs} for chapter, recs in executed_claims(built).items()}
    shown = desktop["filter"]
    assert shown["all"] == {"claims": [rec["key"] for rec in records], "chapters": len(chapters)}
    for verdict in book_build_verdicts():
        option = shown[book_build.verdict_class(verdict)]
        assert option["claims"] == [rec["key"] for rec in records if rec["verdict"] == verdict], verdict
        assert option["chapters"] == sum(verdict in v for v in chapters.values()), verdict


def test_explorations_respond_in_a_browser_without_a_kernel_or_network(built):
    """Headless Chromium opens each chapter page offline and moves every slider of its
    exploration: the picture changes to the frame of the new setting, and the page has no
    other controls (no ipywidgets) that would do nothing without a kernel."""
    import browser_check

    if browser_check.chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for this check: make test installs it as root")
        pytest.skip("no chromium here: apt-get install chromium (make test does it as root)")
    for chapter in CHAPTERS:
        report = browser_check.check(built / "book" / f"{chapter.stem}.html")
        assert report["dead_controls"] == 0 and report["widget_views"] == 0, chapter.stem
        assert len(report["scrubbers"]) == 1, chapter.stem
        scrub = report["scrubbers"][0]
        assert scrub["ready"] and scrub["before_matches"], f"{chapter.stem}: the script did not start"
        assert len(scrub["moves"]) == scrub["sliders"] == len(scrub["shape"])
        for move in scrub["moves"]:
            assert move["image_changed"] and move["shows_expected"], f"{chapter.stem}: {move}"
            assert move["to"] == move["expected"] != move["from"]
