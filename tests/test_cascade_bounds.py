"""The cascade compiler's bounds: the walk's cells and the dense tensors' bytes are counted before anything of that
size is allocated; over the byte bound the layers' symbols are merged into classes (still proved), and a bound
that cannot be met is a clear error naming it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from statetrack.automata.dfa import DFA
from statetrack.constructions import compile_language
from statetrack.constructions.cascade import cascade_stack, compile_cascade
from statetrack.constructions.cascade import layers as cascade_layers
from statetrack.constructions.cascade.coordinates import cascade_of
from statetrack.constructions.cascade.layers import MAX_STACK_BYTES, build_stack, stack_bytes
from statetrack.constructions.verify_exact import prove
from statetrack.errors import StateLimitError
from statetrack.untrusted import FILE_LIMITS, MAX_HEADER_BYTES


def _random(seed: int, n: int) -> DFA:
    rng = np.random.default_rng(seed)
    return DFA("abc", None, 0, rng.random(n) < 0.5, rng.integers(0, n, size=(n, 3))).minimize()


def _bytes(stack) -> int:
    return stack_bytes([(L.n, L.factors, L.symbols, L.codes.shape[0], None if L.conv is None else L.conv.shape[1])
                        for L in stack.layers])


def _nbytes(stack) -> int:
    arrays = [a for L in stack.layers for a in (L.keys, L.betas, L.values, L.h0, L.codes, L.next, L.conv)
              if a is not None]
    return sum(a.nbytes for a in arrays)


def test_bound_fits_a_readable_model_file():
    assert MAX_STACK_BYTES + MAX_HEADER_BYTES + 8 <= FILE_LIMITS["model"]


@pytest.mark.parametrize("seed,n,coupling", [(7, 8, "copy"), (22, 7, "conv"), (15, 8, "conv")])
def test_symbol_classes_under_a_small_bound_are_proved(seed, n, coupling):
    d = _random(seed, n)
    plain = cascade_stack(d, coupling=coupling)
    assert plain.symbol_classes is None and _bytes(plain) == _nbytes(plain)  # the count is what is allocated
    limit = _bytes(plain) - 1
    small = cascade_stack(d, coupling=coupling, max_bytes=limit)
    info = small.symbol_classes
    assert info is not None and info["limit_bytes"] == limit and info["bytes_per_symbol"] == _bytes(plain)
    assert info["bytes"] == _bytes(small) == _nbytes(small) <= limit
    assert info["symbols_before"] == [L.symbols for L in plain.layers]
    assert sum(L.symbols for L in small.layers) < sum(L.symbols for L in plain.layers)
    assert small.layers[0].symbols == d.n_symbols  # the letters stay
    model, rep = compile_cascade(d, coupling=coupling, max_bytes=limit, merge=False)
    assert prove(model).proved
    assert rep["symbol_classes"] == info and "MAX_STACK_BYTES" in rep["reason"]
    json.dumps(rep)  # the report stays JSON


def test_symbol_classes_with_merging_and_direct_search_are_proved():
    d = _random(7, 8)
    limit = _bytes(cascade_stack(d)) - 1
    model, rep = compile_cascade(d, max_bytes=limit)
    assert prove(model).proved and rep["symbol_classes"]["bytes"] <= limit


def test_no_bound_hit_keeps_the_model():
    d = _random(7, 8)
    a, ra = compile_cascade(d)
    b, rb = compile_cascade(d, max_bytes=_bytes(cascade_stack(d)))  # exactly at the bound: nothing merged
    assert "symbol_classes" not in ra and "symbol_classes" not in rb and ra == rb
    assert all(np.array_equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def test_bound_that_cannot_be_met_names_it():
    d = _random(7, 8)
    with pytest.raises(StateLimitError, match=r"MAX_STACK_BYTES"):
        cascade_stack(d, max_bytes=1000)
    with pytest.raises(StateLimitError, match=r"MAX_CELLS"):
        build_stack(cascade_of(d.complete().delta), d.start, d.n_symbols, max_cells=50)


def test_cli_reports_the_bound_without_traceback(tmp_path, monkeypatch, capsys):
    from statetrack.cli import main

    monkeypatch.setattr(cascade_layers, "MAX_STACK_BYTES", 1000)
    src = tmp_path / "d.json"
    _random(7, 8).save(src)
    out = tmp_path / "m.safetensors"
    rc = main(["compile", "--dfa", str(src), "--construction", "cascade", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc != 0 and "MAX_STACK_BYTES" in err and "Traceback" not in err and not out.exists()


def test_auto_compile_reports_the_classes(monkeypatch):
    d = _random(7, 8)
    limit = _bytes(cascade_stack(d)) - 1
    monkeypatch.setattr(cascade_layers, "MAX_STACK_BYTES", limit)
    model, rep = compile_language(d, "auto")
    assert rep["symbol_classes"]["limit_bytes"] == limit and prove(model).proved


def test_classify_leaves_the_size_open_over_the_bound(monkeypatch):
    from statetrack.constructions.sizing import classify_language

    d = _random(7, 8)
    assert classify_language(d).families["deltaproduct[-1,1]"]["construction"]["layers"] == 7
    monkeypatch.setattr(cascade_layers, "MAX_STACK_BYTES", 1000)
    cons = classify_language(d).families["deltaproduct[-1,1]"]["construction"]
    assert cons["layers"] is None and cons["built_by"] is None  # not computed, as for a DFA over the size limit


def _classes_plain(acts, entries):
    """The definition of the greedy classes: each symbol in order joins the first class of its action whose entries
    agree with its own at every code both define, else opens a new one."""
    cls, rows, act_of = [], [], []
    for a, row in zip(acts.tolist(), entries):
        mine = dict(row)
        k = next((k for k, r in enumerate(rows)
                  if act_of[k] == a and all(r.get(c, o) == o for c, o in mine.items())), None)
        if k is None:
            k = len(rows)
            rows.append({})
            act_of.append(a)
        rows[k].update(mine)
        cls.append(k)
    return cls, rows


@pytest.mark.parametrize("seed", range(6))
def test_compatible_classes_match_the_plain_definition(seed):
    from statetrack.constructions.cascade.layers import _compatible_classes

    rng = np.random.default_rng(seed)
    S, C = int(rng.integers(1, 300)), int(rng.integers(1, 8))
    acts = rng.integers(0, 3, S)
    entries = []
    for _ in range(S):
        codes = rng.choice(C, size=int(rng.integers(0, min(C, 3) + 1)), replace=False)
        entries.append([(int(c), int(rng.integers(0, 4))) for c in codes])
    cls, rows = _compatible_classes(acts, entries, C, S + 1)
    want_cls, want_rows = _classes_plain(acts, entries)
    assert cls.tolist() == want_cls and rows == want_rows
    assert _compatible_classes(acts, entries, C, len(want_rows) - 1) is None  # one class short of enough
