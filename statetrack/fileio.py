"""Atomic file output and the output-path policy of statetrack.

Policy (docs/security.md, "Output paths and interruption"):

- An output file is written to a temporary file beside the target and renamed onto it, so a reader never sees a
  half-written file; on any exception (KeyboardInterrupt and SystemExit included) the temporary file is removed.
- A target that exists must be a regular file (or a symlink to one, which is replaced by the new file): directories,
  device nodes, FIFOs and sockets are refused with :class:`OutputPathError` before anything is written.
- A replaced file keeps its permission bits; a new file gets ``0666`` minus the umask, as ``open`` would give it.
- A directory output (a suite, a run) is built in a temporary sibling and renamed into place whole
  (:func:`atomic_directory`); an existing directory is only replaced when the caller says so (``replace=True``,
  the CLI's ``--force``).
- Errors name the target, never the temporary file.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterator

from .errors import StatetrackError


class OutputPathError(StatetrackError, OSError):
    """An output path that the policy refuses (a directory, a special file, an existing run without --force)."""


def check_output_file(path: "str | os.PathLike", what: str = "output") -> Path:
    """Raise :class:`OutputPathError` unless ``path`` is absent or a regular file (following symlinks).

    Returns ``path`` as a :class:`~pathlib.Path`. An empty path is refused.
    """
    if os.fspath(path) == "":
        raise OutputPathError(f"{what}: the path is empty")
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return p
    except OSError as exc:
        raise OutputPathError(f"{what} {p}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{what} {p}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{what} {p}: is not a regular file ({_kind(st.st_mode)}); refusing to replace it")
    return p


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _temp_sibling(path: Path) -> Path:
    """A fresh hidden name beside ``path`` (``.NAME.RANDOM.tmp``), not yet created."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        if not os.path.lexists(tmp):
            return tmp


@contextlib.contextmanager
def atomic_open(path: "str | os.PathLike", mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is untouched, so a reader never sees a
    half-written file. ``path`` must be absent or a regular file (:func:`check_output_file`); a replaced file keeps
    its permission bits. OS errors name ``path``, not the temporary file.
    """
    path = check_output_file(path)
    try:
        old_mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        old_mode = 0o666 & ~_umask()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _named(exc, path) from None
    binary = "b" in mode
    tmp = _temp_sibling(path)  # named before it is created: an interruption at any point is cleaned up below
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _named(exc, path) from None
        try:
            os.chmod(tmp, old_mode)
            fh = os.fdopen(fd, mode, encoding=None if binary else encoding)
        except OSError as exc:
            os.close(fd)
            raise _named(exc, path) from None
        with fh:
            yield fh
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise _named(exc, path) from None
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _named(exc, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _named(exc: OSError, path: Path) -> OSError:
    """The same kind of OSError, naming ``path`` (the target) instead of a temporary file."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: "str | os.PathLike", text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: "str | os.PathLike", data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", encoding=None) as fh:
        fh.write(data)


def check_output_dir(path: "str | os.PathLike", what: str = "output directory", replace: bool = False,
                     hint: str = "--force") -> Path:
    """Raise :class:`OutputPathError` unless ``path`` may be written as a whole directory.

    Allowed: an absent path, an empty directory, or (with ``replace=True``) an existing directory. Refused: an empty
    path, anything that is not a directory, a non-empty directory without ``replace`` (the message names ``hint``).
    """
    if os.fspath(path) == "":
        raise OutputPathError(f"{what}: the path is empty")
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return p
    if not p.is_dir():
        raise OutputPathError(f"{what} {p}: exists and is not a directory")
    if not replace and any(p.iterdir()):
        raise OutputPathError(f"{what} {p}: exists and is not empty; pass {hint} to replace it")
    return p


@contextlib.contextmanager
def atomic_directory(path: "str | os.PathLike", replace: bool = False, what: str = "output directory",
                     hint: str = "--force") -> Iterator[Path]:
    """Build a directory in a temporary sibling of ``path`` and rename it onto ``path`` whole.

    Yields the temporary directory to write into. On success an existing ``path`` (allowed only when empty or with
    ``replace=True``, see :func:`check_output_dir`) is replaced: it is renamed aside, the new directory renamed in,
    and the old one deleted, so a crash at any moment leaves either the old directory or the new one under ``path``
    (plus, at worst, a hidden ``.NAME.old-*`` sibling). On an exception (KeyboardInterrupt and SystemExit included)
    the temporary directory is removed and ``path`` is untouched.
    """
    p = check_output_dir(path, what, replace, hint)
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _named(exc, p) from None
    tmp = _temp_sibling(p)  # named before it is created: an interruption at any point is cleaned up below
    old: Path | None = None
    try:
        try:
            os.mkdir(tmp, 0o777 & ~_umask())
        except OSError as exc:
            raise _named(exc, p) from None
        yield tmp
        if p.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{p.name}.old-", dir=parent))
            os.rmdir(old)
            os.replace(p, old)
        try:
            os.replace(tmp, p)
        except OSError as exc:
            raise _named(exc, p) from None
    except BaseException:
        if old is not None and not p.exists():  # interrupted between the two renames: put the old one back
            os.replace(old, p)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None and p.exists():
            shutil.rmtree(old, ignore_errors=True)


__all__ = ["OutputPathError", "check_output_file", "check_output_dir", "atomic_open", "atomic_write_text",
           "atomic_write_bytes", "atomic_directory"]
