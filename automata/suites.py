"""Labelled test suites: train/test splits over length ranges, balanced, de-duplicated, reproducible.

A suite has two splits, ``train`` and ``test``, each a set of length ranges (inclusive) with a
quota of ``per_length`` words per length. For every length:

* **balance** ``F`` in [0, 1]: ``round(F * N)`` accepted words (at least one when ``F > 0``, at
  most ``N - 1`` when ``F < 1`` and ``N >= 2``: :func:`balanced_count`) and the rest rejected, each drawn
  uniformly among the words of that length (rejected ones through the complement DFA). Where only
  one kind exists, all ``N`` words are of that kind and a note says so. ``"natural"`` draws the
  words uniformly from all words of the length instead (the protocol of the published
  benchmarks) and labels them with the DFA.
* **hard negatives** ``H`` in [0, 1]: that fraction of the rejected quota is made of rejected
  words one edit away from an accepted word (see :func:`hard_negatives`); the rest is uniform.
* **de-duplication**: words are distinct within a split, and no test word is a train word
  (unless ``allow_duplicates``). The distinct words of a length form a uniformly random subset;
  when a length has fewer words than asked, all of them are taken (exhaustive enumeration) and
  a note reports the shortfall.
* **labels**: ``final`` (acceptance of the whole word) or ``per-token`` (the state id, in the
  DFA's ``states`` order, and acceptance after each symbol).
* **seed**: every random choice comes from ``numpy.random.default_rng([seed, split, length])``,
  so a fixed seed reproduces the suite, and one length's words do not depend on other lengths.

:func:`generate_suite` builds everything in memory (all checks first); :func:`write_suite` then
writes ``train.{jsonl,npz}``, ``test.{jsonl,npz}`` and ``manifest.json`` as one directory, renamed into place
whole (an existing suite is replaced only on request).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from statetrack.fileio import OutputPathError, atomic_directory, atomic_open, atomic_write_text, check_output_dir
from .dfa import DFA
from statetrack.errors import StatetrackError
from .sampling import WordSampler, padded_dtype, row_keys, symbol_dtype, universal_dfa, words_to_lists

SPLITS = ("train", "test")

#: Largest padded array (words x longest length) one split may hold.
MAX_CELLS = 500_000_000

PRESETS: dict[str, dict[str, Any]] = {
    # Deletang et al. 2023 (ICLR), "Neural Networks and the Chomsky Hierarchy", as used by
    # Grazzi et al. 2025: train on lengths 3..40, test on 40..256, one label per sequence,
    # sequences drawn uniformly and labelled by the task.
    "chomsky": {
        "train_lengths": (3, 40),
        "test_lengths": (40, 256),
        "labels": "final",
        "balance": "natural",
        "per_length": 100,
        "allowed_train_lengths": [(3, 40)],
        "reference": "Deletang et al. 2023; Grazzi et al. 2025",
    },
    # Merrill et al. 2024 ("The Illusion of State") and DeltaProduct (Siems et al. 2025): state
    # labels at every token, uniform words of length 32 (or 128) for training, 512 for testing
    # (per-token labels make every prefix length 1..512 a test point).
    "wordproblem": {
        "train_lengths": (32, 32),
        "test_lengths": (512, 512),
        "labels": "per-token",
        "balance": "natural",
        "per_length": 1000,
        "allowed_train_lengths": [(32, 32), (128, 128)],
        "reference": "Merrill et al. 2024; Siems et al. 2025 (DeltaProduct)",
    },
}

HARD_NEGATIVE_METHOD = (
    "draw an accepted word uniformly among those of length T (substitution), T-1 (insertion) or "
    "T+1 (deletion), the edit kind uniformly among those available, then one position and one "
    "symbol uniformly (a substitution always changes the symbol); keep the result when the DFA "
    "rejects it and it is new"
)


class SuiteError(StatetrackError, ValueError):
    """A suite request that cannot be met or whose options conflict."""


@dataclass(frozen=True)
class SuiteOptions:
    """What to generate. Lengths are inclusive ``(low, high)`` ranges.

    ``balance`` is the fraction of accepted words per length, or ``"natural"`` (uniform over all
    words of the length). ``hard_negatives`` is the fraction of the rejected quota made of hard
    negatives. ``exact`` picks the counting mode (None: by size; see
    :func:`~statetrack.automata.counting.scaled_count_table`).
    """

    train_lengths: tuple[int, int] = (1, 20)
    test_lengths: tuple[int, int] = (21, 40)
    per_length: int = 100
    balance: "float | str" = 0.5
    hard_negatives: float = 0.0
    labels: str = "final"
    allow_duplicates: bool = False
    seed: int | None = None
    preset: str | None = None
    exact: bool | None = None

    def lengths(self, split: str) -> range:
        lo, hi = self.train_lengths if split == "train" else self.test_lengths
        return range(lo, hi + 1)


def parse_length_range(text: str, option: str = "--train-lengths") -> tuple[int, int]:
    """``"3:40"`` -> (3, 40) (inclusive); ``"32"`` -> (32, 32)."""
    parts = str(text).split(":")
    try:
        if len(parts) == 1:
            lo = hi = int(parts[0])
        elif len(parts) == 2:
            lo, hi = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise SuiteError(f"{option} {text!r}: expected LOW:HIGH (inclusive) or one length") from None
    if lo < 0 or hi < lo:
        raise SuiteError(f"{option} {text!r}: need 0 <= LOW <= HIGH")
    return lo, hi


def parse_balance(text: "str | float") -> "float | str":
    """A fraction in [0, 1] or ``"natural"``."""
    if isinstance(text, str) and text.strip().lower() == "natural":
        return "natural"
    try:
        f = float(text)
    except ValueError:
        raise SuiteError(f"--balance {text!r}: expected a fraction in [0, 1] or 'natural'") from None
    if not 0.0 <= f <= 1.0:
        raise SuiteError(f"--balance {text!r}: the fraction of accepted words must be in [0, 1]")
    return f


def resolve_options(preset: str | None = None, **given: Any) -> SuiteOptions:
    """Options from a preset's values and the explicitly given ones (``None`` = not given).

    A preset fixes the length ranges and the label kind; an explicit value that contradicts
    them is a :class:`SuiteError`. Everything else given explicitly overrides the preset.
    """
    given = {k: v for k, v in given.items() if v is not None}
    base: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise SuiteError(f"--preset {preset!r}: unknown preset (choose from {', '.join(PRESETS)})")
        p = PRESETS[preset]
        if "labels" in given and given["labels"] != p["labels"]:
            raise SuiteError(f"--labels {given['labels']} conflicts with --preset {preset} (labels {p['labels']})")
        if "train_lengths" in given and tuple(given["train_lengths"]) not in p["allowed_train_lengths"]:
            allowed = " or ".join(f"{a}:{b}" for a, b in p["allowed_train_lengths"])
            raise SuiteError(f"--train-lengths {_fmt_range(given['train_lengths'])} conflicts with --preset {preset} "
                             f"(train lengths {allowed})")
        if "test_lengths" in given and tuple(given["test_lengths"]) != p["test_lengths"]:
            raise SuiteError(f"--test-lengths {_fmt_range(given['test_lengths'])} conflicts with --preset {preset} "
                             f"(test lengths {_fmt_range(p['test_lengths'])})")
        base = {k: p[k] for k in ("train_lengths", "test_lengths", "labels", "balance", "per_length")}
        base["preset"] = preset
    base.update(given)
    for key in ("train_lengths", "test_lengths"):
        if key in base:
            base[key] = tuple(base[key])
    opts = SuiteOptions(**base)
    validate_options(opts)
    return opts


def _fmt_range(r: tuple[int, int]) -> str:
    return f"{r[0]}:{r[1]}"


def validate_options(o: SuiteOptions) -> None:
    """Raise :class:`SuiteError` for out-of-range values and conflicting options."""
    for name, r in (("--train-lengths", o.train_lengths), ("--test-lengths", o.test_lengths)):
        if len(r) != 2 or int(r[0]) != r[0] or int(r[1]) != r[1] or r[0] < 0 or r[1] < r[0]:
            raise SuiteError(f"{name} {r!r}: need 0 <= LOW <= HIGH")
    if int(o.per_length) != o.per_length or o.per_length < 1:
        raise SuiteError(f"--per-length {o.per_length}: need at least one word per length")
    if o.balance != "natural" and not (isinstance(o.balance, (int, float)) and 0.0 <= o.balance <= 1.0):
        raise SuiteError(f"--balance {o.balance!r}: expected a fraction in [0, 1] or 'natural'")
    if not 0.0 <= o.hard_negatives <= 1.0:
        raise SuiteError(f"--hard-negatives {o.hard_negatives}: the fraction must be in [0, 1]")
    if o.hard_negatives > 0 and o.balance == "natural":
        raise SuiteError("--hard-negatives needs a numeric --balance (with 'natural' the number of rejected words is not fixed)")
    if o.hard_negatives > 0 and o.balance == 1.0:
        raise SuiteError("--hard-negatives conflicts with --balance 1 (no rejected words are asked for)")
    if o.labels not in ("final", "per-token"):
        raise SuiteError(f"--labels {o.labels!r}: choose final or per-token")
    if o.seed is not None and (int(o.seed) != o.seed or o.seed < 0):
        raise SuiteError(f"--seed {o.seed!r}: need a non-negative integer")
    for split in SPLITS:
        r = o.lengths(split)
        cells = o.per_length * len(r) * r[-1]
        if cells > MAX_CELLS:
            raise SuiteError(f"the {split} split asks for {o.per_length * len(r)} words up to length {r[-1]} "
                             f"({cells} cells > limit {MAX_CELLS}); lower --per-length or the lengths")


@dataclass
class Split:
    """One split as arrays (rows sorted by length; ``N`` words, ``L`` = longest length).

    ``words`` ``[N, L]`` symbol ids padded with -1; ``lengths`` ``[N]``; ``accepted`` ``[N]``;
    ``hard`` ``[N]`` (hard negatives); with per-token labels ``states`` ``[N, L]`` (state id after
    each symbol, -1 on padding) and ``prefix_accepted`` ``[N, L]`` (False on padding).
    ``per_length`` maps each length to its counts and the sizes of the pools it drew from.
    """

    name: str
    words: np.ndarray
    lengths: np.ndarray
    accepted: np.ndarray
    hard: np.ndarray
    states: np.ndarray | None
    prefix_accepted: np.ndarray | None
    per_length: dict[int, dict[str, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.lengths.size)

    def totals(self) -> dict[str, int]:
        return {
            "total": len(self),
            "accepted": int(self.accepted.sum()),
            "rejected": int((~self.accepted).sum()),
            "hard_negatives": int(self.hard.sum()),
        }


@dataclass
class Suite:
    """A generated suite: the labelling DFA (complete), options, the seed used, splits, notes."""

    dfa: DFA
    options: SuiteOptions
    seed: int
    splits: dict[str, Split]
    notes: list[str]
    counting: str

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: s.totals() for name, s in self.splits.items()}

    def per_length_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        return {name: {str(t): v for t, v in s.per_length.items()} for name, s in self.splits.items()}


# ---------------------------------------------------------------------------- generation
def final_states(dfa: DFA, words: np.ndarray) -> np.ndarray:
    """State after reading each row of ``words`` ``[n, T]`` (complete DFA): ``[n]`` int64."""
    q = np.full(words.shape[0], dfa.start, dtype=np.int64)
    d = dfa.delta
    for t in range(words.shape[1]):
        q = d[q, words[:, t]]
    return q


def hard_negatives(
    dfa: DFA,
    accepted: WordSampler,
    length: int,
    n: int,
    rng: np.random.Generator,
    exclude: "set[bytes] | None" = None,
    distinct: bool = True,
    rounds: int = 8,
) -> np.ndarray:
    """Up to ``n`` rejected words of ``length`` one edit away from an accepted word.

    ``dfa`` must be complete; ``accepted`` samples its language (up to ``length + 1``). The
    method is :data:`HARD_NEGATIVE_METHOD`; at most ``rounds`` batches are tried, so fewer than
    ``n`` words come back when such words are rare or absent. Returns ``[m, length]``.
    """
    k = dfa.n_symbols
    dt = symbol_dtype(k)
    ops = []
    if length >= 1 and k >= 2 and accepted.has_words(length):
        ops.append("sub")
    if length >= 1 and accepted.has_words(length - 1):
        ops.append("ins")
    if length + 1 <= accepted.max_length and accepted.has_words(length + 1):
        ops.append("del")
    exclude = exclude or set()
    seen: set[bytes] = set()
    out: list[np.ndarray] = []
    got = 0
    if n <= 0 or not ops:
        return np.zeros((0, length), dtype=dt)
    cols = np.arange(length)
    for _ in range(rounds):
        batch = max(64, 4 * (n - got))
        which = rng.integers(len(ops), size=batch)
        made = []
        for i, op in enumerate(ops):
            cnt = int((which == i).sum())
            if cnt == 0:
                continue
            if op == "sub":
                base = accepted.sample(length, cnt, rng)
                pos = rng.integers(length, size=cnt)
                rows = np.arange(cnt)
                shift = rng.integers(1, k, size=cnt)  # a different symbol
                base[rows, pos] = ((base[rows, pos].astype(np.int64) + shift) % k).astype(dt)
                made.append(base)
            elif op == "ins":
                base = accepted.sample(length - 1, cnt, rng)
                ext = np.concatenate([base, np.zeros((cnt, 1), dtype=dt)], axis=1)
                pos = rng.integers(length, size=cnt)[:, None]
                sym = rng.integers(k, size=cnt)[:, None].astype(dt)
                src = cols[None, :] - (cols[None, :] > pos)
                made.append(np.where(cols[None, :] == pos, sym, np.take_along_axis(ext, src, axis=1)))
            else:
                base = accepted.sample(length + 1, cnt, rng)
                pos = rng.integers(length + 1, size=cnt)[:, None]
                src = cols[None, :] + (cols[None, :] >= pos)
                made.append(np.take_along_axis(base, src, axis=1))
        cand = np.concatenate(made, axis=0).astype(dt)
        cand = cand[rng.permutation(len(cand))]
        cand = cand[~dfa.accepting[final_states(dfa, cand)]]
        keep = []
        for i, key in enumerate(row_keys(cand)):
            if distinct and (key in seen or key in exclude):
                continue
            seen.add(key)
            keep.append(i)
            got += 1
            if got == n:
                break
        out.append(cand[keep])
        if got == n:
            break
    return np.concatenate(out, axis=0) if out else np.zeros((0, length), dtype=dt)


class _Pools:
    """The samplers a suite draws from (accepted, rejected, all words), built once."""

    def __init__(self, dfa: DFA, max_length: int, exact: bool | None):
        self.accepted = WordSampler(dfa, max_length, exact=exact)
        self.rejected = WordSampler(dfa.complement(), max_length, exact=exact)
        self._natural: WordSampler | None = None
        self._args = (dfa.alphabet, max_length, exact)

    @property
    def natural(self) -> WordSampler:
        if self._natural is None:
            alphabet, max_length, exact = self._args
            self._natural = WordSampler(universal_dfa(alphabet), max_length, exact=exact)
        return self._natural


def _draw(sampler: WordSampler, length: int, n: int, rng: np.random.Generator, exclude: set[bytes],
          distinct: bool) -> np.ndarray:
    if n <= 0 or not sampler.has_words(length):
        return np.zeros((0, length), dtype=sampler.dtype)
    if distinct:
        return sampler.sample_distinct(length, n, rng, exclude)
    return sampler.sample(length, n, rng)


def _check_feasible(o: SuiteOptions, pools: _Pools) -> None:
    """Errors for requests no length of a split can serve."""
    if pools.accepted.dfa.is_empty():
        raise SuiteError("the language is empty: no word is accepted")
    if o.balance == "natural":
        return
    for split in SPLITS:
        r = o.lengths(split)
        span = f"{split} lengths {r[0]}:{r[-1]}"
        if o.balance > 0 and not any(pools.accepted.has_words(t) for t in r):
            raise SuiteError(f"no accepted word of any of the {span} (lower --balance to 0 or change the lengths)")
        if o.balance < 1 and not any(pools.rejected.has_words(t) for t in r):
            raise SuiteError(f"no rejected word of any of the {span} (use --balance 1 or change the lengths)")


def generate_suite(dfa: DFA, options: SuiteOptions, *, progress: bool = False) -> Suite:
    """Build a suite in memory (nothing is written).

    ``dfa`` labels the words (it is completed; its state order gives the per-token state ids).
    Raises :class:`SuiteError` for bad options and impossible requests before sampling, and for
    a split that comes out empty after sampling (still before anything could be written).
    """
    validate_options(options)
    dfa = dfa.complete()
    seed = options.seed if options.seed is not None else int(np.random.SeedSequence().entropy % (1 << 63))
    options = replace(options, seed=seed)
    max_len = max(options.train_lengths[1], options.test_lengths[1]) + 1  # +1: deletions for hard negatives
    pools = _Pools(dfa, max_len, options.exact)
    _check_feasible(options, pools)
    notes: list[str] = []
    splits: dict[str, Split] = {}
    train_keys: dict[int, set[bytes]] = {}
    from tqdm.auto import tqdm

    for s_idx, split in enumerate(SPLITS):
        groups = []
        per_length: dict[int, dict[str, int]] = {}
        lengths = options.lengths(split)
        for t in tqdm(lengths, desc=f"gen {split}", unit="len", disable=None if progress else True, leave=False):
            rng = np.random.default_rng([seed, s_idx, t])
            exclude = set() if options.allow_duplicates else set(train_keys.get(t, ()))
            words, hard, info = _one_length(dfa, pools, options, t, rng, exclude, notes, split)
            per_length[t] = info
            if split == "train" and not options.allow_duplicates:
                train_keys[t] = set(row_keys(words))
            groups.append((t, words, hard))
        splits[split] = _assemble(dfa, split, groups, per_length, options.labels == "per-token")
        if len(splits[split]) == 0:
            raise SuiteError(f"the {split} split would be empty (every word of its lengths is excluded or missing)")
    counting = "exact" if pools.accepted.exact else "float"
    return Suite(dfa, options, seed, splits, notes, counting)


def balanced_count(balance: float, n: int) -> int:
    """Accepted words among ``n`` at fraction ``balance``: ``round(balance * n)``, but at least one accepted word
    when ``balance > 0`` and at least one rejected word when ``balance < 1`` and ``n >= 2`` (so ``--per-length 1``
    with a balance in (0, 1) gives one accepted word per length, never silently none)."""
    k = int(round(balance * n))
    if balance > 0 and k == 0:
        k = 1
    if balance < 1 and k == n and n >= 2:
        k = n - 1
    return k


def _one_length(dfa: DFA, pools: _Pools, o: SuiteOptions, t: int, rng: np.random.Generator,
                exclude: set[bytes], notes: list[str], split: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Words of one length (random order) and their hard-negative mask, plus the counts record."""
    n = o.per_length
    distinct = not o.allow_duplicates
    c_acc, c_rej = pools.accepted.count(t), pools.rejected.count(t)
    info: dict[str, Any] = {"asked": n, "available_accepted": c_acc, "available_rejected": c_rej}
    where = f"{split} length {t}"
    if o.balance == "natural":
        words = _draw(pools.natural, t, n, rng, exclude, distinct)
        hard = np.zeros(len(words), dtype=bool)
        if len(words) < n:
            notes.append(f"{where}: only {len(words)} new words exist (asked {n})")
    else:
        if c_acc == 0 or c_rej == 0:
            n_acc = 0 if c_acc == 0 else n
            notes.append(f"{where}: no {'accepted' if c_acc == 0 else 'rejected'} word exists; "
                         f"all {n} words are {'rejected' if c_acc == 0 else 'accepted'}")
        else:
            n_acc = balanced_count(o.balance, n)
        n_rej = n - n_acc
        n_hard = int(round(o.hard_negatives * n_rej))
        acc = _draw(pools.accepted, t, n_acc, rng, exclude, distinct)
        hn = hard_negatives(dfa, pools.accepted, t, n_hard, rng, exclude, distinct)
        rej = _draw(pools.rejected, t, n_rej - len(hn), rng, exclude | set(row_keys(hn)), distinct)
        if len(acc) < n_acc:
            notes.append(f"{where}: only {len(acc)} new accepted words exist (asked {n_acc})")
        if len(hn) + len(rej) < n_rej:
            notes.append(f"{where}: only {len(hn) + len(rej)} new rejected words exist (asked {n_rej})")
        if len(hn) < n_hard:
            notes.append(f"{where}: {len(hn)} hard negatives found (asked {n_hard}); the rest are uniform rejected words")
        words = np.concatenate([acc, hn, rej], axis=0)
        hard = np.zeros(len(words), dtype=bool)
        hard[len(acc) : len(acc) + len(hn)] = True
    order = rng.permutation(len(words))
    words, hard = words[order], hard[order]
    accepted = dfa.accepting[final_states(dfa, words)]
    info.update(accepted=int(accepted.sum()), rejected=int((~accepted).sum()), hard_negatives=int(hard.sum()))
    return words, hard, info


