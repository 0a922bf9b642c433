"""The scans keep their own accumulation dtype inside an autocast region (training on a GPU runs under autocast)."""
import pytest
import torch

from statetrack.kernels import diagonal_scan, householder_scan


@pytest.mark.parametrize("backend", ["reference", "chunked"])
def test_scans_ignore_an_enclosing_autocast(backend):
    torch.manual_seed(0)
    B, T, H, K = 1, 100, 2, 16
    q, k, v = (torch.randn(B, T, H, K) for _ in range(3))
    k = torch.nn.functional.normalize(k, dim=-1)
    beta, a = torch.rand(B, T, H) * 2, torch.rand(B, T, H, K) * 2 - 1
    ref_h, _ = householder_scan(q.double(), k.double(), v.double(), beta.double(), backend="reference")
    ref_d, _ = diagonal_scan(q.double(), k.double(), v.double(), a.double(), backend="reference")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        o_h, _ = householder_scan(q, k, v, beta, backend=backend)
        o_d, _ = diagonal_scan(q, k, v, a, backend=backend)
    assert o_h.dtype == o_d.dtype == torch.float32
    assert (o_h.double() - ref_h).norm() / ref_h.norm() < 1e-5  # bfloat16 matmuls would give ~1e-2
    assert (o_d.double() - ref_d).norm() / ref_d.norm() < 1e-5
