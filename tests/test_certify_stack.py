"""Certificates of multi-layer models: regions carried through the layers (statetrack.lrnn.certify.stack).

Hand-built two-layer DeltaNets for parity: the first layer computes parity with an exact reflection and the second
passes it on (its inputs differ with the first layer's state: a product graph), or the first layer is the identity
and the second computes parity from the boxes the first hands it. Both certify; the same models with an exact
projection ([0, 1]) in place of the reflection do not."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from statetrack.automata.catalog import get_language
from statetrack.lrnn.certify import certify
from statetrack.lrnn.certify.intervals import Interval
from statetrack.lrnn.certify.stack import layer_step
from statetrack.lrnn.certify.window_steps import float64_copy, window_steps
from statetrack.lrnn.model import LRNNConfig, LRNNModel

QUICK = dict(search_words=64, search_lengths=(64, 512))


def parity_block(m: LRNNModel, layer: int, rng=(-1, 1)) -> None:
    """Block ``layer`` of ``m`` (d_model 4, one head of width 2, no convolutions): beta = 2 (or 1 with [0, 1]) on
    '1' (embedding [0, 0, 1, 1]), 0 on '0' ([0, 1, 0, 1]), writing the state's readout to residual dimension 0."""
    blk = m.blocks[layer]
    mix = blk.mixer
    mix.beta_max = 2.0 if rng == (-1, 1) else 1.0
    mix.eigenvalue_range = rng
    mix.b_proj.weight[:] = torch.tensor([[0., -10.0, 10.0, 0]])
    mix.b_proj.bias.zero_()
    mix.k_proj.weight[:] = torch.tensor([[0., 0.2, 1.0, 0], [0, 0.9, 0.37, 0]])
    mix.q_proj.weight[:] = mix.k_proj.weight
    mix.v_proj.weight[:] = torch.tensor([[0., 0, 2.0, 0], [0, 0, 0, 0]])
    mix.g_proj.weight[:] = torch.tensor([[0., 0, 0, 2.0], [0, 0, 0, 2.0]])
    mix.o_proj.weight.zero_()
    mix.o_proj.weight[0, 0] = 1.0
    blk.mlp.down.weight.zero_()


def identity_block(m: LRNNModel, layer: int) -> None:
    """Block ``layer``: beta = 0 on every input (the identity map, state 0), some output and MLP weights left."""
    blk = m.blocks[layer]
    blk.mixer.b_proj.weight.zero_()
    blk.mixer.b_proj.bias.fill_(-10.0)
    blk.mixer.o_proj.weight.mul_(0.1)
    blk.mlp.down.weight.mul_(0.01)


def two_layer(first: str, rng=(-1, 1)) -> LRNNModel:
    cfg = LRNNConfig(vocab_size=3, n_classes=2, d_model=4, n_layers=2, layer="deltanet", num_heads=1, head_dim=2,
                     eigenvalue_range=(-1, 1), use_short_conv=False, mlp_ratio=1.0, gate="saturating")
    torch.manual_seed(0)
    m = LRNNModel(cfg)
    with torch.no_grad():
        m.embedding.weight[:] = torch.tensor([[0., 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1]])
        for blk in m.blocks:
            for norm in (blk.norm1, blk.norm2, blk.mixer.o_norm.norm):
                norm.weight.fill_(1.0)
        m.norm.weight.fill_(1.0)
        if first == "parity":
            parity_block(m, 0, rng)
            identity_block(m, 1)
        else:
            identity_block(m, 0)
            parity_block(m, 1, rng)
        m.head.weight.zero_()
        m.head.weight[0, 0], m.head.weight[1, 0] = 1.0, -1.0
        m.head.bias[:] = torch.tensor([-0.75, 0.75])
    return m.eval()


@pytest.mark.parametrize("first", ["parity", "identity"])
def test_two_layer_exact_parity_models_certify(first):
    m = two_layer(first)
    ids = torch.from_numpy(np.random.default_rng(5).integers(0, 2, size=(8, 300)))
    with torch.no_grad():
        assert torch.equal(m(ids).argmax(-1), 1 - ids.cumsum(1) % 2)
    cert = certify(m, get_language("parity"), **QUICK)
    assert cert.status == "certified" and cert.arithmetic == "real", cert.reason
    layers = cert.details["layers"]
    assert len(layers) == 2 and all(info["anchored_largest_radius"] == 0.0 for info in layers)
    assert cert.details["readout_margin"] > 0
    parity_layer = layers[0 if first == "parity" else 1]
    assert parity_layer["exact_rows"]["involution"] > 0


@pytest.mark.parametrize("first", ["parity", "identity"])
def test_two_layer_projection_models_do_not_certify(first):
    m = two_layer(first, rng=(0, 1))
    assert certify(m, get_language("parity"), search=False).status == "inconclusive"
    cert = certify(m, get_language("parity"), **QUICK)
    assert cert.status == "counterexample"
    ids = torch.tensor([[int(s) for s in cert.word]])
    with torch.no_grad():
        assert int(m(ids)[0, -1].argmax()) == cert.predicted != cert.expected


