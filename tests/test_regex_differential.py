"""Differential tests of the regex compiler against Python's ``re.fullmatch``.

Generated regexes are printed in the common subset of both dialects (literals, classes,
ranges, negated classes, ``.``, groups, ``()``, ``|``, ``*``, ``+``, ``?``, ``{m}``, ``{m,}``,
``{m,n}``); ``&`` and ``~`` are checked through the Boolean combination of ``re`` answers.
A fixed corpus of realistic patterns is checked on sampled words over explicit alphabets.
"""
from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statetrack.automata.dfa import DFA
from statetrack.automata.regex import regex_to_dfa

ALPHA = "abc"
WORDS = ["".join(t) for n in range(6) for t in itertools.product(ALPHA, repeat=n)]  # 364 words, length <= 5

LEAVES = st.sampled_from(["a", "b", "c", "[ab]", "[a-c]", "[^a]", "[^bc]", ".", "()", "[b-c]"]).map(lambda x: (x, False))


def _compose(children: st.SearchStrategy[tuple[str, bool]]) -> st.SearchStrategy[tuple[str, bool]]:
    """Combine ``(text, quantified)`` pairs. A quantifier never applies directly to a quantified
    group: Python's backtracking matcher takes exponential time on ``((a*)+)+`` and the like."""
    pairs = st.tuples(children, children)
    counts = st.tuples(st.integers(0, 2), st.integers(0, 2))

    def quantify(child: tuple[str, bool], op: str) -> tuple[str, bool]:
        return child if child[1] else (f"({child[0]}){op}", True)

    return st.one_of(
        pairs.map(lambda t: (t[0][0] + t[1][0], False)),
        pairs.map(lambda t: (f"({t[0][0]}|{t[1][0]})", False)),
        st.tuples(children, st.sampled_from(["*", "+", "?"])).map(lambda t: quantify(*t)),
        st.tuples(children, counts).map(lambda t: quantify(t[0], f"{{{t[1][0]}}}")),
        st.tuples(children, counts).map(lambda t: quantify(t[0], f"{{{t[1][0]},}}")),
        st.tuples(children, counts).map(lambda t: quantify(t[0], f"{{{min(t[1])},{max(t[1])}}}")),
    )


REGEXES = st.recursive(LEAVES, _compose, max_leaves=8).map(lambda c: c[0])


def _py(pattern: str) -> list[bool]:
    rx = re.compile(pattern)
    return [rx.fullmatch(w) is not None for w in WORDS]


def _ours(d: DFA) -> list[bool]:
    return [d.accepts(w) for w in WORDS]


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(REGEXES)
def test_matches_python_re(pattern):
    d = regex_to_dfa(pattern, alphabet=ALPHA)
    assert _ours(d) == _py(pattern), pattern


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(REGEXES, REGEXES)
def test_intersection_and_complement_match_boolean_combinations(a, b):
    pa, pb = _py(a), _py(b)
    assert _ours(regex_to_dfa(f"({a})&({b})", ALPHA)) == [x and y for x, y in zip(pa, pb)]
    assert _ours(regex_to_dfa(f"~({a})", ALPHA)) == [not x for x in pa]
    assert _ours(regex_to_dfa(f"({a})&~({b})", ALPHA)) == [x and not y for x, y in zip(pa, pb)]
    assert _ours(regex_to_dfa(f"~({a})|({b})", ALPHA)) == [(not x) or y for x, y in zip(pa, pb)]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(REGEXES, REGEXES)
def test_set_identities_give_identical_minimal_dfas(a, b):
    # minimal DFAs are canonical (BFS numbering), so equal languages give equal objects
    assert regex_to_dfa(f"~(({a})|({b}))", ALPHA) == regex_to_dfa(f"~({a})&~({b})", ALPHA)  # De Morgan
    assert regex_to_dfa(f"~(({a})&({b}))", ALPHA) == regex_to_dfa(f"~({a})|~({b})", ALPHA)
    assert regex_to_dfa(f"({a})&~({a})", ALPHA).is_empty()
    assert regex_to_dfa(f"({a})|~({a})", ALPHA) == regex_to_dfa(".*", ALPHA)
    assert regex_to_dfa(f"~~({a})", ALPHA) == regex_to_dfa(a, ALPHA)
    assert regex_to_dfa(f"({a})&({b})", ALPHA) == regex_to_dfa(f"({b})&({a})", ALPHA)


