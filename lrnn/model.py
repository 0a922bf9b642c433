"""A stack of LRNN layers for per-token classification, with safetensors + JSON persistence.

``LRNNModel(config)``: token embedding -> ``n_layers`` pre-norm residual blocks
(``x + mixer(norm(x))`` then ``x + mlp(norm(x))``) -> final RMS norm -> linear head. ``forward(ids [B, T])``
returns logits ``[B, T, n_classes]`` (one prediction per prefix, e.g. accept/reject or the DFA state).

Weights are saved as one safetensors file whose header metadata holds the config as JSON under
``"statetrack_lrnn"`` (no pickle anywhere); :func:`load_model` rebuilds the model from that file alone.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from statetrack.fileio import atomic_write_bytes
from statetrack.errors import ModelFormatError, StatetrackError
from statetrack.vocabulary import LRNN_LAYER_TYPES

from .layers import DeltaNetLayer, DeltaProductLayer, DiagonalLayer, _check_range

METADATA_KEY = "statetrack_lrnn"
FORMAT_VERSION = 1


@dataclass
class LRNNConfig:
    """Hyper-parameters of :class:`LRNNModel` (all JSON-serialisable).

    ``layer``: ``deltanet`` | ``deltaproduct`` | ``diagonal``; ``eigenvalue_range``: ``(0, 1)`` or ``(-1, 1)``;
    ``state_dim`` is used by ``diagonal`` only, ``num_householder`` by ``deltaproduct`` only.
    """

    vocab_size: int
    n_classes: int = 2
    d_model: int = 64
    n_layers: int = 2
    layer: str = "deltaproduct"
    num_heads: int = 2
    head_dim: int = 32
    num_householder: int = 2
    eigenvalue_range: tuple[int, int] = (-1, 1)
    state_dim: int = 16
    use_short_conv: bool = True
    conv_size: int = 4
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-5
    backend: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)  # free-form (task name, alphabet, ...), saved verbatim

    def __post_init__(self) -> None:
        if self.layer not in LRNN_LAYER_TYPES:
            raise StatetrackError(f"LRNNConfig.layer must be one of {', '.join(LRNN_LAYER_TYPES)}; "
                                  f"got {self.layer!r}")
        for name in ("vocab_size", "n_classes", "d_model", "n_layers", "num_heads", "head_dim", "num_householder",
                     "state_dim", "conv_size"):
            if int(getattr(self, name)) < 1:
                raise StatetrackError(f"LRNNConfig.{name} must be >= 1; got {getattr(self, name)!r}")
        self.eigenvalue_range = _check_range(self.eigenvalue_range)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["eigenvalue_range"] = list(self.eigenvalue_range)
        return d

    @classmethod
    def from_json(cls, obj: dict) -> "LRNNConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - names)
        if unknown:
            raise ModelFormatError(f"LRNN config: unknown field(s) {', '.join(unknown)}")
        obj = dict(obj)
        if "eigenvalue_range" in obj:
            obj["eigenvalue_range"] = tuple(obj["eigenvalue_range"])
        try:
            return cls(**obj)
        except TypeError as exc:
            raise ModelFormatError(f"LRNN config: {exc}") from None


def make_mixer(cfg: LRNNConfig) -> nn.Module:
    """The token mixer of one block as configured."""
    common = dict(eigenvalue_range=cfg.eigenvalue_range, use_short_conv=cfg.use_short_conv,
                  conv_size=cfg.conv_size, backend=cfg.backend, norm_eps=cfg.norm_eps)
    if cfg.layer == "deltanet":
        return DeltaNetLayer(cfg.d_model, cfg.num_heads, cfg.head_dim, **common)
    if cfg.layer == "deltaproduct":
        return DeltaProductLayer(cfg.d_model, cfg.num_heads, cfg.head_dim, num_householder=cfg.num_householder,
                                 **common)
    return DiagonalLayer(cfg.d_model, cfg.num_heads, cfg.head_dim, state_dim=cfg.state_dim, **common)


class MLP(nn.Module):
    """SwiGLU feed-forward ``[B, T, d] -> [B, T, d]`` with hidden width ``mlp_ratio * d`` (times 2/3, as Llama), or
    ``hidden`` when given (checkpoints of other libraries)."""

    def __init__(self, d_model: int, mlp_ratio: float = 4.0, hidden: int | None = None):
        super().__init__()
        hidden = int(hidden) if hidden is not None else max(1, int(round(d_model * mlp_ratio * 2 / 3)))
        self.gate_up = nn.Linear(d_model, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, u = self.gate_up(x).chunk(2, dim=-1)
        return self.down(nn.functional.silu(g) * u)


class Block(nn.Module):
    """Pre-norm residual block: ``x + mixer(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, cfg: LRNNConfig):
        super().__init__()
        self.norm1 = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mixer = make_mixer(cfg)
        self.norm2 = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp = MLP(cfg.d_model, cfg.mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class LRNNModel(nn.Module):
    """Embedding -> blocks -> norm -> head. ``forward(ids LongTensor[B, T]) -> logits [B, T, n_classes]``."""

    def __init__(self, config: LRNNConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        self.head = nn.Linear(config.d_model, config.n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2:
            raise StatetrackError(f"LRNNModel: ids must be [B, T]; got shape {tuple(ids.shape)}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size):
            raise StatetrackError(f"LRNNModel: token ids must lie in [0, {self.config.vocab_size}); "
                                  f"got {int(ids.min())}..{int(ids.max())}")
        x = self.embedding(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save(self, path: "str | os.PathLike") -> None:
        """Write weights + config to one safetensors file, atomically."""
        save_model(self, path)


def save_model(model: LRNNModel, path: "str | os.PathLike") -> None:
    """Weights (float tensors, contiguous copies on CPU) + config JSON in the safetensors header, written atomically."""
    from safetensors.torch import save

    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    meta = {METADATA_KEY: json.dumps({"format_version": FORMAT_VERSION, "config": model.config.to_json()},
                                     sort_keys=True)}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def load_model(path: "str | os.PathLike", map_location: str | torch.device = "cpu") -> LRNNModel:
    """Rebuild an :class:`LRNNModel` from a file written by :func:`save_model`.

    Raises :class:`ModelFormatError` naming the file for a missing/foreign header, an unknown version, or
    missing/unexpected/mis-shaped tensors.
    """
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    try:
        with safe_open(path, framework="pt", device=str(map_location)) as f:
            header = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise ModelFormatError(f"{path}: not a readable safetensors file ({exc})") from None
    if METADATA_KEY not in header:
        raise ModelFormatError(f"{path}: no '{METADATA_KEY}' entry in the safetensors header (not an LRNN model)")
    try:
        meta = json.loads(header[METADATA_KEY])
        version, cfg = meta["format_version"], meta["config"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFormatError(f"{path}: malformed '{METADATA_KEY}' header ({exc})") from None
    if version != FORMAT_VERSION:
        raise ModelFormatError(f"{path}: LRNN format version {version!r}, this statetrack reads {FORMAT_VERSION}")
    model = LRNNModel(LRNNConfig.from_json(cfg))
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFormatError(f"{path}: missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}")
    for name, t in tensors.items():
        if t.shape != expected[name].shape:
            raise ModelFormatError(f"{path}: tensor {name} has shape {tuple(t.shape)}, "
                                   f"expected {tuple(expected[name].shape)}")
    model.load_state_dict(tensors)
    return model.to(map_location)


__all__ = ["LRNNConfig", "LRNNModel", "Block", "MLP", "make_mixer", "save_model", "load_model", "LRNN_LAYER_TYPES"]
