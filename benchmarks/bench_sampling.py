"""Benchmark: uniform sampling of accepted words, statetrack vs automata-lib's ``DFA.random_word``.

Run by hand: ``python benchmarks/bench_sampling.py [--words 100000] [--length 1000] [--repeats 3]``
(needs ``pip install automata-lib``). Prints a table of medians: statetrack's batched sampler
(counting time separate from sampling time, peak traced memory of the sampling call), and
automata-lib's per-word sampler on the same DFA (its count cache warmed first), with the ratio of
words per second.
"""
from __future__ import annotations

import argparse
import os
import datetime
import platform
import statistics
import time
import tracemalloc

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.automata.sampling import WordSampler


def languages() -> dict[str, DFA]:
    """The benchmark languages (name -> DFA)."""
    parity = DFA(["0", "1"], ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    mod3 = DFA(list("abc"), None, 0, [True, False, False], [[(q + a) % 3 for a in range(3)] for q in range(3)])
    no_aa_mod3 = DFA(list("abc"), None, 0, [True, False, False, True, False, False],
                     [[3, 1, 2], [4, 2, 0], [5, 0, 1], [-1, 1, 2], [-1, 2, 0], [-1, 0, 1]]).complete()
    mod64 = DFA(["0", "1"], None, 0, [q == 0 for q in range(64)], [[q, (q + 1) % 64] for q in range(64)])
    letters = [chr(97 + i) for i in range(26)]
    sum5 = DFA(letters, None, 0, [q == 0 for q in range(5)], [[(q + a) % 5 for a in range(26)] for q in range(5)])
    return {"parity (2 st, k=2)": parity, "count mod 3 (3 st, k=3)": mod3, "no aa, mod 3 (7 st, k=3)": no_aa_mod3,
            "ones mod 64 (64 st, k=2)": mod64, "letter sum mod 5 (5 st, k=26)": sum5}


def to_automata_lib(d: DFA):
    """The same DFA as an ``automata.fa.dfa.DFA`` (states named by id)."""
    from automata.fa.dfa import DFA as ALDFA

    trans = {str(q): {a: str(int(d.delta[q, i])) for i, a in enumerate(d.alphabet)} for q in range(d.n_states)}
    return ALDFA(states=set(trans), input_symbols=set(d.alphabet), transitions=trans, initial_state=str(d.start),
                 final_states={str(q) for q in range(d.n_states) if d.accepting[q]})


def bench_statetrack(d: DFA, length: int, n: int, repeats: int, exact: bool | None) -> dict:
    build, run, cpu, peak = [], [], [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        s = WordSampler(d, length, exact=exact)
        t1 = time.perf_counter()
        c1 = time.process_time()
        words = s.sample(length, n, seed=r)
        t2 = time.perf_counter()
        cpu.append(time.process_time() - c1)
        build.append(t1 - t0)
        run.append(t2 - t1)
        del words
        tracemalloc.start()  # memory in a separate run: tracing slows allocation down
        words = s.sample(length, n, seed=r)
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert words.shape == (n, length)
    check = words[:20]
    assert all(d.accepts([d.alphabet[i] for i in row]) for row in check)
    return {"build": statistics.median(build), "sample": statistics.median(run), "cpu": statistics.median(cpu),
            "peak": max(peak), "exact": s.exact}


def bench_automata_lib(d: DFA, length: int, n_words: int) -> tuple[float, float]:
    """Seconds per word: (median wall clock, mean CPU time); count cache warmed by a first call."""
    al = to_automata_lib(d)
    al.random_word(length, seed=0)
    times = []
    c0 = time.process_time()
    for i in range(n_words):
        t0 = time.perf_counter()
        al.random_word(length, seed=i + 1)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (time.process_time() - c0) / n_words


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--words", type=int, default=100_000)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-words", type=int, default=100, help="words timed for automata-lib per language")
    args = ap.parse_args()
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu_name()} "
          f"(platform.processor: {platform.processor()!r}); numpy {np.__version__}")
    print(f"# {args.words} words of length {args.length}, median of {args.repeats} runs; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    header = ["language", "mode", "counts s", "sample s", "sample CPU s", "words/s (wall)", "peak MiB",
              "automata-lib ms/word (wall)", "automata-lib CPU ms/word", "ratio (wall)", "ratio (CPU)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, d in languages().items():
        peer, peer_cpu = bench_automata_lib(d, args.length, args.peer_words)
        for exact in (None, False) if name.startswith("parity") else (None,):  # float mode: one row
            r = bench_statetrack(d, args.length, args.words, args.repeats, exact)
            wps = args.words / r["sample"]
            mode = "exact" if r["exact"] else "float"
            print(f"| {name} | {mode} | {r['build']:.3f} | {r['sample']:.3f} | {r['cpu']:.3f} | {wps:,.0f} | {r['peak'] / 2**20:.0f} | "
                  f"{peer * 1e3:.3f} | {peer_cpu * 1e3:.3f} | {wps * peer:.0f}x | "
                  f"{args.words / r['cpu'] * peer_cpu:.0f}x |", flush=True)


if __name__ == "__main__":
    main()
