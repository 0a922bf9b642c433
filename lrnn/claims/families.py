"""LRNN families as affine recurrences: random members, per-symbol transitions ``A(x)``, ``B(x)``, and layer stages.

Families (docs/expressivity.md): ``diagonal`` (Mamba-style ``Diag(a)``), ``deltanet`` (one GH factor per token) and
``deltaproduct`` (``n_h = 2`` factors per token), each with eigenvalue range ``(0, 1)`` or ``(-1, 1)``.

**A random member** (:func:`random_member`) is a small :class:`statetrack.lrnn.LRNNModel` (default 2 layers,
``d_model`` 16, 2 heads of width 4, diagonal state width 4, short convolutions of width 4) with PyTorch's default
initialisation from ``torch.manual_seed(seed)``, except that the bias of every ``beta`` projection is drawn uniformly
from ``[-4, 4]`` so that ``beta`` covers its whole range (``(0, 1)`` or ``(0, 2)``) rather than sitting near the middle.
The diagonal layers already draw ``dt`` log-uniformly in ``[1e-3, 10]``.

**The input "1 repeated".** A layer's transition depends on its input through linear projections, and for keys and
values also through a causal depthwise convolution of width ``c`` (``conv_size``). At time t the layer reads the
window of its last ``c`` inputs (fewer at the start: the convolution pads with zeros on the left). On ``1^t`` the
first layer's input is the constant embedding of the symbol, so from ``t = c`` on every window is the same and
``A_t = A(1)``, ``B_t = B(1)`` are constant: that constant pair is what :func:`symbol_transitions` returns (the
"warm-up" is the first ``c - 1`` steps). A deeper layer sees the outputs of the layer below, which become constant
(or periodic) once that layer's state has settled; until then its transitions vary with t.

**The affine form of one token.** Householder layers (per head, state ``S [K, V]``):
``A = G_{n_h} ... G_1`` with ``G_j = I - beta_j k_j k_j^T`` and ``B = sum_j G_{n_h} ... G_{j+1} beta_j k_j v_j^T``, so
``S_t = A_t S_{t-1} + B_t`` is the kernel's factor-by-factor update; the read-out is ``o_t = K^-1/2 S_t^T q_t``.
Diagonal layers: ``A = Diag(a)`` ``[K, K]``, ``B = k v^T``, read-out ``o_t = S_t^T q_t + D v_t``. ``q, k, v, beta, a``
are taken as the module computes them in the run dtype (``beta`` and ``a`` are computed in float32 and put on the dtype
grid); ``A`` and ``B`` are formed in float64 from those values and put on the dtype grid once. The state update then
follows a precision model (:mod:`.precision`); everything else (projections, norms, MLP) is torch in the dtype.

**Stages.** A model is run on ``1^t`` layer by layer (:class:`BlockStage` for an LRNN block, :class:`CompiledStage` for
a compiled-model layer). Every distinct state, input window and output row is interned (identical bits, one id), and
each distinct (state, window) pair is stepped once: the simulated step is therefore a pure function of the state, which
is what makes "the state repeated, so everything after repeats" a proof rather than an observation.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from statetrack.errors import StatetrackError
from statetrack.vocabulary import EIGENVALUE_RANGES, LRNN_LAYER_TYPES

from .precision import Stepper

FAMILIES = LRNN_LAYER_TYPES
RANGES = EIGENVALUE_RANGES
#: the small architecture of random family members
MEMBER_DIMS = dict(d_model=16, num_heads=2, head_dim=4, state_dim=4, conv_size=4, mlp_ratio=2.0)


def parse_range(text: "str | Sequence[float]") -> tuple[int, int]:
    """``"0,1"`` / ``"-1,1"`` / ``(0, 1)`` -> ``(0, 1)`` or ``(-1, 1)``."""
    if isinstance(text, str):
        key = text.replace(" ", "").replace("[", "").replace("]", "")
        if key not in RANGES:
            raise StatetrackError(f"eigenvalue range {text!r}: choose 0,1 or -1,1")
        return RANGES[key]
    rng = tuple(int(x) for x in text)
    if rng not in RANGES.values():
        raise StatetrackError(f"eigenvalue range {tuple(text)!r}: choose (0, 1) or (-1, 1)")
    return rng  # type: ignore[return-value]


def range_name(rng: Sequence[int]) -> str:
    return f"{int(rng[0])},{int(rng[1])}"


def random_member(family: str, eigenvalue_range: "str | Sequence[float]", seed: int = 0, layers: int = 2,
                  vocab_size: int = 2, **dims: Any):
    """A random member of ``family`` (see the module docstring): an ``LRNNModel`` in float32, eval mode."""
    import torch

    from statetrack.lrnn import LRNNConfig, LRNNModel

    if family not in FAMILIES:
        raise StatetrackError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    cfg = dict(MEMBER_DIMS, **dims)
    config = LRNNConfig(vocab_size=vocab_size, n_classes=2, n_layers=int(layers), layer=family,
                        num_householder=2 if family == "deltaproduct" else 1,
                        eigenvalue_range=parse_range(eigenvalue_range), **cfg)
    gen = torch.random.fork_rng(devices=[])
    with gen:
        torch.manual_seed(int(seed))
        model = LRNNModel(config)
        with torch.no_grad():
            for block in model.blocks:
                if hasattr(block.mixer, "b_proj"):
                    block.mixer.b_proj.bias.uniform_(-4.0, 4.0)
    return model.eval()


def family_of(model) -> tuple[str, tuple[int, int]]:
    """``(layer kind, eigenvalue range)`` of an ``LRNNModel``."""
    return model.config.layer, tuple(model.config.eigenvalue_range)


# ------------------------------------------------------------------------------------------------ transitions
def gh_affine(k: np.ndarray, v: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Affine form of ``n_h`` GH factors applied in order: ``k [..., n_h, K]``, ``v [..., n_h, V]``,
    ``beta [..., n_h]`` -> ``A [..., K, K]``, ``B [..., K, V]`` (float64) with ``S' = A S + B``."""
    K = k.shape[-1]
    A = np.broadcast_to(np.eye(K), k.shape[:-2] + (K, K)).copy()
    B = np.zeros(k.shape[:-2] + (K, v.shape[-1]))
    for j in range(k.shape[-2]):
        kj, vj, bj = k[..., j, :], v[..., j, :], beta[..., j]
        bk = bj[..., None] * kj
        # G = I - beta k k^T applied to A and to B
        A = A - bk[..., :, None] * np.einsum("...i,...ij->...j", kj, A)[..., None, :]
        B = B - bk[..., :, None] * np.einsum("...i,...ij->...j", kj, B)[..., None, :] + bk[..., :, None] * vj[..., None, :]
    return A, B


