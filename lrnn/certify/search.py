"""Looking for a misclassified word by running the model (exhaustive short words, then random long ones)."""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import torch

from statetrack.automata.dfa import DFA

#: ``predict(ids [B, T] int64) -> predicted class [B, T]`` (one prediction per prefix)
Predict = Callable[[torch.Tensor], torch.Tensor]


def expected_classes(dfa: DFA, ids: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The class ``[B, T]`` the language asks for after every prefix (``classes [n_states]``: class per DFA state)."""
    B, T = ids.shape
    state = np.full(B, dfa.start, dtype=np.int64)
    out = np.empty((B, T), dtype=np.int64)
    for t in range(T):
        state = dfa.delta[state, ids[:, t]]
        out[:, t] = classes[state]
    return out


def first_error(predict: Predict, dfa: DFA, classes: np.ndarray, ids: np.ndarray, min_length: int
                ) -> tuple[np.ndarray, int, int] | None:
    """The shortest wrongly classified prefix (length >= ``min_length``) among the rows of ``ids``:
    ``(word ids, predicted, expected)``, or None."""
    with torch.no_grad():
        pred = predict(torch.from_numpy(ids)).numpy()
    want = expected_classes(dfa, ids, classes)
    bad = pred != want
    bad[:, : max(0, min_length - 1)] = False
    if not bad.any():
        return None
    first = np.where(bad.any(1), bad.argmax(1), ids.shape[1])
    b = int(first.argmin())
    t = int(first[b])
    return ids[b, : t + 1].copy(), int(pred[b, t]), int(want[b, t])


def search_counterexample(predict: Predict, dfa: DFA, classes: np.ndarray, min_length: int = 1,
                          exhaustive_words: int = 4096, lengths: tuple[int, ...] = (64, 256, 1024, 4096),
                          per_length: int = 16, seed: int = 0) -> tuple[np.ndarray, int, int] | None:
    """Every word up to the longest length with at most ``exhaustive_words`` words (all their prefixes too), then
    per length of ``lengths`` the periodic words ``u u u ...`` for every ``u`` of length 1..3 (a one-layer LRNN's
    state converges along a periodic word, so a language whose answer keeps changing along it shows up there) and
    ``per_length`` uniform random words. Returns the first error found (see
    :func:`first_error`), re-checked on the word alone, or None."""
    k = dfa.n_symbols
    L = max(1, int(np.floor(np.log(max(exhaustive_words, k)) / np.log(k)))) if k > 1 else 64
    L = max(L, min_length)
    found = None
    if k ** L <= 4 * exhaustive_words:
        ids = np.array(list(itertools.product(range(k), repeat=L)), dtype=np.int64)
        found = _confirmed(predict, dfa, classes, ids, min_length)
    rng = np.random.default_rng(seed)
    for T in lengths:
        if found is not None:
            break
        periods = [u for n in (1, 2, 3) for u in itertools.product(range(k), repeat=n)][:64]
        periodic = np.array([(list(u) * (T // len(u) + 1))[:T] for u in periods], dtype=np.int64)
        rand = rng.integers(0, k, size=(per_length, T), dtype=np.int64)
        found = _confirmed(predict, dfa, classes, np.concatenate([periodic, rand]), min_length)
    return found


def _confirmed(predict: Predict, dfa: DFA, classes: np.ndarray, ids: np.ndarray, min_length: int
               ) -> tuple[np.ndarray, int, int] | None:
    hit = first_error(predict, dfa, classes, ids, min_length)
    if hit is None:
        return None
    word = hit[0]
    with torch.no_grad():
        pred = int(predict(torch.from_numpy(word[None, :])).numpy()[0, -1])
    want = int(expected_classes(dfa, word[None, :], classes)[0, -1])
    return (word, pred, want) if pred != want else None
