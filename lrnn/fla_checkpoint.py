"""flash-linear-attention checkpoints as statetrack models.

Researchers train DeltaNet and (Gated) DeltaProduct models with flash-linear-attention (fla) and save them in the
Hugging Face layout: a folder with ``config.json`` (``model_type`` ``delta_net`` or ``gated_deltaproduct``) and
``model.safetensors``. :func:`load_fla_checkpoint` reads such a folder without importing fla or transformers and
without the network, validates the config and every tensor's name and shape before anything is allocated, and
returns an :class:`FlaLRNN`: the same network built from statetrack's own layers
(:class:`~statetrack.lrnn.layers.DeltaProductLayer`, the SwiGLU :class:`~statetrack.lrnn.model.MLP`, RMS norms), so
that it runs on the CPU through statetrack's kernels and the analyses (evaluation, extraction, spectra, claims) can
study it.

fla semantics reproduced (fla 0.6; see docs/fla.md):

- block: ``x + attn(attn_norm(x))`` then ``x + mlp(mlp_norm(x))``; final RMS norm; ``lm_head`` without bias (tied to
  the embedding when ``tie_word_embeddings``);
- mixer: q/k/v projections, depthwise causal short convolutions with SiLU (or SiLU without convolutions), per-head
  L2-normalised q and k, ``beta = sigmoid(b_proj(x))`` times 2 when ``allow_neg_eigval`` (eigenvalues in [-1, 1]),
  ``num_householder`` factors per token (keys and values laid out token-major, ``(t n) h d``), the kernel scale
  ``head_k_dim ** -0.5``, a per-head RMS norm of the output (times ``silu(g_proj(x))`` with an output gate),
  ``o_proj``.

Not supported (refused with a message naming the option): the forget gate of Gated DeltaProduct
(``use_forget_gate``: a scalar decay per token that statetrack's Householder kernels do not carry), ``use_beta:
false``, query/key activations other than SiLU, ``qk_norm`` other than ``l2``, grouped value heads
(``num_v_heads != num_heads``), hybrid attention layers (``attn``) and attention residuals (``attnres_block_size``).
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from statetrack.errors import ModelFormatError
from statetrack.untrusted import expect_dict, parse_json, read_text

from .layers import DeltaProductLayer
from .model import MLP

#: the fla model types read here
FLA_MODEL_TYPES = ("delta_net", "gated_deltaproduct")
#: the epsilon of fla's L2 norm of queries and keys (``x / sqrt(|x|^2 + eps)``)
FLA_L2_EPS = 1e-6
#: largest model built from a checkpoint (parameters), checked on the meta device before any allocation
MAX_PARAMETERS = 1_000_000_000
#: largest value of any size field of the config (width, heads, layers, vocabulary, ...)
MAX_DIM = 1 << 20

# Config keys that Hugging Face's PretrainedConfig writes and that do not change what the network computes.
_HF_KEYS = frozenset({
    "architectures", "transformers_version", "dtype", "torch_dtype", "bos_token_id", "eos_token_id", "pad_token_id",
    "use_cache", "initializer_range", "max_position_embeddings", "output_hidden_states", "output_attentions",
    "return_dict", "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id", "problem_type",
    "_name_or_path", "model_type", "tie_word_embeddings", "fuse_norm", "fuse_swiglu", "fuse_cross_entropy",
    "fuse_linear_cross_entropy", "use_l2warp", "attn_mode", "hidden_act", "tokenizer_class", "prefix",
    "sep_token_id", "decoder_start_token_id", "task_specific_params", "finetuning_task", "tf_legacy_loss",
    "use_bfloat16", "pruned_heads", "add_cross_attention", "cross_attention_hidden_size", "is_decoder",
    "output_scores", "return_dict_in_generate", "vocab_size", "hidden_size", "num_hidden_layers", "num_heads",
    "norm_eps", "hidden_ratio", "intermediate_size", "conv_size", "use_short_conv", "allow_neg_eigval", "attn",
    "attnres_block_size",
})
_DELTANET_KEYS = frozenset({"expand_k", "expand_v", "use_beta", "use_gate", "use_output_norm", "qk_activation",
                            "qk_norm", "conv_bias"})
_GDP_KEYS = frozenset({"head_dim", "expand_v", "num_v_heads", "use_output_gate", "use_forget_gate",
                       "num_householder", "conv_bias"})


@dataclass(frozen=True)
class FlaSpec:
    """What an fla config says about the network, validated (sizes are per head unless named otherwise)."""

    model_type: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    head_k_dim: int
    head_v_dim: int
    num_householder: int
    allow_neg_eigval: bool
    use_short_conv: bool
    conv_size: int
    use_output_gate: bool
    norm_eps: float
    tie_word_embeddings: bool

    @property
    def eigenvalue_range(self) -> tuple[int, int]:
        """``(-1, 1)`` with ``allow_neg_eigval`` (beta in (0, 2)), else ``(0, 1)``."""
        return (-1, 1) if self.allow_neg_eigval else (0, 1)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["eigenvalue_range"] = list(self.eigenvalue_range)
        return d


def is_fla_checkpoint(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding a ``config.json`` whose ``model_type`` is an fla type read here."""
    cfg = Path(path) / "config.json"
    if not Path(path).is_dir() or not cfg.is_file():
        return False
    try:
        return _read_json(cfg).get("model_type") in FLA_MODEL_TYPES
    except ModelFormatError:
        return False


