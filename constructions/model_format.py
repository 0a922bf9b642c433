"""The compiled-model format (docs/model-format.md): one safetensors file with a JSON header entry ``"statetrack"``.

Metadata (``CompiledModel.meta``): ``format_version`` (1), ``construction``, ``alphabet``, ``dfa`` (the DFA JSON; its
``states`` order gives the state ids), ``dfa_sha256`` and ``layers``, one object per layer with ``kind``
(``householder`` | ``dense`` | ``diagonal``), ``n`` (state size), ``symbols`` (S_l), ``factors`` (F_l, 0 for
non-householder layers) and ``codes`` (C_l); optionally ``exact`` (an exact description of irrational entries, see
:mod:`statetrack.constructions.verify_exact`) and ``note``.

Tensors (``CompiledModel.tensors``), for layer ``l``:

* householder: ``layers.l.keys [S, F, n]``, ``layers.l.betas [S, F]``, ``layers.l.values [S, F]``
* dense: ``layers.l.matrices [S, n, n]``, ``layers.l.bias [S, n]``; diagonal: ``layers.l.diag [S, n]``,
  ``layers.l.bias [S, n]``
* every kind: ``layers.l.h0 [n]``, ``layers.l.codes [C, n]``, ``layers.l.next [C, S]`` (int64).
* optional, with ``"conv": 2`` in the layer's meta: ``layers.l.conv [R + 1, R]`` (int64), a width-2 causal
  convolution in front of the layer: its input symbol at time t is ``conv[r_{t-1}, r_t]`` of the raw symbols ``r``
  handed up from below (``r_0 = R``, the start row).

Real tensors are stored as float64: every integer and every dyadic rational of the constructions is exact in
float64, so the file loses nothing and the exact verifier can read the weights as the rationals they are; a runner
casts them to its run dtype. One step of layer ``l`` on input symbol ``s``: apply the factors of ``s`` in order,
``h <- (I - beta k k^T) h + beta k v``, then decode ``c = argmin ||h - codes[c]||`` and hand ``next[c, s]`` to layer
``l + 1`` (post-transition coupling: the code *after* this step's update); the last layer's ``next`` is the DFA state.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from statetrack.fileio import atomic_write_bytes
from statetrack.automata.dfa import DFA
from statetrack.errors import ModelFormatError, StatetrackError
from statetrack.vocabulary import COMPILED_LAYER_KINDS
from statetrack.untrusted import (MAX_HEADER_BYTES, expect_dict, expect_int, expect_str, expect_str_list, parse_json,
                                  read_bytes)

FORMAT_VERSION = 1
#: the tensors of each layer kind besides the common ``h0``, ``codes``, ``next``
KIND_TENSORS = {"householder": ("keys", "betas", "values"), "dense": ("matrices", "bias"), "diagonal": ("diag", "bias")}
COMMON_TENSORS = ("h0", "codes", "next")
#: integer tensors (all others are float64)
INT_TENSORS = ("next", "conv")
META_KEY = "statetrack"
#: most layers a compiled model may declare
MAX_LAYERS = 256


class ConstructionNotApplicable(StatetrackError):
    """A construction was asked for a language it does not cover; the message says why."""


@dataclass
class CompiledModel:
    """A compiled model: ``meta`` (the JSON object above) and ``tensors`` (name -> numpy array)."""

    meta: dict
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        return len(self.meta["layers"])

    @property
    def construction(self) -> str:
        return str(self.meta["construction"])

    def layer(self, l: int) -> dict[str, np.ndarray]:
        """The arrays of layer ``l`` under their short names (``keys``, ``betas``, ``values``, ``h0``, ...)."""
        if not 0 <= l < self.num_layers:
            raise StatetrackError(f"layer {l} out of range (the model has {self.num_layers})")
        prefix = f"layers.{l}."
        return {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    def dfa(self) -> DFA:
        """The DFA of the metadata (state ids in its ``states`` order)."""
        return _dfa_of(self.meta)

    def validate(self) -> "CompiledModel":
        """Raise :class:`ModelFormatError` unless the model is well-formed; returns ``self``."""
        validate_model(self)
        return self


def breadth_first_states(dfa: DFA) -> list[int]:
    """The states reachable from the start, in breadth-first order (start first, letters in order): the order of a
    one-layer model's codes."""
    order, seen = [dfa.start], {dfa.start}
    for q in order:
        for a in range(dfa.n_symbols):
            t = int(dfa.delta[q, a])
            if t >= 0 and t not in seen:
                seen.add(t)
                order.append(t)
    return order