@pytest.mark.parametrize(
    "left, right",
    [
        ("(a|b)*", "(a*b*)*"),
        ("(a|b)*", "(b|a)*"),
        ("a(ba)*", "(ab)*a"),
        ("a+", "aa*"),
        ("a{2,3}", "aa|aaa"),
        ("(a|b)*abb", "(b|a)*ab(b)"),
        ("a*b*&b*a*", "a*|b*"),
        ("~(~(a*))", "a*"),
        ("((a|b)(a|b))*", "(aa|ab|ba|bb)*"),
        ("a?a?a?aaa", "a{3,6}"),
        ("[ab]*", "(a|b)*"),
        ("(.)*", ".*"),
    ],
)
def test_equivalent_regexes_give_isomorphic_minimal_dfas(left, right):
    dl, dr = regex_to_dfa(left, "ab"), regex_to_dfa(right, "ab")
    assert dl.is_isomorphic(dr) and dl == dr
    assert dl.equivalent(dr).equivalent


def test_inequivalent_regexes_differ_with_shortest_counterexample():
    eq = regex_to_dfa("(a|b)*a", "ab").equivalent(regex_to_dfa("(a|b)*aa?", "ab"))
    assert eq.equivalent  # same language
    eq = regex_to_dfa("(ab)*", "ab").equivalent(regex_to_dfa("(ab)*a?", "ab"))
    assert not eq.equivalent and eq.counterexample == ("a",)


# ---------------------------------------------------------------------- realistic corpus

CORPUS = [
    ("identifier", r"[a-zA-Z_][a-zA-Z0-9_]*", "abzAZ_09-"),
    ("decimal", r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", "0159.-+eEx"),
    ("date", r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", "0123459-"),
    ("ipv4", r"((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])", "012569."),
    ("keyword", r"if|else|while|for|return", "ifelswhorntu"),
    ("email", r"[a-z]+(\.[a-z]+)*@[a-z]+\.(com|org)", "acgmor@.x"),
    ("hex", r"0[xX][0-9a-fA-F]+", "0x9aFX_"),
    ("time", r"([01][0-9]|2[0-3]):[0-5][0-9]", "012359:"),
    ("quoted", r'"([^"\\]|\\.)*"', 'ab"\\'),
    ("binary-mod", r"(0|1(01*0)*1)*", "01"),
]


def _accepted_walks(d: DFA, rng: random.Random, n: int, max_len: int = 24) -> list[str]:
    """Random accepted words: walks through live states that stop at accepting states at random."""
    live = d.coreachable_states()
    out: list[str] = []
    for _ in range(20 * n):
        if len(out) >= n:
            break
        q, word = d.start, []
        while len(word) <= max_len:
            if d.accepting[q] and rng.random() < 0.3:
                out.append(d.word_str(word))
                break
            moves = [(a, int(t)) for a, t in enumerate(d.delta[q]) if live[t]]
            if not moves:  # accepting dead end
                out.append(d.word_str(word))
                break
            a, q = rng.choice(moves)
            word.append(d.alphabet[a])
    return out


def _sample_words(d: DFA, alphabet: str, rng: random.Random, n: int = 400) -> list[str]:
    """Accepted words, their mutations (substitute, insert, delete), and random words over the alphabet."""
    accepted = _accepted_walks(d, rng, 120)
    out = list(accepted)
    for w in accepted:
        for _ in range(2):
            chars = list(w)
            op = rng.randrange(3)
            i = rng.randrange(len(chars) + 1)
            if op == 0 and chars:
                chars[min(i, len(chars) - 1)] = rng.choice(alphabet)
            elif op == 1:
                chars.insert(i, rng.choice(alphabet))
            elif chars:
                del chars[min(i, len(chars) - 1)]
            out.append("".join(chars))
    while len(out) < n:
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(14))))
    return out


@pytest.mark.parametrize("name, pattern, alphabet", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_matches_python_re(name, pattern, alphabet):
    d = regex_to_dfa(pattern, alphabet=alphabet)
    rx = re.compile(pattern)
    rng = random.Random(name)
    words = _sample_words(d, alphabet, rng)
    assert any(d.accepts(w) for w in words) and not all(d.accepts(w) for w in words)
    for w in words:
        assert d.accepts(w) == (rx.fullmatch(w) is not None), (name, w)
