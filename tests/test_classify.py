"""Expressivity verdicts per LRNN family, checked by hand against the theorems (see docs/expressivity.md)."""
from __future__ import annotations

import json

import pytest

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError
from statetrack.automata.expressivity import FAMILIES, VERDICTS, classify
try:  # shared hand-built languages (tests/ may or may not be a package)
    from test_monoid import counter, flipflop, s3, s5, tomita, word_problem
except ImportError:  # pragma: no cover
    from tests.test_monoid import counter, flipflop, s3, s5, tomita, word_problem

IMP, CON, OPEN = "impossible", "constructible", "open"


def block3() -> DFA:
    """Letters a, b, c move 0->1->2->3 and 3->4->5->0 (else to a sink); only abc (length 3) has period 2."""
    d = [[1, 6, 6], [6, 2, 6], [6, 6, 3], [4, 6, 6], [6, 5, 6], [6, 6, 0], [6, 6, 6]]
    return DFA(["a", "b", "c"], None, 0, [q == 0 for q in range(7)], d)


def s3_transpositions() -> DFA:
    return word_problem([(1, 0, 2), (0, 2, 1)], ["a", "b"])


# family order: diagonal[0,1], diagonal[-1,1], deltanet[0,1], deltanet[-1,1], deltaproduct[0,1],
#               deltaproduct[-1,1], unconstrained
TABLE = {
    "parity": (counter(2), [IMP, CON, IMP, CON, OPEN, CON, CON]),
    "mod:3": (counter(3), [IMP, IMP, IMP, CON, OPEN, CON, CON]),
    "mod:4": (counter(4), [IMP, CON, IMP, CON, OPEN, CON, CON]),
    "tomita:1": (tomita(1), [CON] * 7),
    "tomita:2": (tomita(2), [CON] * 7),
    "tomita:3": (tomita(3), [IMP, CON, IMP, CON, OPEN, CON, CON]),
    "tomita:4": (tomita(4), [CON] * 7),
    "tomita:5": (tomita(5), [IMP, CON, IMP, CON, OPEN, CON, CON]),
    "tomita:6": (tomita(6), [IMP, IMP, IMP, CON, OPEN, CON, CON]),
    "tomita:7": (tomita(7), [CON] * 7),
    "group:S3": (s3(), [IMP, IMP, IMP, OPEN, OPEN, CON, CON]),
    "group:S3 by transpositions": (s3_transpositions(), [IMP, IMP, IMP, CON, OPEN, CON, CON]),
    "group:S5": (s5(), [IMP, IMP, IMP, OPEN, OPEN, CON, CON]),
    "flipflop": (flipflop(), [CON] * 7),
    "block3": (block3(), [IMP, CON, OPEN, CON, OPEN, CON, CON]),
}


@pytest.fixture(scope="module")
def results() -> dict:
    return {name: classify(dfa) for name, (dfa, _) in TABLE.items()}


@pytest.mark.parametrize("name", list(TABLE))
def test_verdict_table(name, results):
    got = [results[name]["families"][f]["verdict"] for f in FAMILIES]
    assert got == TABLE[name][1]
    for v in results[name]["families"].values():
        assert v["verdict"] in VERDICTS and v["theorem"] and v["reason"]
        if v["verdict"] == CON:
            assert set(v["construction"]) >= {"layers", "state_size", "factors_per_token"}
        else:
            assert v["construction"] is None
    json.dumps(results[name])  # JSON-ready


@pytest.mark.parametrize("name", list(TABLE))
def test_witnesses_are_real(name, results):
    dfa = TABLE[name][0]
    for fam, v in results[name]["families"].items():
        w = v["witness"]
        if w is None:
            continue
        u, x, y, p = w["word"], w["prefix"], w["suffix"], w["period"]
        assert p >= 2
        accepted = {k % p for k in range(w["index"], w["index"] + 2 * p) if dfa.accepts(x + u * k + y)}
        assert accepted == set(w["accepted_residues"])
        assert 0 < len(accepted) < p  # membership of x u^k y really cycles
        if v["verdict"] == IMP and fam == "diagonal[-1,1]":
            assert p & (p - 1) != 0  # Theorem 2 needs a period that is not a power of 2
        if v["verdict"] == IMP and fam == "deltanet[0,1]":
            assert len(u) <= 2  # Proposition 1 covers products of at most two GH factors


