"""Submissions built from a course's release: the solution, wrong answers and stubs, mixed at will.

The course tests (``tests/course``) and the grading benchmark (``tools/grading_benchmark.py``)
grade submissions written for them; both build them here, from the course that
``tools/course.py build`` made.
"""

import ast

import nbformat


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def exercises(course_dir, name):
    """The labels of assignment ``name``'s exercises, in order (each test cell's grade id without ``-check``)."""
    source = nbformat.read(course_dir / "source" / name / f"{name}.ipynb", as_version=4)
    return [_meta(c)["grade_id"].rsplit("-check", 1)[0] for c in source.cells if _meta(c).get("grade")]


def wrong_answer(source):
    """A wrong answer that runs: every function of ``source`` returns 0.0 and every assigned name is 0.0."""
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            out.append(f"def {node.name}(*args, **kwargs):\n    return 0.0\n")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for name in ast.walk(t):
                    if isinstance(name, ast.Name):
                        out.append(f"{name.id} = 0.0\n")
    return "".join(out) or "pass\n"


def release_with(course_dir, name, pick):
    """The release of assignment ``name`` with each answer cell replaced by ``pick(grade_id, solution)``.

    ``pick`` receives the answer cell's grade id and the instructor's solution source, and returns
    the cell's new source, or None to keep the release's stub.
    """
    source = nbformat.read(course_dir / "source" / name / f"{name}.ipynb", as_version=4)
    release = nbformat.read(course_dir / "release" / name / f"{name}.ipynb", as_version=4)
    solutions = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}
    for cell in release.cells:
        gid = _meta(cell).get("grade_id", "")
        if gid in solutions:
            new = pick(gid, solutions[gid])
            if new is not None:
                cell.source = new
    return release
