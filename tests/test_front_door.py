"""The front door (statetrack.api): language sources, classify, monoid, compile, prove, save/load and to_module.

``to_module`` is checked against the DFA itself (``DFA.trace``, the plain reference) on fresh random words.
"""
from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch

import statetrack
from statetrack.api import catalog_group_action, parse_alphabet
from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError


def parity_dfa() -> DFA:
    return DFA(["0", "1"], ["even", "odd"], 0, [True, False], [[0, 1], [1, 0]])


# ---------------------------------------------------------------------------------------------------- sources
def test_language_sources_agree(tmp_path):
    path = tmp_path / "parity.json"
    path.write_text(json.dumps(parity_dfa().to_json()))
    by_name = statetrack.language(lang="parity")
    by_regex = statetrack.language(regex="0*(10*10*)*")
    by_file = statetrack.language(dfa=str(path))
    by_object = statetrack.language(dfa=parity_dfa())
    for d in (by_regex, by_file, by_object):
        assert d.equivalent(by_name).equivalent
    assert by_file.n_states == 2 and by_object.n_states == 2


def test_language_alphabet():
    # a string of characters, a comma-separated string and a list all name the same alphabet
    for alphabet in ("abc", "a,b,c", "a b c", ["a", "b", "c"]):
        d = statetrack.language(regex="a.*", alphabet=alphabet)
        assert d.alphabet == ("a", "b", "c") and d.accepts("acb") and not d.accepts("ba")
    extended = statetrack.language(lang="parity", alphabet="012")
    assert extended.alphabet == ("0", "1", "2")
    assert parse_alphabet(None) is None and parse_alphabet("a b") == ["a", "b"]


def test_language_minimize_flag():
    redundant = DFA(["a"], ["p", "q"], 0, [True, True], [[1], [0]])
    assert statetrack.language(dfa=redundant).n_states == 1
    assert statetrack.language(dfa=redundant, minimize=False).n_states == 2


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one language source.*none"),
    ({"lang": "parity", "regex": "a*"}, "exactly one language source.*lang, regex"),
    ({"regex": 3}, "regex must be a string"),
    ({"dfa": 3.5}, "dfa must be a DFA or the path"),
    ({"lang": 7}, "lang must be a catalog name"),
    ({"regex": "a", "alphabet": [1, 2]}, "alphabet must be a string or a sequence of strings"),
])
def test_language_errors_name_the_parameter(kwargs, match):
    with pytest.raises(StatetrackError, match=match):
        statetrack.language(**kwargs)


def test_language_errors_from_the_sources():
    with pytest.raises(StatetrackError):
        statetrack.language(lang="no-such-language")
    with pytest.raises(StatetrackError, match="no such file"):
        statetrack.language(dfa="no/such/file.json")
    with pytest.raises(statetrack.RegexSyntaxError):
        statetrack.language(regex="(a")


# ------------------------------------------------------------------------------------------ classify, monoid
def test_classify_and_monoid():
    d = statetrack.language(lang="mod:3")
    c = statetrack.classify(d)
    assert isinstance(c, statetrack.Classification)
    assert c.families["diagonal[-1,1]"]["verdict"] == "impossible"
    assert c.to_json()["monoid_size"] == 3
    m = statetrack.monoid(d, with_elements=True)
    assert isinstance(m, statetrack.MonoidReport)
    assert m.monoid_size == 3 and m.is_group and [g["name"] for g in m.groups] == ["Z3"]
    assert len(m.to_json()["elements"]) == 3 and "elements" not in statetrack.monoid(d).to_json()


def test_classify_and_monoid_errors_name_the_parameter():
    d = statetrack.language(lang="parity")
    with pytest.raises(StatetrackError, match="precision must be one of finite, log"):
        statetrack.classify(d, precision="infinite")
    with pytest.raises(StatetrackError, match="max_elements must be positive"):
        statetrack.classify(d, max_elements=0)
    with pytest.raises(StatetrackError, match="max_elements must be positive"):
        statetrack.monoid(d, max_elements=0)
    with pytest.raises(StatetrackError, match="classify: dfa must be a DFA"):
        statetrack.classify("parity")
    with pytest.raises(StatetrackError, match="monoid: dfa must be a DFA"):
        statetrack.monoid(None)