def build_model(dfa: DFA, construction: str, layers: list[tuple[dict, dict[str, np.ndarray]]],
                extra: dict | None = None) -> CompiledModel:
    """Assemble and validate a model from per-layer ``(layer meta, arrays by short name)`` pairs.

    The sizes ``n``, ``symbols``, ``factors``, ``codes`` of each layer's meta are filled in from the arrays.
    """
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "construction": construction,
        "alphabet": list(dfa.alphabet),
        "dfa": dfa.to_json(),
        "dfa_sha256": dfa.sha256(),
        "layers": [],
    }
    tensors: dict[str, np.ndarray] = {}
    for l, (lmeta, arrays) in enumerate(layers):
        kind = lmeta["kind"]
        nxt = np.asarray(arrays["next"], dtype=np.int64)
        codes = np.asarray(arrays["codes"], dtype=np.float64)
        info = dict(lmeta)
        info.update(n=int(codes.shape[1]), symbols=int(nxt.shape[1]), codes=int(codes.shape[0]),
                    factors=int(np.asarray(arrays["keys"]).shape[1]) if kind == "householder" else 0)
        meta["layers"].append(info)
        for name in KIND_TENSORS[kind] + COMMON_TENSORS + (("conv",) if "conv" in arrays else ()):
            dt = np.int64 if name in INT_TENSORS else np.float64
            tensors[f"layers.{l}.{name}"] = np.ascontiguousarray(arrays[name], dtype=dt)
        if "conv" in arrays:
            info.setdefault("conv", 2)
    if extra:
        meta.update(extra)
    return CompiledModel(meta, tensors).validate()


# ---------------------------------------------------------------------------------------------------- validation
def _dfa_of(meta: dict) -> DFA:
    try:
        return DFA.from_json(meta["dfa"])
    except StatetrackError as exc:
        raise ModelFormatError(f"compiled model: metadata 'dfa' is not a valid DFA: {exc}") from None


