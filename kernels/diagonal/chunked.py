"""Chunked diagonal scan that carries signs and exact zeros (resets) of the gates.

Same contract as :func:`statetrack.kernels.diagonal.reference.diagonal_scan_reference` (the truth it is tested
against). Why not the log-space gates of Mamba2 / GLA: they keep ``log a`` and form decays as
``exp(cumsum_t - cumsum_s)``; a negative ``a`` has no real logarithm and ``log 0 = -inf`` turns
``-inf - (-inf)`` into NaN, so a sign flip or a reset cannot be expressed.

Inside a chunk of ``C`` steps the decay from source step ``s`` to target ``t >= s`` is ``prod_{s < r <= t} a_r``
(per key channel). Two ways to get it:

* **factorised** (fast, the common case): the *signed* running product ``P_t = prod_{r <= t} a_r``, computed in
  float64 by ``cumprod`` (no logarithm, so the sign is exact), and ``decay(s -> t) = P_t / P_s``; the chunk's
  causal scores are one matmul ``(q * P) (k / P)^T``. Valid while ``P`` stays away from 0 and from overflow.
* **span products** (exact fallback, :func:`span_products`): ``prod_{i <= r < j} a_r`` for all ``(i, j)`` at once by
  one ``cumprod`` of a masked ``[C+1, C, K]`` tensor: no division at all, so a zero kills everything before it, and
  autograd's ``cumprod`` backward is exact at zeros too. Costs ``O(C K)`` per step.

A chunk takes the fallback when some gate has ``|a| < 1e-6`` (an exact zero, or a gate so small that the
factorised gradient would suffer: ``d(P_t / P_s) / d a_r`` for ``r <= s`` is a difference of two terms of size
``|P_t / P_s| / |a_r|`` that cancel, so float64 rounding is amplified by ``1 / |a_r|``) or when its running product
leaves ``[1e-150, 1e150]`` (overflow of ``1 / P^2`` in the backward, or gates above 1 in magnitude); its gates are replaced by 1 in
the factorised pass so no inf or NaN reaches autograd. With ``S0`` the state at the chunk start:

    o_t   = scale * ( sum_{s <= t} (q_t . (k_s * decay(s -> t))) v_s + (q_t * decay(start -> t))^T S0 )
    S_end = decay(whole chunk) * S0 + sum_s (k_s * decay(s -> end)) v_s^T

All chunks are processed at once except ``S <- g * S + D``, one elementwise step per chunk. The tail is padded with
``a = 1, k = 0`` steps and zero queries whose outputs are dropped.
"""
from __future__ import annotations

import torch

from ..chunk_layout import ChunkLayout, grad_wanted
from ..householder.reference import KernelInputError, accumulation_dtype, check_scale, no_autocast
from .reference import check_diagonal_inputs

DEFAULT_CHUNK_SIZE = 64
# range of |running product| where the float64 factorisation is used: the backward of ``k / P`` divides by
# ``P^2``, so ``P`` must stay within 1e+-150 for ``1 / P^2`` not to overflow float64 (NaN gradients otherwise)
_SAFE_MIN, _SAFE_MAX = 1e-150, 1e150
_GATE_MIN = 1e-6  # smallest |gate| the factorised path takes (its gradient error grows like eps64 / |a|)
GROUP_BYTES = 1 << 20  # bytes of a group's [chunks * B * H, C, K] float64 tensor in the no-gradient forward
# the float32 no-gradient forward: its chunk (shorter chunks keep the running products in float32's range; measured
# at B=4, H=4, T=4096, K=V=64 with gates tanh(N(0, 1)): 32 fastest) and the range of |running product| where its
# factorised scores are formed in float32 (with the sizes of the chunk's queries and keys: q * P and k / P stay
# normal float32 numbers); chunks outside it form their scores in float64, chunks outside [_SAFE_MIN, _SAFE_MAX]
# take the span products
NO_GRAD_CHUNK_SIZE = 32
_F32_MIN, _F32_MAX = 1e-30, 1e30


