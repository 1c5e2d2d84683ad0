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

def _split_point(text, limit):
    """Index of the last space before ``limit`` outside any {...} of an f-string, or None."""
    depth, best = 0, None
    for i, ch in enumerate(text[:limit]):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == " " and depth == 0 and i > 8:
            best = i + 1
    return best


def _without_f(prefix, text):
    """Drop the f prefix of a string piece that has no {...} field."""
    return prefix if "{" in text else prefix.replace("f", "").replace("F", "")


def _wrap_long_lines(code):
    """Split long string literals inside brackets, and long comments, so that black can fit them."""
    import io
    import tokenize

    lines = code.splitlines(keepends=True)
    new_lines = {}                              # line index -> replacement text (with newline)
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        row, col = tok.start
        if row > len(lines) or row in new_lines or tok.end[0] != row:
            continue
        line = lines[row - 1].rstrip("\n")
        if len(line) <= LINE_LENGTH:
            continue
        if tok.type == tokenize.STRING and depth > 0 and tok.end[1] > LINE_LENGTH:
            m = re.match(r"([rbfRBF]*)(['\"])", tok.string)
            prefix, quote = m.group(1), m.group(2)
            if tok.string.startswith(prefix + quote * 3):
                continue
            body = tok.string[len(prefix) + 1:-1]
            cut = _split_point(body, LINE_LENGTH - col - len(prefix) - 2)
            if cut is None:
                continue
            first, rest = body[:cut], body[cut:]
            piece = (f"{_without_f(prefix, first)}{quote}{first}{quote}\n"
                     f"{' ' * col}{_without_f(prefix, rest)}{quote}{rest}{quote}")
            new_lines[row] = line[:col] + piece + line[tok.end[1]:] + "\n"
        elif tok.type == tokenize.COMMENT:
            indent = len(line) - len(line.lstrip())
            wrapped, current = [], ""
            for word in tok.string.lstrip("#").split():
                if current and indent + 2 + len(current) + 1 + len(word) > LINE_LENGTH:
                    wrapped.append(current)
                    current = word
                else:
                    current = f"{current} {word}".strip()
            block = "".join(f"{' ' * indent}# {w}\n" for w in wrapped + [current])
            statement = line[:col].rstrip()
            # A trailing comment moves above its statement.
            new_lines[row] = block + (statement + "\n" if statement.strip() else "")
    return "".join(new_lines.get(i + 1, line) for i, line in enumerate(lines))


def format_code(code):
    import black

    magics = [line for line in code.splitlines() if line.lstrip().startswith(("%", "!"))]
    if magics:
        return code
    mode = black.Mode(line_length=LINE_LENGTH)
    code = black.format_str(code, mode=mode)
    for _ in range(3):                        # splitting can leave parts that are still too long
        wrapped = _wrap_long_lines(code)
        if wrapped == code:
            break
        code = black.format_str(wrapped, mode=mode)
    return code


def format_text(text):
    def repl(match):
        options, code = book_files.split_cell(match.group(2))
        new = format_code(code) if code.strip() else code
        # A cell whose options end in a blank line keeps it.
        return match.group(1) + options + new + match.group(3)

    return book_files.CODE_CELL.sub(repl, text)


def long_lines(path, limit=LINE_LENGTH):
    """(line number, length) of every code line longer than ``limit`` in a chapter's code cells."""
    out = []
    text = Path(path).read_text()
    for match in book_files.CODE_CELL.finditer(text):
        _, code = book_files.split_cell(match.group(2))
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