def _window_values(block, xw):
    """Mixer inputs of windows ``xw [M, w, d]``: the last token's transition ingredients (torch, float32).

    Householder mixer: ``q [M, H, K]``, ``k [M, H, n_h, K]``, ``v [M, H, n_h, V]``, ``beta [M, H, n_h]``.
    Diagonal mixer: ``q [M, H, K]``, ``k [M, H, K]``, ``v [M, H, V]``, ``a [M, H, K]``.
    The M windows run as one sequence with ``c - 1`` zero rows before each (the projections feeding the
    convolutions have no bias and RMS norm maps 0 to 0, so each window sees exactly the convolution's zero padding);
    one long depthwise convolution is much faster on the CPU than M short ones.
    """
    import torch

    mixer = block.mixer
    M, w, d = xw.shape
    c = conv_width(block)
    seq = torch.cat([xw.new_zeros(M, c - 1, d), xw], 1).reshape(1, M * (w + c - 1), d)
    last = torch.arange(M) * (w + c - 1) + (w + c - 2)  # each window's last token in the sequence
    u = block.norm1(seq)
    if hasattr(mixer, "num_householder"):
        n_h = mixer.num_householder
        q, k, v, beta = mixer.scan_inputs(u)
        rows = (last[:, None] * n_h + torch.arange(n_h)).reshape(-1)  # factor rows of each last token
        k = k[0, rows].reshape(M, n_h, *k.shape[2:]).transpose(1, 2)  # [M, H, n_h, K]
        v = v[0, rows].reshape(M, n_h, *v.shape[2:]).transpose(1, 2)
        beta = beta[0, rows].reshape(M, n_h, -1).transpose(1, 2)
        return {"q": q[0, last], "k": k, "v": v, "beta": beta, "u": u[0, last]}
    q, k, v, a = mixer.scan_inputs(u)
    return {"q": q[0, last], "k": k[0, last], "v": v[0, last], "a": a[0, last], "u": u[0, last]}


