"""Settling at scale: the ``per-step`` run of an LRNN on ``1^t`` over 10^7 steps and more, layer by layer.

The reference (:func:`statetrack.lrnn.claims.parity.settle`) interns every state of every layer and looks for the
first repeat of the combined state; it is exact but costs tens of microseconds of Python per token, so float32
members (whose states creep by one unit in the last place for millions of steps) rarely settle within its budget.
This module computes the same answer -- the least settle step ``t*`` and the least period ``p`` of the full state
(every layer's recurrent state and convolution buffer) -- from the structure of the run:

* **Layer by layer.** A layer's input is an *eventually periodic* sequence: constant (the symbol's embedding) for the
  first layer, and for a deeper layer the outputs of the one below, periodic with the lower full state's period ``q``
  from its settle step ``s``. From length ``W0 = s + c - 1`` on (``c`` the convolution width) the layer's input
  windows repeat with period ``q``, so its state sampled every ``q`` tokens follows one fixed map ``F`` (the ``q``
  steps of a period).
* **A cycle search** on ``F`` (compiled, :mod:`.step_kernels`; constant memory, no interning), column by column:
  ``S' = A S + B`` acts on each head and each column of the state on its own, so every column (every entry, for
  diagonal transitions) gets its own search, all of them in one parallel batch (:func:`find_cycles`). The state's
  cycle starts at ``mu = max mu_i`` and has length ``lam = lcm lam_i``; the full state through this layer then has
  period exactly ``P = q lam`` (the lower part has least period ``q`` and the sampled state least period ``lam``).
* **The exact settle step** is the least ``t >= s`` with the same full state at ``t`` and ``t + P``; the set of such
  ``t`` is closed upwards (the run is deterministic) and lies within the ``q`` lengths before the sampled cycle start
  ``W0 - 1 + mu q``, so two copies of the layer, ``P`` tokens apart, are stepped in lockstep over those lengths until
  their states and convolution buffers agree.
* **Outputs** for the next layer are needed for every length up to ``t* + P - 1``; a block's output depends on its
  state only through the read-out ``o = scale S^T q`` (rounded to the dtype), so only distinct (read-out, window)
  pairs go through torch; they are found per chunk of lengths by one numpy sort of their bits, and the next layer
  interns its windows the same way (:meth:`BlockStage._window_ids <statetrack.lrnn.claims.families.BlockStage>`).
  The lengths handed on are bounded by ``max_rows`` (``unsettled`` beyond it, with the reason): a creeping lower
  layer gives a new row and window at almost every length, each costing torch time and a few KB of interned values.

Vectorised over members: :func:`settle_many` runs the first layers' cycle searches of many members in one batch
(one task per column). Only the ``per-step`` model has compiled kernels: ``float`` is torch's own arithmetic
(BLAS order), which a compiled loop would not reproduce bit for bit; it keeps the reference runner.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from statetrack.errors import StatetrackError
from statetrack.vocabulary import CLAIM_ENGINES

from . import step_kernels as sk
from .parity import OnesRunner, is_compiled

#: default budget of single steps per layer for the cycle search (6.7 x 10^7)
FAST_MAX_STEPS = 1 << 26
#: default bound on the lengths whose outputs a lower layer hands to the next one
FAST_MAX_ROWS = 1 << 20
#: cycle positions whose outputs are kept (the output-coincidence check looks at most at these)
CYCLE_OUTPUTS = 1 << 16
_CHUNK = 1 << 15


def fast_available(model: Any, precision: str) -> bool:
    """Can :func:`settle_fast` run this model in this precision model? (numba installed, ``per-step``, an LRNN and
    not a compiled model.)"""
    return sk.AVAILABLE and precision == "per-step" and not is_compiled(model)


@dataclass
class _Periodic:
    """Row ids of a layer's input at lengths ``1 .. n`` (``ids[t - 1]``), periodic with period ``q`` from length
    ``start``: ``ids(t + q) = ids(t)`` for ``t >= start``; ``n >= start + q - 1``."""

    ids: np.ndarray
    start: int
    q: int

    def at(self, lengths: np.ndarray) -> np.ndarray:
        return self.ids[_periodic_index(lengths, self.ids.size, self.start, self.q)]


def _periodic_index(lengths, n: int, start: int, q: int) -> np.ndarray:
    """Indices into per-length arrays of ``n`` entries (lengths ``1 .. n``) that repeat with period ``q`` from
    length ``start``, for any lengths >= 1."""
    t = np.asarray(lengths, dtype=np.int64)
    return np.where(t <= n, t, start + (t - start) % q) - 1


class _Layer:
    """One block's part of the run: window ids, transition tables and the layer's settle step and period."""

    def __init__(self, stage, inp: _Periodic, fmt):
        self.stage, self.inp, self.fmt = stage, inp, fmt
        self.params = sk.grid_params(fmt)
        c = stage.c
        self.W0 = inp.start + c - 1  # from this length on, the windows repeat with period q
        n = self.W0 + inp.q - 1  # lengths whose windows are kept
        ids = inp.at(np.arange(1, n + 1))
        self.wids, self.cids = stage._window_ids(ids)
        self.A = np.ascontiguousarray(stage.window_table("A"))
        self.B = np.ascontiguousarray(stage.window_table("B"))
        H, K, V = self.B.shape[1:]
        self.S0 = np.zeros((H, K, V))
        self._memo: dict = {}  # (read-out bits, window id) as bytes -> output row id

    # ---------------------------------------------------------------------------------------- indexing
    def wid(self, lengths: np.ndarray) -> np.ndarray:
        """Window ids applied at the given lengths (any length >= 1)."""
        return self.wids[_periodic_index(lengths, self.wids.size, self.W0, self.inp.q)]

    def cid(self, lengths: np.ndarray) -> np.ndarray:
        """Convolution-buffer (carry) ids at the given lengths."""
        return self.cids[_periodic_index(lengths, self.cids.size, self.W0, self.inp.q)]

    def run(self, S: np.ndarray, first: int, count: int, keep: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Step ``S`` (the state at length ``first - 1``) through lengths ``first .. first + count - 1``."""
        out_states = []
        done = 0
        while done < count:
            m = min(count - done, _CHUNK if keep else 1 << 22)
            w = self.wid(np.arange(first + done, first + done + m))
            S, st = sk.run_sequence(self.A, self.B, w, S, keep, *self.params)
            if keep:
                out_states.append(st)
            done += m
        states = np.concatenate(out_states) if out_states else np.zeros((0,) + S.shape)
        return S, states

    def cycle_maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``x0`` (the state at length ``W0 - 1``) and the ``q`` transitions of one period from there."""
        x0, _ = self.run(self.S0, 1, self.W0 - 1)
        w = self.wid(np.arange(self.W0, self.W0 + self.inp.q))
        return x0, self.A[w], self.B[w]

    # ---------------------------------------------------------------------------------------- settling
    def settle(self, mu: int, lam: int, prev: np.ndarray | None = None,
               prev_P: np.ndarray | None = None) -> tuple[int, int, np.ndarray]:
        """The exact ``(t*, P, S_{t*})`` of the full state through this layer, from the cycle ``(mu, lam)`` of the
        sampled states ``x_k`` (length ``W0 - 1 + k q``) and, when ``mu >= 1``, ``x_(mu - 1)`` and
        ``x_(mu - 1 + lam)`` (:func:`find_cycles`)."""
        q = self.inp.q
        P = q * lam
        lo = max(self.inp.start, 1)
        hi = max(self.W0 - 1 + mu * q, lo)  # on the cycle: the sampled state x_mu at length W0 - 1 + mu q
        if mu >= 1 and self.W0 + (mu - 1) * q >= lo:
            # x_(mu - 1) is not on the cycle, so neither is any length up to W0 - 1 + (mu - 1) q
            lo = self.W0 + (mu - 1) * q
            a, _ = self.run(prev, lo, 1)
            b, _ = self.run(prev_P, lo + P, 1)
        else:
            a, _ = self.run(self.S0, 1, lo)
            b, _ = self.run(a, lo + 1, P)
        t = lo
        while True:  # lockstep in chunks: states and convolution buffers at t and t + P
            m = min(hi - t + 1, _CHUNK)
            ts = np.arange(t, t + m)
            _, sa = self.run(a, t + 1, m - 1, keep=True)
            _, sb = self.run(b, t + 1 + P, m - 1, keep=True)
            sa = np.concatenate([a[None], sa])
            sb = np.concatenate([b[None], sb])
            same = (sa.reshape(m, -1).view(np.int64) == sb.reshape(m, -1).view(np.int64)).all(1)
            same &= self.cid(ts) == self.cid(ts + P)
            hit = np.flatnonzero(same)
            if hit.size:
                k = int(hit[0])
                return t + k, P, sa[k]
            if t + m - 1 >= hi:
                raise StatetrackError(f"internal: no agreement up to length {hi} although Brent found the cycle")
            a, b = sa[-1], sb[-1]
            a, _ = self.run(a, t + m, 1)
            b, _ = self.run(b, t + m + P, 1)
            t += m

    def _intern_outputs(self, o: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Output row ids of read-outs ``o [m, H, V]`` (float32) in windows ``w [m]``: the distinct (read-out,
        window) pairs are found with numpy (one sort of their bits); only pairs not met before go through torch, in
        the sorted order of their bits, so new row ids need not follow first occurrence (ids are only compared for
        equality: verdicts, settle steps and periods do not depend on them)."""
        m = w.shape[0]
        keys = np.concatenate([o.reshape(m, -1).view(np.int32).astype(np.int64), w[:, None]], 1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        memo = self._memo
        kb = [k.tobytes() for k in uniq]
        row_u = np.fromiter((memo.get(k, -1) for k in kb), dtype=np.int64, count=len(kb))
        todo = np.flatnonzero(row_u < 0)
        if todo.size:
            sel_o = uniq[todo, :-1].astype(np.int32).view(np.float32).reshape((todo.size,) + o.shape[1:])
            rows = np.asarray(self.stage.outputs_of_readouts(sel_o, uniq[todo, -1]), dtype=np.int64)
            row_u[todo] = rows
            memo.update(zip((kb[i] for i in todo.tolist()), rows.tolist()))
        return row_u[inv.reshape(-1)]

    def outputs(self, S_first: np.ndarray, first: int, count: int) -> np.ndarray:
        """Output row ids (the next layer's input) at lengths ``first .. first + count - 1``, from the state at
        length ``first`` (``S_first``); distinct (read-out, window) pairs go through torch once."""
        stage = self.stage
        out = np.empty(count, dtype=np.int64)
        S = S_first
        done = 0
        while done < count:
            m = min(count - done, _CHUNK)
            _, st = self.run(S, first + done + 1, m - 1, keep=True)
            st = np.concatenate([S[None], st])
            S = st[-1]
            w = self.wid(np.arange(first + done, first + done + m))
            o = stage.readouts(st, w)
            out[done:done + m] = self._intern_outputs(o, w)
            if done + m < count:
                S, _ = self.run(S, first + done + m, 1)
            done += m
        return out


class FastSettling:
    """The run on ``1^t`` found by :func:`settle_fast`: the same fields and methods as
    :class:`~statetrack.lrnn.claims.parity.Settling` that the claim checks use (``settle_step``, ``period``,
    ``steps``, ``settled``, ``output_at``, ``runner``, ``cycle_transitions``), plus ``reason`` when unsettled and
    ``layers``: per layer ``{settle_step, period}``."""

    def __init__(self, runner: OnesRunner, settle_step: int | None, period: int | None, steps: int,
                 cycle_out: np.ndarray | None = None, cycle_windows: Sequence[np.ndarray] = (),
                 reason: str | None = None, layers: Sequence[dict] = ()):
        self.runner, self.settle_step, self.period, self.steps = runner, settle_step, period, steps
        self.cycle_out, self.cycle_windows, self.reason, self.layers = cycle_out, list(cycle_windows), reason, list(layers)

    @property
    def settled(self) -> bool:
        return self.settle_step is not None

    def output_at(self, length: int) -> int:
        """Output id after ``length`` symbols, for lengths in the final cycle (``length >= settle_step``)."""
        t = int(length)
        if not self.settled or t < self.settle_step:
            raise StatetrackError(f"length {t}: the fast runner keeps outputs of the final cycle only "
                                  f"(from length {self.settle_step})")
        i = (t - self.settle_step) % self.period
        if i >= self.cycle_out.size:
            raise StatetrackError(f"length {t}: beyond the {self.cycle_out.size} cycle positions kept")
        return int(self.cycle_out[i])

    def cycle_transitions(self, positions: int = 8) -> list[list[np.ndarray]]:
        """Per layer, the transitions ``A`` applied at the first ``positions`` lengths of the final cycle."""
        return [[stage.transition(int(w)) for w in wids[:positions]]
                for stage, wids in zip(self.runner.stages, self.cycle_windows)]


def _prepare(model: Any, dtype: str, symbol) -> tuple[OnesRunner, _Layer]:
    runner = OnesRunner(model, dtype, "per-step", symbol)
    return runner, _Layer(runner.stages[0], _Periodic(np.zeros(1, dtype=np.int64), 1, 1), runner.fmt)


def _finish(runner: OnesRunner, first: _Layer, brent0: tuple, max_steps: int,
            max_rows: int) -> FastSettling:
    """Layers after the first Brent search: settle, outputs, next layers (see the module docstring)."""
    from .parity import single_thread

    layer, cycle = first, brent0
    info, windows = [], []
    n_layers = runner.num_layers
    with single_thread():
        for l in range(n_layers):
            if l > 0:
                cycle = find_cycles([layer.cycle_maps()], max_steps, layer.params)[0]
            mu, lam, prev, prev_P = cycle
            if mu < 0:
                return FastSettling(runner, None, None, max_steps, reason=f"layer {l + 1}: no repeat within "
                                    f"{max_steps} steps", layers=info)
            t_star, P, S_star = layer.settle(int(mu), int(lam), prev, prev_P)
            info.append({"settle_step": int(t_star), "period": int(P)})
            windows.append(layer.wid(np.arange(t_star, t_star + min(P, 8))))
            if l == n_layers - 1:
                out = layer.outputs(S_star, t_star, min(P, CYCLE_OUTPUTS))
                return FastSettling(runner, int(t_star), int(P), int(t_star + P), out, windows, layers=info)
            n = t_star + P - 1
            if n > max_rows:
                return FastSettling(runner, None, None, max_steps, reason=f"layer {l + 1} settles at length "
                                    f"{t_star} with period {P}: the next layer needs its outputs at {n} lengths, "
                                    f"over the budget of {max_rows} (max_rows)", layers=info)
            S1, _ = layer.run(layer.S0, 1, 1)
            ids = layer.outputs(S1, 1, n)
            layer = _Layer(runner.stages[l + 1], _Periodic(ids, int(t_star), int(P)), runner.fmt)
    raise StatetrackError("internal: no layers")


def settle_fast(model: Any, dtype: str = "float32", symbol: "str | int | None" = None,
                max_steps: int = FAST_MAX_STEPS, max_rows: int = FAST_MAX_ROWS) -> FastSettling:
    """The exact settle step and period of an LRNN's ``per-step`` run on ``1^t`` (see the module docstring);
    ``max_steps``: single steps per layer for the cycle search; ``max_rows``: outputs a lower layer may hand on."""
    return settle_many([model], dtype, symbol, max_steps, max_rows)[0]


def settle_many(models: Sequence[Any], dtype: str = "float32", symbol: "str | int | None" = None,
                max_steps: int = FAST_MAX_STEPS, max_rows: int = FAST_MAX_ROWS, progress: bool = False,
                desc: str = "settle") -> list[FastSettling]:
    """:func:`settle_fast` for many members; the first layers' cycle searches of all members run together
    (:func:`find_cycles`; ``progress``: a bar over the members' remaining layers)."""
    if not sk.AVAILABLE:
        raise StatetrackError("the fast runner needs numba: pip install 'statetrack[fast]'")
    from .parity import single_thread

    with single_thread():  # the first layers' windows go through torch too (tiny tensors: one thread is faster)
        prepared = [_prepare(m, dtype, symbol) for m in models]
    maps = [layer.cycle_maps() for _, layer in prepared]
    firsts = find_cycles(maps, int(max_steps), prepared[0][1].params) if prepared else []
    todo = zip(prepared, firsts)
    if progress:
        from tqdm.auto import tqdm

        todo = tqdm(todo, total=len(prepared), desc=desc, unit="model")
    return [_finish(r, layer, f, int(max_steps), int(max_rows)) for (r, layer), f in todo]


def find_cycles(maps: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], max_steps: int,
                params: tuple) -> list[tuple]:
    """The cycle of each map ``(x0 [H, K, V], A [q, H, K, K], B [q, H, K, V])``: ``(mu, lam, prev, prev_P)`` with
    ``F^mu(x0)`` the first point of the cycle, ``lam`` its length, and the states ``prev = F^(mu - 1)(x0)`` and
    ``prev_P = F^(mu - 1 + lam)(x0)`` (None when ``mu = 0``); ``(-1, -1, None, None)`` over budget.

    The per-step map acts on each head and each column of the state on its own (``S' = A S + B`` column by column,
    and ``A`` is block-diagonal over heads), so the state is ``H V`` independent ``K``-vectors (``H K V`` scalars when
    every transition is diagonal): each gets its own cycle search (all of them, of every map, in one parallel batch),
    and the whole state's cycle starts at the latest start, ``mu = max mu_i``, with length ``lam = lcm lam_i``. A
    column that settles early costs only its own steps, not those of the slowest column; the states at ``mu - 1``
    and ``mu - 1 + lam`` are put together from the columns' own (at most ``lam_i`` further steps each).
    """
    # units: (map index, head, rows, column); diagonal transitions split further, one scalar per unit
    units: dict = {}
    for i, (x0, A, _) in enumerate(maps):
        q, H, K, _ = A.shape
        V = x0.shape[2]
        diagonal = not np.any(A * (1.0 - np.eye(K)))
        rows = [slice(k, k + 1) for k in range(K)] if diagonal else [slice(0, K)]
        for h in range(H):
            for r in rows:
                for c in range(V):
                    units.setdefault((q, r.stop - r.start), []).append((i, h, r, c))
    mu_of: dict = {}
    for (q, k), group in units.items():
        Au = np.ascontiguousarray(np.stack([maps[i][1][:, h:h + 1, r, r] for i, h, r, c in group]))
        Bu = np.ascontiguousarray(np.stack([maps[i][2][:, h:h + 1, r, c:c + 1] for i, h, r, c in group]))
        xu = np.ascontiguousarray(np.stack([maps[i][0][h:h + 1, r, c:c + 1] for i, h, r, c in group]))
        with sk.one_member_per_task():
            if k == 1:  # scalars: the loop without arrays
                mu, lam, xm, xp = sk.brent_scalar_batch(Au.reshape(-1, q), Bu.reshape(-1, q), xu.reshape(-1),
                                                        int(max_steps), *params)
                x_mu, x_prev = xm.reshape(xu.shape), xp.reshape(xu.shape)
            else:
                mu, lam, x_mu, x_prev = sk.brent_batch(Au, Bu, xu, int(max_steps), *params)
        mu_of[(q, k)] = (Au, Bu, mu, lam, x_mu, x_prev)
    MU = [0] * len(maps)
    LAM = [1] * len(maps)
    ok = [True] * len(maps)
    for key, group in units.items():
        _, _, mu, lam, _, _ = mu_of[key]
        for (i, *_), m_, l_ in zip(group, mu.tolist(), lam.tolist()):
            if m_ < 0:
                ok[i] = False
            else:
                MU[i] = max(MU[i], m_)
                LAM[i] = math.lcm(LAM[i], l_)
    prev = [np.empty_like(x0) for x0, _, _ in maps]
    prev_P = [np.empty_like(x0) for x0, _, _ in maps]
    for key, group in units.items():
        Au, Bu, mu, lam, x_mu, x_prev = mu_of[key]
        idx = [g[0] for g in group]
        lam1 = np.maximum(lam, 1)
        MUu = np.array([MU[i] for i in idx], dtype=np.int64)
        LAMu = [LAM[i] for i in idx]
        last = mu == MUu
        good = np.array([ok[i] and MU[i] > 0 for i in idx])
        n_prev = np.where(last | ~good, 0, (MUu - 1 - mu) % lam1).astype(np.int64)
        n_prev_p = np.array([((L - 1) % l if la else (M - 1 - m) % l) if g else 0
                             for L, l, la, M, m, g in zip(LAMu, lam1.tolist(), last, MUu.tolist(), mu.tolist(), good)],
                            dtype=np.int64)
        with sk.one_member_per_task():
            if key[1] == 1:
                qq = key[0]
                pu = sk.advance_scalar_batch(Au.reshape(-1, qq), Bu.reshape(-1, qq), x_mu.reshape(-1), n_prev,
                                             *params).reshape(x_mu.shape)
                ppu = sk.advance_scalar_batch(Au.reshape(-1, qq), Bu.reshape(-1, qq), x_mu.reshape(-1), n_prev_p,
                                              *params).reshape(x_mu.shape)
            else:
                pu = sk.advance_batch(Au, Bu, x_mu, n_prev, *params)
                ppu = sk.advance_batch(Au, Bu, x_mu, n_prev_p, *params)
        pu[last] = x_prev[last]
        for (i, h, r, c), a, b in zip(group, pu, ppu):
            prev[i][h, r, c] = a[0, :, 0]
            prev_P[i][h, r, c] = b[0, :, 0]
    return [(-1, -1, None, None) if not ok[i] else (0, LAM[i], None, None) if MU[i] == 0 else
            (MU[i], LAM[i], prev[i], prev_P[i]) for i in range(len(maps))]


