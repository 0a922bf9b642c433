"""Training LRNNs (and baselines) on formal languages, with bit-exact resumable checkpoints.

One run: a :class:`~statetrack.lrnn.tasks.Task` (language, labels, train lengths), a model
(``deltanet | deltaproduct | diagonal`` from :mod:`statetrack.lrnn.model`, ``lstm | transformer`` from
:mod:`statetrack.lrnn.baselines`) and a :class:`TrainConfig`. Each step draws a fresh batch from the task with the
generator ``numpy.random.default_rng([seed, step])`` (so the data of a step never depends on the past, and a resumed
run sees the same batches), computes cross-entropy on the labelled positions, clips the gradient norm and takes an
AdamW step at the learning rate of :func:`learning_rate` (linear warmup, then cosine to ``min_lr_ratio * lr``).

Weight decay applies only to matrices of the projections and MLPs: embeddings, norms, biases, and every gate
parameter (the beta projection ``b_proj`` of Householder layers; ``dt_proj``, ``dt_bias``, ``A_log``, ``D`` of
diagonal layers) are excluded. Decaying the gates pulls beta/Delta back towards the middle of their range, where the
eigenvalues are not near -1 or 1, and made accuracy at long lengths decay after training had converged.

Run directory ``RUN_DIR``:

- ``run.json``: the task (its DFA), the model kind and config, the training config, the final metrics;
- ``model.safetensors``: final weights (LRNN models in the :func:`~statetrack.lrnn.model.save_model` format;
  baselines with their config under the ``statetrack_baseline`` header key);
- ``metrics.jsonl``: one JSON object per logged step;
- ``checkpoint.json`` -> ``ckpt-STEP/`` with ``model.safetensors``, ``optimizer.safetensors`` (AdamW moments and
  step counts as tensors, the torch RNG state as a uint8 tensor) and ``state.json`` (step, param groups, configs).
  A checkpoint directory is written under a temporary name and renamed; ``checkpoint.json`` is replaced atomically
  afterwards, so an interrupted write leaves the previous checkpoint in force. No pickle anywhere.

``resume=True`` restores weights, optimizer state and RNG state and continues; on the CPU the result is bit-identical
to an uninterrupted run (tests/test_train.py checks it). Everything read back is validated first
(:func:`load_checkpoint`; the weights and optimizer tensors against the run's own config), so a tampered or foreign
checkpoint is a :class:`StatetrackError`, never a traceback or a silently different run. A fresh run refuses an
existing run in ``RUN_DIR`` unless ``overwrite=True``; the run it replaces is moved aside and deleted only once the new
run has finished, so an interrupted or failed replacement loses nothing (the old run stays in ``.NAME.replaced-*``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from statetrack.fileio import atomic_write_bytes, atomic_write_text
from statetrack.errors import ModelFormatError, StatetrackError
from statetrack.untrusted import expect_dict, expect_int, expect_str, parse_json, read_text
from statetrack.vocabulary import EIGENVALUE_RANGES, GATES, LRNN_LAYER_TYPES

from .baselines import BASELINES
from .model import MAX_PARAMETERS, LRNNConfig, LRNNModel, load_model, save_model
from .tasks import IGNORE, Batch, Task

MODEL_KINDS = LRNN_LAYER_TYPES + tuple(BASELINES)
BASELINE_KEY = "statetrack_baseline"
RUN_FORMAT = 1
#: parameter-name fragments excluded from weight decay (gates: beta and Delta projections)
NO_DECAY_FRAGMENTS = ("b_proj", "dt_proj", "dt_bias", "A_log", ".D", "embedding", "norm")


@dataclass
class TrainConfig:
    """Model and optimisation hyper-parameters of a run (all JSON-serialisable)."""

    model: str = "deltanet"
    eigenvalue_range: tuple[int, int] = (-1, 1)
    layers: int = 1
    dim: int = 64
    heads: int = 2
    num_householder: int = 2
    state_dim: int = 16
    steps: int = 1000
    batch: int = 128
    lr: float = 3e-3  # the formal-language setting (docs/training.md); 1e-3 leaves parity on its plateau
    weight_decay: float = 0.1
    warmup: int = 50
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 0  # 0: only at the end
    device: str = "auto"
    #: scan kernel of the LRNN layers (``auto``: the kernels' choice, chunked on a CPU and Triton on a GPU)
    kernel: str = "auto"
    #: transition gate (``LRNNConfig.gate``): ``auto`` = ``saturating`` for the range (-1, 1) (exact reflections and
    #: sign flips reachable, so a trained parity model can be exact; docs/training.md), ``sigmoid`` for (0, 1)
    gate: str = "auto"
    #: diagonal models: a step size ``dt`` per state channel instead of per head (``LRNNConfig.dt_per_channel``)
    dt_per_channel: bool = False
    #: short causal convolutions before the scan (``LRNNConfig.use_short_conv``)
    short_conv: bool = True
    #: weight of the gate penalty, the mean distance of the saturating gates from the identity
    #: (:func:`gate_penalty_hooks`; 0: none). It moves the gates that the task does not need to the exact identity.
    gate_penalty: float = 1e-3
    #: the penalty applies only on steps whose task loss is below this: on the loss plateau it would clamp every gate
    #: at the identity, where the gradient is 0, before the task has been learnt
    gate_penalty_below: float = 0.1

    def __post_init__(self) -> None:
        for name in ("lr", "weight_decay", "grad_clip", "min_lr_ratio", "gate_penalty", "gate_penalty_below"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise StatetrackError(f"--{name.replace('_', '-')} {value!r}: need a finite number")
        for name in ("layers", "dim", "heads", "num_householder", "steps", "batch", "warmup", "seed", "log_every",
                     "checkpoint_every", "state_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise StatetrackError(f"--{name.replace('_', '-')} {value!r}: need an integer")
        if self.model not in MODEL_KINDS:
            raise StatetrackError(f"--model {self.model!r}: choose one of {', '.join(MODEL_KINDS)}")
        self.eigenvalue_range = tuple(int(x) for x in self.eigenvalue_range)  # type: ignore[assignment]
        if self.eigenvalue_range not in EIGENVALUE_RANGES.values():
            raise StatetrackError(f"--range {self.eigenvalue_range}: choose 0,1 or -1,1")
        if self.gate not in ("auto",) + GATES:
            raise StatetrackError(f"--gate {self.gate!r}: choose auto, {', '.join(GATES)}")
        if not isinstance(self.short_conv, bool):
            raise StatetrackError(f"short_conv {self.short_conv!r}: need true or false")
        if not isinstance(self.dt_per_channel, bool):
            raise StatetrackError(f"dt_per_channel {self.dt_per_channel!r}: need true or false")
        if self.dt_per_channel and self.model != "diagonal":
            raise StatetrackError(f"--dt-per-channel applies to --model diagonal, not {self.model}")
        if self.schedule not in ("cosine", "constant"):
            raise StatetrackError(f"--schedule {self.schedule!r}: choose cosine or constant")
        for name in ("layers", "dim", "heads", "num_householder", "steps", "batch"):
            if int(getattr(self, name)) < 1:
                raise StatetrackError(f"--{name.replace('_', '-')} must be >= 1; got {getattr(self, name)}")
        if self.dim % self.heads:
            raise StatetrackError(f"--dim {self.dim} must be a multiple of --heads {self.heads}")
        if self.gate_penalty < 0:
            raise StatetrackError(f"--gate-penalty {self.gate_penalty}: need >= 0")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup < 0 or self.grad_clip <= 0:
            raise StatetrackError("need --lr > 0, --weight-decay >= 0, --warmup >= 0 and a positive clip")
        if not 0 <= self.min_lr_ratio <= 1 or self.seed < 0 or self.log_every < 1 or self.checkpoint_every < 0:
            raise StatetrackError("need 0 <= min_lr_ratio <= 1, --seed >= 0, log_every >= 1 and "
                                  "--checkpoint-every >= 0")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["eigenvalue_range"] = list(self.eigenvalue_range)
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_json`; a malformed object raises :class:`StatetrackError` naming the field."""
        if not isinstance(obj, dict):
            raise StatetrackError(f"training config: expected a JSON object, got {type(obj).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - fields)
        if unknown:
            raise StatetrackError(f"training config: unknown field(s) {', '.join(map(str, unknown))}")
        er = obj.get("eigenvalue_range", [-1, 1])
        if not (isinstance(er, list) and len(er) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                              for x in er)):
            raise StatetrackError(f"training config: eigenvalue_range {er!r} is not a pair of integers")
        for k in ("model", "schedule", "device", "kernel", "gate"):
            if k in obj and not isinstance(obj[k], str):
                raise StatetrackError(f"training config: {k} {obj[k]!r} is not a string")
        return cls(**{k: (tuple(v) if k == "eigenvalue_range" else v) for k, v in obj.items()})


