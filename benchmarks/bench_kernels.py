"""CPU benchmark of the scans against the machine's matmul throughput, the reference loop and fla's torch references.

Run by hand (not a test):

    python benchmarks/bench_kernels.py --markdown results.md            # the full report, ~10 minutes on 2 cores
    python benchmarks/bench_kernels.py --quick                          # T = 1024, fewer repetitions
    python benchmarks/bench_kernels.py --sections throughput,memory     # some sections only

Sections (one run prints them all by default):

* ``matmul``: measured float32 throughput of ``torch.mm`` at a large square size and of ``torch.bmm`` at the chunk's
  shapes (``[B*H*chunks, 64, 64] @ [.., 64, 64]`` and friends). The chunk-shape figure is the ceiling the chunked
  scans are compared with ("fraction of matmul").
* ``throughput``: B=4, H=4, T=4096, K=V=64, float32 (``--batch/--heads/--length``), for the Householder scan with
  ``n_h`` in {1, 2} and the diagonal scan: forward and forward+backward times, achieved GFLOP/s from the counted
  FLOPs of the chunked algorithm (formulas in ``kernels/README.md``, :func:`householder_flops`,
  :func:`diagonal_flops`), the fraction of the measured matmul throughput, the speedup over the sequential reference
  and over fla-core's torch references on the same inputs: ``naive_recurrent_gated_delta_product`` (the recurrent
  form, ``g = None``) and ``delta_rule_chunkwise`` (fla's chunked delta-rule in torch; for ``n_h > 1`` run on the
  interleaved sequence of ``T * n_h`` factor rows with queries only on each token's last row, which is how fla
  reduces DeltaProduct to the delta rule, and the outputs of those rows taken). The recurrent forms are timed on a
  prefix of ``--prefix`` tokens and scaled linearly: ``~`` for the forward (linear in T), ``>=`` (a lower bound) for
  forward+backward, whose autograd cost grows faster than linearly.
* ``memory``: peak resident memory of forward+backward, each configuration in a fresh subprocess
  (peak resident set size during the call minus the size before it, inputs built), at T in {4096, 8192, 16384}: the
  increase per token shows whether memory is linear in T.
* ``oracle``: max differences of the chunked outputs against fla's naive references (float32).

Times are medians of ``--reps`` repetitions of the process CPU time (all threads of this process; robust when
other jobs share the machine) after one warm-up call (none for the slow references); one torch thread by default.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from typing import Callable

import torch

from statetrack.kernels import diagonal_scan, householder_scan
from statetrack.kernels.diagonal import chunked as diagonal_chunked
from statetrack.kernels.householder import chunked as householder_chunked

CHUNK = householder_chunked.DEFAULT_CHUNK_SIZE  # the chunked scans' chunk (factor rows) when a gradient is wanted
FWD_CHUNK = householder_chunked.NO_GRAD_CHUNK_SIZE  # and without one (the forward rows of the tables)


# --- FLOP counts (multiply-adds count 2; elementwise work is not counted) ----------------------------------------

def householder_flops(B: int, H: int, T: int, n_h: int, K: int, V: int, C: int = CHUNK,
                      C_fwd: int = FWD_CHUNK) -> tuple[float, float, float]:
    """Counted FLOPs (forward without gradient, forward with gradient, backward) of the chunked Householder scan as
    implemented (kernels/README.md 1.6).

    Per chunk of ``C`` factor rows and ``t = C / n_h`` tokens, per (batch, head): the forward without a gradient
    (chunk ``C_fwd``) ``2C^2K`` (Gram) + ``C(C-1)V`` (triangular solve for U) + ``4CKV`` (state passing) +
    ``2tC(K+V) + 2tKV`` (outputs); the forward with a gradient (chunk ``C``) the same with ``C(C-1)(K+V)`` for the
    solve of ``[W | U~]``; backward ``2CKV`` (U again) + ``2tCK`` (scores again) + ``4tCV + 4tCK + 4tKV`` (output
    gradients) + ``8CKV`` (reverse state passing and its batched products) + ``C(C-1)(K+V)`` (transposed solve) +
    ``2C^2(K+V)`` (dA) + ``4C^2K`` (Gram gradient).
    """
    def common(C: int) -> tuple[int, int, int, int]:
        tok = max(1, C // n_h)
        C = tok * n_h
        chunks = B * H * -(-T // tok)
        return tok, C, chunks, 2 * C * C * K + 4 * C * K * V + 2 * tok * C * (K + V) + 2 * tok * K * V

    tok, C1, chunks, rest = common(C_fwd)
    fwd_nograd = chunks * (rest + C1 * (C1 - 1) * V)
    tok, C, chunks, rest = common(C)
    fwd = rest + C * (C - 1) * (K + V)
    bwd = (2 * C * K * V + 2 * tok * C * K + 4 * tok * C * V + 4 * tok * C * K + 4 * tok * K * V + 8 * C * K * V
           + C * (C - 1) * (K + V) + 2 * C * C * (K + V) + 4 * C * C * K)
    return float(fwd_nograd), float(chunks * fwd), float(chunks * bwd)


def diagonal_flops(B: int, H: int, T: int, K: int, V: int, C: int = CHUNK,
                   C_fwd: int = FWD_CHUNK) -> tuple[float, float, float]:
    """Counted FLOPs (forward without gradient, forward with gradient, backward) of the chunked diagonal scan
    (kernels/README.md 2.1).

    Per chunk of ``C`` steps, per (batch, head): forward ``2C^2K`` (scores) + ``2C^2V`` (intra-chunk outputs) +
    ``2CKV`` (what the chunk writes) + ``2CKV`` (outputs from the start state), at chunk ``C_fwd`` without a gradient
    and ``C`` with one; the backward is autograd's, two products of the same size per product: twice the forward.
    """
    def fwd(C: int) -> int:
        return B * H * -(-T // C) * (2 * C * C * K + 2 * C * C * V + 4 * C * K * V)

    return float(fwd(C_fwd)), float(fwd(C)), float(2 * fwd(C))


# --- timing ------------------------------------------------------------------------------------------------------

class Timing(tuple):
    """(cpu seconds, wall seconds): medians over the repetitions."""

    def __new__(cls, cpu: float, wall: float):
        return super().__new__(cls, (cpu, wall))

    cpu = property(lambda self: self[0])
    wall = property(lambda self: self[1])

    def __mul__(self, f: float) -> "Timing":
        return Timing(self.cpu * f, self.wall * f)


def timed(fn: Callable[[], object], reps: int, warmup: bool = True) -> Timing:
    """Medians of process CPU time and wall time of ``reps`` calls (after one untimed warm-up call if asked)."""
    if warmup:
        fn()
    cpu, wall = [], []
    for _ in range(max(1, reps)):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return Timing(statistics.median(cpu), statistics.median(wall))


def matmul_throughput(shape_a: tuple[int, ...], shape_b: tuple[int, ...], reps: int) -> float:
    """GFLOP/s (process CPU time) of ``a @ b`` in float32 (``torch.mm`` for 2-D, ``torch.bmm`` for 3-D)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(shape_a, generator=g), torch.randn(shape_b, generator=g)
    flops = 2.0 * a.shape[-2] * a.shape[-1] * b.shape[-1] * (a.shape[0] if a.dim() == 3 else 1)
    t = timed(lambda: a @ b, reps)
    return flops / t.cpu / 1e9