def test_construction_sizes(results):
    fam = {n: results[n]["families"] for n in results}
    assert fam["parity"]["deltaproduct[-1,1]"]["construction"]["state_size"] == 1  # scalar -1
    assert fam["parity"]["diagonal[-1,1]"]["construction"]["layers"] == 1
    assert fam["mod:3"]["deltaproduct[-1,1]"]["construction"]["state_size"] == 2  # 2x2 rotation
    assert fam["mod:3"]["deltaproduct[-1,1]"]["construction"]["factors_per_token"] == 2
    dn = fam["mod:3"]["deltanet[-1,1]"]
    assert dn["construction"]["layers"] == 2 and dn["min_layers"] == 2 and dn["theorem"] == "Theorem 6"
    assert fam["mod:4"]["diagonal[-1,1]"]["min_layers"] == 2  # period 4 needs 2 layers of real eigenvalues
    assert fam["tomita:5"]["deltanet[-1,1]"]["construction"]["layers"] == 1
    assert fam["group:S3 by transpositions"]["deltanet[-1,1]"]["construction"]["factors_per_token"] == 1
    assert fam["group:S5"]["deltanet[-1,1]"]["min_layers"] == 2  # the 5-cycle letter
    s5c = fam["group:S5"]["deltaproduct[-1,1]"]["construction"]
    # a small faithful action replaces the 120 DFA states (the greedy block search finds 6 points: PGL(2,5))
    assert s5c["layers"] == 1 and s5c["state_size"] <= 6 and s5c["factors_per_token"] <= 4
    assert fam["flipflop"]["diagonal[0,1]"]["construction"]["layers"] == 1  # a reset automaton
    assert fam["tomita:1"]["unconstrained"]["construction"]["state_size"] == 2
    assert "Merrill" in fam["group:S5"]["diagonal[-1,1]"]["theorem"]


def test_log_precision_weakens_only_the_rounding_arguments():
    s5_log = classify(s5(), precision="log")["families"]
    assert s5_log["diagonal[0,1]"]["verdict"] == "impossible-unless-TC0=NC1"
    assert s5_log["diagonal[-1,1]"]["verdict"] == "impossible-unless-TC0=NC1"
    assert s5_log["deltanet[0,1]"]["verdict"] == OPEN
    assert s5_log["deltaproduct[-1,1]"]["verdict"] == CON
    assert classify(counter(3), precision="log")["families"]["diagonal[-1,1]"]["verdict"] == OPEN
    with pytest.raises(StatetrackError):
        classify(counter(3), precision="double")


def test_trivial_and_size_guard():
    everything = DFA(["a"], None, 0, [True], [[0]])
    fams = classify(everything)["families"]
    assert all(v["verdict"] == CON for v in fams.values())
    with pytest.raises(StatetrackError, match="max_elements"):
        classify(s5(), max_elements=50)


# --------------------------------------------------------------------------- CLI
def _write(tmp_path, dfa: DFA):
    path = tmp_path / "lang.json"
    path.write_text(json.dumps(dfa.to_json()))
    return str(path)


def test_cli_monoid_and_classify(tmp_path, capsys):
    from statetrack.cli import main

    src = _write(tmp_path, tomita(5))
    dot = tmp_path / "egg.dot"
    assert main(["monoid", "--dfa", src, "--json", "--dot", str(dot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["states"] == 4 and out["monoid_size"] == 4 and out["idempotents"] == 1
    assert out["aperiodic"] is False and out["is_group"] is True
    assert out["groups"] == [{"order": 4, "abelian": True, "cyclic": False, "solvable": True, "perfect": False,
                              "simple": False, "name": "Z2xZ2", "degree": 4, "idempotent_word": ""}]
    assert len(out["d_classes"]) == 1 and dot.read_text().startswith("digraph")
    assert main(["classify", "--dfa", src, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["families"]) == set(FAMILIES)
    assert out["families"]["diagonal[0,1]"]["verdict"] == IMP
    assert main(["monoid", "--dfa", src]) == 0
    assert "Z2xZ2" in capsys.readouterr().out
    assert main(["classify", "--dfa", src]) == 0
    assert "deltaproduct[-1,1]" in capsys.readouterr().out


def test_cli_guard_exits_2(tmp_path, capsys):
    from statetrack.cli import main

    src = _write(tmp_path, s5())
    assert main(["monoid", "--dfa", src, "--max-elements", "10", "--json"]) == 2
    assert "max_elements=10" in json.loads(capsys.readouterr().out)["error"]


def test_catalog_languages_agree_when_available():
    from statetrack.automata import catalog
    from statetrack.automata.monoid import syntactic_monoid

    s5m = syntactic_monoid(catalog.get_language("group:S5"))
    assert s5m.size == 120 and not s5m.maximal_subgroups()[0].info.solvable
    assert syntactic_monoid(catalog.get_language("group:A5")).maximal_subgroups()[0].info.perfect
    for i in (1, 2, 4, 7):
        assert syntactic_monoid(catalog.get_language(f"tomita:{i}")).is_aperiodic()
    assert [s.info.name for s in syntactic_monoid(catalog.get_language("tomita:5")).maximal_subgroups()] == ["Z2xZ2"]
    assert [s.info.name for s in syntactic_monoid(catalog.get_language("tomita:6")).maximal_subgroups()] == ["Z3"]
    assert "Z2" in [s.info.name for s in syntactic_monoid(catalog.get_language("tomita:3")).maximal_subgroups()]
