"""The sections of a report, computed from the library's own results (nothing here decides a verdict or a size).

Each ``*_section`` function returns a :class:`Section` (id, heading, HTML body, and the data it shows as JSON); the
``report_*`` functions put them in the order of docs/report.md for each kind of input: a language, a compiled-model
file, a trained run folder, or a flash-linear-attention checkpoint.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import svg

#: languages whose minimal DFA has more states are drawn as a table instead of a graph
MAX_DRAWN_STATES = 40
#: D-classes with more cells are summarised instead of drawn cell by cell
MAX_EGGBOX_CELLS = 144
#: the syntactic monoid is not computed for a report beyond this many elements
REPORT_MAX_ELEMENTS = 50_000


@dataclass
class Section:
    """One part of the report: ``id`` (HTML anchor), ``heading``, ``body`` (HTML) and ``data`` (JSON-ready)."""

    id: str
    heading: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes of the section's HTML."""
        return len(self.body.encode("utf-8"))


@dataclass
class Report:
    """A report: its kind (``language`` | ``compiled`` | ``run`` | ``fla``), title line, and sections in order."""

    kind: str
    title: str
    summary: str
    sections: list[Section]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "summary": self.summary,
                "sections": [{"id": s.id, "heading": s.heading, "bytes": s.size, "data": s.data}
                             for s in self.sections]}


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _table(head: list[str], rows: list[list[object]], cls: str = "") -> str:
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, Raw) else _esc(c)}</td>" for c in row) + "</tr>"
                  for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>'


class Raw(str):
    """Table cell content that is already HTML."""


# --------------------------------------------------------------------------------------------------- language parts
def dfa_section(dfa) -> Section:
    """The minimal complete DFA, drawn (networkx spring layout beyond 12 states, a circle below)."""
    m = dfa.minimize()
    n = m.n_states
    names = [str(s) for s in m.states]
    edges: dict[tuple[int, int], list[str]] = {}
    for p in range(n):
        for a, sym in enumerate(m.alphabet):
            if int(m.delta[p, a]) >= 0:  # -1: the implicit rejecting sink, not drawn
                edges.setdefault((p, int(m.delta[p, a])), []).append(str(sym))
    data = {"states": n, "alphabet": list(m.alphabet), "start": names[m.start],
            "accepting": [names[i] for i in range(n) if m.accepting[i]]}
    if n > MAX_DRAWN_STATES:
        rows = [[names[p], "yes" if m.accepting[p] else "",
                 *[names[int(m.delta[p, a])] if m.delta[p, a] >= 0 else "(sink)" for a in range(len(m.alphabet))]]
                for p in range(min(n, 200))]
        body = (f"<p>{n} states: too many to draw; the first {min(n, 200)} rows of the transition table.</p>"
                + _table(["state", "accepting", *m.alphabet], rows, "wide"))
        return Section("dfa", "Minimal DFA", body, data)
    pos = None
    if n > 12:
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(range(n))
        g.add_edges_from((p, q) for (p, q) in edges if p != q)
        raw = nx.spring_layout(g, seed=0)
        xs, ys = [raw[i][0] for i in range(n)], [raw[i][1] for i in range(n)]
        lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
        pos = {i: ((raw[i][0] - lo_x) / ((hi_x - lo_x) or 1), (raw[i][1] - lo_y) / ((hi_y - lo_y) or 1))
               for i in range(n)}
    figure = svg.dfa_svg(names, m.start, [bool(x) for x in m.accepting], edges, pos)
    caption = (f"{n} states over {{{', '.join(map(str, m.alphabet))}}}; start {names[m.start]}; double circles "
               f"accept.")
    return Section("dfa", "Minimal DFA", f'<figure>{figure}<figcaption>{_esc(caption)}</figcaption></figure>', data)


