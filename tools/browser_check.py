"""Move the sliders of a built page's explorations in a headless browser, offline.

Usage: python tools/browser_check.py _build/html/book/<chapter>.html [--screenshot out.png [--before]]

The page is copied beside itself with a probe script added; Debian's chromium
opens it from disk with every host name unresolvable, so nothing can come from the
network. For each kernel-free exploration (statmech_dl.exploration) the probe
records the frame shown, moves each slider to its other end as a reader would
(an ``input`` event), and records the frame shown then and whether it is the one
the grid puts there. It also counts range inputs and widget views outside the
explorations: controls that could do nothing without a kernel. The report is
printed as JSON; with ``--screenshot`` the first exploration's cell is
photographed, alone in the page's article, after the move (or before it, with ``--before``).
"""

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_PROBE = """<script>
window.addEventListener("load", function () {
  var report = {scrubbers: [], dead_controls: 0, widget_views: 0};
  var roots = document.querySelectorAll(".statmech-scrubber");
  roots.forEach(function (root) {
    var data = JSON.parse(root.querySelector(".statmech-scrubber-data").textContent);
    var image = root.querySelector(".statmech-scrubber-frame");
    var sliders = root.querySelectorAll("input[type=range]");
    var entry = {frames: data.frames.length, shape: data.shape, sliders: sliders.length,
                 ready: root.getAttribute("data-ready") === "1",
                 before: Number(root.getAttribute("data-frame")), moves: []};
    entry.before_matches = image.src === "data:image/png;base64," + data.frames[entry.before];
    if (MOVE) {
      sliders.forEach(function (slider, k) {
        var from = Number(root.getAttribute("data-frame"));
        var old = image.src;
        slider.value = String(slider.value === slider.max ? slider.min : slider.max);
        slider.dispatchEvent(new Event("input", {bubbles: true}));
        var index = 0;
        sliders.forEach(function (s, j) { index = index * data.shape[j] + Number(s.value); });
        entry.moves.push({slider: k, from: from, to: Number(root.getAttribute("data-frame")),
                          expected: index, image_changed: image.src !== old,
                          shows_expected: image.src === "data:image/png;base64," + data.frames[index],
                          value_text: slider.parentElement.querySelector("output").textContent});
      });
    }
    report.scrubbers.push(entry);
  });
  document.querySelectorAll("input[type=range]").forEach(function (input) {
    if (!input.closest(".statmech-scrubber")) { report.dead_controls += 1; }
  });
  report.widget_views = document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"], .jupyter-widgets').length;
  if (ISOLATE && roots.length) {
    // For the photograph: the page's article keeps only the exploration's cell.
    var cell = roots[0].closest(".cell") || roots[0];
    var article = document.querySelector("article") || document.body;
    article.replaceChildren(cell);
    window.scrollTo(0, 0);
  }
  var pre = document.createElement("pre");
  pre.id = "statmech-browser-report";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
});
</script>"""


def chromium():
    """Path of a Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def offline_command(profile, size, budget_ms=15000, hide_scrollbars=False):
    """Headless Chromium's command line, offline: every host name fails to resolve, and pages
    from disk may load files beside them. ``budget_ms`` of virtual time lets a page's scripts finish."""
    browser = chromium()
    if browser is None:
        raise RuntimeError("no chromium on this machine: apt-get install chromium")
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--allow-file-access-from-files", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--window-size={size[0]},{size[1]}",
            f"--virtual-time-budget={budget_ms}"] + (["--hide-scrollbars"] if hide_scrollbars else [])


def probe_report(command, page, report_id, timeout):
    """Open ``page`` (a probe copy) with ``command``; return the JSON its script wrote into
    ``<pre id=report_id>``."""
    out = subprocess.run(command + ["--dump-dom", Path(page).as_uri()], capture_output=True, text=True,
                         timeout=timeout)
    found = re.search(rf'<pre id="{report_id}"[^>]*>(.*?)</pre>', out.stdout, flags=re.S)
    if found is None:
        raise RuntimeError(f"{Path(page).name}: the probe did not report; chromium said:\n{out.stderr[-3000:]}")
    return json.loads(html.unescape(found.group(1)))


def check(page, move=True, screenshot=None, size=(1280, 1500), timeout=120):
    """Open ``page`` offline in headless Chromium, move each exploration's sliders; return the report."""
    page = Path(page).resolve()
    probe = page.with_name(page.stem + ".browser-check.html")
    text = page.read_text(encoding="utf-8")
    script = _PROBE.replace("MOVE", "true" if move else "false")
    probe.write_text(text.replace("</body>", script.replace("ISOLATE", "false") + "</body>"), encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="statmech-chromium-")
    try:
        command = offline_command(profile, size)
        report = probe_report(command, probe, "statmech-browser-report", timeout)
        if screenshot:
            probe.write_text(text.replace("</body>", script.replace("ISOLATE", "true") + "</body>"),
                             encoding="utf-8")
            subprocess.run(command + [f"--screenshot={Path(screenshot).resolve()}", probe.as_uri()],
                           capture_output=True, timeout=timeout, check=True)
        return report
    finally:
        probe.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page")
    parser.add_argument("--screenshot")
    parser.add_argument("--before", action="store_true", help="photograph before moving the sliders")
    args = parser.parse_args(argv)
    report = check(args.page, move=not args.before, screenshot=args.screenshot)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
