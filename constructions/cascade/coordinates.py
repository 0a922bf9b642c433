"""The holonomy cascade: coordinates of states and the level-by-level action of letters.

A cascade state is a tuple ``x = (x_0, ..., x_{d-1})`` with one coordinate per level (level ``i``
holds the representatives of height ``d - i``). Level ``i``'s coordinate is a tile of the
representative reached by the chain above it, or ``*`` when the chain skips that height.

Decoding walks down a *context* ``(P, R, pi)``: the real set ``P``, its representative ``R`` and a
transformation ``pi`` mapping ``R`` bijectively onto ``P``. At a level of height ``h(P)`` the
coordinate is a tile ``t`` of ``R``; the chain continues with ``P' = pi(t)``, ``R' = rep(t)``,
``pi' = tau_t`` then ``pi``. After the last level ``P`` is a singleton: the decoded DFA state.

The action of a letter ``s`` (:func:`step`) keeps, level by level, the *old* context (of ``x``) and
the *new* one (of the result ``y``) with the invariant ``P_old . s`` contained in ``P_new``:

* if ``P_old . s == P_new`` and both have this level's height, ``s`` maps ``P_old`` bijectively onto
  ``P_new`` and ``y_i = pi_new^{-1}(pi_old(x_i) . s)`` is a tile: the level *permutes* its tiles;
* otherwise, if ``P_new`` has this level's height, ``y_i`` is the first tile ``t`` of ``R_new`` with
  ``P_old . s`` inside ``pi_new(t)``: a *reset* (constant in ``x_i``);
* otherwise ``y_i = *``.

In every case the invariant passes to the next level (``t . s`` lies in the chosen tile), so at the
bottom ``{q} . s`` lies in the singleton ``P_new``: ``y`` decodes to ``q . s``. Each level's map
depends only on the letter and the coordinates above it (old and new): a cascade of
permutation-reset automata.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .holonomy import Holonomy, image, members

STAR = -1  # the "no tile at this height" coordinate


@dataclass(frozen=True, eq=False)
class Context:
    """A position in a chain: real set ``P`` (bitmask), representative set index ``R``, and ``pi``
    restricted to the points of ``R`` (tuple of ``(point, image)`` pairs).

    Contexts are interned by :class:`Cascade` (one object per distinct value), so they compare and
    hash by identity, which keeps the table-building searches fast."""

    P: int
    R: int
    pi: tuple[tuple[int, int], ...]

    def apply(self, mask: int) -> int:
        """``pi`` applied to a subset of ``R``."""
        m = dict(self.pi)
        out = 0
        for q in members(mask):
            out |= 1 << m[q]
        return out

    def inverse(self, mask: int) -> int:
        """``pi^{-1}`` applied to a subset of ``P``."""
        inv = {v: k for k, v in self.pi}
        out = 0
        for q in members(mask):
            out |= 1 << inv[q]
        return out


class Cascade:
    """The holonomy cascade of a DFA's transformation semigroup.

    ``level_states[i]`` lists level ``i``'s states as ``(rep set index, tile set index)`` pairs
    plus ``STAR`` when some chain skips level ``i``; coordinates are indices into that list.
    """

    def __init__(self, hol: Holonomy):
        self.hol = hol
        self.depth = hol.depth
        n = hol.n
        full = (1 << n) - 1
        self._intern: dict[tuple, Context] = {}
        self.top = self.context(full, 0, tuple((q, q) for q in range(n)))
        # level state tables
        self.level_states: list[list[tuple[int, int] | int]] = []
        self.level_index: list[dict] = []
        for i in range(self.depth):
            states: list[tuple[int, int] | int] = []
            for r in hol.levels[i]:
                for t in hol.tiles[r]:
                    states.append((r, t))
            states.append(STAR)
            self.level_states.append(states)
            self.level_index.append({s: k for k, s in enumerate(states)})
        self._ctx_cache: dict[tuple[Context, int], Context] = {}
        self._map_cache: dict[tuple, tuple[str, object]] = {}
        # per level: (letter, old, new, x_i) -> (y_i, (old, new, level map), old below, new below)
        self._step_cache: list[dict[tuple, tuple]] = [dict() for _ in range(self.depth)]

    # ------------------------------------------------------------------ chains
    def context(self, P: int, R: int, pi: tuple[tuple[int, int], ...]) -> Context:
        """The interned context with these values."""
        key = (P, R, pi)
        ctx = self._intern.get(key)
        if ctx is None:
            ctx = self._intern[key] = Context(P, R, pi)
        return ctx

    def level_height(self, i: int) -> int:
        return self.depth - i

    def descend(self, ctx: Context, i: int, coord: int) -> Context:
        """The context below level ``i`` when its coordinate is ``coord``."""
        key = (ctx, i * 100003 + coord)
        hit = self._ctx_cache.get(key)
        if hit is not None:
            return hit
        hol = self.hol
        st = self.level_states[i][coord]
        if hol.height[hol.index[ctx.P]] != self.level_height(i):
            if st != STAR:
                raise ValueError(f"level {i}: coordinate {st} where the chain skips this height")
            out = ctx
        else:
            if st == STAR or st[0] != ctx.R:
                raise ValueError(f"level {i}: coordinate {st} is not a tile of representative {ctx.R}")
            t = st[1]
            real = ctx.apply(hol.sets[t])
            r2 = hol.rep_of(t)
            tau_t = hol.tau[t]
            m = dict(ctx.pi)
            pi2 = tuple((q, m[int(tau_t[q])]) for q in members(hol.sets[r2]))
            out = self.context(real, r2, pi2)
        self._ctx_cache[key] = out
        return out

    def decode(self, x: tuple[int, ...]) -> int:
        """The DFA state of cascade state ``x``."""
        ctx = self.top
        for i, c in enumerate(x):
            ctx = self.descend(ctx, i, c)
        pts = members(ctx.P)
        assert len(pts) == 1, "a complete chain ends in a singleton"
        return pts[0]

    def encode(self, q: int) -> tuple[int, ...]:
        """A cascade state decoding to ``q`` (first tile containing ``q`` at every level)."""
        ctx = self.top
        out = []
        for i in range(self.depth):
            if self.hol.height[self.hol.index[ctx.P]] != self.level_height(i):
                c = self.level_index[i][STAR]
            else:
                c = next(
                    self.level_index[i][(ctx.R, t)]
                    for t in self.hol.tiles[ctx.R]
                    if (ctx.apply(self.hol.sets[t]) >> q) & 1
                )
            out.append(c)
            ctx = self.descend(ctx, i, c)
        return tuple(out)

    # ------------------------------------------------------------------ the action
    def level_map(self, i: int, letter: int, old: Context, new: Context) -> tuple[str, object]:
        """How letter ``letter`` acts on level ``i`` given the old and new contexts above it.

        Returns ``("perm", dict coord -> coord)`` (a permutation of the tiles of ``old.R``; other
        coordinates fixed) or ``("reset", coord)``.
        """
        key = (i, letter, old, new)
        hit = self._map_cache.get(key)
        if hit is None:
            hit = self._map_cache[key] = self._level_map(i, letter, old, new)
        return hit

    def _level_map(self, i: int, letter: int, old: Context, new: Context) -> tuple[str, object]:
        hol = self.hol
        t_letter = hol.letters[letter]
        eta = self.level_height(i)
        h_old = hol.height[hol.index[old.P]]
        h_new = hol.height[hol.index[new.P]]
        idx = self.level_index[i]
        if h_new != eta:
            # the new chain skips this height: '*' (an identity when the old chain skipped it too)
            return ("perm", {}) if h_old != eta else ("reset", idx[STAR])
        ps = image(old.P, t_letter)
        if h_old == eta and ps == new.P:
            assert old.R == new.R
            perm = {}
            for t in hol.tiles[old.R]:
                real = image(old.apply(hol.sets[t]), t_letter)
                back = new.inverse(real)
                perm[idx[(old.R, t)]] = idx[(new.R, hol.index[back])]
            return ("perm", perm)
        for t in hol.tiles[new.R]:
            if (ps & new.apply(hol.sets[t])) == ps:
                return ("reset", idx[(new.R, t)])
        raise AssertionError("P.s lies in no tile of the new set")  # impossible: P.s is a proper subset in I

    @staticmethod
    def apply_map(m: tuple[str, object], coord: int) -> int:
        kind, data = m
        if kind == "reset":
            return int(data)  # type: ignore[arg-type]
        return data.get(coord, coord)  # type: ignore[union-attr]

    def step(self, x: tuple[int, ...], letter: int) -> tuple[tuple[int, ...], list[tuple[Context, Context, tuple]]]:
        """Apply a letter to cascade state ``x``.

        Returns the new state ``y`` and, per level, ``(old context, new context, level map)`` (one shared tuple per
        distinct value). Same result as :meth:`step_plain`, with each level's work memoised on
        ``(letter, old, new, x_i)``: one dictionary look-up per level once that key has been seen.
        """
        old = new = self.top
        y = []
        info = []
        for i, c in enumerate(x):
            memo = self._step_cache[i]
            key = (letter, old, new, c)
            hit = memo.get(key)
            if hit is None:
                m = self.level_map(i, letter, old, new)
                yi = self.apply_map(m, c)
                hit = memo[key] = (yi, (old, new, m), self.descend(old, i, c), self.descend(new, i, yi))
            yi, entry, old, new = hit
            info.append(entry)
            y.append(yi)
        return tuple(y), info

    def step_plain(self, x: tuple[int, ...], letter: int) -> tuple[tuple[int, ...], list[tuple[Context, Context, tuple]]]:
        """The reference for :meth:`step`: each level's map and both descents computed in turn."""
        old = new = self.top
        y = []
        info = []
        for i, c in enumerate(x):
            m = self.level_map(i, letter, old, new)
            yi = self.apply_map(m, c)
            info.append((old, new, m))
            y.append(yi)
            old = self.descend(old, i, c)
            new = self.descend(new, i, yi)
        return tuple(y), info


def cascade_of(delta: np.ndarray) -> Cascade:
    """The holonomy cascade of a complete DFA's transition table ``delta [n, k]``."""
    from .holonomy import holonomy

    n, k = delta.shape
    hol = holonomy([delta[:, a] for a in range(k)], n)
    return Cascade(hol)
