"""fla checkpoints on statetrack's layers: agreement with fla's own code, token maps, and refusal of what we do not
reproduce (unknown fields, options, shapes, sizes)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from statetrack.errors import ModelFormatError
from statetrack.lrnn.fla_checkpoint import (is_fla_checkpoint, load_fla_checkpoint, read_fla_config)
from statetrack.lrnn.token_map import parse_token_map, read_token_map

HERE = Path(__file__).resolve().parent
HAVE_FLA = all(importlib.util.find_spec(m) is not None for m in ("fla", "transformers", "triton"))


@pytest.fixture(scope="module")
def fla_models(tmp_path_factory) -> Path:
    """Tiny fla models saved by fla's ``save_pretrained`` with fla's own logits (one subprocess for all)."""
    if not HAVE_FLA:
        pytest.skip("flash-linear-attention, transformers and triton are needed (pip install -e '.[fla]')")
    out = tmp_path_factory.mktemp("fla")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, str(HERE / "fla_reference_models.py"), str(out)], cwd=out, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


CASES = ["deltanet_neg", "deltanet_gate_noconv", "deltaproduct_nh2", "deltaproduct_nh3_01"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", ["reference", "chunked"])
def test_forward_agrees_with_fla(fla_models, case, backend):
    ref = load_file(str(fla_models / case / "fla_logits.safetensors"))
    assert is_fla_checkpoint(fla_models / case)
    model = load_fla_checkpoint(fla_models / case, backend=backend)
    with torch.no_grad():
        got = model(ref["ids"])
    err = (got - ref["logits"]).abs().max().item()
    assert err < 1e-4, (case, backend, err)
    spec = read_fla_config(fla_models / case)
    assert model.blocks[0].mixer.beta_max == (2.0 if spec.allow_neg_eigval else 1.0)
    assert model.blocks[0].mixer.num_householder == spec.num_householder


def test_restricted_model_reads_symbols_and_classes(fla_models):
    model = load_fla_checkpoint(fla_models / "deltanet_neg")
    tm = parse_token_map({"symbols": {"a": 3, "b": 1}, "accept": 4, "reject": 0})
    small = model.restricted(tm.token_ids(["a", "b"]), tm.class_token_ids())
    ids = torch.tensor([[0, 1, 1, 0, 2]])  # 2 = padding (after the word; causal, so it changes nothing before it)
    with torch.no_grad():
        full = model(torch.tensor([[3, 1, 1, 3, 0]]))[..., [0, 4]]
        got = small(ids)
    assert torch.allclose(got[:, :4], full[:, :4], atol=1e-6)


def _write_config(folder: Path, **over) -> Path:
    cfg = {"model_type": "delta_net", "hidden_size": 32, "num_hidden_layers": 1, "num_heads": 2, "vocab_size": 5,
           "allow_neg_eigval": True, "use_short_conv": True, "conv_size": 4, "norm_eps": 1e-6}
    cfg.update(over)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if v is not ...}))
    return folder


@pytest.mark.parametrize("over,needle", [
    ({"use_forget_gate": True, "model_type": "gated_deltaproduct", "head_dim": 8}, "use_forget_gate"),
    ({"qk_norm": "sum"}, "qk_norm"),
    ({"mystery_option": 1}, "mystery_option"),
    ({"hidden_size": True}, "hidden_size"),
    ({"num_heads": -2}, "num_heads"),
    ({"model_type": "mamba2"}, "model_type"),
    ({"attn": {"layers": [0]}}, "attn"),
    ({"num_v_heads": 4, "model_type": "gated_deltaproduct", "head_dim": 8, "use_forget_gate": False}, "num_v_heads"),
])
def test_config_refusals_name_the_field(tmp_path, over, needle):
    folder = _write_config(tmp_path / "m", **over)
    with pytest.raises(ModelFormatError, match=needle):
        read_fla_config(folder)


def test_size_guard_before_allocation(tmp_path):
    folder = _write_config(tmp_path / "big", hidden_size=200_000)
    save_file({"model.layers.0.mlp.gate_proj.weight": torch.zeros(1, 1)}, str(folder / "model.safetensors"))
    with pytest.raises(ModelFormatError, match="MAX_PARAMETERS"):
        load_fla_checkpoint(folder)


def test_tampered_tensors_are_refused(fla_models, tmp_path):
    src = fla_models / "deltanet_neg"
    tensors = load_file(str(src / "model.safetensors"))
    for name, change, needle in [("model.layers.0.attn.q_proj.weight", lambda t: t[:-1], "shape"),
                                 ("model.layers.0.attn.k_proj.weight", None, "missing"),
                                 ("model.layers.0.attn.extra.weight", lambda t: torch.zeros(2), "unexpected")]:
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / "config.json").write_text((src / "config.json").read_text())
        bad = dict(tensors)
        if change is None:
            del bad[name]
        else:
            bad[name] = change(bad.get(name, torch.zeros(1))).contiguous()
        save_file(bad, str(folder / "model.safetensors"))
        with pytest.raises(ModelFormatError, match=needle):
            load_fla_checkpoint(folder)


def test_missing_weights_and_not_a_folder(tmp_path):
    folder = _write_config(tmp_path / "noweights")
    with pytest.raises(ModelFormatError, match="missing"):
        load_fla_checkpoint(folder)
    with pytest.raises(ModelFormatError, match="folder"):
        load_fla_checkpoint(folder / "config.json")
    assert not is_fla_checkpoint(folder / "config.json")


@pytest.mark.parametrize("obj,needle", [
    ({"symbols": {"0": 1}}, "accept"),
    ({"symbols": {"0": 1, "1": 1}, "accept": 2, "reject": 3}, "share"),
    ({"symbols": {"0": -1}, "accept": 2, "reject": 3}, "token id"),
    ({"symbols": {"0": True}, "accept": 2, "reject": 3}, "token id"),
    ({"symbols": {"0": 1}, "accept": 2, "reject": 3, "states": {"q": 4}}, "not both"),
    ({"symbols": {}, "accept": 2, "reject": 3}, "non-empty"),
    ({"symbols": {"0": 1}, "accept": 2, "reject": 3, "bos": 0}, "unknown"),
    ([1, 2], "object"),
])
def test_token_map_refusals(obj, needle):
    with pytest.raises(ModelFormatError, match=needle):
        parse_token_map(obj)


def test_token_map_names_missing_symbol_and_state(tmp_path):
    p = tmp_path / "map.json"
    p.write_text(json.dumps({"symbols": {"0": 1}, "states": {"even": 2, "odd": 3}}))
    tm = read_token_map(p)
    with pytest.raises(ModelFormatError, match="'1'"):
        tm.token_ids(["0", "1"])
    assert tm.class_token_ids(["odd", "even"]) == [3, 2]
    with pytest.raises(ModelFormatError, match="'sink'"):
        tm.class_token_ids(["even", "odd", "sink"])


def test_claims_read_fla_checkpoints(fla_models, capsys):
    """The impossibility checkers and the spectra take an fla checkpoint as --model (symbols are token ids)."""
    from statetrack.cli import main

    folder = str(fla_models / "deltanet_neg")
    assert main(["claims", "spectrum", "--model", folder, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    spec = read_fla_config(folder)
    first = [s for s in out["symbols"] if s["layer"] == 1]
    assert len(first) == spec.vocab_size  # every token id, read as a symbol
    for s in first:  # one GH factor per token, beta in (0, 2): real eigenvalues in [-1, 1] (heads x key dims of them)
        assert s["count"] == spec.num_heads * spec.head_k_dim and s["real"]
        assert -1 - 1e-6 <= s["min_real"] and s["max_modulus"] <= 1 + 1e-6
    code = main(["claims", "parity", "--model", folder, "--dtype", "bfloat16", "--symbol", "1", "--json"])
    assert code in (0, 1)  # a [-1,1] model: no witness is predicted; the verdict depends on the member
    out = json.loads(capsys.readouterr().out)
    assert out["precision"] == "per-step"
    model = load_fla_checkpoint(folder)
    assert (model.config.layer, model.config.eigenvalue_range, model.config.n_layers) == ("deltanet", (-1, 1), 2)


def test_evaluate_and_extract_read_fla_checkpoints(fla_models, tmp_path, capsys):
    """evaluate/extract score an fla checkpoint on a language through a token map (symbols paired by name)."""
    from statetrack.cli import main

    folder = str(fla_models / "deltaproduct_nh2")
    tm = tmp_path / "map.json"
    tm.write_text(json.dumps({"symbols": {"0": 2, "1": 3}, "accept": 1, "reject": 0}))
    assert main(["evaluate", folder, "--token-map", str(tm), "--lang", "parity", "--test-lengths", "1:6",
                 "--per-length", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["per_length"], key=int) == [str(t) for t in range(1, 7)]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in out["per_length"].values())
    code = main(["extract", folder, "--token-map", str(tm), "--lang", "parity", "--words", "16", "--max-length", "4",
                 "--test-words", "8", "--test-lengths", "5:8", "--dot", str(tmp_path / "x.dot"), "--json"])
    assert code in (0, 1)  # 0: the extracted automaton is parity; 1: it is not (a random model), with a counterexample
    ex = json.loads(capsys.readouterr().out)
    assert ex["equivalent"] == (code == 0)
    assert main(["evaluate", folder, "--lang", "parity"]) == 2  # no token map
    assert "--token-map" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"symbols": {"0": 2}, "accept": 1, "reject": 0}))
    assert main(["evaluate", folder, "--token-map", str(bad), "--lang", "parity"]) == 2
    assert "'1'" in capsys.readouterr().err  # the unmapped symbol is named
