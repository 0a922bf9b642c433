"""Running the command line in a child process with a time bound and, optionally, an address-space bound."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

#: a child that runs longer than this has hung
TIMEOUT_S = 120


def cli(args: Sequence[str], cwd: "str | Path | None" = None, timeout: float = TIMEOUT_S,
        mem_mb: int | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """``python -m statetrack ARGS`` with captured text output; ``mem_mb`` caps the child's address space."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONIOENCODING="utf-8")

    def limit() -> None:
        if mem_mb is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))

    proc = subprocess.run([sys.executable, "-m", "statetrack", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, timeout=timeout, preexec_fn=limit)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                       proc.stderr.decode("utf-8", "replace"))


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2 with a one-line ``statetrack: error:`` message containing every needle, and no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "statetrack: error:" in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
