"""No silent wrong answers: evaluate and extract score the language given, pair symbols by name, and refuse
alphabets that do not match; gen's per-length rule; empty alphabets, separators and counts are errors."""
from __future__ import annotations

import json
import sys

import pytest

from statetrack.cli import main

from .cli_run import assert_user_error, cli


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny parity run (final labels, natural balance)."""
    out = tmp_path_factory.mktemp("hostile-eval") / "run"
    assert main(["train", "--lang", "parity", "--steps", "6", "--train-lengths", "3:6", "--dim", "8", "--heads", "1",
                 "--batch", "8", "--no-progress", "-o", str(out)]) == 0
    return out


def _json(capsys):
    return json.loads(capsys.readouterr().out)


EVAL = ["--test-lengths", "3:6", "--per-length", "16", "--json"]


def test_evaluate_run_scores_the_given_language(run, tmp_path, capsys):
    from statetrack.automata.catalog import get_language

    complement = tmp_path / "even.json"
    get_language("parity").complement().save(str(complement))
    assert main(["evaluate", str(run), *EVAL, "--plot", str(tmp_path / "a.png")]) == 0
    own = _json(capsys)
    assert main(["evaluate", str(run), "--dfa", str(complement), *EVAL, "--plot", str(tmp_path / "b.png")]) == 0
    other = _json(capsys)
    # the same uniform words, each label flipped: every accuracy is the complement of the run's own
    for t, row in own["per_length"].items():
        assert other["per_length"][t]["accuracy"] == pytest.approx(1.0 - row["accuracy"], abs=1e-6)


def test_evaluate_run_refuses_a_language_over_other_symbols(run, capsys):
    assert main(["evaluate", str(run), "--lang", "group:S3", *EVAL]) == 2
    err = capsys.readouterr().err
    assert "paired by name" in err and "'0', '1'" in err


@pytest.fixture(scope="module")
def parity_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile-compiled") / "parity.safetensors"
    assert main(["compile", "--lang", "parity", "-o", str(path)]) == 0
    return path


def test_compiled_model_refuses_symbols_it_does_not_have(parity_model, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(parity_model), "--regex", "(x|y)*x", *EVAL]) == 2
    assert "'x', 'y'" in capsys.readouterr().err


def test_compiled_model_pairs_symbols_by_name_not_position(parity_model, capsys):
    capsys.readouterr()
    # parity (an even number of 1s) written over the alphabet "10": position 0 is '1' here but '0' in the model
    assert main(["evaluate", str(parity_model), "--regex", "0*(10*10*)*", "--alphabet", "10", *EVAL]) == 0
    assert _json(capsys)["accuracy"] == 1.0


def test_extract_refuses_a_language_over_other_symbols(run, capsys):
    assert main(["extract", str(run), "--lang", "tomita:1", "--words", "4", "--test-words", "2"]) in (0, 1)
    capsys.readouterr()
    assert main(["extract", str(run), "--regex", "(a|b)*", "--words", "4"]) == 2
    assert "'a', 'b'" in capsys.readouterr().err


def test_evaluate_without_matplotlib_writes_no_plot_and_says_so(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    png = tmp_path / "acc.png"
    assert main(["evaluate", str(run), *EVAL, "--plot", str(png)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["plot"] is None and not png.exists()
    assert "matplotlib" in out.err


def test_gen_per_length_one_gives_accepted_words(tmp_path):
    out = tmp_path / "s"
    proc = cli(["gen", "--lang", "parity", "--train-lengths", "1:6", "--test-lengths", "7:8", "--per-length", "1",
                "--balance", "0.5", "--seed", "0", "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["accepted"] for r in rows)


@pytest.mark.parametrize("argv, needle", [
    (["verify", "MODEL", "--max-len", "0"], "--max-len 0"),
    (["verify", "MODEL", "--samples", "-3"], "--samples -3"),
    (["dfa", "--regex", "a*", "--alphabet", ","], "--alphabet ','"),
    (["accepts", "--lang", "parity", "--sep", "", "0 1"], "--sep ''"),
], ids=["verify-max-len-0", "verify-samples-negative", "alphabet-comma", "sep-empty"])
def test_meaningless_values_are_errors_naming_the_option(parity_model, argv, needle):
    argv = [str(parity_model) if a == "MODEL" else a for a in argv]
    assert_user_error(cli(argv), needle)


@pytest.mark.parametrize("option, value", [("--test-words", "0"), ("--words", "0"), ("--k-max", "0"),
                                           ("--lookahead", "-1"), ("--max-length", "0")])
def test_extract_counts_must_be_positive(run, capsys, option, value):
    assert main(["extract", str(run), option, value]) == 2
    assert f"{option} {value}" in capsys.readouterr().err
