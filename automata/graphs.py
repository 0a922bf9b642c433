"""Graph algorithms shared by the automata modules."""
from __future__ import annotations

import numpy as np


def strongly_connected(n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """SCC labels ``[n_nodes]`` of a directed graph (iterative Tarjan over a CSR adjacency)."""
    order = np.argsort(src, kind="stable")
    targets = dst[order].tolist()
    ptr = np.searchsorted(src[order], np.arange(n_nodes + 1)).tolist()
    index = [-1] * n_nodes
    low = [0] * n_nodes
    on_stack = [False] * n_nodes
    comp = [-1] * n_nodes
    stack: list[int] = []
    counter = 0
    n_comp = 0
    for root in range(n_nodes):
        if index[root] >= 0:
            continue
        work = [(root, ptr[root])]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, i = work[-1]
            if i < ptr[v + 1]:
                work[-1] = (v, i + 1)
                w = targets[i]
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, ptr[w]))
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            else:
                work.pop()
                if work:
                    u = work[-1][0]
                    if low[v] < low[u]:
                        low[u] = low[v]
                if low[v] == index[v]:
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        comp[w] = n_comp
                        if w == v:
                            break
                    n_comp += 1
    return np.asarray(comp, dtype=np.int64)
