"""``statetrack monoid`` (syntactic monoid, Green's structure, groups) and ``statetrack classify`` (verdicts)."""
from __future__ import annotations

import argparse

from statetrack.vocabulary import CLASSIFY_PRECISIONS

from .common import add_json, add_source, emit, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monoid", help="syntactic monoid: size, idempotents, Green's D-classes, maximal subgroups",
                       description="Syntactic monoid of the language (transition monoid of its minimal complete "
                                   "DFA): size, idempotents, aperiodicity, D-classes and maximal subgroups.")
    add_source(p)
    p.add_argument("--max-elements", type=int, default=1_000_000, metavar="N",
                   help="stop when the monoid grows beyond N elements (default 1000000)")
    p.add_argument("--dot", metavar="FILE", help="write the egg-box picture of the D-classes as DOT")
    p.add_argument("--elements", action="store_true", help="list every element with its shortest word")
    add_json(p)
    p.set_defaults(func=run_monoid)

    c = sub.add_parser("classify", help="which LRNN families can recognise the language (with theorem and witness)",
                       description="Verdict per LRNN family (impossible, impossible-unless-TC0=NC1, constructible, "
                                   "open) with the theorem it rests on, a reason naming a witness, and the size of "
                                   "the known construction.")
    add_source(c)
    c.add_argument("--precision", choices=CLASSIFY_PRECISIONS, default="finite",
                   help="precision regime of the impossibility arguments (default: finite, as in the paper)")
    c.add_argument("--max-elements", type=int, default=1_000_000, metavar="N",
                   help="stop when the syntactic monoid grows beyond N elements (default 1000000)")
    add_json(c)
    c.set_defaults(func=run_classify)


def _load(args: argparse.Namespace):
    from .common import load_source

    # The syntactic monoid minimises the DFA itself (statetrack.automata.monoid.minimal_complete_dfa).
    return load_source(args, minimize=False)


def _max_elements(args: argparse.Namespace) -> int:
    from statetrack.errors import StatetrackError

    if args.max_elements < 1:
        raise StatetrackError(f"--max-elements must be positive, got {args.max_elements}")
    return args.max_elements


def run_monoid(args: argparse.Namespace) -> int:
    import sys

    from statetrack.automata.green import egg_box_dot
    from statetrack.automata.monoid_report import monoid_report
    from statetrack.fileio import atomic_write_text

    max_elements = _max_elements(args)
    result = monoid_report(_load(args), max_elements, args.elements, progress=sys.stderr.isatty())
    report = result.to_json()
    if args.dot:
        atomic_write_text(args.dot, egg_box_dot(result.monoid))
        report["dot"] = args.dot

    def text() -> str:
        lines = [f"states {report['states']}, monoid size {report['monoid_size']}, idempotents "
                 f"{report['idempotents']}, aperiodic {report['aperiodic']}, group {report['is_group']}",
                 f"R-classes {report['r_classes']}, L-classes {report['l_classes']}, H-classes {report['h_classes']}, "
                 f"D-classes {len(report['d_classes'])}"]
        rows = [[i, d["rank"], d["size"], f"{d['r_classes']}x{d['l_classes']}", d["h_size"], d["regular"],
                 d["representative"] or "1"] for i, d in enumerate(report["d_classes"])]
        lines.append(table(rows, ["D", "rank", "size", "RxL", "|H|", "regular", "word"]))
        if report["groups"]:
            lines.append("maximal subgroups: " + ", ".join(
                f"{gr['name']} (order {gr['order']}, {'solvable' if gr['solvable'] else 'not solvable'})"
                for gr in report["groups"]))
        else:
            lines.append("maximal subgroups: all trivial")
        if report.get("elements"):
            lines.append(table([[e["word"] or "1", e["map"], e["idempotent"]] for e in report["elements"]],
                               ["word", "map", "idempotent"]))
        return "\n".join(lines)

    emit(args, report, text)
    return 0


def run_classify(args: argparse.Namespace) -> int:
    from statetrack.constructions.sizing import classify_language

    max_elements = _max_elements(args)
    result = classify_language(_load(args), precision=args.precision, max_elements=max_elements).to_json()

    def text() -> str:
        head = (f"states {result['states']}, monoid size {result['monoid_size']}, aperiodic {result['aperiodic']}, "
                f"groups: {', '.join(g['name'] for g in result['groups']) or 'trivial'}")
        rows = []
        for fam, v in result["families"].items():
            c = v["construction"]
            size = "" if not c else "/".join("?" if c[k] is None else str(c[k])
                                              for k in ("layers", "state_size", "factors_per_token"))
            lb = (c or {}).get("lower_bound")
            fb = None if not lb else lb["factors_per_token"]
            bound = "" if not lb else f"{lb['layers']}/-/{'?' if fb is None else fb}"
            bound += " optimal" if (c or {}).get("optimal") else ""
            rows.append([fam, v["verdict"], v["theorem"], size, bound])
        lines = [head, table(rows, ["family", "verdict", "theorem", "layers/state/factors", "lower bound"]), ""]
        lines += [f"{fam}: {v['reason']}" for fam, v in result["families"].items()]
        return "\n".join(lines)

    emit(args, result, text)
    return 0
