"""CompiledLRNN: compiled models run through the kernels give the DFA's states.

Hand-built models (independent of the constructions package) cover every layer kind, multi-layer coupling on
post-transition codes, resets (values), irrational rotations and segmenting; compiled models from
``statetrack.constructions.compile_language`` are checked when that package is importable.
"""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from statetrack.automata.dfa import DFA
from statetrack.errors import AlphabetError, ModelFormatError, StatetrackError
from statetrack.lrnn.compiled import CompiledLRNN


def _triton_runs_here() -> bool:
    """Triton is installed and can run: on a GPU, or on the CPU through its interpreter."""
    import importlib.util
    import os

    if importlib.util.find_spec("triton") is None:
        return False
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"


KERNELS = ["reference", "chunked"]
# the Triton kernel runs here only through its interpreter (seconds per call): a few short words in its own tests
HAS_TRITON = _triton_runs_here()
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="the Triton backend cannot run here")
LENGTH = {"reference": 150, "chunked": 300, "triton": 16}


def model(dfa: DFA, layers: list[dict], tensors: dict) -> SimpleNamespace:
    """A stand-in for constructions' CompiledModel: ``meta`` (complete, so that it validates), ``tensors`` (numpy,
    float64) and ``dfa()``. The layer sizes ``n``, ``symbols``, ``factors``, ``codes`` are read off the tensors."""
    t = {k: np.asarray(v, dtype=np.int64 if k.endswith((".next", ".conv")) else np.float64)
         for k, v in tensors.items()}
    for l, info in enumerate(layers):
        codes, nxt = t[f"layers.{l}.codes"], t[f"layers.{l}.next"]
        keys = t.get(f"layers.{l}.keys")
        info.update(n=int(codes.shape[1]), symbols=int(nxt.shape[1]), codes=int(codes.shape[0]),
                    factors=int(keys.shape[1]) if keys is not None else 0)
        if f"layers.{l}.conv" in t:
            info["conv"] = 2
    meta = {"format_version": 1, "construction": "hand", "alphabet": list(dfa.alphabet), "dfa": dfa.to_json(),
            "dfa_sha256": dfa.sha256(), "layers": layers}
    return SimpleNamespace(meta=meta, tensors=t, dfa=lambda: dfa)


def parity_dfa() -> DFA:
    return DFA(["0", "1"], ["even", "odd"], 0, [True, False], [[0, 1], [1, 0]])


def parity_model() -> SimpleNamespace:
    # symbol 0: identity (beta 0); symbol 1: key 1, beta 2 -> h <- -h (exact in every dtype)
    return model(parity_dfa(), [{"kind": "householder"}], {
        "layers.0.keys": [[[0.0]], [[1.0]]], "layers.0.betas": [[0.0], [2.0]], "layers.0.values": [[0.0], [0.0]],
        "layers.0.h0": [1.0], "layers.0.codes": [[1.0], [-1.0]], "layers.0.next": [[0, 0], [1, 1]],
    })


def flipflop_model() -> SimpleNamespace:
    # symbols: w0, w1 (write; projection + value: h <- v), r (read: identity); state = last write (start 0)
    dfa = DFA(["w0", "w1", "r"], ["0", "1"], 0, [False, True], [[0, 1, 0], [0, 1, 1]])
    return model(dfa, [{"kind": "householder"}], {
        "layers.0.keys": [[[1.0]], [[1.0]], [[0.0]]], "layers.0.betas": [[1.0], [1.0], [0.0]],
        "layers.0.values": [[0.0], [1.0], [0.0]], "layers.0.h0": [0.0], "layers.0.codes": [[0.0], [1.0]],
        "layers.0.next": [[0, 0, 0], [1, 1, 1]],
    })


def rotation_model(m: int = 3) -> SimpleNamespace:
    """Count 1s mod m with a 2x2 rotation by 2 pi / m written as two unit-key reflections (beta 2)."""
    phi = 0.3
    k1 = [math.cos(phi), math.sin(phi)]
    k2 = [math.cos(phi + math.pi / m), math.sin(phi + math.pi / m)]
    G = [np.eye(2) - 2 * np.outer(k, k) for k in (k1, k2)]
    R = G[1] @ G[0]
    codes = [np.linalg.matrix_power(R, j) @ np.array([1.0, 0.0]) for j in range(m)]
    delta = [[q, (q + 1) % m] for q in range(m)]
    dfa = DFA(["0", "1"], [str(q) for q in range(m)], 0, [q == 0 for q in range(m)], delta)
    return model(dfa, [{"kind": "householder"}], {
        "layers.0.keys": [[[0.0, 0.0], [0.0, 0.0]], [k1, k2]], "layers.0.betas": [[0.0, 0.0], [2.0, 2.0]],
        "layers.0.values": [[0.0, 0.0], [0.0, 0.0]], "layers.0.h0": [1.0, 0.0], "layers.0.codes": codes,
        "layers.0.next": [[q, q] for q in range(m)],
    })


