"""Run a compiled model (docs/model-format.md) on the statetrack kernels, in a chosen kernel and dtype.

Per layer l (input symbols ``s_t`` in ``[0, S_l)``, state ``h in R^{n_l}``):

- ``householder``: symbol s applies its ``F_l`` factors in order, ``h <- (I - beta k k^T) h + beta k v``
  (``keys [S_l, F_l, n_l]``, ``betas [S_l, F_l]``, ``values [S_l, F_l]``), starting from ``h0``. This is exactly
  :func:`statetrack.kernels.householder_scan` with value width d = V = 1 and ``num_householder = F_l``: the kernel's
  state ``[K = n_l, V = 1]`` is h, and the factors of token t are the rows ``t*F_l .. t*F_l + F_l - 1`` of k, v, beta
  (gathered by symbol id).
  *Reading every state.* The kernel only returns ``o_t = scale * S_t^T q_t``, one number per head when V = 1. We run
  ``n_l`` identical heads (the same keys, betas, values and initial state in each) and give head i the query
  ``q = e_i`` with ``scale = 1``: head i's output is coordinate i of ``h_t``, exactly (a product with a one-hot vector
  adds no rounding). The cost is ``n_l`` times one head, which is small for the small state sizes of constructions.
- ``diagonal``: ``h <- diag(d_s) h + bias_s`` through :func:`statetrack.kernels.diagonal_scan` with ``n_l`` heads of
  one channel each (K = V = 1, q = v = 1, k = bias, a = diag): head i's output is ``h_t[i]``.
- ``dense``: ``h <- M_s h + bias_s``, a plain sequential loop of matrix-vector products (no kernel applies).

After the update at time t the decoder picks the nearest code ``c_t = argmin_c ||h_t - codes[c]||`` and hands
``next_l[c_t, s_t]`` to layer l + 1 as its symbol at time t (post-transition coupling); the last layer's ``next`` gives
the DFA state id. The drift is the largest ``||h_t - codes[c_t]||`` over all layers and tokens.

Precision convention (the kernels' own): the weights (keys, betas, values, h0, matrices) are rounded to the run
``dtype``; the kernels accumulate in float32 (float64 for a float64 run) and return outputs rounded to ``dtype``; the
decoder measures those outputs in float64. Long inputs are processed in time segments whose final states (in the
accumulation dtype, never rounded) seed the next segment, so segmenting does not change the recurrence.
"""
from __future__ import annotations

import os
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from statetrack.constructions.model_format import CompiledModel, load_model, validate_model
from statetrack.errors import AlphabetError, StatetrackError
from statetrack.vocabulary import DEFAULT_KERNEL, DIAGONAL_KERNELS, FLOAT_DTYPES, HOUSEHOLDER_KERNELS, TORCH_DTYPE_NAMES

from ..kernels import diagonal_scan, householder_scan

#: backends of the Householder scan that this module runs on (the vocabulary's list)
KERNELS = HOUSEHOLDER_KERNELS
#: dtype names (canonical and short) -> torch dtypes
DTYPES = {name: getattr(torch, canonical) for name, canonical in TORCH_DTYPE_NAMES.items()}
# elements of the largest per-segment tensor (gathered keys [B, T_seg * F, n, n], code distances [B, T_seg, C])
_SEGMENT_ELEMENTS = 1 << 24


def resolve_dtype(dtype: "torch.dtype | str") -> torch.dtype:
    """``torch.float32`` or a name (``float32``, ``bfloat16``, ``fp16``, ...) -> a floating torch dtype."""
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise StatetrackError(f"dtype must be a floating type; got {dtype}")
        return dtype
    try:
        return DTYPES[str(dtype).lower().replace("torch.", "")]
    except KeyError:
        raise StatetrackError(f"unknown dtype {dtype!r}; choose one of {', '.join(FLOAT_DTYPES)}") from None


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _load(model: Any) -> CompiledModel:
    """A validated CompiledModel from a CompiledModel (or any object with ``meta`` and ``tensors``) or a path to a
    compiled-model file. Every check of the format is :func:`statetrack.constructions.model_format.validate_model`'s."""
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    if not (hasattr(model, "meta") and hasattr(model, "tensors")):
        raise StatetrackError(f"CompiledLRNN needs a CompiledModel or a path; got {type(model).__name__}")
    cm = model if isinstance(model, CompiledModel) else CompiledModel(model.meta, model.tensors)
    validate_model(cm)
    return cm


