"""Sound bounds on a one-layer model's logits when the recurrent state lies in a box (interval arithmetic)."""
from __future__ import annotations

import numpy as np
from torch import nn

from ..model import LRNNModel
from .intervals import ABS, REL, Interval
from .window_steps import WindowStep


def _np(p) -> np.ndarray:
    return p.detach().double().numpy()


def _rms(norm: nn.Module, x: Interval, eps_scale: tuple[np.ndarray, np.ndarray] | None = None) -> Interval:
    """``norm(x)`` bounded; ``eps_scale``: per leading row (``[..., 1]``) the range of a factor on the norm's eps
    (a scan output given as ``o / t``, whose norm is ``(o / t) / sqrt(mean((o / t)^2) + eps / t^2)``)."""
    eps = norm.eps if norm.eps is not None else float(np.finfo(np.float32).eps)
    weight = _np(norm.weight) if norm.weight is not None else np.ones(x.lo.shape[-1])
    if eps_scale is None:
        return x.rms_norm(weight, eps)
    return x.rms_norm(weight, eps * eps_scale[0], eps * eps_scale[1])


def logit_bounds(model64: LRNNModel, step: WindowStep, o: Interval, layer: int = 0) -> Interval:
    """Bounds on the logits ``[n_classes]`` at a token whose scan output ``o [H, V]`` (the ``extra`` term already
    added, before the output norm) lies in the given interval, ``layer`` being the last one. Mirrors
    ``Block.forward`` and ``LRNNModel.forward``."""
    return _features(model64, step, o, layer).linear(_np(model64.head.weight), _np(model64.head.bias))


def margin_lower_bound(model64: LRNNModel, step: WindowStep, o: Interval, cls: int, layer: int = 0,
                       o_eps: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """A lower bound of ``min_j (logit_cls - logit_j)`` over the box (> 0: the class ``cls`` wins everywhere);
    ``layer``: the index of the model's last block; ``o_eps``: as ``eps_scale`` of the output norm (``[H, 1]``
    each), for scan outputs given up to a positive factor per head."""
    feat = _features(model64, step, o, layer, o_eps)
    W, b = _np(model64.head.weight), _np(model64.head.bias)
    best = np.inf
    for j in range(W.shape[0]):
        if j == cls:
            continue
        d = feat.linear((W[cls] - W[j])[None, :], np.array([b[cls] - b[j]]))
        best = min(best, float(d.lo[0]))
    return best


def _features(model64: LRNNModel, step: WindowStep, o: Interval, layer: int,
              o_eps: tuple[np.ndarray, np.ndarray] | None = None) -> Interval:
    return _rms(model64.norm, block_output(model64, layer, step, o, o_eps))


def block_output(model64: LRNNModel, layer: int, step: WindowStep, o: Interval,
                 o_eps: tuple[np.ndarray, np.ndarray] | None = None) -> Interval:
    """Bounds on the output ``[d_model]`` of block ``layer`` (the residual stream after its mixer and MLP) at a token
    whose scan output lies in ``o [H, V]``; the block's input is ``step.x`` (to ``step.x_rad``), its output gate
    ``step.gate`` (to ``step.gate_rad``); ``o_eps``: see :func:`margin_lower_bound`."""
    block = model64.blocks[layer]
    mixer = block.mixer
    gated = hasattr(mixer.o_norm, "norm")
    normed = _rms(mixer.o_norm.norm if gated else mixer.o_norm, o, o_eps)
    gate = Interval(step.gate - step.gate_rad, step.gate + step.gate_rad)
    if gated:
        normed = normed * gate
    # the normed output of each head lies in a ball: ||o / sqrt(mean(o^2) + eps)||_2 <= sqrt(V), so head h adds to
    # each output j of o_proj at most sqrt(V) * ||row_jh * weight_h * gate_h||_2 in absolute value (Cauchy-Schwarz);
    # each head's share is that bound intersected with its box image, then the shares are summed
    H, V = o.lo.shape
    W = _np(mixer.o_proj.weight).reshape(-1, H, V)  # [d_model, H, V]
    norm_w = _np(mixer.o_norm.norm.weight if gated else mixer.o_norm.weight)
    scale = norm_w[None, :] * (np.abs(step.gate) + step.gate_rad if gated else 1.0)  # [H, V]
    ball = np.sqrt(V) * np.sqrt(((W * scale[None]) ** 2).sum(-1)) * (1 + 1e-9) + 1e-12  # [d_model, H]
    lo, hi, mag = (np.zeros(W.shape[0]) for _ in range(3))
    for h in range(H):
        share = Interval(normed.lo[h], normed.hi[h]).linear(W[:, h, :])
        slo, shi = np.maximum(share.lo, -ball[:, h]), np.minimum(share.hi, ball[:, h])
        lo, hi, mag = lo + slo, hi + shi, mag + np.maximum(np.abs(slo), np.abs(shi))
    slack = REL * mag + ABS  # the rounding of the H - 1 sums
    mixed = Interval(lo - slack, hi + slack)
    x1 = mixed + Interval(step.x - step.x_rad, step.x + step.x_rad)
    hmid = _rms(block.norm2, x1)
    gu = hmid.linear(_np(block.mlp.gate_up.weight))
    half = gu.lo.shape[-1] // 2
    g = Interval(gu.lo[:half], gu.hi[:half]).silu()
    u = Interval(gu.lo[half:], gu.hi[half:])
    return x1 + (g * u).linear(_np(block.mlp.down.weight))
