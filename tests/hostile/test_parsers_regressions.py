"""Regressions of the robustness audit, one test per defect class of the parsers and metadata readers.

Each case must end in statetrack's own error (naming the file and the limit where there is one) within a time
bound, never in a traceback of another class, a hang or an allocation proportional to a number in the file.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.automata.formats import MAX_DOT_EDGES, dfa_from_dot, dfa_from_jff, dfa_from_json, load_dfa
from statetrack.constructions import compile_language
from statetrack.constructions.model_format import load_model, model_from_bytes, model_to_bytes
from statetrack.constructions.verify_exact import MAX_CYCLOTOMIC_ORDER, field_for_spec, prove
from statetrack.errors import AlphabetError, DFAFormatError, ModelFormatError, StateLimitError, StatetrackError
from statetrack.kernels import KernelInputError, diagonal_scan, householder_scan
from statetrack.lrnn.model import MAX_PARAMETERS, LRNNConfig, LRNNModel, ModelSizeError, read_config
from statetrack.lrnn.model import load_model as load_lrnn
from statetrack.untrusted import (MAX_HEADER_BYTES, MAX_INT_DIGITS, MAX_JSON_DEPTH, UntrustedInputError, expect_int,
                                  json_depth, parse_json, read_lines)

from .strategies import PARITY_JSON, join_safetensors, split_safetensors, with_metadata

FAST = 5.0  # seconds: every hostile case must fail well within this on a loaded 2-core machine


class within:
    """``with within(seconds):`` fails the test when the block takes longer."""

    def __init__(self, seconds: float = FAST):
        self.seconds = seconds

    def __enter__(self) -> "within":
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        took = time.perf_counter() - self.t0
        assert took < self.seconds, f"took {took:.2f} s (bound {self.seconds} s)"


# ---------------------------------------------------------------------------------------------------- JSON
def test_json_guard_refuses_depth_long_integers_and_non_json_numbers():
    with within(), pytest.raises(UntrustedInputError, match="MAX_JSON_DEPTH"):
        parse_json("[" * 100_000, "x")
    with pytest.raises(UntrustedInputError, match="MAX_INT_DIGITS"):
        parse_json("[" + "7" * 5000 + "]", "x")
    assert parse_json("[" + "7" * MAX_INT_DIGITS + "]", "x") == [int("7" * MAX_INT_DIGITS)]
    for bad in ("[NaN]", "[Infinity]", "[-Infinity]", "[1e999]"):
        with pytest.raises(UntrustedInputError):
            parse_json(bad, "x")
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(nested) == MAX_JSON_DEPTH and parse_json(nested, "x") is not None
    # brackets inside strings do not count, escaped quotes do not end a string
    assert json_depth('["[[[", "\\"[[", {"a": "}}"}]') == 2


def test_dfa_json_nested_100k_deep_and_huge_integers():
    with within(), pytest.raises(DFAFormatError, match="MAX_JSON_DEPTH"):
        dfa_from_json('{"alphabet": ' + "[" * 100_000 + "]" * 100_000 + "}")
    text = json.dumps(PARITY_JSON).replace('"start": "even"', '"start": ' + "9" * 5000)
    with within(), pytest.raises(DFAFormatError, match="MAX_INT_DIGITS"):
        dfa_from_json(text)
    with pytest.raises(DFAFormatError, match="NaN"):
        dfa_from_json(json.dumps(PARITY_JSON).replace('"start": "even"', '"start": NaN'))


def test_dfa_json_odd_types_name_the_culprit():
    for patch, message in ((dict(transitions={"even": {"0": [["odd"]]}}), "targets must be state names"),
                           (dict(accepting="even"), "'accepting' must be a list"),
                           (dict(start=["even"]), "'start' must be a state name")):
        with pytest.raises(DFAFormatError, match=message):
            dfa_from_json(json.dumps(dict(PARITY_JSON, **patch)))


# ---------------------------------------------------------------------------------------------------- files
def test_special_files_are_refused_before_reading(tmp_path):
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    with within(), pytest.raises(DFAFormatError, match="not a regular file"):
        load_dfa(link)
    fifo = tmp_path / "pipe.dot"
    os.mkfifo(fifo)
    with within(), pytest.raises(DFAFormatError, match="not a regular file"):
        load_dfa(fifo)  # must not wait for a writer
    folder = tmp_path / "dir.jff"
    folder.mkdir()
    with pytest.raises(DFAFormatError, match="directory"):
        load_dfa(folder)
    with pytest.raises(DFAFormatError, match="no such file"):
        load_dfa(tmp_path / "absent.json")
    with within(), pytest.raises(UntrustedInputError, match="not a regular file"):
        read_lines(link)
    with within(), pytest.raises(ModelFormatError, match="not a regular file"):
        load_model(link)
    with within(), pytest.raises(ModelFormatError, match="not a regular file"):
        read_config(link)


def test_words_file_names_the_file_and_line(tmp_path):
    f = tmp_path / "w.txt"
    f.write_bytes(b"01\r\n\n10\n\xff\xfe\n")
    with pytest.raises(UntrustedInputError, match=r"w\.txt: line 4: not UTF-8"):
        read_lines(f)
    f.write_bytes(b"01\r\n\n10\n")
    assert read_lines(f) == ["01", "", "10"]
    f.write_bytes(b"")
    assert read_lines(f) == []


# ---------------------------------------------------------------------------------------------------- DOT
def test_dot_500_nested_subgraphs():
    text = "digraph {" + "subgraph {" * 500 + "a -> a [label=x]" + "}" * 501
    with within(), pytest.raises(DFAFormatError, match="MAX_DOT_NESTING"):
        dfa_from_dot(text)


def test_dot_edge_products_are_bounded():
    side = int(MAX_DOT_EDGES ** 0.5) + 1
    text = ("digraph { {" + " ".join(f"a{i}" for i in range(side)) + "} -> {"
            + " ".join(f"b{i}" for i in range(side)) + "} [label=x] }")
    with within(), pytest.raises(DFAFormatError, match="MAX_DOT_EDGES"):
        dfa_from_dot(text)


def test_dot_string_concatenation_is_linear():
    piece = "q" * 2500
    name = " + ".join([f'"{piece}"'] * 4000)  # 10 MB when joined; repeated += would copy about 20 GB
    with within():
        d = dfa_from_dot(f"digraph {{ __start0 [shape=none]; __start0 -> {name} }}")
    assert d.states == (piece * 4000,)


# ---------------------------------------------------------------------------------------------------- JFLAP
BOMB = (b'<?xml version="1.0"?>\n<!DOCTYPE s [\n<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">\n'
        + b"".join(b'<!ENTITY %c "%s">\n' % (ord(c), (b"&%c;" % ord(p)) * 10) for p, c in zip("abcdefgh", "bcdefghi"))
        + b"]>\n<structure><type>fa</type><automaton>&i;</automaton></structure>\n")


def test_jff_entities_are_refused_not_expanded():
    assert len(BOMB) < 800
    with within(), pytest.raises(DFAFormatError, match="DTD"):
        dfa_from_jff(BOMB)
    with pytest.raises(DFAFormatError, match="DTD"):
        dfa_from_jff(b'<!DOCTYPE structure SYSTEM "http://example.invalid/x.dtd"><structure/>')


def test_jff_unknown_encoding_is_a_clear_error():
    for enc in ("no-such-encoding", "utf-32", "utf-7"):
        with pytest.raises(DFAFormatError, match="encoding"):
            dfa_from_jff(f'<?xml version="1.0" encoding="{enc}"?><structure/>'.encode())


def test_jff_long_character_data_is_linear():
    text = "<structure><type>fa</type><automaton>" + "&amp;" * 200_000 + "</automaton></structure>"
    with within(), pytest.raises(DFAFormatError, match="no states"):
        dfa_from_jff(text)


# ---------------------------------------------------------------------------------------------------- DFA API
def test_dfa_api_does_not_coerce():
    delta = [[0, 1], [1, 0]]
    with pytest.raises(DFAFormatError, match="boolean mask"):
        DFA("01", None, 0, [-1], delta)
    with pytest.raises(DFAFormatError, match="boolean mask"):
        DFA("01", None, 0, [1, 0], delta)
    d = DFA("01", None, 0, [True, False], delta)
    with pytest.raises(AlphabetError, match="not a symbol id"):
        d.run_batch(np.array([[0, -2]]))
    with pytest.raises(StatetrackError, match="count: length"):
        d.count(-1)


# ---------------------------------------------------------------------------------------------------- compiled model
@pytest.fixture(scope="module")
def rotation_bytes():
    """The bytes of the exact (cyclotomic) rotation model of mod:3."""
    model, _ = compile_language(get_language("mod:3"), "rotation")
    return model_to_bytes(model)


def _with_meta(data: bytes, change) -> bytes:
    header, body = split_safetensors(data)
    meta = json.loads(header["__metadata__"]["statetrack"])
    change(meta)
    header["__metadata__"]["statetrack"] = json.dumps(meta)
    return join_safetensors(header, body)


def test_model_header_numbers_nesting_and_size(rotation_bytes):
    header, body = split_safetensors(rotation_bytes)
    meta_text = header["__metadata__"]["statetrack"]
    with within(), pytest.raises(ModelFormatError, match="MAX_INT_DIGITS"):
        model_from_bytes(with_metadata(rotation_bytes, "statetrack",
                                       meta_text.replace('"format_version":1', '"format_version":' + "1" * 5000)))
    with within(), pytest.raises(ModelFormatError, match="MAX_JSON_DEPTH"):
        model_from_bytes(with_metadata(rotation_bytes, "statetrack", "[" * 50_000 + "]" * 50_000))
    deep_header = b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    with within(), pytest.raises(ModelFormatError, match="MAX_JSON_DEPTH"):
        model_from_bytes(join_safetensors(None, body, raw_header=deep_header))
    claimed = (MAX_HEADER_BYTES + 1).to_bytes(8, "little") + b" " * (MAX_HEADER_BYTES + 2)
    with within(), pytest.raises(ModelFormatError, match="MAX_HEADER_BYTES"):
        model_from_bytes(claimed)


@pytest.mark.parametrize("key, value, message", [
    ("alphabet", 5, "'alphabet' must be a list"),
    ("alphabet", "01", "'alphabet' must be a list"),
    ("format_version", True, "format_version true|format_version True"),
    ("format_version", 2, "format_version 2"),
    ("construction", ["x"], "'construction' must be a string"),
    ("dfa", "parity", "'dfa' must be an object"),
    ("dfa_sha256", 7, "'dfa_sha256' must be a string"),
    ("layers", {}, "'layers' must be a non-empty list"),
])
def test_model_metadata_types(rotation_bytes, key, value, message):
    with pytest.raises(ModelFormatError, match=message):
        model_from_bytes(_with_meta(rotation_bytes, lambda m: m.__setitem__(key, value)))


@pytest.mark.parametrize("field", ["n", "symbols", "codes", "factors"])
def test_model_layer_sizes_refuse_bools_and_strings(rotation_bytes, field):
    for value in (True, "2", -1, 1.0):
        with pytest.raises(ModelFormatError, match=f"'{field}' must be"):
            model_from_bytes(_with_meta(rotation_bytes, lambda m, v=value: m["layers"][0].__setitem__(field, v)))


@pytest.mark.parametrize("entry, error, message", [
    (["cos", 1, 0], ModelFormatError, "q must be in"),
    (["cos", 1, 10000], ModelFormatError, "MAX_CYCLOTOMIC_ORDER"),
    (["cos", True, 3], ModelFormatError, "integers"),
    (["cos", 1.5, 3], ModelFormatError, "integers"),
    ("1e999999999", ModelFormatError, "rational"),
])
def test_exact_entries_fail_fast(rotation_bytes, entry, error, message):
    def edit(meta):
        meta["layers"][0]["exact"]["h0"] = [entry, 0]
    model = model_from_bytes(_with_meta(rotation_bytes, edit))  # the header is well-formed; the proof refuses it
    with within(), pytest.raises(error, match=message):
        prove(model)


def test_cyclotomic_field_limits_are_named():
    qs = [997, 991]  # each allowed alone, their lcm is not
    with within(), pytest.raises(StateLimitError, match="MAX_CYCLOTOMIC_ORDER"):
        field_for_spec({"keys": [["cos", 1, q] for q in qs]})
    with within(), pytest.raises(StateLimitError, match="MAX_FIELD_DEGREE"):
        field_for_spec({"keys": [["cos", 1, MAX_CYCLOTOMIC_ORDER // 2]]})
    assert field_for_spec({"keys": [["cos", 2, 3], ["sin", 1, 4]]}).N == 24


def test_exact_proof_still_passes(rotation_bytes):
    assert prove(model_from_bytes(rotation_bytes)).proved


# ---------------------------------------------------------------------------------------------------- trained model
@pytest.fixture(scope="module")
def lrnn_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lrnn") / "model.safetensors"
    LRNNModel(LRNNConfig(vocab_size=3, d_model=8, n_layers=1, num_heads=2, head_dim=4)).save(path)
    return path


def _with_config(src, dst, change):
    data = src.read_bytes()
    header, body = split_safetensors(data)
    meta = json.loads(header["__metadata__"]["statetrack_lrnn"])
    change(meta["config"])
    dst.write_bytes(with_metadata(data, "statetrack_lrnn", json.dumps(meta)))
    return dst


def test_huge_config_is_refused_before_allocation(lrnn_file, tmp_path):
    bad = _with_config(lrnn_file, tmp_path / "big.safetensors", lambda c: c.update(d_model=200_000))
    with within(), pytest.raises(ModelFormatError, match="d_model"):
        load_lrnn(bad)
    big = _with_config(lrnn_file, tmp_path / "big2.safetensors", lambda c: c.update(d_model=60_000))
    with within(), pytest.raises(ModelSizeError, match="MAX_PARAMETERS"):
        load_lrnn(big)
    with within(), pytest.raises(ModelSizeError, match="MAX_PARAMETERS"):
        LRNNModel(LRNNConfig(vocab_size=3, d_model=60_000))


@pytest.mark.parametrize("field, value", [
    ("d_model", True), ("n_layers", "2"), ("n_layers", 0), ("num_heads", 2.0), ("mlp_ratio", "4"),
    ("norm_eps", -1), ("use_short_conv", 1), ("backend", "cuda"), ("layer", 5), ("eigenvalue_range", "tc"),
    ("eigenvalue_range", [0, 2]), ("extra", 5), ("vocab_size", 10 ** 30), ("bogus", 1),
])
def test_config_fields_are_typed(lrnn_file, tmp_path, field, value):
    bad = _with_config(lrnn_file, tmp_path / "m.safetensors", lambda c: c.__setitem__(field, value))
    with pytest.raises(ModelFormatError, match=field):
        read_config(bad)


def test_config_header_must_be_there(lrnn_file, tmp_path):
    data = lrnn_file.read_bytes()
    for text, message in (("{", "JSON syntax"), ('{"format_version": true, "config": {}}', "version"),
                          ("[1]", "must be an object"), ('{"format_version": 1, "config": []}', "must be an object")):
        p = tmp_path / "m.safetensors"
        p.write_bytes(with_metadata(data, "statetrack_lrnn", text))
        with pytest.raises(ModelFormatError, match=message):
            read_config(p)


def test_parameter_count_matches_the_built_model():
    rng = np.random.default_rng(0)
    for _ in range(6):
        cfg = LRNNConfig(vocab_size=int(rng.integers(1, 9)), n_classes=int(rng.integers(1, 5)),
                         d_model=int(rng.integers(1, 17)), n_layers=int(rng.integers(1, 4)),
                         layer=str(rng.choice(["deltanet", "deltaproduct", "diagonal"])),
                         num_heads=int(rng.integers(1, 4)), head_dim=int(rng.integers(1, 6)),
                         num_householder=int(rng.integers(1, 4)), state_dim=int(rng.integers(1, 6)),
                         use_short_conv=bool(rng.integers(0, 2)), conv_size=int(rng.integers(1, 5)),
                         mlp_ratio=float(rng.uniform(0.5, 4)))
        assert cfg.num_parameters() == LRNNModel(cfg).num_parameters()
    assert MAX_PARAMETERS == 1 << 28


# ---------------------------------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("zero", ["H", "K", "V"])
def test_kernels_refuse_zero_feature_sizes(zero):
    B, T, H, K, V = 1, 3, 2, 4, 3
    H, K, V = (0 if zero == n else x for n, x in (("H", H), ("K", K), ("V", V)))
    q, k, v = torch.randn(B, T, H, K), torch.randn(B, T, H, K), torch.randn(B, T, H, V)
    with pytest.raises(KernelInputError, match=f"{zero} = 0"):
        householder_scan(q, k, v, torch.rand(B, T, H), backend="reference")
    with pytest.raises(KernelInputError, match=f"{zero} = 0"):
        diagonal_scan(q, k, v, torch.rand(B, T, H, K), backend="reference")


# ---------------------------------------------------------------------------------------------------- checkers
def test_expect_int_refuses_bools_and_names_the_range():
    assert expect_int("n", 3, 0, 5) == 3
    with pytest.raises(UntrustedInputError, match="n must be an integer, got bool"):
        expect_int("n", True, 0, 5)
    with pytest.raises(UntrustedInputError, match=r"n must be in \[0, 5\], got 9"):
        expect_int("n", 9, 0, 5)
    with pytest.raises(UntrustedInputError, match="digits"):
        expect_int("n", 10 ** 500, 0, 5)


# ------------------------------------------------------------------ run files: baseline headers and run.json
def _baseline_file(tmp_path, meta_text: str):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "baseline.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={"statetrack_baseline": meta_text})
    return path


@pytest.mark.parametrize("meta,needle", [
    ('{"kind": "lstm", "config": {"vocab_size": 3, "d_model": 200000}}', "d_model"),
    ('{"kind": "lstm", "config": {"vocab_size": 3, "d_model": 8192, "n_layers": 256}}', "MAX_PARAMETERS"),
    ('{"kind": "lstm", "config": {"vocab_size": 3, "mystery": 1}}', "mystery"),
    ('{"kind": "lstm", "config": {"vocab_size": true}}', "vocab_size"),
    ('{"kind": "rnn", "config": {}}', "kind"),
    ('[' * 5000 + ']' * 5000, "nest"),
    ('{"kind": "lstm", "config": {"vocab_size": 3}}', "do not match"),
])
def test_baseline_headers_are_validated_before_building(tmp_path, meta, needle):
    from statetrack.lrnn.train import BASELINE_KEY, load_any

    assert BASELINE_KEY == "statetrack_baseline"
    with pytest.raises(ModelFormatError, match=needle):
        load_any(_baseline_file(tmp_path, meta))


@pytest.mark.parametrize("content,needle", [
    ("[" * 100 + "]" * 100, "nest"),
    ('{"task": 1e999}', "overflow|finite|Infinity|number"),
    ("[]", "must be an object"),
    ('{"other": 1}', "task"),
])
def test_run_json_is_read_with_limits(tmp_path, content, needle):
    from statetrack.errors import StatetrackError
    from statetrack.lrnn.train import load_run

    (tmp_path / "run.json").write_text(content)
    with pytest.raises(StatetrackError, match=needle):
        load_run(tmp_path)