#: windows per torch call of :func:`window_transitions`, and rows per call of the block's output path: every call
#: has exactly this many (the last block is padded with copies of its first entry), so a value never depends on which
#: other windows or rows happened to be computed with it (CPU kernels may pick another summation order for another
#: batch size, and float32 would show it)
WINDOW_BLOCK = 1024
ROW_BLOCK = 4096


def _in_blocks(fn, x, block: int):
    """``fn`` on ``x [M, ...]`` in blocks of exactly ``block`` entries (padded); a dict of results ``[M, ...]``."""
    import torch

    M = x.shape[0]
    parts: dict = {}
    for i in range(0, M, block):
        chunk = x[i:i + block]
        n = chunk.shape[0]
        if n < block:
            chunk = torch.cat([chunk, chunk[:1].expand(block - n, *chunk.shape[1:])])
        for name, val in fn(chunk).items():
            parts.setdefault(name, []).append(val[:n])
    return {name: torch.cat(vals) for name, vals in parts.items()}


def _np(t) -> np.ndarray:
    import torch

    return t.detach().to(torch.float64).cpu().numpy()


def window_transitions(block, xw, stepper: Stepper) -> dict:
    """``A [M, H, K, K]``, ``B [M, H, K, V]`` (on the dtype grid, float64) and the read-out inputs for windows
    ``xw [M, w, d]`` of a block's input (the residual stream).

    The block computes in float32 (its weights already on the dtype grid); every value it hands on (``q, k, v, beta,
    a`` and the normalised input ``u``) is rounded to the run dtype, as a model running in that dtype stores them.
    """
    import torch

    run = getattr(torch, stepper.fmt.name)
    with torch.no_grad():
        vals = {name: t.to(run).float() for name, t in _in_blocks(lambda x: _window_values(block, x), xw.float(),
                                                                  WINDOW_BLOCK).items()}
    if "beta" in vals:
        A, B = gh_affine(_np(vals["k"]), _np(vals["v"]), _np(vals["beta"]))
    else:
        a, k, v = _np(vals["a"]), _np(vals["k"]), _np(vals["v"])
        A = a[..., :, None] * np.eye(a.shape[-1])
        B = k[..., :, None] * v[..., None, :]
    vals["A"], vals["B"] = stepper.grid(A), stepper.grid(B)
    return vals


def symbol_transitions(model, symbol: int, stepper: Stepper) -> tuple[np.ndarray, np.ndarray]:
    """First-layer ``A(x) [H, K, K]``, ``B(x) [H, K, V]`` for input symbol id ``x`` repeated past the warm-up."""
    import torch

    block = model.blocks[0].float()
    c = conv_width(block)
    with torch.no_grad():
        row = model.embedding.weight[int(symbol)]
        xw = row.view(1, 1, -1).expand(1, c, row.numel())
    vals = window_transitions(block, xw, stepper)
    return vals["A"][0], vals["B"][0]


def conv_width(block) -> int:
    mixer = block.mixer
    if not getattr(mixer, "use_short_conv", False):
        return 1
    conv = getattr(mixer, "q_conv", None) or mixer.x_conv
    return conv.kernel_size


# ------------------------------------------------------------------------------------------------ stages
class Interner:
    """Distinct keys -> consecutive ids (``ids[key]``), with the objects kept in ``items``."""

    def __init__(self) -> None:
        self.ids: dict = {}
        self.items: list = []
        self.keys: list = []

    def add(self, key, item=None) -> int:
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.items)
            self.items.append(item if item is not None else key)
            self.keys.append(key)
        return i


class StageRun:
    """A stage's run on ``T`` tokens: ``state_ids [T]`` (interned states after each token), ``memory [T]`` (ids of
    what the future depends on besides the states of other stages) and ``out_ids [T]`` (ids handed to the next stage,
    or the model's outputs for the last one) and ``steps [T]`` (the id of the transition applied at each token: the
    input symbol of a compiled layer, the input window of a block; see the stage's ``transition``)."""

    def __init__(self, state_ids: np.ndarray, memory: np.ndarray, out_ids: np.ndarray, steps: np.ndarray):
        self.state_ids, self.memory, self.out_ids, self.steps = state_ids, memory, out_ids, steps


