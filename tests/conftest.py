"""Test configuration: run Triton kernels through the interpreter when there is no GPU."""
import os

try:  # decide before any Triton kernel is decorated
    import torch

    _has_cuda = torch.cuda.is_available()
except Exception:  # pragma: no cover
    _has_cuda = False
if not _has_cuda:
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("STATETRACK_NO_AUTOTUNE", "1")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