# --- inputs and the functions timed --------------------------------------------------------------------------------

def householder_inputs(B, T, H, K, V, n_h, seed=0):
    """q, k (unit), v, beta (uniform in [0, 2]) in the kernel layout, float32."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, K, generator=g)
    k = torch.nn.functional.normalize(torch.randn(B, T * n_h, H, K, generator=g), dim=-1)
    v = torch.randn(B, T * n_h, H, V, generator=g)
    beta = 2 * torch.rand(B, T * n_h, H, generator=g)
    return q, k, v, beta


def diagonal_inputs(B, T, H, K, V, seed=1):
    """q, k, v, gates tanh(N(0, 1)) in (-1, 1), float32."""
    g = torch.Generator().manual_seed(seed)
    q, k, a = (torch.randn(B, T, H, K, generator=g) for _ in range(3))
    return q, k, torch.randn(B, T, H, V, generator=g), torch.tanh(a)


def _fla():
    """fla-core's torch references, or the reason they are unavailable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fla.ops.delta_rule.naive import delta_rule_chunkwise
            from fla.ops.gated_delta_product.naive import naive_recurrent_gated_delta_product
            import fla
    except Exception as exc:  # not installed, or not importable here
        return None, f"{type(exc).__name__}: {exc}"
    return (naive_recurrent_gated_delta_product, delta_rule_chunkwise, getattr(fla, "__version__", "?")), None


