"""Suite generation: de-duplication, balance, labels, hard negatives, reproducibility, errors, CLI."""
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from statetrack.automata.dfa import DFA
from statetrack.automata.suites import (
    SuiteError,
    SuiteOptions,
    generate_suite,
    parse_balance,
    parse_length_range,
    resolve_options,
    write_suite,
)
from statetrack.cli import main

PARITY = DFA(["0", "1"], ["even", "odd"], 0, [True, False], [[0, 1], [1, 0]])
# ends with "ab" over {a, b, c}: few accepted words, many rejected
ENDS_AB = DFA(list("abc"), ["s", "a", "ab"], 0, [False, False, True], [[1, 0, 0], [1, 2, 0], [1, 0, 0]])


def split_words(split):
    return [tuple(int(x) for x in row[:t]) for row, t in zip(split.words, split.lengths)]


def test_no_duplicates_within_and_across_splits():
    o = SuiteOptions(train_lengths=(2, 9), test_lengths=(6, 12), per_length=40, seed=1)
    s = generate_suite(ENDS_AB, o)
    train, test = split_words(s.splits["train"]), split_words(s.splits["test"])
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    # small lengths: everything there is, and a note about it
    assert s.splits["train"].per_length[2]["accepted"] == 1
    assert any("train length 2" in n for n in s.notes)


def test_balance_as_asked_and_labels_from_the_dfa():
    o = SuiteOptions(train_lengths=(8, 12), test_lengths=(13, 14), per_length=50, balance=0.3, seed=2,
                     labels="per-token")
    s = generate_suite(ENDS_AB, o)
    for split in s.splits.values():
        for info in split.per_length.values():
            assert (info["accepted"], info["rejected"]) == (15, 35)
        for i, w in enumerate(split_words(split)):
            trace = ENDS_AB.trace([ENDS_AB.alphabet[a] for a in w])
            t = len(w)
            assert split.states[i, :t].tolist() == trace[1:]
            assert (split.states[i, t:] == -1).all()
            assert split.prefix_accepted[i, :t].tolist() == [bool(ENDS_AB.accepting[q]) for q in trace[1:]]
            assert bool(split.accepted[i]) == ENDS_AB.accepts([ENDS_AB.alphabet[a] for a in w])


def test_one_kind_missing_is_reported():
    only_even_len = DFA(["a"], None, 0, [True, False], [[1], [0]])  # (aa)*
    s = generate_suite(only_even_len, SuiteOptions(train_lengths=(1, 4), test_lengths=(5, 6), per_length=3, seed=0))
    pl = s.splits["train"].per_length
    assert (pl[1]["accepted"], pl[1]["rejected"]) == (0, 1)
    assert (pl[2]["accepted"], pl[2]["rejected"]) == (1, 0)
    assert any("no accepted word exists" in n for n in s.notes)


def test_hard_negatives_are_rejected_one_edit_from_an_accepted_word():
    o = SuiteOptions(train_lengths=(5, 7), test_lengths=(8, 8), per_length=40, hard_negatives=1.0, seed=3)
    s = generate_suite(ENDS_AB, o)
    split = s.splits["train"]
    assert split.hard.sum() > 0
    for w, h, acc in zip(split_words(split), split.hard, split.accepted):
        if not h:
            continue
        assert not acc
        word = [ENDS_AB.alphabet[a] for a in w]
        near = set()
        for i in range(len(word) + 1):
            for a in ENDS_AB.alphabet:
                near.add(tuple(word[:i] + [a] + word[i:]))
                if i < len(word):
                    near.add(tuple(word[:i] + [a] + word[i + 1:]))
            if i < len(word):
                near.add(tuple(word[:i] + word[i + 1:]))
        assert any(ENDS_AB.accepts(v) for v in near)


def test_natural_balance_and_duplicates_allowed():
    o = SuiteOptions(train_lengths=(1, 2), test_lengths=(2, 2), per_length=30, balance="natural",
                     allow_duplicates=True, seed=4)
    s = generate_suite(PARITY, o)
    assert len(s.splits["train"]) == 60 and len(s.splits["test"]) == 30  # i.i.d. draws: repeats allowed
    words = split_words(s.splits["train"])
    assert len(set(words)) < len(words)


def test_reproducible_for_a_seed(tmp_path):
    o = resolve_options(None, train_lengths=(3, 9), test_lengths=(10, 14), per_length=20, seed=11,
                        hard_negatives=0.5, labels="per-token")
    a = write_suite(generate_suite(ENDS_AB, o), tmp_path / "a")
    b = write_suite(generate_suite(ENDS_AB, o), tmp_path / "b")
    for key in ("train", "test", "manifest"):
        assert open(a[key], "rb").read() == open(b[key], "rb").read()
    c = write_suite(generate_suite(ENDS_AB, resolve_options(None, train_lengths=(3, 9), test_lengths=(10, 14),
                                                           per_length=20, seed=12)), tmp_path / "c")
    assert open(a["test"], "rb").read() != open(c["test"], "rb").read()