def _assemble(dfa: DFA, name: str, groups: list, per_length: dict, per_token: bool) -> Split:
    """Stack the per-length groups into padded arrays and compute the labels with the DFA."""
    n = sum(len(w) for _, w, _ in groups)
    width = max((t for t, w, _ in groups if len(w)), default=0)
    words = np.full((n, width), -1, dtype=padded_dtype(dfa.n_symbols))
    lengths = np.zeros(n, dtype=np.int64)
    accepted = np.zeros(n, dtype=bool)
    hard = np.zeros(n, dtype=bool)
    states = np.full((n, width), -1, dtype=np.int32) if per_token else None
    pref = np.zeros((n, width), dtype=bool) if per_token else None
    i = 0
    for t, w, h in groups:
        m = len(w)
        if m == 0:
            continue
        words[i : i + m, :t] = w
        lengths[i : i + m] = t
        hard[i : i + m] = h
        if t:
            run = dfa.run_batch(w.astype(np.int64))  # [m, t] state after each symbol
            accepted[i : i + m] = dfa.accepting[run[:, -1]]
            if per_token:
                states[i : i + m, :t] = run
                pref[i : i + m, :t] = dfa.accepting[run]
        else:
            accepted[i : i + m] = dfa.accepting[dfa.start]
        i += m
    return Split(name, words, lengths, accepted, hard, states, pref, per_length)