def coupled_dfa() -> DFA:
    """State (p, q), id 2p + q: p = parity of 1s, q = parity of the number of prefixes with p = 1 (after update)."""
    delta = np.zeros((4, 2), dtype=np.int64)
    for p in (0, 1):
        for q in (0, 1):
            for s in (0, 1):
                p2 = p ^ s
                delta[2 * p + q, s] = 2 * p2 + (q ^ p2)
    return DFA(["0", "1"], ["p0q0", "p0q1", "p1q0", "p1q1"], 0, [True, False, False, True], delta)


def coupled_tensors(kind0: str, kind1: str) -> dict:
    """Two layers: layer 0 tracks p (its updated code is layer 1's symbol), layer 1 flips on symbol 1."""
    flip = {
        "householder": lambda l: {f"layers.{l}.keys": [[[0.0]], [[1.0]]], f"layers.{l}.betas": [[0.0], [2.0]],
                                  f"layers.{l}.values": [[0.0], [0.0]]},
        "diagonal": lambda l: {f"layers.{l}.diag": [[1.0], [-1.0]], f"layers.{l}.bias": [[0.0], [0.0]]},
        "dense": lambda l: {f"layers.{l}.matrices": [[[1.0]], [[-1.0]]], f"layers.{l}.bias": [[0.0], [0.0]]},
    }
    t = {**flip[kind0](0), **flip[kind1](1)}
    for l in (0, 1):
        t[f"layers.{l}.h0"] = [1.0]
        t[f"layers.{l}.codes"] = [[1.0], [-1.0]]
    t["layers.0.next"] = [[0, 0], [1, 1]]  # symbol for layer 1 = p after the update
    t["layers.1.next"] = [[0, 2], [1, 3]]  # [c1 = q, s1 = p] -> 2p + q
    return t


def coupled_model(kind0: str = "householder", kind1: str = "householder") -> SimpleNamespace:
    return model(coupled_dfa(), [{"kind": kind0}, {"kind": kind1}], coupled_tensors(kind0, kind1))


def words(n_symbols: int, B: int, T: int, seed: int = 0) -> torch.Tensor:
    """Random words plus adversarial ones: a run of the last symbol, and a run of symbol 0."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, n_symbols, (B, T), generator=g)
    ids[0] = n_symbols - 1
    ids[1] = 0
    return ids


def expected(dfa: DFA, ids: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(dfa.run_batch(ids.numpy()))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("build", [parity_model, flipflop_model, coupled_model], ids=["parity", "flipflop", "coupled"])
def test_exact_models_match_dfa_in_every_dtype(build, kernel, dtype):
    _check_exact_model(build(), kernel, dtype, B=4)


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_exact_model_on_triton(dtype):
    _check_exact_model(coupled_model(), "triton", dtype, B=2)


def _check_exact_model(cm, kernel: str, dtype: torch.dtype, B: int) -> None:
    net = CompiledLRNN(cm, kernel=kernel, dtype=dtype)
    ids = words(len(cm.meta["alphabet"]), B, LENGTH[kernel])
    states, drift = net.run_states(ids)
    assert states.dtype == torch.long and states.shape == ids.shape
    assert torch.equal(states, expected(cm.dfa(), ids))
    assert drift == 0.0  # integer weights: exact
    accept = net(ids)
    assert accept.dtype == torch.bool
    assert torch.equal(accept, torch.from_numpy(np.array(cm.dfa().accepting))[states])


@pytest.mark.parametrize("kinds", [("diagonal", "dense"), ("dense", "diagonal"), ("householder", "diagonal")])
def test_diagonal_and_dense_layers(kinds):
    cm = coupled_model(*kinds)
    ids = words(2, 3, 130, seed=1)
    for dtype in (torch.float32, torch.bfloat16):
        states, drift = CompiledLRNN(cm, dtype=dtype).run_states(ids)
        assert torch.equal(states, expected(cm.dfa(), ids)) and drift == 0.0


def test_naive_coupling_on_previous_codes_would_differ():
    """Guard the post-transition convention: reading layer 0's code *before* the update gives other states."""
    cm = coupled_model()
    ids = words(2, 4, 60, seed=2)
    layer0 = CompiledLRNN(cm).layer_states(ids)[0][..., 0]  # h after each update: +1 even, -1 odd
    post = (layer0 < 0).long()
    pre = torch.cat([torch.zeros_like(post[:, :1]), post[:, :-1]], 1)
    assert torch.equal(post, torch.as_tensor(np.cumsum(ids.numpy(), 1) % 2))
    assert not torch.equal(pre, post)


