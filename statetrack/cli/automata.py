"""CLI commands on languages and DFAs: ``dfa``, ``accepts``, ``equiv``, ``langs``.

None of them imports torch; handlers import the automata modules lazily so that
``statetrack dfa ...`` starts fast.
"""
from __future__ import annotations

import argparse
import sys

from statetrack.cli.common import add_json, add_source, check_sep, emit, load_source, table

#: Rows of the transition table printed by ``statetrack dfa`` before it abbreviates.
SUMMARY_ROWS = 200


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dfa", help="the minimal complete DFA of a language; print or convert it",
        description="Build the minimal complete DFA of a language source and print a summary, or write it "
                    "as DFA JSON, graphviz DOT or JFLAP .jff.")
    add_source(p)
    p.add_argument("--format", choices=["summary", "json", "dot", "jff"], default=None,
                   help="what to print (default: a summary), or the file format for -o (default: from the suffix)")
    p.add_argument("-o", "--output", metavar="F", help="write the DFA to F (atomically)")
    p.add_argument("--no-minimize", action="store_true",
                   help="keep the DFA as loaded (state names, partial transitions) instead of minimising it")
    add_json(p)
    p.set_defaults(func=_cmd_dfa)

    p = sub.add_parser(
        "accepts", help="membership of words",
        description="Say for each word whether the language accepts it. A word is a string of one-character "
                    "symbols, or symbols separated by --sep. Exit 0 whatever the answers.")
    add_source(p)
    p.add_argument("words", nargs="*", metavar="WORD", help="words to test ('' is the empty word; put -- before "
                                                            "words that start with '-')")
    p.add_argument("--words-file", metavar="F",
                   help="also test the words of F, one a line (an empty line is the empty word; '-' = stdin)")
    p.add_argument("--sep", metavar="S", default=None, help="symbol separator inside a word (e.g. ' ')")
    add_json(p)
    p.set_defaults(func=_cmd_accepts)

    p = sub.add_parser(
        "equiv", help="language equivalence with a shortest counterexample",
        description="Decide whether two language sources denote the same language; otherwise print a shortest "
                    "(then lexicographically least) word in exactly one of them. Exit 1 when not equivalent.")
    add_source(p)
    add_source(p, suffix="2")
    add_json(p)
    p.set_defaults(func=_cmd_equiv)

    p = sub.add_parser("langs", help="list the language catalog",
                       description="List the catalog languages usable with --lang, one line each.")
    add_json(p)
    p.set_defaults(func=_cmd_langs)


# ---------------------------------------------------------------------------- dfa
def _cmd_dfa(args: argparse.Namespace) -> int:
    d = load_source(args, minimize=not args.no_minimize)
    fmt = None if args.format in (None, "summary") else args.format
    obj = {**d.to_json(), "n_states": d.n_states, "complete": d.is_complete, "minimized": not args.no_minimize}
    if args.output:
        from statetrack.automata.formats import format_of, save_dfa

        fmt = format_of(args.output, fmt)
        save_dfa(d, args.output, fmt)
        obj.update(output=args.output, format=fmt)
        emit(args, obj, f"wrote {args.output} ({fmt}, {d.n_states} states, {d.n_symbols} symbols)")
        return 0
    if fmt is not None:
        from statetrack.automata.formats import dfa_to_text

        text = dfa_to_text(d, fmt)
        obj.update(format=fmt, text=text)
        emit(args, obj, text.rstrip("\n"))
        return 0
    emit(args, obj, lambda: _summary(d))
    return 0


def _summary(d) -> str:
    acc = [d.states[q] for q in range(d.n_states) if d.accepting[q]]
    head = [
        f"states: {d.n_states}{'' if d.is_complete else ' (partial: missing transitions reject)'}",
        f"alphabet: {' '.join(d.alphabet)}",
        f"start: {d.states[d.start]}",
        f"accepting: {' '.join(acc) if acc else '(none)'}",
        "",
    ]
    rows = []
    for q in range(min(d.n_states, SUMMARY_ROWS)):
        mark = ("->" if q == d.start else "") + ("*" if d.accepting[q] else "")
        rows.append([mark, d.states[q]] + [d.states[t] if t >= 0 else "-" for t in map(int, d.delta[q])])
    lines = head + [table(rows, ["", "state"] + list(d.alphabet))]
    if d.n_states > SUMMARY_ROWS:
        lines.append(f"... {d.n_states - SUMMARY_ROWS} more states (use --format json)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- accepts
def _read_words_file(path: str) -> list[str]:
    from statetrack.untrusted import read_lines, split_lines

    if path == "-":
        return split_lines(sys.stdin.read())
    return read_lines(path, "words")  # a regular UTF-8 file within its size limit; errors name the file and line


def _cmd_accepts(args: argparse.Namespace) -> int:
    from statetrack.errors import AlphabetError, StatetrackError

    check_sep(args.sep)
    d = load_source(args, minimize=False)
    items: list[tuple[str, str]] = [(w, f"word {i + 1} {w!r}") for i, w in enumerate(args.words)]
    if args.words_file:
        items += [(w, f"{args.words_file} line {i + 1}") for i, w in enumerate(_read_words_file(args.words_file))]
    if not items:
        raise StatetrackError("accepts: give words to test, or --words-file F")
    results = []
    for word, place in items:
        try:
            syms = d.tokenize(word, sep=args.sep)
        except AlphabetError as exc:
            hint = "" if args.sep is not None or d.single_char else \
                " (the alphabet has multi-character symbols: separate them with --sep, e.g. --sep ' ')"
            raise AlphabetError(f"{place}: {exc}{hint}") from None
        results.append({"word": word, "accepted": d.accepts(syms)})
    n_acc = sum(r["accepted"] for r in results)
    emit(args, {"results": results, "accepted": n_acc, "total": len(results)},
         lambda: table([[r["word"] if r["word"] != "" else "ε", "yes" if r["accepted"] else "no"] for r in results],
                       ["word", "accepted"]))
    return 0


# ---------------------------------------------------------------------------- equiv
def _cmd_equiv(args: argparse.Namespace) -> int:
    first = load_source(args, "", minimize=False)
    second = load_source(args, "2", minimize=False)
    r = first.equivalent(second)
    if r.equivalent:
        emit(args, {"equivalent": True, "counterexample": None, "counterexample_symbols": None, "accepted_by": None},
             "equivalent")
        return 0
    cx = r.counterexample
    text = "".join(cx) if all(len(s) == 1 for s in cx) else " ".join(cx)
    side = "first" if r.accepted_by == "left" else "second"
    shown = repr(text) if text else "ε (the empty word)"
    emit(args, {"equivalent": False, "counterexample": text, "counterexample_symbols": list(cx), "accepted_by": side},
         f"not equivalent: the shortest counterexample {shown} is accepted by the {side} language only")
    return 1


# ---------------------------------------------------------------------------- langs
def _cmd_langs(args: argparse.Namespace) -> int:
    from statetrack.automata.catalog import list_languages

    langs = list_languages()
    emit(args, {"languages": [{"name": n, "description": t} for n, t in langs]},
         lambda: table([[n, t] for n, t in langs], ["name", "description"]))
    return 0