# ----------------------------------------------------------------------------------------------------- models
def build_model(cfg: TrainConfig, task: Task) -> nn.Module:
    """A fresh model for ``task`` (vocabulary = symbols + padding id, classes = the task's)."""
    if cfg.model in BASELINES:
        return BASELINES[cfg.model](task.vocab_size, task.n_classes, d_model=cfg.dim, n_layers=cfg.layers,
                                    num_heads=cfg.heads)
    backend = cfg.kernel
    return LRNNModel(LRNNConfig(vocab_size=task.vocab_size, n_classes=task.n_classes, d_model=cfg.dim,
                                n_layers=cfg.layers, layer=cfg.model, num_heads=cfg.heads,
                                head_dim=cfg.dim // cfg.heads, num_householder=cfg.num_householder,
                                eigenvalue_range=cfg.eigenvalue_range, state_dim=cfg.state_dim, backend=backend,
                                gate=resolve_gate(cfg.gate, cfg.eigenvalue_range), use_short_conv=cfg.short_conv,
                                dt_per_channel=cfg.dt_per_channel))


def resolve_gate(gate: str, eigenvalue_range: tuple[int, int]) -> str:
    """``auto`` -> ``saturating`` for the range (-1, 1), ``sigmoid`` (as published) for (0, 1)."""
    if gate != "auto":
        return gate
    return "saturating" if tuple(eigenvalue_range) == (-1, 1) else "sigmoid"


