"""Precision table: compiled constructions run on the kernels, per kernel and dtype (run by hand, not a test).

For every (construction, kernel, dtype) it runs a compiled model through :class:`statetrack.lrnn.CompiledLRNN` on
adversarial words (a run of each single symbol, which cycles one group element) and random words, compares the
per-token DFA states with the DFA, and prints the longest prefix length with zero errors over the batch (up to the
tested length) and the largest drift (distance of a layer state from its nearest code, over the whole tested run).

    python benchmarks/precision_table.py                      # the table of docs/precision.md
    python benchmarks/precision_table.py --max-len 10000 --kernels chunked --dtypes float32

The sequential reference kernel and the Triton interpreter (no GPU) are slow: their lengths are capped
(``--cap reference=100000,triton=2000``); the table marks capped rows.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time

import numpy as np
import torch

# (catalog language, construction)
CASES = [
    ("parity", "parity"),
    ("mod:3", "rotation"),
    ("mod:5", "rotation"),
    ("group:S3", "group"),
    ("group:S5", "group"),
    ("tomita:5", "group"),
    ("modsum:5", "modadd2"),
]


def words(n_symbols: int, length: int, samples: int, seed: int) -> np.ndarray:
    """``[n_symbols + samples, length]``: one constant run per symbol, then uniform random words."""
    rng = np.random.default_rng(seed)
    runs = np.repeat(np.arange(n_symbols)[:, None], length, axis=1)
    return np.concatenate([runs, rng.integers(0, n_symbols, size=(samples, length))]).astype(np.int64)


def first_error(states: np.ndarray, want: np.ndarray) -> int | None:
    """The first position (0-based) where any word's state differs, or None."""
    bad = (states != want).any(axis=0)
    return int(np.argmax(bad)) if bad.any() else None


def kernel_available(kernel: str) -> str | None:
    """None if ``householder_scan(backend=kernel)`` runs here, else the reason."""
    from statetrack.kernels import householder_scan

    try:
        householder_scan(torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 1, 1),
                         torch.zeros(1, 1, 1), backend=kernel)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


def drift_curve(net, cm, ids: torch.Tensor, checkpoints: list[int]) -> list[float]:
    """Largest distance of any layer state from its nearest code over the first L tokens, for each L."""
    worst = torch.zeros(ids.shape[1], dtype=torch.float64)
    for l, h in enumerate(net.layer_states(ids)):
        codes = torch.as_tensor(np.asarray(cm.tensors[f"layers.{l}.codes"], dtype=np.float64))
        d = torch.cdist(h.to(torch.float64), codes[None].expand(h.shape[0], -1, -1),
                        compute_mode="donot_use_mm_for_euclid_dist").min(-1).values  # [B, T]
        worst = torch.maximum(worst, d.max(0).values)
    cum = torch.cummax(worst, 0).values
    return [float(cum[min(c, len(cum)) - 1]) for c in checkpoints]


def _join(x) -> str:
    """A per-layer list as ``a+b``; a scalar as itself."""
    return "+".join(str(v) for v in x) if isinstance(x, (list, tuple)) else str(x)


