"""``certify``: prove that a model classifies every word as a DFA does, find a counterexample, or say why not.

Trained one-layer models (:class:`~statetrack.lrnn.model.LRNNModel`):

1. **Search.** Run the model (as it is, in its own dtype) on every short word and on random long words; a
   misclassified prefix, re-checked on the word alone, is a ``counterexample``.
2. **Regions.** Build the window graph (DFA state x last ``c - 1`` tokens x length capped at
   ``max(c - 1, min_length)``, :mod:`.window_graph`) and the affine update of every edge (:mod:`.window_steps`).
   Where saturated gates make some maps exact (identities, reflections, sign flips), first try regions anchored at
   representative words, whose defects vanish exactly where the words are equal as compositions of maps
   (:mod:`.anchored`); otherwise, or if that fails, grow per-node boxes of the recurrent state until each edge maps its source's box into its target's
   (:mod:`.regions`); when one step does not close them, boxes are closed through paths of up to 64 steps
   (:mod:`.paths`). The empty word's state is exactly 0, so by induction on the length every word's state lies in
   its node's box (or, between re-entries, in a checked path image).
3. **Readout.** For every edge into a node of length >= ``min_length``, interval bounds through the output norm,
   gate, projection, MLP, final norm and head (:mod:`.readout`) show that the DFA's class has the largest logit
   on the whole box. Then every word of length >= ``min_length`` is classified right, at every length.

Multi-layer models without short convolutions: the regions are carried through the layers on a product graph
(:mod:`.stack`): each layer's regions bound the next layer's inputs, whose coefficients are then intervals.

The bounds hold for the model's function in real arithmetic (``arithmetic = "real"``); the float32 execution of
the model is covered by the search only. Anything that fails in 2 or 3 gives ``inconclusive`` with the reason.
Compiled models go through the constructions' exact proof (:func:`certify_compiled`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from statetrack.automata.dfa import DFA
from statetrack.errors import StateLimitError, StatetrackError

from ..model import LRNNModel
from .certificate import Certificate
from .readout import margin_lower_bound
from .intervals import Interval
from .anchored import anchored_regions, refine_by_normal_forms
from .paths import close_by_paths, edge_image_output, output_bounds
from .regions import choose_basis, grow_regions, hull_boxes, simulate
from .row_parameters import parameter_regions, readout_margins
from .search import search_counterexample
from .stack import certify_stack
from .window_graph import WindowGraph, build_window_graph
from .window_steps import KIND_NAMES, float64_copy, window_steps, window_width


#: the most window-graph nodes a deeper try of the per-row parameter regions may have (``certify(deepen=)``)
DEEPEN_NODES = 4096


def state_classes(dfa: DFA, labels: str) -> np.ndarray:
    """The class the model must give after a prefix ending in each DFA state: ``final`` -> accept = 1, reject =
    0; ``per-token`` -> the state id."""
    if labels == "final":
        return dfa.accepting.astype(np.int64)
    if labels == "per-token":
        return np.arange(dfa.n_states, dtype=np.int64)
    raise StatetrackError(f"certify: labels must be 'final' or 'per-token'; got {labels!r}")


def certify(model: LRNNModel, dfa: DFA, *, labels: str = "final", min_length: int = 1, search: bool = True,
            seed: int = 0, max_rounds: int = 3000, search_lengths: tuple[int, ...] = (64, 256, 1024, 4096),
            search_words: int = 4096, history: int = 0, max_boxes: int = 50_000, progress: bool = False,
            deepen: int = 6) -> Certificate:
    """Certify a trained :class:`LRNNModel` against ``dfa`` (complete; symbol ids = the model's token ids, so its
    alphabet is the model's vocabulary without the padding id). ``min_length``: the claim covers words of at least
    this length (a model trained on lengths ``a..b`` is not asked about shorter words). ``search_words``: the
    exhaustive search covers every word up to the longest length with at most this many words;
    ``search_lengths``: lengths of the random words searched next (16 of each); ``history``: tokens kept per
    window-graph node (at least ``c - 1``; more split each node's states into finer boxes, ``|Sigma|`` times more
    nodes per extra token); ``max_boxes``: the most readout boxes the branch and bound of diagonal layers
    evaluates (:func:`.row_parameters.readout_margins`), per try; ``deepen``: diagonal layers whose readout is not
    separated are tried again with nodes that keep 2, 4, ... up to this many more of the last tokens (at most
    :data:`DEEPEN_NODES` nodes): leaky rows forget, so their boxes narrow; ``progress``: a bar on stderr while it
    runs long."""
    if not isinstance(model, LRNNModel):
        raise StatetrackError(f"certify: a trained LRNN model is needed; got {type(model).__name__}")
    if min_length < 1:
        raise StatetrackError(f"certify: min_length must be >= 1; got {min_length}")
    dfa = dfa.complete()
    if dfa.n_symbols > model.config.vocab_size:
        raise StatetrackError(f"certify: the DFA has {dfa.n_symbols} symbols, the model reads "
                              f"{model.config.vocab_size} token ids")
    classes = state_classes(dfa, labels)
    if int(classes.max()) >= model.config.n_classes:
        raise StatetrackError(f"certify: the labels need {int(classes.max()) + 1} classes, the model has "
                              f"{model.config.n_classes}")
    model = model.eval()
    base = {"min_length": min_length}
    if search:
        def predict(ids: torch.Tensor) -> torch.Tensor:
            return model(ids).argmax(-1)

        hit = search_counterexample(predict, dfa, classes, min_length, exhaustive_words=search_words,
                                   lengths=search_lengths, seed=seed)
        if hit is not None:
            word, pred, want = hit
            return Certificate("counterexample", "search", reason="the model misclassifies this word (checked by "
                               "running the model on it)", word=dfa.decode(word), predicted=pred, expected=want,
                               **base)
    if model.config.n_layers != 1:
        return certify_stack(float64_copy(model), dfa, classes, min_length, seed, max_rounds)
    return _certify_regions(model, dfa, classes, min_length, seed, max_rounds, history=history, max_boxes=max_boxes,
                            progress=progress, deepen=deepen)


def _certify_regions(model: LRNNModel, dfa: DFA, classes: np.ndarray, min_length: int, seed: int,
                     max_rounds: int, path_inflate: float = 1.5, max_depth: int = 64, history: int = 0,
                     max_boxes: int = 50_000, progress: bool = False, deepen: int = 6) -> Certificate:
    m64 = float64_copy(model)
    c = window_width(m64)
    cap = max(c - 1, history, min_length)
    graph = build_window_graph(dfa, c, cap, history)
    steps = window_steps(m64, graph.windows)
    seen = simulate(graph, steps, np.random.default_rng(seed))
    H, K = steps[0].B.shape[0], steps[0].B.shape[1]
    # diagonal layers: the axis basis, in which every update is a per-coordinate contraction (|a| < 1)
    basis = np.broadcast_to(np.eye(K), (H, K, K)).copy() if m64.config.layer == "diagonal" else \
        choose_basis(seen, H, K)
    details: dict = {"nodes": len(graph.nodes), "edges": len(graph.edges), "window": c}
    base = {"min_length": min_length, "details": details}

    def margin(e: int, o: Interval) -> float:  # on the graph of the moment (it is refined below)
        return _edge_margin(m64, graph, steps, classes, min_length)(e, o)

    anchored_reason = ""
    exact_counts = {KIND_NAMES[k]: int(sum((s.kinds == k).sum() for s in steps)) for k in range(1, len(KIND_NAMES))}
    if any(exact_counts.values()):
        # exact maps (saturated gates): regions anchored at representative words, exact relations for the defects
        diagonal = m64.config.layer == "diagonal"
        finer = refine_by_normal_forms(graph, steps, diagonal)
        if finer is not None:  # split nodes by the normal forms of the exact rows (their states are then exact)
            graph = finer
            steps = window_steps(m64, graph.windows)
            seen = simulate(graph, steps, np.random.default_rng(seed))
            details.update(nodes=len(graph.nodes), edges=len(graph.edges), split_by_normal_forms=True)
        anchor_basis = np.broadcast_to(np.eye(K), (H, K, K)).copy() if diagonal else basis
        free, _ = hull_boxes(graph, steps, seen, anchor_basis)
        anchored = anchored_regions(graph, steps, anchor_basis, diagonal, free_centre=free, max_rounds=max_rounds)
        details.update(exact_rows=exact_counts, **anchored.details)
        if anchored.closed:
            worst, where = np.inf, 0
            for e, (_, _, d) in enumerate(graph.edges):
                o = output_bounds(steps[e], anchored.centre[d], anchored.centre_err[d], anchor_basis,
                                  np.zeros_like(anchor_basis), anchored.radius[d])
                m = margin(e, o)
                if m < worst:
                    worst, where = m, e
            details["readout_margin"] = float(worst)
            if worst > 0:
                details["argument"] = "regions anchored at representative words (exact relations)"
                return Certificate("certified", "regions", reason="every reachable state lies in its node's region "
                                   "around the state of a representative word (exact reflections / sign flips / "
                                   "identities cancel exactly) and the readout is right on every region",
                                   arithmetic="real", **base)
            anchored_reason = (f"anchored regions: the readout bound does not separate the classes after words "
                               f"ending like {_word_to(graph, where, dfa)!r} (margin {worst:.3g}); ")
        else:
            anchored_reason = f"{anchored.reason}; "
    if m64.config.layer == "diagonal":
        # every row of a diagonal layer moves on the lines of its inputs: boxes of per-row parameters; where the
        # readout is not separated, nodes that keep more of the last tokens give narrower boxes (leaky rows forget)
        tries: list[dict] = []
        attempt: tuple[WindowGraph, list] | None = (graph, steps)
        for extra in range(0, max(deepen, 0) + 1, 2):
            if extra:
                attempt = _deeper_graph(m64, dfa, c, history + extra, min_length)
            if attempt is None:
                break
            g_try, s_try = attempt
            outcome, pdetails = _row_parameter_check(m64, g_try, s_try, classes, min_length, max_boxes, progress)
            tries.append({"history": history + extra, "nodes": len(g_try.nodes), "boxes": outcome.boxes,
                          "margin": float(outcome.worst)})
            details.update(pdetails, parameter_boxes=sum(t["boxes"] for t in tries), parameter_tries=tries)
            if outcome.worst > 0:
                details.update(readout_margin=float(outcome.worst), argument="per-row parameter intervals",
                               parameter_history=history + extra)
                return Certificate("certified", "regions", reason="every reachable state of each row is a "
                                   "combination of the row's inputs whose coefficients stay in their node's "
                                   "intervals (or grow along directions the readout was checked on at every "
                                   "scale), and the readout is right on every box of coefficients",
                                   arithmetic="real", **base)
            budget = f"{max_boxes} boxes, the budget" if outcome.exhausted else f"{outcome.boxes} boxes"
            last = (f"row parameters (history {history + extra}): the readout bound does not separate the classes "
                    f"after words ending like {_word_to(g_try, outcome.edge, dfa)!r} (margin {outcome.worst:.3g}, "
                    f"{budget}); ")
        anchored_reason += last
    regions = grow_regions(graph, steps, seen, basis, max_rounds=max_rounds)
    details.update(regions.details)

    def box_margins(centre: np.ndarray, radius: np.ndarray) -> tuple[float, int]:
        ms = [margin(e, edge_image_output(steps[e], centre[s], radius[s], basis))
              for e, (s, _, _) in enumerate(graph.edges)]
        e = int(np.argmin(ms))
        return float(ms[e]), e

    if regions.closed:
        details["argument"] = "one-step boxes"
        worst, where = box_margins(regions.centre, regions.radius)
    else:
        details["one_step"] = regions.reason
        details["argument"] = "boxes closed through paths"
        centre, radius = hull_boxes(graph, steps, seen, basis, inflate=path_inflate)
        worst, where = box_margins(centre, radius)
        if worst > 0:
            outcome = close_by_paths(graph, steps, centre, radius, basis, lambda e, o: margin(e, o) > 0,
                                     max_depth=max_depth)
            details.update(path_steps=outcome.expansions, deepest_path=outcome.deepest,
                           largest_radius=float(radius.max()))
            if not outcome.closed:
                return Certificate("inconclusive", "regions", reason=f"{anchored_reason}{regions.reason}; "
                                   f"{outcome.reason}", **base)
    details["readout_margin"] = float(worst)
    if worst <= 0:
        word = _word_to(graph, where, dfa)
        return Certificate("inconclusive", "regions", reason=f"{anchored_reason}the readout bound does not separate "
                           f"the classes on the box reached by words ending like {word!r} (margin {worst:.3g})",
                           **base)
    return Certificate("certified", "regions", reason="every reachable state stays in its node's box (checked "
                       "edge by edge or along paths) and the readout is right on every box", arithmetic="real",
                       **base)


def _row_parameter_check(m64: LRNNModel, graph: WindowGraph, steps: list, classes: np.ndarray, min_length: int,
                         max_boxes: int, progress: bool) -> tuple:
    """The per-row parameter regions of a diagonal one-layer model on ``graph`` and the branch and bound of its
    readout (:mod:`.row_parameters`): ``(MarginOutcome, details)``."""
    params = parameter_regions(graph, steps)
    margin = _edge_margin(m64, graph, steps, classes, min_length)
    return readout_margins(params, graph, steps, margin, max_boxes=max_boxes, progress=progress), params.details


def _edge_margin(m64: LRNNModel, graph: WindowGraph, steps: list, classes: np.ndarray, min_length: int):
    """``margin(e, o, o_eps=None)``: a lower bound of the right class's logit margin after edge ``e`` of ``graph``
    for scan outputs in ``o`` (:func:`.readout.margin_lower_bound`); ``inf`` into nodes shorter than
    ``min_length``, where no claim is made."""
    def margin(e: int, o: Interval, o_eps: tuple[np.ndarray, np.ndarray] | None = None) -> float:
        q, _, n = graph.nodes[graph.edges[e][2]]
        return np.inf if n < min_length else margin_lower_bound(m64, steps[e], o, int(classes[q]), o_eps=o_eps)
    return margin


def _deeper_graph(m64: LRNNModel, dfa: DFA, c: int, history: int, min_length: int
                  ) -> tuple[WindowGraph, list] | None:
    """The window graph keeping ``history`` tokens per node (split by the normal forms of exact rows), with its
    steps; None past :data:`DEEPEN_NODES` nodes."""
    try:
        graph = build_window_graph(dfa, c, max(c - 1, history, min_length), history, max_nodes=DEEPEN_NODES)
    except StateLimitError:
        return None
    steps = window_steps(m64, graph.windows)
    finer = refine_by_normal_forms(graph, steps, True, max_nodes=DEEPEN_NODES)
    if finer is not None:
        graph, steps = finer, window_steps(m64, finer.windows)
    return graph, steps


def _word_to(graph, edge: int, dfa: DFA) -> str:
    window = graph.windows[edge]
    return dfa.word_str(dfa.decode(window))


# ------------------------------------------------------------------------------------------------ compiled models
def certify_compiled(compiled, dfa: DFA | None = None) -> Certificate:
    """Certify a compiled model (a ``CompiledModel`` or its file) through the constructions' exact proof; with
    ``dfa``, the model's own DFA must also be equivalent to it (else the distinguishing word, run on the model, is
    the counterexample)."""
    from statetrack.constructions.model_format import CompiledModel, load_model
    from statetrack.constructions.verify_exact import prove

    from ..compiled import CompiledLRNN

    cm = compiled if isinstance(compiled, CompiledModel) else load_model(compiled)
    own = DFA.from_json(cm.meta["dfa"])
    res = prove(cm)
    runner = CompiledLRNN(cm, kernel="reference", dtype="float64")

    def accepts(word: tuple[str, ...]) -> bool:
        ids = torch.tensor([[own.symbol_id(s) for s in word]], dtype=torch.long)
        return bool(runner(ids)[0, -1])

    if not res.proved:
        if res.counterexample:
            word = tuple(res.counterexample)
            return Certificate("counterexample", "exact-proof", reason=res.detail, word=word,
                               predicted=int(accepts(word)), expected=int(own.accepts(word)),
                               details={"reachable": res.reachable})
        return Certificate("inconclusive", "exact-proof", reason=res.detail, details={"reachable": res.reachable})
    details = {"reachable": res.reachable, "proof": res.detail}
    if dfa is not None:
        word = shortest_nonempty_difference(own, dfa)
        if word is not None:
            return Certificate("counterexample", "exact-proof", reason="the model follows its own DFA exactly, "
                               "which is not the language", word=word, predicted=int(accepts(word)),
                               expected=int(dfa.accepts(word)), details=details)
    return Certificate("certified", "exact-proof", reason="the construction's exact proof: every run of every "
                       "length stays on exact codes and decodes to the DFA's state", arithmetic="exact",
                       details=details)


def shortest_nonempty_difference(a: DFA, b: DFA) -> tuple[str, ...] | None:
    """A shortest non-empty word in exactly one of the two languages (models say nothing on the empty word)."""
    x = (a ^ b).complete()
    parent: dict[int, tuple[int, int]] = {}
    frontier = []
    for s in range(x.n_symbols):
        t = int(x.delta[x.start, s])
        if t not in parent:
            parent[t] = (-1, s)
            frontier.append(t)
    while frontier:
        hit = next((t for t in frontier if x.accepting[t]), None)
        if hit is not None:
            word = []
            while hit != -1:
                prev, s = parent[hit]
                word.append(x.alphabet[s])
                hit = prev
            return tuple(reversed(word))
        nxt = []
        for t in frontier:
            for s in range(x.n_symbols):
                u = int(x.delta[t, s])
                if u not in parent:
                    parent[u] = (t, s)
                    nxt.append(u)
        frontier = nxt
    return None


def certify_path(path: "str | os.PathLike", dfa: DFA | None = None, **kwargs) -> Certificate:
    """Certify a training run directory (against its task's language, or ``dfa``) or a compiled-model file."""
    from ..train import load_run

    p = Path(path)
    if p.is_dir():
        model, task, _ = load_run(p)
        target = task.dfa if dfa is None else _aligned(dfa, task.dfa)
        if task.labels == "per-token" and dfa is not None and not target.equivalent(task.dfa):
            raise StatetrackError("certify: a per-token run predicts its own DFA's states; give no language source")
        return certify(model, target, labels=task.labels, min_length=task.train_lengths[0], **kwargs)
    if not p.exists():
        raise StatetrackError(f"{path}: no such run directory or model file")
    return certify_compiled(p, dfa)


def _aligned(dfa: DFA, task_dfa: DFA) -> DFA:
    """``dfa`` over the run's alphabet, in the run's symbol order."""
    if set(dfa.alphabet) != set(task_dfa.alphabet):
        raise StatetrackError(f"certify: the language's alphabet {list(dfa.alphabet)} differs from the run's "
                              f"{list(task_dfa.alphabet)}")
    return dfa.with_alphabet(task_dfa.alphabet).complete()
