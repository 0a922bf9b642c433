"""Models on ``1^t`` in the ``paper`` precision model (App. B): layer by layer, each with :mod:`.paper_model`.

A model's layer ``l`` reads a constant input once the layer below has settled to a constant output (layer 1: the
repeated symbol, after the short convolution's warm-up of ``c - 1`` tokens for LRNN blocks). Its transitions are
therefore arbitrary for a prefix of ``T0`` tokens and constant after, which is the case :mod:`.paper_model` decides
exactly. Layer by layer:

1. the transitions of the prefix and the constant one (an LRNN block: ``A``, ``B`` of each input window, computed as in
   :mod:`.families` and put on the dtype grid; a compiled layer: ``A_s``, ``b_s`` of its input symbol ``s``);
2. ``Hhat_t`` for ``t <= T0`` from the definition (:func:`~.paper_model.prefix_states`) and the certified eventual
   behaviour after (:func:`~.paper_model.settle_constant_input`);
3. the layer's outputs for ``t = 1 .. settle + period - 1`` (the block's output rows / the ``next`` symbols); if
   they are constant from some token on, the next layer's prefix ends there; otherwise (a periodic input of period > 1, or a
   settle step beyond ``max_prefix`` so that the next prefix is too long to multiply out exactly) the run is
   *undecided* from that layer on, with the reason.

When every layer is decided, the full state (every layer's ``Hhat_t`` and the convolution windows, which are constant
once the inputs are) is periodic from ``settle_step`` (a certified bound, the max over layers) with least period
``period`` (the lcm of the layers' least periods), and two lengths of different residue in the eventual regime reach
the same full state: the decoder-free witness in the theorem's own arithmetic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from statetrack.errors import StatetrackError

from .families import BlockStage, Interner
from .paper_model import LayerSettling, paper_layer, prefix_states
from .parity import is_compiled, symbol_id
from .precision import Stepper, grid_format

#: the longest prefix multiplied out exactly for a layer above another
DEFAULT_MAX_PREFIX = 256


@dataclass
class PaperRun:
    """The paper-model run of one model on ``1^t``: ``decided``, and if so the full state's certified ``settle_step``
    bound and least ``period``; ``layers``: each layer's :class:`LayerSettling` JSON; ``reason`` when undecided."""

    decided: bool
    settle_step: int | None
    period: int | None
    layers: list = field(default_factory=list)
    reason: str | None = None
    precision: str = "paper"

    def to_json(self) -> dict:
        return {"precision": self.precision, "decided": self.decided, "settle_step": self.settle_step,
                "period": self.period, "layers": self.layers, "reason": self.reason}


def _block_diag(A: np.ndarray) -> np.ndarray:
    """``[H, K, K]`` -> the block-diagonal ``[H K, H K]``."""
    H, K, _ = A.shape
    out = np.zeros((H * K, H * K))
    for h in range(H):
        out[h * K:(h + 1) * K, h * K:(h + 1) * K] = A[h]
    return out


class _LRNNLayers:
    """LRNN blocks: windows of interned input rows -> transitions, and (state, window) -> output row ids."""

    def __init__(self, model: Any, dtype: str, symbol: int):
        import copy

        import torch

        self.fmt = grid_format(dtype)
        stepper = Stepper(self.fmt.name, "per-step")  # only its weight grid (nearest, ties to the smaller value)
        m = copy.deepcopy(model).to(getattr(torch, self.fmt.name)).float().eval()
        rows = Interner()
        with torch.no_grad():
            rows.add(b"embedding", m.embedding.weight[symbol].detach().clone())
        self.first_rows = rows
        self.model, self.stepper = m, stepper
        self.n = len(m.blocks)

    def stage(self, l: int, rows: Interner) -> BlockStage:
        return BlockStage(self.model.blocks[l], rows, self.stepper)


def _eventually_constant(seq: list) -> int | None:
    """The least index ``i`` with ``seq[i:]`` constant (``seq`` non-empty)."""
    i = len(seq) - 1
    while i > 0 and seq[i - 1] == seq[-1]:
        i -= 1
    return i


