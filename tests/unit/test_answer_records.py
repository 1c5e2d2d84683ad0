"""Answer records: a check's record, judged by the genuine check elsewhere, gives the kernel's verdict.

The grader (tools/grading.py) judges records in its own process; here the kernel's side (the
check in recording mode) and the grader's side (:func:`answer_records.judge`) run in one
process, with records captured instead of displayed.
"""

import json

import numpy as np
import pytest

from statmech_dl import init
from statmech_dl import linear_dynamics as ld
from statmech_dl.exercises import CORRECT, answer_records
from statmech_dl.exercises import deep_linear_dynamics as dex
from statmech_dl.exercises import saddle_points as spx
from statmech_dl.exercises import semantic_development as ex


@pytest.fixture
def records(monkeypatch):
    """Checks record (as in a grading kernel); the records land in this list, through JSON."""
    found = []
    monkeypatch.setenv(answer_records.GRADING_ENV, "1")
    monkeypatch.setattr(answer_records, "_display", lambda r: found.append(json.loads(json.dumps(r))))
    return found


def kernel_verdict(check, *answers):
    """What the learner sees in the kernel: (passed, message)."""
    try:
        check(*answers)
    except Exception as err:
        return False, f"{type(err).__name__}: {err}"
    return True, CORRECT


@pytest.mark.parametrize("answer", [
    ld.half_time,                                                          # right
    lambda s, a0, tau=1.0: tau / s * np.log(s / a0 - 1),                   # off by a factor
    lambda s, a0, tau=1.0: 0.0,                                            # wrong
    lambda s, a0, tau=1.0: np.nan,                                         # NaN
    lambda s, a0, tau=1.0: (_ for _ in ()).throw(NotImplementedError()),   # the stub
    lambda s, a0, tau=1.0: "text",                                         # not a number
])
def test_the_grader_reaches_the_kernels_verdict(records, answer):
    seen = kernel_verdict(ex.check_half_time, answer)
    assert len(records) == 1 and records[0]["check"] == "check_half_time"
    assert answer_records.judge(ex.check_half_time, records[0]) == seen


def test_value_answers_and_answers_with_a_random_generator(records):
    peak = ex.illusory_peak_time()
    for value in (peak, peak * 1.1, np.float64(peak), "peak"):
        seen = kernel_verdict(ex.check_illusory_peak, value)
        assert answer_records.judge(ex.check_illusory_peak, records[-1]) == seen
    # The generator's state after each call is replayed: the check's next draw is the kernel's.
    for haar, passes in [(lambda n, rng: init.orthogonal(n, rng=rng), True),
                         (lambda n, rng: np.linalg.qr(rng.standard_normal((n, n)))[0], False)]:
        seen = kernel_verdict(dex.check_haar, haar)
        assert seen[0] == passes
        assert answer_records.judge(dex.check_haar, records[-1]) == seen
    # Two answers, a function and a number, and a tuple result told apart from a list.
    seen = kernel_verdict(dex.check_typical_value, lambda L: np.exp(-L), 3)
    assert answer_records.judge(dex.check_typical_value, records[-1]) == seen == (True, CORRECT)
    seen = kernel_verdict(spx.check_hessian_variances, lambda n, p: [p * (p - 1) / n, 2 * p * (p - 1) / n])
    assert answer_records.judge(spx.check_hessian_variances, records[-1]) == seen == (True, CORRECT)


def test_a_patched_check_in_the_kernel_changes_nothing(records, monkeypatch):
    wrong = lambda s, a0, tau=1.0: 0.0                                     # noqa: E731
    # The kernel's check is made to pass everything (its comparison patched away)...
    monkeypatch.setattr(ex, "assert_close", lambda *a, **k: None)
    assert kernel_verdict(ex.check_half_time, wrong) == (True, CORRECT)
    record = records[-1]
    monkeypatch.undo()
    # ... but the grader's genuine check, on the record, fails it with the hint.
    passed, message = answer_records.judge(ex.check_half_time, record)
    assert not passed and "is off" in message and "rate is 2s/tau" in message


