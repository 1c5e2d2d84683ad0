import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

#: The test files that take minutes (the book's build and its second execution of every chapter;
#: the course's grading). They are collected first, so that make test's pytest-xdist, which hands
#: out whole files in collection order (--dist loadfile --no-loadscope-reorder), starts them at
#: once on different workers and the short files fill in around them.
LONG_FIRST = ("tests/book/test_build.py", "tests/course/test_assignments.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        path = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)          # stable: each file keeps its own order
