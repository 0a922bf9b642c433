"""Per-row parameter regions of diagonal layers: the boxes contain every reachable state, a violated claim is never
certified, rows that count do not close, exact sign flips stay exact points, and a diagonal parity model with a leaky
row that the anchored regions cannot handle is certified."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from statetrack.automata.catalog import get_language
from statetrack.lrnn.certify import certify
from statetrack.lrnn.certify.anchored import refine_by_normal_forms
from statetrack.lrnn.certify.row_parameters import (generators, parameter_regions, readout_margins,
                                                    scan_output)
from statetrack.lrnn.certify.window_graph import build_window_graph
from statetrack.lrnn.certify.window_steps import float64_copy, window_steps, window_width
from statetrack.lrnn.layers import GATE_OVERSHOOT
from statetrack.lrnn.model import LRNNConfig, LRNNModel

QUICK = dict(search_words=64, search_lengths=(24,))


def leaky_parity_model(a_leak: float = 0.9, wild: float | None = None) -> LRNNModel:
    """A one-layer diagonal parity model with three one-row heads: head 0 flips its sign on '1' (the parity the
    readout uses), head 1 is a leaky count of the 1s (``a = a_leak`` on '1', the identity on '0'), read with a small
    weight, head 2 flips on '0' (ignored by the readout). Head 2 splits the nodes by the parity of the 0s, so the
    identity on '0' joins two nodes whose simulated centres of head 1 differ: the anchored regions cannot close.
    ``wild``: a fourth head that flips on every token with the inputs +1 on '0' and -1/2 on '1' (its state, an
    alternating sum, grows without bound), read with this weight."""
    heads = 3 if wild is None else 4
    cfg = LRNNConfig(vocab_size=3, n_classes=2, d_model=4, n_layers=1, layer="diagonal", num_heads=heads,
                     head_dim=1, state_dim=1, eigenvalue_range=(-1, 1), use_short_conv=False, mlp_ratio=1.0,
                     gate="saturating")
    m = LRNNModel(cfg)
    r = math.sqrt(2.0)  # norm1 scales the two embeddings below by sqrt(2)
    s = ((1 + a_leak) / 2 + GATE_OVERSHOOT) / (1 + 2 * GATE_OVERSHOOT)  # exp(-dt) that gives e = (1 + a_leak) / 2
    z = math.log(math.expm1(-math.log(s)))  # softplus^-1(dt)
    mix = m.blocks[0].mixer
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.embedding.weight[:2] = torch.tensor([[1., 0, 1, 0], [0, 1, 1, 0]])
        for norm in (m.blocks[0].norm1, m.blocks[0].norm2, mix.o_norm.norm, m.norm):
            norm.weight.fill_(1.0)
        mix.dt_proj.weight[0] = torch.tensor([-20., 20, 0, 0])
        mix.dt_proj.weight[1] = torch.tensor([-20., z / r, 0, 0])
        mix.dt_proj.weight[2] = torch.tensor([20., -20, 0, 0])
        mix.B_proj.weight[:3, 2] = 1 / r
        mix.x_proj.weight[:, 2] = 2 / r  # v = silu(2) on every token
        mix.C_proj.weight[:3, 2] = torch.tensor([-1., 1, 1]) / r
        mix.D[:3] = torch.tensor([[0.5], [-0.25], [0.0]])
        mix.z_proj.weight[:, 2] = 5 / r
        mix.o_proj.weight[0, :3] = torch.tensor([1.0, 0.2, 0.0])
        if wild is not None:
            mix.dt_proj.weight[3] = torch.tensor([20., 20, 0, 0])
            mix.B_proj.weight[3] = torch.tensor([1., -0.5, 0, 0]) / r
            mix.C_proj.weight[3, 2] = 1 / r
            mix.o_proj.weight[0, 3] = wild
        m.head.weight[:, 0] = torch.tensor([-3., 3])
    return m.eval()


def random_diagonal_model(seed: int, conv: bool) -> LRNNModel:
    torch.manual_seed(seed)
    cfg = LRNNConfig(vocab_size=3, n_classes=2, d_model=8, n_layers=1, layer="diagonal", num_heads=2, head_dim=3,
                     state_dim=2, eigenvalue_range=(-1, 1), use_short_conv=conv, conv_size=2, mlp_ratio=1.0,
                     gate="saturating")
    return LRNNModel(cfg).eval()


def graph_and_steps(model: LRNNModel, dfa, min_length: int = 1):
    m64 = float64_copy(model)
    c = window_width(m64)
    graph = build_window_graph(dfa, c, max(c - 1, min_length))
    steps = window_steps(m64, graph.windows)
    finer = refine_by_normal_forms(graph, steps, True)
    if finer is not None:
        graph, steps = finer, window_steps(m64, finer.windows)
    return m64, graph, steps


def walk(graph, steps, word):
    """The nodes, edges and float64 states ``[H, K, V]`` along ``word`` (symbol ids), from the empty word."""
    succ = graph.successor()
    node, S = 0, np.zeros_like(steps[0].B)
    out = []
    for a in word:
        e = succ[(node, int(a))]
        S = np.einsum("hkl,hlv->hkv", steps[e].A, S) + steps[e].B
        node = graph.edges[e][2]
        out.append((node, e, S.copy()))
    return out


@pytest.mark.parametrize("seed,conv", [(0, False), (1, True), (2, False)])
def test_parameter_boxes_contain_every_reachable_state(seed, conv):
    model = random_diagonal_model(seed, conv)
    _, graph, steps = graph_and_steps(model, get_language("parity"))
    regions = parameter_regions(graph, steps)
    assert not regions.free.any()
    assert np.all(regions.lo <= regions.hi)
    W = len(regions.windows)
    B, Br = generators(steps, regions.window_of_edge, W)
    rng = np.random.default_rng(seed)
    for _ in range(24):
        word = rng.integers(0, 2, size=int(rng.integers(1, 120)))
        s = np.zeros(regions.lo.shape[1:])  # the parameters, run alongside the states
        for node, e, S in walk(graph, steps, word):
            a = np.diagonal(steps[e].A, axis1=-2, axis2=-1)[..., None]
            s = a * s + np.eye(W)[regions.window_of_edge[e]] * regions.active
            assert np.all(regions.lo[node] <= s) and np.all(s <= regions.hi[node])
            # the state is the parameters' combination of the row inputs, inside the box the node's intervals give
            assert np.allclose(np.einsum("hkw,whkv->hkv", s, B), S, rtol=1e-9, atol=1e-12)
            Bt = B.transpose(1, 2, 0, 3)  # [H, K, W, V]
            ends = np.stack([regions.lo[node][..., None] * Bt, regions.hi[node][..., None] * Bt])
            tol = 1e-9 * (1 + np.abs(S))
            assert np.all(ends.min(0).sum(2) - tol <= S) and np.all(S <= ends.max(0).sum(2) + tol)


def test_branch_and_bound_certifies_a_true_bound_and_refuses_a_false_one():
    model = random_diagonal_model(3, False)
    _, graph, steps = graph_and_steps(model, get_language("parity"))
    regions = parameter_regions(graph, steps)
    W = len(regions.windows)
    B, Br = generators(steps, regions.window_of_edge, W)
    rng = np.random.default_rng(0)
    reached = -np.inf  # the largest o[0, 0] on simulated words
    for _ in range(64):
        for _, e, S in walk(graph, steps, rng.integers(0, 2, size=200)):
            reached = max(reached, float(np.einsum("kv,k->v", S[0], steps[e].q[0])[0] + steps[e].extra[0, 0]))
    whole = -np.inf  # the bound on the unsplit boxes
    for e, (s, _, _) in enumerate(graph.edges):
        whole = max(whole, float(scan_output(steps[e], regions.lo[s], regions.hi[s], B, Br).hi[0, 0]))
    assert whole >= reached

    def below(t):
        return lambda e, o, o_eps=None: t - float(o.hi[0, 0])

    false = readout_margins(regions, graph, steps, below(reached - 1e-6), max_boxes=4000)
    assert false.worst <= 0  # a word goes above the threshold: never certified, however finely split
    true = readout_margins(regions, graph, steps, below(whole + 1.0))
    assert true.worst > 0 and true.boxes == len(graph.edges)


def test_a_row_that_counts_is_free_and_the_others_stay_bounded():
    model = random_diagonal_model(0, False)
    _, graph, steps = graph_and_steps(model, get_language("parity"))
    before = parameter_regions(graph, steps)
    assert not before.free.any()
    for st in steps:
        st.A[0, 0, 0] = 1.0  # a = 1 with an input on every token: the row counts the tokens
        st.a_exact[0, 0] = True
    regions = parameter_regions(graph, steps, max_rounds=2000)
    others = np.ones(regions.free.shape, dtype=bool)
    others[0, 0] = False
    assert regions.free[0, 0][regions.active[0, 0]].all() and not regions.free[others].any()
    assert np.array_equal(regions.lo[:, others], before.lo[:, others])
    assert np.array_equal(regions.hi[:, others], before.hi[:, others])


def test_exact_sign_flips_stay_exact_points():
    model = leaky_parity_model()
    _, graph, steps = graph_and_steps(model, get_language("parity"))
    regions = parameter_regions(graph, steps)
    width = regions.hi - regions.lo  # [P, H, K, W]
    assert np.all(width[:, 0] == 0) and np.all(width[:, 2] == 0)  # the flipping heads: one exact value per node
    assert width[:, 1].max() > 0.5  # the leaky head spreads over an interval


def test_leaky_row_parity_model_certifies_where_anchored_regions_do_not_close():
    m = leaky_parity_model()
    ids = torch.from_numpy(np.random.default_rng(4).integers(0, 2, size=(8, 300)))
    with torch.no_grad():
        assert torch.equal(m(ids).argmax(-1), ((ids.cumsum(1) % 2) == 0).long())
    cert = certify(m, get_language("parity"), **QUICK)
    assert cert.status == "certified", cert.reason
    assert cert.details["argument"] == "per-row parameter intervals"
    assert cert.details["anchored_largest_radius"] > 1e3  # the anchored regions did not close
    # its [0, 1] twin (no sign flips) is never certified
    z = leaky_parity_model()
    z.config.eigenvalue_range = (0, 1)
    z.blocks[0].mixer.eigenvalue_range = (0, 1)
    cert = certify(z, get_language("parity"), **QUICK)
    assert cert.status in ("counterexample", "inconclusive")


def test_a_head_whose_state_grows_without_bound_is_covered_by_its_directions():
    m = leaky_parity_model(wild=0.3)
    ids = torch.from_numpy(np.random.default_rng(4).integers(0, 2, size=(8, 300)))
    alternating = torch.tensor([[0, 1] * 2000])
    with torch.no_grad():
        assert torch.equal(m(ids).argmax(-1), ((ids.cumsum(1) % 2) == 0).long())
        assert torch.equal(m(alternating).argmax(-1), ((alternating.cumsum(1) % 2) == 0).long())
    _, graph, steps = graph_and_steps(m, get_language("parity"))
    regions = parameter_regions(graph, steps)
    assert regions.free[3].any() and not regions.free[:3].any()
    cert = certify(m, get_language("parity"), **QUICK)
    assert cert.status == "certified", cert.reason
    assert cert.details["free_parameters"] > 0 and cert.details["argument"] == "per-row parameter intervals"


def test_a_claim_that_fails_far_out_in_a_free_direction_is_never_certified():
    m = leaky_parity_model(wild=0.3)
    _, graph, steps = graph_and_steps(m, get_language("parity"))
    regions = parameter_regions(graph, steps)
    # "head 3's scan output is negative": false along the alternating sums of one sign, at any scale
    out = readout_margins(regions, graph, steps, lambda e, o, o_eps=None: -float(o.hi[3, 0]), max_boxes=2000)
    assert out.worst <= 0
    # "head 0's output is below its largest value + 1": true whatever head 3 does
    top = max(float(np.abs(np.einsum("kv,k->v", S[0], steps[e].q[0])).max() + np.abs(steps[e].extra[0]).max())
              for _, e, S in walk(graph, steps, np.random.default_rng(0).integers(0, 2, size=200)))
    out = readout_margins(regions, graph, steps, lambda e, o, o_eps=None: top + 1 - float(o.hi[0, 0]))
    assert out.worst > 0


def test_progress_bar_changes_nothing_and_the_cli_takes_the_flags(tmp_path, capsys):
    from statetrack.cli import main
    from statetrack.lrnn.tasks import Task
    from statetrack.lrnn.train import save_any

    m = leaky_parity_model()
    m64, graph, steps = graph_and_steps(m, get_language("parity"))
    regions = parameter_regions(graph, steps)

    def bound(e, o, o_eps=None):
        return 1.0 - float(o.hi[1, 0])

    quiet = readout_margins(regions, graph, steps, bound)
    loud = readout_margins(regions, graph, steps, bound, progress=True)
    assert (quiet.worst, quiet.edge, quiet.boxes) == (loud.worst, loud.edge, loud.boxes)
    run = tmp_path / "run"
    run.mkdir()
    save_any(m, run / "model.safetensors")
    task = Task(get_language("parity"), "final", (1, 40))
    (run / "run.json").write_text(json.dumps({"format_version": 1, "model": "diagonal", "task": task.to_json()}))
    code = main(["certify", str(run), "--max-boxes", "1000", "--no-progress", "--json"])
    out = capsys.readouterr()
    assert code == 0 and out.err == "" and json.loads(out.out)["status"] == "certified"
    assert main(["certify", str(run), "--max-boxes", "0"]) == 2


def test_deeper_histories_are_tried_until_the_readout_is_separated(monkeypatch):
    """A readout check that holds only on nodes keeping 2 or more tokens: the try at history 0 fails, the one at 2
    certifies, and each try is reported; without deepening, or past the node cap, the answer is inconclusive."""
    import statetrack.lrnn.certify.api as api
    from statetrack.lrnn.certify.row_parameters import MarginOutcome

    real = api.readout_margins

    def picky(params, graph, steps, margin, **kw):
        out = real(params, graph, steps, margin, **kw)
        deep = any(len(node[1]) >= 2 for node in graph.nodes)  # nodes keep the last two tokens
        return out if deep else MarginOutcome(-1.0, 0, 7)

    monkeypatch.setattr(api, "readout_margins", picky)
    m = leaky_parity_model()
    cert = certify(m, get_language("parity"), **QUICK)
    assert cert.status == "certified", cert.reason
    assert [t["history"] for t in cert.details["parameter_tries"]] == [0, 2]
    assert cert.details["parameter_history"] == 2 and cert.details["parameter_tries"][0]["boxes"] == 7
    flat = certify(m, get_language("parity"), deepen=0, **QUICK)
    assert flat.status == "inconclusive" and "history 0" in flat.reason
    monkeypatch.setattr(api, "DEEPEN_NODES", 4)
    capped = certify(m, get_language("parity"), **QUICK)
    assert capped.status == "inconclusive" and len(capped.details["parameter_tries"]) == 1
