"""Prepared GPU check of the Triton Householder-scan kernels: correctness first, then speed against fla.

Run from the repository root on a machine with one CUDA GPU (no network needed; statetrack installed or not):

    python benchmarks/gpu_kernels.py --out gpu_results.md            # at most ~8 minutes on an H200
    python benchmarks/gpu_kernels.py --out gpu_results.md --quick    # one shape, n_h in {1, 2}
    TRITON_INTERPRET=1 python benchmarks/gpu_kernels.py --dry-run --out x.md   # CPU: checks the script only

1. Correctness: ``householder_scan_triton`` (every kernel kind and a mixed pairing, float32 with exact and tf32
   dots, bfloat16) against the float64 sequential reference on the GPU, run on the same (rounded) inputs: outputs,
   final state and the gradients of q, k, v, beta and the initial state, beta uniform in [0, 2] (and near 2 with
   correlated keys), K and V not powers of two, T*n_h not a multiple of the chunk. Relative Frobenius errors with
   per-dtype tolerances; any failure makes the exit status 1.
2. Speed: forward and forward+backward medians (``triton.testing.do_bench``) of our kernels (kinds ``chunk``,
   ``fused``, ``recurrent``; plus the time of the chunk inverses alone) and of
   flash-linear-attention's ``chunk_delta_rule`` (n_h = 1) and ``chunk_gated_delta_product`` (any n_h, no gate)
   at B=8, H=16, T in {2048, 8192}, K = V = 128 in bfloat16 and float32, n_h in {1, 2, 4, 3} (targets: at least
   fla's speed at n_h = 1, 1.5x at n_h >= 2).
   ``speedup`` = fla time / our time (> 1: ours is faster). fla is optional: without it (the GPU machine has no
   network; install the ``fla-core`` and ``einops`` wheels beforehand if wanted) the peer columns say so.

A time budget (``--budget`` seconds, default 420) skips the remaining timing rows, saying which, so the script ends in
time. The markdown table goes to ``--out``; the same figures are printed.
"""
from __future__ import annotations

import argparse
import datetime
import inspect
import math
import os
import platform
import sys
import time
from typing import Callable

import torch

SHAPES = [(8, 2048, 16, 128), (8, 8192, 16, 128)]  # (B, T, H, D) with K = V = D
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}
DEVICE = "cuda"  # "cpu" with --dry-run (Triton interpreter, tiny shapes: checks this script, measures nothing)
# (forward kernel, backward kernel, dtype) combinations checked for correctness
COMBOS = [("chunk", "chunk", "float32"), ("chunk", "chunk", "float32-tf32"), ("chunk", "chunk", "bfloat16"),
          ("fused", "fused", "float32"), ("fused", "fused", "bfloat16"),
          ("recurrent", "recurrent", "float32"), ("recurrent", "recurrent", "bfloat16"),
          ("chunk", "recurrent", "float32")]
KINDS = ("chunk", "fused", "recurrent")  # timed; fused and recurrent only while n_h <= 2 (compile time)
TOL = {"float32": (5e-5, 2e-4), "float32-tf32": (1e-2, 2e-2), "bfloat16": (3e-2, 6e-2)}  # (output, gradients)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def make_inputs(B, T, H, K, V, n_h, dtype, device, *, seed=0, near2=False, correlated=False, h0=True):
    g = torch.Generator(device="cpu").manual_seed(seed)
    NF = T * n_h
    q = torch.randn(B, T, H, K, generator=g, dtype=torch.float64)
    k = torch.randn(B, NF, H, K, generator=g, dtype=torch.float64)
    if correlated:
        k = torch.randn(B, 1, H, K, generator=g, dtype=torch.float64) + 0.1 * k
    k = torch.nn.functional.normalize(k, dim=-1)
    v = torch.randn(B, NF, H, V, generator=g, dtype=torch.float64)
    u = torch.rand(B, NF, H, generator=g, dtype=torch.float64)
    beta = 1.9 + 0.1 * u if near2 else 2.0 * u
    s = torch.randn(B, H, K, V, generator=g, dtype=torch.float64) if h0 else None
    out = [x.to(device=device, dtype=dtype) for x in (q, k, v, beta)]
    return out + [None if s is None else s.to(device=device, dtype=dtype)]