def test_layer_step_bounds_contain_the_pointwise_step():
    """On a point input the interval step contains the float64 step of the one-layer code; on a box it contains
    the steps of random points of the box (fresh random weights, sigmoid and saturating gates, both families)."""
    rng = np.random.default_rng(0)
    for layer, gate in (("deltanet", "sigmoid"), ("deltaproduct", "saturating"), ("diagonal", "saturating"),
                        ("diagonal", "sigmoid")):
        cfg = LRNNConfig(vocab_size=5, d_model=8, n_layers=1, layer=layer, num_heads=2, head_dim=3, state_dim=3,
                         use_short_conv=False, gate=gate)
        torch.manual_seed(int(rng.integers(1 << 30)))
        m64 = float64_copy(LRNNModel(cfg))
        emb = m64.embedding.weight.detach().numpy()
        for a in range(4):
            centre = emb[a]
            radius = np.abs(centre) * 1e-3
            box = layer_step(m64, 0, Interval(centre - radius, centre + radius), False)
            for t in range(5):
                pt = centre + radius * rng.uniform(-1, 1, size=centre.shape) * (t > 0)
                with torch.no_grad():
                    m64.embedding.weight[a] = torch.from_numpy(pt)
                ref = window_steps(m64, [(a,)])[0]
                with torch.no_grad():
                    m64.embedding.weight[a] = torch.from_numpy(centre)
                for name in ("A", "B", "q", "extra", "gate"):
                    c, r, v = getattr(box, name), getattr(box, f"{name}_rad"), getattr(ref, name)
                    assert np.all(np.abs(v - c) <= r + 1e-12 + 1e-9 * np.abs(v)), (layer, gate, name)


@pytest.mark.parametrize("layer,gate", [("deltanet", "saturating"), ("deltaproduct", "sigmoid"),
                                        ("diagonal", "saturating")])
def test_untrained_multi_layer_models_are_not_certified(layer, gate):
    """Random two-layer models (inputs of layer 2 known only to boxes): the argument runs and does not certify."""
    cfg = LRNNConfig(vocab_size=3, d_model=8, n_layers=2, layer=layer, num_heads=2, head_dim=2, state_dim=2,
                     use_short_conv=False, gate=gate)
    torch.manual_seed(1)
    cert = certify(LRNNModel(cfg), get_language("parity"), search=False, max_rounds=200)
    assert cert.status == "inconclusive" and cert.reason
    conv = LRNNModel(LRNNConfig(vocab_size=3, d_model=8, n_layers=2, layer=layer, num_heads=2, head_dim=2,
                                state_dim=2, gate=gate))
    cert = certify(conv, get_language("parity"), search=False)
    assert cert.status == "inconclusive" and "convolution" in cert.reason


def contracting_model() -> LRNNModel:
    """A two-layer diagonal model whose every channel contracts: dt = softplus(~0) = 0.69, e = exp(-0.69) = 0.5,
    a = 2e - 1 near 0 (a in (-0.4, 0.4))."""
    cfg = LRNNConfig(vocab_size=3, d_model=8, n_layers=2, layer="diagonal", num_heads=2, head_dim=2, state_dim=2,
                     use_short_conv=False, gate="saturating")
    torch.manual_seed(2)
    m = LRNNModel(cfg)
    with torch.no_grad():
        for blk in m.blocks:
            blk.mixer.dt_proj.weight.mul_(0.1)
            blk.mixer.dt_bias.fill_(0.0)
    return m


def test_contracting_layers_carry_boxes_and_certify():
    """A two-layer diagonal model whose every channel contracts (a in (-0.4, 0.4)): the first layer's regions have
    a radius, so the second layer's inputs are boxes (no exact letters) and its coefficients intervals. With a head
    biased far towards 'accept', the model is certified for Sigma*, through both layers' regions."""
    from statetrack.automata.dfa import DFA

    m = contracting_model()
    with torch.no_grad():
        m.head.bias[:] = torch.tensor([-30.0, 30.0])
    cert = certify(m, DFA.from_regex("(0|1)*", alphabet="01").minimize(), search=False)
    assert cert.status == "certified", cert.reason
    first, second = cert.details["layers"]
    assert first["anchored_largest_radius"] > 0 and second["anchored_largest_radius"] > 0
    assert second["exact_inputs"] == 0


@pytest.mark.parametrize("build", ["contracting", "parity", "identity"])
def test_carried_boxes_hold_the_real_runs(build):
    """The boxes the argument hands each layer contain the inputs that layer really gets (float64 runs of the model
    on fresh random words, followed through the product graph), and the final logits lie in the readout bounds."""
    from statetrack.lrnn.certify.readout import logit_bounds
    from statetrack.lrnn.certify.stack import carry_regions

    m = contracting_model() if build == "contracting" else two_layer(build)
    m64 = float64_copy(m)
    stack = carry_regions(m64, get_language("parity"), 1, 0, 3000)
    assert stack.closed
    seen: list[torch.Tensor] = []
    hooks = [blk.register_forward_hook(lambda mod, inp, out: seen.append(inp[0])) for blk in m64.blocks]
    ids = torch.from_numpy(np.random.default_rng(7).integers(0, 2, size=(6, 120)))
    with torch.no_grad():
        logits = m64(ids).numpy()
    for h in hooks:
        h.remove()
    succ = stack.graph.successor()
    for b in range(ids.shape[0]):
        node = 0
        for t in range(ids.shape[1]):
            e = succ[(node, int(ids[b, t]))]
            for layer, boxes in enumerate(stack.inputs):
                x = seen[layer][b, t].numpy()
                assert np.all((boxes[e].lo <= x) & (x <= boxes[e].hi)), (build, layer, b, t)
            bound = logit_bounds(m64, stack.steps[e], stack.outs[e], layer=1)
            assert np.all((bound.lo <= logits[b, t]) & (logits[b, t] <= bound.hi)), (build, b, t)
            node = stack.graph.edges[e][2]
