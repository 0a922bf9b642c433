"""CPU benchmark of the Householder-product scan: chunked (WY / UT) vs the sequential reference.

Run by hand (not a test):

    python benchmarks/bench_kernels.py --threads 1 --markdown results.md   # full grid, ~10 minutes on 2 cores
    python benchmarks/bench_kernels.py --quick                           # smaller grid
    python benchmarks/bench_kernels.py --shapes 4x4 --lengths 4096 --n-h 1 --no-oracle   # one row

Grid: (B, H) in {(1, 2), (4, 4)}, K = V = 64, T in {512, 2048, 4096, 8192}, n_h in {1, 2, 4}, float32, unit keys,
beta uniform in [0, 2]. Forward and forward+backward (``sum(o * w)`` backward to q, k, v, beta). Each figure is the
median of ``--reps`` runs of the process CPU time (robust when other jobs share the machine) beside the wall-time
ratio. The reference is a Python loop over T * n_h factors whose cost is linear in T: it is timed in full up to
``--ref-max-tokens`` factor rows (half that for forward+backward) and, above that, on a prefix and scaled linearly;
such figures are marked ``~`` (estimates). The forward at T = 4096, n_h = 1 (the target: chunked >= 10x faster) is
always measured in full. A short table for the diagonal scan follows.

External oracle: when ``fla-core`` is installed (``pip install fla-core``, the ``bench`` extra; its naive
references are plain PyTorch and run on a CPU), the chunked outputs are compared with fla's
``naive_recurrent_gated_delta_product`` (g = None) and, for n_h = 1, ``delta_rule_recurrence``.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
import warnings

import torch

from statetrack.kernels import diagonal_scan, householder_scan


def make_inputs(B, T, H, K, V, n_h, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, K, generator=g)
    k = torch.nn.functional.normalize(torch.randn(B, T * n_h, H, K, generator=g), dim=-1)
    v = torch.randn(B, T * n_h, H, V, generator=g)
    beta = 2 * torch.rand(B, T * n_h, H, generator=g)
    xs = (q, k, v, beta)
    return tuple(x.requires_grad_(requires_grad) for x in xs)


class Timing(tuple):
    """(cpu seconds, wall seconds): medians over the repetitions; supports scaling and ratios of the cpu part."""

    def __new__(cls, cpu: float, wall: float):
        return super().__new__(cls, (cpu, wall))

    cpu = property(lambda self: self[0])
    wall = property(lambda self: self[1])

    def __mul__(self, f: float) -> "Timing":
        return Timing(self.cpu * f, self.wall * f)


def timed(fn, reps: int) -> Timing:
    """Medians of the process CPU time and the wall time of ``reps`` calls (one untimed warm-up call first when
    reps > 1). CPU time counts the work done by this process whatever else runs on the machine."""
    if reps > 1:
        fn()
    cpu, wall = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return Timing(statistics.median(cpu), statistics.median(wall))


def run_case(backend, B, T, H, n_h, backward, reps, K=64, V=64):
    q, k, v, beta = make_inputs(B, T, H, K, V, n_h, requires_grad=backward)
    w = torch.randn(B, T, H, V)

    def step():
        o, _ = householder_scan(q, k, v, beta, num_householder=n_h, backend=backend)
        if backward:
            torch.autograd.grad((o * w).sum(), (q, k, v, beta))

    return timed(step, reps)


def reference_time(B, T, H, n_h, backward, reps, max_rows, force_full=False):
    """(seconds, estimated?) of the reference; a linear extrapolation from a prefix when T * n_h > max_rows."""
    if force_full or T * n_h <= max_rows:
        return run_case("reference", B, T, H, n_h, backward, reps), False
    T_part = max(1, max_rows // n_h)
    t = run_case("reference", B, T_part, H, n_h, backward, reps)
    return t * (T / T_part), True


def fmt_ms(sec: float, est: bool = False) -> str:
    return f"{'~' if est else ''}{sec * 1e3:.1f}"


def fmt_ratio(ref: Timing, fast: Timing, est: bool) -> str:
    e = "~" if est else ""
    return f"{e}{ref.cpu / fast.cpu:.1f}x ({e}{ref.wall / fast.wall:.1f}x)"


def oracle_fla(lines: list[str]) -> None:
    """Compare the chunked scan with flash-linear-attention's naive references (float32)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fla.ops.delta_rule.naive import delta_rule_recurrence
            from fla.ops.gated_delta_product.naive import naive_recurrent_gated_delta_product
    except Exception as exc:  # not installed, or not importable here
        lines.append(f"fla-core naive references unavailable ({type(exc).__name__}: {exc}); oracle skipped.")
        return
    import fla

    lines.append(f"External oracle: fla-core {getattr(fla, '__version__', '?')} naive references, float32, "
                 "B=2, T=300, H=2, K=V=64, beta in [0, 2], random initial state.")
    lines.append("")
    lines.append("| oracle | n_h | max abs diff (chunked vs fla) | max abs diff (reference vs fla) | max abs output |")
    lines.append("|---|---|---|---|---|")
    B, T, H, K, V = 2, 300, 2, 64, 64
    for n_h in (1, 2, 4):
        q, k, v, beta = make_inputs(B, T, H, K, V, n_h, seed=n_h)
        h0 = torch.randn(B, H, K, V)
        scale = K ** -0.5
        o_c, s_c = householder_scan(q, k, v, beta, num_householder=n_h, initial_state=h0, output_final_state=True,
                                    backend="chunked")
        o_r, _ = householder_scan(q, k, v, beta, num_householder=n_h, initial_state=h0, backend="reference")
        o_f, s_f = naive_recurrent_gated_delta_product(q, k, v, None, beta, scale, initial_state=h0.clone(),
                                                       output_final_state=True, num_householder=n_h)
        lines.append(f"| naive_recurrent_gated_delta_product | {n_h} | {(o_c - o_f).abs().max().item():.2e} "
                     f"(state {(s_c - s_f).abs().max().item():.2e}) | {(o_r - o_f).abs().max().item():.2e} | "
                     f"{o_f.abs().max().item():.1f} |")
        if n_h == 1:  # fla's DeltaNet reference takes [B, H, T, K]
            tr = (lambda x: x.transpose(1, 2).contiguous())
            o_d, _ = delta_rule_recurrence(tr(q), tr(k), tr(v), beta.transpose(1, 2).contiguous(),
                                           initial_state=h0.clone(), output_final_state=True)
            o_d = o_d.transpose(1, 2)
            lines.append(f"| delta_rule_recurrence | 1 | {(o_c - o_d).abs().max().item():.2e} | "
                         f"{(o_r - o_d).abs().max().item():.2e} | {o_d.abs().max().item():.1f} |")


