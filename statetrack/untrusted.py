"""Reading untrusted input: bounded file reads, bounded JSON, and typed checkers for metadata.

Every file statetrack reads (DFA files, words files, compiled-model and trained-model headers, configs) goes
through this module before anything is built from it, so that a hostile file ends in a
:class:`~statetrack.errors.StatetrackError` naming the file and the limit, never in a hang, a traceback or an
allocation proportional to a number written in the file.

Limits (also in ``docs/security.md``):

=========================  ========  ====================================================================
name                       value     what it bounds
=========================  ========  ====================================================================
``FILE_LIMITS["dfa"]``     64 MiB    a DFA file (JSON, DOT, JFLAP)
``FILE_LIMITS["words"]``   256 MiB   a words file (one word per line)
``FILE_LIMITS["json"]``    16 MiB    a small JSON document (configs, checkpoint pointers)
``FILE_LIMITS["model"]``   256 MiB   a compiled-model safetensors file (read whole)
``FILE_LIMITS["weights"]`` 8 GiB     a trained-model safetensors file (header read first)
``MAX_HEADER_BYTES``       16 MiB    a safetensors header (the JSON before the tensor data)
``MAX_JSON_DEPTH``         64        nesting of ``[`` and ``{`` in any JSON document
``MAX_INT_DIGITS``         64        digits of one JSON integer (longer ones are refused, not converted)
=========================  ========  ====================================================================

JSON is also refused when it contains ``NaN``, ``Infinity`` or a float literal that overflows to infinity: those
are not JSON, and statetrack never writes them.

Only regular files are read: a path (or a symlink) that leads to a directory, a device, a FIFO or a socket is an
error before any byte is read, so ``/dev/zero`` or a named pipe cannot make a reader wait or grow without bound.
"""
from __future__ import annotations

import json
import math
import os
import stat
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from statetrack.errors import StatetrackError

__all__ = [
    "UntrustedInputError",
    "FILE_LIMITS",
    "MAX_HEADER_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_INT_DIGITS",
    "read_bytes",
    "read_text",
    "decode_text",
    "read_lines",
    "read_safetensors_header",
    "split_lines",
    "json_depth",
    "parse_json",
    "expect_int",
    "expect_float",
    "expect_bool",
    "expect_str",
    "expect_str_list",
    "expect_list",
    "expect_dict",
    "short_repr",
]

#: size caps in bytes per kind of file
FILE_LIMITS: dict[str, int] = {
    "dfa": 64 << 20,
    "words": 256 << 20,
    "json": 16 << 20,
    "model": 256 << 20,
    "weights": 8 << 30,
}
#: size cap of a safetensors header (the JSON length stored in its first 8 bytes)
MAX_HEADER_BYTES = 16 << 20
#: deepest nesting of arrays and objects accepted in a JSON document
MAX_JSON_DEPTH = 64
#: most digits of one JSON integer literal
MAX_INT_DIGITS = 64

ErrorType = Callable[[str], Exception]


class UntrustedInputError(StatetrackError, ValueError):
    """Untrusted input that is malformed or beyond a limit of this module (when no more specific class is given)."""


