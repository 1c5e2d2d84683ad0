"""Format the code cells of the book's MyST notebooks with black, so that no code line is clipped on the page.

Usage: python tools/format_code_cells.py [book/<chapter>.md ...]   (all chapters by default)

A code block on the website holds about 82 characters of its 0.8rem font in a
1280 px window (``_static/book.css``); longer lines would need a sideways scroll.
Black at ``LINE_LENGTH`` reflows the code; strings and comments it cannot break
are shortened by hand, and the structure tests require every code line to fit.
Only the code of ``{code-cell}`` blocks is rewritten; their options and the
Markdown are left as they are.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_files  # noqa: E402

LINE_LENGTH = 80

_CELL = re.compile(r"^(```\{code-cell\}[^\n]*\n)(.*?)^(```)[ \t]*$", flags=re.M | re.S)


def split_cell(body):
    """(options, code) of a code cell's body: a '---' YAML block or ':key:' lines, then the code."""
    lines = body.splitlines(keepends=True)
    i = 0
    if lines and lines[0].strip() == "---":
        i = next(k for k in range(1, len(lines)) if lines[k].strip() == "---") + 1
    while i < len(lines) and lines[i].startswith(":"):
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    return "".join(lines[:i]), "".join(lines[i:])


def format_code(code):
    import black

    magics = [line for line in code.splitlines() if line.lstrip().startswith(("%", "!"))]
    if magics:
        return code
    return black.format_str(code, mode=black.Mode(line_length=LINE_LENGTH))


def format_text(text):
    def repl(match):
        options, code = split_cell(match.group(2))
        new = format_code(code) if code.strip() else code
        # A cell whose options end in a blank line keeps it.
        return match.group(1) + options + new + match.group(3)

    return _CELL.sub(repl, text)


def long_lines(path, limit=LINE_LENGTH):
    """(line number, length) of every code line longer than ``limit`` in a chapter's code cells."""
    out = []
    text = Path(path).read_text()
    for match in _CELL.finditer(text):
        _, code = split_cell(match.group(2))
        start = text[:match.start(2)].count("\n") + 1 + match.group(2)[:len(match.group(2)) - len(code)].count("\n")
        for k, line in enumerate(code.splitlines()):
            if len(line) > limit:
                out.append((start + k, len(line)))
    return out


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or book_files.chapters()
    for path in paths:
        path.write_text(format_text(path.read_text()))
        for line, length in long_lines(path):
            print(f"{path}:{line}: {length} characters; shorten it by hand")
