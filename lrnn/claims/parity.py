"""Theorem 1 as an executable check: the run on ``1^t``, its settle step and period, and the parity witness.

A model (a random family member, an ``LRNNModel`` or a compiled model) is run on ``1^t`` in one dtype and one
precision model (:mod:`.precision`). Its *state* after ``t`` symbols is everything its future depends on: every
layer's recurrent state and, for LRNN blocks, the last ``c - 1`` inputs of each short convolution. The simulated step
is a deterministic function of that state on a finite set (see :mod:`.families`), so the run is eventually periodic:
there are a least ``t*`` (the **settle step**, a length >= 1) and a least ``p`` (the **period**) with
``state(t* + p) = state(t*)``, and then ``state(t + p) = state(t)`` for every ``t >= t*``. Both are found exactly by
interning the state's bits and looking for the first repeat (the run length doubles from 256 up to ``max_steps``).

**Parity witness (decoder-free).** Equal states give equal outputs, whatever the decoder. If ``p`` is odd, the words
``1^{t*}`` and ``1^{t*+p}`` (``1^{t*+1}`` when the state is eventually constant, the case Theorem 1 predicts for
non-negative real eigenvalues) reach the same full state although their parities differ: no decoder on these states
recognises parity. If ``p`` is even, states of equal value have lengths of equal parity and no witness exists. Two
lengths of different parity whose *decoded labels* agree are reported apart as an ``output_coincidence``: it says that
this model's decoder merges states that parity separates, and never confirms the theorem. Where the theorem predicts
a witness and a step model ends in an even cycle, the check reports a ``finding`` (:func:`forbidden_cycle`).

Theorem 1 predicts a witness for every member of a ``[0, 1]`` family (all transition eigenvalues are non-negative
reals), in every dtype; for ``[-1, 1]`` families it predicts nothing.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from statetrack.errors import StatetrackError

from .families import BlockStage, CompiledStage, Interner
from .precision import STEP_MODELS, Stepper, check_precision_model, grid_format

DEFAULT_MAX_STEPS = 1 << 16
CONSTRUCTION_STEPS = 10 ** 6


# ------------------------------------------------------------------------------------------------ loading
def load_any_model(path: "str | os.PathLike"):
    """A compiled model (``"statetrack"`` header) or an ``LRNNModel`` (``"statetrack_lrnn"`` header) from a file, or a
    flash-linear-attention checkpoint folder (:mod:`statetrack.lrnn.fla_checkpoint`; its symbols are token ids)."""
    from safetensors import SafetensorError, safe_open

    from statetrack.lrnn.fla_checkpoint import is_fla_checkpoint, load_fla_checkpoint

    path = os.fspath(path)
    if is_fla_checkpoint(path):
        return load_fla_checkpoint(path)
    try:
        with safe_open(path, framework="np") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise StatetrackError(f"{path}: not a readable safetensors file ({exc})") from None
    if "statetrack" in header:
        from statetrack.constructions.model_format import load_model

        return load_model(path)
    if "statetrack_lrnn" in header:
        from statetrack.lrnn import load_model

        return load_model(path).eval()
    raise StatetrackError(f"{path}: neither a compiled model nor an LRNN model (no statetrack header)")


def is_compiled(model: Any) -> bool:
    return hasattr(model, "meta") and hasattr(model, "tensors")


def symbol_id(model: Any, symbol: "str | int | None") -> int:
    """The id of the repeated symbol: a compiled model's alphabet names it (default ``"1"``); an ``LRNNModel`` takes
    the id in its ``config.extra["alphabet"]`` if present, else an integer (default 1)."""
    if is_compiled(model):
        alphabet = [str(a) for a in model.meta["alphabet"]]
        name = "1" if symbol is None else str(symbol)
        if name not in alphabet:
            raise StatetrackError(f"symbol {name!r} is not in the model's alphabet {alphabet}")
        return alphabet.index(name)
    vocab = model.config.vocab_size
    alphabet = model.config.extra.get("alphabet") if isinstance(model.config.extra, dict) else None
    if symbol is None:
        symbol = "1"
    if alphabet and str(symbol) in [str(a) for a in alphabet]:
        return [str(a) for a in alphabet].index(str(symbol))
    try:
        i = int(symbol)
    except ValueError:
        raise StatetrackError(f"symbol {symbol!r}: the LRNN model has no alphabet; give a token id") from None
    if not 0 <= i < vocab:
        raise StatetrackError(f"symbol id {i} outside the model's vocabulary [0, {vocab})")
    return i


# ------------------------------------------------------------------------------------------------ the run
@contextlib.contextmanager
def single_thread():
    """Run torch on one thread inside the block: the tensors here are tiny, and on a busy CPU extra threads cost
    far more than they give (a depthwise convolution went from 0.5 ms to 70 ms with two threads on two loaded cores)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class OnesRunner:
    """Runs one model on ``1^T`` in a dtype and precision model; keeps its memo tables between calls."""

    def __init__(self, model: Any, dtype: str = "float32", precision: str = "per-step",
                 symbol: "str | int | None" = None):
        self.fmt = grid_format(dtype)
        self.precision = check_precision_model(precision)
        if self.precision not in STEP_MODELS:
            raise StatetrackError("precision: the run on 1^t steps the state; the paper model (App. B) is not a step "
                                  "model -- use statetrack.lrnn.claims.paper_model for it")
        self.stepper = Stepper(self.fmt.name, self.precision)
        self.compiled = is_compiled(model)
        self.symbol = symbol_id(model, symbol)
        if self.compiled:
            self.model = model
            self.stages = [CompiledStage(model, l, self.stepper) for l in range(model.num_layers)]
            self.dfa = model.dfa()
        else:
            import copy

            import torch

            # weights on the dtype grid, arithmetic outside the recurrence in float32 rounded to the dtype
            m = copy.deepcopy(model).to(getattr(torch, self.fmt.name)).float().eval()
            self.model = m
            rows = Interner()
            with torch.no_grad():
                row = m.embedding.weight[self.symbol].detach().clone()  # already a dtype value
            rows.add(b"embedding", row)
            self.stages = []
            for block in m.blocks:
                stage = BlockStage(block, rows, self.stepper)
                self.stages.append(stage)
                rows = stage.rows_out
            self._logits: dict[int, np.ndarray] = {}

    @property
    def num_layers(self) -> int:
        return len(self.stages)

    def run(self, T: int, progress: bool = False) -> "Trace":
        """Per-token combined state ids ``[T]`` (length ``t`` at index ``t - 1``) and output ids ``[T]``."""
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=T * self.num_layers, desc=f"1^{T} {self.fmt.name}/{self.precision}", unit="tok",
                       leave=False)
        ids = np.full(T, 0 if not self.compiled else self.symbol, dtype=np.int64)
        cols = []
        runs = []
        with single_thread():
            for stage in self.stages:
                r = stage.run(ids, bar)
                runs.append(r)
                cols += [r.state_ids, r.memory]
                ids = r.out_ids
        if bar is not None:
            bar.close()
        keys = np.stack(cols, 1) if T else np.zeros((0, 2 * self.num_layers), dtype=np.int64)
        _, combined = np.unique(keys, axis=0, return_inverse=True)
        return Trace(combined.reshape(-1), ids, runs)

    # -------------------------------------------------------------------------------------------- outputs
    def output(self, out_id: int) -> Any:
        """A model output in JSON form: the DFA state name (compiled) or the logits (LRNN)."""
        if self.compiled:
            return self.dfa.states[int(out_id)]
        return [float(x) for x in self.logits(out_id)]

    def logits(self, out_id: int) -> np.ndarray:
        import torch

        out_id = int(out_id)
        if out_id not in self._logits:
            row = self.stages[-1].rows_out.items[out_id]
            with torch.no_grad():
                z = self.model.head(self.model.norm(row[None]))[0].to(getattr(torch, self.fmt.name))
            self._logits[out_id] = z.to(torch.float64).numpy()
        return self._logits[out_id]

    def label(self, out_id: int) -> Any:
        """The decision: accept flag (compiled) or argmax class (LRNN)."""
        if self.compiled:
            return bool(self.dfa.accepting[int(out_id)])
        return int(np.argmax(self.logits(out_id)))


