"""The compiled-model file: round trip, atomic writes, validation of every defect, and the numpy-only runner."""
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from statetrack.automata.catalog import get_language
from statetrack.errors import ModelFormatError
from statetrack.constructions import compile_language, load_model, save_model
from statetrack.constructions.model_format import CompiledModel, model_from_bytes, model_to_bytes
from statetrack.lrnn.verify_numeric import dfa_states, sample_words

ROOT = Path(__file__).resolve().parents[1]
# runs a script with statetrack (and torch) made unimportable: the example must need numpy only
BLOCKED = ("import runpy, sys; sys.modules['statetrack'] = None; sys.modules['torch'] = None; "
           "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.fixture(scope="module")
def s3():
    return compile_language(get_language("group:S3"))[0]


def _bytes(meta, tensors):
    return save({k: np.ascontiguousarray(v) for k, v in tensors.items()},
                metadata={"statetrack": json.dumps(meta)})


def test_round_trip_is_exact_and_atomic(tmp_path, s3):
    path = tmp_path / "m.st"
    save_model(s3, path)
    assert sorted(os.listdir(tmp_path)) == ["m.st"]  # no temporary file left behind
    back = load_model(path)
    assert back.meta == json.loads(json.dumps(s3.meta))
    assert set(back.tensors) == set(s3.tensors)
    for k, v in s3.tensors.items():
        assert back.tensors[k].dtype == v.dtype and np.array_equal(back.tensors[k], v)
    assert back.dfa() == s3.dfa() and back.num_layers == 1
    assert set(back.layer(0)) == {"keys", "betas", "values", "h0", "codes", "next"}
    assert back.layer(0)["keys"].shape == (2, 2, 3)


def test_failed_save_leaves_the_old_file(tmp_path, s3):
    path = tmp_path / "m.st"
    save_model(s3, path)
    before = path.read_bytes()
    bad = CompiledModel(dict(s3.meta), {k: v for k, v in s3.tensors.items() if not k.endswith("h0")})
    with pytest.raises(ModelFormatError):
        save_model(bad, path)
    assert path.read_bytes() == before


def _mutations(model):
    meta, t = model.meta, model.tensors
    yield "format_version", dict(meta, format_version=99), t
    yield "dfa_sha256", dict(meta, dfa={**meta["dfa"], "accepting": []}), t
    yield "lacks 'layers'", {k: v for k, v in meta.items() if k != "layers"}, t
    yield "missing", meta, {k: v for k, v in t.items() if k != "layers.0.codes"}
    yield "unexpected tensor", meta, {**t, "layers.1.keys": t["layers.0.keys"]}
    yield "shape", meta, {**t, "layers.0.keys": t["layers.0.keys"][:, :1]}
    yield "dtype", meta, {**t, "layers.0.betas": t["layers.0.betas"].astype(np.float32)}
    nan = t["layers.0.keys"].copy()
    nan[0, 0, 0] = np.nan
    yield "non-finite", meta, {**t, "layers.0.keys": nan}
    nxt = t["layers.0.next"].copy()
    nxt[0, 0] = 99
    yield "next", meta, {**t, "layers.0.next": nxt}
    dup = t["layers.0.codes"].copy()
    dup[1] = dup[0]
    yield "duplicate rows", meta, {**t, "layers.0.codes": dup}
    layers = [dict(meta["layers"][0], kind="lstm")]
    yield "kind", dict(meta, layers=layers), t


@pytest.mark.parametrize("index", range(11))
def test_every_defect_is_a_clear_error(s3, index):
    what, meta, tensors = list(_mutations(s3))[index]
    with pytest.raises(ModelFormatError, match=what):
        model_from_bytes(_bytes(meta, tensors))


def test_damaged_files(tmp_path, s3):
    data = model_to_bytes(s3)
    for bad, what in [(b"", "too short"), (data[:20], "header"), (b"not a model at all", "safetensors"),
                      (data[:-8], "damaged"), (struct.pack("<Q", 2) + b"{}" + data[10:], "metadata")]:
        p = tmp_path / "bad.st"
        p.write_bytes(bad)
        with pytest.raises(ModelFormatError, match=f"(?i){what}"):
            load_model(p)
    p.write_bytes(data)
    assert load_model(p).meta["construction"] == "group"


@pytest.mark.parametrize("name, construction", [("group:S5", "auto"), ("modsum:3", "modadd2"), ("mod:5", "rotation"),
                                                ("tomita:3", "unconstrained")])
def test_numpy_example_runs_a_model_without_statetrack(tmp_path, name, construction):
    model, _ = compile_language(get_language(name), construction)
    path = tmp_path / "m.st"
    save_model(model, path)
    dfa = model.dfa()
    ids = sample_words(dfa, 40, 3, seed=3)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for row in ids:
        word = dfa.decode(row)
        sep = ["--sep", " "] if not dfa.single_char else []
        text = " ".join(word) if sep else "".join(word)
        out = subprocess.run([sys.executable, "-I", "-c", BLOCKED, str(ROOT / "examples" / "run_compiled_numpy.py"),
                              str(path), text, *sep], capture_output=True, text=True, env=env, check=True)
        out = out.stdout.split("\n")
        want = [dfa.states[q] for q in dfa_states(dfa, row[None])[0]]
        assert out[0].split() == want
        assert out[1] == ("accepted" if dfa.accepts(word) else "rejected")


def test_numpy_example_runs_a_convolution_cascade(tmp_path):
    from statetrack.constructions import cascade
    dfa = get_language("tomita:3").minimize()
    model, _ = cascade.compile_cascade(dfa, coupling="conv")
    assert any("conv" in info for info in model.meta["layers"])
    path = tmp_path / "m.st"
    save_model(model, path)
    for row in sample_words(dfa, 30, 2, seed=4):
        word = "".join(dfa.decode(row))
        out = subprocess.run([sys.executable, "-I", "-c", BLOCKED, str(ROOT / "examples" / "run_compiled_numpy.py"),
                              str(path), word], capture_output=True, text=True, check=True).stdout.split("\n")
        assert out[0].split() == [dfa.states[q] for q in dfa_states(dfa, row[None])[0]]


def test_conv_table_is_validated(tmp_path):
    from statetrack.constructions import cascade
    model, _ = cascade.compile_cascade(get_language("tomita:3").minimize(), coupling="conv")
    l = next(i for i, info in enumerate(model.meta["layers"]) if "conv" in info)
    t = dict(model.tensors)
    conv = t[f"layers.{l}.conv"].copy()
    conv[0, 0] = 10 ** 6
    with pytest.raises(ModelFormatError, match="conv"):
        model_from_bytes(_bytes(model.meta, {**t, f"layers.{l}.conv": conv}))
    with pytest.raises(ModelFormatError, match="missing"):
        model_from_bytes(_bytes(model.meta, {k: v for k, v in t.items() if k != f"layers.{l}.conv"}))


def test_numpy_example_is_small():
    assert len((ROOT / "examples" / "run_compiled_numpy.py").read_text().splitlines()) <= 70


@pytest.mark.parametrize("seed", range(4))
def test_distinct_rows_covers_every_row(seed):
    """``_distinct_rows`` picks one row per distinct byte pattern: every row equals a picked one and no two picked
    rows are equal; a layer without factor columns keeps one row."""
    from statetrack.constructions.model_format import _distinct_rows

    rng = np.random.default_rng(seed)
    base = rng.integers(-1, 2, size=(int(rng.integers(1, 6)), int(rng.integers(1, 7)))).astype(np.float64)
    flat = base[rng.integers(0, base.shape[0], size=20)]
    first = _distinct_rows(flat)
    picked = {flat[i].tobytes() for i in first}
    assert len(picked) == len(first) == len({row.tobytes() for row in flat})
    assert len(first) == np.unique(flat, axis=0).shape[0]
    assert list(_distinct_rows(np.zeros((5, 0)))) == [0]