def check_engine(engine: str) -> str:
    """``engine`` if it is one of :data:`~statetrack.vocabulary.CLAIM_ENGINES`, else an error naming ``engine``."""
    if engine not in CLAIM_ENGINES:
        raise StatetrackError(f"engine: unknown engine {engine!r}; choose one of {', '.join(CLAIM_ENGINES)}")
    return engine


def use_fast(model: Any, precision: str, engine: str = "auto") -> bool:
    """Whether ``engine`` (``auto``: the fast runner where it applies; ``fast``: it or an error; ``reference``:
    the interning runner of :func:`statetrack.lrnn.claims.parity.settle`) runs this model fast."""
    ok = fast_available(model, precision)
    if check_engine(engine) == "fast" and not ok:
        why = ("numba is not installed (pip install 'statetrack[fast]')" if not sk.AVAILABLE else
               "it runs LRNN members, not compiled models" if is_compiled(model) else
               f"it runs the per-step model only, not the {precision} model")
        raise StatetrackError(f"engine fast: {why}")
    return ok and engine != "reference"


def run_settling(model: Any, dtype: str = "float32", precision: str = "per-step", symbol: "str | int | None" = None,
                 max_steps: int | None = None, engine: str = "auto", progress: bool = False):
    """The run of ``model`` on ``1^t`` until its full state repeats: a :class:`FastSettling` from
    :func:`settle_fast` (budget ``max_steps`` single steps per layer, default :data:`FAST_MAX_STEPS`) or a
    :class:`~statetrack.lrnn.claims.parity.Settling` from the reference runner (budget ``max_steps`` tokens,
    default 65536). Both give the same settle step and period whenever both settle (tested)."""
    from .parity import DEFAULT_MAX_STEPS, settle

    if use_fast(model, precision, engine):
        return settle_fast(model, dtype, symbol, int(max_steps or FAST_MAX_STEPS))
    return settle(OnesRunner(model, dtype, precision, symbol), int(max_steps or DEFAULT_MAX_STEPS), progress=progress)


__all__ = ["run_settling", "use_fast", "check_engine", "settle_fast", "find_cycles", "settle_many", "FastSettling", "fast_available", "FAST_MAX_STEPS", "FAST_MAX_ROWS"]
