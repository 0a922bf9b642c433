"""Diagonal layers with a step size per state row (Mamba-1): shapes, parameter count, the saved config, validation,
and exact per-row maps for the certifier (two rows of one head that flip on different symbols)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from statetrack.errors import StatetrackError
from statetrack.lrnn.certify.window_steps import IDENTITY, INVOLUTION, float64_copy, window_steps
from statetrack.lrnn.model import LRNNConfig, LRNNModel, load_model, save_model
from statetrack.lrnn.train import TrainConfig


def config(**kw) -> LRNNConfig:
    base = dict(vocab_size=3, n_classes=2, d_model=8, n_layers=1, layer="diagonal", num_heads=2, head_dim=3,
                state_dim=4, eigenvalue_range=(-1, 1), use_short_conv=False, gate="saturating", dt_per_channel=True)
    return LRNNConfig(**{**base, **kw})


@pytest.mark.parametrize("per_channel", [False, True])
def test_step_sizes_shape_and_parameter_count(per_channel):
    torch.manual_seed(0)
    m = LRNNModel(config(dt_per_channel=per_channel))
    mixer = m.blocks[0].mixer
    x = torch.randn(2, 5, 8)
    dt = mixer.step_sizes(x)
    assert dt.shape == (2, 5, 2, 4 if per_channel else 1) and bool((dt > 0).all())
    e, _ = mixer.gates(x)
    assert e.shape == (2, 5, 2, 4)
    assert sum(p.numel() for p in m.parameters()) == m.config.num_parameters()
    if not per_channel:  # one step per head: every row of a head sees the same dt
        assert torch.equal(dt.expand(2, 5, 2, 4)[..., 0], dt[..., 0])


def test_rows_of_one_head_get_their_own_gates():
    torch.manual_seed(1)
    m = LRNNModel(config())
    mixer = m.blocks[0].mixer
    with torch.no_grad():
        mixer.dt_proj.weight.zero_()
        mixer.dt_bias.copy_(torch.linspace(-30, 30, 8))  # dt from tiny to large across the 8 rows
        a, _ = mixer.transitions(torch.randn(1, 3, 8))
    assert a[0, 0, 0, 0] == 1.0 and a[0, 0, 1, 3] == -1.0  # an exact identity and an exact sign flip, same layer


def test_saved_config_round_trips_and_old_files_load_per_head(tmp_path):
    m = LRNNModel(config()).eval()
    save_model(m, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert back.config.dt_per_channel is True
    ids = torch.tensor([[0, 1, 1, 0, 1]])
    with torch.no_grad():
        assert torch.equal(back(ids), m(ids))
    d = config().to_json()
    del d["dt_per_channel"]
    assert LRNNConfig.from_json(json.loads(json.dumps(d))).dt_per_channel is False


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_dt_per_channel_must_be_a_bool(bad):
    with pytest.raises(StatetrackError, match="dt_per_channel"):
        config(dt_per_channel=bad)
    with pytest.raises(StatetrackError, match="dt_per_channel"):
        TrainConfig(model="diagonal", dt_per_channel=bad)


def test_dt_per_channel_is_for_diagonal_layers_only():
    with pytest.raises(StatetrackError, match="diagonal"):
        config(layer="deltanet", dt_per_channel=True)
    with pytest.raises(StatetrackError, match="diagonal"):
        TrainConfig(model="deltanet", dt_per_channel=True)


def test_certifier_reads_exact_kinds_per_row():
    """One head whose row 0 flips on '1' and is the identity on '0', and whose row 1 does the opposite: with one
    step per head no gate can do both, with one per row the certifier must see both exact maps."""
    m = LRNNModel(config(num_heads=1, state_dim=2, d_model=4, head_dim=2))
    mixer = m.blocks[0].mixer
    with torch.no_grad():
        m.embedding.weight[:2] = torch.tensor([[1., 0, 0, 0], [0, 1, 0, 0]])
        mixer.dt_proj.weight.zero_()
        mixer.dt_proj.weight[0] = torch.tensor([-20., 20, 0, 0])
        mixer.dt_proj.weight[1] = torch.tensor([20., -20, 0, 0])
        mixer.dt_bias.zero_()
        mixer.A_log.zero_()
    steps = window_steps(float64_copy(m), [(0,), (1,)])
    assert steps[0].kinds[0].tolist() == [IDENTITY, INVOLUTION]
    assert steps[1].kinds[0].tolist() == [INVOLUTION, IDENTITY]
    assert np.array_equal(np.diagonal(steps[1].A[0]), [-1.0, 1.0])
