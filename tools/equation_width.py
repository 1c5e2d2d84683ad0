r"""Estimate how wide a display equation renders, from its TeX, to catch equations that overflow the page.

The website's text column is about 676 px wide in a 1280 px window. MathJax
draws a display equation on one line, however long, and a reader must then
scroll sideways inside it. :func:`width_em` walks the TeX and adds up the widths
of its parts in em (the font size): symbols, operators with their spacing, the
larger of a fraction's numerator and denominator, scripts at 70%, text, and
explicit spaces; a line break (``\\``) starts a new line and the widest line
counts. It is calibrated against MathJax's rendering of every equation of the
first four chapters in headless Chromium (``EM_PX``), and flags equations well
before they reach the column's edge. The structure tests apply it to every
display equation of the book.
"""

import re

#: Pixels per em of :func:`width_em`: the median ratio of rendered width to estimate over the 38
#: labelled equations of the first four chapters (MathJax CHTML, 1280 px window). The ratio
#: ranged from 0.88 to 1.21.
EM_PX = 20.4
#: The text column at 1280 px, and the widest estimate the tests accept: the column divided by
#: the largest ratio seen, so that even an underestimated equation fits.
COLUMN_PX = 676
MAX_PX = 560

_SPACES = {",": 0.17, ":": 0.22, ";": 0.28, "!": -0.17, "quad": 1.0, "qquad": 2.0, " ": 0.25}
_ZERO = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "displaystyle", "textstyle",
         "limits", "nolimits", "mathrm", "mathbf", "mathcal", "mathbb", "boldsymbol", "label", "nonumber",
         "begin", "end", "hat", "tilde", "bar", "dot", "ddot", "vec", "widehat", "widetilde", "overline"}
_BIG = {"int": 1.1, "sum": 1.4, "prod": 1.4, "oint": 1.1}
_RELATIONS = {"=", "<", ">", "le", "ge", "leq", "geq", "approx", "simeq", "sim", "equiv", "propto", "to",
              "mapsto", "ne", "neq", "in", "coloneqq", "xrightarrow", "Rightarrow", "iff", "ll", "gg"}
_BINARY = {"+", "-", "pm", "mp", "times", "cdot", "odot", "otimes", "oplus", "cup", "cap", "setminus"}
_WORDS = {"ln", "log", "exp", "sin", "cos", "tan", "tanh", "det", "max", "min", "sup", "inf", "lim",
          "arcsin", "arccos", "arctan", "tr", "diag", "sgn", "erf"}


def _group(tex, i):
    """The braced group (or single token) starting at tex[i]; returns (content, next index)."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        depth, j = 0, i
        while j < len(tex):
            depth += {"{": 1, "}": -1}.get(tex[j], 0)
            if depth == 0:
                return tex[i + 1:j], j + 1
            j += 1
        return tex[i + 1:], len(tex)
    if tex[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
        return m.group(0), i + len(m.group(0))
    return tex[i], i + 1


def _width(tex, macros):
    w, i = 0.0, 0
    while i < len(tex):
        ch = tex[i]
        if ch == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            name, i = m.group(1), i + len(m.group(0))
            if name == "begin":
                env, i = _group(tex, i)
                end = tex.find(f"\\end{{{env}}}", i)
                body, i = tex[i:end], end + len(f"\\end{{{env}}}")
                rows = [r.split("&") for r in re.split(r"\\\\(?![A-Za-z])", body)]
                w += 1.0 + max(sum(_width(c, macros) for c in row) + (len(row) - 1) for row in rows)
            elif name in macros:
                w += _width(macros[name], macros)
            elif name in ("frac", "tfrac", "dfrac", "binom"):
                a, i = _group(tex, i)
                b, i = _group(tex, i)
                scale = 0.75 if name == "tfrac" else 0.9
                w += scale * max(_width(a, macros), _width(b, macros)) + 0.3
            elif name == "sqrt":
                a, i = _group(tex, i)
                w += _width(a, macros) + 0.9
            elif name in ("text", "operatorname", "mathrm", "textrm"):
                a, i = _group(tex, i)
                w += (0.5 if name == "text" else 0.55) * len(a) + (0.2 if name == "operatorname" else 0.0)
            elif name in _SPACES:
                w += _SPACES[name]
            elif name in _BIG:
                w += _BIG[name]
            elif name in _RELATIONS:
                w += 1.3
            elif name in _BINARY:
                w += 1.0
            elif name in _WORDS:
                w += 0.5 * len(name) + 0.2
            elif name in _ZERO:
                if name in ("begin", "end", "label"):
                    _, i = _group(tex, i)
            elif name in ("lVert", "rVert", "langle", "rangle", "{", "}", "|"):
                w += 0.5
            elif name in ("cdots", "ldots", "dots"):
                w += 1.3
            else:
                w += 0.65                               # Greek letters and other symbols
        elif ch in "^_":
            a, i = _group(tex, i + 1)
            w += 0.7 * _width(a, macros)
        elif ch == "{":
            a, i = _group(tex, i)
            w += _width(a, macros)
        elif ch in "=<>":
            w += 1.3
            i += 1
        elif ch in "+-":
            w += 1.0
            i += 1
        elif ch in ",;":
            w += 0.45
            i += 1
        elif ch in " \n&~}":
            i += 1
        elif ch in "()[]|/":
            w += 0.45
            i += 1
        else:
            w += 0.75 if ch.isupper() else 0.5 if ch.isdigit() else 0.55
            i += 1
    return w


def width_em(tex, macros=None):
    """Estimated width in em of a display equation's TeX (the widest line, if it is split by \\\\)."""
    macros = macros or {}
    # Split at the line breaks of the outer level only, not inside an environment such as cases.
    lines, depth, start = [], 0, 0
    for m in re.finditer(r"\\begin\{|\\end\{|\\\\(?![A-Za-z])", tex):
        if m.group(0) == "\\begin{":
            depth += 1
        elif m.group(0) == "\\end{":
            depth -= 1
        elif depth == 0:
            lines.append(tex[start:m.start()])
            start = m.end()
    lines.append(tex[start:])
    return max(_width(line, macros) for line in lines)


def display_equations(text):
    """(label or None, TeX) of every $$ display equation of a MyST page."""
    out = []
    for m in re.finditer(r"^\$\$(.*?)\$\$ *(?:\((eq-[\w-]+)\))?", text, flags=re.M | re.S):
        out.append((m.group(2), m.group(1)))
    return out