# ------------------------------------------------------------------------------------------------- compile
def test_compile_typed_model():
    model = statetrack.compile(statetrack.language(lang="mod:5"))  # a rotation: 2 factors, fewer than any exact one
    assert isinstance(model, statetrack.CompiledModel)
    assert (model.construction, model.layers, model.dims, model.factors, model.codes) == ("rotation", 1, [2], [2], [5])
    assert model.eigenvalue_range == [-1.0, 1.0] and model.max_norm == 1.0
    assert model.reason.startswith("auto:") and model.details["modulus"] == 5
    report = model.to_json()
    assert report["construction"] == "rotation" and report["modulus"] == 5 and list(report)[-1] == "reason"
    assert model.dfa.n_states == 5
    assert model.prove().proved
    exact = statetrack.compile(statetrack.language(lang="mod:3"))  # auto prefers exact at equal cost: a 3-cycle
    assert (exact.construction, exact.dims, exact.factors) == ("group", [3], [2])


def test_compile_named_construction_and_errors():
    d = statetrack.language(lang="tomita:3")
    assert statetrack.compile(d, "unconstrained").construction == "unconstrained"
    with pytest.raises(StatetrackError, match="construction must be one of auto, parity"):
        statetrack.compile(d, "magic")
    from statetrack.constructions import ConstructionNotApplicable

    with pytest.raises(ConstructionNotApplicable):
        statetrack.compile(d, "group")
    with pytest.raises(StatetrackError, match="compile: dfa must be a DFA"):
        statetrack.compile("tomita:3")


def test_save_and_load(tmp_path):
    model = statetrack.compile(statetrack.language(lang="group:S3"))
    path = tmp_path / "s3.safetensors"
    model.save(path)
    back = statetrack.load(path)
    summary = ("construction", "layers", "dims", "factors", "codes", "eigenvalue_range", "max_norm")
    assert {k: getattr(back, k) for k in summary} == {k: getattr(model, k) for k in summary}
    assert back.reason is None and back.details == {}
    assert back.prove().proved
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a model")
    with pytest.raises(StatetrackError, match="not a safetensors file"):
        statetrack.load(garbage)


# ------------------------------------------------------------------------------------------------ to_module
@pytest.mark.parametrize("lang, construction", [("parity", "auto"), ("tomita:5", "auto"), ("group:S3", "auto"),
                                                ("modsum:3", "modadd2"), ("tomita:3", "auto")])
def test_to_module_agrees_with_the_dfa(lang, construction):
    model = statetrack.compile(statetrack.language(lang=lang), construction)
    net = model.to_module()
    assert isinstance(net, torch.nn.Module)
    dfa = model.dfa
    rng = np.random.default_rng(zlib.crc32(lang.encode()))
    ids = torch.from_numpy(rng.integers(0, dfa.n_symbols, size=(6, 40)))
    states, accept = net(ids)
    assert states.shape == accept.shape == (6, 40) and states.dtype == torch.int64 and accept.dtype == torch.bool
    for b in range(ids.shape[0]):
        word = dfa.decode(ids[b].tolist())
        truth = dfa.trace(word)[1:]  # the state after each prefix
        assert states[b].tolist() == truth, (lang, b)
        assert accept[b].tolist() == [bool(dfa.accepting[q]) for q in truth]
    assert net.drift < 0.5


def test_to_module_encode_kernel_dtype():
    model = statetrack.compile(statetrack.language(lang="parity"))
    net = model.to_module(kernel="reference", dtype="bfloat16")
    assert net.runner.kernel == "reference" and net.runner.dtype == torch.bfloat16
    ids = net.encode(["0110", "1111"])
    assert ids.tolist() == [[0, 1, 1, 0], [1, 1, 1, 1]]
    out = net(ids)
    assert out.accept.tolist() == [[True, False, True, True], [False, True, False, True]]
    assert net.drift == 0.0
    assert net.encode([]).shape == (0, 0)
    with pytest.raises(StatetrackError, match="one common length"):
        net.encode(["01", "011"])
    with pytest.raises(StatetrackError, match="a list of words"):
        net.encode("0110")
    with pytest.raises(StatetrackError, match="alphabet"):
        net.encode(["012"])
    with pytest.raises(StatetrackError, match="kernel"):
        model.to_module(kernel="fastest")
    with pytest.raises(StatetrackError, match="dtype"):
        model.to_module(dtype="int8")


def test_catalog_group_action():
    s3 = statetrack.language(lang="group:S3")
    action = catalog_group_action("group:S3", s3)
    assert action.shape == (s3.n_symbols, 3)
    assert all(sorted(p) == [0, 1, 2] for p in action.tolist())  # each letter permutes the 3 points
    assert catalog_group_action("parity", s3) is None
    assert catalog_group_action("group:S3", statetrack.language(lang="parity")) is None  # other letters
    hinted = statetrack.compile(s3, "group", group_action=action)
    assert hinted.dims == [3] and hinted.prove().proved
