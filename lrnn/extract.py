"""Automaton extraction from a trained model: does the model's state track the language?

Pipeline (:func:`extract`):

1. **Prefixes.** Every prefix of ``n_words`` uniform random words of lengths ``min_length..max_length``, plus every
   word of length ``min_length`` (so every entry into the model's states is seen); each distinct prefix is one point.
2. **State vectors in the readout-relevant subspace.** A trained model's hidden state carries much that the
   readout ignores; a diagonal model's state is dominated by the last symbol, so clustering raw states groups
   prefixes by their last symbol. We therefore describe a prefix ``p`` by what the state *means to the readout*: the
   class probabilities the head gives after ``p`` and after ``p s`` for every suffix ``s`` of length
   ``1..lookahead`` (the head's row space, probed one or more steps ahead: a finite Myhill-Nerode signature,
   ``[|suffixes| * n_classes]`` per prefix). ``subspace="pca"`` instead clusters the head's input vectors after PCA
   (99% of the variance): the naive choice, kept for comparison.
3. **Clustering with k chosen by description length.** k-means (k-means++ seeding, several restarts, seeded) for
   ``k = 1, 2, ...``; each clustering gives an automaton (start node = the empty prefix, node ``i`` = cluster ``i``,
   the transition on ``a`` from cluster ``c`` = the majority cluster of ``p a`` over prefixes ``p`` in ``c``; a cluster
   accepts when most of its prefixes are classified as accepted). Its description length is
   ``k * |Sigma| * log2(k + 1) + k`` bits for the table plus ``log2(P + 1)`` bits per prefix whose model verdict
   the automaton gets wrong (P = the number of prefixes); the k with the fewest bits wins (the search stops once an
   automaton agrees on every prefix, or at ``k_max``).
4. **Minimise and decide.** The chosen automaton is minimised and compared with the task's DFA
   (:meth:`~statetrack.automata.dfa.DFA.equivalent`): either "the extracted automaton is the language" or the
   shortest word on which they differ.
5. **Fit.** ``fit`` is the fraction of probed prefixes on which the chosen automaton and the model agree. An
   equivalent automaton with a fit well below 1 is the closest finite-state description of a model that does not
   (yet) behave like any small automaton; "the model tracks the language" needs both.
6. **Agreement on long words.** On ``test_words`` fresh words of lengths ``test_lengths``, the fraction of words
   whose final verdict the automaton and the model share (``agreement``), and the automaton's accuracy against the
   language (``accuracy``).

Words shorter than the shortest training length (``min_length``) are outside what the model was trained on (and
the model gives no output at all on the empty word): they form an exact prefix tree whose acceptance follows the task;
the model's clustered states take over at ``min_length``. Only prefixes of at least that length are clustered and
counted in the description length.
Per-token tasks (classes = DFA states) read "accepted" as "the predicted state is accepting".
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError

from .tasks import Task
from .train import model_features

SUBSPACES = ("readout", "pca")
#: resource limit: model inputs probed for the readout signatures (prefixes x (1 + suffixes of length 1..lookahead))
EXTRACT_MAX_PROBES = 1 << 21
#: resource limit: symbols of the longest probed or tested word
EXTRACT_MAX_LENGTH = 1 << 14
#: sequences per forward pass during extraction
_BATCH = 2048


@dataclass
class Extraction:
    """Result of :func:`extract` (``dfa`` is the minimised extracted automaton)."""

    dfa: DFA
    equivalent: bool
    counterexample: tuple[str, ...] | None
    states: int
    k: int
    agreement: float
    accuracy: float
    prefixes: int
    min_length: int = 1
    description_bits: dict[int, float] = field(default_factory=dict)
    prefix_agreement: dict[int, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"equivalent": self.equivalent,
                "counterexample": None if self.counterexample is None else "".join(self.counterexample)
                if all(len(s) == 1 for s in self.counterexample) else " ".join(self.counterexample),
                "states": self.states, "k": self.k, "fit": self.prefix_agreement.get(self.k), "agreement": self.agreement, "accuracy": self.accuracy,
                "prefixes": self.prefixes, "min_length": self.min_length,
                "description_bits": {str(k): v for k, v in self.description_bits.items()},
                "prefix_agreement": {str(k): v for k, v in self.prefix_agreement.items()},
                "dfa": self.dfa.to_json()}


# --------------------------------------------------------------------------------------------- model probes
def _last_outputs(model: nn.Module, task: Task, seqs: list[tuple[int, ...]], what: str) -> np.ndarray:
    """Per sequence (non-empty tuples of symbol ids), the model's class probabilities (``what="probs"``) or the
    head's input vector (``"features"``) at its last symbol: ``[len(seqs), C or d]`` float64."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out: list[np.ndarray] = [None] * len(seqs)  # type: ignore[list-item]
    with torch.no_grad():
        for i0 in range(0, len(order), _BATCH):
            idx = order[i0:i0 + _BATCH]
            T = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), T), task.pad_id, dtype=torch.long)
            lens = torch.tensor([len(seqs[i]) for i in idx])
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
            h = model_features(model, ids)
            y = model.head(h).softmax(-1) if what == "probs" else h
            last = y[torch.arange(len(idx)), lens - 1].double().numpy()
            for r, i in enumerate(idx):
                out[i] = last[r]
    return np.stack(out)