def gate_penalty_hooks(model: nn.Module) -> tuple[list[torch.Tensor], list[Any]]:
    """Forward hooks on every token mixer with a saturating gate: each forward appends the mixer's
    ``gate_usage(input)`` (mean distance of its gates from the identity) to the returned list. Returns ``(list,
    hook handles)``. With the sigmoid gate nothing is recorded (an identity is never reached)."""
    usage: list[torch.Tensor] = []
    handles = []
    for mod in model.modules():
        if getattr(mod, "gate", None) == "saturating" and hasattr(mod, "gate_usage"):
            handles.append(mod.register_forward_hook(lambda m, inp, out: usage.append(m.gate_usage(inp[0]))))
    return usage, handles


def clamped_gates(model: nn.Module, ids: torch.Tensor) -> float | None:
    """The fraction of saturating gates that sit on their clamp (level <= 0 or >= 1, where the gradient is 0) on the
    tokens of ``ids [B, T]``, over every mixer with ``gate="saturating"``; ``None`` when there is none. At 1.0 no
    gradient reaches any transition gate: the kinds of the learnt maps (identity, reflection, ...) are frozen."""
    levels: list[torch.Tensor] = []
    handles = [mod.register_forward_hook(lambda m, inp, out: levels.append(m.gate_levels(inp[0]).detach()))
               for mod in model.modules() if getattr(mod, "gate", None) == "saturating" and hasattr(mod, "gate_levels")]
    try:
        with torch.no_grad():
            model(ids)
    finally:
        for h in handles:
            h.remove()
    if not levels:
        return None
    flat = torch.cat([lv.reshape(-1) for lv in levels])
    return float(((flat <= 0) | (flat >= 1)).double().mean())


#: what a ``stop_when`` hook of :func:`train` returns to restart from a fresh initialisation
RESTART = "restart"
#: a restart is applied only while at least this fraction of the run's steps (and more than its warmup) is left
RESTART_MIN_LEFT = 0.25


def restart_allowed(cfg: TrainConfig, done: int) -> bool:
    """Whether a :data:`RESTART` asked for after ``done`` steps is applied: at least ``RESTART_MIN_LEFT * steps``
    and at least ``warmup + 1`` steps must be left (so a restart never ends a run with an untrained model; the fresh
    model gets its own warmup and cosine over the steps left, :func:`learning_rate`)."""
    left = cfg.steps - done
    return left >= max(cfg.warmup + 1, math.ceil(RESTART_MIN_LEFT * cfg.steps))


