"""DFA file formats: round trips (JSON, DOT, JFF), foreign dialects, and every error naming its place."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.automata.dfa import DFA
from statetrack.errors import DFAFormatError, StatetrackError
from statetrack.automata.formats import (
    dfa_from_dot,
    dfa_from_jff,
    dfa_from_json,
    dfa_to_dot,
    dfa_to_jff,
    dfa_to_json_text,
    load_dfa,
    save_dfa,
)

PARITY = {"alphabet": ["0", "1"], "states": ["even", "odd"], "start": "even", "accepting": ["even"],
          "transitions": {"even": {"0": "even", "1": "odd"}, "odd": {"0": "odd", "1": "even"}}}


def partial_multichar() -> DFA:
    """Partial DFA, multi-character symbols, an unused symbol, awkward names, start not first."""
    names = ["p", 'q "x"', "r\\s", "é ü", "->"]
    delta = [[1, -1, -1, -1], [2, 0, -1, -1], [-1, -1, 3, -1], [4, 4, 4, -1], [0, -1, -1, -1]]
    return DFA(["push", "pop", "a b", "never"], names, 2, [False, True, False, True, False], delta)


READ = {"json": lambda t: dfa_from_json(t), "dot": dfa_from_dot, "jff": dfa_from_jff}
WRITE = {"json": dfa_to_json_text, "dot": dfa_to_dot, "jff": dfa_to_jff}


@pytest.mark.parametrize("fmt", ["json", "dot", "jff"])
def test_text_round_trip_keeps_everything(fmt):
    for d in (DFA.from_json(PARITY), partial_multichar()):
        back = READ[fmt](WRITE[fmt](d))
        assert back == d  # same alphabet order, state names and order, start, accepting, delta (incl. -1)
        assert not back.is_complete or d.is_complete


@pytest.mark.parametrize("suffix", [".json", ".dot", ".gv", ".jff"])
def test_file_round_trip_by_suffix(tmp_path, suffix):
    d = partial_multichar()
    path = tmp_path / f"sub/m{suffix}"
    save_dfa(d, path)
    assert load_dfa(path) == d
    assert DFA.load(str(path)) == d
    d.save(tmp_path / "again.bin", fmt=suffix.strip(".").replace("gv", "dot"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_json_sources_dict_text_path(tmp_path):
    p = tmp_path / "parity.json"
    p.write_text(json.dumps(PARITY))
    ds = [dfa_from_json(PARITY), dfa_from_json(json.dumps(PARITY)), dfa_from_json(p), dfa_from_json(str(p)),
          DFA.from_json(p)]
    assert all(d == ds[0] for d in ds)
    assert ds[0].accepts("0110") and not ds[0].accepts("01")


def test_json_missing_transition_is_implicit_sink():
    obj = dict(PARITY, transitions={"even": {"1": "odd"}, "odd": {"0": ["odd"], "1": []}})
    d = dfa_from_json(obj)
    assert d.delta.tolist() == [[-1, 1], [1, -1]]
    assert not d.accepts("0") and not d.accepts("11") and d.accepts("")


def test_state_names_that_look_like_start_markers():
    # the start state has no incoming edge; names used by start markers must stay states
    d = DFA(["a"], ["__start0", "starting_1", "__start1"], 0, [True, False, True], [[1], [2], [-1]])
    for fmt in ("dot", "jff", "json"):
        assert READ[fmt](WRITE[fmt](d)) == d, fmt
    assert "__start2 -> \"__start0\"" in dfa_to_dot(d)


def test_save_unknown_suffix_writes_nothing(tmp_path):
    with pytest.raises(DFAFormatError, match="suffix"):
        save_dfa(DFA.from_json(PARITY), tmp_path / "x.txt")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DFAFormatError, match="unknown DFA format 'xml'"):
        save_dfa(DFA.from_json(PARITY), tmp_path / "x.json", fmt="xml")


names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), min_size=1, max_size=6)


@st.composite
def random_dfas(draw):
    alphabet = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    states = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    n, k = len(states), len(alphabet)
    delta = draw(st.lists(st.lists(st.integers(-1, n - 1), min_size=k, max_size=k), min_size=n, max_size=n))
    acc = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    start = draw(st.integers(0, n - 1))
    return DFA(alphabet, states, start, np.array(acc, dtype=bool), delta)


@settings(max_examples=60)
@given(random_dfas())
def test_random_round_trips(d):
    for fmt in ("json", "dot", "jff"):
        assert READ[fmt](WRITE[fmt](d)) == d, fmt


# ---------------------------------------------------------------------------- foreign dialects
PYFORMLANG_DOT = """digraph  {
0 [is_final=False, is_start=True, label=0, peripheries=1];
starting_0 [height="0.0", label="", shape=None, width="0.0"];
1 [is_final=True, is_start=False, label=1, peripheries=2];
"q 2" [is_final=False, is_start=False, label="q 2", peripheries=1];
0 -> 1  [key=0, label=a];
0 -> "q 2"  [key=0, label=bc];
1 -> 1  [key=0, label=a];
"q 2" -> 0  [key=0, label=a];
starting_0 -> 0  [key=0];
}
"""


def test_reads_pyformlang_dot():
    d = dfa_from_dot(PYFORMLANG_DOT)
    assert d.states == ("0", "1", "q 2")
    assert d.alphabet == ("a", "bc")  # sorted labels when no statetrack_alphabet is given
    assert d.states[d.start] == "0"
    assert d.accepting.tolist() == [False, True, False]
    assert d.delta.tolist() == [[1, 2], [1, -1], [0, -1]]
    assert d.accepts(["bc", "a", "a"]) and not d.accepts(["bc"])


COMMON_DOT = """/* the classic graphviz FSM layout */
strict digraph finite_state_machine {
    rankdir=LR; size="8,5"
    node [shape = doublecircle]; q1 "q" + "3";
    node [shape = circle];
    // an invisible start marker
    start [style=invis];
    start -> q0
    q0 -> q1 [label="a"];
    q0 -> q2 [ label = "b" ];
    subgraph cluster_x { edge [label="a"]; q1 -> q2 -> q3; }
    q3 -> q0 [label=b, color=red];
# preprocessor line
}
"""


def test_reads_common_dot_dialect():
    d = dfa_from_dot(COMMON_DOT)
    assert d.states == ("q1", "q3", "q0", "q2")
    assert d.states[d.start] == "q0"
    assert [d.states[q] for q in np.flatnonzero(d.accepting)] == ["q1", "q3"]
    assert d.accepts("a") and d.accepts("aaa") and d.accepts("baaba") is False
    assert d.accepts("ba") and not d.accepts("bab") and d.accepts("baba") and not d.accepts("b")


JFLAP6 = """<?xml version="1.0" encoding="UTF-8" standalone="no"?><!--Created with JFLAP 6.4.--><structure>
\t<type>fa</type>
\t<!--The list of states.-->
\t<state id="0" name="q0"><x>80.0</x><y>90.0</y><initial/></state>
\t<state id="1" name="q1"><x>180.0</x><y>90.0</y><final/></state>
\t<state id="7"><x>280.0</x><y>90.0</y></state>
\t<!--The list of transitions.-->
\t<transition><from>0</from><to>1</to><read>x</read></transition>
\t<transition><from>1</from><to>7</to><read>yy</read></transition>
\t<transition><from>7</from><to>1</to><read>x</read></transition>
</structure>"""


def test_reads_jflap6_layout(tmp_path):
    latin1 = JFLAP6.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace('name="q1"', 'name="qé"')
    p = tmp_path / "latin1.jff"
    p.write_bytes(latin1.encode("latin-1"))
    assert load_dfa(p).states[1] == "qé"  # the XML declaration's encoding is honoured
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(PARITY).encode())
    assert load_dfa(bom) == dfa_from_json(PARITY)
    bad = tmp_path / "bad.dot"
    bad.write_bytes(b"digraph {\n  a -> b [label=\"\xff\"];\n}")
    with pytest.raises(DFAFormatError, match=r"bad\.dot: line 2: not UTF-8 text"):
        load_dfa(bad)
    d = dfa_from_jff(JFLAP6)
    assert d.states == ("q0", "q1", "q7") and d.alphabet == ("x", "yy")
    assert d.start == 0 and d.accepting.tolist() == [False, True, False]
    assert d.accepts(["x", "yy", "x"]) and not d.accepts(["x", "yy"])


# ---------------------------------------------------------------------------- errors name their place
def _json_err(**changes):
    obj = json.loads(json.dumps(PARITY))
    for k, v in changes.items():
        if v is None:
            del obj[k]
        else:
            obj[k] = v
    return obj


@pytest.mark.parametrize("obj, needle", [
    (_json_err(start=None), "missing 'start'"),
    (_json_err(start="nope"), "'start': unknown state 'nope'"),
    (_json_err(states=["even", "odd", "even"]), "duplicate state 'even' in 'states' (positions 0 and 2)"),
    (_json_err(alphabet=["0", "1", "0"]), "duplicate symbol '0' in 'alphabet'"),
    (_json_err(alphabet=["0", ""]), "empty string"),
    (_json_err(accepting=["even", "odd2"]), "'accepting': unknown state 'odd2'"),
    (_json_err(transitions={"even": {"x": "odd"}}), "transitions of state 'even', symbol 'x': unknown symbol 'x'"),
    (_json_err(transitions={"odd": {"1": "q9"}}), "transitions of state 'odd', symbol '1': unknown target state 'q9'"),
    (_json_err(transitions={"q1": {"1": "odd"}}), "'transitions': unknown state 'q1'"),
    (_json_err(transitions={"even": {"1": ["odd", "even"]}}), "non-determinism: transitions of state 'even', symbol '1'"),
    (_json_err(states="even"), "'states' must be a list of strings"),
    (_json_err(states=["even", 1]), "'states'[1] must be a string"),
    ([1, 2], "the top level must be a JSON object"),
])
def test_json_errors_name_the_culprit(obj, needle):
    with pytest.raises(DFAFormatError) as e:
        dfa_from_json(obj) if isinstance(obj, dict) else dfa_from_json(json.dumps(obj))
    assert needle in str(e.value)
    assert isinstance(e.value, StatetrackError)


def test_json_syntax_error_has_line_and_column(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{\n  "alphabet": ["0", "1"],\n  "states": ["a" "b"]\n}')
    with pytest.raises(DFAFormatError, match=r"bad\.json: JSON syntax error at line 3, column 18"):
        load_dfa(p)


def test_json_text_duplicate_keys():
    text = json.dumps(PARITY).replace('"even": {"0": "even", "1": "odd"}', '"even": {"0": "even", "1": "odd", "1": "even"}')
    with pytest.raises(DFAFormatError, match="non-determinism: transitions of state 'even', symbol '1' go to 'odd' and to 'even'"):
        dfa_from_json(text)
    text = json.dumps(PARITY).replace('"odd": {"0"', '"even": {}, "odd": {"0"')
    with pytest.raises(DFAFormatError, match="state 'even' given twice"):
        dfa_from_json(text)


GOOD_DOT = dfa_to_dot(DFA.from_json(PARITY)).splitlines()


def _dot_with(extra: list[str], drop: str | None = None) -> str:
    lines = [ln for ln in GOOD_DOT[:-1] if drop is None or drop not in ln]
    return "\n".join(lines + extra + ["}"])


@pytest.mark.parametrize("text, needle", [
    (_dot_with(['  "even" -> "even" [label="1"];']),
     "line 13: non-determinism: state 'even' has two edges on symbol '1': to 'odd' (line 10) and to 'even' (line 13)"),
    (_dot_with([], drop="__start0 ->"), "no start state"),
    (_dot_with(['  __start0 -> "odd";']), "several start states: 'even' (line 8), 'odd' (line 13)"),
    (_dot_with(['  "odd" -> "even" [label="x"];']), "line 13: edge 'odd' -> 'even': unknown symbol 'x'"),
    (_dot_with(['  "odd" -> "even";']), "line 13: edge 'odd' -> 'even' has no label"),
    (_dot_with(['  "odd" -> "even" [label=""];']), "line 13: edge 'odd' -> 'even' has an empty label"),
    (_dot_with(['  "odd" -> ;']), "line 13: expected a node name, found ';'"),
    (_dot_with(['  "odd" -> "even" [label="0" @];']), "line 13: unexpected character '@'"),
    ("graph g { a -- b }", "line 1: an undirected 'graph' cannot be a DFA"),
    ("digraph g {\n a -> b [label=x]\n", "missing '}'"),
])
def test_dot_errors_name_the_culprit(text, needle):
    with pytest.raises(DFAFormatError) as e:
        dfa_from_dot(text, where="m.dot")
    assert str(e.value).startswith("m.dot: ")
    assert needle in str(e.value)


GOOD_JFF = dfa_to_jff(DFA.from_json(PARITY))


@pytest.mark.parametrize("text, needle", [
    (GOOD_JFF.replace("<read>1</read>", "<read>0</read>", 1),
     "non-determinism: state 'even' has two transitions on symbol '0': to 'even' (line 17) and to 'odd' (line 22)"),
    (GOOD_JFF.replace("<initial/>", ""), "no start state"),
    (GOOD_JFF.replace('name="odd"', 'name="even"'), "line 13: duplicate state 'even' (first at line 7)"),
    (GOOD_JFF.replace("<to>1</to>", "<to>5</to>", 1), "line 24: transition to unknown state id '5'"),
    (GOOD_JFF.replace("<read>1</read>", "<read/>", 1), "line 22: transition 'even' -> 'odd' reads the empty word"),
    (GOOD_JFF.replace("<read>1</read>", "<read>x</read>", 1), "line 22: transition 'even' -> 'odd': unknown symbol 'x'"),
    (GOOD_JFF.replace("</automaton>", ""), "XML syntax error at line"),
    (GOOD_JFF.replace("<type>fa</type>", "<type>pda</type>"), "line 4: JFLAP <type> is 'pda'"),
    (GOOD_JFF.replace('<state id="1"', '<state id="0"'), "line 13: duplicate state id '0'"),
])
def test_jff_errors_name_the_culprit(text, needle):
    with pytest.raises(DFAFormatError) as e:
        dfa_from_jff(text, where="m.jff")
    assert str(e.value).startswith("m.jff: ")
    assert needle in str(e.value)


def test_load_reports_the_path(tmp_path):
    p = tmp_path / "broken.jff"
    p.write_text(GOOD_JFF.replace("<initial/>", ""))
    with pytest.raises(DFAFormatError, match=r"broken\.jff: no start state"):
        DFA.load(p)
    with pytest.raises(DFAFormatError, match=r"absent\.dot: no such file"):
        load_dfa(tmp_path / "absent.dot")
    with pytest.raises(DFAFormatError, match="cannot tell the DFA format"):
        load_dfa(Path("x.yaml"))
