"""Benchmark: transition monoids, Green's structure and groups against libsemigroups_pybind11.

Peers: ``FroidurePin`` (enumerates the elements: compared with our closure) and ``Konieczny``
(Green's structure without listing elements: compared with our full classification, which does
list them; it refuses degree > 64). Cases: the full transformation monoids T5..T8 (cycle,
transposition, collapse), random complete DFAs with 5-12 states, the 120-state S5 word-problem
DFA, and S_n / A_n solvability up to degree 10.

Run by hand (not a test)::

    python benchmarks/bench_monoid.py            # everything (FroidurePin on T8 takes about a minute)
    python benchmarks/bench_monoid.py --quick    # skip T8 for the peer

Prints a table of medians (wall clock and CPU time, because shared machines are noisy) and the
ratios peer / ours (> 1: we are faster).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.automata.monoid import closure, transition_monoid


def t_n(n: int) -> np.ndarray:
    cyc = np.roll(np.arange(n), -1)
    tr = np.arange(n)
    tr[[0, 1]] = [1, 0]
    col = np.arange(n)
    col[0] = 1
    return np.stack([cyc, tr, col])


def random_dfa(n: int, k: int, seed: int) -> DFA:
    rng = np.random.default_rng(seed)
    return DFA([chr(97 + a) for a in range(k)], None, 0, rng.random(n) < 0.5, rng.integers(0, n, (n, k)))


def s5_dfa() -> DFA:
    gens = [(1, 0, 2, 3, 4), (1, 2, 3, 4, 0)]
    ident = tuple(range(5))
    elems, index, rows = [ident], {ident: 0}, []
    i = 0
    while i < len(elems):
        row = []
        for h in gens:
            p = tuple(h[elems[i][q]] for q in range(5))
            if p not in index:
                index[p] = len(elems)
                elems.append(p)
            row.append(index[p])
        rows.append(row)
        i += 1
    return DFA(["t", "c"], None, 0, [e == ident for e in elems], rows)


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``fn()`` over ``repeat`` runs, and its last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - w)
    return statistics.median(walls), statistics.median(cpus), out


def classify_all(gens: np.ndarray):
    """Our full classification: closure, Green's R/L/H/D, maximal subgroups with solvability."""
    m = closure(gens, max_elements=10**8)
    g = m.green()
    subs = m.maximal_subgroups()
    return m.size, g.n_d, g.n_r, g.n_l, g.n_h, [s.info.solvable for s in subs]


def _peer_gens(gens: np.ndarray) -> list:
    """The generators plus the identity (a transition monoid contains the empty word)."""
    from libsemigroups_pybind11 import Transf

    return [Transf(list(map(int, g))) for g in gens] + [Transf(list(range(gens.shape[1])))]


def peer_size(gens: np.ndarray) -> int:
    from libsemigroups_pybind11 import FroidurePin

    return FroidurePin(_peer_gens(gens)).size()


def peer_green(gens: np.ndarray):
    from libsemigroups_pybind11 import Konieczny

    k = Konieczny(_peer_gens(gens))
    k.run()
    return k.size(), k.number_of_D_classes(), k.number_of_R_classes(), k.number_of_L_classes(), k.number_of_H_classes()


