"""Theorem 4 as a compiler: any DFA -> a Krohn-Rhodes (holonomy) cascade -> a stack of GH-product layers.

Modules:
    :mod:`.holonomy`: the holonomy decomposition (image sets, subduction classes, heights, tiles,
        holonomy groups).
    :mod:`.coordinates`: cascade states (chains of tiles), decoding, and the permutation-reset
        action of each letter level by level.
    :mod:`.layers`: the LRNN stack with correct coupling (position parity, copy layers, copy
        skipping) and its ``next`` tables.

Example:
    >>> from statetrack.automata.dfa import DFA
    >>> d = DFA.from_json({"alphabet": ["a", "b"], "states": ["0", "1", "2"], "start": "0",
    ...     "accepting": ["2"], "transitions": {"0": {"a": "1", "b": "0"}, "1": {"a": "2", "b": "0"},
    ...     "2": {"a": "2", "b": "2"}}})        # contains "aa"
    >>> model, report = compile_cascade(d)
    >>> report["levels"], report["layers"]     # the top level and its previous coordinate: one shift layer
    (2, 2)
"""
from __future__ import annotations

import numpy as np

from statetrack.automata.dfa import DFA

from .coordinates import Cascade, cascade_of
from .holonomy import Holonomy, holonomy
from .layers import CascadeStack, build_stack

__all__ = ["compile_cascade", "cascade_stack", "Cascade", "CascadeStack", "Holonomy", "holonomy", "cascade_of"]


def cascade_stack(dfa: DFA, *, coupling: str = "copy", copy_skip: bool = True, shift: bool = True,
                  max_bytes: int | None = None) -> CascadeStack:
    """The cascade layer stack of a DFA, made complete (no model file; see :func:`compile_cascade`). ``copy_skip``
    and ``shift`` (levels of resets as one shift layer) shorten the copy scheme; both off give the plain ``2h - 1``.
    ``max_bytes``: the bound on the dense tensors (None: ``MAX_STACK_BYTES``; :func:`.layers.build_stack`)."""
    dfa = dfa.complete()
    return build_stack(cascade_of(dfa.delta), dfa.start, dfa.n_symbols, coupling=coupling, copy_skip=copy_skip,
                       shift=shift, max_bytes=max_bytes)