def paper_settle(model: Any, dtype: str = "float32", symbol: "str | int | None" = None, *, max_steps: int = 4096,
                 max_prefix: int = DEFAULT_MAX_PREFIX) -> PaperRun:
    """The paper-model run on ``1^t`` of a compiled model or an ``LRNNModel`` (see the module docstring)."""
    fmt = grid_format(dtype)
    sym = symbol_id(model, symbol)
    if is_compiled(model):
        if any("conv" in info for info in model.meta["layers"]):
            return PaperRun(False, None, None, reason="layers with convolution tables are not covered by the paper "
                                                      "model runner")
        return _compiled(model, fmt, sym, max_steps, max_prefix)
    return _lrnn(model, fmt, sym, max_steps, max_prefix)


def _unknown_reason(l: int, res: LayerSettling) -> str:
    return (f"layer {l + 1}: {res.unknown_entries} state entries are certified constant from {res.settle_step} on, "
            "but their values (sums of about that many casts) are not computed, so the next layer's input is not known")


def _early_states(l: int, res: LayerSettling, first: int, last: int) -> "list[np.ndarray] | str":
    """``Hhat_t`` for ``t = first .. last`` of layer ``l``, or the reason why one of them is not available (a
    certificate that ends far ahead leaves states between the kept history and the settle bound uncomputed)."""
    try:
        return [res.state(t) for t in range(first, last + 1)]
    except ValueError as err:
        return (f"layer {l + 1}: the states up to {last} are needed for the next layer's input, but not all are "
                f"computed ({err})")


def _finish(layers: list[LayerSettling]) -> PaperRun:
    t = max(s.settle_step for s in layers)
    p = 1
    for s in layers:
        p = math.lcm(p, s.period)
    return PaperRun(True, t, p, [s.to_json() for s in layers])


def _compiled(model: Any, fmt, sym: int, max_steps: int, max_prefix: int) -> PaperRun:
    from statetrack.constructions.model_format import layer_matrices

    stepper = Stepper(fmt.name, "per-step")
    inputs = [sym]  # the layer's input symbol at t = 1 .. len(inputs); constant after
    done: list[LayerSettling] = []
    for l in range(model.num_layers):
        A, b = layer_matrices(model, l)
        A, b = stepper.grid(A), stepper.grid(b)[..., None]
        t = model.layer(l)
        h0 = stepper.grid(np.asarray(t["h0"], dtype=np.float64))[:, None]
        codes = np.asarray(t["codes"], dtype=np.float64)
        T0 = len(inputs) - 1
        res = paper_layer([A[s] for s in inputs[:T0]], [b[s] for s in inputs[:T0]], h0, A[inputs[-1]],
                          b[inputs[-1]], fmt, max_steps)
        if not res.decided:
            return PaperRun(False, None, None, [s.to_json() for s in done] + [res.to_json()],
                            f"layer {l + 1}: {res.reason}")
        done.append(res)
        if l == model.num_layers - 1:
            break
        horizon = res.settle_step + res.period - 1
        if res.unknown_entries:
            return PaperRun(False, None, None, [s.to_json() for s in done], _unknown_reason(l, res))
        if horizon > max_prefix + T0 + 1:
            return PaperRun(False, None, None, [s.to_json() for s in done],
                            f"layer {l + 1} settles only by length {res.settle_step}; the next layer's prefix would "
                            f"exceed max_prefix = {max_prefix}")
        later = _early_states(l, res, T0 + 1, horizon)
        if isinstance(later, str):
            return PaperRun(False, None, None, [s.to_json() for s in done], later)
        states = prefix_states([A[s] for s in inputs[:T0]], [b[s] for s in inputs[:T0]], h0, fmt) + later

        def code(h: np.ndarray, codes: np.ndarray = codes) -> int:
            h = h[:, 0]
            return int(np.argmin(((codes - h) ** 2).sum(1))) if np.isfinite(h).all() else 0

        nxt = np.asarray(t["next"], dtype=np.int64)
        outs = [int(nxt[code(h), inputs[min(i, T0)]]) for i, h in enumerate(states)]
        start = _eventually_constant(outs)
        if len(set(outs[res.settle_step - 1:])) > 1:
            return PaperRun(False, None, None, [s.to_json() for s in done],
                            f"layer {l + 1}'s output is periodic with period > 1: the next layer's input is not "
                            "eventually constant (not covered)")
        inputs = outs[:start + 1]
    return _finish(done)


