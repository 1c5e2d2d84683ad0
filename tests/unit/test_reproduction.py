"""The claim records of the reproduction page: fields, verdicts against numbers, what is displayed."""

import pytest

from statmech_dl import reproduction

FIELDS = dict(key="tc-x", section="tc-qmap", claim="a claim", source="poole2016exponential",
              source_value="chi1 = 1", theory="1.00", simulation="0.99", agreement="1%", why="because")


def test_a_record_carries_every_field_and_travels_in_the_output():
    claim = reproduction.record(**FIELDS, verdict="reproduced", error=0.01, tolerance=0.05, display=False)
    assert set(claim) >= set(FIELDS) | {"verdict", "error", "tolerance", "holds"} and claim["holds"] is True
    data, metadata = claim._repr_mimebundle_()
    assert set(data) == {"text/plain"}  # the website renders it as text, with no unknown MIME type
    assert metadata[reproduction.METADATA_KEY]["key"] == "tc-x"
    assert data["text/plain"].startswith("Reproduction page: a claim")


@pytest.mark.parametrize("verdict,holds", [("reproduced", True), ("reproduced, scaled down", True),
                                           ("qualitative only", True), ("not reproduced", False)])
def test_verdicts_that_agree_with_the_numbers_are_accepted(verdict, holds):
    assert reproduction.record(**FIELDS, verdict=verdict, holds=holds, display=False)["verdict"] == verdict


def test_a_claim_not_tested_asserts_nothing():
    out = reproduction.record(**FIELDS, verdict="not tested", display=False)
    assert out["verdict"] == "not tested" and out["holds"] is None and out["error"] is None
    for kwargs in (dict(holds=True), dict(holds=False), dict(error=0.0, tolerance=0.1)):
        with pytest.raises(ValueError, match="not tested takes neither"):
            reproduction.record(**FIELDS, verdict="not tested", **kwargs, display=False)


@pytest.mark.parametrize("verdict,kwargs", [
    ("reproduced", dict(error=0.2, tolerance=0.1)),
    ("not reproduced", dict(error=0.05, tolerance=0.1)),
    ("qualitative only", dict(holds=False)),
    ("not reproduced", dict(holds=True)),
])
def test_a_verdict_that_disagrees_with_its_numbers_is_refused(verdict, kwargs):
    with pytest.raises(ValueError, match="disagrees with the numbers"):
        reproduction.record(**FIELDS, verdict=verdict, **kwargs, display=False)


@pytest.mark.parametrize("change,name", [
    (dict(source_value=""), "source_value"), (dict(claim=None), "claim"),
    (dict(verdict="sort of"), "verdict"), (dict(error=0.1), "error and tolerance"),
    (dict(holds=True, error=0.1, tolerance=0.2), "give either"), (dict(holds="yes"), "holds"),
    (dict(error=0.1, tolerance=-1.0), "tolerance"),
])
def test_bad_records(change, name):
    args = dict(FIELDS, verdict="reproduced", holds=True)
    args.update(change)
    if "error" in change and "holds" not in change:
        del args["holds"]
    with pytest.raises(ValueError, match=name):
        reproduction.record(**args, display=False)


def test_outside_a_notebook_the_line_is_printed(capsys):
    assert reproduction.record(**FIELDS, verdict="reproduced", holds=True) is None
    assert capsys.readouterr().out.startswith("Reproduction page: a claim")


def test_maths_and_equation_references_print_plainly_and_unpaired_dollars_are_refused():
    claim = reproduction.record(**{**FIELDS, "claim": r"$\chi_1$ sets order", "agreement": "{eq}`eq-tc-x` holds"},
                                verdict="reproduced", holds=True, display=False)
    assert repr(claim).startswith(r"Reproduction page: \chi_1 sets order") and "(eq-tc-x) holds" in repr(claim)
    with pytest.raises(ValueError, match=r"theory has an unpaired \$"):
        reproduction.record(**{**FIELDS, "theory": "$q^*"}, verdict="reproduced", holds=True, display=False)