@dataclass
class Trace:
    """``keys [T]``: combined state ids per length ``1..T``; ``outputs [T]``: output ids; ``runs``: per stage."""

    keys: np.ndarray
    outputs: np.ndarray
    runs: list = field(default_factory=list)


def first_repeat(keys: np.ndarray) -> tuple[int, int] | None:
    """``(i, j)``, ``i < j``, the first index ``j`` whose key occurred before, at ``i``; None without a repeat."""
    if keys.size == 0:
        return None
    _, first_idx, inv = np.unique(keys, return_index=True, return_inverse=True)
    first = first_idx[inv.reshape(-1)]
    rep = np.flatnonzero(first < np.arange(keys.size))
    if rep.size == 0:
        return None
    j = int(rep[0])
    return int(first[j]), j


@dataclass
class Settling:
    """The run on ``1^t``: ``settle_step`` t* (a length, or None when no repeat within ``steps``), ``period`` p,
    ``steps`` simulated, the trace of the last run."""

    settle_step: int | None
    period: int | None
    steps: int
    trace: Trace
    runner: OnesRunner

    @property
    def settled(self) -> bool:
        return self.settle_step is not None

    def cycle_transitions(self, positions: int = 8) -> list[list[np.ndarray]]:
        """Per layer, the transitions ``A`` applied at the first ``positions`` lengths of the final cycle."""
        if not self.settled:
            return []
        out = []
        for stage, run in zip(self.runner.stages, self.trace.runs):
            ts = range(self.settle_step - 1, min(self.settle_step - 1 + min(self.period, positions), run.steps.size))
            out.append([stage.transition(run.steps[t]) for t in ts])
        return out

    def output_at(self, length: int) -> int:
        """Output id after ``length`` symbols (any length, by periodicity beyond the simulated run)."""
        t = int(length)
        if t > self.steps:
            if not self.settled:
                raise StatetrackError(f"length {t} beyond the unsettled run of {self.steps} steps")
            t = self.settle_step + (t - self.settle_step) % self.period
        return int(self.trace.outputs[t - 1])