# ---------------------------------------------------------------------------- writing
def split_records(dfa: DFA, split: Split) -> Iterable[dict]:
    """The JSON-lines objects of a split, in row order."""
    words = words_to_lists(dfa, split.words)
    for i, w in enumerate(words):
        t = int(split.lengths[i])
        rec: dict[str, Any] = {"word": w, "length": t, "accepted": bool(split.accepted[i])}
        if split.hard[i]:
            rec["hard_negative"] = True
        if split.states is not None:
            rec["states"] = split.states[i, :t].tolist()
            rec["prefix_accepted"] = split.prefix_accepted[i, :t].tolist()
        yield rec


def _write_split(dfa: DFA, split: Split, path: Path, fmt: str) -> None:
    if fmt == "jsonl":
        with atomic_open(path, "w") as fh:
            for rec in split_records(dfa, split):
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
        return
    arrays = {
        "words": split.words,
        "mask": split.words >= 0,
        "lengths": split.lengths,
        "accepted": split.accepted,
        "hard_negative": split.hard,
        "alphabet": np.array(dfa.alphabet, dtype=str),
    }
    if split.states is not None:
        arrays["states"] = split.states
        arrays["prefix_accepted"] = split.prefix_accepted
    with atomic_open(path, "wb", encoding=None) as fh:
        np.savez_compressed(fh, **arrays)


