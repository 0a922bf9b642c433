"""Resource limits: sizes beyond a documented limit fail fast with exit 2 and the limit's name; running out of
memory anywhere is exit 2 with a message, not a traceback."""
from __future__ import annotations

import time

import pytest

from statetrack.cli import main

from .cli_run import assert_user_error, cli


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile-limits") / "run"
    assert main(["train", "--lang", "parity", "--steps", "2", "--train-lengths", "3:6", "--dim", "8", "--heads", "1",
                 "--batch", "8", "--no-progress", "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def parity_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile-limits-model") / "parity.safetensors"
    assert main(["compile", "--lang", "parity", "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("lookahead", ["30", "1000000000"])
def test_extract_lookahead_is_bounded_by_probe_words(run, lookahead):
    t0 = time.monotonic()
    proc = cli(["extract", str(run), "--lookahead", lookahead], timeout=120, mem_mb=4096)
    assert_user_error(proc, "EXTRACT_MAX_PROBES")
    assert time.monotonic() - t0 < 120


def test_verify_tokens_are_bounded(parity_model):
    assert_user_error(cli(["verify", str(parity_model), "--max-len", "1000000000"], mem_mb=4096),
                      "VERIFY_MAX_TOKENS")


def test_evaluate_lengths_times_per_length_is_bounded(parity_model, capsys):
    assert main(["evaluate", str(parity_model), "--test-lengths", "1:100000", "--per-length", "100"]) == 2
    err = capsys.readouterr().err
    assert "EVALUATE_MAX_TOKENS" in err and "--per-length" in err


def test_gen_word_counts_are_bounded(tmp_path, capsys):
    assert main(["gen", "--lang", "parity", "--per-length", "1000000000", "-o", str(tmp_path / "s")]) == 2
    assert "limit" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_memory_error_is_exit_2_with_a_message(tmp_path):
    big = tmp_path / "words.txt"
    with open(big, "wb") as fh:  # a sparse 240 MiB file of NUL bytes (valid UTF-8), under the words-file size limit:
        fh.truncate(240 << 20)   # read and decoded whole, it does not fit in 400 MB of address space
    proc = cli(["accepts", "--lang", "parity", "--words-file", str(big)], mem_mb=400, timeout=60)
    assert_user_error(proc, "out of memory")


def test_torch_allocation_failure_is_reported_as_out_of_memory():
    from statetrack.cli import _out_of_memory

    assert _out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                                       "allocate memory: you tried to allocate 268435456 bytes."))
    assert not _out_of_memory(RuntimeError("shape mismatch"))


@pytest.mark.parametrize("argv, needle", [
    (["--max-length", "100000"], "EXTRACT_MAX_LENGTH"),
    (["--test-lengths", "5:99999"], "EXTRACT_MAX_LENGTH"),
    (["--seed", "-1"], "--seed -1"),
    (["--threads", "-2"], "--threads -2"),
])
def test_extract_sizes_and_counts_are_checked_first(run, capsys, argv, needle):
    assert main(["extract", str(run), *argv]) == 2
    assert needle in capsys.readouterr().err