def model_features(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """The head's input ``[B, T, d_model]`` (after the final norm) for ``ids [B, T]``."""
    if isinstance(model, LRNNModel):
        x = model.embedding(ids)
        for block in model.blocks:
            x = block(x)
        return model.norm(x)
    return model.features(ids)


def save_any(model: nn.Module, path: "str | os.PathLike") -> None:
    """Weights of an LRNN or baseline model as one safetensors file (config in the header), atomically."""
    model = unwrap(model)
    if isinstance(model, LRNNModel):
        save_model(model, path)
        return
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {BASELINE_KEY: json.dumps({"kind": model.kind, "config": model.config}, sort_keys=True)}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def load_any(path: "str | os.PathLike") -> nn.Module:
    """Inverse of :func:`save_any` (on the CPU)."""
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    try:
        with safe_open(path, framework="pt") as f:
            header = f.metadata() or {}
            if BASELINE_KEY not in header:
                return load_model(path)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise ModelFormatError(f"{path}: not a readable safetensors file ({exc})") from None
    config: dict[str, int] = {}
    kind = _baseline_kind_and_config(path, header[BASELINE_KEY], config)
    model = BASELINES[kind](**config)
    expected = model.state_dict()
    if set(expected) != set(tensors) or any(tensors[k].shape != expected[k].shape for k in expected):
        raise ModelFormatError(f"{path}: the tensors do not match the baseline config in the header")
    model.load_state_dict(tensors)
    return model


#: bounds of a baseline model's config read from a file (validated before anything is built)
BASELINE_CONFIG_RANGES = {"vocab_size": (1, 1 << 20), "n_classes": (1, 1 << 20), "d_model": (1, 1 << 14),
                          "n_layers": (1, 256), "num_heads": (1, 256)}


def _baseline_kind_and_config(path: str, text: str, config_out: dict) -> str:
    """The baseline kind of a header entry, its validated config copied into ``config_out``; ModelFormatError naming
    the file for a malformed entry, an unknown kind or field, or a model over :data:`MAX_PARAMETERS`."""
    meta = expect_dict(f"{path}: baseline header", parse_json(text, f"{path}: baseline header",
                                                                error=ModelFormatError),
                       required=("kind", "config"), error=ModelFormatError)
    kind = expect_str(f"{path}: baseline kind", meta["kind"], tuple(BASELINES), error=ModelFormatError)
    cfg = expect_dict(f"{path}: baseline config", meta["config"], allowed=tuple(BASELINE_CONFIG_RANGES),
                      error=ModelFormatError)
    for name, value in cfg.items():
        lo, hi = BASELINE_CONFIG_RANGES[name]
        config_out[name] = expect_int(f"{path}: baseline config {name}", value, lo, hi, error=ModelFormatError)
    d, layers = config_out.get("d_model", 64), config_out.get("n_layers", 2)
    estimate = config_out.get("vocab_size", 1) * d + 16 * layers * d * d + d * config_out.get("n_classes", 2)
    if estimate > MAX_PARAMETERS:
        raise ModelFormatError(f"{path}: the baseline config describes about {estimate} parameters, over the limit "
                               f"MAX_PARAMETERS = {MAX_PARAMETERS}")
    return kind


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return getattr(model, "module", model)


# -------------------------------------------------------------------------------------------- optimisation
def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on matrices of projections/MLPs; none on vectors, embeddings, norms and gates."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.dim() < 2 or any(f in name for f in NO_DECAY_FRAGMENTS)
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def learning_rate(cfg: TrainConfig, step: int, since: int = 0) -> float:
    """LR at ``step`` (0-based): linear warmup over ``warmup`` steps, then cosine to ``min_lr_ratio * lr`` at
    ``cfg.steps``. ``since``: the step count at the last restart (:data:`RESTART`); a restarted model gets the schedule
    of a fresh run over the steps left (warmup from ``since``, cosine from ``since + warmup`` to ``cfg.steps``)."""
    step -= since
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(1, cfg.steps - since - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1.0 + math.cos(math.pi * progress))


def loss_and_accuracy(logits: torch.Tensor, batch: Batch, labels: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy over labelled positions and the accuracy (a 0-dim tensor).

    ``final``: the logits at each word's last symbol ``[B, C]`` against ``targets [B]``; ``per-token``: every real
    position against ``targets [B, T]`` (-100 on padding).
    """
    logits = logits.float()
    if labels == "final":
        last = logits[torch.arange(logits.shape[0], device=logits.device), batch.lengths - 1]
        loss = nn.functional.cross_entropy(last, batch.targets)
        acc = (last.argmax(-1) == batch.targets).float().mean()
        return loss, acc
    flat, tgt = logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1)
    loss = nn.functional.cross_entropy(flat, tgt, ignore_index=IGNORE)
    real = tgt != IGNORE
    acc = (flat.argmax(-1)[real] == tgt[real]).float().mean()
    return loss, acc


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The data generator of one step (independent of every other step)."""
    return np.random.default_rng([int(seed), int(step)])


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else the CPU; otherwise the named device, which must exist here
    (a :class:`StatetrackError` naming ``device`` otherwise)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StatetrackError(f"device {device!r} is not usable here: {first}") from None
    return dev


# ---------------------------------------------------------------------------------------------- checkpoints
def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = opt.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"state.{idx}.{name}"] = t.detach().cpu().contiguous()
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def _optimizer_load(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]],
                    device: torch.device) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, t in tensors.items():
        if not key.startswith("state."):
            continue
        _, idx, name = key.split(".", 2)
        # AdamW keeps "step" on the CPU unless capturable/fused; moments live with the parameters
        state.setdefault(int(idx), {})[name] = t if name == "step" else t.to(device)
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(run_dir: Path, step: int, model: nn.Module, opt: torch.optim.Optimizer,
                    extra: dict[str, Any], keep: int = 1) -> Path:
    """Write ``ckpt-STEP/`` (under a temporary name, then renamed) and point ``checkpoint.json`` at it. ``extra``
    goes into ``state.json`` (the task, the config, and the restarts so far: ``restarted_at``, ``stop_when``)."""
    from safetensors.torch import save

    from statetrack.fileio import atomic_directory

    name = f"ckpt-{step:08d}"
    final = run_dir / name
    # built in a temporary sibling and renamed whole; an interruption (SIGINT, SIGTERM) or a write error leaves no
    # temporary directory and, when this step's checkpoint is rewritten, the previous one in place
    with atomic_directory(final, replace=True, what="checkpoint directory") as tmp:
        save_any(model, tmp / "model.safetensors")
        tensors, groups = _optimizer_tensors(opt)
        tensors["rng.torch"] = torch.get_rng_state()
        atomic_write_bytes(tmp / "optimizer.safetensors", save(tensors))
        atomic_write_text(tmp / "state.json", json.dumps({"step": step, "param_groups": groups, **extra},
                                                         indent=1, sort_keys=True))
    atomic_write_text(run_dir / "checkpoint.json", json.dumps({"dir": name, "step": step}))
    old = sorted(p for p in run_dir.glob("ckpt-*") if p.is_dir() and p.name != name)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