def validate_model(model: CompiledModel) -> None:
    """Check version, DFA hash, layer list, tensor names, shapes, dtypes, finiteness and index ranges."""
    meta, tensors = model.meta, model.tensors
    if not isinstance(meta, dict):
        raise ModelFormatError("compiled model: metadata is not a JSON object")
    if not isinstance(tensors, dict):
        raise ModelFormatError("compiled model: tensors must be a dict of arrays")
    for key in ("format_version", "construction", "alphabet", "dfa", "dfa_sha256", "layers"):
        if key not in meta:
            raise ModelFormatError(f"compiled model: metadata lacks {key!r}")
    version = meta["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        raise ModelFormatError(f"compiled model: format_version {version!r} is not supported "
                               f"(this statetrack reads version {FORMAT_VERSION})")
    expect_str("compiled model: 'construction'", meta["construction"], max_len=200, error=ModelFormatError)
    alphabet = expect_str_list("compiled model: 'alphabet'", meta["alphabet"], error=ModelFormatError)
    expect_dict("compiled model: 'dfa'", meta["dfa"], error=ModelFormatError)
    expect_str("compiled model: 'dfa_sha256'", meta["dfa_sha256"], error=ModelFormatError)
    for key in ("note",):
        if key in meta:
            expect_str(f"compiled model: {key!r}", meta[key], error=ModelFormatError)
    dfa = _dfa_of(meta)
    if dfa.sha256() != meta["dfa_sha256"]:
        raise ModelFormatError("compiled model: dfa_sha256 does not match the DFA in the metadata (tampered file?)")
    if alphabet != list(dfa.alphabet):
        raise ModelFormatError("compiled model: 'alphabet' differs from the DFA's alphabet")
    if not dfa.is_complete:
        raise ModelFormatError("compiled model: the DFA of the metadata must be complete")
    layers = meta["layers"]
    if not isinstance(layers, list) or not layers:
        raise ModelFormatError("compiled model: 'layers' must be a non-empty list")
    if len(layers) > MAX_LAYERS:
        raise ModelFormatError(f"compiled model: {len(layers)} layers, over the limit of {MAX_LAYERS} (MAX_LAYERS)")
    expected: set[str] = set()
    raws: list[int] = []  # per layer: how many raw symbols it reads (S_l, or R_l through a convolution)
    for l, info in enumerate(layers):
        where = f"compiled model: layer {l}"
        if not isinstance(info, dict) or info.get("kind") not in COMPILED_LAYER_KINDS:
            raise ModelFormatError(f"{where}: 'kind' must be one of {', '.join(COMPILED_LAYER_KINDS)}; got "
                                   f"{info.get('kind') if isinstance(info, dict) else info!r}")
        kind = info["kind"]
        for key in ("n", "symbols", "factors", "codes"):
            if key not in info:
                raise ModelFormatError(f"{where}: lacks {key!r}")
            expect_int(f"{where}: {key!r}", info[key], 0, error=ModelFormatError)
        n, S, F, C = info["n"], info["symbols"], info["factors"], info["codes"]
        if n < 1 or C < 1 or S < 1:
            raise ModelFormatError(f"{where}: needs n >= 1, at least one symbol and at least one code")
        shapes = {"h0": (n,), "codes": (C, n), "next": (C, S)}
        if kind == "householder":
            shapes.update(keys=(S, F, n), betas=(S, F), values=(S, F))
        elif kind == "dense":
            shapes.update(matrices=(S, n, n), bias=(S, n))
        else:
            shapes.update(diag=(S, n), bias=(S, n))
        conv_key = f"layers.{l}.conv"
        if info.get("conv") is not None or conv_key in tensors:
            if isinstance(info.get("conv"), bool) or info.get("conv") != 2:
                raise ModelFormatError(f"{where}: 'conv' must be 2 (a width-2 causal convolution) when "
                                       f"{conv_key} is present")
            arr = tensors.get(conv_key)
            if arr is None:
                raise ModelFormatError(f"compiled model: tensor {conv_key} is missing")
            if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[1] < 1 or arr.shape[0] != arr.shape[1] + 1:
                raise ModelFormatError(f"compiled model: tensor {conv_key} has shape "
                                       f"{tuple(getattr(arr, 'shape', ()))}, expected (R + 1, R)")
            shapes["conv"] = tuple(arr.shape)
            raws.append(int(arr.shape[1]))
        else:
            raws.append(S)
        for name, shape in shapes.items():
            key = f"layers.{l}.{name}"
            expected.add(key)
            if key not in tensors:
                raise ModelFormatError(f"compiled model: tensor {key} is missing")
            arr = tensors[key]
            if not isinstance(arr, np.ndarray) or tuple(arr.shape) != shape:
                got = tuple(getattr(arr, "shape", ()))
                raise ModelFormatError(f"compiled model: tensor {key} has shape {got}, expected {shape}")
            want = np.int64 if name in INT_TENSORS else np.float64
            if arr.dtype != want:
                raise ModelFormatError(f"compiled model: tensor {key} has dtype {arr.dtype}, expected {np.dtype(want)}")
            if want == np.float64 and not np.isfinite(arr).all():
                raise ModelFormatError(f"compiled model: tensor {key} has non-finite entries")
        codes = tensors[f"layers.{l}.codes"]
        if np.unique(codes, axis=0).shape[0] != C:
            raise ModelFormatError(f"compiled model: layers.{l}.codes has duplicate rows (ambiguous decoder)")
        if "conv" in shapes:
            _check_range(tensors[conv_key], S, f"layers.{l}.conv", f"symbol of layer {l}")
        if "exact" in info and not isinstance(info["exact"], dict):
            raise ModelFormatError(f"{where}: 'exact' must be an object")
    if raws[0] != dfa.n_symbols:
        raise ModelFormatError(f"compiled model: layer 0 reads {raws[0]} symbols but the alphabet has "
                               f"{dfa.n_symbols}")
    for l in range(len(layers)):
        last = l == len(layers) - 1
        bound = dfa.n_states if last else raws[l + 1]
        _check_range(tensors[f"layers.{l}.next"], bound, f"layers.{l}.next",
                     "DFA state" if last else f"input symbol of layer {l + 1}")
    extra = sorted(set(tensors) - expected)
    if extra:
        raise ModelFormatError(f"compiled model: unexpected tensor {extra[0]}")


