"""Execute every chapter and record its wall time, peak memory and slowest cells; time the build and tests.

Usage: python tools/benchmark.py [--output book/_data/benchmark.csv] [--only CHAPTER ...]
       python tools/benchmark.py --build [--serial]   (a cold build from an empty cache)
       python tools/benchmark.py --tests              (the README's test command, make test)

Each chapter is converted with jupytext and executed by nbclient in a fresh
kernel, inside a separate process, so that the peak resident memory of that
process's children is the kernel's own. The results go to the CSV table shown
on the book's status page, with the chapter's three slowest cells (the line of
the chapter file where each starts, and its seconds); the budget is 60 s and
1.5 GB per chapter. Each chapter runs ``--repeat`` times (two by default), one
run after the other, and the table keeps the fastest run, with the times of
all of them: the book's machines are shared, and other work on them only ever
adds time (the same chapter's runs differed by up to 20% in one day). With --only, just the named chapters (file stems) are
measured again, and the other rows of the table are kept as they were, each
with its own date and machine.

--build and --tests add a row to book/_data/build.csv (what was timed, its
seconds, the number of cores, the date): a cold ``tools/build_book.py`` into an
empty folder (``--serial``: without the parallel execution first), or ``make
test`` (the virtual environment already made; from a fresh clone the build's
cache is empty, so it builds the book cold as well).
"""

import argparse
import csv
import datetime
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_files  # noqa: E402
import kernel_replies  # noqa: E402

#: The hard limit: beyond it `make benchmark` fails.
BUDGET_SECONDS = 60.0
BUDGET_MB = 1500.0
#: The aim on the machine that runs the benchmark (the book's slowest 2-core machine is about 1.5
#: times slower): the status page says, chapter by chapter, whether it is met.
AIM_SECONDS = 35.0
DEFAULT_OUTPUT = book_files.ROOT / "book" / "_data" / "benchmark.csv"
HEADER = ["Chapter", "Wall time (s)", "All runs (s)", "Peak memory (MB)", "Slowest cells (line: s)", "Within 35 s",
          "Measured on", "Source hash"]
BUILD_OUTPUT = book_files.ROOT / "book" / "_data" / "build.csv"
BUILD_HEADER = ["Measurement", "Seconds", "Cores", "Measured on"]


