"""The demo command: every language compiled, proved, and run in float32 and bfloat16."""
import json

from statetrack.cli import main

EXACT = {"parity", "mod:3", "group:S3", "group:S5", "group:Q8", "tomita:5", "tomita:3"}


def test_demo_json(capsys):
    assert main(["demo", "--steps", "3000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["language"]: r for r in out["rows"]}
    assert list(rows) == ["parity", "mod:3", "mod:5", "group:S3", "group:S5", "group:Q8", "modsum:5", "tomita:5",
                          "tomita:3"]
    assert rows["tomita:3"]["construction"] == "direct" and rows["tomita:3"]["layers"] == 2
    assert all(r["proved"] for r in rows.values())
    # auto prefers exact at equal cost: mod:3 as a 3-cycle (2 reflections), mod:5 as a rotation (2 < 4 factors)
    assert rows["mod:3"]["construction"] == "group" and rows["mod:3"]["factors"] == [2]
    assert rows["mod:5"]["construction"] == "rotation" and rows["modsum:5"]["layers"] == 2
    assert rows["group:Q8"]["dims"] == [4] and rows["group:Q8"]["factors"] == [4]
    assert rows["group:S5"]["dims"] == [5] and rows["group:S5"]["factors"] == [4]
    for name, r in rows.items():
        assert r["float32"]["errors"] == 0 and r["float32"]["max_len"] == 3000, name
        if name in EXACT:  # permutations and resets with integer keys: bit-exact in bfloat16
            assert r["bfloat16"]["errors"] == 0 and r["bfloat16"]["max_drift"] == 0.0, name
        else:  # irrational rotations drift in float32 but stay decodable
            assert 0 < r["float32"]["max_drift"] < 0.5, name
    # the CLI prints statetrack.tour.demo_rows as they are: the same rows, field by field, for the same seed
    from statetrack.tour import DEMO, DEMO_DTYPES, DemoRow, demo_rows

    library = demo_rows(steps=3000, languages=DEMO[:2])
    assert all(isinstance(r, DemoRow) and set(r.numeric) == set(DEMO_DTYPES) for r in library)
    assert [json.loads(json.dumps(r.to_json())) for r in library] == out["rows"][:2]


def test_demo_table(capsys):
    assert main(["demo", "--steps", "200"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:6] == ["language", "construction", "layers", "dims", "factors", "proved"]
    assert "group:S5" in text and "modadd2" in text


def test_demo_rows_errors_name_the_parameter():
    import pytest

    from statetrack.errors import StatetrackError
    from statetrack.tour import demo_rows

    with pytest.raises(StatetrackError, match="steps must be at least 1"):
        demo_rows(steps=0)
    assert main(["demo", "--steps", "0"]) == 2
