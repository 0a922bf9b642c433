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

from statetrack.errors import ModelFormatError, StatetrackError
from statetrack.vocabulary import GATES, LRNN_LAYER_TYPES
from statetrack.fileio import atomic_write_bytes
from statetrack.kernels import DIAGONAL_BACKENDS, HOUSEHOLDER_BACKENDS
from statetrack.untrusted import (expect_bool, expect_dict, expect_float, expect_int, expect_str, parse_json,
                                  read_safetensors_header)

from .layers import DeltaNetLayer, DeltaProductLayer, DiagonalLayer, _check_range

METADATA_KEY = "statetrack_lrnn"
FORMAT_VERSION = 1
#: most parameters an :class:`LRNNModel` may have (counted by formula before any tensor is allocated)
MAX_PARAMETERS = 1 << 28
#: per-field ranges of the integer fields of :class:`LRNNConfig` (inclusive)
CONFIG_INT_RANGES: dict[str, tuple[int, int]] = {
    "vocab_size": (1, 1 << 20), "n_classes": (1, 1 << 20), "d_model": (1, 1 << 16), "n_layers": (1, 1024),
    "num_heads": (1, 1024), "head_dim": (1, 1 << 14), "num_householder": (1, 64), "state_dim": (1, 1 << 14),
    "conv_size": (1, 64),
}


class ModelSizeError(StatetrackError, ValueError):
    """A model configuration whose parameter count is over :data:`MAX_PARAMETERS`."""


@dataclass
class LRNNConfig:
    """Hyper-parameters of :class:`LRNNModel` (all JSON-serialisable).

    ``layer``: ``deltanet`` | ``deltaproduct`` | ``diagonal``; ``eigenvalue_range``: ``(0, 1)`` or ``(-1, 1)``;
    ``state_dim`` is used by ``diagonal`` only, ``num_householder`` by ``deltaproduct`` only. ``gate``:
    ``sigmoid`` (the published parametrisation; files without the field load with it) or ``saturating`` (the
    ends of the gate are reachable exactly: :func:`statetrack.lrnn.layers.gate_unit`). ``dt_per_channel``
    (``diagonal`` only): a step size per state channel (Mamba-1) instead of one per head (Mamba-2, files without the
    field load with it).
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
    gate: str = "sigmoid"
    dt_per_channel: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # free-form (task name, alphabet, ...), saved verbatim

    def __post_init__(self) -> None:
        """Check every field's type and range (:data:`CONFIG_INT_RANGES`); bools are not integers here."""
        expect_str("LRNNConfig.layer", self.layer, LRNN_LAYER_TYPES, error=StatetrackError)
        for name, (lo, hi) in CONFIG_INT_RANGES.items():
            setattr(self, name, expect_int(f"LRNNConfig.{name}", getattr(self, name), lo, hi, error=StatetrackError))
        expect_bool("LRNNConfig.use_short_conv", self.use_short_conv, error=StatetrackError)
        expect_bool("LRNNConfig.dt_per_channel", self.dt_per_channel, error=StatetrackError)
        if self.dt_per_channel and self.layer != "diagonal":
            raise StatetrackError(f"LRNNConfig.dt_per_channel applies to diagonal layers, not {self.layer!r}")
        self.mlp_ratio = expect_float("LRNNConfig.mlp_ratio", self.mlp_ratio, 0.0, 64.0, error=StatetrackError)
        if self.mlp_ratio <= 0:
            raise StatetrackError(f"LRNNConfig.mlp_ratio must be > 0; got {self.mlp_ratio}")
        self.norm_eps = expect_float("LRNNConfig.norm_eps", self.norm_eps, 0.0, 1.0, error=StatetrackError)
        backends = DIAGONAL_BACKENDS if self.layer == "diagonal" else HOUSEHOLDER_BACKENDS
        expect_str("LRNNConfig.backend", self.backend, backends, error=StatetrackError)
        expect_dict("LRNNConfig.extra", self.extra, error=StatetrackError)
        expect_str("LRNNConfig.gate", self.gate, GATES, error=StatetrackError)
        if isinstance(self.eigenvalue_range, (str, bytes)) or isinstance(self.eigenvalue_range, bool):
            raise StatetrackError(f"eigenvalue_range must be (0, 1) or (-1, 1); got {self.eigenvalue_range!r}")
        self.eigenvalue_range = _check_range(self.eigenvalue_range)

    def num_parameters(self) -> int:
        """The parameter count of ``LRNNModel(self)``, by formula (nothing is built; checked against built models
        in the tests): embedding, ``n_layers`` blocks (two RMS norms, the mixer, the SwiGLU MLP), final norm, head."""
        d, H, cs = self.d_model, self.num_heads, self.conv_size
        hidden = max(1, int(round(d * self.mlp_ratio * 2 / 3)))
        if self.layer == "diagonal":
            K, V = self.state_dim, self.head_dim
            n_dt = H * K if self.dt_per_channel else H
            mixer = (2 * d * H * V + 2 * d * H * K + d * n_dt  # x, z, B, C, dt projections
                     + (H * V * cs if self.use_short_conv else 0)  # depthwise convolution of x
                     + n_dt + H * K + H * V  # dt_bias, A_log, D
                     + V + H * V * d)  # output norm, output projection
        else:
            K, n_h = self.head_dim, (1 if self.layer == "deltanet" else self.num_householder)
            mixer = (d * H * K + 2 * d * n_h * H * K + d * n_h * H + n_h * H  # q, k, v, beta projections
                     + ((H * K + 2 * n_h * H * K) * cs if self.use_short_conv else 0)  # convolutions of q, k, v
                     + d * H * K + K + H * K * d)  # gate projection, gated output norm, output projection
        block = 2 * d + mixer + 3 * d * hidden
        return self.vocab_size * d + self.n_layers * block + d + d * self.n_classes + self.n_classes

    def check_size(self, limit: int | None = None) -> int:
        """The parameter count; :class:`ModelSizeError` when it is over ``limit`` (default :data:`MAX_PARAMETERS`)."""
        limit = MAX_PARAMETERS if limit is None else limit
        count = self.num_parameters()
        if count > limit:
            raise ModelSizeError(f"LRNN config: {count} parameters, over the limit of {limit} (MAX_PARAMETERS); "
                                 f"d_model={self.d_model}, n_layers={self.n_layers}, num_heads={self.num_heads}, "
                                 f"head_dim={self.head_dim}")
        return count

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["eigenvalue_range"] = list(self.eigenvalue_range)
        return d

    @classmethod
    def from_json(cls, obj: Any) -> "LRNNConfig":
        """A config from its JSON object; every field's type and range is checked (:class:`ModelFormatError`)."""
        names = [f.name for f in dataclasses.fields(cls)]
        expect_dict("LRNN config", obj, required=("vocab_size",), allowed=names, error=ModelFormatError)
        obj = dict(obj)
        if "eigenvalue_range" in obj:
            rng = obj["eigenvalue_range"]
            if not isinstance(rng, list) or len(rng) != 2:
                raise ModelFormatError(f"LRNN config: eigenvalue_range must be [0, 1] or [-1, 1]; got {rng!r:.60}")
            obj["eigenvalue_range"] = tuple(rng)
        try:
            return cls(**obj)
        except StatetrackError as exc:
            raise ModelFormatError(f"LRNN config: {exc}") from None


