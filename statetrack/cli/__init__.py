"""The ``statetrack`` command line.

Each command lives in a module of :mod:`statetrack.cli` that exposes
``register(subparsers)``; registration only touches argparse, and every command
imports its heavy dependencies (torch, sympy, ...) inside its handler, so that
``statetrack dfa ...`` starts fast.

Exit codes: 0 success, 1 a negative answer of a check (`certify`: a counterexample), 3 `certify` inconclusive,
2 bad usage, bad input or a resource limit (including running out of memory), 130 interrupted (SIGINT), 143
terminated (SIGTERM). Both signals unwind the stack, so every atomic writer removes its temporary file or directory;
a closed output pipe ends the command quietly.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import re
import signal
import sys
import threading

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
    "statetrack.cli.report",  # report
]


class _HelpFormatter(argparse.HelpFormatter):
    """Help that shows every option's default (``(default: X)``), unless the default is None/False or the help text
    already speaks of its default."""

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None and _shows_default(action):
            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if _shows_default(action) and "default" not in text:
            text = f"{text} (default: %(default)s)" if text else "(default: %(default)s)"
        return text


def _shows_default(action: argparse.Action) -> bool:
    return (bool(action.option_strings) and action.default is not None and action.default is not False
            and action.default is not argparse.SUPPRESS and action.nargs != 0)


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line message for usage errors; values such as ``-1,1`` (an eigenvalue
    range) are read as values, not as options."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
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
    previous = _install_sigterm()
    try:
        code = args.func(args)
        sys.stdout.flush()
        return int(code or 0)
    except BrokenPipeError:  # the reader of stdout went away (e.g. `| head`): stop quietly
        _silence_stdout()
        return 0
    except StatetrackError as exc:
        return _fail(str(exc), want_json)
    except MemoryError:
        return _fail(f"{args.command}: out of memory; lower the sizes asked for (see docs/security.md, "
                     "resource limits)", want_json)
    except RuntimeError as exc:  # torch reports a failed allocation as a RuntimeError (CUDA: OutOfMemoryError)
        if not _out_of_memory(exc):
            raise
        return _fail(f"{args.command}: out of memory ({str(exc).splitlines()[0][:200]}); lower the sizes asked for "
                     "(see docs/security.md, resource limits)", want_json)
    except ValueError as exc:  # kernels raise their own KernelInputError (a ValueError): they import nothing of ours
        kernels = sys.modules.get("statetrack.kernels")
        if isinstance(exc, UnicodeDecodeError):
            return _fail(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", want_json)
        if kernels is not None and isinstance(exc, kernels.KernelInputError):
            return _fail(str(exc), want_json)
        raise
    except OSError as exc:  # a file the user named: missing, a directory, not writable, ...
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", want_json)
    except KeyboardInterrupt:
        print("statetrack: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("statetrack: terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _out_of_memory(exc: RuntimeError) -> bool:
    """Whether ``exc`` is torch's report of a failed allocation (CPU or GPU)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(exc)
    return "can't allocate memory" in text or "out of memory" in text.lower()


class _Terminated(SystemExit):
    """Raised by the SIGTERM handler: unwinds the stack like KeyboardInterrupt, so atomic writers clean up."""


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise _Terminated(143)


def _install_sigterm():
    """Turn SIGTERM into :class:`_Terminated` (main thread only); returns the previous handler, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        return None


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor (tests)
        pass


def _fail(message: str, want_json: bool) -> int:
    print(f"statetrack: error: {message}", file=sys.stderr)
    if want_json:
        try:
            print(json.dumps({"error": message.splitlines()[0] if message else ""}), flush=True)
        except BrokenPipeError:
            _silence_stdout()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