def _load_average() -> str:
    """The 1, 5 and 15 minute load averages, or 'n/a' where the platform has none."""
    import os

    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="T in {512, 2048, 4096}, (B, H) = (1, 2) only")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of the chunked backend (median)")
    ap.add_argument("--ref-reps", type=int, default=1, help="timed repetitions of the reference")
    ap.add_argument("--ref-max-tokens", type=int, default=2048,
                    help="largest T * n_h timed in full for the reference; longer ones are extrapolated")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE (markdown)")
    ap.add_argument("--shapes", help="comma-separated BxH pairs, e.g. 1x2,4x4 (default: the grid)")
    ap.add_argument("--lengths", help="comma-separated T values (default: the grid)")
    ap.add_argument("--n-h", default="1,2,4", help="comma-separated n_h values (default: 1,2,4)")
    ap.add_argument("--no-oracle", action="store_true", help="skip the fla-core comparison")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    shapes = [(1, 2)] if args.quick else [(1, 2), (4, 4)]
    lengths = (512, 2048, 4096) if args.quick else (512, 2048, 4096, 8192)
    if args.shapes:
        shapes = [tuple(int(x) for x in bh.split("x")) for bh in args.shapes.split(",")]
    if args.lengths:
        lengths = tuple(int(t) for t in args.lengths.split(","))
    factors = tuple(int(n) for n in args.n_h.split(","))
    lines = [
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}.",
        "",
        f"Load average at start: {_load_average()}.",
        "",
        "Times: medians of process CPU time in ms (wall-time speedups in parentheses; wall times depend on the load",
        "of the machine, CPU times do not). `~` = reference estimated from a prefix (linear in T). float32,",
        "K = V = 64, unit keys, beta uniform in [0, 2].",
        "",
        "| B | H | T | n_h | fwd ref | fwd chunked | fwd speedup | fwd+bwd ref | fwd+bwd chunked | fwd+bwd speedup |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for B, H in shapes:
        for T in lengths:
            for n_h in factors:
                reps = args.reps if T * n_h <= 8192 else max(1, args.reps // 2)
                cf = run_case("chunked", B, T, H, n_h, False, reps)
                cb = run_case("chunked", B, T, H, n_h, True, reps)
                full = T == 4096 and n_h == 1
                rf, rf_est = reference_time(B, T, H, n_h, False, args.ref_reps, args.ref_max_tokens, full)
                rb, rb_est = reference_time(B, T, H, n_h, True, args.ref_reps, args.ref_max_tokens // 2)
                row = (f"| {B} | {H} | {T} | {n_h} | {fmt_ms(rf.cpu, rf_est)} | {fmt_ms(cf.cpu)} | "
                       f"{fmt_ratio(rf, cf, rf_est)} | {fmt_ms(rb.cpu, rb_est)} | {fmt_ms(cb.cpu)} | "
                       f"{fmt_ratio(rb, cb, rb_est)} |")
                print(row, flush=True)
                lines.append(row)

    # the diagonal scan, for reference (no target)
    lines += ["", "Diagonal scan (`diagonal_scan`, gates tanh(N(0, 1)) in (-1, 1)), forward, float32, K = V = 64:", "",
              "| B | H | T | ref | chunked | speedup |", "|---|---|---|---|---|---|"]
    for B, H in shapes:
        g = torch.Generator().manual_seed(1)
        T = 4096
        q, k, a = (torch.randn(B, T, H, 64, generator=g) for _ in range(3))
        a = torch.tanh(a)
        v = torch.randn(B, T, H, 64, generator=g)
        rt = timed(lambda: diagonal_scan(q, k, v, a, backend="reference"), args.ref_reps)
        ct = timed(lambda: diagonal_scan(q, k, v, a, backend="chunked"), args.reps)
        row = f"| {B} | {H} | {T} | {fmt_ms(rt.cpu)} | {fmt_ms(ct.cpu)} | {fmt_ratio(rt, ct, False)} |"
        print(row, flush=True)
        lines.append(row)

    lines.append("")
    if not args.no_oracle:
        oracle_fla(lines)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        from statetrack.fileio import atomic_write_text

        atomic_write_text(args.markdown, text)


if __name__ == "__main__":
    main()
