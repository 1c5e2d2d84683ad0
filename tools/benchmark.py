"""Execute every chapter and record its wall time and peak memory.

Usage: python tools/benchmark.py [--output book/_data/benchmark.csv] [--only CHAPTER ...]

Each chapter is converted with jupytext and executed by nbclient in a fresh
kernel, inside a separate process, so that the peak resident memory of that
process's children is the kernel's own. The results go to the CSV table shown
on the book's status page; the budget is 60 s and 1.5 GB per chapter. With
--only, just the named chapters (file stems) are measured again, and the other
rows of the table are kept as they were, each with its own date and machine.
"""

import argparse
import csv
import datetime
import hashlib
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_files  # noqa: E402

BUDGET_SECONDS = 60.0
BUDGET_MB = 1500.0
DEFAULT_OUTPUT = book_files.ROOT / "book" / "_data" / "benchmark.csv"
HEADER = ["Chapter", "Wall time (s)", "Peak memory (MB)", "Within budget", "Measured on", "Source hash"]


def source_hash(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def execute(path):
    """Run one chapter in a fresh kernel; return (seconds, kernel peak RSS in MB)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=book_files.CELL_TIMEOUT, startup_timeout=book_files.STARTUP_TIMEOUT,
                            kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    # The kernel has exited and been reaped, so it is counted among our children.
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / 1024.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="+", metavar="CHAPTER",
                        help="measure only these chapters (file stems) and keep the other rows")
    args = parser.parse_args(argv)

    if args.one:
        seconds, mb = execute(args.one)
        print(json.dumps({"seconds": seconds, "peak_mb": mb}))
        return 0

    rows, failed = [], False
    machine = f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores"
    kept = {}
    if args.only:
        stems = {c.stem for c in book_files.chapters()}
        unknown = set(args.only) - stems
        if unknown:
            parser.error(f"no chapter named {sorted(unknown)}; the chapters are {sorted(stems)}")
        if args.output.exists():
            with open(args.output, newline="") as fh:
                kept = {r[0]: r for r in list(csv.reader(fh))[1:] if r and r[0] not in args.only}
    for chapter in book_files.chapters():
        if chapter.stem in kept:
            rows.append(kept[chapter.stem])
            continue
        if args.only and chapter.stem not in args.only:
            continue
        rel = chapter.relative_to(book_files.ROOT)
        proc = subprocess.run([sys.executable, __file__, "--one", str(chapter)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{rel}: FAILED\n{proc.stderr[-3000:]}", file=sys.stderr)
            failed = True
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        ok = result["seconds"] <= BUDGET_SECONDS and result["peak_mb"] <= BUDGET_MB
        failed |= not ok
        print(f"{rel}: {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB peak"
              f"{'' if ok else '  OVER BUDGET'}")
        rows.append([chapter.stem, f"{result['seconds']:.1f}", f"{result['peak_mb']:.0f}",
                     "yes" if ok else "NO", f"{datetime.date.today().isoformat()} ({machine})",
                     source_hash(chapter)])

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