class CompiledStage:
    """Layer ``l`` of a compiled model: per-symbol ``A_s``, ``b_s`` (on the grid), nearest-code decoding, ``next``."""

    def __init__(self, model, l: int, stepper: Stepper):
        from statetrack.constructions.model_format import layer_matrices

        A, b = layer_matrices(model, l)
        t = model.layer(l)
        self.A, self.b = stepper.grid(A), stepper.grid(b)[..., None]  # [S, n, n], [S, n, 1]
        self.codes = np.asarray(t["codes"], dtype=np.float64)
        self.next = np.asarray(t["next"], dtype=np.int64)
        self.stepper = stepper
        h0 = stepper.grid(np.asarray(t["h0"], dtype=np.float64))[:, None]
        self.states = Interner()
        self.states.add(h0.tobytes(), h0)
        self.memo: dict = {}
        self.code_of: dict = {}

    def transition(self, s: int) -> np.ndarray:
        """``A [1, n, n]`` (grid values) of input symbol ``s``."""
        return self.A[int(s)][None]

    def state(self, sid: int) -> np.ndarray:
        return self.states.items[sid][:, 0]

    def _code(self, sid: int) -> int:
        c = self.code_of.get(sid)
        if c is None:
            h = self.state(sid)
            c = int(np.argmin(((self.codes - h) ** 2).sum(1))) if np.isfinite(h).all() else 0
            self.code_of[sid] = c
        return c

    def run(self, sym: np.ndarray, progress=None) -> StageRun:
        T = sym.shape[0]
        sids = np.empty(T, dtype=np.int64)
        sid = 0
        memo, step = self.memo, self.stepper
        for t, s in enumerate(sym.tolist()):
            nxt = memo.get((sid, s))
            if nxt is None:
                H = step(self.A[s], self.states.items[sid], self.b[s])
                nxt = memo[(sid, s)] = self.states.add(H.tobytes(), H)
            sid = nxt
            sids[t] = sid
            if progress is not None and t % 65536 == 65535:
                progress.update(65536)
        codes = np.array([self._code(int(i)) for i in range(len(self.states.items))], dtype=np.int64)
        out = self.next[codes[sids], sym] if T else np.zeros(0, dtype=np.int64)
        return StageRun(sids, np.zeros(T, dtype=np.int64), out, np.asarray(sym, dtype=np.int64))


class WindowValues:
    """One window's values (``items[w][name]``: ``A``, ``B``, ``q``, ``u``, ``x``, ...) as a view into the arrays of
    the :func:`window_transitions` call that computed them (no per-window copies)."""

    __slots__ = ("_vals", "_i")

    def __init__(self, vals: dict, i: int):
        self._vals, self._i = vals, i

    def __getitem__(self, name: str):
        return self._vals[name][self._i]

    def keys(self):
        return self._vals.keys()