def _lrnn(model: Any, fmt, sym: int, max_steps: int, max_prefix: int) -> PaperRun:
    net = _LRNNLayers(model, fmt.name, sym)
    rows = net.first_rows
    ids = [0]  # the layer's input row ids at t = 1 .. len(ids); constant after
    done: list[LayerSettling] = []
    for l in range(net.n):
        stage = net.stage(l, rows)
        c = stage.c
        T = len(ids) + c - 1  # from here on every window is the same
        seq = np.array(ids + [ids[-1]] * (c - 1), dtype=np.int64)
        wids, _ = stage._window_ids(seq)
        T0 = _eventually_constant(wids.tolist())
        A_of = [_block_diag(stage.windows.items[int(w)]["A"]) for w in wids[:T0 + 1]]
        B_of = [stage.windows.items[int(w)]["B"].reshape(-1, stage.windows.items[int(w)]["B"].shape[-1])
                for w in wids[:T0 + 1]]
        S0 = stage.states.items[0]
        h0 = S0.reshape(-1, S0.shape[-1])
        res = paper_layer(A_of[:T0], B_of[:T0], h0, A_of[T0], B_of[T0], fmt, max_steps)
        if not res.decided:
            return PaperRun(False, None, None, [s.to_json() for s in done] + [res.to_json()],
                            f"layer {l + 1}: {res.reason}")
        done.append(res)
        if l == net.n - 1:
            break
        horizon = max(res.settle_step + res.period - 1, T)
        if res.unknown_entries:
            return PaperRun(False, None, None, [s.to_json() for s in done], _unknown_reason(l, res))
        if horizon > max_prefix + T0 + c:
            return PaperRun(False, None, None, [s.to_json() for s in done],
                            f"layer {l + 1} settles only by length {res.settle_step}; the next layer's prefix would "
                            f"exceed max_prefix = {max_prefix}")
        later = _early_states(l, res, T0 + 1, horizon)
        if isinstance(later, str):
            return PaperRun(False, None, None, [s.to_json() for s in done], later)
        states = prefix_states(A_of[:T0], B_of[:T0], h0, fmt) + later
        wseq = np.concatenate([wids, np.full(max(0, horizon - wids.size), wids[-1])])[:horizon]
        pairs = []
        for h, w in zip(states, wseq.tolist()):
            H = h.reshape(S0.shape)
            pairs.append((stage.states.add(H.tobytes(), H), int(w)))
        outs = stage._outputs(pairs)
        if len(set(outs[res.settle_step - 1:])) > 1:
            return PaperRun(False, None, None, [s.to_json() for s in done],
                            f"layer {l + 1}'s output is periodic with period > 1: the next layer's input is not "
                            "eventually constant (not covered)")
        rows = stage.rows_out
        ids = outs[:_eventually_constant(outs) + 1]
    return _finish(done)


# ------------------------------------------------------------------------------------------------ witnesses
def paper_witness(run: PaperRun, claim: str, m: int = 3) -> dict | None:
    """The decoder-free witness of a decided run: parity -- ``(t*, t* + p)`` when the full period ``p`` is odd;
    modcount -- ``(a, a + p)`` with ``a >= t*``, ``a = 0 (mod m)`` when ``m`` does not divide ``p``; else None."""
    if not run.decided:
        return None
    t, p = run.settle_step, run.period
    if claim == "parity":
        if p % 2 == 0:
            return None
        a = t
    else:
        if p % m == 0:
            return None
        a = t + (-t) % m
    out = {"kind": "state", "precision": "paper", "lengths": [a, a + p], "words": [f"1^{a}", f"1^{a + p}"]}
    if claim == "modcount":
        out["residues"] = [a % m, (a + p) % m]
    return out


def check_paper(model: Any, claim: str, dtype: str = "float32", m: int = 3, symbol: "str | int | None" = None,
                max_steps: int = 4096, max_prefix: int = DEFAULT_MAX_PREFIX) -> dict:
    """One model in the paper model: ``{precision, decided, settle_step, period, witness, layers, reason}``."""
    if claim not in ("parity", "modcount"):
        raise StatetrackError(f"claim: unknown claim {claim!r}; choose one of parity, modcount")
    run = paper_settle(model, dtype, symbol, max_steps=max_steps, max_prefix=max_prefix)
    return {**run.to_json(), "witness": paper_witness(run, claim, m)}


__all__ = ["PaperRun", "paper_settle", "paper_witness", "check_paper", "DEFAULT_MAX_PREFIX"]
