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

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


#: train lengths of the shared parity runs
PARITY_LENGTHS = (3, 12)


@pytest.fixture(scope="session")
def parity_run(tmp_path_factory):
    """``parity_run(eig_range) -> run dir``: a 1-layer DeltaNet trained on parity, once per range and session."""
    base = tmp_path_factory.mktemp("parity-runs")

    def get(eig_range: tuple[int, int]):
        from statetrack.automata.catalog import get_language
        from statetrack.lrnn.tasks import task_from_dfa
        from statetrack.lrnn.train import TrainConfig, train

        run = base / f"deltanet-{eig_range[0]}{eig_range[1]}"
        if not (run / "model.safetensors").exists():
            task = task_from_dfa(get_language("parity"), train_lengths=PARITY_LENGTHS)
            cfg = TrainConfig(model="deltanet", eigenvalue_range=eig_range, layers=1, dim=32, heads=1, steps=150,
                              batch=32, lr=1e-2, warmup=20, seed=0)
            train(task, cfg, run, progress=False)
        return run

    return get


def pytest_sessionfinish(session, exitstatus):
    """A run that collects no test fails (exit 1, not pytest's 5): a wrong path or selection must not look clean."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.config.get_terminal_writer().line("error: no tests were collected (check the paths and -k/-m)")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