def test_files_and_manifest(tmp_path):
    s = generate_suite(PARITY, resolve_options("wordproblem", per_length=20, seed=5))
    files = write_suite(s, tmp_path / "npz", "npz", {"lang": "parity"})
    z = np.load(files["train"])
    assert z["words"].shape == (20, 32) and z["states"].shape == (20, 32) and z["mask"].all()
    assert list(z["alphabet"]) == ["0", "1"]
    assert ((z["words"].astype(int).sum(axis=1) % 2 == 0) == z["accepted"]).all()
    man = json.loads(open(files["manifest"]).read())
    assert man["dfa_sha256"] == PARITY.sha256() and man["seed"] == 5
    assert man["options"]["labels"] == "per-token" and man["preset"]["name"] == "wordproblem"
    assert man["counts"]["test"]["total"] == 20 and man["per_length"]["test"]["512"]["asked"] == 20
    files = write_suite(s, tmp_path / "jsonl", "jsonl")
    rec = json.loads(open(files["test"]).readline())
    assert rec["length"] == 512 and len(rec["word"]) == 512 and len(rec["states"]) == 512
    multi = DFA(["ab", "c"], None, 0, [True, False], [[1, 0], [0, 1]])
    s = generate_suite(multi, SuiteOptions(train_lengths=(1, 3), test_lengths=(4, 4), per_length=4, seed=0))
    files = write_suite(s, tmp_path / "multi")
    rec = json.loads(open(files["train"]).readline())
    assert isinstance(rec["word"], list) and set(rec["word"]) <= {"ab", "c"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(preset="chomsky", labels="per-token"), "conflicts with --preset chomsky"),
        (dict(preset="chomsky", test_lengths=(10, 20)), "conflicts with --preset chomsky"),
        (dict(preset="wordproblem", train_lengths=(64, 64)), "train lengths 32:32 or 128:128"),
        (dict(balance="natural", hard_negatives=0.2), "numeric --balance"),
        (dict(balance=1.0, hard_negatives=0.2), "conflicts with --balance 1"),
        (dict(per_length=0), "--per-length"),
        (dict(hard_negatives=1.5), "--hard-negatives"),
        (dict(train_lengths=(5, 2)), "--train-lengths"),
        (dict(per_length=10**6, test_lengths=(1, 1000)), "limit"),
    ],
)
def test_option_errors(kwargs, message):
    preset = kwargs.pop("preset", None)
    with pytest.raises(SuiteError, match=message):
        resolve_options(preset, **kwargs)


def test_parsers():
    assert parse_length_range("3:40") == (3, 40) and parse_length_range("32") == (32, 32)
    assert parse_balance("natural") == "natural" and parse_balance("0.25") == 0.25
    for bad in ("3:", "a:b", "5:2", "1:2:3"):
        with pytest.raises(SuiteError, match="--train-lengths"):
            parse_length_range(bad)
    with pytest.raises(SuiteError, match="--balance"):
        parse_balance("2")


def test_impossible_requests():
    empty = DFA(["0", "1"], None, 0, [False], [[0, 0]])
    with pytest.raises(SuiteError, match="empty"):
        generate_suite(empty, SuiteOptions(seed=0))
    universal = DFA(["0", "1"], None, 0, [True], [[0, 0]])
    with pytest.raises(SuiteError, match="no rejected word"):
        generate_suite(universal, SuiteOptions(seed=0))
    assert len(generate_suite(universal, SuiteOptions(balance=1.0, seed=0)).splits["test"]) > 0
    with pytest.raises(SuiteError, match="test split would be empty"):  # all words of length 0..3 used by train
        generate_suite(PARITY, SuiteOptions(train_lengths=(0, 3), test_lengths=(1, 3), per_length=100, seed=0))


def _write_dfa(path, dfa):
    path.write_text(json.dumps(dfa.to_json()))
    return str(path)


def test_cli_gen(tmp_path, capsys):
    src = _write_dfa(tmp_path / "ends.json", ENDS_AB)
    out = tmp_path / "suite"
    code = main(["gen", "--dfa", src, "-o", str(out), "--train-lengths", "2:6", "--test-lengths", "7:9",
                 "--per-length", "10", "--seed", "7", "--hard-negatives", "0.5", "--labels", "per-token", "--json"])
    assert code == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["seed"] == 7 and obj["counts"]["test"]["total"] == 30
    assert set(obj["per_length"]["test"]) == {"7", "8", "9"}
    lines = [json.loads(x) for x in open(obj["files"]["train"])]
    assert len(lines) == obj["counts"]["train"]["total"] and all("states" in r for r in lines)
    man = json.loads(open(obj["files"]["manifest"]).read())
    assert man["source"] == {"dfa": src} and "hard_negative_method" in man


