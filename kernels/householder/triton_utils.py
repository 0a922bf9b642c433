"""Small helpers shared by the Triton Householder-scan kernels (imports triton: load lazily).

* ``interpreting()``: True under ``TRITON_INTERPRET=1`` (kernels then run on CPU tensors through numpy).
* ``autotune_enabled()``: False when ``STATETRACK_NO_AUTOTUNE=1`` or when interpreting; the autotuner benchmarks
  configurations on a GPU, which the interpreter cannot do, so a fixed configuration is used instead.
* ``launcher(configs, key)`` / :class:`Launcher`: launches a ``triton.jit`` kernel through ``triton.autotune`` only
  when autotuning is on; otherwise with one fixed config: ``configs[i]`` for ``STATETRACK_TRITON_CONFIG=i`` (taken
  modulo the number of configs, so one index walks every kernel through its own list), ``configs[0]`` by default.
  The tests run every index under the interpreter.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import triton


def interpreting() -> bool:
    """Whether Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def autotune_enabled() -> bool:
    """Whether launches go through ``triton.autotune`` (off under the interpreter or ``STATETRACK_NO_AUTOTUNE=1``)."""
    return not interpreting() and os.environ.get("STATETRACK_NO_AUTOTUNE", "0") in ("", "0")


def fixed_config_index() -> int:
    """The config index used when autotuning is off: ``STATETRACK_TRITON_CONFIG`` (a non-negative int), else 0."""
    raw = os.environ.get("STATETRACK_TRITON_CONFIG", "0").strip() or "0"
    if not raw.isdigit():
        raise ValueError(f"STATETRACK_TRITON_CONFIG must be a non-negative integer, got {raw!r}")
    return int(raw)


def next_pow2(n: int, minimum: int = 16) -> int:
    """Smallest power of two >= max(n, minimum) (Triton block sizes must be powers of two; tl.dot needs >= 16)."""
    return max(int(triton.next_power_of_2(max(int(n), 1))), minimum)


class Launcher:
    """A jitted kernel plus its tuning configurations; ``launch(grid, *args, **constexprs)`` runs it.

    With autotuning on, the first launch per ``key`` benchmarks ``configs`` (``num_warps`` / ``num_stages`` only, so
    the grid never depends on the config and every config writes the same outputs); otherwise the config
    :func:`fixed_config_index` picks (modulo ``len(configs)``).
    """

    def __init__(self, kernel: Any, configs: list[dict[str, int]], key: list[str]):
        self.kernel = kernel
        self.configs = configs
        self.key = key
        self._tuned: Any = None

    def launch(self, grid: tuple[int, ...], *args: Any, **kwargs: Any) -> None:
        if autotune_enabled():
            if self._tuned is None:
                cfgs = [triton.Config({}, num_warps=c["num_warps"], num_stages=c.get("num_stages", 2))
                        for c in self.configs]
                self._tuned = triton.autotune(configs=cfgs, key=self.key)(self.kernel)
            self._tuned[grid](*args, **kwargs)
        else:
            c = self.configs[fixed_config_index() % len(self.configs)]
            self.kernel[grid](*args, num_warps=c["num_warps"], num_stages=c.get("num_stages", 2), **kwargs)


def launcher(configs: list[dict[str, int]], key: list[str]) -> Callable[[Any], Launcher]:
    """Decorator form of :class:`Launcher`."""

    def wrap(kernel: Any) -> Launcher:
        return Launcher(kernel, configs, key)

    return wrap