def test_genuine_checks_outlive_a_patch_of_their_module(records, monkeypatch):
    genuine = answer_records.genuine_checks(ex.__name__)
    # The learner's code replaces every check of the module by one that passes...
    for name in [n for n in dir(ex) if n.startswith("check_")]:
        monkeypatch.setattr(ex, name, lambda *args, **kwargs: None)
    # ... but the checks taken beforehand still run, and record, the real test.
    wrong = lambda s, a0, tau=1.0: 0.0                                     # noqa: E731
    assert not kernel_verdict(genuine.check_half_time, wrong)[0]
    assert records[-1]["check"] == "check_half_time"
    assert genuine.illusory_peak_time is ex.illusory_peak_time            # other names: the module's
    for bad in ("statmech_dl.linear_dynamics", "numpy", None):
        with pytest.raises(ValueError, match="module"):
            answer_records.genuine_checks(bad)


def test_forged_and_truncated_records_fail(records):
    kernel_verdict(ex.check_half_time, ld.half_time)
    good = records[-1]
    assert answer_records.judge(ex.check_half_time, good)[0]
    calls = good["answers"][0]["calls"]
    # A result changed, an argument changed, a call missing, a call duplicated, another check.
    forged = json.loads(json.dumps(good))
    for call in forged["answers"][0]["calls"][:2]:      # the check calls twice per case
        call["result"] = answer_records.encode(1.0)
    assert answer_records.judge(ex.check_half_time, forged) == (
        False, kernel_verdict(ex.check_half_time, lambda s, a0, tau: 1.0 if (s, a0, tau) == (1.0, 1e-3, 1.0)
                              else ld.half_time(s, a0, tau))[1])
    forged = json.loads(json.dumps(good))
    forged["answers"][0]["calls"][0]["args"] = answer_records.encode([2.0, 1e-3, 1.0])
    assert answer_records.judge(ex.check_half_time, forged) == (
        False, "AssertionError: the recorded calls of answer 1 do not match the check's test cases")
    forged = json.loads(json.dumps(good))
    forged["answers"][0]["calls"] = calls[:-1]
    passed, message = answer_records.judge(ex.check_half_time, forged)
    assert not passed and "not evaluated on every test case" in message
    forged = json.loads(json.dumps(good))
    forged["check"] = "check_tree_eigenvalues"
    assert not answer_records.judge(ex.check_half_time, forged)[0]
    for junk in (None, [], {"check": "check_half_time"}, {"check": "check_half_time", "answers": [{"calls": [7]}]},
                 {"check": "check_half_time", "answers": [{"value": {"array": "<f8", "shape": [2], "data": "xy"}}]}):
        passed, message = answer_records.judge(ex.check_half_time, junk)
        assert not passed and message.startswith(("AssertionError", "TypeError")), message


@pytest.mark.parametrize("value", [
    1.5, -0.0, float("nan"), float("inf"), 3, 2**70, True, None, "s", (1, 2.5), [1, (2, 3)], {"a": [1.0]},
    np.float64(0.1), np.int64(7), np.complex128(1 + 2j), np.arange(6.0).reshape(2, 3), np.array([np.nan, -np.inf]),
    np.array([1 + 1j, 2]), np.arange(4, dtype=np.int32), np.zeros((0, 3)),
])
def test_encode_decode_round_trip(value):
    back = answer_records.decode(json.loads(json.dumps(answer_records.encode(value))))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, float) and np.isnan(value):
        assert np.isnan(back)
    else:
        assert back == value


def test_recording_is_off_outside_grading(monkeypatch, capsys):
    monkeypatch.delenv(answer_records.GRADING_ENV, raising=False)
    monkeypatch.setattr(answer_records, "_display", lambda r: pytest.fail("recorded outside grading"))
    ex.check_half_time(ld.half_time)
    assert capsys.readouterr().out == CORRECT + "\n"
