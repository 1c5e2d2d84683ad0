"""Make the chapters read on Binder as they do on the website (run by binder/postBuild).

On Binder a chapter opens as a notebook (Jupytext) whose Markdown cells
jupyterlab-myst renders: admonitions, labels, numbered equations and references
within the chapter work as on the website. What Sphinx resolves across the whole
book does not, so this script rewrites, in Binder's own copy of the chapters:

* the book's LaTeX macros, defined once in ``_config.yml``, become MyST front
  matter (``math:``) at the top of each chapter's first Markdown cell, where
  jupyterlab-myst reads them; without them every equation that uses ``\\Sxx`` or
  ``\\E`` shows a red error;
* ``{cite:t}`` and ``{cite:p}`` citations become author-year text from
  ``book/references.bib``;
* ``{eq}`` references to equations of other chapters become their numbers, as
  "(3.2)"; references within a chapter are left to jupyterlab-myst;
* ``{ref}``, ``{py:func}``, ``{py:class}`` and ``{py:mod}`` roles, whose targets
  live elsewhere in the book, become their text or inline code.

Code cells are never touched. Usage: ``python tools/binder_prepare.py`` from the
repository root (rewrites the chapters in place: run it on a copy, as Binder does).
"""

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_files  # noqa: E402

ROOT = book_files.ROOT
_CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```\s*$", flags=re.M | re.S)


def macros():
    """The book's LaTeX macros, from _config.yml, as MyST front matter keys ('\\R': '\\mathbb{R}')."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    tex = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    return {f"\\{name}": value for name, value in tex.items()}


def front_matter():
    """The YAML block that opens each chapter's first Markdown cell on Binder."""
    body = yaml.safe_dump({"math": macros()}, default_flow_style=False, allow_unicode=True, sort_keys=False)
    return f"---\n{body}---\n\n"


def _author_year(entry):
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
    names = last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2 else f"{last[0]} et al."
    return names, entry.fields.get("year", "n.d.")


def citations():
    """Citation key -> (authors, year) for every entry of book/references.bib."""
    from pybtex.database import parse_file  # pybtex comes with sphinxcontrib-bibtex

    return {key: _author_year(entry) for key, entry in parse_file(ROOT / "book" / "references.bib").entries.items()}


def equation_numbers():
    """Equation label -> "(chapter.n)", numbered as Sphinx numbers labelled equations in each chapter."""
    numbers = {}
    for number, chapter in enumerate(book_files.chapters(), start=1):
        labels = re.findall(r"^\$\$ *\((eq-[\w-]+)\)", chapter.read_text(), flags=re.M)
        numbers.update({label: f"({number}.{k})" for k, label in enumerate(labels, start=1)})
    return numbers


def _prose(text, cites, eqs, own):
    def cite(match):
        role, keys = match.group(1), [k.strip() for k in match.group(2).split(",")]
        if role == "t":
            return "; ".join(f"{cites[k][0]} ({cites[k][1]})" for k in keys)
        return "(" + "; ".join(f"{cites[k][0]}, {cites[k][1]}" for k in keys) + ")"

    def eq(match):
        label = match.group(1)
        return match.group(0) if label in own else eqs[label]

    text = re.sub(r"\{cite:([tp])\}`([^`]+)`", cite, text)
    text = re.sub(r"\{eq\}`([\w-]+)`", eq, text)
    text = re.sub(r"\{ref\}`([^`<]+?)\s*<[^`]+>`", r"\1", text)
    text = re.sub(r"\{py:(?:func|class|mod)\}`(~?)([\w.]+)`",
                  lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text)
    return text


def prepare(source, cites, eqs):
    """The Binder version of one chapter's MyST source."""
    own = set(re.findall(r"^\$\$ *\((eq-[\w-]+)\)", source, flags=re.M))
    header_end = source.index("---", 3) + 3
    header, body = source[:header_end], source[header_end:]
    pieces, last = [], 0
    for match in _CODE_CELL.finditer(body):
        pieces.append(_prose(body[last:match.start()], cites, eqs, own))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(_prose(body[last:], cites, eqs, own))
    return header + "\n\n" + front_matter() + "".join(pieces).lstrip("\n")


def main():
    cites, eqs = citations(), equation_numbers()
    for chapter in book_files.chapters():
        chapter.write_text(prepare(chapter.read_text(), cites, eqs))
        print(f"prepared {chapter.relative_to(ROOT)} for Binder")


if __name__ == "__main__":
    main()