def unit_keys(cm):
    """The same model with every Householder key scaled to unit length and beta scaled by ``|k|^2``.

    The matrices ``I - beta k k^T`` and the written vectors ``beta k v`` are unchanged in exact arithmetic, but
    ``(e_i - e_j) / sqrt(2)`` with beta 2 has irrational entries where ``e_i - e_j`` with beta 1 has integers.
    """
    from types import SimpleNamespace

    tensors = dict(cm.tensors)
    for l, info in enumerate(cm.meta["layers"]):
        if info["kind"] != "householder":
            continue
        k, b, v = (np.asarray(tensors[f"layers.{l}.{n}"], dtype=np.float64) for n in ("keys", "betas", "values"))
        norm = np.linalg.norm(k, axis=-1)
        safe = np.where(norm > 0, norm, 1.0)
        tensors[f"layers.{l}.keys"] = k / safe[..., None]
        tensors[f"layers.{l}.betas"] = b * safe**2
        tensors[f"layers.{l}.values"] = v / safe
    return SimpleNamespace(meta=cm.meta, tensors=tensors, dfa=cm.dfa)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-len", type=int, default=1_000_000)
    ap.add_argument("--kernels", default="reference,chunked,triton")
    ap.add_argument("--dtypes", default="float32,bfloat16,float16")
    ap.add_argument("--cases", default=",".join(f"{l}={c}" for l, c in CASES),
                    help="comma-separated LANG=CONSTRUCTION pairs; CONSTRUCTION/unit rescales keys to unit length")
    ap.add_argument("--cap", default="reference=100000,triton=2000",
                    help="per-kernel length caps, e.g. reference=100000,triton=2000")
    ap.add_argument("--samples", type=int, default=2, help="random words per case (besides one run per symbol)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the rows as one JSON object")
    ap.add_argument("--curve", default="", help="comma-separated lengths: also report the largest drift within the "
                                               "first L tokens for each L (runs layer_states; keep lengths modest)")
    args = ap.parse_args(argv)

    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language
    from statetrack.lrnn import CompiledLRNN

    caps = {k: int(v) for k, v in (kv.split("=") for kv in args.cap.split(",") if kv)}
    kernels = [k for k in args.kernels.split(",") if k]
    dtypes = [d for d in args.dtypes.split(",") if d]
    missing = {k: kernel_available(k) for k in kernels}
    rows = []
    for case in args.cases.split(","):
        lang, construction = case.split("=")
        construction, _, variant = construction.partition("/")
        dfa = get_language(lang)
        cm, report = compile_language(dfa, construction)
        if variant == "unit":
            cm = unit_keys(cm)
            construction += " (unit keys)"
        elif variant:
            raise SystemExit(f"unknown variant {variant!r} in {case!r} (known: unit)")
        ids = words(len(dfa.alphabet), args.max_len, args.samples, args.seed)
        want = dfa.run_batch(ids)
        dims, factors = _join(report.get("dims")), _join(report.get("factors"))
        for kernel in kernels:
            for dtype in dtypes:
                row = {"language": lang, "construction": construction, "dims": dims, "factors": factors,
                       "kernel": kernel, "dtype": dtype}
                if missing[kernel]:
                    rows.append({**row, "tested": 0, "zero_errors_up_to": None, "max_drift": None,
                                 "seconds": 0.0, "note": f"unavailable ({missing[kernel]})"})
                    continue
                length = min(args.max_len, caps.get(kernel, args.max_len))
                net = CompiledLRNN(cm, kernel=kernel, dtype=dtype)
                t0 = time.perf_counter()
                states, drift = net.run_states(torch.from_numpy(ids[:, :length]))
                seconds = time.perf_counter() - t0
                err = first_error(states.numpy(), want[:, :length])
                if args.curve:
                    checkpoints = [int(c) for c in args.curve.split(",") if int(c) <= length]
                    row["drift_curve"] = dict(zip(checkpoints, drift_curve(
                        net, cm, torch.from_numpy(ids[:, :length]), checkpoints)))
                rows.append({**row, "tested": length, "zero_errors_up_to": length if err is None else err,
                             "first_error": err, "max_drift": drift, "seconds": round(seconds, 2),
                             "note": "capped" if length < args.max_len else ""})
                r = rows[-1]
                print(f"  {lang:9s} {construction:9s} {kernel:9s} {dtype:8s} ok<{r['zero_errors_up_to']:>8} "
                      f"drift {drift:.2e} {seconds:7.1f}s", file=sys.stderr, flush=True)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{torch.get_num_threads()}-thread CPU ({platform.processor() or platform.machine()})"
    if torch.cuda.is_available():
        machine += f", {torch.cuda.get_device_name()}"
    if args.json:
        print(json.dumps({"date": when, "machine": machine, "words_per_case": "one run per symbol + "
                          f"{args.samples} random", "rows": rows}, indent=1))
        return 0
    print(f"Precision table, {when}, {machine}; words per case: one constant run per symbol + {args.samples} "
          f"random; max length {args.max_len:,}.\n")
    print("| language | construction | dims | factors | kernel | dtype | tested length | zero errors up to "
          "| max drift | time (s) |")
    print("|---|---|---|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        if r["note"].startswith("unavailable"):
            print(f"| {r['language']} | {r['construction']} | {r['dims']} | {r['factors']} | {r['kernel']} | "
                  f"{r['dtype']} | - | unavailable | - | - |")
            continue
        ok = f"{r['zero_errors_up_to']:,}" + (" (all)" if r["first_error"] is None else "")
        print(f"| {r['language']} | {r['construction']} | {r['dims']} | {r['factors']} | {r['kernel']} | "
              f"{r['dtype']} | {r['tested']:,}{' (cap)' if r['note'] == 'capped' else ''} | {ok} | "
              f"{r['max_drift']:.2e} | {r['seconds']} |")
    curves = [r for r in rows if r.get("drift_curve")]
    if curves:
        lengths = sorted({c for r in curves for c in r["drift_curve"]})
        print("\nLargest drift within the first L tokens:\n")
        print("| language | construction | kernel | dtype | " + " | ".join(f"L = {c:,}" for c in lengths) + " |")
        print("|---|---|---|---|" + "---:|" * len(lengths))
        for r in curves:
            cells = " | ".join(f"{r['drift_curve'][c]:.2e}" if c in r["drift_curve"] else "-" for c in lengths)
            print(f"| {r['language']} | {r['construction']} | {r['kernel']} | {r['dtype']} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