def settle(runner: OnesRunner, max_steps: int = DEFAULT_MAX_STEPS, start: int = 256,
           progress: bool = False) -> Settling:
    """Run ``1^T`` for ``T = start, 2 start, ...`` up to ``max_steps`` until the state repeats (see module doc)."""
    T = max(4, min(int(start), int(max_steps)))
    while True:
        trace = runner.run(T, progress)
        rep = first_repeat(trace.keys)
        if rep is not None:
            i, j = rep
            return Settling(i + 1, j - i, T, trace, runner)
        if T >= max_steps:
            return Settling(None, None, T, trace, runner)
        T = min(2 * T, int(max_steps))


# ------------------------------------------------------------------------------------------------ Theorem 1
def _pair_json(s: Settling, a: int, b: int, kind: str) -> dict:
    return {"kind": kind, "lengths": [a, b], "words": [f"1^{a}", f"1^{b}"],
            "outputs": [s.runner.output(s.output_at(a)), s.runner.output(s.output_at(b))],
            "labels": [s.runner.label(s.output_at(a)), s.runner.label(s.output_at(b))]}


def parity_witness(s: Settling) -> dict | None:
    """The decoder-free witness as JSON (``kind`` "state", ``lengths``, ``words``, ``outputs``, ``labels``): two
    lengths of different parity that reach the same full state (every layer, every convolution window). Exists iff the
    run settled with an odd period; None otherwise."""
    if not s.settled or s.period % 2 == 0:
        return None
    return _pair_json(s, s.settle_step, s.settle_step + s.period, "state")


def parity_output_coincidence(s: Settling) -> dict | None:
    """Two lengths of different parity inside the final cycle whose *decoded labels* agree (``kind`` "output"), when
    the state period is even; None otherwise. This says only that this model's decoder merges states that parity
    separates: another decoder on the same states could separate them, so it never confirms Theorem 1."""
    if not s.settled or s.period % 2 == 1:
        return None
    t, p = s.settle_step, s.period
    seen: dict[Any, int] = {}
    for i in range(min(p, 1 << 16)):
        key = (s.runner.label(s.output_at(t + i)), (t + i) % 2)
        other = (key[0], 1 - key[1])
        if other in seen:
            return _pair_json(s, seen[other], t + i, "output")
        seen.setdefault(key, t + i)
    return None