def bench_inputs(B, T, H, D, n_h, dtype, seed):
    """Timing inputs made on the device (no host copies of multi-GB tensors): unit keys, beta uniform in [0, 2]."""
    g = torch.Generator(device=DEVICE).manual_seed(seed)
    NF = T * n_h

    def randn(*shape):
        return torch.randn(*shape, generator=g, device=DEVICE, dtype=torch.float32)

    q = randn(B, T, H, D)
    k = torch.nn.functional.normalize(randn(B, NF, H, D), dim=-1)
    v = randn(B, NF, H, D)
    beta = 2.0 * torch.rand(B, NF, H, generator=g, device=DEVICE, dtype=torch.float32)
    do = randn(B, T, H, D)
    return [x.to(dtype) for x in (q, k, v, beta, do)]


def ensure_statetrack() -> str:
    """Import statetrack; on a bare (offline) machine without the editable install, map the checkout's folders
    (``statetrack/``, ``automata/``, ``kernels/``) to the package names by hand. Returns how it was found."""
    try:
        import statetrack.kernels.householder  # noqa: F401

        return "installed"
    except ImportError:
        pass
    import types

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name, folder in (("statetrack", "statetrack"), ("statetrack.automata", "automata"),
                         ("statetrack.kernels", "kernels")):
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(root, folder)]  # a namespace-like package: submodules import normally
        sys.modules[name] = mod
    return "mapped from the checkout"


# ----------------------------------------------------------------------------------------------------------- peers
def load_fla() -> tuple[dict[str, Callable], str]:
    """fla's chunk ops, or an empty dict and the reason."""
    ops: dict[str, Callable] = {}
    try:
        import fla  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "absent"
        return ops, f"fla not importable ({type(e).__name__}: {e})"
    version = getattr(sys.modules["fla"], "__version__", "?")
    try:
        from fla.ops.delta_rule import chunk_delta_rule

        ops["chunk_delta_rule"] = chunk_delta_rule
    except Exception as e:  # noqa: BLE001
        print(f"fla chunk_delta_rule unavailable: {e}")
    try:
        from fla.ops.gated_delta_product import chunk_gated_delta_product

        ops["chunk_gated_delta_product"] = chunk_gated_delta_product
    except Exception as e:  # noqa: BLE001
        print(f"fla chunk_gated_delta_product unavailable: {e}")
    return ops, f"fla {version}"


_FLA_G_NONE: dict[str, bool] = {}  # whether chunk_gated_delta_product accepts g=None (decided on first call)


def fla_call(ops: dict[str, Callable], name: str, q, k, v, beta, n_h: int):
    """Run fla's op in our layout ([B, T, H, K] / [B, T*n_h, H, K]); returns o."""
    fn = ops[name]
    params = inspect.signature(fn).parameters
    extra = {"head_first": False} if "head_first" in params else {}
    if name == "chunk_delta_rule":
        return fn(q, k, v, beta, scale=q.shape[-1] ** -0.5, **extra)[0]
    # no gate at all where fla allows g=None (0.6+); else log-gate 0 (no decay, a little extra work for fla)
    if _FLA_G_NONE.get("ok", True):
        try:
            o = fn(q, k, v, None, beta, num_householder=n_h, scale=q.shape[-1] ** -0.5, **extra)[0]
            _FLA_G_NONE["ok"] = True
            return o
        except (AttributeError, TypeError, AssertionError):
            if _FLA_G_NONE.get("ok"):
                raise  # g=None worked before: this failure is about something else (float32, ...)
            _FLA_G_NONE["ok"] = False
    g = torch.zeros(q.shape[:3], dtype=torch.float32, device=q.device)
    return fn(q, k, v, g, beta, num_householder=n_h, scale=q.shape[-1] ** -0.5, **extra)[0]


