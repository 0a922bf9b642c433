"""The finite part of a one-layer model's state: DFA state x token window x (capped) length.

A node ``(q, hist, n)`` stands for every word ``w`` with ``delta(q0, w) = q``, whose last ``min(|w|, c - 1)`` tokens
are ``hist`` and with ``n = min(|w|, cap)``. The edge on symbol ``a`` goes to ``(delta(q, a), (hist + a)[-(c-1):],
min(n + 1, cap))`` and reads the window ``hist + a`` (at most ``c`` tokens). Nodes with ``n < cap`` are words shorter
than ``cap``; the recurrent state of such a node is one exact point.
"""
from __future__ import annotations

from dataclasses import dataclass

from statetrack.automata.dfa import DFA
from statetrack.errors import StateLimitError

Node = tuple[int, tuple[int, ...], int]


@dataclass
class WindowGraph:
    """Reachable nodes (``nodes[0]`` = the empty word) and edges ``(src, symbol, dst)`` with their windows."""

    nodes: list[Node]
    edges: list[tuple[int, int, int]]
    windows: list[tuple[int, ...]]
    width: int
    cap: int
    #: for a graph refined from another (:func:`.anchored.refine_by_normal_forms`): each edge's edge there
    origin: list[int] | None = None
    #: ... and each node's node there
    node_origin: list[int] | None = None

    def successor(self) -> dict[tuple[int, int], int]:
        """``(node, symbol) -> edge index``."""
        return {(s, a): e for e, (s, a, _) in enumerate(self.edges)}


def build_window_graph(dfa: DFA, width: int, cap: int, history: int = 0, max_nodes: int = 200_000) -> WindowGraph:
    """Breadth-first construction from ``(start, (), 0)``; ``width`` = c (>= 1), ``cap`` >= the kept history.
    ``history``: tokens kept in a node (at least ``c - 1``; more tokens split a node's states into finer boxes)."""
    keep = max(width - 1, history)
    start: Node = (int(dfa.start), (), 0)
    index = {start: 0}
    nodes = [start]
    edges: list[tuple[int, int, int]] = []
    windows: list[tuple[int, ...]] = []
    i = 0
    while i < len(nodes):
        q, hist, n = nodes[i]
        for a in range(dfa.n_symbols):
            longer = hist + (a,)
            window = longer[-width:]
            nxt: Node = (int(dfa.delta[q, a]), longer[-keep:] if keep else (), min(n + 1, cap))
            j = index.get(nxt)
            if j is None:
                if len(nodes) >= max_nodes:
                    raise StateLimitError(f"certify: more than {max_nodes} (DFA state, window) nodes")
                j = index[nxt] = len(nodes)
                nodes.append(nxt)
            edges.append((i, a, j))
            windows.append(window)
        i += 1
    return WindowGraph(nodes, edges, windows, width, cap)
