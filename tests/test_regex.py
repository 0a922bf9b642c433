"""The regex dialect: operators, alphabets, multi-character symbols, errors with positions, guards, fuzzing."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statetrack.automata.dfa import DFA
from statetrack.errors import AlphabetError, RegexSyntaxError, StateLimitError, StatetrackError
from statetrack.automata.regex import (
    Alt,
    And,
    Cat,
    Cls,
    Not,
    Rep,
    Sym,
    parse_regex,
    regex_to_dfa,
    thompson_size,
)


def lang(d: DFA, max_len: int) -> set[str]:
    """Accepted words up to ``max_len`` (single-character alphabets) as strings."""
    return {"".join(w) for w in d.words(max_len)}


def all_words(alphabet: str, max_len: int):
    for n in range(max_len + 1):
        for t in itertools.product(alphabet, repeat=n):
            yield "".join(t)


# ---------------------------------------------------------------------- operators

@pytest.mark.parametrize(
    "pattern, alphabet, expected",
    [
        ("a", None, {"a"}),
        ("ab", None, {"ab"}),
        ("a|b", None, {"a", "b"}),
        ("a*", None, {"", "a", "aa", "aaa"}),
        ("a+", None, {"a", "aa", "aaa"}),
        ("a?b", None, {"b", "ab"}),
        ("a{2}", None, {"aa"}),
        ("a{2,}", None, {"aa", "aaa"}),
        ("a{1,2}", None, {"a", "aa"}),
        ("a{,2}", None, {"", "a", "aa"}),
        ("a{0}", None, {""}),
        ("a{2}{2}", None, set()),  # only aaaa
        ("a{1}{2,3}", None, {"aa", "aaa"}),
        ("()", None, {""}),
        ("", None, {""}),
        ("a|", None, {"", "a"}),
        ("(a|b)c", None, {"ac", "bc"}),
        ("[ab]c", None, {"ac", "bc"}),
        ("[a-c]", None, {"a", "b", "c"}),
        ("[^a]", "abc", {"b", "c"}),
        (".", "ab", {"a", "b"}),
        ("a.", "ab", {"aa", "ab"}),
        (r"\.\*", None, {".*"}),
        (r"[\]\-]", None, {"]", "-"}),
        ("[a-]", None, {"a", "-"}),
        ("[-a]", None, {"a", "-"}),
        ("[.*]", None, {".", "*"}),
        ("(a|b)*&(.*a.*a.*)", None, {"aa", "aab", "aba", "baa", "aaa"}),
        ("~a", "a", {"", "aa", "aaa"}),
        ("~(a*)", "ab", {"b", "ab", "ba", "bb", "aab", "aba", "abb", "baa", "bab", "bba", "bbb"}),
        ("~a*", "a", set()),  # ~(a*): postfix binds tighter than ~
        ("~ab", "ab", {"b", "bb", "aab", "abb", "bab", "bbb"}),  # (~a)b
        ("a&b", None, set()),
        ("a|b&a", None, {"a"}),  # & binds tighter than |
        ("ab&ab|b", None, {"ab", "b"}),
    ],
)
def test_operators(pattern, alphabet, expected):
    d = regex_to_dfa(pattern, alphabet)
    assert lang(d, 3) == expected  # every accepted word up to length 3


def test_operator_languages_exactly():
    assert lang(regex_to_dfa("a{2}{2}"), 9) == {"aaaa"}
    d = regex_to_dfa("~ab", "ab")
    # (~a)b: words ending in b whose prefix is not "a"
    for w in all_words("ab", 6):
        assert d.accepts(w) == (w.endswith("b") and w[:-1] != "a")
    d = regex_to_dfa("(a|b)*&~(.*aa.*)")
    for w in all_words("ab", 7):
        assert d.accepts(w) == ("aa" not in w)


def test_precedence_in_ast():
    assert isinstance(parse_regex("a|b&c"), Alt)
    node = parse_regex("ab&c")
    assert isinstance(node, And) and isinstance(node.parts[0], Cat)
    node = parse_regex("~a*")
    assert isinstance(node, Not) and isinstance(node.child, Rep)
    node = parse_regex("~ab")
    assert isinstance(node, Cat) and isinstance(node.parts[0], Not)
    node = parse_regex("[^a-c]")
    assert isinstance(node, Cls) and node.negated and node.items[0].hi == "c"
    assert parse_regex(r"\(") == Sym("(", 0)


def test_result_is_minimal_complete_and_bfs_named():
    d = regex_to_dfa("(a|b)*abb")
    assert d.is_complete and d.n_states == 4 and d.start == 0
    assert d.states == ("0", "1", "2", "3")
    assert d.is_isomorphic(d.renumber_bfs()) and d == d.renumber_bfs()
    assert d.minimize().n_states == d.n_states


# ---------------------------------------------------------------------- alphabets

def test_implicit_alphabet_is_sorted_literals_and_ranges():
    assert regex_to_dfa("cab").alphabet == ("a", "b", "c")
    assert regex_to_dfa("[0-3]x").alphabet == ("0", "1", "2", "3", "x")
    assert regex_to_dfa("()").alphabet == ()


def test_explicit_alphabet_order_kept_and_unused_symbols_rejected():
    d = regex_to_dfa("a", alphabet=["c", "b", "a"])
    assert d.alphabet == ("c", "b", "a")
    assert d.accepts("a") and not d.accepts("b") and not d.accepts("c")


def test_ranges_filter_the_explicit_alphabet():
    d = regex_to_dfa("[a-z]+", alphabet="ab1")
    assert d.accepts("ab") and not d.accepts("a1")


def test_multi_character_symbols_greedy():
    d = regex_to_dfa("(push|pop)*", alphabet=["push", "pop"])
    assert d.accepts(["push", "pop", "pop"]) and d.accepts([])
    d = regex_to_dfa("push pop*", alphabet=["push", "pop"])  # whitespace separates tokens
    assert d.accepts(["push"]) and d.accepts(["push", "pop", "pop"]) and not d.accepts(["pop"])
    d = regex_to_dfa("ab+", alphabet=["a", "ab", "b"])  # greedy: "ab" then "+"
    assert d.accepts(["ab", "ab"]) and not d.accepts(["a", "b"])
    d = regex_to_dfa("(a)b+", alphabet=["a", "ab", "b"])  # a group splits the tokens
    assert d.accepts(["a", "b", "b"]) and not d.accepts(["ab"])
    d = regex_to_dfa("[^push]", alphabet=["push", "pop", "x"])
    assert d.accepts(["pop"]) and d.accepts(["x"]) and not d.accepts(["push"])
    d = regex_to_dfa("~(.*pop)", alphabet=["push", "pop"])
    assert d.accepts(["pop", "push"]) and not d.accepts(["push", "pop"])


# ---------------------------------------------------------------------- errors with positions

@pytest.mark.parametrize(
    "pattern, position, words",
    [
        ("(ab", 0, "missing ')'"),
        ("a(b(c)", 1, "missing ')'"),
        ("ab)", 2, "unbalanced ')'"),
        ("a{3,1}", 1, "bad repetition bounds {3,1}"),
        ("ab\\", 2, "dangling escape"),
        ("a[]", 1, "empty class"),
        ("[^]", 0, "empty class"),
        ("[ab", 0, "missing ']'"),
        ("*a", 0, "nothing to repeat"),
        ("a|+", 2, "nothing to repeat"),
        ("(?:a)", 1, "nothing to repeat"),
        ("a{x}", 2, "expected a number"),
        ("a{,}", 2, "expected a number"),
        ("a{2", 1, "missing '}'"),
        ("a{2x}", 3, "unexpected 'x'"),
        ("a{99999999}", 2, "exceeds the limit"),
        ("[z-a]", 1, "bad range"),
        ("^a", 0, "anchor"),
        ("a$", 1, "anchor"),
        ("a]", 1, "unmatched ']'"),
        ("a}", 1, "unmatched '}'"),
        ("\\d", 0, "unknown escape"),
        ("a&", 1, "'&' needs an operand on its right"),
        ("&a", 0, "'&' needs an operand on its left"),
        ("a|&b", 2, "'&' needs an operand on its left"),
        ("~", 0, "'~' needs an operand"),
        ("a(~)", 2, "'~' needs an operand"),
        ("[a[]", 2, "unescaped '['"),
        ("(" * 101 + "a" + ")" * 101, 100, "nested deeper than 100"),
        ("~" * 101 + "a", 100, "nested deeper than 100"),
        ("a" + "?" * 250, 50, "nested deeper than 200 levels"),  # the 201st operator from the outside
        ("(" * 99 + "a" + ")***" * 99, 229, "nested deeper than 200 levels"),
    ],
)
def test_syntax_errors_name_their_position(pattern, position, words):
    with pytest.raises(RegexSyntaxError) as info:
        regex_to_dfa(pattern, alphabet="abcxz")
    err = info.value
    assert err.position == position, str(err)
    assert words in err.reason
    assert f"at position {position}" in str(err)
    assert err.pattern == pattern


@pytest.mark.parametrize(
    "pattern, alphabet, position, words",
    [
        ("abx", "ab", 2, "'x' is not in the alphabet"),
        ("a[bx]", "ab", 3, "'x' is not in the alphabet"),
        ("[^x]", "ab", 2, "'x' is not in the alphabet"),
        ("push pip", ["push", "pop"], 5, "'p' is not in the alphabet"),
        (".", None, 0, "'.' needs an alphabet"),
        ("()~()", None, 2, "'~' needs an alphabet"),
        ("[^a-c]", "xyz", None, None),  # fine: negated range over an explicit alphabet
        ("[^a-c]", None, None, None),  # fine: the range supplies the alphabet
        ("[x-z]", "ab", 0, "matches no symbol of the alphabet"),
    ],
)
def test_alphabet_errors_name_their_position(pattern, alphabet, position, words):
    if position is None:
        regex_to_dfa(pattern, alphabet)
        return
    with pytest.raises(AlphabetError) as info:
        regex_to_dfa(pattern, alphabet)
    assert f"at position {position}" in str(info.value)
    assert words in str(info.value)


def test_bad_alphabets():
    with pytest.raises(AlphabetError, match="duplicate"):
        regex_to_dfa("a", alphabet=["a", "a"])
    with pytest.raises(AlphabetError, match="non-empty"):
        regex_to_dfa("a", alphabet=["a", ""])


def test_errors_are_statetrack_errors():
    for bad in ["(", "a{2,1}", "\\"]:
        with pytest.raises(StatetrackError):
            DFA.from_regex(bad)


# ---------------------------------------------------------------------- guards and sizes

@pytest.mark.parametrize("k", range(0, 9))
def test_blowup_family_has_exponential_minimal_dfa(k):
    d = regex_to_dfa(f"(a|b)*a(a|b){{{k}}}")
    assert d.n_states == 2 ** (k + 1)
    for w in ["a" + "b" * k, "b" * (k + 1), "ba" + "a" * k]:
        assert d.accepts(w) == (len(w) > k and w[-k - 1] == "a")


def test_state_limit_guard_in_subset_construction():
    with pytest.raises(StateLimitError, match="max_states=100"):
        regex_to_dfa("(a|b)*a(a|b){10}", max_states=100)
    assert regex_to_dfa("(a|b)*a(a|b){5}", max_states=100).n_states == 64


def test_state_limit_guard_on_nfa_size():
    with pytest.raises(StateLimitError, match="NFA states"):
        regex_to_dfa("((a{999}){999}){999}")
    with pytest.raises(StateLimitError, match="NFA states"):
        regex_to_dfa("a{2000}", max_states=100)


def test_thompson_size_estimate_is_exact_without_and_not():
    from statetrack.automata.regex import _Compiler

    for p in ["a", "(a|b)*a(a|b){5}", "a{3,7}b?c+", "(ab|)*{2,}", "[ab]{0,3}"]:
        node = parse_regex(p)
        assert _Compiler(("a", "b", "c"), 1000, p, node).nfa(node).n_states == thompson_size(node)


def test_deep_but_allowed_nesting():
    d = regex_to_dfa("(" * 100 + "a" + ")" * 100 + "~" * 98 + "b", "ab")  # even: ~~b is b
    assert d.accepts("ab") and not d.accepts("aa")


def test_long_repetition_stays_linear():
    d = regex_to_dfa("a{3000}")
    assert d.n_states == 3002 and d.accepts("a" * 3000) and not d.accepts("a" * 2999)


# ---------------------------------------------------------------------- fuzz

FUZZ_CHARS = "ab()[]{}|*+?.&~^$\\-,0123 x"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.text(alphabet=FUZZ_CHARS, max_size=14), st.text(alphabet="ab()|*+?{}1,&~.", max_size=14)),
    st.sampled_from([None, "ab", "abx", ("ab", "a", "b")]),
)
def test_fuzz_arbitrary_text_gives_dfa_or_clean_error(text, alphabet):
    try:
        d = regex_to_dfa(text, alphabet=alphabet, max_states=2000)
    except (RegexSyntaxError, AlphabetError, StateLimitError) as e:
        if isinstance(e, RegexSyntaxError):
            assert 0 <= e.position <= len(text)
        return
    assert isinstance(d, DFA) and d.is_complete
    assert d.minimize() == d


def test_progress_bar_is_optional_and_harmless(capsys):
    d = regex_to_dfa("(a|b)*a(a|b){7}", progress=True)
    assert d == regex_to_dfa("(a|b)*a(a|b){7}")
