"""Which library functions a chapter uses, and the section that links each to the library reference.

Usage: python tools/library_links.py book/<chapter>.md [--update]

Prints the section; with ``--update`` writes it at the end of the chapter,
replacing the one already there.

The structure tests call :func:`used` and require every function and class the
chapter calls to be linked from its text, so that a reader can go from the code
to the documentation of each function.
"""

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import jupytext

SECTION = "## The library behind this chapter"


def _aliases(tree):
    """Names bound to statmech_dl modules, and names imported from them, by the chapter's imports."""
    modules, names = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("statmech_dl"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                target = alias.asname or alias.name
                try:
                    importlib.import_module(full)
                    modules[target] = full
                except ImportError:
                    names[target] = (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("statmech_dl"):
                    modules[alias.asname or alias.name] = alias.name
    return modules, names


def used(chapter):
    """Sorted list of ``statmech_dl.<module>.<name>`` for every library function or class the chapter uses."""
    code = "\n".join(c.source for c in jupytext.read(chapter).cells if c.cell_type == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("%"))
    tree = ast.parse(code)
    modules, names = _aliases(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            found.add((modules[node.value.id], node.attr))
        elif isinstance(node, ast.Name) and node.id in names:
            found.add(names[node.id])
    out = []
    for module, name in found:
        obj = getattr(importlib.import_module(module), name, None)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            out.append(f"{module}.{name}")
    return sorted(out)


def role(target):
    obj = getattr(importlib.import_module(target.rsplit(".", 1)[0]), target.rsplit(".", 1)[1])
    return f"{{py:{'class' if inspect.isclass(obj) else 'func'}}}`~{target}`"


def section(chapter):
    by_module = {}
    for target in used(chapter):
        by_module.setdefault(target.rsplit(".", 1)[0], []).append(target)
    lines = [SECTION, "",
             "Every number above is computed by the book's library; each function links to its",
             "documentation, with the mathematics, in the {ref}`library reference <api>`.", ""]
    for module, targets in by_module.items():
        lines.append(f"- {{py:mod}}`{module}`: " + ", ".join(role(t) for t in targets))
    return "\n".join(lines) + "\n"


def linked(chapter):
    """Targets linked from the chapter's text by a py:func or py:class role."""
    return set(re.findall(r"\{py:(?:func|class)\}`~?([\w.]+)`", Path(chapter).read_text()))


def update(chapter):
    text = Path(chapter).read_text()
    if SECTION in text:
        text = text[:text.index(SECTION)]
    Path(chapter).write_text(text.rstrip() + "\n\n" + section(chapter))


if __name__ == "__main__":
    if "--update" in sys.argv:
        update(sys.argv[1])
    else:
        print(section(sys.argv[1]))