def _accepting_classes(task: Task) -> np.ndarray:
    """Which output classes mean "accepted": ``[n_classes]`` bool."""
    return np.array([False, True]) if task.labels == "final" else task.dfa.accepting.copy()


# ------------------------------------------------------------------------------------------------- k-means
def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, restarts: int = 4, iters: int = 50) -> np.ndarray:
    """Cluster labels ``[N]`` of ``x [N, D]`` into ``k`` clusters (k-means++ seeding, best of ``restarts``)."""
    n = x.shape[0]
    if k >= n:
        return np.arange(n) % max(k, 1)
    best, best_cost = None, math.inf
    for _ in range(restarts):
        centres = [x[rng.integers(n)]]
        d2 = ((x - centres[0]) ** 2).sum(1)
        for _ in range(1, k):
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
            centres.append(x[rng.choice(n, p=p)])
            d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
        c = np.stack(centres)
        labels = np.zeros(n, dtype=np.int64)
        for it in range(iters):
            dist = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
            new = dist.argmin(1)
            if it and (new == labels).all():
                break
            labels = new
            for j in range(k):
                members = x[labels == j]
                if len(members):
                    c[j] = members.mean(0)
        cost = float(((x - c[labels]) ** 2).sum())
        if best is None or cost < best_cost:
            best, best_cost = labels.copy(), cost
    return best  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------- automata
def _automaton(task: Task, tree: dict[tuple[int, ...], int], labels: np.ndarray, k: int,
               prefixes: list[tuple[int, ...]], parent: np.ndarray, verdict: np.ndarray) -> DFA:
    """The automaton of one clustering.

    Nodes ``0 .. len(tree) - 1`` are the words shorter than the model's shortest training length (``tree`` maps each
    to its node; they follow the task); node ``len(tree) + c`` is cluster ``c`` of the longer prefixes.
    ``parent [P]``: index of each prefix's parent among ``prefixes``, or ``-1 - node`` for a tree parent;
    ``verdict [P]``: the model's accept verdict on each prefix.
    """
    n_sym, n_tree = task.n_symbols, len(tree)
    n = n_tree + k
    delta = np.full((n, n_sym), -1, dtype=np.int64)
    acc = np.zeros(n, dtype=bool)
    for w, node in tree.items():
        acc[node] = task.dfa.accepts(task.dfa.decode(w)) if w else bool(task.dfa.accepting[task.dfa.start])
        for a in range(n_sym):
            child = tree.get(w + (a,))
            if child is not None:
                delta[node, a] = child
    last = np.array([p[-1] for p in prefixes], dtype=np.int64)
    src = np.where(parent >= 0, n_tree + labels[np.maximum(parent, 0)], -1 - parent)
    votes = np.zeros((n, n_sym, k), dtype=np.int64)
    np.add.at(votes, (src, last, labels), 1)
    seen = votes.sum(-1) > 0
    delta[seen] = n_tree + votes.argmax(-1)[seen]
    for c in range(k):
        m = labels == c
        acc[n_tree + c] = bool(verdict[m].mean() > 0.5) if m.any() else False
    names = [f"w{i}" for i in range(n_tree)] + [f"c{c}" for c in range(k)]
    return DFA(task.dfa.alphabet, names, tree[()], acc, delta)


