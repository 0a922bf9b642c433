"""CLI commands dfa, accepts, equiv, langs: output, --json, exit codes 0 / 1 / 2, errors without tracebacks."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from statetrack.automata.dfa import DFA
from statetrack.automata.formats import dfa_to_jff, load_dfa
from statetrack.cli import main


PARITY = {"alphabet": ["0", "1"], "states": ["even", "odd"], "start": "even", "accepting": ["even"],
          "transitions": {"even": {"0": "even", "1": "odd"}, "odd": {"0": "odd", "1": "even"}}}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code, out, err = run(capsys, *argv, "--json")
    lines = out.strip().splitlines()
    assert len(lines) == 1, out  # one JSON object on stdout
    return code, json.loads(lines[0])


@pytest.fixture
def parity_file(tmp_path):
    p = tmp_path / "parity.json"
    p.write_text(json.dumps(PARITY))
    return str(p)


# ---------------------------------------------------------------------------- langs
def test_langs(capsys):
    code, out, _ = run(capsys, "langs")
    assert code == 0 and "tomita:N" in out and "group:NAME" in out and "dyck:K:D" in out
    code, obj = run_json(capsys, "langs")
    assert code == 0 and {"name": "parity", "description": obj["languages"][0]["description"]} in obj["languages"]


# ---------------------------------------------------------------------------- accepts
def test_accepts_words_and_json(capsys):
    code, out, _ = run(capsys, "accepts", "--lang", "parity", "0110", "1", "")
    assert code == 0
    assert [ln.split() for ln in out.splitlines()[2:]] == [["0110", "yes"], ["1", "no"], ["ε", "yes"]]
    code, obj = run_json(capsys, "accepts", "--lang", "tomita:3", "100110", "100")
    assert code == 0
    assert obj["results"] == [{"word": "100110", "accepted": False}, {"word": "100", "accepted": True}]
    assert obj["accepted"] == 1 and obj["total"] == 2


def test_accepts_multichar_symbols_with_sep(capsys):
    code, obj = run_json(capsys, "accepts", "--lang", "group:Z2xZ3", "--sep", " ", "a1 a1", "a2 a2 a2 a1", "a1  a2")
    assert code == 0 and [r["accepted"] for r in obj["results"]] == [True, False, False]
    code, _, err = run(capsys, "accepts", "--lang", "group:Z2xZ3", "a1a1")
    assert code == 2 and "separate them with --sep" in err
    code, obj = run_json(capsys, "accepts", "--lang", "modsum:12", "--sep", ",", "11,1", "10,1")
    assert [r["accepted"] for r in obj["results"]] == [True, False]


def test_accepts_words_file(capsys, tmp_path):
    f = tmp_path / "words.txt"
    f.write_text("0110\n\n1\r\n")
    code, obj = run_json(capsys, "accepts", "--lang", "parity", "--words-file", str(f))
    assert code == 0
    assert obj["results"] == [{"word": "0110", "accepted": True}, {"word": "", "accepted": True},
                              {"word": "1", "accepted": False}]
    f.write_text("01\n0x1\n")
    code, out, err = run(capsys, "accepts", "--lang", "parity", "--words-file", str(f))
    assert code == 2 and "words.txt line 2: symbol 'x' at position 1" in err and "Traceback" not in err


def test_accepts_errors(capsys):
    code, out, err = run(capsys, "accepts", "--lang", "parity", "01", "012")
    assert code == 2 and "word 2 '012': symbol '2' at position 2 is not in the alphabet" in err
    code, obj = run_json(capsys, "accepts", "--lang", "parity", "2")
    assert code == 2 and "symbol '2'" in obj["error"]
    code, _, err = run(capsys, "accepts", "--lang", "parity")
    assert code == 2 and "give words" in err
    code, _, err = run(capsys, "accepts", "--lang", "partiy", "0")
    assert code == 2 and "did you mean 'parity'" in err
    code, _, err = run(capsys, "accepts", "--lang", "parity", "--dfa", "x.json", "0")
    assert code == 2 and "exactly one language source" in err


# ---------------------------------------------------------------------------- equiv
def test_equiv_exit_codes_and_counterexample(capsys, parity_file):
    code, obj = run_json(capsys, "equiv", "--dfa", parity_file, "--lang2", "parity")
    assert code == 0 and obj["equivalent"] is True and obj["counterexample"] is None
    code, obj = run_json(capsys, "equiv", "--lang", "tomita:5", "--lang2", "parity")
    assert code == 1 and obj["equivalent"] is False
    assert obj["counterexample"] == "0" and obj["accepted_by"] == "second"  # shortest word in exactly one
    code, out, _ = run(capsys, "equiv", "--lang", "mod:2", "--lang2", "mod:4")
    assert code == 1 and "'11'" in out and "first" in out


def test_equiv_empty_and_multichar_counterexample(capsys):
    code, obj = run_json(capsys, "equiv", "--lang", "flipflop", "--lang2", "parity")
    assert code == 1 and obj["counterexample"] == "" and obj["counterexample_symbols"] == []
    assert obj["accepted_by"] == "second"
    code, out, _ = run(capsys, "equiv", "--lang", "flipflop", "--lang2", "parity")
    assert "ε (the empty word)" in out
    code, obj = run_json(capsys, "equiv", "--lang", "group:Z2xZ3", "--lang2", "group:Z6")
    assert code == 1 and obj["counterexample"] == "a1 a1" and obj["counterexample_symbols"] == ["a1", "a1"]
    code, obj = run_json(capsys, "equiv", "--lang", "group:Z2xZ2", "--lang2", "group:Z2xZ2xZ2")
    assert code == 1 and obj["counterexample_symbols"] == ["a3", "a3"] and obj["counterexample"] == "a3 a3"
    assert obj["accepted_by"] == "second"


# ---------------------------------------------------------------------------- dfa
def test_dfa_summary_and_json(capsys):
    code, out, _ = run(capsys, "dfa", "--lang", "tomita:3")
    assert code == 0 and "states: 5" in out and "alphabet: 0 1" in out
    code, obj = run_json(capsys, "dfa", "--lang", "group:S3")
    assert code == 0 and len(obj["states"]) == 6 and obj["alphabet"] == ["t", "c"]
    assert obj["start"] in obj["states"] and len(obj["accepting"]) == 1 and obj["minimized"] is True
    d = DFA.from_json({k: obj[k] for k in ("alphabet", "states", "start", "accepting", "transitions")})
    assert d.accepts("tt") and d.accepts("ccc") and not d.accepts("tc")


def test_dfa_is_minimal(capsys):
    code, obj = run_json(capsys, "dfa", "--lang", "flipflop")
    full = load_dfa_from_obj(obj)
    assert full.n_states == len(obj["states"]) < 15 and full.is_complete
    code, obj2 = run_json(capsys, "dfa", "--lang", "flipflop", "--no-minimize")
    assert len(obj2["states"]) == 15 and "start" in obj2["states"]
    assert full.equivalent(load_dfa_from_obj(obj2))


def load_dfa_from_obj(obj: dict) -> DFA:
    return DFA.from_json({k: obj[k] for k in ("alphabet", "states", "start", "accepting", "transitions")})


@pytest.mark.parametrize("fmt", ["json", "dot", "jff"])
def test_dfa_formats_print_and_write(capsys, tmp_path, fmt):
    code, out, _ = run(capsys, "dfa", "--lang", "tomita:7", "--no-minimize", "--format", fmt)
    assert code == 0
    assert out.startswith({"json": "{", "dot": "digraph", "jff": "<?xml"}[fmt])
    target = tmp_path / f"t7.{fmt}"
    code, obj = run_json(capsys, "dfa", "--lang", "tomita:7", "--no-minimize", "-o", str(target))
    assert code == 0 and obj["output"] == str(target) and obj["format"] == fmt
    from statetrack.automata.catalog import get_language

    assert load_dfa(target) == get_language("tomita:7")
    other = tmp_path / "t7.txt"  # --format decides when the suffix does not
    assert run(capsys, "dfa", "--lang", "tomita:7", "--format", fmt, "-o", str(other))[0] == 0
    assert other.read_text().startswith({"json": "{", "dot": "digraph", "jff": "<?xml"}[fmt])


def test_dfa_output_unknown_suffix(capsys, tmp_path):
    code, _, err = run(capsys, "dfa", "--lang", "parity", "-o", str(tmp_path / "x.txt"))
    assert code == 2 and "suffix" in err and not (tmp_path / "x.txt").exists()


BAD_FILES = {
    "unknown state": ("json", json.dumps(dict(PARITY, accepting=["evn"])), "'accepting': unknown state 'evn'"),
    "unknown symbol": ("json", json.dumps(dict(PARITY, transitions={"odd": {"2": "odd"}})),
                       "transitions of state 'odd', symbol '2': unknown symbol '2'"),
    "duplicate state": ("json", json.dumps(dict(PARITY, states=["even", "odd", "odd"])), "duplicate state 'odd'"),
    "missing start": ("json", json.dumps({k: v for k, v in PARITY.items() if k != "start"}), "missing 'start'"),
    "syntax": ("json", '{"alphabet": [}', "JSON syntax error at line 1, column 15"),
    "non-determinism dot": ("dot", 'digraph { s [shape=none]; s -> a; a -> b [label=x]; a -> a [label=x]; }',
                            "line 1: non-determinism: state 'a' has two edges on symbol 'x'"),
    "missing start jff": ("jff", dfa_to_jff(DFA.from_json(PARITY)).replace("<initial/>", ""), "no start state"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_dfa_files_exit_2_naming_the_place(capsys, tmp_path, case):
    suffix, text, needle = BAD_FILES[case]
    p = tmp_path / f"bad.{suffix}"
    p.write_text(text)
    for cmd in (["dfa", "--dfa", str(p)], ["accepts", "--dfa", str(p), "0"], ["equiv", "--dfa", str(p), "--lang2", "parity"]):
        code, out, err = run(capsys, *cmd)
        assert code == 2, cmd
        assert f"bad.{suffix}: " in err and needle in err and "Traceback" not in err


def test_missing_file_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "dfa", "--dfa", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json" in err


# ---------------------------------------------------------------------------- regex sources
def test_regex_sources(capsys):
    code, obj = run_json(capsys, "dfa", "--regex", "(ab)*")
    assert code == 0 and len(obj["states"]) == 3 and obj["alphabet"] == ["a", "b"]
    code, obj = run_json(capsys, "accepts", "--regex", "(ab)*", "abab", "aba", "")
    assert [r["accepted"] for r in obj["results"]] == [True, False, True]
    code, obj = run_json(capsys, "equiv", "--regex", "(0*10*1)*0*", "--alphabet", "01", "--lang2", "parity")
    assert code == 0 and obj["equivalent"]
    code, obj = run_json(capsys, "equiv", "--regex", "1*", "--lang2", "tomita:1")  # alphabets {1} and {0,1}
    assert code == 0 and obj["equivalent"]
    code, obj = run_json(capsys, "equiv", "--regex", "1+", "--lang2", "tomita:1")
    assert code == 1 and obj["counterexample"] == "" and obj["accepted_by"] == "second"
    code, _, err = run(capsys, "dfa", "--regex", "(ab")
    assert code == 2 and "Traceback" not in err


# ---------------------------------------------------------------------------- the console script
def test_console_script_is_fast_and_does_not_import_torch(tmp_path):
    exe = shutil.which("statetrack")
    argv = ["dfa", "--regex", "(ab)*", "--json"]
    cmd = [exe, *argv] if exe else [sys.executable, "-m", "statetrack", *argv]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["alphabet"]
    bad = subprocess.run(cmd[: len(cmd) - len(argv)] + ["accepts", "--lang", "parity", "2"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("statetrack: error:") and "Traceback" not in bad.stderr
    probe = ("import sys; from statetrack.cli import main; "
             f"main({argv!r}); main(['accepts', '--lang', 'group:S5', 'tc']); main(['langs']); "
             "main(['equiv', '--lang', 'parity', '--lang2', 'mod:2']); "
             "heavy = [m for m in ('torch', 'triton', 'sympy') if m in sys.modules]; "
             "assert not heavy, heavy")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert res.returncode == 0, res.stderr