def span_products(x: torch.Tensor) -> torch.Tensor:
    """``x [..., n, K]`` -> ``R [..., n+1, n+1, K]`` with ``R[i, j] = prod_{i <= r < j} x_r`` (1 when ``j <= i``).

    Plain products (one masked ``cumprod``): signs and zeros are exact, gradients too.
    """
    n = x.shape[-2]
    r = torch.arange(n, device=x.device)
    active = r[None, :] >= torch.arange(n + 1, device=x.device)[:, None]  # [n+1 (i), n (r)]: r >= i
    masked = torch.where(active[:, :, None], x.unsqueeze(-3), torch.ones((), dtype=x.dtype, device=x.device))
    inclusive = torch.cumprod(masked, dim=-2)  # [..., n+1, n, K]: prod_{i <= r <= t}
    ones = torch.ones_like(inclusive[..., :1, :])
    return torch.cat([ones, inclusive], dim=-2)  # column j = t + 1


def _chunk_terms_factorised(q: torch.Tensor, k: torch.Tensor, P: torch.Tensor):
    """Per chunk (float64, any leading dims; q, k and the running products ``P = cumprod(a)`` [..., C, K]): causal
    scores [..., C(t), C(s)], decay start->t [..., C, K], decay s->end [..., C, K], whole-chunk decay [..., K].
    Needs running products away from 0 and overflow."""
    C = P.shape[-2]
    tri = torch.tril(torch.ones(C, C, dtype=torch.bool, device=P.device))
    scores = ((q * P) @ (k / P).transpose(-1, -2)) * tri
    g = P[..., -1, :]
    return scores, P, g.unsqueeze(-2) / P, g


def _chunk_terms_span(q: torch.Tensor, k: torch.Tensor, a: torch.Tensor):
    """Same outputs as :func:`_chunk_terms_factorised` from span products: exact with zeros, any magnitude."""
    C = a.shape[-2]
    R = span_products(a)  # [..., C+1, C+1, K]
    tri = torch.tril(torch.ones(C, C, dtype=torch.bool, device=a.device))
    # scores[t, s] = sum_k q_tk k_sk R[s+1, t+1, k]
    scores = ((R[..., 1:, 1:, :] * q.unsqueeze(-3)) @ k.unsqueeze(-1)).squeeze(-1).transpose(-1, -2) * tri
    return scores, R[..., 0, 1:, :], R[..., 1:, C, :], R[..., 0, C, :]


