"""The chunk-major layout shared by the chunked scans: ``[B, L, H, d]`` sequences cut into chunks of whole tokens.

Chunk-major means the chunk index is the slowest dimension: ``[N * B * H, rows, d]``, so the ``B * H`` heads of one
chunk (the state loop's step) and the chunks of a group (the forward's unit of work) are contiguous slices.
"""
from __future__ import annotations

import torch


def grad_wanted(*xs: "torch.Tensor | None") -> bool:
    """Will autograd record this call? (grad mode on and some input requires a gradient.) The chunked scans take
    their leaner forwards, which keep nothing for a backward, when it will not."""
    return torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in xs)


class ChunkLayout:
    """Chunk-major layout ``[N*B*H, rows, .]`` (``N`` chunks, chunk index slowest) and its inverse.

    ``tok`` tokens and ``C = tok * n_h`` factor rows per chunk; ``Tp = N * tok`` padded tokens.
    """

    def __init__(self, B: int, T: int, H: int, n_h: int, chunk_size: int):
        self.B, self.T, self.H, self.n_h = B, T, H, n_h
        self.tok = max(1, chunk_size // n_h)
        self.C = self.tok * n_h
        self.N = max(1, -(-T // self.tok))
        self.Tp = self.N * self.tok

    def to_chunks(self, x: torch.Tensor, rows: int, dtype: torch.dtype) -> torch.Tensor:
        """``x [B, L, H, d]`` or ``[B, L, H]`` -> ``[N*B*H, rows/N, d]`` in ``dtype`` (zero-padded to ``rows``)."""
        B, H, N = self.B, self.H, self.N
        if x.dim() == 3:
            x = x.unsqueeze(-1)
        d = x.shape[-1]
        out = torch.zeros(N, B, H, rows // N, d, dtype=dtype, device=x.device) if rows != x.shape[1] else \
            torch.empty(N, B, H, rows // N, d, dtype=dtype, device=x.device)
        L = x.shape[1]
        full, rest = divmod(L, rows // N)
        view = out.permute(1, 0, 3, 2, 4)  # [B, N, rows/N, H, d]
        if full:
            view[:, :full].copy_(x[:, :full * (rows // N)].reshape(B, full, rows // N, H, d))
        if rest:
            view[:, full, :rest].copy_(x[:, full * (rows // N):])
        return out.reshape(N * B * H, rows // N, d)

    def chunk_group(self, x: torch.Tensor, n0: int, n1: int, per_token: int, dtype: torch.dtype,
                    fill: float = 0.0, channels_first: bool = False) -> torch.Tensor:
        """Chunks ``n0 .. n1-1`` of ``x [B, L, H, d]`` or ``[B, L, H]`` (``L = T * per_token`` rows) ->
        ``[(n1-n0)*B*H, tok*per_token, d]`` in ``dtype``, chunk-major, padded with ``fill`` past ``L``;
        ``[(n1-n0)*B*H, d, tok*per_token]`` with ``channels_first``."""
        B, H = self.B, self.H
        if x.dim() == 3:
            x = x.unsqueeze(-1)
        r = self.tok * per_token  # rows per chunk
        lo, hi = n0 * r, n1 * r
        part = x[:, lo:min(hi, x.shape[1])]
        d = x.shape[-1]
        if channels_first:
            out = torch.empty(n1 - n0, B, H, d, r, dtype=dtype, device=x.device)
            dst = out.permute(1, 0, 4, 2, 3)  # [B, n1-n0, r, H, d]
        else:
            out = torch.empty(n1 - n0, B, H, r, d, dtype=dtype, device=x.device)
            dst = out.permute(1, 0, 3, 2, 4)  # [B, n1-n0, r, H, d]
        full = part.shape[1] // r
        if full:
            dst[:, :full].copy_(part[:, :full * r].reshape(B, full, r, H, d))
        rest = part.shape[1] - full * r
        if full < n1 - n0:
            dst[:, full:].fill_(fill)
            if rest:
                dst[:, full, :rest].copy_(part[:, full * r:])
        return out.reshape(-1, d, r) if channels_first else out.reshape(-1, r, d)

    def start_states(self, step: int, K: int, V: int, dtype: torch.dtype, device: torch.device,
                     initial: "torch.Tensor | None") -> torch.Tensor:
        """The state buffer of a forward in groups of ``step`` chunks: ``S0 [min(step, N) + 1, B*H, K, V]`` where
        ``S0[i]`` is the state at the start of the group's chunk ``i`` and ``S0[m]`` the group's end state (copied to
        ``S0[0]`` for the next group); ``S0[0]`` is ``initial`` (any shape with ``B*H*K*V`` entries) or zero."""
        S0 = torch.empty(min(step, self.N) + 1, self.B * self.H, K, V, dtype=dtype, device=device)
        if initial is None:
            S0[0].zero_()
        else:
            S0[0].copy_(initial.reshape(self.B * self.H, K, V))
        return S0

    def put_group(self, out: torch.Tensor, x: torch.Tensor, n0: int, scale: float = 1.0) -> None:
        """Write ``scale * x`` (``x`` chunks ``n0 ..`` chunk-major ``[(n1-n0)*B*H, r, d]``, ``r`` rows per chunk) into
        ``out [B, L, H, d]`` at rows ``n0*r ..``; rows at or past ``L`` (the padded tail) are dropped. Inverse of
        :meth:`chunk_group` for one group, run while the group is still in cache."""
        B, H = self.B, self.H
        if out.numel() == 0:  # an empty batch or sequence
            return
        r, d = x.shape[-2], x.shape[-1]
        m = x.shape[0] // (B * H)
        src = x.view(m, B, H, r, d).permute(1, 0, 3, 2, 4)  # [B, m, r, H, d]
        lo = n0 * r
        hi = min(lo + m * r, out.shape[1])
        full = (hi - lo) // r
        if full:
            torch.mul(src[:, :full], scale, out=out[:, lo:lo + full * r].view(B, full, r, H, d))
        rest = hi - lo - full * r
        if rest:
            torch.mul(src[:, full, :rest], scale, out=out[:, lo + full * r:hi])

    def from_chunks(self, x: torch.Tensor, length: int, dtype: torch.dtype, squeeze: bool = False) -> torch.Tensor:
        """Inverse of :meth:`to_chunks`: ``[N*B*H, r, d]`` -> ``[B, length, H, d]`` (``[B, length, H]`` if squeeze)."""
        B, H, N = self.B, self.H, self.N
        r, d = x.shape[-2], x.shape[-1]
        y = x.reshape(N, B, H, r, d).permute(1, 0, 3, 2, 4).reshape(B, N * r, H, d)[:, :length]
        y = y.to(dtype) if y.dtype != dtype else y.contiguous()
        return y.squeeze(-1) if squeeze else y

    def read_mask(self, device: torch.device) -> torch.Tensor:
        """``[tok, C]`` bool: token t of a chunk reads rows ``j <= t*n_h + n_h - 1``."""
        last_row = torch.arange(self.tok, device=device) * self.n_h + (self.n_h - 1)
        return torch.arange(self.C, device=device)[None, :] <= last_row[:, None]