class CompiledLRNN(nn.Module):
    """A compiled model as an ``nn.Module`` running on the statetrack kernels.

    Args:
        model: a ``CompiledModel`` (``meta`` dict and ``tensors`` dict of numpy arrays, docs/model-format.md) or the
            path of a compiled-model file.
        kernel: backend of the Householder scan: ``auto`` (default; chunked on a CPU, Triton on a GPU) |
            ``reference`` | ``chunked`` | ``triton``. Diagonal layers use the same backend when the diagonal scan has
            it, else ``auto``; dense layers use a plain loop.
        dtype: the run dtype (``torch.float32``, ``"bfloat16"``, ...).
        segment_len: tokens per kernel call (rounded to a multiple of 64); default: as many as keep each gathered
            key tensor under 2^24 elements.
        progress: show a tqdm bar over the segments.

    ``run_states(ids [B, T]) -> (dfa_states [B, T] int64, drift float)``; ``forward(ids) -> accept [B, T] bool``
    (the DFA's accepting flag of the state after each prefix). Move to a GPU with ``.to("cuda")``.
    """

    #: layers read through a width-2 causal convolution (``layers.l.conv``) are run
    supports_conv = True

    def __init__(self, model: Any, kernel: str = DEFAULT_KERNEL, dtype: "torch.dtype | str" = torch.float32,
                 segment_len: int | None = None, progress: bool = False):
        super().__init__()
        if kernel not in KERNELS:
            raise StatetrackError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
        self.kernel = kernel
        self.dtype = resolve_dtype(dtype)
        self.acc_dtype = _accumulation_dtype(self.dtype)
        self.segment_len = segment_len
        self.progress = progress
        cm = _load(model)
        self.meta = cm.meta
        layers = cm.meta["layers"]
        self.kinds: list[str] = []
        self.sizes: list[tuple[int, int, int, int]] = []  # (S_l symbols, F_l factors, n_l, C_l codes)
        for l, info in enumerate(layers):
            self._add_layer(l, info, cm.tensors)
        conv0 = self.conv0
        self.n_symbols = conv0.shape[1] if conv0 is not None else self.sizes[0][0]
        #: the DFA of the model (state ids in its ``states`` order)
        self.dfa = cm.dfa()
        self.register_buffer("accepting", torch.from_numpy(np.array(self.dfa.accepting, dtype=bool)))

    # -------------------------------------------------------------------------------------------- construction
    def _add_layer(self, l: int, info: dict, tensors: dict) -> None:
        """Register layer ``l``'s tensors as buffers (weights in the run dtype, codes in float64); the shapes and index
        ranges were checked by ``validate_model``."""
        kind = info["kind"]

        def get(name: str) -> torch.Tensor:
            return torch.from_numpy(np.array(tensors[f"layers.{l}.{name}"]))

        h0, codes, nxt = get("h0"), get("codes"), get("next").long()
        n, (C, S) = h0.numel(), nxt.shape
        conv_key = f"layers.{l}.conv"
        self.register_buffer(f"conv{l}", get("conv").long() if conv_key in tensors else None)
        run = self.dtype
        F = 0
        if kind == "householder":
            keys = get("keys")
            F = keys.shape[1]
            self.register_buffer(f"keys{l}", keys.to(run))
            self.register_buffer(f"betas{l}", get("betas").to(run))
            self.register_buffer(f"values{l}", get("values").to(run))
        elif kind == "dense":
            self.register_buffer(f"matrices{l}", get("matrices").to(run))
            self.register_buffer(f"bias{l}", get("bias").to(run))
        else:
            self.register_buffer(f"diag{l}", get("diag").to(run))
            self.register_buffer(f"bias{l}", get("bias").to(run))
        self.register_buffer(f"h0{l}", h0.to(run))
        self.register_buffer(f"codes{l}", codes.to(torch.float64))
        self.register_buffer(f"codes_sq{l}", (codes.to(torch.float64) ** 2).sum(-1))
        self.register_buffer(f"next{l}", nxt)
        self.kinds.append(kind)
        self.sizes.append((S, F, n, C))

    @property
    def num_layers(self) -> int:
        return len(self.kinds)

    # ------------------------------------------------------------------------------------------------ running
    def _segment(self, B: int, T: int) -> int:
        if self.segment_len is not None:
            return max(64, (int(self.segment_len) + 63) // 64 * 64)
        widest = max(max(max(F, 1) * n * n, C) for (_, F, n, C) in self.sizes)  # gathered keys; code distances
        seg = _SEGMENT_ELEMENTS // max(1, B * widest)
        return max(64, min(seg // 64 * 64, (T + 63) // 64 * 64))

    def _initial_state(self, l: int, B: int) -> torch.Tensor:
        """Layer l's state at time 0 in the layout its runner carries between segments."""
        h0 = getattr(self, f"h0{l}").to(self.acc_dtype)
        n = h0.numel()
        if self.kinds[l] == "householder":  # n identical heads, [B, H = n, K = n, V = 1]
            return h0.view(1, 1, n, 1).expand(B, n, n, 1).contiguous()
        if self.kinds[l] == "diagonal":  # n heads of one channel, [B, H = n, K = 1, V = 1]
            return h0.view(1, n, 1, 1).expand(B, n, 1, 1).contiguous()
        return h0.view(1, n).expand(B, n).contiguous()

    def _householder(self, l: int, sym: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States ``h [B, T, n]`` (run dtype) of layer l on symbols ``sym [B, T]``, and the final state."""
        B, T = sym.shape
        _, F, n, _ = self.sizes[l]
        if F == 0:  # every symbol is the identity
            h = state[:, 0, :, 0].to(self.dtype)
            return h[:, None, :].expand(B, T, n), state
        keys, betas, values = getattr(self, f"keys{l}"), getattr(self, f"betas{l}"), getattr(self, f"values{l}")
        k = keys[sym].reshape(B, T * F, 1, n).expand(B, T * F, n, n).contiguous()
        beta = betas[sym].reshape(B, T * F, 1).expand(B, T * F, n).contiguous()
        v = values[sym].reshape(B, T * F, 1, 1).expand(B, T * F, n, 1).contiguous()
        q = torch.eye(n, dtype=self.dtype, device=sym.device).expand(B, T, n, n).contiguous()
        o, final = householder_scan(q, k, v, beta, num_householder=F, scale=1.0, initial_state=state,
                                    output_final_state=True, backend=self.kernel)
        return o[..., 0], final

    def _diagonal(self, l: int, sym: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T = sym.shape
        n = self.sizes[l][2]
        a = getattr(self, f"diag{l}")[sym].view(B, T, n, 1)
        k = getattr(self, f"bias{l}")[sym].view(B, T, n, 1)
        ones = torch.ones(B, T, n, 1, dtype=self.dtype, device=sym.device)
        backend = self.kernel if self.kernel in DIAGONAL_KERNELS else DEFAULT_KERNEL
        o, final = diagonal_scan(ones, k, ones, a, scale=1.0, initial_state=state, output_final_state=True,
                                  backend=backend)
        return o[..., 0], final

    def _dense(self, l: int, sym: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mats = getattr(self, f"matrices{l}").to(self.acc_dtype)
        bias = getattr(self, f"bias{l}").to(self.acc_dtype)
        h, out = state, []
        for t in range(sym.shape[1]):
            s = sym[:, t]
            h = torch.einsum("bij,bj->bi", mats[s], h) + bias[s]
            out.append(h)
        hs = torch.stack(out, 1) if out else h.new_zeros(sym.shape[0], 0, h.shape[-1])
        return hs.to(self.dtype), h

    def _decode(self, l: int, h: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Nearest codes ``[B, T]`` of states ``h [B, T, n]`` and the largest distance to them (float64)."""
        codes, codes_sq = getattr(self, f"codes{l}"), getattr(self, f"codes_sq{l}")
        hf = h.to(torch.float64)
        d2 = codes_sq - 2.0 * hf @ codes.T  # + ||h||^2, the same for every code
        c = d2.argmin(-1)
        if not torch.isfinite(hf).all():
            return c, float("inf")
        drift = float((hf - codes[c]).norm(dim=-1).max()) if c.numel() else 0.0
        return c, drift

    def _run(self, ids: torch.Tensor, collect: bool = False):
        ids = self._check_ids(ids)
        B, T = ids.shape
        device = self.accepting.device
        ids = ids.to(device)
        states = [self._initial_state(l, B).to(device) for l in range(self.num_layers)]
        out = torch.empty(B, T, dtype=torch.long, device=device)
        per_layer: list[list[torch.Tensor]] = [[] for _ in range(self.num_layers)]
        drift = 0.0
        seg = self._segment(B, T)
        starts = range(0, T, seg)
        if self.progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"CompiledLRNN {self.kernel}/{str(self.dtype).replace('torch.', '')}",
                          unit="seg")
        runners = {"householder": self._householder, "diagonal": self._diagonal, "dense": self._dense}
        # last raw symbol seen by each convolution layer (the start row R before the first token)
        prev_raw = [None if getattr(self, f"conv{l}") is None else
                    torch.full((B, 1), getattr(self, f"conv{l}").shape[1], dtype=torch.long, device=device)
                    for l in range(self.num_layers)]
        with torch.no_grad():
            for t0 in starts:
                sym = ids[:, t0:t0 + seg]
                for l, kind in enumerate(self.kinds):
                    conv = getattr(self, f"conv{l}")
                    if conv is not None:
                        raw = sym
                        sym = conv[torch.cat([prev_raw[l], raw[:, :-1]], 1), raw]
                        prev_raw[l] = raw[:, -1:]
                    h, states[l] = runners[kind](l, sym, states[l])
                    c, d = self._decode(l, h)
                    drift = max(drift, d)
                    if collect:
                        per_layer[l].append(h)
                    sym = getattr(self, f"next{l}")[c, sym]
                out[:, t0:t0 + seg] = sym
        if collect:
            return out, drift, [torch.cat(x, 1) if x else None for x in per_layer]
        return out, drift

    def _check_ids(self, ids: Any) -> torch.Tensor:
        ids = torch.as_tensor(ids)
        if ids.dim() != 2:
            raise StatetrackError(f"CompiledLRNN: ids must be [B, T]; got shape {tuple(ids.shape)}")
        if ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise StatetrackError(f"CompiledLRNN: ids must be integer symbol ids; got {ids.dtype}")
        ids = ids.long()
        if ids.numel():
            bad = (ids < 0) | (ids >= self.n_symbols)
            if bool(bad.any()):
                b, t = (int(x) for x in bad.nonzero()[0])
                raise AlphabetError(f"CompiledLRNN: symbol id {int(ids[b, t])} at word {b}, position {t} is outside "
                                    f"the alphabet [0, {self.n_symbols})")
        return ids

    def run_states(self, ids: torch.Tensor) -> tuple[torch.Tensor, float]:
        """``ids [B, T]`` (symbol ids of the DFA's alphabet) -> ``(DFA state ids [B, T] after each prefix, drift)``."""
        return self._run(ids)

    def layer_states(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """The raw states ``[B, T, n_l]`` (run dtype) of every layer, for inspection."""
        return self._run(ids, collect=True)[2]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids [B, T] -> accept [B, T]`` bool: does the prefix ending at t lie in the language?"""
        states, _ = self._run(ids)
        return self.accepting[states]

    def extra_repr(self) -> str:
        dims = ", ".join(f"{k}(S={S}, F={F}, n={n}, C={C})" for k, (S, F, n, C) in zip(self.kinds, self.sizes))
        return f"kernel={self.kernel}, dtype={self.dtype}, layers=[{dims}]"


class Tracked(NamedTuple):
    """Output of :class:`StateTracker`: ``states [B, T]`` (int64 DFA state ids, ``states`` order of the model's DFA,
    after each prefix) and ``accept [B, T]`` (bool: is the prefix ending at t in the language?)."""

    states: torch.Tensor
    accept: torch.Tensor


class StateTracker(nn.Module):
    """A compiled model as a module that maps token ids to DFA states and acceptance (the front door's module).

    ``forward(ids [B, T] int) -> Tracked(states [B, T] int64, accept [B, T] bool)``; :meth:`encode` turns words of
    the DFA's alphabet into ids; ``drift`` is the largest distance of a layer state from its code in the last call.
    The computation is :class:`CompiledLRNN`'s (``self.runner``), on the kernel and in the dtype given.
    """

    def __init__(self, model: Any, kernel: str = DEFAULT_KERNEL, dtype: "torch.dtype | str" = torch.float32):
        super().__init__()
        self.runner = CompiledLRNN(model, kernel=kernel, dtype=dtype)
        self.dfa = self.runner.dfa
        self.drift = 0.0

    def encode(self, words: "Sequence[str | Sequence[str]]", sep: str | None = None) -> torch.Tensor:
        """Words (strings of one-character symbols, or symbol sequences; ``sep`` splits strings of longer symbols)
        of one common length -> ids ``[B, T]`` int64."""
        if isinstance(words, str):
            raise StatetrackError("words must be a list of words, not one string")
        rows = [self.dfa.encode(w, sep=sep) for w in words]
        lengths = sorted({len(r) for r in rows})
        if len(lengths) > 1:
            raise StatetrackError(f"words must have one common length to form a batch; got lengths {lengths}")
        T = lengths[0] if lengths else 0
        return torch.from_numpy(np.stack(rows) if rows else np.zeros((0, T), dtype=np.int64))

    def forward(self, ids: torch.Tensor) -> Tracked:
        states, self.drift = self.runner.run_states(ids)
        return Tracked(states, self.runner.accepting[states])

    def extra_repr(self) -> str:
        return f"alphabet={list(self.dfa.alphabet)}, states={self.dfa.n_states}"


__all__ = ["CompiledLRNN", "StateTracker", "Tracked", "resolve_dtype", "KERNELS", "DTYPES"]