# ----------------------------------------------------------------------------------------------------- correctness
def check_correctness(scan, reference, fla_ops, lines: list[str], dry_run: bool = False) -> bool:
    dev = DEVICE
    ok = True
    lines += ["## Correctness against the float64 reference (relative Frobenius error)", "",
              "| case | n_h | fwd/bwd | dtype | o | state | dq | dk | dv | dbeta | dh0 | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cases = [("B2 T200 H3 K100 V72", (2, 200, 3, 100, 72), (1, 2, 3), {}),
             ("B1 T130 H2 K128 V128", (1, 130, 2, 128, 128), (1, 2), {}),
             ("B1 T100 H2 K64 V64, beta~2, correlated keys", (1, 100, 2, 64, 64), (1, 3),
              dict(near2=True, correlated=True))]
    if dry_run:
        cases = [("B1 T11 H1 K20 V12", (1, 11, 1, 20, 12), (1, 3), {}),
                 ("B1 T9 H1 K16 V16, beta~2, correlated keys", (1, 9, 1, 16, 16), (2,),
                  dict(near2=True, correlated=True))]
    for label, (B, T, H, K, V), nhs, opts in cases:
        for n_h in nhs:
            q, k, v, b, h0 = make_inputs(B, T, H, K, V, n_h, torch.float64, dev, seed=n_h, **opts)
            gen = torch.Generator(device="cpu").manual_seed(1)
            do = torch.randn(B, T, H, V, generator=gen, dtype=torch.float64).to(dev)
            ds = torch.randn(B, H, K, V, generator=gen, dtype=torch.float64).to(dev)
            truth = {}  # per input dtype: float64 reference on the inputs rounded to that dtype

            def reference_on(dt):
                if dt not in truth:
                    ins = [x.to(dt).double().requires_grad_() for x in (q, k, v, b, h0)]
                    o_r, s_r = reference(*ins[:4], num_householder=n_h, initial_state=ins[4],
                                         output_final_state=True)
                    g_r = torch.autograd.grad((o_r * do).sum() + (s_r * ds).sum(), ins)
                    truth[dt] = (o_r.detach(), s_r.detach(), g_r)
                return truth[dt]

            for fk, bk, dname in COMBOS:
                dt = DTYPES[dname.split("-")[0]]
                prec = "tf32" if dname.endswith("tf32") else None
                o_r, s_r, g_r = reference_on(dt)
                xs = [x.detach().to(dt).requires_grad_() for x in (q, k, v, b, h0)]
                try:
                    o, s = scan(*xs[:4], num_householder=n_h, initial_state=xs[4], output_final_state=True,
                                forward_kernel=fk, backward_kernel=bk, dot_precision=prec,
                                chunk_size=16 if dry_run else 64)
                    g = torch.autograd.grad((o.float() * do.float()).sum() + (s * ds.float()).sum(), xs)
                except Exception as e:  # noqa: BLE001 - a kernel that fails to compile or run is a FAIL row
                    ok = False
                    msg = str(e).splitlines()[0][:150] if str(e) else ""
                    row = f"| {label} | {n_h} | {fk}/{bk} | {dname} | {type(e).__name__}: {msg} | | | | | | | FAIL |"
                    lines.append(row)
                    print(row, flush=True)
                    continue
                errs = [rel(o, o_r), rel(s, s_r)] + [rel(a, c) for a, c in zip(g, g_r)]
                t_o, t_g = TOL[dname]
                good = all(math.isfinite(e) for e in errs) and max(errs[:2]) < t_o and max(errs[2:]) < t_g
                ok &= good
                row = (f"| {label} | {n_h} | {fk}/{bk} | {dname} | "
                       + " | ".join(f"{e:.1e}" for e in errs) + f" | {'ok' if good else 'FAIL'} |")
                lines.append(row)
                print(row, flush=True)
            if not opts and "chunk_gated_delta_product" in fla_ops:  # the peer on the same inputs, for scale
                try:
                    xs = [x.to(torch.bfloat16) for x in (q, k, v, b)]
                    o_f = fla_call(fla_ops, "chunk_gated_delta_product", *xs, n_h)
                    o_z, _ = reference(q, k, v, b, num_householder=n_h)  # fla: no initial state here
                    row = f"| {label} (fla chunk_gated_delta_product, no h0) | {n_h} | fla | bfloat16 | " \
                          f"{rel(o_f, o_z):.1e} | | | | | | | info |"
                except Exception as e:  # noqa: BLE001
                    row = f"| {label} (fla) | {n_h} | fla | bfloat16 | error: {type(e).__name__} | | | | | | | info |"
                lines.append(row)
                print(row, flush=True)
    lines.append("")
    return ok