#: the name of a checkpoint directory inside a run (``checkpoint.json``'s ``"dir"`` must match it exactly)
CHECKPOINT_NAME = re.compile(r"ckpt-[0-9]{8,}")


def _resume_error(run_dir: Path, what: str) -> StatetrackError:
    return StatetrackError(f"cannot resume {run_dir}: {what}")


def load_checkpoint(run_dir: Path) -> tuple[dict[str, Any], Path]:
    """``(state.json contents, checkpoint directory)`` of the checkpoint in force, validated; the contents also
    carry the parsed ``"_config"`` (:class:`TrainConfig`) and ``"_task"`` (:class:`Task`).

    Checks, before anything is allocated: ``checkpoint.json`` is a JSON object whose ``"dir"`` is a plain
    ``ckpt-STEP`` name inside ``run_dir`` (never a path) and whose ``"step"`` matches; ``state.json`` is an object with
    a step in ``0..steps``, two parameter groups of finite numbers, a task and a training config that parse. Every
    failure raises :class:`StatetrackError` naming the run and the file.
    """
    run_dir = Path(run_dir)
    pointer = run_dir / "checkpoint.json"
    if not pointer.is_file():
        raise _resume_error(run_dir, "no checkpoint.json")
    ptr = _read_json(run_dir, pointer)
    name = ptr.get("dir") if isinstance(ptr, dict) else None
    if not isinstance(name, str) or not CHECKPOINT_NAME.fullmatch(name):
        raise _resume_error(run_dir, f"checkpoint.json: \"dir\" {name!r} is not a checkpoint name ckpt-STEP "
                                     "inside the run")
    ck = run_dir / name
    if ck.is_symlink() or not ck.is_dir():
        raise _resume_error(run_dir, f"checkpoint directory {name} is missing (or not a plain directory)")
    state = _read_json(run_dir, ck / "state.json")
    if not isinstance(state, dict):
        raise _resume_error(run_dir, f"{name}/state.json is not a JSON object")
    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise _resume_error(run_dir, f"{name}/state.json: step {step!r} is not a non-negative integer")
    if ptr.get("step", step) != step or int(name[5:]) != step:
        raise _resume_error(run_dir, f"checkpoint.json and {name}/state.json disagree on the step")
    try:
        cfg = TrainConfig.from_json(state.get("train"))
        task = Task.from_json(state["task"])
    except StatetrackError as exc:
        raise _resume_error(run_dir, f"{name}/state.json: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise _resume_error(run_dir, f"{name}/state.json: malformed task ({type(exc).__name__}: {exc})") from None
    if step > cfg.steps:
        raise _resume_error(run_dir, f"{name}/state.json: step {step} is beyond the run's {cfg.steps} steps")
    groups = state.get("param_groups")
    if not (isinstance(groups, list) and len(groups) == 2 and all(isinstance(g, dict) for g in groups)):
        raise _resume_error(run_dir, f"{name}/state.json: param_groups is not a list of two objects")
    for g in groups:
        for key in ("lr", "weight_decay", "eps"):
            v = g.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise _resume_error(run_dir, f"{name}/state.json: param_groups {key} {v!r} is not a finite number")
        if not isinstance(g.get("params"), list):
            raise _resume_error(run_dir, f"{name}/state.json: param_groups params is not a list")
    restarted = state.get("restarted_at", [])
    if not (isinstance(restarted, list) and all(isinstance(r, int) and not isinstance(r, bool) for r in restarted)
            and all(a < b for a, b in zip([0, *restarted], [*restarted, step + 1]))):
        raise _resume_error(run_dir, f"{name}/state.json: restarted_at {restarted!r} is not an increasing list of "
                                     f"steps in 1..{step}")
    if "stop_when" in state and not isinstance(state["stop_when"], dict):
        raise _resume_error(run_dir, f"{name}/state.json: stop_when is not a JSON object")
    state["_config"], state["_task"] = cfg, task
    return state, ck


def _read_json(run_dir: Path, path: Path) -> Any:
    """A run's JSON file read with the untrusted-input limits (size, nesting, numbers; docs/security.md)."""
    try:
        return parse_json(read_text(path, "json", error=StatetrackError), path.name, error=StatetrackError)
    except StatetrackError as exc:
        raise _resume_error(run_dir, f"{path.name} is not readable JSON ({exc})") from None


def _resume_model(run_dir: Path, ck: Path, cfg: TrainConfig, task: Task) -> nn.Module:
    """The checkpoint's weights in a fresh model of the run's config (another run's model does not fit)."""
    model = build_model(cfg, task)
    try:
        saved = load_any(ck / "model.safetensors")
        model.load_state_dict(saved.state_dict(), strict=True)
    except (StatetrackError, RuntimeError, KeyError, TypeError, ValueError) as exc:
        detail = " ".join(ln.strip() for ln in str(exc).splitlines()[:2])[:240] or type(exc).__name__
        raise _resume_error(run_dir, f"{ck.name}/model.safetensors does not fit the run's config ({detail})") from None
    return model


def _resume_optimizer(run_dir: Path, ck: Path, opt: torch.optim.Optimizer, groups: list[dict[str, Any]],
                      device: torch.device) -> None:
    """Restore AdamW state and the torch RNG from ``optimizer.safetensors``, checking every tensor's shape."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    where = f"{ck.name}/optimizer.safetensors"
    try:
        tensors = load_file(str(ck / "optimizer.safetensors"))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _resume_error(run_dir, f"{where} is not a readable safetensors file ({exc})") from None
    params = [p for g in opt.param_groups for p in g["params"]]
    for key, t in tensors.items():
        if key == "rng.torch":
            continue
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit() or int(parts[1]) >= len(params):
            raise _resume_error(run_dir, f"{where}: unexpected tensor {key!r}")
        want = () if parts[2] == "step" else tuple(params[int(parts[1])].shape)
        if parts[2] not in ("step", "exp_avg", "exp_avg_sq") or tuple(t.shape) != want:
            raise _resume_error(run_dir, f"{where}: tensor {key!r} of shape {tuple(t.shape)} does not fit the "
                                         f"model (another run's optimizer?)")
        if not torch.isfinite(t).all():
            raise _resume_error(run_dir, f"{where}: tensor {key!r} is not finite")
    rng = tensors.get("rng.torch")
    want_rng = torch.get_rng_state()
    if rng is None or rng.dtype != want_rng.dtype or rng.shape != want_rng.shape:
        raise _resume_error(run_dir, f"{where}: missing or malformed RNG state")
    n_params = [len(g["params"]) for g in opt.param_groups]
    if [len(g["params"]) for g in groups] != n_params:
        raise _resume_error(run_dir, f"{ck.name}/state.json: parameter groups do not fit the model")
    try:
        _optimizer_load(opt, tensors, groups, device)
        torch.set_rng_state(rng)
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise _resume_error(run_dir, f"{where}: {str(exc).splitlines()[0]}") from None


def check_run_output(run_dir: "str | os.PathLike", overwrite: bool = False) -> Path | None:
    """Make way for a fresh run: ``run_dir`` must be absent or empty, or (``overwrite=True``) an existing *run* (a
    directory with ``run.json``). An existing run is not deleted here: it is renamed aside to a hidden sibling
    ``.NAME.replaced-*``, whose path is returned (None when there was nothing to replace); :func:`train` deletes it
    once the new run has finished, so a new run that fails or is interrupted never costs the old one. Anything else
    raises :class:`StatetrackError`."""
    import tempfile

    from statetrack.fileio import check_output_dir

    p = check_output_dir(run_dir, "run directory", replace=overwrite, hint="overwrite=True")
    if p.is_dir() and any(p.iterdir()):
        if not (p / "run.json").is_file():
            raise StatetrackError(f"run directory {p}: not a run (no run.json); refusing to replace it")
        aside = Path(tempfile.mkdtemp(prefix=f".{p.name}.replaced-", dir=p.parent))
        os.rmdir(aside)
        os.replace(p, aside)
        return aside
    return None


# ------------------------------------------------------------------------------------------------- training
def evaluate_batch(model: nn.Module, batch: Batch, labels: str) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` on ``batch`` without gradients."""
    with torch.no_grad():
        loss, acc = loss_and_accuracy(model(batch.ids), batch, labels)
    return float(loss), float(acc)


def train(task: Task, cfg: TrainConfig, run_dir: "str | os.PathLike", *, resume: bool = False,
          progress: bool = True, dist: "Any | None" = None, stop_at: int | None = None,
          on_step: Callable[[int, dict], None] | None = None, overwrite: bool = False,
          stop_when: Callable[[int, nn.Module], "bool | str"] | None = None) -> dict[str, Any]:
    """Train (or resume) a run and return its summary ``{steps, loss, accuracy, seconds, ...}``.

    A fresh run needs ``run_dir`` absent or empty; an existing run there is refused unless ``overwrite=True``
    (then it is deleted first; a directory that is not a run is never deleted). ``resume=True`` validates the
    checkpoint in force (:func:`load_checkpoint`, then the model's and optimizer's tensors against the run's config)
    and raises :class:`StatetrackError` on anything malformed.

    ``dist``: a :class:`~statetrack.lrnn.distributed.DistContext` (DDP); each rank takes its slice of the global
    batch of the step, so the global batch does not depend on the number of processes; only rank 0 writes.
    ``stop_at``: stop (with a checkpoint) after this many steps, as an interruption would (used by tests).
    ``stop_when(step, model)``: called after every step (single process), before that step's checkpoint; True ends
    the run there, saved as a stopped run (e.g. :class:`statetrack.lrnn.certify.UntilCertified`); :data:`RESTART`
    replaces the model and the optimizer state by a fresh initialisation (drawn from the run's continuing torch
    generator, so a run with restarts is still determined by its seed) and goes on with the same step count and data
    stream, the learning rate warming up again and decaying over the steps left (:func:`learning_rate`). A restart
    is applied only while :func:`restart_allowed` (a quarter of the steps left); otherwise training goes on. Then
    ``stop_when.restarted(step)`` is called when the hook has it. The summary lists the steps of the restarts
    (``restarted_at``); checkpoints keep them, and the hook's ``state_dict()`` (when it has one, restored on resume
    by its ``load_state_dict``), so a resumed run continues them.
    """
    run_dir = Path(run_dir)
    rank0 = dist is None or dist.rank == 0
    replaced: Path | None = None  # an old run moved aside by overwrite=True, deleted once the new run has finished
    device = dist.device if dist is not None else resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    start = 0
    restarted_at: list[int] = []
    if resume:
        state, ck = load_checkpoint(run_dir)
        cfg, task = state["_config"], state["_task"]
        model = _resume_model(run_dir, ck, cfg, task).to(device)
        start = int(state["step"])
        restarted_at = list(state.get("restarted_at", []))
        if stop_when is not None and "stop_when" in state and hasattr(stop_when, "load_state_dict"):
            try:
                stop_when.load_state_dict(state["stop_when"])
            except StatetrackError as exc:
                raise _resume_error(run_dir, f"{ck.name}/state.json: stop_when: {exc}") from None
    else:
        if rank0:
            replaced = check_run_output(run_dir, overwrite)
        model = build_model(cfg, task).to(device)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    if resume:
        _resume_optimizer(run_dir, ck, opt, state["param_groups"], device)
    net = dist.wrap(model) if dist is not None else model
    extra = {"task": task.to_json(), "train": cfg.to_json()}
    if rank0:
        run_dir.mkdir(parents=True, exist_ok=True)
        _trim_metrics(run_dir / "metrics.jsonl", start)
        atomic_write_text(run_dir / "run.json", json.dumps({"format_version": RUN_FORMAT, "model": cfg.model,
                                                            **extra, "status": "running"}, indent=1))
    autocast = device.type == "cuda"
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    bar = None
    if progress and rank0:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=f"train {cfg.model}", unit="step", dynamic_ncols=True)
    t0 = time.perf_counter()
    loss_v = acc_v = float("nan")
    metrics_lines: list[str] = []
    usage, hooks = gate_penalty_hooks(model) if cfg.gate_penalty > 0 else ([], [])

    def state_extra() -> dict[str, Any]:  # what a checkpoint keeps beyond the task and config
        hook = {"stop_when": stop_when.state_dict()} if hasattr(stop_when, "state_dict") else {}
        return {**extra, "restarted_at": restarted_at, **hook}

    for step in range(start, end):
        batch = task.batch(cfg.batch, step_rng(cfg.seed, step))
        if dist is not None:
            batch = dist.shard(batch)
        batch = batch.to(device)
        lr = learning_rate(cfg, step, restarted_at[-1] if restarted_at else 0)
        for g in opt.param_groups:
            g["lr"] = lr
        usage.clear()  # (copies of the model made by stop_when carry the hooks too)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            logits = net(batch.ids)
        loss, acc = loss_and_accuracy(logits, batch, task.labels)
        active = usage and float(loss.detach()) < cfg.gate_penalty_below
        objective = loss + cfg.gate_penalty * torch.stack(usage).mean() if active else loss
        usage.clear()
        opt.zero_grad(set_to_none=True)
        if dist is not None:  # the gradient of the mean over all ranks' labelled positions, whatever the shards hold
            n_local = batch.targets.shape[0] if task.labels == "final" else int((batch.targets != IGNORE).sum())
            (objective * dist.global_mean_weight(n_local, device)).backward()
        else:
            objective.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if not (torch.isfinite(loss) and torch.isfinite(gnorm)):
            if bar is not None:
                bar.close()
            raise StatetrackError(f"training diverged at step {step + 1} (loss {float(loss.detach())}, gradient norm "
                                  f"{float(gnorm)}); the last checkpoint in {run_dir} is intact: lower --lr or change "
                                  f"--kernel")
        opt.step()
        if dist is not None:
            loss, acc = dist.mean(loss.detach()), dist.mean(acc.detach())
        loss_v, acc_v = float(loss.detach()), float(acc)
        rec = {"step": step + 1, "loss": loss_v, "accuracy": acc_v, "lr": lr, "grad_norm": float(gnorm)}
        if on_step is not None:
            on_step(step + 1, rec)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_v:.3f}", acc=f"{acc_v:.3f}")
        if rank0 and ((step + 1) % cfg.log_every == 0 or step + 1 == end):
            metrics_lines.append(json.dumps({**rec, "seconds": round(time.perf_counter() - t0, 3)}))
            _flush_metrics(run_dir / "metrics.jsonl", metrics_lines)
        # the hook runs before the periodic checkpoint, so that a checkpoint holds any restart of its step
        verdict = stop_when(step + 1, model) if stop_when is not None and dist is None else False
        if isinstance(verdict, str) and verdict == RESTART:
            if restart_allowed(cfg, step + 1):
                for h in hooks:
                    h.remove()
                model = net = build_model(cfg, task).to(device)
                opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
                usage, hooks = gate_penalty_hooks(model) if cfg.gate_penalty > 0 else ([], [])
                restarted_at.append(step + 1)
                if hasattr(stop_when, "restarted"):
                    stop_when.restarted(step + 1)
        elif verdict:
            end = step + 1
            break
        if rank0 and cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < end:
            _flush_metrics(run_dir / "metrics.jsonl", metrics_lines)
            save_checkpoint(run_dir, step + 1, model, opt, state_extra())
    for h in hooks:
        h.remove()
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    summary = {"steps": end, "loss": loss_v, "accuracy": acc_v, "seconds": round(seconds, 3),
               "parameters": sum(p.numel() for p in model.parameters())}
    if restarted_at:
        summary["restarted_at"] = restarted_at
    if rank0:
        _flush_metrics(run_dir / "metrics.jsonl", metrics_lines)
        save_checkpoint(run_dir, end, model, opt, state_extra())
        save_any(model, run_dir / "model.safetensors")
        atomic_write_text(run_dir / "run.json", json.dumps({"format_version": RUN_FORMAT, "model": cfg.model, **extra,
                                                            "status": "done" if end == cfg.steps else "stopped",
                                                            "summary": summary}, indent=1))
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
    if dist is not None:
        dist.barrier()
    return summary


