"""Answer records: what a check saw of a learner's answer, so that a grader can judge it elsewhere.

When a notebook is graded, the learner's code and the check run in the same kernel, so the
learner's code could replace the check (or ``builtins``, or NumPy) and make it pass. A record
takes the verdict out of the kernel:

* in the kernel, a check decorated with :func:`recorded` runs as usual (the learner still sees
  the hint), and, when the environment variable :data:`GRADING_ENV` is set, it also displays a
  *record*: the value of every answer that is not a function, and for every function the
  arguments of each call the check made and what came back (or which exception was raised);
* the grader, in its own process, calls :func:`judge`: it runs the genuine check again, with
  each function answer replaced by a replay of the recorded calls. The check computes its
  reference values itself and compares; a replayed call whose arguments differ from the check's
  own fails, and so does a call the record lacks. A forged record therefore passes only if it
  holds the right answers on the check's inputs, which is solving the exercise.

A record is plain JSON (no pickle): reading one never runs the learner's code.
"""

import contextlib
import functools
import importlib
import io
import json
import math
import os

import numpy as np

__all__ = ["GRADING_ENV", "MIME_TYPE", "recorded", "genuine_checks", "encode", "decode", "judge",
           "RecordError"]

#: Set (to anything non-empty) in the grading kernel's environment to make checks display records.
GRADING_ENV = "STATMECH_DL_GRADING"
#: The MIME type of a record in a notebook's outputs.
MIME_TYPE = "application/vnd.statmech-dl.answer-record+json"
#: Records larger than this (characters of JSON) are refused by the grader.
MAX_RECORD_CHARS = 20_000_000


class RecordError(AssertionError):
    """A record that does not fit the check: missing calls, other arguments, a malformed entry."""


# --- Encoding: JSON that keeps the types a check can tell apart ----------------------------------

def _number(x):
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def _unnumber(x):
    return float(x) if isinstance(x, str) else x


def encode(value):
    """``value`` as JSON-ready data, keeping what a check can tell apart.

    Tuples, lists, dicts with string keys, NumPy arrays and scalars, torch tensors (as arrays),
    Python numbers, strings, ``None`` and NumPy random generators (by their state) round-trip
    through :func:`decode`. Anything else becomes an opaque stand-in that no check accepts as a
    number. Non-finite floats are kept (as strings: notebook JSON has no NaN).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, np.integer):
        return value if abs(value) < 2**53 else {"bigint": str(value)}
    if isinstance(value, float) and type(value) is float:
        return {"float": _number(value)}
    if isinstance(value, np.generic):
        if np.iscomplexobj(value):
            return {"scalar": value.dtype.str, "value": [_number(value.real), _number(value.imag)]}
        if value.dtype.kind in "biuf":
            return {"scalar": value.dtype.str, "value": _number(value) if value.dtype.kind == "f" else value.item()}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return {"list": [encode(v) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, np.random.Generator):
        return {"generator": _json_safe(value.bit_generator.state)}
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        flat = value.ravel()
        if value.dtype.kind == "c":
            data = [[_number(z.real), _number(z.imag)] for z in flat]
        elif value.dtype.kind == "f":
            data = [_number(x) for x in flat]
        else:
            data = flat.tolist()
        return {"array": value.dtype.str, "shape": list(value.shape), "data": data}
    return {"opaque": type(value).__name__}


def _json_safe(state):
    # A generator's state holds Python ints (maybe beyond 2**53) in nested dicts.
    if isinstance(state, dict):
        return {k: _json_safe(v) for k, v in state.items()}
    if isinstance(state, int) and not isinstance(state, bool):
        return {"bigint": str(state)}
    return state


def _json_unsafe(state):
    if isinstance(state, dict):
        if set(state) == {"bigint"}:
            return int(state["bigint"])
        return {k: _json_unsafe(v) for k, v in state.items()}
    return state


class Opaque:
    """Stands for an answer value that a record cannot carry (the kernel had an object here)."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name} object>"


def decode(data):
    """The value that :func:`encode` turned into ``data``; raises :class:`RecordError` if malformed."""
    try:
        return _decode(data)
    except RecordError:
        raise
    except Exception as err:                 # a malformed record, whatever its shape
        raise RecordError(f"malformed answer record ({type(err).__name__})") from None


