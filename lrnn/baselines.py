"""Baseline sequence classifiers with the :class:`~statetrack.lrnn.model.LRNNModel` interface.

- :class:`LSTMModel`: a non-linear RNN (``torch.nn.LSTM``); non-linear recurrences solve parity at every length.
- :class:`TransformerModel`: a small causal Transformer (pre-norm, sinusoidal absolute positions so that it runs
  at any length); it fits the training lengths but does not extrapolate (Deletang et al. 2023).

Both map ``ids [B, T]`` to logits ``[B, T, n_classes]`` (one prediction per prefix), expose ``features(ids)``
(the head's input ``[B, T, d_model]``) and ``head``, and carry a JSON-able ``config`` dict.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from statetrack.errors import StatetrackError


class LSTMModel(nn.Module):
    """Embedding -> ``n_layers``-layer LSTM of width ``d_model`` -> RMS norm -> linear head."""

    kind = "lstm"

    def __init__(self, vocab_size: int, n_classes: int = 2, d_model: int = 64, n_layers: int = 1, **_: Any):
        super().__init__()
        self.config = {"vocab_size": int(vocab_size), "n_classes": int(n_classes), "d_model": int(d_model),
                       "n_layers": int(n_layers)}
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.lstm = nn.LSTM(d_model, d_model, num_layers=n_layers, batch_first=True)
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Head input ``[B, T, d_model]`` for ``ids [B, T]``."""
        y, _ = self.lstm(self.embedding(ids))
        return self.norm(y)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids))


def sinusoidal_positions(T: int, d: int, device: "torch.device | None" = None) -> torch.Tensor:
    """``[T, d]`` sinusoidal position codes (Vaswani et al. 2017), defined for every length."""
    pos = torch.arange(T, dtype=torch.float32, device=device)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32, device=device)
    angle = pos / (10000.0 ** (i / d))
    pe = torch.zeros(T, d, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])
    return pe


class TransformerModel(nn.Module):
    """Embedding + sinusoidal positions -> ``n_layers`` causal pre-norm encoder layers -> norm -> head."""

    kind = "transformer"

    def __init__(self, vocab_size: int, n_classes: int = 2, d_model: int = 64, n_layers: int = 2,
                 num_heads: int = 4, **_: Any):
        super().__init__()
        if d_model % num_heads:
            raise StatetrackError(f"transformer: --dim {d_model} must be a multiple of --heads {num_heads}")
        self.config = {"vocab_size": int(vocab_size), "n_classes": int(n_classes), "d_model": int(d_model),
                       "n_layers": int(n_layers), "num_heads": int(num_heads)}
        self.embedding = nn.Embedding(vocab_size, d_model)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, dim_feedforward=4 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.RMSNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        x = self.embedding(ids) * math.sqrt(self.config["d_model"])
        x = x + sinusoidal_positions(T, self.config["d_model"], ids.device).to(x.dtype)
        causal = nn.Transformer.generate_square_subsequent_mask(T, device=ids.device)
        return self.norm(self.encoder(x, mask=causal, is_causal=True))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids))


BASELINES = {"lstm": LSTMModel, "transformer": TransformerModel}

__all__ = ["LSTMModel", "TransformerModel", "BASELINES", "sinusoidal_positions"]
