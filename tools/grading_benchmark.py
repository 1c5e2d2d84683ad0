"""Measure grading: the time per submission of every chapter, a class of 100, and a Dask cluster.

Usage: python tools/grading_benchmark.py [--output book/_data/grading.csv] [--skip-chapters]

* **Per chapter**: the instructor's solution and a mixed submission (solutions, unchanged stubs,
  wrong answers) of every chapter, graded one at a time (``workers=0``) so that each time is
  the submission's own: sandbox, kernel, the cells the exercises need, the verdicts and the
  feedback page.
* **A class**: 100 submissions of *Semantic development* (correct, wrong on each exercise,
  unchanged, answers that do not run, broken files) graded as ``make grade`` grades them, on a
  local Dask cluster of one worker per core. Each distinct notebook among them is then graded
  again, one at a time with every cell executed, and the scores must be the same.
* **A cluster**: the same 100 on a Dask scheduler and two workers started as processes of their
  own on this machine (``dask scheduler``, ``dask worker``), as a deployment would run them;
  the grades must equal the class's.

The results go to a CSV table shown on the book's status page.
"""

import argparse
import csv
import datetime
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_files  # noqa: E402
import course  # noqa: E402
import grading  # noqa: E402
import submissions  # noqa: E402
from submissions import wrong_answer as wrong  # noqa: E402

DEFAULT_OUTPUT = book_files.ROOT / "book" / "_data" / "grading.csv"
HEADER = ["Measurement", "Result", "Target", "Met", "Measured on"]
CLASS_CHAPTER = "semantic_development"


def per_chapter(root):
    """``{chapter: [seconds of the solution, seconds of the mixed submission]}``, one at a time."""
    course_dir = root / "course"
    chapters = course.chapters_with_exercises()
    course.build(course_dir, chapters)
    folder = root / "one_at_a_time"
    for chapter in chapters:
        name = chapter.stem
        exercises = submissions.exercises(course_dir, name)
        kinds = {e: ("solution", "stub", "wrong")[i % 3] for i, e in enumerate(exercises)}
        sol = submissions.release_with(course_dir, name, lambda gid, src: src)
        mixed = submissions.release_with(
            course_dir, name, lambda gid, src: {"solution": src, "stub": None, "wrong": wrong(src)}[
                kinds[gid.rsplit("-solution", 1)[0]]])
        for student, nb in (("solution", sol), ("mixed", mixed)):
            (folder / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / student / f"{name}.ipynb")
    results = course.grade(folder, course_dir, workers=0, progress=False)
    times = {}
    for r in results:
        if r.error:
            raise RuntimeError(r.error)
        times.setdefault(r.assignment, []).append(r.seconds)
    return times


def class_of_100(course_dir, folder):
    """Write 100 submissions of the class chapter; return ``{student: kind}``."""
    name = CLASS_CHAPTER
    exercises = submissions.exercises(course_dir, name)
    kinds = {}
    n = 0

    def add(kind, nb=None, text=None):
        nonlocal n
        student = f"s{n:03d}"
        n += 1
        (folder / student).mkdir(parents=True)
        path = folder / student / f"{name}.ipynb"
        if text is not None:
            path.write_text(text)
        else:
            nbformat.write(nb, path)
        kinds[student] = kind

    def variant(pick):
        return submissions.release_with(course_dir, name, pick)

    for _ in range(40):
        add("correct", variant(lambda gid, src: src))
    for e in exercises:
        for _ in range(8):
            add(f"wrong {e}", variant(lambda gid, src, e=e: wrong(src) if gid.startswith(e + "-solution") else src))
    for _ in range(14):
        add("unchanged", variant(lambda gid, src: None))
    for _ in range(4):
        add("does not run", variant(lambda gid, src: "def oops(:\n    pass\n"))
    for _ in range(2):
        add("raises", variant(lambda gid, src: "raise ValueError('not done')\n"))
    for i in range(100 - n):
        add("broken file", text="" if i % 2 else '{"cells": [')
    return kinds


def _grades(results):
    return {r.student: (r.scores, r.hints, bool(r.error)) for r in results}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--skip-chapters", action="store_true", help="measure only the class and the cluster")
    args = parser.parse_args(argv)
    date = datetime.date.today().isoformat()
    machine = f"{date}, {os.cpu_count()} cores, {platform.machine()}"
    rows = []
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as tmp:
        tmp = Path(tmp)
        if not args.skip_chapters:
            times = per_chapter(tmp / "chapters")
            for name, seconds in times.items():
                mean = sum(seconds) / len(seconds)
                rows.append([f"Time per submission: {name.replace('_', ' ')}", f"{mean:.1f} s", "", "", machine])
                print(rows[-1], flush=True)
            overall = sum(sum(s) / len(s) for s in times.values()) / len(times)
            rows.insert(0, ["Time per submission, mean over the chapters", f"{overall:.1f} s", "at most 15 s",
                            "yes" if overall <= 15 else "no", machine])
            print(rows[0], flush=True)
        course_dir = tmp / "class" / "course"
        course.build(course_dir, [book_files.ROOT / "book" / f"{CLASS_CHAPTER}.md"])
        folder = tmp / "class" / "submissions"
        kinds = class_of_100(course_dir, folder)
        start = time.perf_counter()
        results = course.grade(folder, course_dir)
        class_seconds = time.perf_counter() - start
        graded = _grades(results)
        # Reference: each distinct notebook, one at a time, every cell executed.
        distinct, reference_folder = {}, tmp / "class" / "reference"
        for student in sorted(kinds):
            path = folder / student / f"{CLASS_CHAPTER}.ipynb"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in distinct:
                distinct[digest] = student
                (reference_folder / student).mkdir(parents=True)
                shutil.copy(path, reference_folder / student / path.name)
        reference_course = tmp / "class" / "reference_course"
        shutil.copytree(course_dir / "release", reference_course / "release")
        shutil.copytree(course_dir / "source", reference_course / "source")
        shutil.copy(course_dir / "nbgrader_config.py", reference_course / "nbgrader_config.py")
        shutil.copy(course_dir / "gradebook.db", reference_course / "gradebook.db")
        reference = _grades(course.grade(reference_folder, reference_course, workers=0, fast=False, progress=False))
        same = all(graded[student] == reference[distinct[hashlib.sha256(
            (folder / student / f"{CLASS_CHAPTER}.ipynb").read_bytes()).hexdigest()]] for student in kinds)
        rows.append(["A class: 100 submissions of semantic development, make grade", f"{class_seconds:.0f} s",
                     "at most 300 s", "yes" if class_seconds <= 300 else "no", machine])
        rows.append([f"  same scores as full execution one at a time ({len(distinct)} distinct notebooks)",
                     "yes" if same else "NO", "yes", "yes" if same else "no", machine])
        print(rows[-2:], flush=True)
        address, procs = grading.start_cluster(tmp)
        try:
            start = time.perf_counter()
            cluster_results = course.grade(folder, course_dir, scheduler=address)
            cluster_seconds = time.perf_counter() - start
        finally:
            for p in procs:
                p.kill()
                p.wait()
        identical = _grades(cluster_results) == graded
        rows.append(["The same 100 on a Dask scheduler and 2 worker processes", f"{cluster_seconds:.0f} s", "",
                     "", machine])
        rows.append(["  grades identical to the local cluster's", "yes" if identical else "NO", "yes",
                     "yes" if identical else "no", machine])
        print(rows[-2:], flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    print(f"-> {args.output}")
    return 0 if same and identical else 1


if __name__ == "__main__":
    sys.exit(main())
