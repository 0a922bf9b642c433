"""Uniform sampling against exhaustive enumeration (chi-square), enumeration against brute force."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from strategies import dfas
from statetrack.automata.dfa import DFA
from statetrack.automata.sampling import (
    SamplingError,
    WordSampler,
    enumerate_words,
    row_keys,
    sample_accepted,
    sample_rejected,
    words_to_lists,
)


def chi2_critical(df: int, z: float = 4.0) -> float:
    """Upper chi-square quantile (Wilson-Hilferty), z = 4 standard deviations (p ~ 3e-5)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def assert_uniform(words: np.ndarray, support: np.ndarray) -> None:
    """Chi-square goodness of fit of ``words`` rows to the uniform law on ``support`` rows."""
    index = {k: i for i, k in enumerate(row_keys(support))}
    counts = np.zeros(len(support))
    for key in row_keys(words):
        counts[index[key]] += 1  # KeyError = a word outside the support
    expected = len(words) / len(support)
    stat = float(((counts - expected) ** 2 / expected).sum())
    assert stat < chi2_critical(len(support) - 1), (stat, len(support))


# no "aa", number of b's + 2 * number of c's divisible by 3: skewed branching
SKEWED = DFA(
    list("abc"), None, 0, [True, False, False, True, False, False],
    # states: (residue r, last was a) -> id r + 3 * lasta ; delta on a, b, c
    [[3, 1, 2], [4, 2, 0], [5, 0, 1], [-1, 1, 2], [-1, 2, 0], [-1, 0, 1]],
)


@pytest.mark.parametrize("exact", [True, False])
def test_accepted_words_are_uniform(exact):
    support = enumerate_words(SKEWED, 7)
    assert len(support) == SKEWED.count(7) > 100
    s = WordSampler(SKEWED, 7, exact=exact)
    words = s.sample(7, 60 * len(support), seed=1)
    assert_uniform(words, support)


def test_rejected_words_are_uniform():
    support = enumerate_words(SKEWED.complement(), 5)
    words = sample_rejected(SKEWED, 5, 40 * len(support), seed=2)
    assert_uniform(words, support)
    assert not any(SKEWED.accepts(w) for w in words_to_lists(SKEWED, words[:200]))


@pytest.mark.parametrize("modulus, length", [(7, 2), (16, 2), (5, 3)])
def test_large_alphabet_classes_are_uniform(modulus, length):
    """20 symbols; symbol ids summing to 0 mod m: several symbols per successor ("classes"),
    m = 16 classes per state takes the binary-search path, m = 5 or 7 the linear scan."""
    k = 20
    alpha = [f"s{i}" for i in range(k)]
    delta = np.array([[(q + a) % modulus for a in range(k)] for q in range(modulus)])
    d = DFA(alpha, None, 0, [q == 0 for q in range(modulus)], delta)
    s = WordSampler(d, length)
    assert s._M == modulus and not s._identity
    support = enumerate_words(d, length)
    assert len(support) == d.count(length)
    words = s.sample(length, 60 * len(support), seed=3)
    assert_uniform(words, support)


def test_mixed_lengths_share_one_walk(monkeypatch):
    import statetrack.automata.sampling as sampling

    monkeypatch.setattr(sampling, "CHUNK", 1000)  # several chunks of different longest lengths
    s = WordSampler(SKEWED, 6)
    lengths = np.array([4, 6, 0, 5, 6, 4] * 3000)
    padded = s.sample_lengths(lengths, seed=4)
    assert padded.shape == (lengths.size, 6)
    assert ((padded >= 0).sum(axis=1) == lengths).all()
    for t in (4, 6):
        rows = padded[lengths == t, :t].astype(np.uint8)
        assert_uniform(rows, enumerate_words(SKEWED, t))


@settings(max_examples=40)
@given(dfas(), st.integers(0, 5))
def test_enumeration_matches_brute_force(d, t):
    got = [tuple(d.alphabet[i] for i in row) for row in enumerate_words(d, t)]
    expect = [w for w in itertools.product(d.alphabet, repeat=t) if d.accepts(w)]
    assert got == expect  # lexicographic order too


@settings(max_examples=40)
@given(dfas(), st.integers(0, 30), st.integers(0, 2**32 - 1))
def test_samples_are_accepted_and_reproducible(d, t, seed):
    s = WordSampler(d, t)
    if s.count(t) == 0:
        with pytest.raises(SamplingError, match=f"length {t}"):
            s.sample(t, 3)
        return
    words = s.sample(t, 20, seed=seed)
    assert words.shape == (20, t)
    assert all(d.accepts(w) for w in words_to_lists(d, words))
    assert (s.sample(t, 20, seed=seed) == words).all()


def test_float_mode_on_long_words():
    s = WordSampler(SKEWED, 1000, exact=False)
    assert not s.exact
    words = s.sample(1000, 50, seed=5)
    assert all(SKEWED.accepts(w) for w in words_to_lists(SKEWED, words))
    e = WordSampler(SKEWED, 1000, exact=True)
    assert s.log_count(1000) == pytest.approx(math.log(e.count(1000)), rel=1e-13)


def test_sample_distinct_subsets():
    s = WordSampler(SKEWED, 7)
    pool = s.count(7)
    every = s.sample_distinct(7, pool + 10, seed=6)  # fewer words than asked: all of them
    assert len(every) == pool and len(set(row_keys(every))) == pool
    exclude = set(row_keys(every[:50]))
    some = s.sample_distinct(7, 40, seed=7, exclude=exclude)
    keys = row_keys(some)
    assert len(set(keys)) == 40 and not exclude & set(keys)
    big = WordSampler(SKEWED, 30).sample_distinct(30, 500, seed=8)  # rejection path
    assert len(set(row_keys(big))) == 500


def test_distinct_subset_is_uniform():
    """Every word is equally likely to be in a random 5-subset (inclusion frequencies)."""
    s = WordSampler(SKEWED, 4)
    support = enumerate_words(SKEWED, 4)
    rng = np.random.default_rng(9)
    picks = np.concatenate([s.sample_distinct(4, 5, rng) for _ in range(3000)])
    assert_uniform(picks, support)


def test_helpers():
    parity = DFA(["0", "1"], ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    w = sample_accepted(parity, 11, 100, seed=0)
    assert (w.sum(axis=1) % 2 == 0).all()
    multi = DFA(["ab", "c"], None, 0, [True], [[0, 0]])
    assert words_to_lists(multi, np.array([[0, 1, -1]])) == [["ab", "c"]]
    with pytest.raises(SamplingError, match="max_length"):
        WordSampler(parity, 3).sample(4, 1)