def _check_range(table: np.ndarray, bound: int, name: str, what: str) -> None:
    bad = (table < 0) | (table >= bound)
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise ModelFormatError(f"compiled model: {name}[{i}, {j}] = {int(table[i, j])} is not a {what} id "
                               f"in [0, {bound})")


# ---------------------------------------------------------------------------------------------------- file I/O
def model_to_bytes(model: CompiledModel) -> bytes:
    """The safetensors bytes of ``model`` (validated first)."""
    from safetensors.numpy import save

    validate_model(model)
    text = json.dumps(model.meta, sort_keys=True, separators=(",", ":"))
    return save({k: np.ascontiguousarray(v) for k, v in model.tensors.items()}, metadata={META_KEY: text})


def save_model(model: CompiledModel, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` atomically (safetensors + JSON metadata)."""
    atomic_write_bytes(path, model_to_bytes(model))


def model_from_bytes(data: bytes, where: str = "compiled model") -> CompiledModel:
    """Parse and validate safetensors bytes; any defect is a :class:`ModelFormatError` naming ``where``."""
    from safetensors.numpy import load

    if len(data) < 8:
        raise ModelFormatError(f"{where}: not a safetensors file (too short)")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > len(data) - 8:
        raise ModelFormatError(f"{where}: not a safetensors file (header length {hlen} beyond the end)")
    if hlen > MAX_HEADER_BYTES:
        raise ModelFormatError(f"{where}: safetensors header of {hlen} bytes, over the limit of {MAX_HEADER_BYTES} "
                               "(MAX_HEADER_BYTES)")
    header = parse_json(data[8:8 + hlen], f"{where}: safetensors header", error=ModelFormatError)
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__"), dict) \
            or not isinstance(header["__metadata__"].get(META_KEY), str):
        raise ModelFormatError(f"{where}: no statetrack metadata in the safetensors header "
                               f"(expected __metadata__.{META_KEY}, a JSON text)")
    meta = parse_json(header["__metadata__"][META_KEY], f"{where}: metadata", error=ModelFormatError)
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error types for a damaged body
        raise ModelFormatError(f"{where}: damaged safetensors body ({str(exc)[:200]})") from None
    model = CompiledModel(meta, dict(tensors))
    try:
        validate_model(model)
    except ModelFormatError as exc:
        raise ModelFormatError(str(exc).replace("compiled model", where, 1)) from None
    return model


def load_model(path: str | os.PathLike) -> CompiledModel:
    """Read and validate a compiled-model file (a regular file within ``FILE_LIMITS["model"]``)."""
    data = read_bytes(path, "model", error=ModelFormatError)
    return model_from_bytes(data, where=f"compiled model {os.fspath(path)}")


# ---------------------------------------------------------------------------------------------------- summaries
def layer_matrices(model: CompiledModel, l: int) -> tuple[np.ndarray, np.ndarray]:
    """Float64 transition matrices ``A [S, n, n]`` and offsets ``b [S, n]`` of layer ``l`` (``h <- A_s h + b_s``)."""
    info = model.meta["layers"][l]
    t = model.layer(l)
    kind = info["kind"]
    if kind == "dense":
        return t["matrices"].copy(), t["bias"].copy()
    if kind == "diagonal":
        return np.stack([np.diag(d) for d in t["diag"]]), t["bias"].copy()
    S, F, n = t["keys"].shape
    A = np.tile(np.eye(n), (S, 1, 1))
    b = np.zeros((S, n))
    for f in range(F):
        k, beta, v = t["keys"][:, f], t["betas"][:, f], t["values"][:, f]
        bk = beta[:, None] * k
        A = A - bk[:, :, None] * np.einsum("si,sij->sj", k, A)[:, None, :]
        b = b - bk * np.einsum("si,si->s", k, b)[:, None] + bk * v[:, None]
    return A, b


def _householder_products(keys: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """``A [S, n, n]``: the product of each symbol's factors ``keys [S, F, n]``, ``betas [S, F]`` (factor 0 first)."""
    S, F, n = keys.shape
    A = np.tile(np.eye(n), (S, 1, 1))
    for f in range(F):
        k, bk = keys[:, f], betas[:, f, None] * keys[:, f]
        A = A - bk[:, :, None] * np.einsum("si,sij->sj", k, A)[:, None, :]
    return A


def active_factors(model: CompiledModel, l: int) -> np.ndarray:
    """Per symbol, the number of non-identity factors (``beta != 0`` and ``k != 0``) of a householder layer."""
    t = model.layer(l)
    if "keys" not in t:
        return np.zeros(model.meta["layers"][l]["symbols"], dtype=np.int64)
    live = (t["betas"] != 0) & (np.abs(t["keys"]).sum(-1) > 0)
    return live.sum(-1)


def _distinct_rows(flat: np.ndarray) -> np.ndarray:
    """Indices of one row per distinct byte pattern of ``flat [S, C]`` (a void view sorts rows by memcmp, much faster
    than ``np.unique(axis=0)``; rows equal as values but not as bytes, e.g. ``-0.0``, both stay, which only repeats
    a matrix)."""
    if flat.shape[1] == 0:
        return np.arange(min(flat.shape[0], 1))
    flat = np.ascontiguousarray(flat)
    _, first = np.unique(flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel(),
                         return_index=True)
    return first


def summarize(model: CompiledModel) -> dict:
    """The compile report fields: ``construction``, ``layers``, ``dims``, ``factors`` (per layer, the most non-identity
    factors of any symbol), ``codes``, ``eigenvalue_range`` (over the factors of householder layers, or the
    eigenvalues of the other layers' matrices), ``max_norm`` (largest spectral norm of a per-symbol transition)."""
    from .householder import factor_eigenvalues

    eig: list[float] = []
    norms: list[float] = []
    for l, info in enumerate(model.meta["layers"]):
        t = model.layer(l)
        if info["kind"] == "householder" and info["factors"]:
            live = (t["betas"] != 0) & (np.abs(t["keys"]).sum(-1) > 0)
            ev = factor_eigenvalues(t["keys"], t["betas"])[live]
            eig += [float(ev.min()), float(ev.max())] if ev.size else [1.0]
            if info["n"] >= 2:  # a GH factor on n >= 2 dims also has the eigenvalue 1 (n - 1 times)
                eig.append(1.0)
        elif info["kind"] != "householder":
            A, _ = layer_matrices(model, l)
            ev = np.linalg.eigvals(A)
            eig += [float(ev.real.min()), float(ev.real.max())]
        if info["kind"] == "householder":  # symbols with the same factors share one matrix: each formed once
            S = t["keys"].shape[0]
            first = _distinct_rows(np.concatenate([t["keys"].reshape(S, -1), t["betas"]], axis=1))
            A = _householder_products(t["keys"][first], t["betas"][first])
        else:
            A, _ = layer_matrices(model, l)
        norms.append(float(np.linalg.norm(A, ord=2, axis=(1, 2)).max()))
    return {
        "construction": model.construction,
        "layers": model.num_layers,
        "dims": [info["n"] for info in model.meta["layers"]],
        "factors": [int(active_factors(model, l).max(initial=0)) for l in range(model.num_layers)],
        "codes": [info["codes"] for info in model.meta["layers"]],
        "eigenvalue_range": [round(min(eig), 12), round(max(eig), 12)] if eig else [1.0, 1.0],
        "max_norm": round(max(norms), 12),
    }


__all__ = [
    "FORMAT_VERSION", "CompiledModel", "ConstructionNotApplicable", "build_model", "validate_model", "save_model", "load_model",
    "model_to_bytes", "model_from_bytes", "layer_matrices", "active_factors", "summarize",
]
