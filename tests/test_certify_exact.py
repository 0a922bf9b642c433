"""The saturating gate and certificates through exact maps: the gate reaches beta = 2 / 0 and a = -1 / 1 exactly, the
option survives a save and reload, a hand-built exact-reflection parity model certifies, and the same model with
a gate just off its exact value, or with the range [0, 1], does not."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from statetrack.automata.catalog import get_language
from statetrack.errors import ModelFormatError, StatetrackError
from statetrack.lrnn.certify import certify
from statetrack.lrnn.certify.anchored import push
from statetrack.lrnn.certify.window_steps import IDEMPOTENT, IDENTITY, INVOLUTION, RESET
from statetrack.lrnn.layers import DeltaProductLayer, DiagonalLayer, gate_unit
from statetrack.lrnn.model import LRNNConfig, LRNNModel, load_model
from statetrack.lrnn.train import TrainConfig, build_model, resolve_gate
from statetrack.lrnn.tasks import task_from_dfa

QUICK = dict(search_words=64, search_lengths=(64, 512))


def test_saturating_gate_reaches_its_ends_exactly_and_sigmoid_does_not():
    s = torch.sigmoid(torch.linspace(-8, 8, 101))
    sat = gate_unit(s, "saturating")
    assert float(sat.min()) == 0.0 and float(sat.max()) == 1.0
    assert 0.0 < float(gate_unit(s, "sigmoid").min()) and float(gate_unit(s, "sigmoid").max()) < 1.0
    mid = torch.tensor([0.3, 0.5, 0.7])
    assert torch.all((gate_unit(mid, "saturating") > 0) & (gate_unit(mid, "saturating") < 1))
    with pytest.raises(StatetrackError):
        DeltaProductLayer(8, 1, 4, gate="hard")


@pytest.mark.parametrize("rng,top", [((-1, 1), 2.0), ((0, 1), 1.0)])
def test_householder_beta_is_exactly_beta_max_or_zero(rng, top):
    layer = DeltaProductLayer(8, 2, 4, num_householder=1, eigenvalue_range=rng, gate="saturating",
                              use_short_conv=False)
    x = torch.randn(3, 5, 8)
    with torch.no_grad():
        layer.b_proj.weight.zero_()
        layer.b_proj.bias.fill_(4.0)
        assert torch.all(layer.betas(x) == top)
        layer.b_proj.bias.fill_(-4.0)
        assert torch.all(layer.betas(x) == 0.0)
        ref = DeltaProductLayer(8, 2, 4, num_householder=1, eigenvalue_range=rng, use_short_conv=False)
        ref.b_proj.weight.zero_()
        ref.b_proj.bias.fill_(4.0)
        assert torch.all(ref.betas(x) < top)  # the published sigmoid gate stops short of the end


def test_diagonal_gate_reaches_a_sign_flip_and_an_exact_identity():
    layer = DiagonalLayer(8, 2, 4, state_dim=3, eigenvalue_range=(-1, 1), gate="saturating", use_short_conv=False)
    x = torch.randn(2, 6, 8)
    with torch.no_grad():
        layer.dt_proj.weight.zero_()
        layer.dt_bias.fill_(30.0)  # dt large: exp(-dt A) -> clamped to 0, a = -1
        q, k, v, a = layer.scan_inputs(x)
        assert torch.all(a == -1.0)
        layer.dt_bias.fill_(-30.0)  # dt tiny: clamped to 1, a = 1 and the key (1 - e) B is exactly 0
        q, k, v, a = layer.scan_inputs(x)
        assert torch.all(a == 1.0) and torch.all(k == 0.0)


def test_gate_option_round_trips_through_the_saved_file(tmp_path):
    cfg = LRNNConfig(vocab_size=3, d_model=8, n_layers=1, layer="deltanet", num_heads=1, head_dim=4,
                     gate="saturating", use_short_conv=False)
    m = LRNNModel(cfg)
    m.save(tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert back.config.gate == "saturating" and back.blocks[0].mixer.gate == "saturating"
    ids = torch.tensor([[0, 1, 1, 0, 1]])
    with torch.no_grad():
        assert torch.equal(m(ids), back(ids))
    old = cfg.to_json()
    del old["gate"]  # files written before the option load with the published gate
    assert LRNNConfig.from_json(old).gate == "sigmoid"
    with pytest.raises(ModelFormatError):
        LRNNConfig.from_json({**cfg.to_json(), "gate": "hard"})


def test_training_default_gate_follows_the_range():
    assert resolve_gate("auto", (-1, 1)) == "saturating" and resolve_gate("auto", (0, 1)) == "sigmoid"
    assert resolve_gate("sigmoid", (-1, 1)) == "sigmoid"
    task = task_from_dfa(get_language("parity"), train_lengths=(3, 5))
    m = build_model(TrainConfig(model="diagonal", dim=8, heads=1, state_dim=2, short_conv=False), task)
    assert m.config.gate == "saturating" and not m.config.use_short_conv
    with pytest.raises(StatetrackError):
        TrainConfig(gate="hard")
    with pytest.raises(StatetrackError):
        TrainConfig(gate_penalty=-1.0)
    assert TrainConfig.from_json(TrainConfig(gate="sigmoid").to_json()).gate == "sigmoid"


def test_normal_forms():
    assert push((1, 2), 2, INVOLUTION) == (1,)
    assert push((1, 2), 3, INVOLUTION) == (1, 2, 3)
    assert push((1, 2), 2, IDEMPOTENT) == (1, 2)
    assert push((1, 2), 5, IDENTITY) == (1, 2)
    assert push((1, 2), 5, RESET) == (5,)


# ------------------------------------------------------------------------------------------- hand-built models
def reflection_parity_model(rng=(-1, 1), z0: float = -10.0) -> LRNNModel:
    """A one-layer DeltaNet without convolutions (one head, K = V = 2) for parity: token '1' has ``beta = 2`` (an
    exact reflection with an irrational unit key), token '0' has ``beta = 0`` (the identity) when ``z0`` is far
    below the clamp. The state is 0 after an even number of 1s and ``2 k v^T`` after an odd one; the scan output
    moves residual dimension 0, which the head reads."""
    cfg = LRNNConfig(vocab_size=3, n_classes=2, d_model=4, n_layers=1, layer="deltanet", num_heads=1, head_dim=2,
                     eigenvalue_range=rng, use_short_conv=False, mlp_ratio=1.0, gate="saturating")
    m = LRNNModel(cfg)
    mix = m.blocks[0].mixer
    with torch.no_grad():
        m.embedding.weight[:] = torch.tensor([[0., 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1]])
        for norm in (m.blocks[0].norm1, m.blocks[0].norm2, m.norm, mix.o_norm.norm):
            norm.weight.fill_(1.0)
        # z = z0 / sqrt(2) on '0' (h = [0, 1.41, 0, 1.41]) and 10 on '1'
        mix.b_proj.weight[:] = torch.tensor([[0., z0, 10.0, 0]])
        mix.b_proj.bias.zero_()
        mix.k_proj.weight[:] = torch.tensor([[0., 0.2, 1.0, 0], [0, 0.9, 0.37, 0]])  # keys of '1' and '0' not orthogonal
        mix.q_proj.weight[:] = mix.k_proj.weight
        mix.v_proj.weight[:] = torch.tensor([[0., 0, 2.0, 0], [0, 0, 0, 0]])
        mix.g_proj.weight[:] = torch.tensor([[0., 0, 0, 2.0], [0, 0, 0, 2.0]])
        mix.o_proj.weight.zero_()
        mix.o_proj.weight[0, 0] = 1.0
        m.blocks[0].mlp.down.weight.zero_()
        m.head.weight.zero_()
        m.head.weight[0, 0], m.head.weight[1, 0] = 1.0, -1.0
        m.head.bias[:] = torch.tensor([-0.75, 0.75])
    return m.eval()


def parity_classes(ids: torch.Tensor) -> torch.Tensor:
    return 1 - ids.cumsum(1) % 2  # accept (class 1) = an even number of 1s


def test_exact_reflection_model_is_right_and_certifies():
    m = reflection_parity_model()
    mix = m.blocks[0].mixer
    with torch.no_grad():
        beta = mix.betas(m.blocks[0].norm1(m.embedding(torch.tensor([[0, 1]]))))
    assert beta.flatten().tolist() == [0.0, 2.0]
    ids = torch.from_numpy(np.random.default_rng(3).integers(0, 2, size=(8, 400)))
    with torch.no_grad():
        assert torch.equal(m(ids).argmax(-1), parity_classes(ids))
    cert = certify(m, get_language("parity"), **QUICK)
    assert cert.status == "certified" and cert.arithmetic == "real", cert.reason
    assert cert.details["anchored_largest_radius"] == 0.0  # every state is one of the two exact states
    assert cert.details["readout_margin"] > 0
    assert cert.details["exact_rows"]["involution"] > 0 and cert.details["exact_rows"]["identity"] > 0


def test_a_gate_just_off_the_identity_is_not_certified():
    """beta on '0' is small but not 0 and the keys are not orthogonal: the '0' map contracts along its key, so along
    (001)^n the state converges to a 3-periodic orbit while parity has period 6. The real-arithmetic model is wrong
    at some length; without the search the argument must not close."""
    m = reflection_parity_model(z0=-1.0)
    with torch.no_grad():
        beta0 = float(m.blocks[0].mixer.betas(m.blocks[0].norm1(m.embedding(torch.tensor([[0]])))).flatten()[0])
    assert 0.0 < beta0 < 0.2
    cert = certify(m, get_language("parity"), search=False)
    assert cert.status == "inconclusive"


def test_zero_one_reflection_model_never_certifies():
    """With the range [0, 1] the '1' map is an exact projection (beta = 1): '11' and '1' end in the same state."""
    m = reflection_parity_model(rng=(0, 1))
    cert = certify(m, get_language("parity"), **QUICK)
    assert cert.status in ("counterexample", "inconclusive")
    if cert.status == "counterexample":
        ids = torch.tensor([[int(s) for s in cert.word]])
        with torch.no_grad():
            assert int(m(ids)[0, -1].argmax()) == cert.predicted != cert.expected


def test_gate_penalty_hooks_record_each_saturating_mixer():
    from statetrack.lrnn.train import gate_penalty_hooks

    task = task_from_dfa(get_language("parity"), train_lengths=(3, 5))
    m = build_model(TrainConfig(model="deltanet", dim=8, heads=1, layers=2, short_conv=False), task)
    usage, hooks = gate_penalty_hooks(m)
    m(torch.tensor([[0, 1, 1]]))
    assert len(usage) == 2 and all(0.0 <= float(u.detach()) <= 1.0 and u.requires_grad for u in usage)
    for h in hooks:
        h.remove()
    usage.clear()
    m(torch.tensor([[0, 1]]))
    assert usage == []
    plain = build_model(TrainConfig(model="deltanet", dim=8, heads=1, gate="sigmoid"), task)
    assert gate_penalty_hooks(plain) == ([], [])


def test_a_head_that_flips_on_the_other_symbol_keeps_exact_states():
    """A second head reflects on '0' and is the identity on '1' (it tracks the parity of the 0s, which the readout
    ignores). The window graph alone merges words with different states of that head; split by the normal forms of
    the exact rows, every state is exact again and the model certifies."""
    cfg = LRNNConfig(vocab_size=3, n_classes=2, d_model=4, n_layers=1, layer="deltanet", num_heads=2, head_dim=2,
                     use_short_conv=False, mlp_ratio=1.0, gate="saturating")
    m = LRNNModel(cfg)
    one = reflection_parity_model()
    mix, ref = m.blocks[0].mixer, one.blocks[0].mixer
    with torch.no_grad():
        for name, p in one.named_parameters():
            if p.shape == dict(m.named_parameters())[name].shape:
                dict(m.named_parameters())[name].copy_(p)
        for new, old in ((mix.q_proj, ref.q_proj), (mix.k_proj, ref.k_proj), (mix.v_proj, ref.v_proj),
                         (mix.g_proj, ref.g_proj)):
            new.weight[:2] = old.weight
            new.weight[2:] = old.weight.flip(1)  # head 2 reads the '0' coordinates where head 1 reads the '1' ones
        mix.b_proj.weight[0] = ref.b_proj.weight[0]
        mix.b_proj.weight[1] = torch.tensor([0., 10.0, -10.0, 0])  # head 2: beta = 2 on '0', 0 on '1'
        mix.b_proj.bias.zero_()
        mix.o_proj.weight.zero_()
        mix.o_proj.weight[0, 0] = 1.0  # only head 1 reaches the residual stream
    m.eval()
    with torch.no_grad():
        beta = mix.betas(m.blocks[0].norm1(m.embedding(torch.tensor([[0, 1]]))))[0]
    assert beta.tolist() == [[0.0, 2.0], [2.0, 0.0]]
    ids = torch.from_numpy(np.random.default_rng(4).integers(0, 2, size=(4, 300)))
    with torch.no_grad():
        assert torch.equal(m(ids).argmax(-1), parity_classes(ids))
    cert = certify(m, get_language("parity"), **QUICK)
    assert cert.status == "certified", cert.reason
    assert cert.details["split_by_normal_forms"] and cert.details["anchored_largest_radius"] == 0.0


def test_frozen_and_refuted_runs_restart(tmp_path):
    """A run whose every saturating gate sits on its clamp gets no gradient on any gate: when it is also refuted
    the hook asks for a fresh start (within its budget of restarts); train() then goes on from a new
    initialisation, with the same step count."""
    from statetrack.lrnn.certify import UntilCertified
    from statetrack.lrnn.train import RESTART, clamped_gates, train

    ids = torch.from_numpy(np.random.default_rng(6).integers(0, 2, size=(4, 20)))
    assert clamped_gates(reflection_parity_model(), ids) == 1.0
    assert clamped_gates(reflection_parity_model(z0=-1.0), ids) < 1.0
    sig = LRNNModel(LRNNConfig(vocab_size=3, d_model=4, n_layers=1, layer="deltanet", num_heads=1, head_dim=2,
                               use_short_conv=False))
    assert clamped_gates(sig, ids) is None
    parity = get_language("parity")
    hook = UntilCertified(parity, "final", 1, every=1, restarts=1, **QUICK)
    projection = reflection_parity_model(rng=(0, 1))  # refuted, every gate clamped
    assert hook(1, projection) == RESTART and hook.restarted_at == [] and hook.restarts_left == 1
    hook.restarted(1)  # train() applied it
    assert hook.restarted_at == [1] and hook.history == [(1, "counterexample", True)]
    assert hook(2, projection) is False  # no restart left
    again_hook = UntilCertified(parity, "final", 1, every=1, restarts=1, **QUICK)
    again_hook.load_state_dict(hook.state_dict())  # what a resumed run continues from
    assert again_hook.restarts_left == 0 and again_hook.history == hook.history
    for bad in ({"restarted_at": [1]}, {"restarted_at": [0], "history": []},
                {"restarted_at": [], "history": [{"step": 1, "status": "restart (x)", "restarted": True}]}):
        with pytest.raises(StatetrackError):
            again_hook.load_state_dict(bad)
    longest = len(hook.last.word) - 1  # refuted only beyond the training lengths: kept
    assert UntilCertified(parity, "final", 1, every=1, restarts=1, max_length=longest, **QUICK)(1, projection) is False
    assert UntilCertified(parity, "final", 1, every=1, restarts=1, **QUICK)(1, reflection_parity_model(z0=-1.0)) \
        is False  # refuted (or inconclusive) but not frozen: training goes on
    task = task_from_dfa(parity, train_lengths=(3, 5))
    cfg = TrainConfig(model="deltanet", dim=4, heads=1, steps=4, batch=4, warmup=0, log_every=1, short_conv=False)
    plain = train(task, cfg, tmp_path / "plain", progress=False)
    again = train(task, cfg, tmp_path / "again", progress=False, stop_when=lambda step, model: RESTART if step == 2 else False)
    assert "restarted_at" not in plain and again["restarted_at"] == [2] and again["steps"] == 4
    a = load_model(tmp_path / "plain" / "model.safetensors").state_dict()
    b = load_model(tmp_path / "again" / "model.safetensors").state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_stalled_and_refuted_runs_restart_with_patience(monkeypatch):
    """With patience P a run refuted on a training length at each of the last P checks, whose loss on a fixed
    labelled batch has not fallen by 10% against its best before them, asks for a fresh start even when its gates
    are not all clamped; a run whose loss still falls, one that is not refuted, or patience 0 trains on. The probe
    losses go into checkpoints and are validated on load."""
    from statetrack.lrnn.certify import UntilCertified
    from statetrack.lrnn.certify import training as tr
    from statetrack.lrnn.train import RESTART

    parity = get_language("parity")
    model = reflection_parity_model(z0=-1.0)  # refuted (or inconclusive), not frozen
    losses = iter([0.70, 0.69, 0.69, 0.68, 0.69, 0.30, 0.29, 0.28, 0.27])
    monkeypatch.setattr(tr.UntilCertified, "probe_loss", lambda self, m: next(losses))
    refuted = tr.Certificate("counterexample", "search", word=("1", "0", "1"))
    monkeypatch.setattr(tr, "certify", lambda *a, **k: refuted)
    hook = UntilCertified(parity, "final", 1, every=1, restarts=2, max_length=40, patience=3)
    assert [hook(s, model) for s in (1, 2, 3)] == [False, False, False]  # not enough checks yet
    assert hook(4, model) == RESTART  # 0.69, 0.69, 0.68 against the best before them, 0.70: no 10% fall
    hook.restarted(4)
    assert [hook(s, model) for s in (5, 6, 7, 8)] == [False, False, False, False]  # falling after the restart
    assert hook.state_dict()["history"][0]["probe_loss"] == 0.70
    again = UntilCertified(parity, "final", 1, every=1, restarts=2, max_length=40, patience=3)
    again.load_state_dict(hook.state_dict())
    assert again.losses == hook.losses and again.history == hook.history
    bad = hook.state_dict()
    bad["history"][0]["probe_loss"] = -1.0
    with pytest.raises(StatetrackError, match="probe_loss"):
        again.load_state_dict(bad)
    monkeypatch.setattr(tr.UntilCertified, "probe_loss", lambda self, m: 0.69)
    off = UntilCertified(parity, "final", 1, every=1, restarts=2, max_length=40, patience=0)
    assert [off(s, model) for s in range(1, 7)] == [False] * 6
    short = UntilCertified(parity, "final", 1, every=1, restarts=2, max_length=2, patience=3)  # refuted beyond
    assert [short(s, model) for s in range(1, 7)] == [False] * 6
    with pytest.raises(StatetrackError, match="patience"):
        UntilCertified(parity, "final", 1, every=1, patience=-1)