@no_autocast
def diagonal_scan_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    a: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Chunked scan: q, k, a [B, T, H, K], v [B, T, H, V]; ``chunk_size`` steps per chunk (``None``:
    :data:`NO_GRAD_CHUNK_SIZE` for the float32 forward without gradients, else :data:`DEFAULT_CHUNK_SIZE`).

    Returns ``(o [B, T, H, V] in q.dtype, final_state [B, H, K, V] in the accumulation dtype or None)``.
    The running products are formed in float64 whatever the input dtype; the float32 forward without gradients rounds
    them once to float32 for the scores of chunks where they, the queries and the keys stay in range (otherwise
    float64 scores). Gates are meant to lie in ``[-1, 1]``: outside it a running product may overflow float32 where
    the sequential loop's states do not (use the reference backend for such gates).
    """
    where = "diagonal_scan_chunked"
    B, T, H, K, V = check_diagonal_inputs(q, k, v, a, initial_state, where)
    scale = check_scale(scale, K, where)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise KernelInputError(f"{where}: chunk_size must be a positive int, got {chunk_size!r}")
    acc = accumulation_dtype(q, k, v, a, initial_state)
    if acc == torch.float32 and not grad_wanted(q, k, v, a, initial_state):
        o, S = _forward_float32_no_grad(q, k, v, a, scale, initial_state,
                                        NO_GRAD_CHUNK_SIZE if chunk_size is None else chunk_size)
        return o, (S if output_final_state else None)
    chunk_size = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    dev = q.device
    C = chunk_size
    N = max(1, -(-T // C))
    pad = N * C - T

    def prep(x: torch.Tensor, dtype: torch.dtype, value: float = 0.0) -> torch.Tensor:
        x = x.to(dtype).transpose(1, 2)  # [B, H, T, .]
        if pad:
            x = torch.nn.functional.pad(x, (0, 0, 0, pad), value=value)
        return x.reshape(B * H * N, C, x.shape[-1])

    f64 = torch.float64
    q64, k64 = prep(q, f64), prep(k, f64)
    a64 = prep(a, f64, 1.0)  # padded steps keep the state
    vc = prep(v, acc)

    P = torch.cumprod(a64, dim=-2)  # running products per chunk (signed; no logarithm)
    with torch.no_grad():
        absP = P.abs().flatten(-2)
        run_lo, run_hi = absP.amin(-1), absP.amax(-1)  # (aminmax is several times slower on CPU)
        del absP
        gate_lo = a64.abs().flatten(-2).amin(dim=-1)
        unsafe = (gate_lo < _GATE_MIN) | (run_lo < _SAFE_MIN) | (run_hi > _SAFE_MAX)  # [B*H*N]
    idx = unsafe.nonzero().squeeze(-1)
    if len(idx):  # gates of unsafe chunks -> 1 in the factorised pass, so no inf or NaN reaches autograd
        P = torch.cumprod(torch.where(unsafe[:, None, None], torch.ones((), dtype=f64, device=dev), a64), dim=-2)
    terms = _chunk_terms_factorised(q64, k64, P)
    if len(idx):  # exact fallback for chunks with zeros or extreme gates
        exact = _chunk_terms_span(q64[idx], k64[idx], a64[idx])
        terms = tuple(t.index_put((idx,), e) for t, e in zip(terms, exact))
    scores, dec_in, dec_out, g = (t.to(acc) for t in terms)
    qc, kc = q64.to(acc), k64.to(acc)

    o_intra = (scores @ vc).reshape(B, H, N, C, V)
    q_dec = (qc * dec_in).reshape(B, H, N, C, K)  # queries decayed from the chunk start
    D = ((kc * dec_out).transpose(-1, -2) @ vc).reshape(B, H, N, K, V)  # what the chunk writes from zero
    g = g.reshape(B, H, N, K, 1)

    S = torch.zeros(B, H, K, V, dtype=acc, device=dev)
    if initial_state is not None:
        S = S + initial_state.to(acc)
    starts = []
    for g_n, D_n in zip(g.unbind(2), D.unbind(2)):  # unbind keeps the backward linear in N
        starts.append(S)
        S = torch.addcmul(D_n, g_n, S)
    S0 = torch.stack(starts, dim=2)  # [B, H, N, K, V]

    o = (o_intra + q_dec @ S0) * scale
    o = o.reshape(B, H, N * C, V)[:, :, :T].transpose(1, 2).to(q.dtype)
    return o, (S if output_final_state else None)


def _forward_float32_no_grad(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, scale: float,
                             initial_state: torch.Tensor | None, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The float32 forward when no gradient is wanted (inference, evaluation): same outputs as the autograd path up to
    float32 rounding, at a fraction of its memory traffic.

    Groups of consecutive chunks sized to stay in cache (:data:`GROUP_BYTES`), chunk-major (the state loop steps
    over contiguous ``[B*H, K, V]`` slices). The running products ``P`` in float64 as in the autograd path (the same
    safe range; chunks outside it take the span products; no threshold on small gates, which protects only
    gradients), rounded once to float32; the factorised scores ``(q_t P_t)(k_s / P_s)`` in float32 for chunks whose
    ``|P|`` stays in ``[_F32_MIN, _F32_MAX]`` (each term then carries a few float32 roundings, as any float32 product),
    in float64 for the others; everything after them in float32. Returns
    ``(o [B, T, H, V] in q.dtype, final state [B, H, K, V] float32)``.
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    lay = ChunkLayout(B, T, H, 1, chunk_size)
    N, C, BH = lay.N, lay.C, B * H
    f32, f64, dev = torch.float32, torch.float64, q.device
    step = max(1, GROUP_BYTES // (max(BH, 1) * C * K * 8))  # (BH = 0: an empty batch)
    S0 = lay.start_states(step, K, V, f32, dev, initial_state)  # S0[i]: the state at the start of the group's chunk i
    o = torch.empty(B, T, H, V, dtype=q.dtype, device=dev)
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        m = n1 - n0
        if n0:
            S0[0].copy_(S0[step])
        qc, kc, vc = (lay.chunk_group(x, n0, n1, 1, f32) for x in (q, k, v))  # [m*BH, C, .]
        # gates channel-major [m*BH, K, C]: the running products are a cumprod along the contiguous last dim
        aT = lay.chunk_group(a, n0, n1, 1, f64, fill=1.0, channels_first=True)  # padded steps keep the state
        PT = torch.cumprod(aT, dim=-1)  # signed running products P_t, float64
        PT32 = PT.to(f32)
        absP = PT32.abs().flatten(-2)
        lo, hi = absP.amin(-1), absP.amax(-1)
        # float32 factors q_t P_t and k_s / P_s stay normal numbers far from overflow only if the queries and keys'
        # own sizes allow it too: |k| / min|P| <= _F32_MAX, and queries not so small that q_t P_t becomes subnormal
        # (all-zero queries are exact); other chunks form their scores in float64
        qf, kf = qc.flatten(-2), kc.flatten(-2)
        qmax = torch.maximum(qf.amax(-1), qf.amin(-1).neg_())  # max |q| per chunk (no |q| temporary)
        kmax = torch.maximum(kf.amax(-1), kf.amin(-1).neg_())
        far = ((lo < _F32_MIN) | (hi > _F32_MAX) | (kmax > _F32_MAX * lo) | (qmax > _F32_MAX)
               | ((qmax > 0) & (qmax * lo < _F32_MIN))).nonzero().squeeze(-1)  # (rare)
        idx = idx64 = far
        if len(far):
            absP = PT[far].abs().flatten(-2)
            unsafe = (absP.amin(-1) < _SAFE_MIN) | (absP.amax(-1) > _SAFE_MAX)
            idx, idx64 = far[unsafe], far[~unsafe]  # span products / float64 scores
        P32 = PT32.transpose(-1, -2).contiguous()  # [m*BH, C, K]
        g = P32[:, -1].clone()  # [m*BH, K] whole-chunk decay
        qd = qc * P32  # q_t * decay(start -> t)
        if len(far):
            P32[far] = 1.0
        kp = kc / P32  # k_s / P_s
        kd = kp * g.unsqueeze(-2)  # k_s * decay(s -> end)
        if len(idx64):  # outside float32's range: these chunks' terms in float64
            P64 = PT[idx64].transpose(-1, -2)
            kp64 = kc[idx64].double() / P64
            kp[idx64] = kp64.to(f32)
            kd[idx64] = (kp64 * P64[:, -1:]).to(f32)
        scores = torch.bmm(qd, kp.transpose(-1, -2))  # (q_t P_t) . (k_s / P_s): the decayed scores [t, s]
        if len(idx64):
            scores[idx64] = ((qc[idx64].double() * P64) @ kp64.transpose(-1, -2)).to(f32)
        if len(idx):  # exact span products for chunks with zeros or extreme gates
            s_, d_in, d_out, g_ = _chunk_terms_span(qc[idx].double(), kc[idx].double(), aT[idx].transpose(-1, -2))
            scores[idx] = s_.to(f32)
            qd[idx] = qc[idx] * d_in.to(f32)
            kd[idx] = kc[idx] * d_out.to(f32)
            g[idx] = g_.to(f32)
        scores.tril_()
        D = torch.bmm(kd.transpose(-1, -2), vc).view(m, BH, K, V)  # what each chunk writes from zero
        gn = g.view(m, BH, K, 1)
        for i in range(m):
            torch.addcmul(D[i], gn[i], S0[i], out=S0[i + 1])
        lay.put_group(o, torch.bmm(qd, S0[:m].view(-1, K, V)).baddbmm_(scores, vc), n0, scale)
    return o, S0[m].clone().view(B, H, K, V)
