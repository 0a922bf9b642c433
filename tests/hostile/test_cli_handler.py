"""The top-level handler: a closed pipe ends quietly, non-UTF-8 input names its file, --help shows defaults."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .cli_run import assert_user_error, cli


def test_broken_pipe_exits_quietly():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-m", "statetrack", "dfa", "--regex", "a{5000}", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert child.stdout.read(10)
    child.stdout.close()  # as `| head -c 10` does
    err = child.stderr.read()
    assert child.wait(timeout=60) == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err


def test_non_utf8_words_file_names_the_file(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"01\n\xe9\xff\n")
    assert_user_error(cli(["accepts", "--lang", "parity", "--words-file", str(bad)]), "latin1.txt", "UTF-8")


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _options(sub)
        elif action.option_strings:
            yield parser, action


def test_help_shows_every_default():
    from statetrack.cli import _shows_default, build_parser

    seen = 0
    for parser, action in _options(build_parser()):
        if not _shows_default(action):
            continue
        text = " ".join(parser._get_formatter()._format_action(action).split())
        assert "default" in text, (parser.prog, action.option_strings, text)
        seen += 1
    assert seen > 50
    assert "(default: 64)" in " ".join(cli(["train", "--help"]).stdout.split())