def _run_accepts(dfa: DFA, seqs: list[tuple[int, ...]]) -> np.ndarray:
    """Acceptance of each sequence of symbol ids by ``dfa`` (missing transitions reject)."""
    out = np.zeros(len(seqs), dtype=bool)
    for i, s in enumerate(seqs):
        q = dfa.start
        for a in s:
            q = int(dfa.delta[q, a])
            if q < 0:
                break
        out[i] = q >= 0 and bool(dfa.accepting[q])
    return out


def _prefixes(words: list[tuple[int, ...]], m0: int) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Distinct prefixes of length >= ``m0`` of ``words`` and their parent index (``-1`` = a tree parent)."""
    index: dict[tuple[int, ...], int] = {}
    prefixes: list[tuple[int, ...]] = []
    parent: list[int] = []
    for w in words:
        for t in range(max(m0, 1), len(w) + 1):
            p = w[:t]
            if p in index:
                continue
            index[p] = len(prefixes)
            prefixes.append(p)
            parent.append(index[p[:-1]] if t > m0 else -1)
    return prefixes, np.array(parent, dtype=np.int64)


def extract(model: nn.Module, task: Task, *, n_words: int = 256, max_length: int | None = None,
            min_length: int | None = None, lookahead: int = 1, subspace: str = "readout", k_max: int = 16,
            test_lengths: tuple[int, int] = (40, 256), test_words: int = 200, seed: int = 0) -> Extraction:
    """Extract, minimise and compare an automaton from ``model`` on ``task`` (see the module docstring).

    ``max_length``: longest sampled prefix (default: the task's longest training length). ``min_length``: words
    shorter than this are never given to the model (default: the shortest training length for final labels, 1 for
    per-token labels; lowered until at most 4096 words are that short); they form a prefix tree that follows the task, and the model's states take over
    from there on.
    """
    if subspace not in SUBSPACES:
        raise StatetrackError(f"--subspace {subspace!r}: choose one of {', '.join(SUBSPACES)}")
    for name, value, least in (("lookahead", lookahead, 0), ("k_max", k_max, 1), ("n_words", n_words, 1),
                               ("test_words", test_words, 1)):
        if value < least:
            raise StatetrackError(f"extract: {name} {value}: must be at least {least}")
    if max_length is not None and not 1 <= max_length <= EXTRACT_MAX_LENGTH:
        raise StatetrackError(f"extract: max_length {max_length}: need 1..{EXTRACT_MAX_LENGTH} (EXTRACT_MAX_LENGTH)")
    if not 1 <= test_lengths[0] <= test_lengths[1] <= EXTRACT_MAX_LENGTH:
        raise StatetrackError(f"extract: test_lengths {test_lengths[0]}:{test_lengths[1]}: need "
                              f"1 <= A <= B <= {EXTRACT_MAX_LENGTH} (EXTRACT_MAX_LENGTH)")
    n_suffixes = 0
    if subspace == "readout":  # sum of n_symbols ** m for m = 1..lookahead, stopped once past the limit
        term = 1
        for _ in range(lookahead):
            term *= task.n_symbols
            n_suffixes += term
            if n_suffixes > EXTRACT_MAX_PROBES:
                break
    # a lower bound on the probes before any is built: every sampled word gives at least one prefix
    if n_words * (1 + n_suffixes) > EXTRACT_MAX_PROBES:
        raise StatetrackError(f"extract: lookahead {lookahead} over {task.n_symbols} symbols gives "
                              f"{'more than ' if n_suffixes > EXTRACT_MAX_PROBES else ''}{n_suffixes} suffixes; with "
                              f"{n_words} words that is more than EXTRACT_MAX_PROBES = "
                              f"{EXTRACT_MAX_PROBES} probe words (lower lookahead or n_words)")
    model = model.eval()
    rng = np.random.default_rng([int(seed), 0xE7])
    n_sym = task.n_symbols
    L = int(max_length or task.train_lengths[1])
    if min_length is None:  # per-token training labels every prefix: the model answers from length 1 on
        min_length = 1 if task.labels == "per-token" else task.train_lengths[0]
    m0 = max(1, int(min_length))
    while m0 > 1 and n_sym ** m0 > 4096:
        m0 -= 1
    if L < m0:
        raise StatetrackError(f"extract: --max-length {L} is below the shortest model length {m0}")
    tree = {w: i for i, w in enumerate(w for t in range(m0) for w in itertools.product(range(n_sym), repeat=t))}
    # every word of length m0 (so every tree leaf has its transitions), then uniform random words
    words = [tuple(w) for w in itertools.product(range(n_sym), repeat=m0)] if n_sym ** m0 <= 4096 else []
    lengths = rng.integers(m0, L + 1, size=n_words)
    words += [tuple(int(a) for a in rng.integers(0, n_sym, size=int(t))) for t in lengths]
    prefixes, parent = _prefixes(words, m0)
    parent = np.array([q if q >= 0 else -1 - tree[p[:-1]] for p, q in zip(prefixes, parent.tolist())],
                      dtype=np.int64)
    acc_classes = _accepting_classes(task)
    if len(prefixes) * (1 + n_suffixes) > EXTRACT_MAX_PROBES:
        raise StatetrackError(f"extract: {len(prefixes)} prefixes x {1 + n_suffixes} signature words = "
                              f"{len(prefixes) * (1 + n_suffixes)} probe words exceeds EXTRACT_MAX_PROBES = "
                              f"{EXTRACT_MAX_PROBES} (lower lookahead, n_words or max_length)")

    probs = _last_outputs(model, task, prefixes, "probs")
    if not np.isfinite(probs).all():
        raise StatetrackError("extract: the model's outputs are not finite (NaN or inf weights?)")
    verdict = acc_classes[probs.argmax(1)]
    if subspace == "readout":
        suffixes = [s for m in range(1, lookahead + 1) for s in itertools.product(range(n_sym), repeat=m)]
        feats = [probs]
        for s in suffixes:
            feats.append(_last_outputs(model, task, [p + s for p in prefixes], "probs"))
        x = np.concatenate(feats, axis=1)
    else:
        h = _last_outputs(model, task, prefixes, "features")
        h = h - h.mean(0)
        _, sv, vt = np.linalg.svd(h, full_matrices=False)
        keep = int(np.searchsorted(np.cumsum(sv ** 2) / max(float((sv ** 2).sum()), 1e-300), 0.99) + 1)
        x = h @ vt[:keep].T
    P = len(prefixes)
    bits: dict[int, float] = {}
    agree: dict[int, float] = {}
    best: tuple[float, int, DFA] | None = None
    for k in range(1, min(k_max, P) + 1):
        labels = kmeans(x, k, rng)
        cand = _automaton(task, tree, labels, k, prefixes, parent, verdict)
        errors = int((_run_accepts(cand, prefixes) != verdict).sum())
        agree[k] = 1.0 - errors / P
        bits[k] = (len(tree) + k) * n_sym * math.log2(len(tree) + k + 1) + k + errors * math.log2(P + 1)
        if best is None or bits[k] < best[0]:
            best = (bits[k], k, cand)
        if errors == 0:
            break
    assert best is not None
    _, k, chosen = best
    dfa = chosen.minimize()
    eq = dfa.equivalent(task.dfa)
    # agreement with the model and accuracy against the language on long words
    lo, hi = test_lengths
    test_rng = np.random.default_rng([int(seed), 0x7E57])
    tl = test_rng.integers(max(lo, m0), max(hi, m0) + 1, size=test_words)
    tests = [tuple(int(a) for a in test_rng.integers(0, n_sym, size=int(t))) for t in tl]
    model_says = acc_classes[_last_outputs(model, task, tests, "probs").argmax(1)]
    dfa_says = _run_accepts(dfa, tests)
    truth = _run_accepts(task.dfa, tests)
    return Extraction(dfa=dfa, equivalent=eq.equivalent,
                      counterexample=None if eq.counterexample is None else tuple(eq.counterexample),
                      states=dfa.n_states, k=k, agreement=float((model_says == dfa_says).mean()),
                      accuracy=float((truth == dfa_says).mean()), prefixes=P, min_length=m0,
                      description_bits=bits, prefix_agreement=agree)


__all__ = ["extract", "Extraction", "kmeans", "SUBSPACES", "EXTRACT_MAX_PROBES", "EXTRACT_MAX_LENGTH"]