# ----------------------------------------------------------------------------------------------------------- speed
def bench(fn: Callable[[], object], grad_to_none=None) -> float:
    if DEVICE != "cuda":  # dry run: one plain wall-clock call
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3
    import triton.testing

    return float(triton.testing.do_bench(fn, warmup=10, rep=60, grad_to_none=grad_to_none, return_mode="median"))


def time_impl(run: Callable, xs: list[torch.Tensor], do: torch.Tensor) -> tuple[float, float]:
    """(forward ms, forward+backward ms) of ``run(*xs) -> o``; errors become NaN (printed)."""
    try:
        with torch.no_grad():
            f = bench(lambda: run(*xs))
        leaves = [x.detach().requires_grad_() for x in xs]

        def fwd_bwd():
            run(*leaves).backward(do)

        fb = bench(fwd_bwd, grad_to_none=leaves)
        return f, fb
    except Exception as e:  # noqa: BLE001 - a peer that rejects an input (float32, ...) is reported, not fatal
        print(f"    {getattr(run, '__name__', run)}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        return math.nan, math.nan


def speed(scan, fla_ops, shapes, nhs, dtypes, budget_end, lines: list[str]) -> None:
    cols = " | ".join(f"{kind} fwd | {kind} fwd+bwd" for kind in KINDS)
    lines += ["## Speed (median ms; speedup = fla time / ours, > 1 means ours is faster)", "",
              "`chunk` is the default kernel; `best` is the fastest of ours on the row; `chunk inverses` is the part of"
              " the chunk forward spent on the per-chunk triangular inverses.", "",
              f"| B | T | H | D | n_h | dtype | {cols} | chunk inverses | fla op | fla fwd | fla fwd+bwd "
              "| speedup fwd (chunk / best) | speedup fwd+bwd (chunk / best) |",
              "|" + "---|" * (6 + 2 * len(KINDS) + 6)]
    rows = [(s, n_h, d) for n_h in nhs for s in shapes for d in dtypes]
    for i, ((B, T, H, D), n_h, dname) in enumerate(rows):
        if time.time() > budget_end:
            skipped = ", ".join(f"B{r[0][0]} T{r[0][1]} n_h={r[1]} {r[2]}" for r in rows[i:])
            lines.append(f"\nTime budget reached; skipped: {skipped}")
            print(f"time budget reached; skipped {len(rows) - i} rows", flush=True)
            break
        dt = DTYPES[dname]
        q, k, v, b, do = bench_inputs(B, T, H, D, n_h, dt, seed=i)
        ours: dict[str, tuple[float, float]] = {}
        for kind in KINDS:
            if kind != "chunk" and n_h > 2:
                ours[kind] = (math.nan, math.nan)
                continue

            def run(q, k, v, b, kind=kind):
                return scan(q, k, v, b, num_householder=n_h, forward_kernel=kind, backward_kernel=kind)[0]

            run.__name__ = f"ours-{kind}"
            ours[kind] = time_impl(run, [q, k, v, b], do)
        try:  # the chunk inverses alone: how much of the chunk forward they take
            from statetrack.kernels.householder import triton_op

            prec = triton_op._dot_precision(None, q, k, v, b)
            inv_ms = bench(lambda k=k, b=b: triton_op._inverses(k, b, 64, prec))
        except Exception as e:  # noqa: BLE001
            print(f"    inverses: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
            inv_ms = math.nan
        peer = "chunk_delta_rule" if n_h == 1 and "chunk_delta_rule" in fla_ops else "chunk_gated_delta_product"
        if peer in fla_ops:
            def fla_run(q, k, v, b):
                return fla_call(fla_ops, peer, q, k, v, b, n_h)

            ff, ffb = time_impl(fla_run, [q, k, v, b], do)
        else:
            ff = ffb = math.nan
            peer = "absent"
        best_f = min((t[0] for t in ours.values() if math.isfinite(t[0])), default=math.nan)
        best_fb = min((t[1] for t in ours.values() if math.isfinite(t[1])), default=math.nan)
        cf, cfb = ours["chunk"]
        cells = " | ".join(f"{ours[kd][0]:.2f} | {ours[kd][1]:.2f}" for kd in KINDS)
        row = (f"| {B} | {T} | {H} | {D} | {n_h} | {dname} | {cells} | {inv_ms:.2f} | {peer} | {ff:.2f} | {ffb:.2f} | "
               f"{ff / cf:.2f} / {ff / best_f:.2f} | {ffb / cfb:.2f} / {ffb / best_fb:.2f} |")
        lines.append(row.replace("nan", "-"))
        print(row, flush=True)
        del q, k, v, b, do
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
    lines.append("")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="markdown file to write the tables to")
    ap.add_argument("--budget", type=float, default=420.0, help="seconds after which timing rows are skipped")
    ap.add_argument("--quick", action="store_true", help="one shape, n_h in {1, 2}")
    ap.add_argument("--no-autotune", action="store_true", help="fixed launch configs (STATETRACK_NO_AUTOTUNE=1)")
    ap.add_argument("--skip-correctness", action="store_true")
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU: run every code path on the CPU through the Triton interpreter at tiny shapes")
    args = ap.parse_args(argv)
    global DEVICE
    if args.no_autotune:
        os.environ["STATETRACK_NO_AUTOTUNE"] = "1"
    start = time.time()
    if args.dry_run:
        if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
            print("--dry-run: set TRITON_INTERPRET=1 before triton is imported")
            return 2
        os.environ["TRITON_INTERPRET"] = "1"
        DEVICE = "cpu"
    elif not torch.cuda.is_available():
        print("gpu_kernels.py needs a CUDA GPU (torch.cuda.is_available() is False); --dry-run checks the script")
        return 2
    import triton

    how = ensure_statetrack()
    from statetrack.fileio import atomic_write_text
    from statetrack.kernels.householder.reference import householder_scan_reference
    from statetrack.kernels.householder.triton_op import householder_scan_triton
    from statetrack.kernels.householder.triton_utils import autotune_enabled

    fla_ops, fla_note = load_fla()
    card = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "none (dry run: interpreter, figures meaningless)"
    lines = ["# Triton Householder-scan kernels on GPU", "",
             f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
             f"- card: {card}; host CPU: {platform.processor() or platform.machine()}",
             f"- torch {torch.__version__}, triton {triton.__version__}, {fla_note}; statetrack {how}",
             f"- autotune (timing): {'on' if autotune_enabled() else 'off'}", ""]
    print("\n".join(lines), flush=True)
    ok = True
    if not args.skip_correctness:
        saved = os.environ.get("STATETRACK_NO_AUTOTUNE")
        os.environ["STATETRACK_NO_AUTOTUNE"] = "1"  # tiny shapes: tuning them would only cost time
        try:
            ok = check_correctness(householder_scan_triton, householder_scan_reference, fla_ops, lines, args.dry_run)
        finally:
            if saved is None:
                del os.environ["STATETRACK_NO_AUTOTUNE"]
            else:
                os.environ["STATETRACK_NO_AUTOTUNE"] = saved
        print(f"correctness: {'all ok' if ok else 'FAILURES'} ({time.time() - start:.0f} s)", flush=True)
    shapes = SHAPES[:1] if args.quick else SHAPES
    nhs = (1, 2) if args.quick else (1, 2, 4, 3)
    if args.dry_run:
        shapes, nhs = [(1, 24, 2, 16)], (1, 2)
    speed(householder_scan_triton, fla_ops, shapes, nhs, list(DTYPES), start + args.budget, lines)
    lines.append(f"Total wall time: {time.time() - start:.0f} s.")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out} ({time.time() - start:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