def _decode(data):
    if data is None or isinstance(data, (bool, str, int)) and not isinstance(data, float):
        return data
    if not isinstance(data, dict) or len(data) not in (1, 2, 3):
        raise RecordError("malformed answer record")
    if "float" in data:
        return float(_unnumber(data["float"]))
    if "bigint" in data:
        return int(data["bigint"])
    if "scalar" in data:
        dtype = np.dtype(data["scalar"])
        v = data["value"]
        if dtype.kind == "c":
            return dtype.type(complex(_unnumber(v[0]), _unnumber(v[1])))
        return dtype.type(_unnumber(v))
    if "tuple" in data:
        return tuple(_decode(v) for v in data["tuple"])
    if "list" in data:
        return [_decode(v) for v in data["list"]]
    if "dict" in data:
        return {str(k): _decode(v) for k, v in data["dict"].items()}
    if "generator" in data:
        state = _json_unsafe(data["generator"])
        bitgen = getattr(np.random, state["bit_generator"])()
        bitgen.state = state
        return np.random.Generator(bitgen)
    if "array" in data:
        dtype = np.dtype(data["array"])
        if dtype.kind not in "biufc":
            raise RecordError("malformed answer record")
        shape = tuple(int(n) for n in data["shape"])
        if dtype.kind == "c":
            values = [complex(_unnumber(a), _unnumber(b)) for a, b in data["data"]]
        else:
            values = [_unnumber(x) for x in data["data"]]
        return np.array(values, dtype=dtype).reshape(shape)
    if "opaque" in data:
        return Opaque(str(data["opaque"]))
    raise RecordError("malformed answer record")


def _same(a, b):
    """Whether two encoded values are the same input (floats to 12 digits: the check recomputes them)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return False
        if "array" in a:
            if a["array"] != b["array"] or a["shape"] != b["shape"] or len(a["data"]) != len(b["data"]):
                return False
            return all(_same_number(x, y) for x, y in zip(np.ravel(a["data"]), np.ravel(b["data"])))
        if "float" in a:
            return _same_number(a["float"], b["float"])
        return all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _same_number(x, y):
    try:
        x, y = float(_unnumber(x)), float(_unnumber(y))
    except (TypeError, ValueError):
        return False
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or abs(x - y) <= 1e-12 * max(abs(x), abs(y))


# --- In the kernel: recording ---------------------------------------------------------------------

class _Recorder:
    """Wraps a learner's function: every call goes through, and its arguments and result are logged."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args, **kwargs):
        entry = {"args": encode(list(args)), "kwargs": encode(dict(kwargs))}
        self.calls.append(entry)
        try:
            result = self.fn(*args, **kwargs)
        except BaseException as err:
            entry["raised"] = [type(err).__name__, str(err)[:500]]
            raise
        finally:
            # What the call did to its arguments: a generator's new state, an array changed in place.
            after = encode(list(args))
            if not _same(after, entry["args"]):
                entry["args_after"] = after
        entry["result"] = encode(result)
        return result


def recorded(check):
    """Decorate a check so that, in a grading kernel, it also displays the record of the answer."""

    @functools.wraps(check)
    def wrapper(*answers, **kwargs):
        if not os.environ.get(GRADING_ENV):
            return check(*answers, **kwargs)
        wrapped = [_Recorder(a) if callable(a) else a for a in answers]
        try:
            return check(*wrapped, **kwargs)
        finally:
            record = {"check": check.__name__, "module": check.__module__,
                      "answers": [{"calls": a.calls} if isinstance(a, _Recorder) else {"value": encode(a)}
                                  for a in wrapped],
                      "kwargs": encode(dict(kwargs))}
            _display(record)
    _GENUINE.setdefault(check.__module__, {})[check.__name__] = wrapper
    return wrapper


#: Every decorated check, by module and name, as it was when its module was imported.
_GENUINE = {}


class _GenuineChecks:
    """A module's checks as decorated at import; any other attribute is the module's own."""

    def __init__(self, module, checks):
        self._module, self._checks = module, dict(checks)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._checks[name] if name in self._checks else getattr(self._module, name)

    def __repr__(self):
        return f"<genuine checks of {self._module.__name__}>"