def monoid_section(dfa) -> Section:
    """The syntactic monoid's egg-box: every D-class as a grid of R-classes (rows) by L-classes (columns)."""
    from statetrack.automata.green import egg_box_grid
    from statetrack.automata.groups import distinct_groups
    from statetrack.automata.monoid import minimal_complete_dfa, transition_monoid
    from statetrack.errors import StateLimitError

    mdfa = minimal_complete_dfa(dfa)
    try:
        m = transition_monoid(mdfa, max_elements=REPORT_MAX_ELEMENTS)
    except StateLimitError as exc:
        return Section("monoid", "Syntactic monoid", f"<p>Not drawn: {_esc(exc)}</p>", {"skipped": str(exc)})
    g = m.green()
    groups = [s.info.to_json() for s in distinct_groups(m.maximal_subgroups())]
    parts = []
    d_data = []
    for dc in range(g.n_d):
        info = g.d_summary(dc)
        rows, cols, cell, group_cells = egg_box_grid(g, dc)
        head = (f"D{dc}: rank {info['rank']}, {len(rows)} R × {len(cols)} L, |H| = {info['h_size']}"
                + ("" if info["regular"] else ", not regular"))
        d_data.append({"d": dc, "rank": info["rank"], "r": len(rows), "l": len(cols), "h": info["h_size"],
                       "regular": bool(info["regular"])})
        if len(rows) * len(cols) > MAX_EGGBOX_CELLS:
            parts.append(f'<div class="dclass"><div class="dhead">{_esc(head)}</div><p>{info["size"]} elements '
                         f'(grid not drawn beyond {MAX_EGGBOX_CELLS} cells)</p></div>')
            continue
        trs = []
        for rr in rows:
            tds = []
            for ll in cols:
                if (rr, ll) not in cell:
                    tds.append("<td></td>")
                    continue
                word = mdfa.word_str(m.word(cell[(rr, ll)])) or "1"
                cls = ' class="group"' if (rr, ll) in group_cells else ""
                tds.append(f"<td{cls}>{_esc(word if len(word) <= 8 else word[:7] + '…')}</td>")
            trs.append("<tr>" + "".join(tds) + "</tr>")
        parts.append(f'<div class="dclass"><div class="dhead">{_esc(head)}</div><table class="eggbox">'
                     + "".join(trs) + "</table></div>")
    gtext = ", ".join(f"{gr['name']} (order {gr['order']})" for gr in groups) or "all trivial (aperiodic)"
    body = (f"<p>{m.size} elements, {int(g.idempotent.sum())} idempotents, {g.n_d} D-classes; maximal subgroups: "
            f"{_esc(gtext)}. Shaded cells are H-classes holding an idempotent (maximal subgroups); a cell shows the "
            f"shortest word of its first element.</p><div class=\"eggboxes\">" + "".join(parts) + "</div>")
    return Section("monoid", "Syntactic monoid", body, {"size": m.size, "d_classes": d_data, "groups": groups})


def verdict_section(dfa) -> tuple[Section, Any]:
    """The verdict per LRNN family (constructions.sizing.classify_language), with theorem, size and reason."""
    from statetrack.constructions.sizing import classify_language

    c = classify_language(dfa, max_elements=REPORT_MAX_ELEMENTS)
    rows = []
    for fam, v in c.families.items():
        cons = v.get("construction") or {}
        size = "/".join("?" if cons.get(k) is None else str(cons.get(k))
                        for k in ("layers", "state_size", "factors_per_token")) if cons else ""
        badge = Raw(f'<span class="v-{_esc(v["verdict"]).replace("=", "")}">{_esc(v["verdict"])}</span>')
        rows.append([fam, badge, v.get("theorem", ""), size, v.get("reason", "")])
    body = _table(["family", "verdict", "theorem", "layers/state/factors", "reason (witness)"], rows, "verdicts")
    return Section("verdicts", "What each LRNN family can do", body, c.to_json()), c


def compiled_section(model, report: dict | None = None, numeric_len: int = 256) -> Section:
    """The compiled model: layers and factors, the exact proof, and the numeric check per dtype and kernel."""
    from statetrack.constructions import prove
    from statetrack.lrnn.verify_numeric import run_numeric

    proof = prove(model)
    layers = model.meta["layers"]
    rows = [[l + 1, info.get("kind", ""), info.get("n", info.get("dim", "")), info.get("factors", ""),
             info.get("codes", "")] for l, info in enumerate(layers)]
    numeric = []
    for dtype in ("float32", "bfloat16"):
        for kernel in ("reference", "chunked"):
            res = run_numeric(model, dtype, max_len=numeric_len, samples=16, kernel=kernel).to_json()
            numeric.append({"dtype": dtype, "kernel": kernel, **res})
    nrows = [[r["dtype"], r["kernel"], f"{r['errors']}/{r['tested']}",
              r["max_drift"] if isinstance(r["max_drift"], str) else f"{r['max_drift']:.2g}",
              r.get("first_fail_length") or ""] for r in numeric]
    head = (f"<p>construction <b>{_esc(model.meta.get('construction'))}</b>, {len(layers)} layer(s); exact proof "
            f"(every length, rational arithmetic): <b>{'proved' if proof.proved else 'FAILED'}</b>"
            + (f", counterexample {_esc(proof.counterexample)}" if getattr(proof, 'counterexample', None) else "")
            + ".</p>")
    body = (head + _table(["layer", "kind", "state size", "factors/token", "codes"], rows)
            + f"<p>Numeric runs: {numeric_len} tokens × 16 random words per dtype and kernel.</p>"
            + _table(["dtype", "kernel", "wrong words", "max drift", "first failing length"], nrows))
    data = {"construction": model.meta.get("construction"), "layers": layers, "proved": bool(proof.proved),
            "numeric": numeric}
    if report:
        data["compile"] = report
    return Section("compiled", "Compiled model", body, data)