def _read_json(path: Path) -> dict[str, Any]:
    """A config file through the untrusted-input reader (regular files only, size and nesting bounded, no NaN;
    docs/security.md): a JSON object, or a ModelFormatError naming the file."""
    obj = parse_json(read_text(path, "json", error=ModelFormatError), str(path), error=ModelFormatError)
    return dict(expect_dict(str(path), obj, error=ModelFormatError))


def _int(cfg: dict, key: str, default: Any = None, lo: int = 1, hi: int = MAX_DIM) -> int:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ModelFormatError(f"config field {key!r} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _bool(cfg: dict, key: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise ModelFormatError(f"config field {key!r} must be true or false, got {value!r}")
    return value


def _float(cfg: dict, key: str, default: float, lo: float, hi: float) -> float:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (lo <= float(value) <= hi):
        raise ModelFormatError(f"config field {key!r} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _require(cfg: dict, key: str, allowed: tuple, default: Any) -> None:
    value = cfg.get(key, default)
    if value not in allowed:
        raise ModelFormatError(f"config field {key!r} = {value!r} is not supported (supported: "
                               f"{', '.join(map(repr, allowed))}); see docs/fla.md")


def _whole(x: float, what: str) -> int:
    if not math.isclose(x, round(x)) or round(x) < 1:
        raise ModelFormatError(f"{what} = {x} is not a positive integer")
    return int(round(x))


def read_fla_config(path: str | os.PathLike) -> FlaSpec:
    """Validate ``config.json`` of an fla checkpoint folder (or the file itself) and return its :class:`FlaSpec`.

    Raises ModelFormatError naming the field for an unknown model type, an unknown field, a value out of range or an
    option statetrack does not reproduce.
    """
    p = Path(path)
    cfg_path = p / "config.json" if p.is_dir() else p
    cfg = _read_json(cfg_path)
    mt = cfg.get("model_type")
    if mt not in FLA_MODEL_TYPES:
        raise ModelFormatError(f"{cfg_path}: model_type {mt!r} is not an fla model read here "
                               f"({', '.join(FLA_MODEL_TYPES)})")
    known = _HF_KEYS | (_DELTANET_KEYS if mt == "delta_net" else _GDP_KEYS)
    unknown = sorted(k for k in cfg if k not in known)
    if unknown:
        raise ModelFormatError(f"{cfg_path}: unknown config field(s) {', '.join(unknown)}: this statetrack does not "
                               "know what they change (see docs/fla.md for the supported fla versions)")
    try:
        return _spec(cfg, mt)
    except ModelFormatError as exc:
        raise ModelFormatError(f"{cfg_path}: {exc}") from None


def _spec(cfg: dict, mt: str) -> FlaSpec:
    _require(cfg, "attn", (None,), None)
    _require(cfg, "attnres_block_size", (None,), None)
    _require(cfg, "hidden_act", ("swish", "silu"), "swish")
    d = _int(cfg, "hidden_size")
    heads = _int(cfg, "num_heads")
    if mt == "delta_net":
        _require(cfg, "qk_activation", ("silu",), "silu")
        _require(cfg, "qk_norm", ("l2",), "l2")
        _require(cfg, "use_beta", (True,), True)
        _require(cfg, "use_output_norm", (True,), True)
        _require(cfg, "conv_bias", (False,), False)
        key_dim = _whole(d * _float(cfg, "expand_k", 1.0, 0.0, 64.0), "hidden_size * expand_k")
        value_dim = _whole(d * _float(cfg, "expand_v", 1.0, 0.0, 64.0), "hidden_size * expand_v")
        if key_dim % heads or value_dim % heads:
            raise ModelFormatError(f"key/value widths {key_dim}/{value_dim} are not divisible by num_heads={heads}")
        hk, hv, n_h = key_dim // heads, value_dim // heads, 1
        gate = _bool(cfg, "use_gate", False)
    else:
        _require(cfg, "use_forget_gate", (False,), True)
        _require(cfg, "conv_bias", (False,), False)
        if cfg.get("num_v_heads") not in (None, heads):
            raise ModelFormatError(f"config field 'num_v_heads' = {cfg.get('num_v_heads')!r} is not supported "
                                   f"(grouped value heads); only num_v_heads = num_heads")
        hk = _int(cfg, "head_dim", 256)
        hv = _whole(hk * _float(cfg, "expand_v", 2.0, 0.0, 64.0), "head_dim * expand_v")
        n_h = _int(cfg, "num_householder", 2, 1, 64)
        gate = _bool(cfg, "use_output_gate", True)
    return FlaSpec(model_type=mt, vocab_size=_int(cfg, "vocab_size"), hidden_size=d,
                   num_layers=_int(cfg, "num_hidden_layers", None, 1, 4096), num_heads=heads, head_k_dim=hk,
                   head_v_dim=hv, num_householder=n_h, allow_neg_eigval=_bool(cfg, "allow_neg_eigval", False),
                   use_short_conv=_bool(cfg, "use_short_conv", True), conv_size=_int(cfg, "conv_size", 4, 1, 64),
                   use_output_gate=gate, norm_eps=_float(cfg, "norm_eps", 1e-6, 0.0, 1.0),
                   tie_word_embeddings=_bool(cfg, "tie_word_embeddings", False))


@dataclass(frozen=True)
class FlaModelConfig:
    """The fields of statetrack's :class:`~statetrack.lrnn.model.LRNNConfig` that the analyses read (family,
    eigenvalue range, vocabulary, depth), for an fla model. ``extra["alphabet"]`` is None: symbols are token ids."""

    layer: str
    eigenvalue_range: tuple[int, int]
    vocab_size: int
    n_layers: int
    num_householder: int
    extra: dict = field(default_factory=lambda: {"alphabet": None, "source": "flash-linear-attention"})


class FlaBlock(nn.Module):
    """fla's pre-norm block: ``x + mixer(attn_norm(x))``, then ``x + mlp(mlp_norm(x))``."""

    def __init__(self, spec: FlaSpec, mlp_hidden: int, backend: str):
        super().__init__()
        self.norm1 = nn.RMSNorm(spec.hidden_size, eps=spec.norm_eps)
        self.mixer = DeltaProductLayer(
            spec.hidden_size, spec.num_heads, spec.head_k_dim, num_householder=spec.num_householder,
            eigenvalue_range=spec.eigenvalue_range, use_short_conv=spec.use_short_conv, conv_size=spec.conv_size,
            use_output_gate=spec.use_output_gate, backend=backend, norm_eps=spec.norm_eps,
            value_dim=spec.head_v_dim, beta_bias=False, qk_silu=True, qk_norm_eps=FLA_L2_EPS)
        self.norm2 = nn.RMSNorm(spec.hidden_size, eps=spec.norm_eps)
        self.mlp = MLP(spec.hidden_size, hidden=mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class FlaLRNN(nn.Module):
    """An fla language model on statetrack's layers. ``forward(ids LongTensor[B, T]) -> logits [B, T, vocab]``.

    ``blocks[i].mixer`` is a :class:`~statetrack.lrnn.layers.DeltaProductLayer`, as in statetrack's own
    :class:`~statetrack.lrnn.model.LRNNModel`, so the spectra and claims tools read its transitions the same way.
    """

    def __init__(self, spec: FlaSpec, mlp_hidden: int, backend: str = "auto"):
        super().__init__()
        self.spec = spec
        self.embedding = nn.Embedding(spec.vocab_size, spec.hidden_size)
        self.blocks = nn.ModuleList(FlaBlock(spec, mlp_hidden, backend) for _ in range(spec.num_layers))
        self.norm = nn.RMSNorm(spec.hidden_size, eps=spec.norm_eps)
        self.head = nn.Linear(spec.hidden_size, spec.vocab_size, bias=False)

    @property
    def config(self) -> FlaModelConfig:
        """Family, eigenvalue range, vocabulary and depth, as the claims and spectra tools read them."""
        layer = "deltanet" if self.spec.num_householder == 1 else "deltaproduct"
        return FlaModelConfig(layer, self.spec.eigenvalue_range, self.embedding.num_embeddings, self.spec.num_layers,
                              self.spec.num_householder)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """The head's input ``[B, T, hidden_size]`` (after the final norm) for ``ids [B, T]``."""
        if ids.dim() != 2:
            raise ModelFormatError(f"FlaLRNN: ids must be [B, T]; got shape {tuple(ids.shape)}")
        vocab = self.embedding.num_embeddings
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
            raise ModelFormatError(f"FlaLRNN: token ids must lie in [0, {vocab}); "
                                   f"got {int(ids.min())}..{int(ids.max())}")
        x = self.embedding(ids)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids))

    def restricted(self, token_ids: list[int], class_token_ids: list[int]) -> "FlaLRNN":
        """A copy that reads symbol ids ``0..S-1`` (symbol ``i`` is token ``token_ids[i]``; id ``S`` is padding) and
        whose logits are those of ``class_token_ids`` only: the form statetrack's evaluation and extraction read
        (``[B, T] -> [B, T, len(class_token_ids)]``). The embedding and head are copies of those rows; every other
        weight is the same."""
        import copy

        vocab = self.spec.vocab_size
        for t in [*token_ids, *class_token_ids]:
            if not 0 <= t < vocab:
                raise ModelFormatError(f"token id {t} is outside the checkpoint's vocabulary [0, {vocab})")
        out = copy.deepcopy(self)
        w = self.embedding.weight.detach()
        rows = torch.cat([w[torch.tensor(token_ids)], torch.zeros_like(w[:1])])  # padding: a zero row
        out.embedding = nn.Embedding.from_pretrained(rows.clone(), freeze=False)
        head = nn.Linear(self.spec.hidden_size, len(class_token_ids), bias=False).to(w.dtype)
        head.weight.data.copy_(self.head.weight.detach()[torch.tensor(class_token_ids)])
        out.head = head
        return out


def _fla_names(spec: FlaSpec, i: int) -> dict[str, str]:
    """statetrack parameter name -> fla tensor name, for block ``i``."""
    a, b = f"model.layers.{i}.attn.", f"blocks.{i}.mixer."
    names = {f"blocks.{i}.norm1.weight": f"model.layers.{i}.attn_norm.weight",
             f"blocks.{i}.norm2.weight": f"model.layers.{i}.mlp_norm.weight",
             f"blocks.{i}.mlp.down.weight": f"model.layers.{i}.mlp.down_proj.weight"}
    for proj in ("q_proj", "k_proj", "v_proj", "b_proj", "o_proj"):
        names[b + proj + ".weight"] = a + proj + ".weight"
    if spec.use_short_conv:
        for x in "qkv":
            names[b + f"{x}_conv.conv.weight"] = a + f"{x}_conv1d.weight"
    if spec.use_output_gate:
        names[b + "g_proj.weight"] = a + "g_proj.weight"
        names[b + "o_norm.norm.weight"] = a + "o_norm.weight"
    else:
        names[b + "o_norm.weight"] = a + "o_norm.weight"
    return names


def load_fla_checkpoint(path: str | os.PathLike, backend: str = "auto",
                        dtype: torch.dtype = torch.float32) -> FlaLRNN:
    """Build the :class:`FlaLRNN` of an fla checkpoint folder (``config.json`` + ``model.safetensors``).

    Every tensor name and shape is checked against the network the config describes, and the parameter count
    against :data:`MAX_PARAMETERS`, before any weight is read. Raises ModelFormatError naming the file and tensor.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelFormatError(f"{folder}: an fla checkpoint is a folder with config.json and model.safetensors")
    spec = read_fla_config(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelFormatError(f"{weights}: missing (sharded checkpoints are not read; save with "
                               "save_pretrained(..., max_shard_size larger than the model))")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFormatError(f"{weights}: not a readable safetensors file ({exc})") from None
    mlp_key = "model.layers.0.mlp.gate_proj.weight"
    if mlp_key not in shapes or len(shapes[mlp_key]) != 2:
        raise ModelFormatError(f"{weights}: tensor {mlp_key} missing or not a matrix")
    mlp_hidden = shapes[mlp_key][0]
    if not 1 <= mlp_hidden <= MAX_DIM:
        raise ModelFormatError(f"{weights}: MLP width {mlp_hidden} out of range")
    with torch.device("meta"):
        skeleton = FlaLRNN(spec, mlp_hidden, backend)
    n_params = sum(p.numel() for p in skeleton.parameters())
    if n_params > MAX_PARAMETERS:
        raise ModelFormatError(f"{folder}: the config describes {n_params} parameters, over the limit of "
                               f"{MAX_PARAMETERS} (MAX_PARAMETERS)")
    mapping = _mapping(spec, shapes)
    expected = {name: tuple(p.shape) for name, p in skeleton.state_dict().items()}
    _check_shapes(weights, spec, mapping, shapes, expected, mlp_hidden)
    model = FlaLRNN(spec, mlp_hidden, backend)
    state = {}
    with safe_open(str(weights), framework="pt") as f:
        for ours, theirs in mapping.items():
            if isinstance(theirs, tuple):  # the fused SwiGLU input: gate rows, then up rows
                state[ours] = torch.cat([f.get_tensor(t) for t in theirs], dim=0)
            else:
                state[ours] = f.get_tensor(theirs)
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    return model.to(dtype).eval()


def _mapping(spec: FlaSpec, shapes: dict[str, tuple]) -> dict[str, str | tuple[str, str]]:
    mapping: dict[str, str | tuple[str, str]] = {"embedding.weight": "model.embeddings.weight",
                                                 "norm.weight": "model.norm.weight"}
    mapping["head.weight"] = ("model.embeddings.weight" if spec.tie_word_embeddings and "lm_head.weight" not in shapes
                              else "lm_head.weight")
    for i in range(spec.num_layers):
        mapping.update(_fla_names(spec, i))
        mapping[f"blocks.{i}.mlp.gate_up.weight"] = (f"model.layers.{i}.mlp.gate_proj.weight",
                                                     f"model.layers.{i}.mlp.up_proj.weight")
    return mapping


def _check_shapes(weights: Path, spec: FlaSpec, mapping: dict, shapes: dict, expected: dict,
                  mlp_hidden: int) -> None:
    """Every fla tensor used exactly once, none missing or extra, every shape the one the config implies."""
    used: set[str] = set()
    for ours, theirs in mapping.items():
        parts = theirs if isinstance(theirs, tuple) else (theirs,)
        for t in parts:
            if t not in shapes:
                raise ModelFormatError(f"{weights}: tensor {t} missing")
            used.add(t)
        got = shapes[parts[0]] if len(parts) == 1 else (sum(shapes[t][0] for t in parts), *shapes[parts[0]][1:])
        if len(parts) == 2 and shapes[parts[0]] != shapes[parts[1]]:
            raise ModelFormatError(f"{weights}: tensors {parts[0]} and {parts[1]} differ in shape")
        if tuple(got) != expected[ours]:
            raise ModelFormatError(f"{weights}: tensor {'+'.join(parts)} has shape {tuple(got)}, the config implies "
                                   f"{expected[ours]}")
    extra = sorted(set(shapes) - used)
    if extra:
        raise ModelFormatError(f"{weights}: unexpected tensor(s) {', '.join(extra[:5])}"
                               + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
                               + " (an option this statetrack does not reproduce?)")


def fla_model_for_language(path: str | os.PathLike, token_map_path: str | os.PathLike, dfa,
                           source: dict | None = None, backend: str = "auto"):
    """``(model, task)``: an fla checkpoint read through a token map as a model of the language of ``dfa``, in the
    form statetrack's evaluation and extraction read (symbol ids in the task's alphabet order, padding id
    ``n_symbols``; class logits: ``[reject, accept]`` per prefix, or one per DFA state for a state map).

    Symbols and states are paired by name (:class:`~statetrack.lrnn.token_map.TokenMap`).
    """
    from .tasks import task_from_dfa
    from .token_map import read_token_map

    tm = read_token_map(token_map_path)
    task = task_from_dfa(dfa, labels="final" if tm.labels == "final" else "per-token", source=source)
    model = load_fla_checkpoint(path, backend=backend)
    states = list(task.dfa.states) if tm.labels == "states" else None
    return model.restricted(tm.token_ids(list(task.dfa.alphabet)), tm.class_token_ids(states)), task


__all__ = ["FLA_MODEL_TYPES", "fla_model_for_language", "FlaModelConfig", "FlaSpec", "FlaLRNN", "FlaBlock",
           "read_fla_config", "load_fla_checkpoint",
           "is_fla_checkpoint", "MAX_PARAMETERS"]