class BlockStage:
    """One residual block of an ``LRNNModel`` on a sequence of interned input rows.

    The block's weights lie on the run dtype's grid and it computes in float32; every value it hands on is rounded to
    the run dtype. The recurrence ``S_t = A_t S_{t-1} + B_t`` (state ``[H, K, V]``, starting at 0) follows the
    stepper's precision model; the read-out ``o_t`` is formed in float64 and rounded to the dtype.
    """

    def __init__(self, block, rows: Interner, stepper: Stepper):
        import torch

        self.block, self.rows_in, self.stepper = block, rows, stepper
        self.c = conv_width(block)
        mixer = block.mixer
        self.householder = hasattr(mixer, "num_householder")
        self.scale = mixer.head_dim ** -0.5 if self.householder else 1.0
        H = mixer.num_heads
        K = mixer.head_dim if self.householder else mixer.state_dim
        V = mixer.head_dim
        self.dtype = getattr(torch, stepper.fmt.name)  # the run dtype; the block itself computes in float32
        S0 = np.zeros((H, K, V))
        self.states = Interner()
        self.states.add(S0.tobytes(), S0)
        self.windows = Interner()  # tuple of input row ids -> id; items: dict of window values
        self.carry = Interner()  # tuple of the last c - 1 input row ids
        self.rows_out = Interner()  # bytes -> id; items: torch rows [d]
        self.memo: dict = {}
        self.out_of: dict = {}
        self._chunks: list = []  # (window ids, their values) per call of window_transitions
        self._tables: dict = {}  # name -> (windows covered, table); see window_table
        self._rows = None  # the input rows stacked (see _input_rows)
        self._torch = torch

    # ----------------------------------------------------------------------------------------- windows
    def _window_ids(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window ids ``[T]`` (the last ``c`` input row ids at each length, fewer at the start) and carry ids ``[T]``
        (the last ``c - 1``) of input row ids ``ids [T]``, interned; new windows get their transition values.

        Distinct windows are found with numpy (one sort of the ``[T, c]`` id rows); only those go through the
        interners, in order of first occurrence (the ids a token-by-token pass would give)."""
        c, T = self.c, ids.shape[0]
        if T == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        padded = np.concatenate([np.full(c - 1, -1, dtype=np.int64), np.asarray(ids, dtype=np.int64)])
        rows = np.lib.stride_tricks.sliding_window_view(padded, c)  # [T, c]; -1 before the first token
        uniq, first, inv = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        wid_u = np.empty(uniq.shape[0], dtype=np.int64)
        cid_u = np.empty(uniq.shape[0], dtype=np.int64)
        new: dict[int, list] = {}
        for j, row in zip(order.tolist(), uniq[order].tolist()):
            w = tuple(row) if row[0] >= 0 else tuple(r for r in row if r >= 0)  # -1 only pads the start
            n_before = len(self.windows.items)
            wid = self.windows.add(w, None)
            if wid == n_before:
                new.setdefault(len(w), []).append(wid)
            wid_u[j] = wid
            cid_u[j] = self.carry.add(w[1:] if len(w) == c else w)
        torch = self._torch
        for group in new.values():
            keys = np.array([self.windows.keys[w] for w in group], dtype=np.int64)  # [G, length]
            xw = self._input_rows()[torch.from_numpy(keys)]  # [G, length, d]
            vals = window_transitions(self.block, xw, self.stepper)
            vals["x"] = xw[:, -1]  # the residual: the window's last input row
            self._chunks.append((np.asarray(group, dtype=np.int64), vals))
            for i, w in enumerate(group):
                self.windows.items[w] = WindowValues(vals, i)
        inv = inv.reshape(-1)
        return wid_u[inv], cid_u[inv]

    # ----------------------------------------------------------------------------------------- outputs
    def _outputs(self, pairs: list[tuple[int, int]]) -> list[int]:
        """Block outputs (next layer's input rows) for (state id, window id) pairs, interned."""
        S = np.stack([self.states.items[s] for s, _ in pairs])  # [M, H, K, V]
        wids = [w for _, w in pairs]
        return self.outputs_of_readouts(self.readouts(S, wids), wids)

    def _input_rows(self):
        """Every interned input row stacked ``[R, d]`` (torch), extended when rows were added."""
        items = self.rows_in.items
        have = 0 if self._rows is None else self._rows.shape[0]
        if have < len(items):
            more = self._torch.stack(items[have:])
            self._rows = more if self._rows is None else self._torch.cat([self._rows, more])
        return self._rows

    def window_table(self, name: str):
        """One value of every window interned so far, stacked in window-id order: ``A [W, H, K, K]``, ``B [W, H, K,
        V]`` (numpy), ``q [W, H, K]`` (float64 numpy) or a torch value (``u``, ``x``, ``v``, ...; see
        :func:`window_transitions`); rebuilt only when windows were added."""
        n = len(self.windows.items)
        hit = self._tables.get(name)
        if hit is not None and hit[0] == n:
            return hit[1]
        ids = np.concatenate([c[0] for c in self._chunks])
        vals = [c[1][name] for c in self._chunks]
        if isinstance(vals[0], np.ndarray):
            tab = np.empty((n,) + vals[0].shape[1:], dtype=vals[0].dtype)
            tab[ids] = np.concatenate(vals)
        else:
            torch = self._torch
            cat = torch.cat(vals)
            tab = cat.new_empty((n,) + tuple(cat.shape[1:]))
            tab[torch.from_numpy(ids)] = cat
            if name == "q":
                tab = _np(tab)
        self._tables[name] = (n, tab)
        return tab

    def readouts(self, S: np.ndarray, wids) -> np.ndarray:
        """The read-outs ``o = scale S^T q`` of states ``S [M, H, K, V]`` in windows ``wids [M]``, formed in float64
        and rounded to the run dtype (``[M, H, V]`` float32 values). A block's output depends on its state only
        through this read-out."""
        q = self.window_table("q")[np.asarray(wids, dtype=np.int64)]  # [M, H, K]
        o = self.scale * np.einsum("mhkv,mhk->mhv", S, q)
        return self._torch.from_numpy(o).to(self.dtype).float().numpy()

    def outputs_of_readouts(self, o: np.ndarray, wids) -> list[int]:
        """Block outputs (interned next-layer rows) for read-outs ``o [M, H, V]`` (from :meth:`readouts`) in
        windows ``wids [M]``."""
        torch = self._torch
        idx = torch.from_numpy(np.asarray(wids, dtype=np.int64).reshape(-1))
        M = idx.shape[0]
        parts = [torch.from_numpy(np.ascontiguousarray(o)).float().reshape(M, -1),  # read-outs, already dtype values
                 self.window_table("u")[idx],  # the normalised input [M, d]
                 self.window_table("x")[idx]]  # the residual [M, d]
        if not self.householder:
            parts.append(self.window_table("v")[idx].reshape(M, -1))
        width = [p.shape[1] for p in parts]
        packed = torch.cat(parts, 1)
        x = _in_blocks(lambda z: {"x": self._block_output(z, width)}, packed, ROW_BLOCK)["x"]
        raw = (x.contiguous().view(torch.uint8) if x.dtype == torch.bfloat16 else x.contiguous()).numpy()
        raw = raw.reshape(M, -1)
        add, out = self.rows_out.add, []
        for i, r in enumerate(torch.unbind(x)):
            out.append(add(raw[i].tobytes(), r))  # the key: the row's bytes (as _np_bytes gives them)
        return out

    def _block_output(self, packed, width: list[int]):
        """The block's output rows ``[M, d]`` from packed ``(o, u, x[, v])`` rows (see :meth:`outputs_of_readouts`)."""
        torch = self._torch
        mixer, block = self.block.mixer, self.block
        M, H, V = packed.shape[0], mixer.num_heads, mixer.head_dim
        pieces = torch.split(packed, width, dim=1)
        o = pieces[0].reshape(M, 1, H, V)
        u, x = pieces[1][:, None], pieces[2][:, None]
        with torch.no_grad():
            if self.householder:
                y = mixer.output(o, u)
            else:
                v = pieces[3].reshape(M, 1, H, V)
                o = o + mixer.D * v
                o = mixer.o_norm(o, mixer.z_proj(u).view(M, 1, H, V))
                y = mixer.o_proj(o.reshape(M, 1, H * V))
            x = (x + y.to(self.dtype).float()).to(self.dtype).float()
            x = (x + block.mlp(block.norm2(x)).to(self.dtype).float()).to(self.dtype).float()
        return x[:, 0]

    def run(self, ids: np.ndarray, progress=None) -> StageRun:
        T = ids.shape[0]
        wids, cids = self._window_ids(ids)
        sids = np.empty(T, dtype=np.int64)
        sid = 0
        memo, step, states = self.memo, self.stepper, self.states
        for t, w in enumerate(wids.tolist()):
            nxt = memo.get((sid, w))
            if nxt is None:
                win = self.windows.items[w]
                H = step(win["A"], states.items[sid], win["B"])
                nxt = memo[(sid, w)] = states.add(H.tobytes(), H)
            sid = nxt
            sids[t] = sid
            if progress is not None and t % 65536 == 65535:
                progress.update(65536)
        base = 1 << 32
        pair_keys = sids * base + wids
        uniq, inv = np.unique(pair_keys, return_inverse=True)
        todo = [int(k) for k in uniq if int(k) not in self.out_of]
        if todo:
            for i in range(0, len(todo), 4096):
                chunk = todo[i:i + 4096]
                outs = self._outputs([(k // base, k % base) for k in chunk])
                self.out_of.update(zip(chunk, outs))
        out_u = np.array([self.out_of[int(k)] for k in uniq], dtype=np.int64)
        return StageRun(sids, cids, out_u[inv] if T else np.zeros(0, dtype=np.int64), wids)

    def transition(self, wid: int) -> np.ndarray:
        """``A [H, K, K]`` (grid values) applied for input window ``wid``."""
        return self.windows.items[int(wid)]["A"]


def _np_bytes(row) -> bytes:
    import torch

    return row.detach().contiguous().view(torch.uint8).numpy().tobytes() if row.dtype == torch.bfloat16 else \
        row.detach().contiguous().numpy().tobytes()


__all__ = ["FAMILIES", "RANGES", "MEMBER_DIMS", "parse_range", "range_name", "random_member", "family_of",
           "gh_affine", "window_transitions", "symbol_transitions", "conv_width", "Interner", "StageRun", "WindowValues",
           "CompiledStage", "BlockStage"]
