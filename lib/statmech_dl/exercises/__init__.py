"""Answer checks for the book's exercises, one module per chapter.

Convention shared by every chapter, so that student editions and autograders
can be generated from the sources:

* an exercise is a gated ``exercise-start``/``exercise-end`` block with a label
  ``ex-<chapter>-<name>``;
* its solution code sits in code cells tagged ``solution`` inside a gated
  ``solution-start``/``solution-end`` dropdown;
* a visible cell after the solution calls ``check_<name>(answer)`` from
  ``statmech_dl.exercises.<chapter>``. A check prints :data:`CORRECT` when the
  answer is right, and nothing more: the output sits under the exercise on the
  web page, where a formula would give the answer away. When the answer is wrong
  it raises :class:`AssertionError` with a hint that points the way without
  stating the answer.
"""

import numpy as np

__all__ = ["CORRECT", "passed", "assert_close", "require_callable"]

#: What a check prints when the answer is right.
CORRECT = "Correct: your answer passes every test case."


def require_callable(fn, name):
    """Raise AssertionError unless ``fn`` is callable: students sometimes pass a value instead."""
    if not callable(fn):
        raise AssertionError(f"pass your function itself, e.g. check_{name}({name})")


def passed():
    """Print the confirmation shown under a correct answer (:data:`CORRECT`)."""
    print(CORRECT)


def assert_close(name, got, expected, rtol=1e-6, atol=0.0, hint=""):
    """Raise AssertionError, naming ``name`` and giving ``hint``, unless close.

    The message gives the learner's value and whether it is too large or too
    small, never the expected value, which for a numerical exercise is the answer.
    """
    try:
        got_arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be numeric, got {got!r}. {hint}") from None
    expected = np.asarray(expected, dtype=float)
    if got_arr.shape != expected.shape:
        raise AssertionError(f"{name} should have shape {expected.shape}, got {got_arr.shape}. {hint}")
    if not np.all(np.isfinite(got_arr)):
        raise AssertionError(f"{name} contains NaN or infinity. {hint}")
    if not np.allclose(got_arr, expected, rtol=rtol, atol=atol):
        worst = np.argmax(np.abs(got_arr - expected) - rtol * np.abs(expected)) if got_arr.ndim else ()
        g = got_arr[np.unravel_index(worst, got_arr.shape)] if got_arr.ndim else float(got_arr)
        e = expected[np.unravel_index(worst, expected.shape)] if expected.ndim else float(expected)
        where = f" (entry {tuple(int(i) for i in np.unravel_index(worst, got_arr.shape))})" if got_arr.ndim else ""
        raise AssertionError(f"{name} is off{where}: got {g:.6g}, which is too {'large' if g > e else 'small'}. "
                             f"{hint}")
