"""Property-based fuzzing of every parser of user input: only statetrack's errors escape, within a time bound.

Each property feeds hostile input (token soups, mutations of valid files, random bytes) to one reader and accepts
two outcomes: a value, or a :class:`~statetrack.errors.StatetrackError`. Anything else (KeyError, TypeError,
RecursionError, a hang past the deadline) fails. Examples are small; the limits themselves are covered by
``test_parsers_regressions.py``.
"""
from __future__ import annotations

import json
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.automata.formats import dfa_from_dot, dfa_from_jff, dfa_from_json, dfa_to_dot, dfa_to_jff
from statetrack.constructions import compile_language
from statetrack.constructions.model_format import model_from_bytes, model_to_bytes
from statetrack.constructions.verify_exact import prove
from statetrack.errors import StatetrackError
from statetrack.lrnn.model import LRNNConfig, LRNNModel, read_config
import statetrack.untrusted as untrusted
from statetrack.untrusted import json_depth, parse_json, read_lines

from .strategies import (PARITY_JSON, dot_texts, jff_texts, json_values, mutated_json, mutated_text, regex_patterns,
                         split_safetensors, with_metadata, words_bytes)

#: examples per property: 60 in CI (derandomised); set STATETRACK_FUZZ_EXAMPLES for a longer, random campaign
_EXAMPLES = int(os.environ.get("STATETRACK_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 60, deadline=3000, derandomize=not _EXAMPLES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PARITY = DFA.from_json(PARITY_JSON)


def only_statetrack_errors(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; a StatetrackError is an accepted outcome and returns None."""
    try:
        return fn(*args, **kwargs)
    except StatetrackError:
        return None


# ---------------------------------------------------------------------------------------------------- regex
@FUZZ
@given(regex_patterns, st.sampled_from([None, "ab", ["a", "b", "0"]]))
def test_regex(pattern, alphabet):
    d = only_statetrack_errors(DFA.from_regex, pattern, alphabet, max_states=400)
    assert d is None or isinstance(d, DFA)


# ---------------------------------------------------------------------------------------------------- DFA JSON
@FUZZ
@given(mutated_json(PARITY_JSON))
def test_dfa_json_mutated_objects(obj):
    only_statetrack_errors(dfa_from_json, json.dumps(obj) if isinstance(obj, (dict, list)) else obj)
    if isinstance(obj, dict):
        only_statetrack_errors(dfa_from_json, obj)


@FUZZ
@given(mutated_text(json.dumps(PARITY_JSON), '{}[]",:0123456789-eE.truefalsnNI\\ '))
def test_dfa_json_mutated_text(text):
    only_statetrack_errors(dfa_from_json, "{" + text[1:] if text[:1] not in "{[" else text)


@FUZZ
@given(json_values)
def test_json_guard_round_trips_plain_values(value):
    assert parse_json(json.dumps(value), "x") == json.loads(json.dumps(value))


def plain_depth(text: str) -> int:
    """Reference for :func:`json_depth`: a character loop (backslashes escape the next character in strings)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


_PIECES = st.one_of(st.sampled_from(list("[]{} ,:a1")),
                    st.text(st.sampled_from(list('[]{}"\\ab')), max_size=8).map(json.dumps))


@FUZZ
@given(st.lists(_PIECES, max_size=20).map("".join), st.sampled_from([1, 2, 3, 5, 7, 1 << 22]))
def test_json_depth_matches_a_plain_scan(text, chunk):
    saved = untrusted._CHUNK
    untrusted._CHUNK = chunk  # small chunks exercise the carries between chunks
    try:
        assert json_depth(text) == plain_depth(text)
    finally:
        untrusted._CHUNK = saved


# ---------------------------------------------------------------------------------------------------- DOT
@FUZZ
@given(dot_texts)
def test_dot_token_soup(text):
    only_statetrack_errors(dfa_from_dot, text)


@FUZZ
@given(mutated_text(dfa_to_dot(PARITY), '{}[];,=->"\\ a0\n/*#<>'))
def test_dot_mutated(text):
    only_statetrack_errors(dfa_from_dot, text)


# ---------------------------------------------------------------------------------------------------- JFLAP
@FUZZ
@given(jff_texts)
def test_jff_token_soup(text):
    only_statetrack_errors(dfa_from_jff, text)
    only_statetrack_errors(dfa_from_jff, text.encode("utf-8"))


@FUZZ
@given(mutated_text(dfa_to_jff(PARITY), '<>/="&;! ?xa01-[]'))
def test_jff_mutated(text):
    only_statetrack_errors(dfa_from_jff, text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------- words files
@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as d:
        yield d


@FUZZ
@given(data=words_bytes)
def test_words_file(scratch, data):
    path = os.path.join(scratch, "words.txt")
    with open(path, "wb") as fh:
        fh.write(data)
    lines = only_statetrack_errors(read_lines, path)
    if lines is not None:  # same lines as a plain reading of the UTF-8 text
        text = data.decode("utf-8-sig")
        want = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
        assert lines == (want[:-1] if text.endswith("\n") else want if text else [])


# ---------------------------------------------------------------------------------------------------- compiled model
@pytest.fixture(scope="module")
def model_bytes():
    """An exact (cyclotomic) rotation model and a householder model with several layers."""
    rot, _ = compile_language(get_language("mod:3"), "rotation")
    s3, _ = compile_language(get_language("group:S3"))
    return [model_to_bytes(rot), model_to_bytes(s3)]


@FUZZ
@given(st.data())
def test_model_header_mutations(model_bytes, data):
    raw = model_bytes[data.draw(st.integers(0, len(model_bytes) - 1))]
    header, _ = split_safetensors(raw)
    meta = json.loads(header["__metadata__"]["statetrack"])
    bad = data.draw(mutated_json(meta))
    model = only_statetrack_errors(model_from_bytes, with_metadata(raw, "statetrack", json.dumps(bad)))
    if model is not None:  # a header that still validates must not break the prover either
        only_statetrack_errors(prove, model, max_tuples=10_000)


@FUZZ
@given(st.data())
def test_model_header_text(model_bytes, data):
    raw = model_bytes[0]
    header, _ = split_safetensors(raw)
    text = data.draw(mutated_text(header["__metadata__"]["statetrack"], '{}[]",:0123456789-e.\\ '))
    only_statetrack_errors(model_from_bytes, with_metadata(raw, "statetrack", text))


@FUZZ
@given(st.binary(max_size=200))
def test_model_random_bytes(data):
    only_statetrack_errors(model_from_bytes, data)


# ---------------------------------------------------------------------------------------------------- trained model
@pytest.fixture(scope="module")
def lrnn_bytes(scratch):
    path = os.path.join(scratch, "seed.safetensors")
    LRNNModel(LRNNConfig(vocab_size=3, d_model=8, n_layers=1, num_heads=2, head_dim=4)).save(path)
    with open(path, "rb") as fh:
        return fh.read()


@FUZZ
@given(st.data())
def test_lrnn_config_and_checkpoint_header(scratch, lrnn_bytes, data):
    header, _ = split_safetensors(lrnn_bytes)
    info = json.loads(header["__metadata__"]["statetrack_lrnn"])
    bad = data.draw(mutated_json(info))
    path = os.path.join(scratch, "fuzz.safetensors")
    with open(path, "wb") as fh:
        fh.write(with_metadata(lrnn_bytes, "statetrack_lrnn", json.dumps(bad)))
    cfg = only_statetrack_errors(read_config, path)
    if cfg is not None:
        assert isinstance(cfg, LRNNConfig)
        only_statetrack_errors(cfg.check_size)
    if isinstance(bad, dict) and isinstance(bad.get("config"), dict):
        only_statetrack_errors(LRNNConfig.from_json, bad["config"])


# ------------------------------------------------------------------ a run's JSON files: run.json, checkpoint.json, state.json
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished 2-step run with a checkpoint (the seed every run-file mutation starts from)."""
    from statetrack.lrnn.tasks import task_from_dfa
    from statetrack.lrnn.train import TrainConfig, train

    run = tmp_path_factory.mktemp("fuzz-run") / "run"
    cfg = TrainConfig(model="deltanet", layers=1, dim=8, heads=1, steps=2, batch=4, checkpoint_every=1, seed=0)
    train(task_from_dfa(get_language("parity"), train_lengths=(2, 4)), cfg, run, progress=False)
    return run


def _run_json_files(run) -> dict[str, str]:
    pointer = json.loads((run / "checkpoint.json").read_text())
    return {"run.json": "run.json", "checkpoint.json": "checkpoint.json",
            "state.json": os.path.join(pointer["dir"], "state.json")}


@FUZZ
@given(st.data())
def test_run_files_mutated(tiny_run, data):
    """A run whose run.json, checkpoint.json or state.json is mutated (as JSON values or as text) is read by
    load_run and load_checkpoint with only statetrack's errors."""
    import shutil

    from statetrack.lrnn.train import load_checkpoint, load_run

    files = _run_json_files(tiny_run)
    name = data.draw(st.sampled_from(sorted(files)))
    original = (tiny_run / files[name]).read_text()
    if data.draw(st.booleans()):
        text = json.dumps(data.draw(mutated_json(json.loads(original))))
    else:
        text = data.draw(mutated_text(original, '{}[]",:0123456789-eE.truefalsnNI\\ /'))
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run")
        shutil.copytree(tiny_run, run)
        with open(os.path.join(run, files[name]), "w", encoding="utf-8") as fh:
            fh.write(text)
        from pathlib import Path

        only_statetrack_errors(load_run, run)
        only_statetrack_errors(load_checkpoint, Path(run))
