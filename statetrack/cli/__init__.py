"""The ``statetrack`` command line.

Each command lives in a module of :mod:`statetrack.cli` that exposes
``register(subparsers)``; registration only touches argparse, and every command
imports its heavy dependencies (torch, sympy, ...) inside its handler, so that
``statetrack dfa ...`` starts fast.

Exit codes: 0 success, 1 a negative answer of a check, 2 bad usage or bad input.
"""
from __future__ import annotations

import argparse
import importlib
import json
import re
import sys

from statetrack import __version__

# Command modules, in the order their commands are listed in --help.
COMMAND_MODULES = [
    "statetrack.cli.automata",  # dfa, accepts, equiv, langs
    "statetrack.cli.monoid",  # monoid, classify
    "statetrack.cli.construct",  # compile, verify
    "statetrack.cli.claims",  # claims
    "statetrack.cli.gen",  # gen
    "statetrack.cli.train",  # train, evaluate, extract
    "statetrack.cli.certify",  # certify
    "statetrack.cli.demo",  # demo
]


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message for usage errors; values such as ``-1,1`` (an eigenvalue
    range) are read as values, not as options."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\d+(,-?\d+)?$|^-\d*\.\d+$")

    def error(self, message: str):  # noqa: D401
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="statetrack", description="Formal-language expressivity of linear RNNs.")
    parser.add_argument("--version", action="version", version=f"statetrack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from statetrack.errors import StatetrackError

    parser = build_parser()
    args = parser.parse_args(argv)
    want_json = bool(getattr(args, "json", False))
    try:
        code = args.func(args)
        return int(code or 0)
    except StatetrackError as exc:
        return _fail(str(exc), want_json)
    except ValueError as exc:  # kernels raise their own KernelInputError (a ValueError): they import nothing of ours
        kernels = sys.modules.get("statetrack.kernels")
        if kernels is not None and isinstance(exc, kernels.KernelInputError):
            return _fail(str(exc), want_json)
        raise
    except UnicodeDecodeError as exc:
        return _fail(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", want_json)
    except OSError as exc:  # a file the user named: missing, a directory, not writable, ...
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", want_json)
    except KeyboardInterrupt:
        print("statetrack: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _fail(message: str, want_json: bool) -> int:
    print(f"statetrack: error: {message}", file=sys.stderr)
    if want_json:
        print(json.dumps({"error": message.splitlines()[0]}))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
