"""Build the book: execute the chapters on every core, then build the site from the filled cache.

Usage: python tools/build_book.py [--serial] [jupyter-book build options]

``jupyter-book build`` (myst-nb in ``cache`` mode) executes each chapter that is not in the
execution cache while Sphinx reads it, one chapter after another, so a cold build uses one core.
This first fills the cache with jupyter-cache's parallel executor, one process per core: each
chapter is turned into exactly the notebook that myst-nb executes (the install cell that
``tools/book_build.py`` adds included), written to ``_build/.parallel/book/``, added to the cache's
project and executed there; the executed notebook is cached under the same hash as myst-nb's.
The build then takes every chapter from the cache. A chapter that fails here is executed again
by the build, which reports its error as usual (warnings are errors); a chapter already cached
is not executed at all.

The book's own build command is then run with the options given (by default
``--warningiserror --nitpick --keep-going``). ``--serial`` skips the parallel step, for
measuring the difference.
"""

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_build  # noqa: E402
import book_files  # noqa: E402
import kernel_replies  # noqa: E402

ROOT = book_files.ROOT
BUILD_OPTIONS = ["--warningiserror", "--nitpick", "--keep-going"]


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def chapter_notebook(path, config=None):
    """The notebook myst-nb executes for the chapter at ``path`` (its cache key is this notebook's)."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    config = config or _config()
    repository = config["repository"]
    text = book_build.add_install_cell(Path(path).read_text(), repository["url"], repository.get("branch", "main"))
    md_config = MdParserConfig(enable_extensions=set(config["parse"]["myst_enable_extensions"]))
    return read_myst_markdown_notebook(text, config=md_config, add_source_map=True, path=str(path))


def cache_path(output=ROOT):
    """The execution cache of a build into ``output`` (Jupyter Book's default place)."""
    return Path(output) / "_build" / ".jupyter_cache"


def execute_chapters(output=ROOT, chapters=None, log=print):
    """Execute the chapters missing from the cache, one per core at a time; return their number."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    config = _config()
    cache = get_cache(str(cache_path(output)))
    folder = Path(output) / "_build" / ".parallel" / "book"
    folder.mkdir(parents=True, exist_ok=True)
    # The longest chapters first (by the benchmark), so that no core waits at the end.
    seconds = book_files.benchmark_seconds()
    todo = []
    for chapter in sorted(chapters or book_files.chapters(), key=lambda c: -seconds.get(c.stem, 0.0)):
        notebook = chapter_notebook(chapter, config)
        try:
            cache.match_cache_notebook(notebook)
            continue                                    # cached: the build takes it from there
        except KeyError:
            pass
        path = folder / f"{chapter.stem}.ipynb"
        nbformat.write(notebook, path)
        todo.append(str(cache.add_nb_to_project(str(path)).uri))
    if not todo:
        return 0
    # jupyter-cache's pool has one process per core (os.cpu_count()).
    log(f"executing {len(todo)} chapters, {min(os.cpu_count() or 1, len(todo))} at a time")
    kernel_replies.install()                    # inherited by the pool's forked workers
    executor = load_executor("local-parallel", cache, logger=logging.getLogger("build_book"))
    start = time.perf_counter()
    result = executor.run_and_cache(filter_uris=todo, timeout=book_files.CELL_TIMEOUT, allow_errors=False)
    failed = result.excepted + result.errored
    log(f"executed {len(result.succeeded)} chapters in {time.perf_counter() - start:.0f} s"
        + (f"; {len(failed)} failed and are left to the build: {', '.join(Path(f).stem for f in failed)}"
           if failed else ""))
    return len(todo)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serial", action="store_true", help="no parallel execution before the build")
    args, build_options = parser.parse_known_args(argv)
    output = ROOT
    if "--path-output" in build_options:
        output = Path(build_options[build_options.index("--path-output") + 1])
    if not args.serial:
        execute_chapters(output)
    jb = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run([str(jb), "build", str(ROOT), *(build_options or BUILD_OPTIONS)], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