def householder_step(kind: str, xs, n_h: int, backward: bool, fla=None) -> Callable[[], None]:
    """One call of a Householder-scan implementation (``chunked``, ``reference``, ``fla-recurrent``,
    ``fla-chunkwise``) on the inputs ``xs`` [B, T, H, .], with ``sum(o * w)`` backward to q, k, v, beta if asked."""
    q, k, v, beta = (x.detach().requires_grad_(backward) for x in xs)
    B, T, H, K = q.shape
    w = torch.randn(B, T, H, v.shape[-1], generator=torch.Generator().manual_seed(7))

    if kind in ("chunked", "reference"):
        def fwd():
            return householder_scan(q, k, v, beta, num_householder=n_h, backend=kind)[0]
    elif kind == "fla-recurrent":
        def fwd():
            return fla[0](q, k, v, None, beta, K ** -0.5, num_householder=n_h)[0]
    elif kind == "fla-chunkwise":
        rows = T * n_h
        if rows % CHUNK:
            raise ValueError(f"fla's delta_rule_chunkwise needs T * n_h divisible by {CHUNK}")

        def fwd():
            # interleaved sequence: queries only on the last factor row of each token (fla's DeltaProduct reduction)
            qi = torch.zeros(B, T, n_h, H, K, dtype=q.dtype)
            qi = torch.cat([qi[:, :, :-1], q.unsqueeze(2)], dim=2).reshape(B, rows, H, K)
            tr = (lambda x: x.transpose(1, 2))
            o = fla[1](tr(qi), tr(k), tr(v), beta.transpose(1, 2), chunk_size=CHUNK)[0]
            return o.transpose(1, 2)[:, n_h - 1::n_h]
    else:
        raise ValueError(kind)

    def step():
        o = fwd()
        if backward:
            torch.autograd.grad((o * w).sum(), (q, k, v, beta))

    return step


def diagonal_step(kind: str, xs, backward: bool) -> Callable[[], None]:
    q, k, v, a = (x.detach().requires_grad_(backward) for x in xs)
    w = torch.randn(v.shape, generator=torch.Generator().manual_seed(7))

    def step():
        o = diagonal_scan(q, k, v, a, backend=kind)[0]
        if backward:
            torch.autograd.grad((o * w).sum(), (q, k, v, a))

    return step


def prefix_timed(make_step: Callable[[int], Callable[[], None]], T: int, prefix: int, reps: int):
    """(Timing, estimated?) of a form linear in T: in full when T <= prefix, else on ``prefix`` tokens, scaled."""
    if T <= prefix:
        return timed(make_step(T), reps, warmup=False), False
    return timed(make_step(prefix), reps, warmup=False) * (T / prefix), True


# --- sections -----------------------------------------------------------------------------------------------------