def test_cli_errors_write_nothing(tmp_path, capsys):
    empty = _write_dfa(tmp_path / "empty.json", DFA(["0"], None, 0, [False], [[0]]))
    par = _write_dfa(tmp_path / "parity.json", PARITY)
    for argv in (["--dfa", empty], ["--dfa", par, "--preset", "chomsky", "--labels", "per-token"],
                 ["--dfa", par, "--balance", "1", "--hard-negatives", "0.5"], ["--dfa", par, "--balance", "x"]):
        out = tmp_path / "never"
        assert main(["gen", *argv, "-o", str(out), "--json"]) == 2
        assert "error" in json.loads(capsys.readouterr().out)
        assert not out.exists()


def test_float_counting_mode_gives_a_valid_suite():
    o = SuiteOptions(train_lengths=(5, 8), test_lengths=(30, 31), per_length=20, seed=6, exact=False)
    s = generate_suite(ENDS_AB, o)
    assert s.counting == "float"
    for split in s.splits.values():
        for w, acc in zip(split_words(split), split.accepted):
            assert ENDS_AB.accepts([ENDS_AB.alphabet[a] for a in w]) == acc
        assert all(v["accepted"] == 10 for v in split.per_length.values())
    assert s.splits["test"].per_length[30]["available_accepted"] == ENDS_AB.count(30)  # exact below 2**53


@st.composite
def suite_cases(draw):
    n = draw(st.integers(1, 4))
    k = draw(st.integers(1, 3))
    delta = np.array(draw(st.lists(st.integers(-1, n - 1), min_size=n * k, max_size=n * k))).reshape(n, k)
    acc = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    dfa = DFA([chr(97 + i) for i in range(k)], None, 0, acc, delta)
    lo = draw(st.integers(0, 4))
    train = (lo, lo + draw(st.integers(0, 3)))
    test = (train[0] + draw(st.integers(0, 4)), train[1] + draw(st.integers(0, 4)))
    balance = draw(st.sampled_from([0.0, 0.5, 0.8, 1.0, "natural"]))
    hard = 0.0 if balance in (1.0, "natural") else draw(st.sampled_from([0.0, 0.5]))
    return dfa, SuiteOptions(train_lengths=train, test_lengths=(min(test), max(test)), per_length=draw(st.integers(1, 12)),
                             balance=balance, hard_negatives=hard, seed=draw(st.integers(0, 2**31)), labels="per-token")


@settings(max_examples=30)
@given(suite_cases())
def test_suite_invariants_on_random_languages(case):
    dfa, o = case
    try:
        s = generate_suite(dfa, o)
    except SuiteError as exc:  # only the documented impossible requests
        assert any(m in str(exc) for m in ("empty", "no accepted word", "no rejected word"))
        return
    c = s.dfa
    seen = {}
    for name, split in s.splits.items():
        words = split_words(split)
        assert len(set(words)) == len(words)
        seen[name] = set(words)
        for i, w in enumerate(words):
            trace = c.trace([c.alphabet[a] for a in w])
            assert split.states[i, : len(w)].tolist() == trace[1:]
            assert bool(split.accepted[i]) == bool(c.accepting[trace[-1]])
            assert not (split.hard[i] and split.accepted[i])
        for t, info in split.per_length.items():
            rows = split.lengths == t
            assert info["accepted"] == int(split.accepted[rows].sum()) <= info["available_accepted"]
            assert info["rejected"] == int((~split.accepted[rows]).sum()) <= info["available_rejected"]
            fresh = name == "train" or t not in o.lengths("train")  # no train words excluded here
            big = info["available_accepted"] >= o.per_length and info["available_rejected"] >= o.per_length
            if o.balance != "natural" and fresh and big:
                assert info["accepted"] == round(o.balance * o.per_length)
    assert not seen["train"] & seen["test"]


@given(st.floats(0, 1), st.integers(1, 50))
def test_balanced_count_rule(balance, n):
    from statetrack.automata.suites import balanced_count

    k = balanced_count(balance, n)
    assert 0 <= k <= n
    assert abs(k - balance * n) <= 1  # within one word of the asked fraction
    if balance > 0:
        assert k >= 1
    if balance < 1 and n >= 2:
        assert k <= n - 1
    if balance == 0:
        assert k == 0
    if balance == 1:
        assert k == n


def test_write_suite_replaces_a_suite_whole_and_only_when_asked(tmp_path):
    from statetrack.fileio import OutputPathError

    o = resolve_options(None, train_lengths=(1, 4), test_lengths=(5, 6), per_length=3, seed=1)
    out = tmp_path / "s"
    write_suite(generate_suite(PARITY, o), out)
    with pytest.raises(OutputPathError):
        write_suite(generate_suite(PARITY, o), out, "npz")
    write_suite(generate_suite(PARITY, o), out, "npz", replace=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test.npz", "train.npz"]
    assert [p.name for p in tmp_path.iterdir()] == ["s"]
