"""Green's relations of a transformation monoid: R, L, H and D (= J, the monoid is finite).

Fast path (:func:`green_structure`), for a monoid ``M`` acting on the right:

* ``x R y`` iff ``x M = y M``. If ``x R y`` then ``im y = (im x) s`` and ``im x = (im y) t``: the
  images lie in one strongly connected component (SCC) of the action of the generators on images.
  Conversely, if ``(im x) s`` lies in the SCC of ``im x`` then ``x s R x`` (some ``t`` maps the image
  back bijectively, ``s t`` permutes ``im x``, and a power of it fixes ``im x`` pointwise, so
  ``x = x s t (s t)^(k-1)``). Hence the R-classes are the connected components of the right Cayley
  graph restricted to the edges ``x -> x a`` that keep the image in its SCC.
* Dually (left action ``a . x = x[a]`` pulls kernels back), the L-classes are the connected
  components of the left Cayley graph restricted to the edges ``x -> a x`` that keep the kernel in
  its SCC of the action on kernels.
* ``H = R ∩ L``; the D-classes are the components of the union of both restricted edge sets.

The orbit graphs (images, kernels) are small compared with the monoid, so their SCCs use a plain
iterative Tarjan; the big components use vectorised union-find (min-label hooking and pointer
jumping). :func:`green_reference` computes the same partitions from strongly connected components
of the full Cayley graphs with networkx (J from the two-sided graph); the tests compare both.

Labels are canonical: classes are numbered by their first element (element order of the monoid).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .graphs import strongly_connected

if TYPE_CHECKING:  # pragma: no cover
    from .monoid import Monoid

_CHUNK = 1 << 18


@dataclass
class GreenStructure:
    """Green's classes of a monoid of ``size`` elements.

    Attributes:
        r, l, h, d: ``[size]`` int64 class labels (canonical: numbered by first element).
        idempotent: ``[size]`` bool mask of idempotents.
        rank: ``[size]`` image sizes.
    """

    r: np.ndarray
    l: np.ndarray
    h: np.ndarray
    d: np.ndarray
    idempotent: np.ndarray
    rank: np.ndarray
    _d_members: list | None = field(default=None, repr=False)

    @property
    def n_r(self) -> int:
        return int(self.r.max()) + 1

    @property
    def n_l(self) -> int:
        return int(self.l.max()) + 1

    @property
    def n_h(self) -> int:
        return int(self.h.max()) + 1

    @property
    def n_d(self) -> int:
        return int(self.d.max()) + 1

    def is_aperiodic(self) -> bool:
        """Every H-class is a singleton (no non-trivial group: the language is star-free)."""
        return self.n_h == self.r.size

    def d_members(self, dclass: int) -> np.ndarray:
        """Element indices of D-class ``dclass`` (increasing)."""
        if self._d_members is None:
            order = np.argsort(self.d, kind="stable")
            bounds = np.searchsorted(self.d[order], np.arange(self.n_d + 1))
            self._d_members = [order[bounds[i]:bounds[i + 1]] for i in range(self.n_d)]
        return self._d_members[dclass]

    def regular_d(self) -> np.ndarray:
        """``[n_d]`` bool: the D-class contains an idempotent."""
        out = np.zeros(self.n_d, dtype=bool)
        out[self.d[self.idempotent]] = True
        return out

    def h_class_of(self, i: int) -> np.ndarray:
        """Element indices of the H-class of element ``i``."""
        members = self.d_members(int(self.d[i]))
        return members[self.h[members] == self.h[i]]

    def d_summary(self, dclass: int) -> dict:
        """Sizes of one D-class: ``size, r_classes, l_classes, h_size, regular, idempotents, rank``."""
        mem = self.d_members(dclass)
        n_r = np.unique(self.r[mem]).size
        n_l = np.unique(self.l[mem]).size
        return {
            "size": int(mem.size),
            "r_classes": int(n_r),
            "l_classes": int(n_l),
            "h_size": int(mem.size // (n_r * n_l)),
            "regular": bool(self.idempotent[mem].any()),
            "idempotents": int(self.idempotent[mem].sum()),
            "rank": int(self.rank[mem[0]]),
            "first": int(mem[0]),
        }

    def d_order_edges(self, monoid: "Monoid") -> np.ndarray:
        """``[E, 2]`` pairs ``(D above, D below)`` of the quotient of the two-sided Cayley graph (no loops)."""
        src = np.repeat(np.arange(self.d.size), monoid.right.shape[1])
        pairs = []
        for cay in (monoid.right, monoid.left):
            a, b = self.d[src], self.d[cay.reshape(-1)]
            keep = a != b
            pairs.append(np.stack([a[keep], b[keep]], axis=1))
        e = np.concatenate(pairs) if pairs else np.empty((0, 2), np.int64)
        return np.unique(e, axis=0) if e.size else e.reshape(0, 2)

    def same_partition(self, other: "GreenStructure") -> bool:
        """True when all four partitions are equal (labels are canonical)."""
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in ("r", "l", "h", "d"))


# --------------------------------------------------------------------------- helpers
def _canonical(labels: np.ndarray) -> np.ndarray:
    """Renumber labels by first occurrence."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inv.reshape(-1)]


