"""Training tasks: a language (minimal complete DFA), a label kind, length ranges, and batch sampling.

A :class:`Task` draws fresh labelled batches from :mod:`statetrack.automata.sampling`:

- ``balance="natural"`` (the Chomsky-hierarchy protocol): words uniform among all words of the length
  (i.i.d. uniform symbols), labelled by the DFA;
- ``balance=F`` in [0, 1]: each word is accepted with probability F, drawn uniformly among the accepted (or
  rejected) words of its length through :class:`~statetrack.automata.sampling.WordSampler`.

Labels:

- ``final``: one class per word, 1 = accepted, 0 = rejected (2 classes), read at the last symbol;
- ``per-token``: the DFA state id after every symbol (``n_states`` classes), the word-problem protocol.

Batches are padded on the right with the id ``pad_id = n_symbols`` (the models are causal, so padding never changes
a real position's output): ``ids [B, T_max]`` int64, ``lengths [B]``, ``targets`` ``[B]`` (final) or
``[B, T_max]`` with -100 on padding (per-token), and ``mask [B, T_max]`` (True on real positions).
Every draw takes an explicit :class:`numpy.random.Generator`, so a step's batch is a function of ``(seed, step)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError
from statetrack.automata.sampling import WordSampler

LABELS = ("final", "per-token")
IGNORE = -100


@dataclass
class Batch:
    """A padded labelled batch (see the module docstring for shapes)."""

    ids: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor

    def to(self, device: "str | torch.device") -> "Batch":
        return Batch(self.ids.to(device), self.lengths.to(device), self.targets.to(device), self.mask.to(device))


@dataclass
class Task:
    """A language with its label kind and train lengths (inclusive range).

    ``source`` is a JSON description of where the DFA came from (saved in the run); ``dfa`` is the minimal complete
    DFA whose ``states`` order defines per-token class ids.
    """

    dfa: DFA
    labels: str = "final"
    train_lengths: tuple[int, int] = (3, 40)
    balance: "float | str" = "natural"
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.labels not in LABELS:
            raise StatetrackError(f"task labels must be one of {', '.join(LABELS)}; got {self.labels!r}")
        lo, hi = (int(x) for x in self.train_lengths)
        if lo < 1 or hi < lo:
            raise StatetrackError(f"task train lengths {lo}:{hi}: need 1 <= LOW <= HIGH (the models read at least "
                                  f"one symbol)")
        self.train_lengths = (lo, hi)
        if self.balance != "natural":
            b = float(self.balance)
            if not 0.0 <= b <= 1.0:
                raise StatetrackError(f"task balance {self.balance!r}: need a fraction in [0, 1] or 'natural'")
            self.balance = b
        self.dfa = self.dfa.complete()
        self._samplers: dict[bool, WordSampler] = {}

    # ----------------------------------------------------------------------------------------------- sizes
    @property
    def n_symbols(self) -> int:
        return self.dfa.n_symbols

    @property
    def pad_id(self) -> int:
        return self.dfa.n_symbols

    @property
    def vocab_size(self) -> int:
        return self.dfa.n_symbols + 1

    @property
    def n_classes(self) -> int:
        return 2 if self.labels == "final" else self.dfa.n_states

    def to_json(self) -> dict[str, Any]:
        return {"dfa": self.dfa.to_json(), "labels": self.labels, "train_lengths": list(self.train_lengths),
                "balance": self.balance, "source": self.source}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Task":
        return cls(DFA.from_json(obj["dfa"]), obj["labels"], tuple(obj["train_lengths"]), obj["balance"],
                   obj.get("source", {}))

    # ---------------------------------------------------------------------------------------------- words
    def _sampler(self, accepted: bool, max_length: int) -> WordSampler:
        s = self._samplers.get(accepted)
        if s is None or s.max_length < max_length:
            dfa = self.dfa if accepted else self.dfa.complement()
            grown = 2 * s.max_length if s is not None else 0  # grow geometrically over rising test lengths
            s = WordSampler(dfa, max(max_length, self.train_lengths[1], grown))
            self._samplers[accepted] = s
        return s

    def sample_words(self, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One word per entry of ``lengths [B]``: ``[B, max(lengths)]`` int64 symbol ids padded with -1."""
        lengths = np.asarray(lengths, dtype=np.int64)
        T = int(lengths.max()) if lengths.size else 0
        if self.balance == "natural":
            words = rng.integers(0, self.n_symbols, size=(lengths.size, T), dtype=np.int64)
            words[np.arange(T)[None, :] >= lengths[:, None]] = -1
            return words
        want = rng.random(lengths.size) < float(self.balance)
        words = np.full((lengths.size, T), -1, dtype=np.int64)
        for acc in (True, False):
            rows = np.flatnonzero(want == acc)
            if rows.size == 0:
                continue
            sampler = self._sampler(acc, T)
            ok = np.array([sampler.has_words(int(t)) for t in lengths[rows]])
            if not ok.all():  # only one kind exists at some lengths: draw the other kind there
                other = self._sampler(not acc, T)
                alt = rows[~ok]
                w = other.sample_lengths(lengths[alt], rng).astype(np.int64)
                words[alt, :w.shape[1]] = w
                rows = rows[ok]
                if rows.size == 0:
                    continue
            w = sampler.sample_lengths(lengths[rows], rng).astype(np.int64)
            words[rows, :w.shape[1]] = w
        return words

    def states(self, words: np.ndarray) -> np.ndarray:
        """DFA state after each symbol of ``words [B, T]`` (padded -1): ``[B, T]`` int64, -1 on padding."""
        B, T = words.shape
        q = np.full(B, self.dfa.start, dtype=np.int64)
        out = np.full((B, T), -1, dtype=np.int64)
        d = self.dfa.delta
        for t in range(T):
            real = words[:, t] >= 0
            q = np.where(real, d[q, np.maximum(words[:, t], 0)], q)
            out[:, t] = np.where(real, q, -1)
        return out

    def labelled(self, words: np.ndarray) -> Batch:
        """The padded batch of ``words [B, T]`` (padded -1) with this task's labels."""
        words = np.asarray(words, dtype=np.int64)
        mask = words >= 0
        lengths = mask.sum(1)
        if (lengths < 1).any():
            raise StatetrackError("task batch: every word needs at least one symbol")
        states = self.states(words)
        if self.labels == "final":
            last = states[np.arange(len(words)), lengths - 1]
            targets = self.dfa.accepting[last].astype(np.int64)
        else:
            targets = np.where(mask, states, IGNORE)
        ids = np.where(mask, words, self.pad_id)
        return Batch(torch.from_numpy(ids), torch.from_numpy(lengths), torch.from_numpy(targets),
                     torch.from_numpy(mask))

    def batch(self, size: int, rng: np.random.Generator, lengths: "tuple[int, int] | None" = None) -> Batch:
        """A fresh batch: lengths uniform in ``lengths`` (default the train range), words as the balance says."""
        lo, hi = lengths or self.train_lengths
        ls = rng.integers(lo, hi + 1, size=size)
        return self.labelled(self.sample_words(ls, rng))

    def chance(self, length: int, samples: "np.ndarray | None" = None) -> float:
        """Accuracy of the best constant guess at ``length``.

        Final labels with natural balance: ``max(p, 1 - p)``, ``p`` = exact fraction of accepted words of the length.
        Final labels with balance F: ``max(F, 1 - F)`` where both kinds exist. Per-token labels: the most frequent
        state among ``samples`` (the per-token targets ``[N, T]`` of the evaluation words), over real positions.
        """
        if self.labels == "per-token":
            if samples is None:
                raise StatetrackError("per-token chance needs the evaluation targets")
            real = samples[samples >= 0]
            return float(np.bincount(real).max() / real.size) if real.size else 0.0
        n_acc = self.dfa.count(length)
        total = self.n_symbols ** length
        if self.balance == "natural":
            p = n_acc / total
        else:
            p = float(self.balance) if 0 < n_acc < total else float(n_acc > 0)
        return float(max(p, 1.0 - p))