def t8_in_subprocess() -> tuple[float, float, float]:
    """Wall, CPU seconds and peak RSS (GiB) of the T8 closure in a fresh process."""
    code = ("import time,resource,json,sys; sys.path.insert(0, %r); from bench_monoid import t_n; "
            "from statetrack.automata.monoid import closure; g=t_n(8); w=time.perf_counter(); c=time.process_time(); "
            "m=closure(g, max_elements=10**8); print(json.dumps([time.perf_counter()-w, time.process_time()-c, "
            "m.size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))")
    code %= os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    wall, cpu, size, rss_kb = json.loads(out.strip().splitlines()[-1])
    assert size == 8 ** 8
    return wall, cpu, rss_kb / 2 ** 20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip FroidurePin on T8")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from libsemigroups_pybind11 import ReportGuard

    ReportGuard(False)
    rows = []

    def row(case, what, ours, ours_cpu, peer, note="", peer_cpu=None):
        ratio = f"{peer / ours:.2f}" if peer is not None and ours > 0 else "-"
        ratio_cpu = f"{peer_cpu / ours_cpu:.2f}" if peer_cpu is not None and ours_cpu > 0 else "-"
        rows.append([case, what, f"{ours:.4f}", f"{ours_cpu:.4f}", "-" if peer is None else f"{peer:.4f}",
                     "-" if peer_cpu is None else f"{peer_cpu:.4f}", ratio, ratio_cpu, note])

    # ---- sizes: closure vs FroidurePin
    for n in (5, 6, 7):
        g = t_n(n)
        w, c, m = timed(lambda: closure(g, max_elements=10**8), args.repeat)
        pw, pc, ps = timed(lambda: peer_size(g), args.repeat)
        assert m.size == ps == n ** n
        row(f"T{n}", "size (FroidurePin)", w, c, pw, f"{m.size} elements", pc)
    wall, cpu, rss = t8_in_subprocess()
    peer = peer_cpu = None
    if not args.quick:
        peer, peer_cpu, ps = timed(lambda: peer_size(t_n(8)), 1)
        assert ps == 8 ** 8
    row("T8", "size (FroidurePin)", wall, cpu, peer, f"16777216 elements, peak RSS {rss:.2f} GiB", peer_cpu)

    # ---- random DFAs (5-12 states): size and Green's structure
    for n in (5, 6, 8, 10, 12):
        for seed in range(2):
            d = random_dfa(n, 3, 1000 * n + seed)
            gens = d.complete().delta.T
            w, c, m = timed(lambda: transition_monoid(d, max_elements=10**7), args.repeat)
            pw, pc, ps = timed(lambda: peer_size(gens), args.repeat)
            assert m.size == ps
            row(f"random n={n} s={seed}", "size (FroidurePin)", w, c, pw, f"{m.size} elements", pc)
            w, c, ours = timed(lambda: classify_all(gens), 1 if m.size > 10**5 else args.repeat)
            pw, pc, theirs = timed(lambda: peer_green(gens), 1 if m.size > 10**5 else args.repeat)
            assert tuple(ours[:5]) == tuple(theirs), (ours, theirs)
            row(f"random n={n} s={seed}", "Green + groups (Konieczny)", w, c, pw, f"{ours[1]} D-classes", pc)

    # ---- full classification of T5..T7
    for n in (5, 6, 7):
        g = t_n(n)
        w, c, ours = timed(lambda: classify_all(g), 1 if n == 7 else args.repeat)
        pw, pc, theirs = timed(lambda: peer_green(g), 1 if n == 7 else args.repeat)
        assert tuple(ours[:5]) == tuple(theirs)
        row(f"T{n}", "Green + groups (Konieczny)", w, c, pw, f"{ours[4]} H-classes; groups S1..S{n}", pc)

    # ---- S5 word problem (degree 120: Konieczny refuses degree > 64)
    d = s5_dfa()
    gens = d.delta.T
    w, c, m = timed(lambda: transition_monoid(d), args.repeat)
    pw, pc, ps = timed(lambda: peer_size(gens), args.repeat)
    assert m.size == ps == 120
    row("S5 word problem", "size (FroidurePin)", w, c, pw, "degree 120", pc)
    w, c, ours = timed(lambda: classify_all(gens), args.repeat)
    assert ours[5] == [False]
    row("S5 word problem", "Green + groups", w, c, None, "Konieczny: degree > 64 refused; not solvable")

    # ---- S_n / A_n solvability (sympy Schreier-Sims, derived series)
    from sympy.combinatorics import PermutationGroup
    from sympy.combinatorics.named_groups import AlternatingGroup, SymmetricGroup

    from statetrack.automata.groups import group_info

    for n in (5, 8, 10):
        for name, G in (("S", SymmetricGroup(n)), ("A", AlternatingGroup(n))):
            w, c, info = timed(lambda: group_info(PermutationGroup(G.generators)), args.repeat)
            assert info.solvable is False and info.name == f"{name}{n}"
            row(f"{name}{n}", "group_info (solvable, name)", w, c, None, "")

    header = ["case", "task (peer)", "ours wall s", "ours CPU s", "peer wall s", "peer CPU s", "peer/ours wall",
              "peer/ours CPU", "note"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print(f"# bench_monoid  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"{platform.processor() or platform.machine()}  {os.cpu_count()} CPUs")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |")


if __name__ == "__main__":
    main()