@pytest.mark.parametrize("kernel", KERNELS + [pytest.param("triton", marks=needs_triton)])
def test_rotation_nearest_code_and_drift(kernel):
    cm = rotation_model(3)
    ids = words(2, 2, LENGTH[kernel], seed=3)
    states, drift = CompiledLRNN(cm, kernel=kernel, dtype=torch.float32).run_states(ids)
    assert torch.equal(states, expected(cm.dfa(), ids))
    assert 0.0 < drift < 1e-4  # irrational entries drift, far below the decoding margin (sqrt 3)
    s64, d64 = CompiledLRNN(cm, kernel=kernel if kernel != "triton" else "reference", dtype="float64").run_states(ids)
    assert torch.equal(s64, states) and d64 < 1e-12


def test_segmenting_does_not_change_the_run():
    cm = rotation_model(5)
    ids = words(2, 2, 333, seed=4)
    whole = CompiledLRNN(cm, dtype=torch.float32, segment_len=1 << 20).run_states(ids)
    pieces = CompiledLRNN(cm, dtype=torch.float32, segment_len=64).run_states(ids)
    assert torch.equal(whole[0], pieces[0]) and whole[1] == pieces[1]
    h_whole = CompiledLRNN(cm, segment_len=1 << 20).layer_states(ids)[0]
    h_pieces = CompiledLRNN(cm, segment_len=64).layer_states(ids)[0]
    assert torch.equal(h_whole, h_pieces)


def test_layer_states_are_the_recurrence():
    """Every coordinate read back through the one-hot queries equals a float64 loop of the factors."""
    cm = rotation_model(3)
    ids = words(2, 2, 40, seed=5)
    h = CompiledLRNN(cm, dtype="float64").layer_states(ids)[0]
    keys, betas = cm.tensors["layers.0.keys"], cm.tensors["layers.0.betas"]
    for b in range(ids.shape[0]):
        x = cm.tensors["layers.0.h0"].copy()
        for t, s in enumerate(ids[b].tolist()):
            for k, beta in zip(keys[s], betas[s]):
                x = x - beta * k * (k @ x)
            np.testing.assert_allclose(h[b, t].numpy(), x, atol=1e-13)


def test_empty_words_and_errors():
    net = CompiledLRNN(parity_model())
    states, drift = net.run_states(torch.zeros(2, 0, dtype=torch.long))
    assert states.shape == (2, 0) and drift == 0.0
    with pytest.raises(AlphabetError, match="position 3"):
        net.run_states(torch.tensor([[0, 1, 1, 2]]))
    with pytest.raises(StatetrackError, match=r"\[B, T\]"):
        net.run_states(torch.tensor([0, 1]))
    with pytest.raises(StatetrackError, match="integer"):
        net.run_states(torch.zeros(1, 3))
    with pytest.raises(StatetrackError, match="kernel"):
        CompiledLRNN(parity_model(), kernel="cuda")
    with pytest.raises(StatetrackError, match="dtype"):
        CompiledLRNN(parity_model(), dtype="int8")
    bad = parity_model()
    bad.tensors["layers.0.codes"] = np.zeros((2, 3))
    with pytest.raises(ModelFormatError, match="layers.0.codes"):
        CompiledLRNN(bad)
    bad = coupled_model()
    bad.tensors["layers.0.next"] = np.array([[0, 0], [5, 5]])
    with pytest.raises(ModelFormatError, match=r"layers\.0\.next\[1, 0\] = 5"):
        CompiledLRNN(bad)
    bad = parity_model()
    bad.meta["layers"][0]["kind"] = "lstm"
    with pytest.raises(ModelFormatError, match="lstm"):
        CompiledLRNN(bad)


