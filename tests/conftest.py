import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

#: The test files that take minutes, longest first: the course's grading and the book's build,
#: then what needs the build: the second execution of each chapter (one kernel, the lightest
#: company for the course's grading, which is still running), the browser checks and the PDF.
#: make test's pytest-xdist hands out whole files in collection order (--dist loadfile
#: --no-loadscope-reorder): the two longest start at once on different workers, and the rest
#: goes to whichever worker is free.
LONG_FIRST = ("tests/course/test_assignments.py", "tests/book/test_build.py", "tests/book/test_downloads.py",
              "tests/book/test_in_a_browser.py", "tests/book/test_pdf.py")
#: Files whose tests are each a unit of their own for pytest-xdist, not one unit per file: the
#: second execution of each chapter goes to whichever worker is free.
EACH_TEST_ALONE = ("tests/book/test_downloads.py",)


def pytest_collection_modifyitems(items):
    def rank(item):
        path = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)          # stable: each file keeps its own order


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, except that each test of EACH_TEST_ALONE is a unit of its own.

    (pytest-xdist's --dist loadgroup would say the same with marks, but with pytest 9 it does not
    group: it renames the tests through an attribute that pytest 9 no longer reads.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndChapters(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            return nodeid if path in EACH_TEST_ALONE else path

    return FilesAndChapters(config, log)