def _flush_metrics(path: Path, lines: list[str]) -> None:
    if lines:
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        lines.clear()


def _trim_metrics(path: Path, step: int) -> None:
    """Keep the metric lines up to ``step`` (a resumed run rewrites what came after its checkpoint)."""
    if not path.exists():
        return
    keep = []
    for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not ln.strip():
            continue
        try:
            rec_step = json.loads(ln)["step"]
            if isinstance(rec_step, bool) or not isinstance(rec_step, int):
                raise TypeError("step is not an integer")
        except (ValueError, KeyError, TypeError) as exc:
            raise StatetrackError(f"{path} line {i + 1}: not a metrics record ({exc})") from None
        if rec_step <= step:
            keep.append(ln)
    atomic_write_text(path, "".join(ln + "\n" for ln in keep))


def load_run(run_dir: "str | os.PathLike") -> tuple[nn.Module, Task, dict[str, Any]]:
    """``(model on the CPU in eval mode, task, run.json)`` of a finished (or stopped) run."""
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise StatetrackError(f"{run_dir}: not a run directory (no run.json)")
    try:
        info = expect_dict(str(info_path), parse_json(read_text(info_path, "json", error=StatetrackError),
                                                      str(info_path), error=StatetrackError),
                           required=("task",), error=StatetrackError)
        task = Task.from_json(info["task"])
    except StatetrackError as exc:
        raise StatetrackError(f"{info_path}: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise StatetrackError(f"{info_path}: not a readable run description ({type(exc).__name__}: {exc})") from None
    model_path = run_dir / "model.safetensors"
    if not model_path.is_file():
        raise StatetrackError(f"{run_dir}: no model.safetensors (the run has not finished)")
    model = load_any(model_path).eval()
    return model, task, info


__all__ = ["TrainConfig", "train", "build_model", "clamped_gates", "RESTART", "RESTART_MIN_LEFT",
           "restart_allowed", "model_features", "save_any", "load_any", "load_run",
           "param_groups", "learning_rate", "loss_and_accuracy", "step_rng", "save_checkpoint", "load_checkpoint",
           "check_run_output", "resolve_device",
           "MODEL_KINDS", "NO_DECAY_FRAGMENTS"]