# ------------------------------------------------------------------------------- compiled by the constructions


def _s3_dfa() -> DFA:
    """Word problem of S3 (regular action): letters a = (0 1), b = (0 1 2); accept the identity."""
    import itertools

    perms = list(itertools.permutations(range(3)))
    gens = [(1, 0, 2), (1, 2, 0)]
    index = {p: i for i, p in enumerate(perms)}
    delta = [[index[tuple(g[p[i]] for i in range(3))] for g in gens] for p in perms]
    return DFA(["a", "b"], ["".join(map(str, p)) for p in perms], index[(0, 1, 2)],
               [p == (0, 1, 2) for p in perms], delta)


def _modsum_dfa(m: int) -> DFA:
    return DFA([str(i) for i in range(m)], [str(q) for q in range(m)], 0, [q == 0 for q in range(m)],
               [[(q + a) % m for a in range(m)] for q in range(m)])


EXACT = ("parity", "group")
CASES = [
    ("parity", parity_dfa),
    ("rotation", lambda: rotation_model(3).dfa()),
    ("group", _s3_dfa),
    ("modadd2", lambda: _modsum_dfa(5)),
    ("auto", lambda: _modsum_dfa(3)),
]


@pytest.mark.parametrize("construction,build", CASES, ids=[c for c, _ in CASES])
def test_constructions_run_on_kernels(construction, build, tmp_path):
    from statetrack import constructions

    dfa = build()
    cm, _report = constructions.compile_language(dfa, construction)
    assert tuple(cm.meta["alphabet"]) == dfa.alphabet
    ids = words(len(dfa.alphabet), 4, 200, seed=6)
    want = expected(cm.dfa(), ids)  # state ids follow the model's own DFA (it may renumber states)
    accepted = torch.from_numpy(np.array(dfa.accepting))[expected(dfa, ids)]
    for kernel in KERNELS:
        T = LENGTH[kernel]
        for dtype in (torch.float32, torch.bfloat16):
            net = CompiledLRNN(cm, kernel=kernel, dtype=dtype)
            states, drift = net.run_states(ids[:, :T])
            assert torch.equal(states, want[:, :T]), (construction, kernel, dtype)
            assert torch.equal(net(ids[:, :T]), accepted[:, :T])
            if construction in EXACT:  # integer keys e_i - e_j, beta 1: exact in every dtype and kernel
                assert drift == 0.0, (construction, kernel, dtype)
            elif dtype == torch.float32:
                assert drift < 1e-4, (construction, kernel, dtype)  # irrational keys: rounding only, far inside the decoder's margin
    if HAS_TRITON and construction == "group":  # permutations with 2 reflections per letter, via the interpreter
        T = LENGTH["triton"]
        states, drift = CompiledLRNN(cm, kernel="triton").run_states(ids[:2, :T])
        assert torch.equal(states, want[:2, :T]) and drift == 0.0
    from statetrack.constructions import model_format

    path = tmp_path / "m.safetensors"
    model_format.save_model(cm, path)
    states, _ = CompiledLRNN(str(path)).run_states(ids)
    assert torch.equal(states, want)


def test_verify_command_runs_on_the_kernels(tmp_path, capsys):
    """`statetrack verify MODEL --kernel K --dtype D` goes through CompiledLRNN (the precision table's path)."""
    from statetrack import constructions
    from statetrack.cli import main

    cm, _ = constructions.compile_language(_modsum_dfa(5), "modadd2")
    path = tmp_path / "modsum5.safetensors"
    constructions.save_model(cm, path)
    for kernel, dtype in (("chunked", "float32"), ("reference", "bfloat16")):
        rc = main(["verify", str(path), "--kernel", kernel, "--dtype", dtype, "--max-len", "300", "--samples", "4",
                   "--json"])
        out = json.loads(capsys.readouterr().out)
        assert out["numeric"]["kernel"] == kernel and out["numeric"]["dtype"] == dtype
        assert out["numeric"]["tested"] == 4 and out["numeric"]["max_len"] == 300
        assert rc == (0 if out["numeric"]["errors"] == 0 else 1), out
        if dtype == "float32":
            assert rc == 0 and out["numeric"]["max_drift"] < 1e-4