# ---------------------------------------------------------------------------------------------------- files
def read_bytes(path: "str | os.PathLike", kind: str, *, error: ErrorType = UntrustedInputError) -> bytes:
    """The bytes of a regular file, at most ``FILE_LIMITS[kind]`` of them.

    Refuses, with ``error("PATH: ...")``: a missing or unreadable path, a directory, and anything that is not a
    regular file once symlinks are followed (devices such as ``/dev/zero``, FIFOs, sockets); a file larger than
    the cap (checked on the open descriptor before reading, and again while reading, in case it grows).
    """
    if kind not in FILE_LIMITS:
        raise ValueError(f"read_bytes: unknown kind {kind!r}; one of {', '.join(FILE_LIMITS)}")
    cap = FILE_LIMITS[kind]
    where = os.fspath(path)
    fd, _ = _open_regular(path, kind, error)
    try:
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            except OSError as exc:
                raise error(f"{where}: read error ({exc.strerror or exc})") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise error(f"{where}: over the limit for a {kind} file (FILE_LIMITS[{kind!r}] = {cap} bytes)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode_text(data: bytes, where: str, *, error: ErrorType = UntrustedInputError) -> str:
    """UTF-8 text of ``data`` (a leading byte-order mark skipped); bad bytes are ``error`` naming line and byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{where}: line {line}: not UTF-8 text (byte {exc.start})") from None


def read_text(path: "str | os.PathLike", kind: str, *, error: ErrorType = UntrustedInputError) -> str:
    """:func:`read_bytes` then :func:`decode_text`."""
    return decode_text(read_bytes(path, kind, error=error), os.fspath(path), error=error)


def split_lines(text: str) -> list[str]:
    """Lines of ``text``: split on ``\\n``, a final newline ends the last line (it adds no empty line), and one
    ``\\r`` before a newline is dropped (CRLF files). Empty lines in the middle are kept (the empty word)."""
    if not text:
        return []
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_lines(path: "str | os.PathLike", kind: str = "words", *, error: ErrorType = UntrustedInputError) -> list[str]:
    """The lines of a bounded UTF-8 text file (see :func:`split_lines`)."""
    return split_lines(read_text(path, kind, error=error))


def _open_regular(path: "str | os.PathLike", kind: str, error: ErrorType) -> tuple[int, int]:
    """``(fd, size)`` of a regular file within ``FILE_LIMITS[kind]``; the caller closes ``fd``."""
    where = os.fspath(path)
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise error(f"{where}: is a directory, not a file") from None
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except OSError as exc:
        raise error(f"{where}: cannot open ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    problem = None
    if stat.S_ISDIR(st.st_mode):
        problem = "is a directory, not a file"
    elif not stat.S_ISREG(st.st_mode):
        problem = "not a regular file (a device, pipe or socket); refusing to read it"
    elif st.st_size > FILE_LIMITS[kind]:
        problem = (f"{st.st_size} bytes is over the limit for a {kind} file "
                   f"(FILE_LIMITS[{kind!r}] = {FILE_LIMITS[kind]} bytes)")
    if problem:
        os.close(fd)
        raise error(f"{where}: {problem}")
    return fd, st.st_size


def read_safetensors_header(path: "str | os.PathLike", kind: str = "weights", *,
                            error: ErrorType = UntrustedInputError) -> dict:
    """The JSON header of a safetensors file (a regular file within ``FILE_LIMITS[kind]``), read without reading
    the tensors: its 8-byte little-endian length must be at most ``MAX_HEADER_BYTES`` and within the file, and the
    JSON passes :func:`parse_json`. Returns the header object (tensor entries and ``__metadata__``)."""
    where = os.fspath(path)
    fd, size = _open_regular(path, kind, error)
    try:
        head = os.read(fd, 8)
        if len(head) < 8:
            raise error(f"{where}: not a safetensors file (too short)")
        hlen = int.from_bytes(head, "little")
        if hlen > MAX_HEADER_BYTES:
            raise error(f"{where}: safetensors header of {hlen} bytes, over the limit of {MAX_HEADER_BYTES} "
                        "(MAX_HEADER_BYTES)")
        if hlen > size - 8:
            raise error(f"{where}: not a safetensors file (header length {hlen} beyond the end)")
        chunks, got = [], 0
        while got < hlen:
            chunk = os.read(fd, hlen - got)
            if not chunk:
                raise error(f"{where}: truncated safetensors header")
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    header = parse_json(b"".join(chunks), f"{where}: safetensors header", error=error)
    if not isinstance(header, dict):
        raise error(f"{where}: the safetensors header is not a JSON object")
    return header


# ---------------------------------------------------------------------------------------------------- JSON
_BRACKET_STEP = np.zeros(256, dtype=np.int32)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1
_SPECIAL = np.zeros(256, dtype=bool)  # the bytes that matter for nesting: brackets, quotes, backslashes
_SPECIAL[[ord("["), ord("{"), ord("]"), ord("}"), ord('"'), ord("\\")]] = True
_CHUNK = 1 << 22


def json_depth(text: "str | bytes") -> int:
    """Deepest nesting of ``[``/``{`` outside JSON strings, in linear time and bounded memory (vectorised over
    chunks of 4 MiB, on the brackets, quotes and backslashes only; no recursion). The text need not be valid JSON:
    this is a guard to run before parsing."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if b"[" not in data and b"{" not in data:
        return 0
    in_str, bs_run, depth, deepest = 0, 0, 0, 0
    for off in range(0, len(data), _CHUNK):
        b = np.frombuffer(data, dtype=np.uint8, count=min(_CHUNK, len(data) - off), offset=off)
        sel = np.flatnonzero(_SPECIAL[b])  # positions (in the chunk) of the bytes that matter
        if sel.size == 0:
            bs_run = 0
            continue
        c = b[sel]
        is_bs = c == 92
        if bs_run == 0 and not is_bs.any():
            real_quote, bs_run = c == 34, 0
        else:  # a quote after an odd run of backslashes is escaped
            j = np.arange(sel.size)
            follows = np.zeros(sel.size, dtype=bool)  # entry j is the byte right after entry j - 1
            follows[1:] = sel[1:] == sel[:-1] + 1
            prev_bs = np.zeros(sel.size, dtype=bool)
            prev_bs[1:] = is_bs[:-1]
            continues = is_bs & follows & prev_bs  # a backslash that extends the run before it
            carried = bool(sel[0] == 0 and bs_run)  # the chunk starts inside a run of the previous chunk
            continues[0] = carried and bool(is_bs[0])
            run_start = np.maximum.accumulate(np.where(is_bs & ~continues, j, -1))
            run_end = np.where(is_bs, j - run_start + 1, 0)  # backslashes ending at entry j
            if carried and is_bs[0]:
                first = run_start < 0
                run_end = np.where(is_bs & first, j + 1 + bs_run, run_end)
            run_before = np.zeros(sel.size, dtype=np.int64)
            run_before[1:] = np.where(follows[1:] & prev_bs[1:], run_end[:-1], 0)
            if sel[0] == 0:
                run_before[0] = bs_run
            real_quote = (c == 34) & (run_before % 2 == 0)
            bs_run = int(run_end[-1]) if sel[-1] == b.size - 1 else 0
        inside = (np.cumsum(real_quote, dtype=np.int64) + in_str) & 1
        steps = _BRACKET_STEP[c]
        steps[inside == 1] = 0
        levels = np.cumsum(steps, dtype=np.int64)
        deepest = max(deepest, depth + int(levels.max()))
        in_str, depth = int(inside[-1]), depth + int(levels[-1])
    return deepest


def parse_json(text: "str | bytes", where: str, *, error: ErrorType = UntrustedInputError,
               max_depth: int = MAX_JSON_DEPTH, object_pairs_hook: Callable[[list], Any] | None = None) -> Any:
    """``json.loads`` with limits: nesting at most ``max_depth`` (checked before parsing), integers of at most
    ``MAX_INT_DIGITS`` digits, no ``NaN``/``Infinity`` and no float literal that overflows. Every problem is
    ``error(f"{where}: ...")``; syntax errors give the line and column."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{where}: JSON is not UTF-8 text (byte {exc.start})") from None
    depth = json_depth(text) if text.count("[") + text.count("{") > max_depth else 0
    if depth > max_depth:
        raise error(f"{where}: JSON nested {depth} deep, over the limit of {max_depth} (MAX_JSON_DEPTH)")

    def parse_int(s: str) -> int:
        if len(s.lstrip("-")) > MAX_INT_DIGITS:
            raise error(f"{where}: a JSON integer with {len(s.lstrip('-'))} digits, over the limit of "
                        f"{MAX_INT_DIGITS} (MAX_INT_DIGITS)")
        return int(s)

    def parse_float(s: str) -> float:
        x = float(s)
        if not math.isfinite(x):
            raise error(f"{where}: the JSON number {s[:40]} overflows to infinity")
        return x

    def parse_constant(s: str) -> Any:
        raise error(f"{where}: {s} is not allowed in JSON")

    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant,
                          object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise error(f"{where}: JSON nested too deep") from None


# ---------------------------------------------------------------------------------------------------- checkers
def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def expect_int(name: str, value: Any, lo: int | None = None, hi: int | None = None, *,
               error: ErrorType = UntrustedInputError) -> int:
    """``value`` as an int in ``[lo, hi]`` (either bound optional); bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise error(f"{name} must be an integer, got {_type_name(value)} {short_repr(value)}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise error(f"{name} must be in [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}], "
                    f"got {short_repr(value)}")
    return value


def expect_float(name: str, value: Any, lo: float | None = None, hi: float | None = None, *,
                 error: ErrorType = UntrustedInputError) -> float:
    """``value`` (an int or a float, not a bool) as a finite float in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise error(f"{name} must be a number, got {_type_name(value)} {short_repr(value)}")
    x = float(value)
    if not math.isfinite(x):
        raise error(f"{name} must be finite, got {x}")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise error(f"{name} must be in [{lo}, {hi}], got {x}")
    return x


def expect_bool(name: str, value: Any, *, error: ErrorType = UntrustedInputError) -> bool:
    """``value`` when it is a bool (JSON ``true``/``false``), else ``error``."""
    if not isinstance(value, bool):
        raise error(f"{name} must be true or false, got {_type_name(value)} {short_repr(value)}")
    return value


def expect_str(name: str, value: Any, choices: Sequence[str] | None = None, *, max_len: int | None = None,
               error: ErrorType = UntrustedInputError) -> str:
    """``value`` when it is a string (one of ``choices`` when given, at most ``max_len`` characters)."""
    if not isinstance(value, str):
        raise error(f"{name} must be a string, got {_type_name(value)} {short_repr(value)}")
    if choices is not None and value not in choices:
        raise error(f"{name} must be one of {', '.join(map(repr, choices))}, got {short_repr(value)}")
    if max_len is not None and len(value) > max_len:
        raise error(f"{name} is {len(value)} characters long, over the limit of {max_len}")
    return value


def expect_list(name: str, value: Any, *, min_len: int = 0, max_len: int | None = None,
                error: ErrorType = UntrustedInputError) -> list:
    """``value`` when it is a list with a length in ``[min_len, max_len]``."""
    if not isinstance(value, list):
        raise error(f"{name} must be a list, got {_type_name(value)} {short_repr(value)}")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        raise error(f"{name} must have between {min_len} and {max_len if max_len is not None else 'any number of'} "
                    f"entries, got {len(value)}")
    return value


def expect_str_list(name: str, value: Any, *, min_len: int = 0, max_len: int | None = None, nonempty: bool = False,
                    unique: bool = False, error: ErrorType = UntrustedInputError) -> list[str]:
    """A list of strings (each non-empty when ``nonempty``, no repeats when ``unique``) of bounded length."""
    items = expect_list(name, value, min_len=min_len, max_len=max_len, error=error)
    seen: dict[str, int] = {}
    for i, x in enumerate(items):
        if not isinstance(x, str):
            raise error(f"{name}[{i}] must be a string, got {_type_name(x)} {short_repr(x)}")
        if nonempty and x == "":
            raise error(f"{name}[{i}] is the empty string")
        if unique:
            if x in seen:
                raise error(f"{name}: {x!r} appears twice (positions {seen[x]} and {i})")
            seen[x] = i
    return items


def expect_dict(name: str, value: Any, *, required: Sequence[str] = (), allowed: Sequence[str] | None = None,
                error: ErrorType = UntrustedInputError) -> Mapping[str, Any]:
    """``value`` when it is a JSON object holding every key of ``required`` and (when ``allowed`` is given) no
    other keys than ``allowed``."""
    if not isinstance(value, Mapping):
        raise error(f"{name} must be an object, got {_type_name(value)} {short_repr(value)}")
    for key in required:
        if key not in value:
            raise error(f"{name} lacks {key!r}")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise error(f"{name}: unknown key(s) {', '.join(map(repr, unknown[:5]))}")
    return value


def short_repr(value: Any, limit: int = 60) -> str:
    """A bounded ``repr`` for error messages (a hostile value may be huge)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    try:
        if isinstance(value, str):
            r = repr(value[: limit + 1])
        elif isinstance(value, (list, dict)):
            r = json.dumps(value)[: limit + 1]
        else:
            r = repr(value)
    except (TypeError, ValueError, RecursionError):
        r = f"<{_type_name(value)}>"
    return r if len(r) <= limit else r[:limit] + "..."
