"""Numeric verification: run a compiled model in a float dtype and compare its per-token DFA states with the DFA.

The ``direct`` runner is this module's own sequential one. Per layer, every GH factor is formed as an augmented
matrix in the run dtype, ``[[I - beta k k^T, beta v k], [0, 1]]`` (``beta k`` rounded, then its outer product with
``k`` rounded, then subtracted from I; dense and diagonal layers: their matrix and bias cast to the dtype), and the
state ``(h, 1)`` is multiplied by the factors of the token's symbol one after another (``torch.bmm`` in the dtype).
After each token the state is decoded in float64 to the nearest code, and ``next`` gives the next layer's symbol
(post-transition coupling; a layer with a ``conv`` table reads ``conv[previous, current]`` of those symbols); the drift
is the largest distance of a state from its code.

Two implementations of the same recurrence:

* :func:`run_direct_plain` -- the plain loop: every token of every word steps the batch (the reference);
* :func:`run_direct` -- memoised: a float run is a deterministic automaton over bit patterns of states, so each
  distinct (state, symbol) pair is stepped once, with the same batched ``step`` function, and a run is a table walk.
  Exact constructions visit only their codes and 10^5 tokens cost one Python list look-up per token and word; a
  drifting rotation keeps producing new states and falls back to plain chunks (about the cost of the plain loop).
  Tests check the two agree bit for bit.

``kernel != "direct"`` runs :class:`statetrack.lrnn.compiled.CompiledLRNN` (the Householder-scan kernels) instead.

**Every available kernel** (``kernel="all"``, the default of ``verify``). Each kernel sums in its own order (the
direct runner factor by factor in the run dtype; the reference and chunked scans accumulate in float32 and round
their outputs; chunked blocks the sum by chunks; Triton in its tiles), and in 16-bit dtypes the order changes the
answer: the mod:5 rotation model in bfloat16 is correct at length 1000 with the direct runner and wrong from length
253 with the reference or chunked scan. ``all`` therefore runs every kernel available for the model and device and
reports the worst one: a model is "ok in bfloat16" only if it is ok in every summation order tried. Available:
``direct``, ``reference`` and ``chunked`` everywhere (the two scans only for models without width-2 convolution
tables, which :class:`~statetrack.lrnn.compiled.CompiledLRNN` does not apply; skipped kernels are listed with the
reason), ``triton`` only on a CUDA device with Triton importable (on the CPU it would run in the Triton interpreter,
far too slow for runs of thousands of tokens).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError
from statetrack.vocabulary import DEFAULT_KERNEL, NUMERIC_KERNELS, TORCH_DTYPE_NAMES

from statetrack.constructions.model_format import CompiledModel

DTYPE_NAMES = TORCH_DTYPE_NAMES
KERNELS = NUMERIC_KERNELS
#: ``kernel`` values of :func:`run_numeric`: one kernel, or ``all`` (every available kernel, the worst reported)
KERNEL_CHOICES = KERNELS + ("all",)


@dataclass(frozen=True)
class NumericResult:
    """Outcome of :func:`run_numeric`.

    ``tested``: words run; ``errors``: words with at least one wrong per-token DFA state; ``first_fail_length``: the
    shortest prefix length at which some word went wrong (None when none did); ``max_len``: the longest word;
    ``max_drift``: the largest distance of a layer state from its nearest code; ``token_errors``: wrong tokens in
    all; ``dtype``, ``kernel``: what ran. With ``kernel == "all"``: the counts are those of ``worst_kernel`` (most
    wrong words, then the shortest failure, then the largest drift), ``max_drift`` the largest over the kernels,
    ``per_kernel`` every kernel's own result and ``skipped`` the kernels not run with the reason.
    """

    tested: int
    errors: int
    first_fail_length: int | None
    max_len: int
    max_drift: float
    token_errors: int = 0
    dtype: str = "float32"
    kernel: str = DEFAULT_KERNEL
    per_kernel: tuple = ()
    skipped: dict = field(default_factory=dict)
    worst_kernel: str | None = None

    def to_json(self) -> dict:
        """A JSON-able dict (a non-finite drift becomes the string ``"inf"`` / ``"nan"``); with ``kernel == "all"``
        also ``worst_kernel``, ``kernels`` (one dict per kernel run) and ``skipped`` (kernel -> reason)."""
        out = {"tested": self.tested, "errors": self.errors, "first_fail_length": self.first_fail_length,
               "max_len": self.max_len,
               "max_drift": self.max_drift if np.isfinite(self.max_drift) else str(self.max_drift),
               "token_errors": self.token_errors, "dtype": self.dtype, "kernel": self.kernel}
        if self.kernel == "all":
            out.update(worst_kernel=self.worst_kernel, kernels=[r.to_json() for r in self.per_kernel],
                       skipped=dict(self.skipped))
        return out


def dtype_name(dtype: Any) -> str:
    """Canonical name (``float64``, ``float32``, ``bfloat16``, ``float16``) of a torch dtype or a name."""
    key = str(dtype).lower().replace("torch.", "")
    if key not in DTYPE_NAMES:
        raise StatetrackError(f"unknown dtype {dtype!r}; choose one of float64, float32, bfloat16, float16")
    return DTYPE_NAMES[key]


def _torch_dtype(dtype: Any):
    import torch

    return getattr(torch, dtype_name(dtype))


# ------------------------------------------------------------------------------------------------ words
def sample_words(dfa: DFA, max_len: int, samples: int, seed: int = 0) -> np.ndarray:
    """``[N, max_len]`` symbol ids, ``N = max(samples, 1)``: runs of one symbol (one per symbol, up to a third of the
    samples), words that repeat one short random word (a cycled group element; a third), the rest uniform random."""
    rng = np.random.default_rng(seed)
    N, S, L = max(int(samples), 1), dfa.n_symbols, int(max_len)
    rows = []
    n_runs = min(S, max(1, N // 3))
    for a in range(n_runs):
        rows.append(np.full(L, a, dtype=np.int64))
    n_cyc = min(N - len(rows), max(1, N // 3)) if N > len(rows) else 0
    for _ in range(n_cyc):
        u = rng.integers(0, S, size=int(rng.integers(2, 5)))
        rows.append(np.resize(u, L))
    while len(rows) < N:
        rows.append(rng.integers(0, S, size=L))
    return np.stack(rows) if L else np.zeros((N, 0), dtype=np.int64)


def encode_words(dfa: DFA, words: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Words (strings, symbol sequences, or an int array ``[B, T]``) -> ``ids [B, T]`` (padded with 0) and lengths."""
    if isinstance(words, np.ndarray) and words.dtype.kind in "iu":
        if words.ndim != 2:
            raise StatetrackError(f"word ids must be a [B, T] array; got shape {words.shape}")
        if words.size and (words.min() < 0 or words.max() >= dfa.n_symbols):
            raise StatetrackError(f"word ids must lie in [0, {dfa.n_symbols})")
        return words.astype(np.int64), np.full(words.shape[0], words.shape[1], dtype=np.int64)
    enc = [dfa.encode(w) for w in words]
    T = max((e.size for e in enc), default=0)
    ids = np.zeros((len(enc), T), dtype=np.int64)
    for i, e in enumerate(enc):
        ids[i, :e.size] = e
    return ids, np.array([e.size for e in enc], dtype=np.int64)