def section_matmul(args, lines: list[str]) -> dict[str, float]:
    B, H, T, K, V = args.batch, args.heads, args.length, 64, 64
    n = B * H * -(-T // CHUNK)
    rows = [
        ("torch.mm 2048 x 2048 x 2048", (2048, 2048), (2048, 2048)),
        (f"torch.bmm [{n}] 64x64 @ 64x64 (Gram, scores, state products)", (n, CHUNK, K), (n, K, CHUNK)),
        (f"torch.bmm [{n}] 64x64 @ 64x128 (solve-sized right-hand side)", (n, CHUNK, CHUNK), (n, CHUNK, K + V)),
        (f"torch.bmm [{B * H}] 64x64 @ 64x64 (one step of the state loop)", (B * H, CHUNK, K), (B * H, K, V)),
        (f"torch.bmm [{B * H}] {FWD_CHUNK}x64 @ 64x64 (one step of the no-gradient forward's state loop)",
         (B * H, FWD_CHUNK, K), (B * H, K, V)),
    ]
    lines += ["### Matmul throughput (float32, GFLOP/s of process CPU time)", "",
              "| operation | GFLOP/s |", "|---|---|"]
    out = {}
    for name, sa, sb in rows:
        gf = matmul_throughput(sa, sb, args.reps)
        out[name] = gf
        lines.append(f"| {name} | {gf:.1f} |")
        print(lines[-1], flush=True)
    lines.append("")
    ceiling = out[rows[1][0]]
    lines.append(f"Ceiling used below (\"fraction of matmul\"): the chunk-shape bmm, {ceiling:.1f} GFLOP/s; the large "
                 f"square mm reaches {out[rows[0][0]]:.1f}.")
    lines.append("")
    return {"chunk": ceiling, "square": out[rows[0][0]]}


def _fmt_t(t: Timing, mark: str = "") -> str:
    return f"{mark}{t.cpu * 1e3:.0f}"


def _fmt_x(slow: Timing | None, fast: Timing, mark: str = "") -> str:
    if slow is None:
        return "-"
    return f"{mark}{slow.cpu / fast.cpu:.1f}x"


def _mark(estimated: bool, backward: bool) -> str:
    """``~`` for a prefix-scaled forward (linear in T); ``>=`` for a prefix-scaled forward+backward: autograd through
    the recurrent forms' per-step indexing (``k[:, i]``) materialises a full-size gradient per step, so their backward
    grows faster than linearly in T and the scaled time is a lower bound."""
    if not estimated:
        return ""
    return ">=" if backward else "~"


def section_throughput(args, lines: list[str], ceiling: dict[str, float]) -> None:
    B, H, T, K, V = args.batch, args.heads, args.length, 64, 64
    fla, why = _fla()
    lines += [f"### Throughput: B={B}, H={H}, T={T}, K=V=64, float32 (times: median ms of process CPU time)", ""]
    if fla is None:
        lines += [f"fla-core torch references unavailable ({why}): their columns are empty.", ""]
    else:
        lines += [f"fla-core {fla[2]}: `naive_recurrent_gated_delta_product` (recurrent) and `delta_rule_chunkwise` "
                  f"(chunked, chunk {CHUNK}; interleaved rows for n_h > 1).", ""]
    lines += ["| scan | pass | chunked ms | GFLOP/s | of chunk mm | of square mm | reference ms | x reference | "
              "fla recurrent ms | x fla recurrent | fla chunked ms | x fla chunked |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n_h in args.n_h:
        xs = householder_inputs(B, T, H, K, V, n_h)
        f_inf, f_fwd, f_bwd = householder_flops(B, H, T, n_h, K, V)
        for backward in (False, True):
            flops = f_fwd + f_bwd if backward else f_inf
            ch = timed(householder_step("chunked", xs, n_h, backward), args.reps)

            def make(kind):
                return lambda t: householder_step(kind, tuple(x[:, :t * (1 if i == 0 else n_h)]
                                                              for i, x in enumerate(xs)), n_h, backward, fla)

            ref, ref_est = prefix_timed(make("reference"), T, args.prefix, args.ref_reps)
            fr = fc = None
            fr_est = False
            if fla is not None:
                fr, fr_est = prefix_timed(make("fla-recurrent"), T, args.prefix, args.ref_reps)
                fc = timed(householder_step("fla-chunkwise", xs, n_h, backward, fla), args.ref_reps, warmup=False)
            gf = flops / ch.cpu / 1e9
            rm, fm = _mark(ref_est, backward), _mark(fr_est, backward)
            row = (f"| householder n_h={n_h} | {'fwd+bwd' if backward else 'fwd'} | {_fmt_t(ch)} | {gf:.1f} | "
                   f"{100 * gf / ceiling['chunk']:.0f}% | {100 * gf / ceiling['square']:.0f}% | "
                   f"{_fmt_t(ref, rm)} | {_fmt_x(ref, ch, rm)} | "
                   f"{'-' if fr is None else _fmt_t(fr, fm)} | {_fmt_x(fr, ch, fm)} | "
                   f"{'-' if fc is None else _fmt_t(fc)} | {_fmt_x(fc, ch)} |")
            lines.append(row)
            print(row, flush=True)
    xs = diagonal_inputs(B, T, H, K, V)
    f_inf, f_fwd, f_bwd = diagonal_flops(B, H, T, K, V, diagonal_chunked.DEFAULT_CHUNK_SIZE,
                                         diagonal_chunked.NO_GRAD_CHUNK_SIZE)
    for backward in (False, True):
        flops = f_fwd + f_bwd if backward else f_inf
        ch = timed(diagonal_step("chunked", xs, backward), args.reps)
        ref, ref_est = prefix_timed(lambda t: diagonal_step("reference", tuple(x[:, :t] for x in xs), backward),
                                    T, args.prefix, args.ref_reps)
        gf = flops / ch.cpu / 1e9
        rm = _mark(ref_est, backward)
        row = (f"| diagonal | {'fwd+bwd' if backward else 'fwd'} | {_fmt_t(ch)} | {gf:.1f} | "
               f"{100 * gf / ceiling['chunk']:.0f}% | {100 * gf / ceiling['square']:.0f}% | {_fmt_t(ref, rm)} | "
               f"{_fmt_x(ref, ch, rm)} | - | - | - | - |")
        lines.append(row)
        print(row, flush=True)
    lines += ["", f"`~`: timed on the first {args.prefix} tokens and scaled linearly in T (forward: linear). `>=`: the "
              "same for forward+backward, a lower bound (the recurrent forms' autograd backward grows faster than "
              "linearly in T), so the speedup is a lower bound too.", ""]


def _peak_rss(reset: bool = False) -> int:
    """Peak resident set size of this process in bytes (``VmHWM``; with ``reset``, first set to the current size).

    Linux's ``/proc/self/status`` is used because ``getrusage``'s ``ru_maxrss`` survives ``execve``: a child started
    by a large parent would report the parent's peak. Elsewhere ``ru_maxrss`` is the fallback.
    """
    try:
        if reset:
            with open("/proc/self/clear_refs", "w") as f:  # "5": reset the peak RSS to the current RSS
                f.write("5")
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def memory_child(spec: str) -> None:
    """Subprocess body: ``kind,B,H,T,n_h`` -> prints a JSON line with the peak RSS increase of forward+backward."""
    kind, B, H, T, n_h = spec.split(",")
    B, H, T, n_h = int(B), int(H), int(T), int(n_h)
    if kind == "diagonal":
        step = diagonal_step("chunked", diagonal_inputs(B, 64, H, 64, 64), True)
        step()  # warm-up at a tiny size (allocator and library initialisation)
        step = diagonal_step("chunked", diagonal_inputs(B, T, H, 64, 64), True)
    else:
        step = householder_step(kind, householder_inputs(B, 64, H, 64, 64, n_h), n_h, True)
        step()
        step = householder_step(kind, householder_inputs(B, T, H, 64, 64, n_h), n_h, True)
    before = _peak_rss(reset=True)
    step()
    print(json.dumps({"peak_bytes": _peak_rss() - before}))


def section_memory(args, lines: list[str]) -> None:
    B, H = args.batch, args.heads
    lengths = (4096, 8192, 16384)
    configs = [("chunked", n_h) for n_h in args.n_h] + [("diagonal", 1)]
    lines += [f"### Peak memory of forward+backward (B={B}, H={H}, K=V=64, float32; MiB above the inputs)", "",
              "Each cell: a fresh process, peak resident set size during one forward+backward minus the size before "
              "it (inputs already built; the gradients returned count in the increase).", "",
              "| scan | " + " | ".join(f"T={t}" for t in lengths) + " | KiB per token (8192 -> 16384) |",
              "|---|" + "---|" * (len(lengths) + 1)]
    for kind, n_h in configs:
        cells = []
        for T in lengths:
            env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
            res = subprocess.run([sys.executable, __file__, "--memory-child", f"{kind},{B},{H},{T},{n_h}"],
                                 capture_output=True, text=True, env=env, check=True)
            cells.append(json.loads(res.stdout.strip().splitlines()[-1])["peak_bytes"])
        per_tok = (cells[-1] - cells[-2]) / (lengths[-1] - lengths[-2]) / 1024
        name = "diagonal" if kind == "diagonal" else f"householder n_h={n_h}"
        row = f"| {name} | " + " | ".join(f"{c / 2 ** 20:.0f}" for c in cells) + f" | {per_tok:.1f} |"
        lines.append(row)
        print(row, flush=True)
    lines.append("")


def section_oracle(lines: list[str]) -> None:
    """Max differences of the chunked scan against fla's naive references (float32, random initial state)."""
    fla, why = _fla()
    if fla is None:
        lines += [f"fla-core naive references unavailable ({why}); oracle skipped.", ""]
        return
    B, T, H, K, V = 2, 300, 2, 64, 64
    lines += [f"### External oracle: fla-core {fla[2]} `naive_recurrent_gated_delta_product`, float32, "
              f"B={B}, T={T}, H={H}, K=V=64, beta in [0, 2], random initial state", "",
              "| n_h | max abs diff chunked vs fla (output, state) | reference vs fla | max abs output |",
              "|---|---|---|---|"]
    for n_h in (1, 2, 4):
        q, k, v, beta = householder_inputs(B, T, H, K, V, n_h, seed=n_h)
        h0 = torch.randn(B, H, K, V, generator=torch.Generator().manual_seed(n_h))
        o_c, s_c = householder_scan(q, k, v, beta, num_householder=n_h, initial_state=h0, output_final_state=True,
                                    backend="chunked")
        o_r, _ = householder_scan(q, k, v, beta, num_householder=n_h, initial_state=h0, backend="reference")
        o_f, s_f = fla[0](q, k, v, None, beta, K ** -0.5, initial_state=h0.clone(), output_final_state=True,
                          num_householder=n_h)
        lines.append(f"| {n_h} | {(o_c - o_f).abs().max().item():.2e}, {(s_c - s_f).abs().max().item():.2e} | "
                     f"{(o_r - o_f).abs().max().item():.2e} | {o_f.abs().max().item():.1f} |")
    lines.append("")


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="matmul,throughput,memory,oracle",
                    help="comma-separated subset of matmul,throughput,memory,oracle")
    ap.add_argument("--quick", action="store_true", help="T = 1024 and 2 repetitions (a smoke run)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--length", type=int, default=4096, help="T of the throughput table")
    ap.add_argument("--n-h", default="1,2", help="comma-separated n_h values of the Householder scan")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of the chunked scans (median)")
    ap.add_argument("--ref-reps", type=int, default=1, help="timed repetitions of the references")
    ap.add_argument("--prefix", type=int, default=512,
                    help="recurrent forms are timed on this many tokens and scaled linearly in T")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: with more, idle OpenMP threads spin and inflate the "
                         "process CPU time on a shared machine)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the report to FILE (markdown)")
    ap.add_argument("--memory-child", metavar="SPEC", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child)
        return
    args.n_h = tuple(int(n) for n in args.n_h.split(","))
    if args.quick:
        args.length, args.reps = 1024, 2
    sections = set(args.sections.split(","))
    lines = [f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch "
             f"threads, torch {torch.__version__}; load average at start {_load_average()}.", ""]
    ceiling = None
    if "matmul" in sections or "throughput" in sections:
        ceiling = section_matmul(args, lines)
    if "throughput" in sections:
        section_throughput(args, lines, ceiling)
    if "memory" in sections:
        section_memory(args, lines)
    if "oracle" in sections:
        section_oracle(lines)
    lines.append(f"Load average at the end: {_load_average()}.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        from statetrack.fileio import atomic_write_text

        atomic_write_text(args.markdown, text)


if __name__ == "__main__":
    main()