def source_hash(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def slowest_cells(path, nb, n=3):
    """``[(line, seconds)]`` of the ``n`` slowest code cells of the executed ``nb`` read from ``path``.

    The line is where the cell's code starts in the chapter file; the seconds are nbclient's
    record of the cell's execution (from its input reaching the kernel to its reply).
    """
    import datetime as dt

    text, position, found = Path(path).read_text(), 0, []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        at = text.find(cell.source, position) if cell.source else -1
        line = text.count("\n", 0, at) + 1 if at >= 0 else None
        position = at + len(cell.source) if at >= 0 else position
        timing = cell.metadata.get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (dt.datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            found.append((line, (end - start).total_seconds()))
    return sorted(found, key=lambda x: -x[1])[:n]


class _TreeMemory:
    """Samples the summed proportional set size (PSS) of this process's descendants: the kernel and its workers.

    A chapter that fits models in worker processes uses more memory than its largest process:
    PSS counts each shared page once across the processes that share it, so the sum is what
    the processes take together.
    """

    def __init__(self, every=0.1):
        import threading

        self.peak_mb, self._every = 0.0, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self._every):
            total_kb = 0
            for child in me.children(recursive=True):
                # smaps_rollup: the kernel's own sum, far cheaper to read than smaps.
                try:
                    with open(f"/proc/{child.pid}/smaps_rollup") as fh:
                        total_kb += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
                except (OSError, StopIteration, ValueError):
                    pass
            self.peak_mb = max(self.peak_mb, total_kb / 1024)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def execute(path):
    """Run one chapter in a fresh kernel; return (seconds, peak memory in MB, slowest cells).

    The peak memory is the larger of the largest process's peak resident set (the kernel's,
    or a worker's) and the peak of the processes' summed PSS, sampled every 0.1 s.
    """
    import jupytext
    from nbclient import NotebookClient

    kernel_replies.install()
    nb = jupytext.read(path)
    # The kernel is killed after the last cell: a polite shutdown waited, in about two runs of
    # five, 3.5 s for the kernel to exit, which is no part of the chapter's time.
    client = NotebookClient(nb, timeout=book_files.CELL_TIMEOUT, startup_timeout=book_files.STARTUP_TIMEOUT,
                            kernel_name="python3", record_timing=True, shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    with _TreeMemory() as tree:
        client.execute()
    seconds = time.perf_counter() - start
    # The kernel has exited and been reaped, so it is counted among our children.
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak_kb / 1024.0, tree.peak_mb), slowest_cells(path, nb)


def _machine():
    return f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores"


def time_command(name, argv):
    """Run ``argv`` from the repository's root, add its time to build.csv; return its exit code."""
    start = time.perf_counter()
    code = subprocess.run(argv, cwd=book_files.ROOT).returncode
    seconds = time.perf_counter() - start
    print(f"{name}: {seconds:.0f} s (exit code {code})")
    rows = []
    if BUILD_OUTPUT.exists():
        with open(BUILD_OUTPUT, newline="") as fh:
            rows = [r for r in list(csv.reader(fh))[1:] if r and r[0] != name]
    rows.append([name, f"{seconds:.0f}", str(len(os.sched_getaffinity(0))),
                 f"{datetime.date.today().isoformat()} ({_machine()})" + ("" if code == 0 else ", FAILED")])
    with open(BUILD_OUTPUT, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(BUILD_HEADER)
        writer.writerows(rows)
    return code


def _upgrade(row):
    """A row of an older table in the columns of HEADER."""
    if len(row) == len(HEADER) - 2:          # before the slowest cells and the repeated runs
        row = row[:3] + [""] + row[3:]
    if len(row) == len(HEADER) - 1:          # before the repeated runs: one run
        row = row[:2] + [row[1]] + row[2:]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="+", metavar="CHAPTER",
                        help="measure only these chapters (file stems) and keep the other rows")
    parser.add_argument("--build", action="store_true", help="time a cold build into an empty folder")
    parser.add_argument("--serial", action="store_true", help="with --build: no parallel execution first")
    parser.add_argument("--tests", action="store_true", help="time make test")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each chapter; the fastest is kept (default 2)")
    args = parser.parse_args(argv)

    if args.one:
        seconds, mb, cells = execute(args.one)
        print(json.dumps({"seconds": seconds, "peak_mb": mb, "cells": cells}))
        return 0
    if args.build:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            name = "Cold make book" + (", chapters one at a time" if args.serial else "")
            return time_command(name, [sys.executable, str(Path(__file__).parent / "build_book.py"),
                                       *(["--serial"] if args.serial else []), "--path-output", folder,
                                       "--warningiserror", "--nitpick", "--keep-going"])
    if args.tests:
        return time_command("make test", ["make", "test"])

    rows, failed = [], False
    machine = _machine()
    kept = {}
    if args.only:
        stems = {c.stem for c in book_files.chapters()}
        unknown = set(args.only) - stems
        if unknown:
            parser.error(f"no chapter named {sorted(unknown)}; the chapters are {sorted(stems)}")
        if args.output.exists():
            with open(args.output, newline="") as fh:
                kept = {r[0]: _upgrade(r) for r in list(csv.reader(fh))[1:] if r and r[0] not in args.only}
    for chapter in book_files.chapters():
        if chapter.stem in kept:
            rows.append(kept[chapter.stem])
            continue
        if args.only and chapter.stem not in args.only:
            continue
        rel = chapter.relative_to(book_files.ROOT)
        runs = []
        for _ in range(max(args.repeat, 1)):
            proc = subprocess.run([sys.executable, __file__, "--one", str(chapter)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{rel}: FAILED\n{proc.stderr[-3000:]}", file=sys.stderr)
                break
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        else:
            result = min(runs, key=lambda r: r["seconds"])
            peak = max(r["peak_mb"] for r in runs)
            ok = result["seconds"] <= BUDGET_SECONDS and peak <= BUDGET_MB
            failed |= not ok
            times = ", ".join(f"{r['seconds']:.1f}" for r in runs)
            print(f"{rel}: {result['seconds']:.1f} s (runs: {times}), {peak:.0f} MB peak"
                  f"{'' if ok else '  OVER BUDGET'}")
            cells = "; ".join(f"{line}: {sec:.1f}" for line, sec in result["cells"])
            aim = result["seconds"] <= AIM_SECONDS and peak <= BUDGET_MB
            rows.append([chapter.stem, f"{result['seconds']:.1f}", times, f"{peak:.0f}", cells,
                         "yes" if aim else "no", f"{datetime.date.today().isoformat()} ({machine})",
                         source_hash(chapter)])
            continue
        failed = True

    if rows:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            writer.writerows(rows)
        print(f"wrote {args.output.relative_to(book_files.ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