def genuine_checks(module):
    """The checks of the module named ``module``, out of reach of a later patch of that module.

    The grading kernel calls this before any of the learner's code runs, and its test cells
    take their checks from the result. A learner's code that replaces ``module.check_x``, or
    ``builtins.__import__`` so that importing the checks gives a fake module, then does not
    change which check records the answer, so the answers are still recorded and judged
    (without it the records would be missing, and every exercise would score zero whatever the
    answers). The module is imported with ``importlib.import_module``, not the ``import``
    statement, for the same reason.
    """
    if not isinstance(module, str) or not module.startswith("statmech_dl.exercises."):
        raise ValueError(f"module must name a module of statmech_dl.exercises, got {module!r}")
    imported = importlib.import_module(module)
    checks = _GENUINE.get(module, {})
    if not checks:
        raise ValueError(f"module {module!r} has no recorded checks")
    return _GenuineChecks(imported, checks)


def _display(record):
    from IPython.display import display

    display({MIME_TYPE: json.loads(json.dumps(record))}, raw=True)


# --- In the grader: judging -----------------------------------------------------------------------

_BUILTIN_ERRORS = {name: obj for name, obj in vars(__import__("builtins")).items()
                   if isinstance(obj, type) and issubclass(obj, Exception)}


class _Replay:
    """Plays back a learner's function from its record, call by call, in the order the check calls it."""

    def __init__(self, calls, name):
        self.calls, self.name, self.position = list(calls), name, 0

    def __call__(self, *args, **kwargs):
        if self.position >= len(self.calls):
            raise RecordError(f"{self.name} was not evaluated on every test case (the check did not run "
                              "to the end in the notebook)")
        entry = self.calls[self.position]
        self.position += 1
        if not isinstance(entry, dict) or not (_same(encode(list(args)), entry.get("args"))
                                               and _same(encode(dict(kwargs)), entry.get("kwargs"))):
            raise RecordError(f"the recorded calls of {self.name} do not match the check's test cases")
        if "args_after" in entry:
            _apply_after(args, decode(entry["args_after"]))
        if "raised" in entry:
            name, message = (list(entry["raised"]) + ["", ""])[:2]
            error = _BUILTIN_ERRORS.get(str(name), RuntimeError)
            raise error(str(message) if error is not RuntimeError else f"{name}: {message}")
        if "result" not in entry:
            raise RecordError(f"{self.name} did not return (stopped in the notebook)")
        return decode(entry["result"])


def _apply_after(args, after):
    for arg, new in zip(args, after):
        if isinstance(arg, np.random.Generator) and isinstance(new, np.random.Generator):
            arg.bit_generator.state = new.bit_generator.state
        elif isinstance(arg, np.ndarray) and isinstance(new, np.ndarray) and arg.shape == new.shape:
            arg[...] = new


def judge(check, record):
    """Judge a record with the genuine ``check`` (a function decorated with :func:`recorded`).

    Returns ``(passed, message)``: ``message`` is what the check printed when it passed, and
    ``"ExceptionName: hint"`` when it failed, as the learner saw it in the notebook.
    """
    original = getattr(check, "__wrapped__", check)
    out = io.StringIO()
    try:
        if not isinstance(record, dict) or record.get("check") != original.__name__:
            raise RecordError("the answer record belongs to another check")
        answers = record.get("answers")
        if not isinstance(answers, list):
            raise RecordError("malformed answer record")
        args = []
        for i, answer in enumerate(answers):
            if isinstance(answer, dict) and "calls" in answer and isinstance(answer["calls"], list):
                args.append(_Replay(answer["calls"], f"answer {i + 1}"))
            elif isinstance(answer, dict) and "value" in answer:
                args.append(decode(answer["value"]))
            else:
                raise RecordError("malformed answer record")
        kwargs = decode(record.get("kwargs", {"dict": {}}))
        if not isinstance(kwargs, dict):
            raise RecordError("malformed answer record")
        with contextlib.redirect_stdout(out):
            original(*args, **kwargs)
    except Exception as err:                 # the check's verdict, or a record that does not fit
        name = "AssertionError" if isinstance(err, RecordError) else type(err).__name__
        return False, f"{name}: {err}"
    return True, out.getvalue().strip()