def forbidden_cycle(s: Settling, predicted: bool, precision: str) -> dict | None:
    """A *finding*: the theorem predicts a state witness (``predicted``) but the run settled in a cycle of even
    period, whose states never coincide at lengths of different parity. In a step model (``per-step``, ``float``) this
    is not a counterexample to Theorem 1: the theorem's hypothesis is the ``paper`` arithmetic (App. B), and the
    finding shows that the step arithmetic is not that model. Returns ``{precision, settle_step, period,
    eigenvalues, note}`` (``eigenvalues``: per layer, those of the transitions applied in the cycle), or None."""
    if not predicted or not s.settled or s.period % 2 == 1:
        return None
    eig = []
    for mats in s.cycle_transitions(8):
        ev = np.concatenate([np.linalg.eigvals(A).reshape(-1) for A in mats]) if mats else np.zeros(0, dtype=complex)
        ev = np.unique(np.round(ev, 6))
        eig.append([[float(z.real), float(z.imag)] for z in ev[:16]])
    return {"precision": precision, "settle_step": s.settle_step, "period": s.period, "eigenvalues": eig,
            "note": f"the {precision} arithmetic ends in a cycle of even period {s.period} that Theorem 1's conclusion "
                    "forbids for the paper model (App. B); the theorem's hypothesis is not this arithmetic"}


@dataclass
class ParityCheck:
    """One model's Theorem-1 check in one precision model: the run's settle step and period, the decoder-free
    ``witness`` (or None), an ``output_coincidence`` (never a witness) and a ``finding`` (see
    :func:`forbidden_cycle`)."""

    precision: str
    settle_step: int | None
    period: int | None
    steps: int
    witness: dict | None
    output_coincidence: dict | None = None
    finding: dict | None = None

    def to_json(self) -> dict:
        return {"precision": self.precision, "settle_step": self.settle_step, "period": self.period,
                "steps": self.steps, "witness": self.witness, "output_coincidence": self.output_coincidence,
                "finding": self.finding}


def check_parity(model: Any, dtype: str = "float32", precision: str = "per-step", *,
                 symbol: "str | int | None" = None, max_steps: int | None = None, predicted: bool = False,
                 progress: bool = False, engine: str = "auto") -> ParityCheck:
    """Theorem 1 on one model in a step model (``per-step`` or ``float``): settle step, period and the decoder-free
    witness (None when the state period is even or the run did not settle within ``max_steps``); with
    ``predicted=True`` (the theorem covers this model) an even final cycle is reported as a ``finding``. ``engine``:
    see :func:`statetrack.lrnn.claims.fast_settle.run_settling` (the same answer either way)."""
    from .fast_settle import run_settling

    s = run_settling(model, dtype, precision, symbol, max_steps, engine, progress)
    return ParityCheck(precision, s.settle_step, s.period, s.steps, parity_witness(s), parity_output_coincidence(s),
                       forbidden_cycle(s, predicted, precision))


# ------------------------------------------------------------------------------------------------ constructions
def run_construction(model: Any, steps: int, dtype: str = "float32", precision: str = "per-step",
                     symbol: "str | int | None" = None, progress: bool = False) -> dict:
    """Run a compiled model on ``1^steps`` and compare its DFA state after every prefix with its DFA.

    Returns ``{name, steps, correct, first_error, states_visited}`` (``correct``: no prefix wrong)."""
    runner = OnesRunner(model, dtype, precision, symbol)
    trace = runner.run(int(steps), progress)
    dfa = runner.dfa
    d = dfa.delta[:, runner.symbol].tolist()
    q, truth = dfa.start, np.empty(int(steps), dtype=np.int64)
    for t in range(int(steps)):
        q = d[q]
        truth[t] = q
    wrong = np.flatnonzero(trace.outputs != truth)
    return {"name": model.construction, "steps": int(steps), "correct": wrong.size == 0,
            "first_error": int(wrong[0]) + 1 if wrong.size else None,
            "states_visited": [len(st.states.items) for st in runner.stages]}


def parity_construction(steps: int = CONSTRUCTION_STEPS, dtype: str = "float32", precision: str = "per-step",
                        progress: bool = False) -> dict:
    """The compiled parity construction (one reflection, ``A = -1``) on ``1^steps``: ``{name, steps, alternates}``."""
    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language

    model, _ = compile_language(get_language("parity"), "parity")
    res = run_construction(model, steps, dtype, precision, progress=progress)
    return {"name": "parity", "steps": res["steps"], "alternates": res["correct"], "first_error": res["first_error"]}


__all__ = ["OnesRunner", "Trace", "Settling", "settle", "first_repeat", "parity_witness", "ParityCheck",
           "check_parity", "parity_output_coincidence", "forbidden_cycle", "run_construction",
           "parity_construction", "load_any_model", "is_compiled", "symbol_id",
           "DEFAULT_MAX_STEPS", "CONSTRUCTION_STEPS"]