def dfa_states(dfa: DFA, ids: np.ndarray) -> np.ndarray:
    """The DFA state after each token, ``[B, T]`` (plain Python per word: fast for long words)."""
    d = dfa.delta.tolist()
    out = np.empty(ids.shape, dtype=np.int64)
    for b in range(ids.shape[0]):
        q = dfa.start
        row = []
        for a in ids[b].tolist():
            q = d[q][a]
            row.append(q)
        out[b] = row
    return out


# ------------------------------------------------------------------------------------------------ the runner
class _Layer:
    """One layer's factors as augmented matrices ``G [S, F, n + 1, n + 1]`` in the run dtype, its codes and next."""

    def __init__(self, model: CompiledModel, l: int, dtype: Any, device: Any):
        import torch

        info = model.meta["layers"][l]
        t = model.layer(l)
        n = info["n"]
        S = info["symbols"]
        dt = _torch_dtype(dtype)
        tt = {k: torch.as_tensor(v, device=device) for k, v in t.items()}
        if info["kind"] == "householder" and info["factors"] > 0:
            k, beta, v = tt["keys"].to(dt), tt["betas"].to(dt), tt["values"].to(dt)
            bk = beta[..., None] * k  # [S, F, n], rounded to dt
            M = torch.eye(n, dtype=dt, device=device) - bk[..., :, None] * k[..., None, :]
            bias = bk * v[..., None]
        elif info["kind"] == "householder":
            M = torch.eye(n, dtype=dt, device=device).expand(S, 1, n, n)
            bias = torch.zeros(S, 1, n, dtype=dt, device=device)
        elif info["kind"] == "dense":
            M, bias = tt["matrices"].to(dt)[:, None], tt["bias"].to(dt)[:, None]
        else:
            M, bias = torch.diag_embed(tt["diag"].to(dt))[:, None], tt["bias"].to(dt)[:, None]
        F = M.shape[1]
        G = torch.zeros(S, F, n + 1, n + 1, dtype=dt, device=device)
        G[..., :n, :n] = M
        G[..., :n, n] = bias
        G[..., n, n] = 1
        self.G, self.F, self.n, self.S = G, F, n, S
        self.h0 = torch.cat([tt["h0"].to(dt), torch.ones(1, dtype=dt, device=device)]).view(n + 1, 1)
        self.codes = t["codes"]
        self.next = t["next"]
        self.conv = t.get("conv")  # [R + 1, R] or None

    def inputs(self, raw: np.ndarray) -> np.ndarray:
        """The layer's symbols ``[B, T]`` from the raw symbols handed up from below (through ``conv`` if any)."""
        if self.conv is None:
            return raw
        prev = np.concatenate([np.full((raw.shape[0], 1), self.conv.shape[1], dtype=np.int64), raw[:, :-1]], axis=1)
        return self.conv[prev, raw]

    def step(self, H, s):
        """``H [M, n + 1, 1]`` (run dtype), symbols ``s [M]`` -> the states after the factors of ``s``."""
        import torch

        g = self.G[s]
        for f in range(self.F):
            H = torch.bmm(g[:, f], H)
        return H

    def decode(self, states: np.ndarray) -> tuple[np.ndarray, float]:
        """Nearest code ``[K]`` of float64 states ``[K, n]`` and the largest distance (inf for non-finite states)."""
        K = states.shape[0]
        code = np.zeros(K, dtype=np.int64)
        dist = np.full(K, np.inf)
        finite = np.isfinite(states).all(axis=1)
        cs = self.codes
        csq = (cs * cs).sum(1)
        step = max(1, (1 << 22) // max(1, cs.shape[0]))
        idx = np.flatnonzero(finite)
        for i in range(0, idx.size, step):
            j = idx[i:i + step]
            h = states[j]
            d2 = csq[None, :] - 2.0 * h @ cs.T
            c = d2.argmin(1)
            code[j] = c
            dist[j] = np.linalg.norm(h - cs[c], axis=1)
        return code, float(dist.max(initial=0.0))


def _layers(model: CompiledModel, dtype: Any, device: Any) -> list[_Layer]:
    return [_Layer(model, l, dtype, device) for l in range(model.num_layers)]


def run_direct_plain(model: CompiledModel, ids: np.ndarray, dtype: Any = "float32",
                     device: Any = "cpu") -> tuple[np.ndarray, float]:
    """Reference runner: ``ids [B, T]`` -> (DFA states ``[B, T]``, drift); steps the whole batch at every token."""
    import torch

    sym = np.asarray(ids, dtype=np.int64)
    B, T = sym.shape
    drift = 0.0
    with torch.no_grad():
        for lay in _layers(model, dtype, device):
            sym = lay.inputs(sym)
            H = lay.h0.expand(B, lay.n + 1, 1)
            hs = []
            st = torch.as_tensor(sym, device=device)
            for t in range(T):
                H = lay.step(H, st[:, t])
                hs.append(H[:, :lay.n, 0])
            states = torch.stack(hs, 1).to(torch.float64).cpu().numpy().reshape(B * T, lay.n) if T else \
                np.zeros((0, lay.n))
            code, d = lay.decode(states)
            drift = max(drift, d)
            sym = lay.next[code.reshape(B, T), sym]
    return sym, drift


def _run_layer_memo(lay: _Layer, sym: np.ndarray, device: Any, progress: Any = None):
    """Memoised run of one layer: state ids ``[B, T]`` and the distinct states ``[K, n]`` (float64).

    Rounds: each word walks the (state id, symbol) table in plain Python until it meets a pair not computed yet; the
    missing pairs of all words are then stepped in one batch. When rounds advance only a few tokens per word on
    average (a drifting layer: nearly every state is new), the words run plain chunks instead (every state gets a fresh
    id, no look-ups), and the memo resumes afterwards. Both use the same step arithmetic.
    """
    import torch

    B, T = sym.shape
    S, n1 = lay.S, lay.n + 1
    buf = torch.empty(64, n1, 1, dtype=lay.h0.dtype, device=device)  # distinct states by id (capacity doubles)
    buf[0] = lay.h0
    K = 1

    def append(new):
        nonlocal buf, K
        if K + new.shape[0] > buf.shape[0]:
            grown = torch.empty(2 * (K + new.shape[0]), n1, 1, dtype=buf.dtype, device=device)
            grown[:K] = buf[:K]
            buf = grown
        buf[K:K + new.shape[0]] = new
        K += new.shape[0]

    int_view = {2: torch.int16, 4: torch.int32, 8: torch.int64}[lay.h0.element_size()]
    index = {lay.h0.contiguous().view(int_view).view(-1).cpu().numpy().tobytes(): 0}  # state bit patterns -> id
    unknown = [-1] * S  # shared row of states whose successors are not computed (never written)
    table: list[list[int]] = [[-1] * S]
    rows = [r.tolist() for r in sym]
    outs: list[list[int]] = [[] for _ in range(B)]
    pos, cur = [0] * B, [0] * B
    rounds, rate = 0, 0.0  # rounds since the last chunk; moving average of tokens per word per round
    while True:
        live = [b for b in range(B) if pos[b] < T]
        if not live:
            break
        if rounds >= 32 and rate < 4.0:  # drifting: plain chunks for the live words
            Tc = min(2048, min(T - pos[b] for b in live))
            A = len(live)
            idx = np.array([pos[b] for b in live])[:, None] + np.arange(Tc)
            syms = torch.as_tensor(sym[np.array(live)[:, None], idx], device=device)
            H = buf[torch.as_tensor([cur[b] for b in live], device=device)]
            # [A, Tc, F, n1, n1] -> one list of Tc * F batched factor matrices, in application order
            g_all = lay.G[syms].permute(1, 2, 0, 3, 4).reshape(-1, A, n1, n1).unbind(0)
            hs = []
            F = lay.F
            for i, gf in enumerate(g_all):
                H = torch.bmm(gf, H)
                if i % F == F - 1:
                    hs.append(H)
            ids = K + np.arange(A * Tc, dtype=np.int64).reshape(A, Tc)
            append(torch.stack(hs, 1).reshape(A * Tc, n1, 1))  # word-major, as ids
            table.extend([unknown] * (A * Tc))
            for i, b in enumerate(live):
                outs[b].extend(ids[i].tolist())
                pos[b] += Tc
                cur[b] = int(ids[i, -1])
            if progress is not None:
                progress.update(Tc)
            rounds, rate = 0, 0.0
            continue
        misses: dict[tuple[int, int], None] = {}
        advanced = 0
        for b in live:
            t, c, row, o = pos[b], cur[b], rows[b], outs[b]
            start = t
            while t < T:
                nx = table[c][row[t]]
                if nx < 0:
                    misses[(c, row[t])] = None
                    break
                o.append(nx)
                c = nx
                t += 1
            advanced += t - start
            pos[b], cur[b] = t, c
        if progress is not None and advanced:
            progress.update(advanced // B)
        if not misses:
            continue
        rounds += 1
        rate = 0.9 * rate + 0.1 * advanced / len(live) if rounds > 1 else advanced / len(live)
        pairs = list(misses)
        pc = torch.as_tensor([p[0] for p in pairs], device=device)
        ps = torch.as_tensor([p[1] for p in pairs], device=device)
        Hout = lay.step(buf[pc], ps)
        raw = Hout.contiguous().view(int_view).view(len(pairs), -1).cpu().numpy()
        fresh = []
        for i, (c, a) in enumerate(pairs):
            key = raw[i].tobytes()
            j = index.get(key)
            if j is None:
                j = index[key] = K + len(fresh)
                fresh.append(i)
                table.append([-1] * S)
            if table[c] is unknown:
                table[c] = [-1] * S
            table[c][a] = j
        if fresh:
            append(Hout[torch.as_tensor(fresh, device=device)])
    out = np.array(outs, dtype=np.int64).reshape(B, T)
    states = buf[:K, :lay.n, 0].to(torch.float64).cpu().numpy()
    return out, states


def run_direct(model: CompiledModel, ids: np.ndarray, dtype: Any = "float32", device: Any = "cpu",
               progress: bool = False) -> tuple[np.ndarray, float]:
    """Memoised runner (same results as :func:`run_direct_plain`): ``ids [B, T]`` -> (DFA states ``[B, T]``, drift)."""
    import torch

    sym = np.asarray(ids, dtype=np.int64)
    B, T = sym.shape
    drift = 0.0
    with torch.no_grad():
        for l, lay in enumerate(_layers(model, dtype, device)):
            sym = lay.inputs(sym)
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=T, desc=f"layer {l} {dtype_name(dtype)}", unit="tok", leave=False)
            sid, states = _run_layer_memo(lay, sym, device, bar)
            if bar is not None:
                bar.close()
            code, d = lay.decode(states)
            drift = max(drift, d)
            sym = lay.next[code[sid], sym] if T else sym
    return sym, drift


def available_kernels(model: CompiledModel, device: Any = "cpu") -> tuple[list[str], dict[str, str]]:
    """The kernels ``kernel="all"`` runs for ``model`` on ``device`` and the skipped ones with the reason (see the
    module docstring)."""
    kernels, skipped = ["direct"], {}
    has_conv = any("conv" in info for info in model.meta["layers"])
    try:
        from statetrack.lrnn.compiled import CompiledLRNN
    except ImportError as exc:  # pragma: no cover - part of every install
        return kernels, {k: f"CompiledLRNN not importable ({exc})" for k in ("reference", "chunked", "triton")}
    conv_ok = not has_conv or getattr(CompiledLRNN, "supports_conv", False)
    for k in ("reference", "chunked"):
        if conv_ok:
            kernels.append(k)
        else:
            skipped[k] = "the model has width-2 convolution tables, which CompiledLRNN does not apply"
    if not str(device).startswith("cuda"):
        skipped["triton"] = "runs only on a CUDA device (the CPU interpreter is too slow for long runs)"
    elif not conv_ok:
        skipped["triton"] = skipped["reference"]
    else:
        try:
            import triton  # noqa: F401

            kernels.append("triton")
        except ImportError:
            skipped["triton"] = "triton is not installed"
    return kernels, skipped


def _worst(results: list[NumericResult]) -> NumericResult:
    def badness(r: NumericResult):
        first = r.first_fail_length if r.first_fail_length is not None else float("inf")
        drift = r.max_drift if np.isfinite(r.max_drift) else float("inf")
        return (r.errors, -first, drift)

    return max(results, key=badness)


def run_numeric(model: CompiledModel, dtype: Any = "float32", words: Sequence | np.ndarray | None = None, *,
                max_len: int = 256, samples: int = 64, kernel: str = DEFAULT_KERNEL, device: Any = "cpu", seed: int = 0,
                progress: bool = False) -> NumericResult:
    """Run ``model`` in ``dtype`` on ``words`` (or on :func:`sample_words` of ``max_len`` x ``samples``) and compare the
    per-token DFA states. ``kernel``: a Householder-scan backend through :class:`statetrack.lrnn.compiled.CompiledLRNN`
    (``auto``, the default | ``reference`` | ``chunked`` | ``triton``), ``direct`` (this module's sequential runner), or
    ``all``:
    every kernel of :func:`available_kernels` on the same words, the worst reported (see the module docstring)."""
    if kernel not in KERNEL_CHOICES:
        raise StatetrackError(f"kernel: unknown kernel {kernel!r}; choose one of {', '.join(KERNEL_CHOICES)}")
    if kernel != "all":
        return _run_one(model, dtype, words, max_len, samples, kernel, device, seed, progress)
    name = dtype_name(dtype)
    kernels, skipped = available_kernels(model, device)
    results = [_run_one(model, name, words, max_len, samples, k, device, seed, progress) for k in kernels]
    w = _worst(results)
    return NumericResult(tested=w.tested, errors=w.errors, first_fail_length=w.first_fail_length, max_len=w.max_len,
                         max_drift=max(r.max_drift for r in results), token_errors=w.token_errors, dtype=name,
                         kernel="all", per_kernel=tuple(results), skipped=skipped, worst_kernel=w.kernel)


def _run_one(model: CompiledModel, dtype: Any, words: Sequence | np.ndarray | None, max_len: int, samples: int,
             kernel: str, device: Any, seed: int, progress: bool) -> NumericResult:
    """:func:`run_numeric` with one kernel."""
    name = dtype_name(dtype)
    if max_len < 0 or samples < 0:
        raise StatetrackError("max_len and samples must be non-negative")
    dfa = model.dfa()
    if words is None:
        ids = sample_words(dfa, max_len, samples, seed)
        lengths = np.full(ids.shape[0], ids.shape[1], dtype=np.int64)
    else:
        ids, lengths = encode_words(dfa, words)
    B, T = ids.shape
    if kernel == "direct":
        pred, drift = run_direct(model, ids, name, device, progress)
    else:
        import torch

        try:
            from statetrack.lrnn.compiled import CompiledLRNN
        except ImportError as exc:
            raise StatetrackError(f"kernel {kernel!r} needs statetrack.lrnn.compiled.CompiledLRNN, which is not "
                                  f"available in this build ({exc})") from None
        if any("conv" in info for info in model.meta["layers"]) and not getattr(CompiledLRNN, "supports_conv", False):
            raise StatetrackError(f"kernel {kernel!r} runs through CompiledLRNN, which does not apply the layers' conv "
                                  f"tables (width-2 convolutions) of this model; use kernel direct or all")
        runner = CompiledLRNN(model, kernel=kernel, dtype=_torch_dtype(name)).to(device)
        out, drift = runner.run_states(torch.as_tensor(ids, device=device))
        pred = out.cpu().numpy()
    truth = dfa_states(dfa, ids)
    valid = np.arange(T)[None, :] < lengths[:, None]
    wrong = (pred != truth) & valid
    per_word = wrong.any(1)
    first = int(wrong.argmax(1)[per_word].min()) + 1 if per_word.any() else None
    return NumericResult(tested=B, errors=int(per_word.sum()), first_fail_length=first,
                         max_len=int(lengths.max(initial=0)), max_drift=float(drift),
                         token_errors=int(wrong.sum()), dtype=name, kernel=kernel)


__all__ = ["NumericResult", "run_numeric", "available_kernels", "KERNEL_CHOICES", "KERNELS", "run_direct",
           "run_direct_plain", "sample_words", "encode_words",
           "dfa_states", "dtype_name"]