def make_mixer(cfg: LRNNConfig) -> nn.Module:
    """The token mixer of one block as configured."""
    common = dict(eigenvalue_range=cfg.eigenvalue_range, use_short_conv=cfg.use_short_conv,
                  conv_size=cfg.conv_size, backend=cfg.backend, norm_eps=cfg.norm_eps, gate=cfg.gate)
    if cfg.layer == "deltanet":
        return DeltaNetLayer(cfg.d_model, cfg.num_heads, cfg.head_dim, **common)
    if cfg.layer == "deltaproduct":
        return DeltaProductLayer(cfg.d_model, cfg.num_heads, cfg.head_dim, num_householder=cfg.num_householder,
                                 **common)
    return DiagonalLayer(cfg.d_model, cfg.num_heads, cfg.head_dim, state_dim=cfg.state_dim,
                         dt_per_channel=cfg.dt_per_channel, **common)


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
        """Raises :class:`ModelSizeError` before allocating anything when the model would have more than
        :data:`MAX_PARAMETERS` parameters."""
        config.check_size()
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
    path = os.fspath(path)
    cfg = read_config(path)
    model = LRNNModel(cfg)  # refuses an oversized config before allocating
    expected = {k: v.shape for k, v in model.state_dict().items()}
    header = read_safetensors_header(path, error=ModelFormatError)
    declared = {k: v for k, v in header.items() if k != "__metadata__"}
    missing, unexpected = sorted(set(expected) - set(declared)), sorted(set(declared) - set(expected))
    if missing or unexpected:
        raise ModelFormatError(f"{path}: missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}")
    for name, entry in declared.items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or [int(x) if isinstance(x, int) else -1 for x in shape] != list(expected[name]):
            raise ModelFormatError(f"{path}: tensor {name} has shape {shape!r:.60}, expected {tuple(expected[name])}")
        if entry.get("dtype") not in _FLOAT_DTYPES:
            raise ModelFormatError(f"{path}: tensor {name} has dtype {entry.get('dtype')!r:.20}, expected one of "
                                   f"{', '.join(_FLOAT_DTYPES)}")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="pt", device=str(map_location)) as f:
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise ModelFormatError(f"{path}: not a readable safetensors file ({str(exc)[:200]})") from None
    model.load_state_dict(tensors)
    return model.to(map_location)


_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")


def read_config(path: "str | os.PathLike") -> LRNNConfig:
    """The validated :class:`LRNNConfig` of a trained-model file, from its safetensors header alone (no tensor is
    read or allocated). :class:`ModelFormatError` names the file for a foreign, malformed or oversized header."""
    path = os.fspath(path)
    header = read_safetensors_header(path, error=ModelFormatError)
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or not isinstance(meta.get(METADATA_KEY), str):
        raise ModelFormatError(f"{path}: no '{METADATA_KEY}' entry in the safetensors header (not an LRNN model)")
    info = parse_json(meta[METADATA_KEY], f"{path}: '{METADATA_KEY}' header", error=ModelFormatError)
    expect_dict(f"{path}: '{METADATA_KEY}' header", info, required=("format_version", "config"),
                error=ModelFormatError)
    version = info["format_version"]
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise ModelFormatError(f"{path}: LRNN format version {version!r:.40}, this statetrack reads {FORMAT_VERSION}")
    try:
        return LRNNConfig.from_json(info["config"])
    except ModelFormatError as exc:
        raise ModelFormatError(f"{path}: {exc}") from None


__all__ = ["LRNNConfig", "LRNNModel", "Block", "MLP", "make_mixer", "save_model", "load_model", "read_config",
           "LRNN_LAYER_TYPES", "MAX_PARAMETERS", "ModelSizeError"]