def compile_cascade(dfa: DFA, *, coupling: str = "copy", copy_skip: bool = True, merge: bool = True,
                    budget=None, shift: bool = True, direct: bool = True, max_bytes: int | None = None):
    """Compile ``dfa`` (made complete) into a cascade model.

    With the copy coupling and ``merge`` (default), runs of consecutive layers that one bit-code layer can do are
    merged (:func:`statetrack.constructions.stack_merge.merge_layers`, proved); the report then also has ``merged``
    (the merged runs, as layer ranges of the unmerged stack), ``layers_unmerged`` and ``dropped`` (layers of the merged
    stack whose output depends on the symbol read alone, folded into the layer above:
    :func:`statetrack.constructions.stack_merge.drop_memoryless`). ``budget`` (a
    :class:`statetrack.constructions.budget.WorkBudget`) caps the merging, in deterministic steps.

    With ``merge`` and ``direct`` (default), when the stack has more than two layers the direct search for small DFAs
    (:func:`statetrack.constructions.direct.direct_search`: a first layer running a quotient, a register of the last
    letters or a quotient with its previous class, then the DFA's state in one more layer or two) and then
    :func:`statetrack.constructions.direct.prefix_search` (the first layers of this stack, then the DFA's state in one
    layer) run on what is left of ``budget``; when they find a proved stack with fewer layers, the shallowest is
    returned instead, with
    ``construction`` ``direct`` (the cascade's own fields -- ``levels``, ``layers_unmerged``, ``merged`` ... --
    stay, describing the cascade it beat). The report's ``direct`` says what the search found (None when it did not
    run).

    Returns ``(CompiledModel, report)``; the report has ``construction``, ``levels`` (holonomy
    height of Q), ``layers``, ``dims``, ``factors`` (per layer, factors per symbol), ``bound``
    (``2^|Q|``, the classical bound on the number of image sets), ``eigenvalue_range``, ``max_norm``,
    ``roles``, ``copies_skipped``, ``shifts`` (levels built as one shift layer), ``level_widths``, ``holonomy_groups`` (per level, the orders of
    its components' groups), ``reachable`` and ``copy_depth`` (``2h - 1``, the depth of the plain copy-layer scheme).
    """
    from statetrack.constructions.model_format import build_model

    dfa = dfa.complete()
    stack = cascade_stack(dfa, coupling=coupling, copy_skip=copy_skip, shift=shift, max_bytes=max_bytes)
    layers = []
    for L in stack.layers:
        arrays = {"keys": L.keys, "betas": L.betas, "values": L.values, "h0": L.h0, "codes": L.codes, "next": L.next}
        meta = {"kind": "householder", "role": L.role}
        if L.conv is not None:
            arrays["conv"] = L.conv
            meta["conv"] = 2
        layers.append((meta, arrays))
    model = build_model(dfa, "cascade", layers)
    lo, norm = _spectrum(stack)
    merged: list = []
    dropped: list[int] = []
    merge_note = ""
    if merge and len(stack.layers) > 1:
        from statetrack.constructions.model_format import summarize
        from statetrack.constructions.stack_merge import merge_layers

        from statetrack.constructions.stack_merge import drop_memoryless

        model, mrep = merge_layers(model, budget=budget)
        merged = mrep["merged"]
        model, dropped = drop_memoryless(model, budget=budget)
        merge_note = f"; {mrep['note']}" if mrep.get("note") else ""
        if merged or dropped:
            summary = summarize(model)
            lo, norm = summary["eigenvalue_range"][0], summary["max_norm"]
    direct_rep = None
    if merge and direct and model.num_layers > (1 if coupling == "conv" else 2):
        from statetrack.constructions.direct import direct_search, prefix_search
        from statetrack.constructions.model_format import summarize

        found = direct_search(dfa, max_layers=min(3, model.num_layers - 1), budget=budget,
                              conv=coupling == "conv")
        direct_rep = found.report()
        direct_rep["cascade_layers"] = model.num_layers
        best = found.model
        pre = prefix_search(model, found.layers or model.num_layers, budget=budget, conv=coupling == "conv")
        if pre is not None:
            best = pre
            direct_rep.update(found=True, layers=pre.num_layers,
                              below=[f"the first {pre.num_layers - 1} layer(s) of the cascade"])
        direct_rep["prefix"] = pre is not None
        if budget is not None and "direct" in budget.stopped:
            direct_rep["complete"] = False
        if best is not None:
            model = best
            summary = summarize(model)
            lo, norm = summary["eigenvalue_range"][0], summary["max_norm"]
    infos = model.meta["layers"]
    won = direct_rep is not None and direct_rep["found"]
    reason = ("Theorem 4: holonomy (Krohn-Rhodes) cascade of permutation-reset components, one layer per level; "
              + ("a width-2 causal convolution hands each layer the previous coordinates" if coupling == "conv"
                 else "copy layers hold the previous coordinates")
              + (f"; {len(merged)} run(s) of layers merged into bit-code layers" if merged else "")
              + (f"; {len(dropped)} memoryless layer(s) folded into the layer above" if dropped else "")
              + merge_note)
    if won:
        reason = (f"direct search: {', '.join(direct_rep['below'])} in one bit-code layer each, then the DFA state "
                  f"in one bit-code layer reading the layer below's new state and the token ({model.num_layers} "
                  f"layers, proved), shallower than the holonomy cascade's {direct_rep['cascade_layers']} "
                  "(Theorem 4)")
    report = {
        "construction": "direct" if won else "cascade",
        "direct": direct_rep,
        "coupling": coupling,
        "levels": stack.depth,
        "layers": model.num_layers,
        "layers_unmerged": len(stack.layers),
        "merged": merged,
        "dropped": dropped,
        "copy_depth": max(1, 2 * stack.depth - 1),
        "dims": [info["n"] for info in infos],
        "factors": [info["factors"] for info in infos],
        "symbols": [info["symbols"] for info in infos],
        "roles": [info.get("role", "") for info in infos],
        "bound": 2 ** dfa.n_states,
        "eigenvalue_range": [lo, 1.0],
        "max_norm": norm,
        "copies_skipped": stack.copies_skipped,
        "shifts": stack.shifts,
        "level_widths": stack.level_widths,
        "holonomy_groups": stack.holonomy_groups,
        "reachable": stack.reachable,
        "reason": reason,
    }
    if stack.symbol_classes is not None:  # over the size bound: the layers' symbols were merged into classes
        report["symbol_classes"] = stack.symbol_classes
        report["reason"] += (f"; the layers' symbols merged into classes (same action and next column): the "
                             f"per-symbol tensors would take {stack.symbol_classes['bytes_per_symbol']} bytes, over "
                             f"the bound of {stack.symbol_classes['limit_bytes']} (MAX_STACK_BYTES)")
    return model, report


def _spectrum(stack: CascadeStack) -> tuple[float, float]:
    """Smallest factor eigenvalue ``1 - beta |k|^2`` and the largest spectral norm of a symbol's product.

    Symbols with the same factors (keys ``[S, F, n]`` and betas ``[S, F]``) share one product, so each distinct
    product is formed once, all of a layer's at a time (batched), and its 2-norm taken by a batched SVD."""
    lo, norm = 1.0, 0.0
    for L in stack.layers:
        sq = (L.keys ** 2).sum(-1)
        active = sq > 0
        if active.any():
            lo = min(lo, float((1.0 - L.betas * sq)[active].min()))
        flat = np.concatenate([L.keys.reshape(L.symbols, -1), L.betas.reshape(L.symbols, -1)], axis=1)
        distinct: dict[bytes, int] = {}
        for s, row in enumerate(flat):
            distinct.setdefault(row.tobytes(), s)
        rows = flat[list(distinct.values())]
        keys = rows[:, :L.factors * L.n].reshape(-1, L.factors, L.n)
        betas = rows[:, L.factors * L.n:]
        A = np.broadcast_to(np.eye(L.n), (rows.shape[0], L.n, L.n)).copy()
        for f in range(L.factors):
            k = keys[:, f]  # [U, n]
            kA = np.einsum("un,unm->um", k, A)
            A = A - betas[:, f, None, None] * k[:, :, None] * kA[:, None, :]
        if A.shape[0]:
            norm = max(norm, float(np.linalg.norm(A, 2, axis=(1, 2)).max()))
    return lo, norm