def manifest(suite: Suite, files: dict[str, str], source: dict | None = None, fmt: str = "jsonl") -> dict:
    """The ``manifest.json`` object of a suite."""
    from statetrack import __version__

    o = suite.options
    opts = asdict(o)
    opts["train_lengths"] = list(o.train_lengths)
    opts["test_lengths"] = list(o.test_lengths)
    opts["format"] = fmt
    opts.pop("exact")
    out: dict[str, Any] = {
        "format_version": 1,
        "generator": f"statetrack {__version__}",
        "source": source or {},
        "dfa": suite.dfa.to_json(),
        "dfa_sha256": suite.dfa.sha256(),
        "seed": suite.seed,
        "options": opts,
        "counting": suite.counting,
        "files": files,
        "counts": suite.counts(),
        "per_length": suite.per_length_counts(),
        "notes": suite.notes,
    }
    if o.preset:
        out["preset"] = {"name": o.preset, "reference": PRESETS[o.preset]["reference"]}
    if o.hard_negatives > 0:
        out["hard_negative_method"] = HARD_NEGATIVE_METHOD
    return out


def write_suite(suite: Suite, out_dir: "str | Path", fmt: str = "jsonl", source: dict | None = None,
                replace: bool = False) -> dict[str, str]:
    """Write the splits and ``manifest.json`` as the directory ``out_dir``, whole.

    The files are written into a temporary sibling directory which is then renamed onto ``out_dir``
    (:func:`statetrack.fileio.atomic_directory`), so an interrupted write leaves the previous suite (or nothing)
    and never a mix of old and new files. An existing non-empty ``out_dir`` is replaced only with ``replace=True``
    (the CLI's ``--force``), and only when it is a suite (it holds ``manifest.json``): other directories are never
    deleted. Returns ``{"train": path, "test": path, "manifest": path}``.
    """
    if fmt not in ("jsonl", "npz"):
        raise SuiteError(f"--format {fmt!r}: choose jsonl or npz")
    out = check_output_dir(out_dir, "suite directory", replace)
    if replace and out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise OutputPathError(f"suite directory {out}: not a suite (no manifest.json); refusing to replace it")
    files = {name: f"{name}.{fmt}" for name in suite.splits}
    with atomic_directory(out, replace=replace, what="suite directory") as tmp:
        for name, split in suite.splits.items():
            _write_split(suite.dfa, split, tmp / files[name], fmt)
        files["manifest"] = "manifest.json"
        man = manifest(suite, files, source, fmt)
        atomic_write_text(tmp / "manifest.json", json.dumps(man, indent=1) + "\n")
    return {k: str(out / v) for k, v in files.items()}


