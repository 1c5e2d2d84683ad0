r"""Record a chapter's headline claims for the book's reproduction page.

Each chapter calls :func:`record` in the cell that computes a headline number,
with the same variables: the claim in a few words, the paper's value, ours (theory
and simulation), the measure of agreement and a verdict. The call checks that the
verdict agrees with the numbers (a claim marked reproduced must lie within its
tolerance, a claim marked not reproduced must not), so that the build fails if
prose, numbers and verdict part; then it shows one line under the cell and
attaches the record to the metadata of the cell's output. At build time the page *Reproduction*
(``book/reproduction.md``) collects the records from the executed chapters, so
nothing on it is copied by hand, and it keeps working when a chapter comes from
the execution cache.
"""

import json
import numbers
import re

__all__ = ["VERDICTS", "METADATA_KEY", "Claim", "record"]

#: The verdicts, from best to worst.
VERDICTS = ("reproduced", "reproduced, scaled down", "qualitative only", "not reproduced", "not tested")
#: The key under which a record travels in the metadata of the cell's output (metadata
#: rather than a MIME type of its own, which the website's renderer would not know).
METADATA_KEY = "statmech_dl.claim"

_FIELDS = ("key", "section", "claim", "source", "source_value", "theory", "simulation", "agreement", "verdict",
           "why", "error", "tolerance", "holds")


class Claim(dict):
    """One recorded claim: a dict of the fields of :func:`record`, shown as one line of text."""

    def __repr__(self):
        return (f"Reproduction page: {_plain(self['claim'])} ({self['source']}): {self['verdict']}. "
                f"{_plain(self['agreement'])}.")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": repr(self)}, {METADATA_KEY: json.loads(json.dumps(dict(self)))}


_EQ_REF = re.compile(r"\{eq\}`([\w-]+)`")


def _plain(text):
    """The text as printed under the cell: maths without dollars, equation references by label."""
    return _EQ_REF.sub(r"(\1)", text).replace("$", "")


def _text(name, value, allow_empty=False):
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if value.count("$") % 2:
        raise ValueError(f"{name} has an unpaired $ (inline maths is written $...$): {value!r}")
    return value.strip()


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise ValueError(f"{name} must be a real number, got {value!r}")
    return float(value)


def record(key, section, claim, source, source_value, theory, simulation, agreement, verdict, why,
           error=None, tolerance=None, holds=None, display=True):
    r"""Record one headline claim; raise ``ValueError`` if its verdict disagrees with its numbers.

    Parameters
    ----------
    key : str
        Unique name, starting with the chapter's label prefix (``"tc-chi1"``).
    section : str
        The MyST label of the chapter's section that shows the claim.
    claim : str
        The claim in a few words.
    source : str
        BibTeX key(s) of the source, comma-separated.
    source_value : str
        The source's value or qualitative result, e.g. ``"about 20% less data"``.
        In this and the other text fields, ``$...$`` is inline maths (the book's
        macros apply) and ``{eq}`label``` a link to a numbered equation.
    theory, simulation : str
        Our theory and our simulation, formatted as printed in the chapter (``"-"``
        where there is none).
    agreement : str
        The measure of agreement, as printed (e.g. ``"max rel. error 0.035"``).
    verdict : str
        One of :data:`VERDICTS`.
    why : str
        One line on the verdict (what was scaled down, or why it was not reproduced).
    error, tolerance : float, optional
        A measured discrepancy and the tolerance it is judged by: the claim holds
        when ``error <= tolerance``.
    holds : bool, optional
        For claims judged otherwise (an ordering, a qualitative effect): whether
        the chapter's numbers show it. Give either ``holds`` or ``error`` and
        ``tolerance``.
    display : bool, optional
        Show the claim under the cell as one line that carries the record for the
        page (the default; outside a notebook the line is printed), and return
        ``None``; with ``False``, return the :class:`Claim` instead.

    Returns
    -------
    Claim or None

    Raises
    ------
    ValueError
        For a missing field, an unknown verdict, or a verdict that disagrees with
        the numbers: "reproduced" (scaled down or not) and "qualitative only"
        need the claim to hold, "not reproduced" needs it to fail, and "not
        tested" takes neither ``holds`` nor ``error``.
    """
    fields = {name: _text(name, value) for name, value in
              dict(key=key, section=section, claim=claim, source=source, source_value=source_value,
                   theory=theory, simulation=simulation, agreement=agreement, why=why).items()}
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {list(VERDICTS)}, got {verdict!r}")
    if (error is None) != (tolerance is None):
        raise ValueError("error and tolerance must be given together")
    if verdict == "not tested":
        # The setup cannot test the claim (``why`` says why): nothing is asserted either way.
        if holds is not None or error is not None:
            raise ValueError("a claim that is not tested takes neither holds nor error and tolerance")
        out = Claim({name: {**fields, "verdict": verdict, "error": None, "tolerance": None,
                            "holds": None}[name] for name in _FIELDS})
        return _show(out, display)
    if (holds is None) == (error is None):
        raise ValueError("give either holds, or error and tolerance")
    if error is not None:
        error, tolerance = _number("error", error), _number("tolerance", tolerance)
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance:g}")
        holds = error <= tolerance
    elif not isinstance(holds, bool):
        raise ValueError(f"holds must be True or False, got {holds!r}")
    if holds != (verdict != "not reproduced"):
        raise ValueError(f"verdict {verdict!r} disagrees with the numbers of {fields['key']!r}: the claim "
                         f"{'holds' if holds else 'does not hold'}"
                         + (f" (error {error:.4g}, tolerance {tolerance:.4g})" if error is not None else ""))
    out = Claim({name: {**fields, "verdict": verdict, "error": error, "tolerance": tolerance,
                        "holds": holds}[name] for name in _FIELDS})
    return _show(out, display)


def _show(out, display):
    if not display:
        return out
    try:
        from IPython import get_ipython
        from IPython.display import display as show
    except ImportError:                      # pragma: no cover - IPython comes with the book's stack
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        show(out)
    else:
        print(repr(out))
    return None