def eigen_section(groups: list[tuple[str, list[complex]]], note: str) -> Section:
    """The transition eigenvalues on the unit circle."""
    figure = svg.unit_circle_svg(groups, "transition eigenvalues")
    radius = max((abs(z) for _, zs in groups for z in zs), default=0.0)
    data = {"groups": [{"label": k, "eigenvalues": [[z.real, z.imag] for z in zs]} for k, zs in groups],
            "spectral_radius": radius}
    return Section("eigenvalues", "Transition eigenvalues",
                   f"<figure>{figure}<figcaption>{_esc(note)} Largest modulus {radius:.4g}.</figcaption></figure>",
                   data)


def model_eigen_section(model, symbols: list[str] | None = None) -> Section:
    """The eigenvalues of ``A(x)`` from :func:`statetrack.lrnn.claims.spectra.symbol_spectra` (the numbers ``claims
    spectrum`` prints): every layer of a compiled model; a trained model's first layer with each symbol held constant.
    ``symbols`` names a trained model's first ids (the rest, e.g. padding, are left out)."""
    from statetrack.lrnn.claims.spectra import symbol_spectra

    entries = symbol_spectra(model)
    if symbols is not None:
        entries = [dict(e, symbol=name) for e, name in zip(entries, symbols)]
    groups = [(f"layer {e['layer']}, symbol {e['symbol']}", [complex(*z) for z in e["eigenvalues"]])
              for e in entries]
    note = ("Eigenvalues of A(x) per layer and input symbol" if symbols is None else
            "Eigenvalues of the first layer's A(x) with symbol x held constant, all heads")
    return eigen_section(groups[:8], note + (" (the first eight)." if len(groups) > 8 else "."))


# ------------------------------------------------------------------------------------------------------- run parts
def training_section(run_dir: Path) -> Section:
    """The loss and training accuracy against the step, from the run's ``metrics.jsonl``."""
    steps, loss, acc = [], [], []
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                    steps.append(float(rec["step"]))
                    loss.append(float(rec["loss"]))
                    acc.append(float(rec["accuracy"]))
                except (ValueError, KeyError, TypeError):
                    continue
    if not steps:
        return Section("training", "Training", "<p>No metrics were logged.</p>", {"steps": 0})
    top = max(1.0, max((x for x in loss if math.isfinite(x)), default=1.0))
    chart = svg.line_chart_svg([("loss", steps, loss), ("train accuracy", steps, acc)], "step", "value",
                               y_range=(0.0, top), title="training curves")
    return Section("training", "Training", f"<figure>{chart}</figure>",
                   {"steps": int(steps[-1]), "final_loss": loss[-1], "final_accuracy": acc[-1]})


def length_section(predict: Callable, task, train_lengths: tuple[int, int] | None, max_len: int,
                   per_length: int = 32) -> Section:
    """Accuracy against length (lo..max_len in up to 40 steps), the training range shaded."""
    from statetrack.lrnn.evaluate import evaluate

    Ts = sorted({int(round(x)) for x in np.geomspace(1, max_len, num=min(40, max_len))})
    xs, ys, ss = [], [], []
    for T in Ts:
        r = evaluate(predict, task, (T, T), per_length=per_length, seed=0)["per_length"][str(T)]
        xs.append(T)
        ys.append(r["accuracy"])
        ss.append(r["scaled_accuracy"])
    chart = svg.line_chart_svg([("accuracy", xs, ys), ("scaled accuracy", xs, ss)], "word length", "accuracy",
                               y_range=(0.0, 1.0), shade=train_lengths, shade_label="training lengths",
                               title="accuracy against length", log_x=True)
    data = {"lengths": xs, "accuracy": ys, "scaled_accuracy": ss, "train_lengths": list(train_lengths or [])}
    return Section("lengths", "Accuracy against length", f"<figure>{chart}<figcaption>{per_length} words per length"
                   f"; scaled accuracy is 0 at chance and 1 when perfect.</figcaption></figure>", data)


def title_line(name: str, classification) -> tuple[str, str]:
    """``(title, summary)``: the language and its main verdict (the families that can and cannot recognise it)."""
    fams = classification.families
    can = [f for f, v in fams.items() if v["verdict"] == "constructible" and f != "unconstrained"]
    cannot = [f for f, v in fams.items() if v["verdict"].startswith("impossible")]
    summary = (f"constructible: {', '.join(can) or 'none of the LRNN families'}; "
               f"impossible: {', '.join(cannot) or 'none'}")
    return f"statetrack report: {name}", summary


__all__ = ["Section", "Report", "dfa_section", "monoid_section", "verdict_section", "compiled_section",
           "model_eigen_section", "training_section", "length_section", "title_line",
           "eigen_section", "MAX_DRAWN_STATES", "MAX_EGGBOX_CELLS", "REPORT_MAX_ELEMENTS"]