def _row_ids(rows: np.ndarray) -> np.ndarray:
    """Ids of equal rows of a 2-D array (via a void view: rows compare as byte strings)."""
    rows = np.ascontiguousarray(rows)
    view = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).reshape(-1)
    _, inv = np.unique(view, return_inverse=True)
    return inv.reshape(-1)


def image_ids(elements: np.ndarray) -> np.ndarray:
    """``[size]`` ids of the images (equal ids = equal image sets)."""
    N, n = elements.shape
    out = np.empty((N, (n + 7) // 8), dtype=np.uint8)
    for s in range(0, N, _CHUNK):
        e = elements[s:s + _CHUNK].astype(np.intp)
        mask = np.zeros(e.shape, dtype=bool)
        np.put_along_axis(mask, e, True, axis=1)
        out[s:s + _CHUNK] = np.packbits(mask, axis=1)
    return _row_ids(out)


def kernel_forms(elements: np.ndarray) -> np.ndarray:
    """``[size, n]`` kernel normal forms: ``form[i, q]`` = least ``p`` with ``x[p] == x[q]``."""
    N, n = elements.shape
    out = np.empty_like(elements)
    for s in range(0, N, _CHUNK):
        e = elements[s:s + _CHUNK].astype(np.intp)
        first = np.zeros(e.shape, dtype=elements.dtype)
        rows = np.arange(e.shape[0])
        for p in range(n - 1, -1, -1):
            first[rows, e[:, p]] = p
        out[s:s + _CHUNK] = np.take_along_axis(first, e, axis=1)
    return out


def connected_components(n_nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Labels ``[n_nodes]`` (the least node of each component) of the undirected graph with edges ``u - v``."""
    label = np.arange(n_nodes, dtype=np.int64)
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    while u.size:
        lu, lv = label[u], label[v]
        diff = lu != lv
        if not diff.any():
            break
        u, v, lu, lv = u[diff], v[diff], lu[diff], lv[diff]
        lo, hi = np.minimum(lu, lv), np.maximum(lu, lv)
        np.minimum.at(label, hi, lo)  # hook the larger root under the smaller label
        while True:  # pointer jumping until every node points at its root
            nxt = label[label]
            if np.array_equal(nxt, label):
                break
            label = nxt
    return label


def _orbit_scc(ids: np.ndarray, cayley: np.ndarray) -> np.ndarray:
    """SCC label of every element's image/kernel id under the generators' action (edges from ``cayley``)."""
    k = cayley.shape[1]
    n_ids = int(ids.max()) + 1
    src = np.repeat(ids, k)
    dst = ids[cayley.reshape(-1)]
    pairs = np.unique(src * n_ids + dst)
    comp = strongly_connected(n_ids, pairs // n_ids, pairs % n_ids)
    return comp[ids]


def _restricted_edges(orbit: np.ndarray, cayley: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = cayley.shape[1]
    src = np.repeat(np.arange(orbit.size, dtype=np.int64), k)
    dst = cayley.reshape(-1).astype(np.int64)
    keep = (orbit[src] == orbit[dst]) & (src != dst)
    return src[keep], dst[keep]


# --------------------------------------------------------------------------- main entry points
def green_structure(m: "Monoid") -> GreenStructure:
    """Green's relations of ``m`` from the image/kernel orbit SCCs (see the module docstring)."""
    N = m.size
    idem = m.idempotents()
    rank = m.ranks()
    if m.right.shape[1] == 0 or N == 1:
        lab = np.arange(N, dtype=np.int64)
        return GreenStructure(lab, lab.copy(), lab.copy(), lab.copy(), idem, rank)
    img_scc = _orbit_scc(image_ids(m.elements), m.right)
    ker_scc = _orbit_scc(_row_ids(kernel_forms(m.elements)), m.left)
    ru, rv = _restricted_edges(img_scc, m.right)
    lu, lv = _restricted_edges(ker_scc, m.left)
    r = _canonical(connected_components(N, ru, rv))
    l_ = _canonical(connected_components(N, lu, lv))
    d = _canonical(connected_components(N, np.concatenate([ru, lu]), np.concatenate([rv, lv])))
    h = _canonical(r * (int(l_.max()) + 1) + l_)
    return GreenStructure(r, l_, h, d, idem, rank)


def green_reference(m: "Monoid") -> GreenStructure:
    """Plain reference: R, L = SCCs of the right/left Cayley graphs, J = SCCs of the two-sided graph (networkx)."""
    import networkx as nx

    N = m.size

    def scc_labels(edge_arrays: list[np.ndarray]) -> np.ndarray:
        g = nx.DiGraph()
        g.add_nodes_from(range(N))
        for arr in edge_arrays:
            for a in range(arr.shape[1]):
                g.add_edges_from(zip(range(N), arr[:, a].tolist()))
        lab = np.empty(N, dtype=np.int64)
        for c, comp in enumerate(nx.strongly_connected_components(g)):
            lab[list(comp)] = c
        return _canonical(lab)

    r = scc_labels([m.right])
    l_ = scc_labels([m.left])
    d = scc_labels([m.right, m.left])
    h = _canonical(r * (int(l_.max()) + 1) + l_)
    return GreenStructure(r, l_, h, d, m.idempotents(), m.ranks())


# --------------------------------------------------------------------------- egg-box picture
def egg_box_grid(g: GreenStructure, dclass: int) -> tuple[list[int], list[int], dict[tuple[int, int], int],
                                                          set[tuple[int, int]]]:
    """The egg-box of D-class ``dclass``: ``(rows, cols, cell, group_cells)`` with the R-class ids (rows) and L-class
    ids (columns) in order of first appearance, ``cell[(r, l)]`` the first element of that H-class, and the cells
    holding an idempotent (the maximal subgroups)."""
    mem = g.d_members(dclass)
    rows = list(dict.fromkeys(g.r[mem].tolist()))
    cols = list(dict.fromkeys(g.l[mem].tolist()))
    cell: dict[tuple[int, int], int] = {}
    group_cells: set[tuple[int, int]] = set()
    for i in mem.tolist():
        key = (int(g.r[i]), int(g.l[i]))
        cell.setdefault(key, i)
        if g.idempotent[i]:
            group_cells.add(key)
    return rows, cols, cell, group_cells


def egg_box_dot(m: "Monoid", g: GreenStructure | None = None, max_cells: int = 400, name: str = "monoid") -> str:
    """DOT text drawing every D-class as an egg-box (rows = R-classes, columns = L-classes).

    A cell shows the shortest word of its first element (``1`` for the empty word) and, when the
    H-class is bigger than one, its size; ``*`` marks H-classes holding an idempotent (maximal
    subgroups). D-classes with more than ``max_cells`` cells are drawn as a summary box. Edges
    follow the covering relation of the J-order (top = the identity's class).
    """
    import networkx as nx

    g = g or m.green()
    lines = [f"digraph {_dot_id(name)} {{", "  node [shape=plaintext];", "  rankdir=TB;"]
    for dc in range(g.n_d):
        info = g.d_summary(dc)
        rows, cols, cell, idem_cell = egg_box_grid(g, dc)
        head = (f"D{dc}: rank {info['rank']}, {info['r_classes']}x{info['l_classes']}, |H|={info['h_size']}"
                + ("" if info["regular"] else ", not regular"))
        if len(rows) * len(cols) > max_cells:
            label = (f'<<TABLE BORDER="0"><TR><TD>{html.escape(head)}</TD></TR>'
                     f'<TR><TD>size {info["size"]}</TD></TR></TABLE>>')
        else:
            trs = [f'<TR><TD COLSPAN="{len(cols)}" BORDER="0">{html.escape(head)}</TD></TR>']
            for rr in rows:
                tds = []
                for ll in cols:
                    key = (rr, ll)
                    if key not in cell:
                        tds.append("<TD></TD>")
                        continue
                    word = m.word(cell[key])
                    text = ("".join(word) if all(len(s) == 1 for s in word) else " ".join(word)) or "1"
                    star = "*" if key in idem_cell else ""
                    tds.append(f"<TD>{star}{html.escape(text)}</TD>")
                trs.append("<TR>" + "".join(tds) + "</TR>")
            label = '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">' + "".join(trs) + "</TABLE>>"
        lines.append(f"  D{dc} [label={label}];")
    edges = g.d_order_edges(m)
    if 0 < len(edges) <= 20000:
        dag = nx.DiGraph()
        dag.add_nodes_from(range(g.n_d))
        dag.add_edges_from(map(tuple, edges.tolist()))
        for a, b in sorted(nx.transitive_reduction(dag).edges()):
            lines.append(f"  D{a} -> D{b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
