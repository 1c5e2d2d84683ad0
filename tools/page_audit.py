"""Audit the built website's pages in headless Chromium, offline: accessibility and sideways scrolling.

Usage: python tools/page_audit.py _build/html [--width 1280] [--json report.json]
       python tools/page_audit.py _build/html/book/reproduction.html --screenshot out.png [--width 390]

Each page is copied beside itself with two scripts added from the test tooling
(``tests/browser``, installed by ``make test`` with ``npm ci``; nothing comes from a
CDN): MathJax, in place of the CDN copy the website loads, so that the maths is
rendered as a reader sees it; and axe-core, which audits the page against WCAG 2.1
A and AA once MathJax has finished. The probe also lists every element of the page's
article that scrolls sideways at the window's width. The report is printed (or
written as JSON): for each page, axe-core's violations with their impact, and the
scrolling elements; on a page with the reproduction page's verdict filter, the claims
that stay visible under each of its options, chosen one after another as a reader would.
"""

import argparse
import concurrent.futures
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import browser_check

TOOLING = Path(__file__).resolve().parents[1] / "tests" / "browser" / "node_modules"
AXE = TOOLING / "axe-core" / "axe.min.js"
MATHJAX = TOOLING / "mathjax" / "es5" / "tex-mml-chtml.js"
#: The impacts that fail the audit (axe-core's scale: minor, moderate, serious, critical).
FAILING = ("serious", "critical")

_CDN_MATHJAX = re.compile(r'src="https://cdn\.jsdelivr\.net/npm/mathjax@3/es5/tex-mml-chtml\.js"')

_PROBE = """<script>
window.addEventListener("load", function () {
  function report(data) {
    var pre = document.createElement("pre");
    pre.id = "statmech-audit-report";
    pre.textContent = JSON.stringify(data);
    document.body.appendChild(pre);
  }
  var mathjax = window.MathJax && MathJax.startup && MathJax.startup.promise;
  Promise.resolve(mathjax).then(function () {
    var scrollers = [];
    document.querySelectorAll("article *").forEach(function (el) {
      var x = getComputedStyle(el).overflowX;
      if ((x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1) {
        scrollers.push({tag: el.tagName.toLowerCase(), classes: String(el.className).slice(0, 80),
                        scroll_width: el.scrollWidth, width: el.clientWidth,
                        text: el.textContent.replace(/\\s+/g, " ").trim().slice(0, 80)});
      }
    });
    var typeset = document.querySelectorAll("mjx-container").length;
    return axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                             "best-practice"]},
                              resultTypes: ["violations"]}).then(function (results) {
      // The reproduction page's filter, after the audit: each option in turn, and what stays visible.
      var shown = {};
      document.querySelectorAll('input[name="verdict-filter"]').forEach(function (input) {
        input.checked = true;
        input.dispatchEvent(new Event("change", {bubbles: true}));
        var visible = function (el) { return el.getClientRects().length > 0; };
        shown[input.value] = {
          claims: Array.prototype.filter.call(document.querySelectorAll(".claim"), visible)
                    .map(function (el) { return el.id.replace(/^claim-/, ""); }),
          chapters: Array.prototype.filter.call(document.querySelectorAll(".reproduction-chapter"), visible).length};
      });
      report({maths_typeset: typeset, scrollers: scrollers, filter: shown,
              violations: results.violations.map(function (v) {
                var first = v.nodes[0] && v.nodes[0].any && v.nodes[0].any[0];
                return {id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
                        targets: v.nodes.slice(0, 3).map(function (n) { return n.target.join(" "); }),
                        detail: first && first.message ? first.message : ""};
              })});
    });
  }).catch(function (err) { report({error: String(err)}); });
});
</script>"""


def available():
    """None if the audit can run here, else what is missing."""
    if browser_check.chromium() is None:
        return "no chromium: apt-get install chromium (make test does it as root)"
    if not AXE.exists() or not MATHJAX.exists():
        return ("no axe-core and MathJax in tests/browser/node_modules: "
                "npm ci --prefix tests/browser (make test does it)")
    return None


def pages(root):
    """Every page of a built website: all but the search page, the generated indices and redirects."""
    root = Path(root)
    skip = {"search.html", "genindex.html", "py-modindex.html"}
    return sorted(p for p in root.rglob("*.html")
                  if not {"_static", "_sources", "_images"} & set(p.relative_to(root).parts)
                  and p.name not in skip and not p.name.endswith((".audit.html", ".browser-check.html"))
                  and 'http-equiv="Refresh"' not in p.read_text(encoding="utf-8")[:2000])


def _prepared(page):
    text = page.read_text(encoding="utf-8")
    text, n = _CDN_MATHJAX.subn(f'src="{MATHJAX.as_uri()}"', text)
    head = f'<script src="{AXE.as_uri()}"></script>'
    return text.replace("</head>", head + "</head>", 1).replace("</body>", _PROBE + "</body>", 1)


def audit(page, width=1280, height=900, screenshot=None, timeout=180):
    """Open ``page`` offline at ``width`` px, let MathJax render it, run axe-core; return the report."""
    missing = available()
    if missing:
        raise RuntimeError(missing)
    page = Path(page).resolve()
    probe = page.with_name(page.stem + ".audit.html")
    probe.write_text(_prepared(page), encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="statmech-audit-")
    try:
        command = browser_check.offline_command(profile, (width, height), budget_ms=60000, hide_scrollbars=True)
        report = browser_check.probe_report(command, probe, "statmech-audit-report", timeout)
        if "error" in report:
            raise RuntimeError(f"{page.name}: the audit failed in the page: {report['error']}")
        if screenshot:
            subprocess.run(command + [f"--screenshot={Path(screenshot).resolve()}", probe.as_uri()],
                           capture_output=True, timeout=timeout, check=True)
        return report
    finally:
        probe.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)


def audit_all(root, width=1280, workers=2):
    """{page relative to root: report} for every page of the site, ``workers`` browsers at a time."""
    root = Path(root)
    todo = pages(root)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        reports = list(pool.map(lambda p: audit(p, width=width), todo))
    return {str(p.relative_to(root)): r for p, r in zip(todo, reports)}


def failing(report):
    """The violations of impact serious or critical."""
    return [v for v in report["violations"] if v["impact"] in FAILING]


def summary(reports):
    """One line per page: violations by impact, then the failing ones named."""
    lines = []
    for name, report in reports.items():
        by_impact = {}
        for v in report["violations"]:
            by_impact[v["impact"]] = by_impact.get(v["impact"], 0) + v["count"]
        counts = ", ".join(f"{n} {k}" for k, n in sorted(by_impact.items())) or "no violation"
        lines.append(f"{name}: {counts}; {len(report['scrollers'])} scrolling element(s)")
        for v in report["violations"]:
            lines.append(f"    [{v['impact']}] {v['id']} x{v['count']}: {v['help']} ({'; '.join(v['targets'])})")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a built page, or the website's folder (every page)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--screenshot", help="with one page: photograph it too")
    parser.add_argument("--json", help="write the reports here as JSON")
    args = parser.parse_args(argv)
    target = Path(args.target)
    if target.is_dir():
        reports = audit_all(target, width=args.width)
    else:
        reports = {target.name: audit(target, args.width, args.height, screenshot=args.screenshot)}
    print(summary(reports))
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))
    return 1 if any(failing(r) for r in reports.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
