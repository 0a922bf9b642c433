"""Output-path policy: special files and directories refused, modes kept, suites replaced whole and only with
--force, errors naming the target, interruption leaving no temporary file or directory."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from statetrack.fileio import OutputPathError, atomic_directory, atomic_open, atomic_write_text

from .cli_run import assert_user_error, cli


def test_dfa_output_onto_fifo_is_refused_and_the_fifo_kept(tmp_path):
    fifo = tmp_path / "n.json"
    os.mkfifo(fifo)
    proc = cli(["dfa", "--lang", "parity", "-o", str(fifo)], cwd=tmp_path)
    assert_user_error(proc, "not a regular file", "n.json")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["n.json"]


def test_output_onto_a_directory_is_refused(tmp_path):
    (tmp_path / "d.json").mkdir()
    assert_user_error(cli(["dfa", "--lang", "parity", "-o", "d.json"], cwd=tmp_path), "is a directory")


def test_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "p.json"
    target.write_text("old")
    os.chmod(target, 0o600)
    assert cli(["dfa", "--lang", "parity", "-o", str(target)]).returncode == 0
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert json.loads(target.read_text())["alphabet"] == ["0", "1"]


def test_write_error_names_the_target_not_the_temporary_file(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder")
    proc = cli(["dfa", "--lang", "parity", "-o", "plain/x.json"], cwd=tmp_path)
    assert_user_error(proc, "plain/x.json")
    assert ".tmp" not in proc.stderr


def test_gen_empty_output_is_an_error(tmp_path):
    proc = cli(["gen", "--lang", "parity", "-o", "", "--per-length", "2"], cwd=tmp_path)
    assert_user_error(proc, "empty")
    assert os.listdir(tmp_path) == []


GEN = ["gen", "--lang", "parity", "--train-lengths", "1:4", "--test-lengths", "5:6", "--per-length", "3"]


def test_gen_never_overwrites_a_suite_without_force(tmp_path):
    out = tmp_path / "suite"
    assert cli([*GEN, "--seed", "1", "-o", str(out)]).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert_user_error(cli([*GEN, "--seed", "2", "-o", str(out)]), "--force")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert cli([*GEN, "--seed", "2", "--format", "npz", "-o", str(out), "--force"]).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test.npz", "train.npz"]
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["suite"]


def test_gen_force_never_deletes_a_directory_that_is_not_a_suite(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert_user_error(cli([*GEN, "-o", str(tmp_path / "mine"), "--force"]), "not a suite")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_atomic_directory_is_all_or_nothing(tmp_path):
    out = tmp_path / "out"
    with atomic_directory(out) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(OutputPathError):
        with atomic_directory(out):
            pass
    with pytest.raises(RuntimeError):
        with atomic_directory(out, replace=True) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["a"]


def test_sigterm_unwinds_like_sigint_and_removes_the_temporary_file(tmp_path):
    from statetrack.cli import _install_sigterm, _Terminated

    previous = _install_sigterm()
    try:
        with pytest.raises(_Terminated):
            with atomic_open(tmp_path / "x.json") as fh:
                fh.write("partial")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises before this ends
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.iterdir()) == []


def test_gen_terminated_leaves_the_old_suite_intact_and_no_temporary_directory(tmp_path):
    out = tmp_path / "suite"
    assert cli([*GEN, "--seed", "1", "-o", str(out)]).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    env = dict(os.environ, OMP_NUM_THREADS="1")
    big = ["gen", "--lang", "parity", "--train-lengths", "1:60", "--test-lengths", "61:80", "--per-length", "2000",
           "--allow-duplicates", "--seed", "3", "-o", str(out), "--force"]
    child = subprocess.Popen([sys.executable, "-m", "statetrack", *big], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and child.poll() is None:  # wait until the suite is being written
        if any(p.name.startswith(".suite.") for p in tmp_path.iterdir()):
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert b"Traceback" not in err
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    if child.returncode == 0:  # it finished first: the new suite replaced the old one whole
        assert leftovers == ["suite"]
        assert json.loads((out / "manifest.json").read_text())["seed"] == 3
        return
    assert child.returncode in (143, -signal.SIGTERM)
    assert leftovers == ["suite"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_atomic_write_text_refuses_an_empty_path():
    with pytest.raises(OutputPathError):
        atomic_write_text("", "x")


def test_atomic_writes_keep_modes_and_replace_symlinks_not_their_targets(tmp_path):
    from statetrack.fileio import atomic_write_bytes

    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(os.stat(target).st_mode) == 0o640
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    atomic_write_bytes(link, b"via link")
    assert not link.is_symlink() and link.read_bytes() == b"via link" and target.read_bytes() == b"new"
    (tmp_path / "to-fifo").symlink_to(tmp_path / "fifo")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OutputPathError, match="FIFO"):
        atomic_write_bytes(tmp_path / "to-fifo", b"x")