def task_from_dfa(dfa: DFA, labels: str = "final", train_lengths: tuple[int, int] = (3, 40),
                  balance: "float | str" = "natural", source: "dict | None" = None) -> Task:
    """A :class:`Task` on the minimal complete DFA of ``dfa``."""
    return Task(dfa.minimize(), labels, train_lengths, balance, source or {})


def align_alphabet(dfa: DFA, alphabet: "tuple[str, ...] | list[str]", what: str = "the model") -> DFA:
    """``dfa`` over ``alphabet`` (symbols paired by name, in ``alphabet``'s order; symbols of ``alphabet`` that
    ``dfa`` lacks lead to rejection). Raises :class:`~statetrack.errors.AlphabetError` naming the symbols of ``dfa``
    that ``alphabet`` lacks: a model cannot read a symbol it was not built for."""
    from statetrack.errors import AlphabetError

    missing = [a for a in dfa.alphabet if a not in set(alphabet)]
    if missing:
        raise AlphabetError(f"the language's symbol(s) {', '.join(map(repr, missing))} are not in the alphabet of "
                            f"{what} ({', '.join(map(repr, alphabet))}); symbols are paired by name")
    return dfa if tuple(dfa.alphabet) == tuple(alphabet) else dfa.with_alphabet(alphabet)


__all__ = ["Task", "Batch", "task_from_dfa", "align_alphabet", "LABELS", "IGNORE"]
