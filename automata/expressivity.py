"""Which LRNN family can recognise a regular language: verdicts from its syntactic monoid.

Families (``H_t = A(x_t) H_{t-1} + B(x_t)``, any depth, finite precision as in arXiv 2411.12537):

========================  ==========================================================================
``diagonal[0,1]``         ``A = Diag(a)``, ``a`` in [0,1] (Mamba)
``diagonal[-1,1]``        ``A = Diag(a)``, ``a`` in [-1,1] (Mamba with the negative extension)
``deltanet[0,1]``         one GH factor ``I - beta k k^T`` per token, beta in [0,1] (several heads allowed)
``deltanet[-1,1]``        one GH factor per token, beta in [0,2]
``deltaproduct[0,1]``     ``n_h`` GH factors per token, beta in [0,1]
``deltaproduct[-1,1]``    ``n_h`` GH factors per token, beta in [0,2]
``unconstrained``         one layer, any matrices
========================  ==========================================================================

The rules (each with its worked example in ``docs/expressivity.md``):

* **Witnesses.** An element of the syntactic monoid with period ``p >= 2`` (a word ``u`` such that
  ``u^k`` eventually cycles through ``p`` distinct elements) gives words ``x, y`` such that
  ``x u^k y`` is in the language for some residues of ``k`` mod ``p`` and not for others.
* **Theorem 1 mechanism** (non-negative real eigenvalues: the rounded state on a repeated block
  becomes eventually constant). Applies to a block ``u`` of any length for diagonal [0,1]
  (products stay non-negative diagonal), to blocks of length <= 2 for DeltaNet [0,1] (a product of
  two GH factors with beta in [0,1] has eigenvalues in [0,1], Proposition 1), and to single letters
  for DeltaProduct [0,1] with ``n_h <= 2``. Blocks of three or more GH factors can have non-real
  eigenvalues: no theorem decides (``open``).
* **Theorem 2 mechanism** (real eigenvalues: period divides ``2^L`` with ``L`` layers). Diagonal
  real products stay real, so a period that is not a power of 2 is impossible for diagonal [-1,1];
  a single GH factor has real eigenvalues, so DeltaNet [-1,1] needs >= 2 layers for a *letter*
  whose period does not divide 2.
* **Constructions.** Star-free (aperiodic) languages: cascades of resets (Theorem 4; Sarrof et al.
  2024 for non-negative diagonal SSMs). 2-groups: Krohn-Rhodes composition factors are all Z2, realised
  as scalar sign flips (Theorem 1's construction), ``log2(period)`` layers for diagonal models.
  Abelian groups: two layers of single reflections (Theorem 6). Groups whose letters are single
  transpositions: Theorem 3 with one factor. Groups: Theorem 3 (one layer, ``n - cycles`` reflections
  per letter). Everything: Theorem 4 (DeltaProduct [-1,1]) and one-hot matrices (unconstrained).
* **Non-solvable groups.** In finite precision they already fall under the Theorem 2 rule (their
  order has an odd prime factor). With ``precision="log"`` the rounding arguments do not apply; then
  diagonal families get ``impossible-unless-TC0=NC1`` (Merrill et al. 2024) and other negative
  verdicts become ``open``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from math import ceil, log2
from typing import TYPE_CHECKING, Any

import numpy as np

from statetrack.errors import StatetrackError
from statetrack.vocabulary import CLASSIFY_PRECISIONS, FAMILIES, VERDICTS  # noqa: F401  (re-exported)
from .monoid import DEFAULT_MAX_ELEMENTS, Monoid, minimal_complete_dfa, transformation_index_period, transition_monoid

if TYPE_CHECKING:  # pragma: no cover
    from .dfa import DFA

PAPER = "arXiv 2411.12537"
_SCAN_LIMIT = 100_000  # elements scanned (in shortlex order) for a shortest periodic witness


@dataclass
class Witness:
    """A word ``u`` whose powers cycle with ``period``, with a context ``x``, ``y`` that tells them apart.

    ``accepted`` lists the residues ``k mod period`` (for ``k >= index``) with ``x u^k y`` accepted.
    """

    word: tuple[str, ...]
    index: int
    period: int
    prefix: tuple[str, ...]
    suffix: tuple[str, ...]
    accepted: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"word": list(self.word), "index": self.index, "period": self.period, "prefix": list(self.prefix),
                "suffix": list(self.suffix), "accepted_residues": list(self.accepted)}

    def describe(self, show) -> str:
        res = ", ".join(str(r) for r in self.accepted) or "none"
        return (f"u = {show(self.word)!r} has period {self.period} (index {self.index}): "
                f"x u^k y with x = {show(self.prefix)!r}, y = {show(self.suffix)!r} is accepted iff "
                f"k mod {self.period} in {{{res}}} (k >= {self.index})")


@dataclass
class Verdict:
    """One family's verdict. ``construction`` = ``{layers, state_size, factors_per_token, note}`` when constructible."""

    verdict: str
    theorem: str
    reason: str
    construction: dict[str, Any] | None = None
    min_layers: int | None = None
    witness: Witness | None = None

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "theorem": self.theorem, "reason": self.reason,
                "construction": self.construction, "min_layers": self.min_layers,
                "witness": self.witness.to_json() if self.witness else None}


@dataclass
class Facts:
    """What the rules read from the minimal DFA and its syntactic monoid."""

    dfa: "DFA"
    monoid: Monoid
    aperiodic: bool
    is_group: bool
    groups: list = field(default_factory=list)  # distinct non-trivial GroupInfo
    letter_periods: list[int] = field(default_factory=list)
    letter_reflections: list[int] = field(default_factory=list)  # n - cycles (groups only)
    any_witness: Witness | None = None  # shortest u with period >= 2
    short_witness: Witness | None = None  # |u| <= 2, period >= 2
    letter_witness: Witness | None = None  # |u| == 1, period >= 2
    odd_witness: Witness | None = None  # period not a power of 2
    odd_letter_witness: Witness | None = None  # |u| == 1, period not dividing 2
    reset_only: bool = False  # every letter is the identity or a constant map
    action_degree: int = 0  # points of the small faithful permutation action (groups only)
    precision: str = "finite"  # "log": the rounding arguments (Theorems 1 and 2, Lemma 1) give nothing

    @property
    def finite(self) -> bool:
        return self.precision == "finite"

    @property
    def two_groups_only(self) -> bool:
        return all(_is_pow2(g.order) for g in self.groups)

    @property
    def nonsolvable(self) -> bool:
        return any(not g.solvable for g in self.groups)

    @property
    def group_info(self):
        """The monoid's own group info when it is a group (its single maximal subgroup)."""
        return self.groups[0] if self.is_group and self.groups else None

    def show(self, word) -> str:
        return self.dfa.word_str(word)


def _is_pow2(x: int) -> bool:
    return x >= 1 and x & (x - 1) == 0


# --------------------------------------------------------------------------- witnesses
def _shortest_words_to(dfa: "DFA") -> list[tuple[int, ...] | None]:
    words: list[tuple[int, ...] | None] = [None] * dfa.n_states
    words[dfa.start] = ()
    queue = deque([dfa.start])
    while queue:
        q = queue.popleft()
        for a in range(dfa.n_symbols):
            t = int(dfa.delta[q, a])
            if words[t] is None:
                words[t] = words[q] + (a,)
                queue.append(t)
    return words


def _distinguishing_suffix(dfa: "DFA", p: int, q: int) -> tuple[int, ...] | None:
    """Shortest word accepted from exactly one of ``p``, ``q``."""
    prev = {(p, q): None}
    queue = deque([(p, q)])
    while queue:
        s = queue.popleft()
        if dfa.accepting[s[0]] != dfa.accepting[s[1]]:
            word = []
            while prev[s] is not None:
                s, a = prev[s]
                word.append(a)
            return tuple(reversed(word))
        for a in range(dfa.n_symbols):
            t = (int(dfa.delta[s[0], a]), int(dfa.delta[s[1], a]))
            if t not in prev:
                prev[t] = (s, a)
                queue.append(t)
    return None


def _witness(dfa: "DFA", m: Monoid, i: int, to: list) -> Witness:
    """Build the :class:`Witness` for element ``i`` (period >= 2) of the syntactic monoid of minimal ``dfa``."""
    t = m.elements[i].astype(np.int64)
    index, period = transformation_index_period(t)
    powers = [np.arange(t.size)]
    for _ in range(index + period):
        powers.append(t[powers[-1]])
    a_m, a_m1 = powers[index], powers[index + 1]
    q = int(np.flatnonzero(a_m != a_m1)[0])
    y = _distinguishing_suffix(dfa, int(a_m[q]), int(a_m1[q]))
    assert y is not None, "the DFA is minimal, so distinct states are distinguishable"
    x = to[q]
    acc = []
    for r in range(period):
        state = int(powers[index + r][q])
        for a in y:
            state = int(dfa.delta[state, a])
        if dfa.accepting[state]:
            acc.append((index + r) % period)
    return Witness(m.word(i), index, period, dfa.decode(x), dfa.decode(y), tuple(sorted(acc)))


def _scan_witnesses(facts: Facts) -> None:
    m, dfa = facts.monoid, facts.dfa
    to = _shortest_words_to(dfa)
    lengths_needed = {"any": None, "odd": None}
    k = len(m.alphabet)
    limit = min(m.size, _SCAN_LIMIT)
    for i in range(1, limit):
        _, p = transformation_index_period(m.elements[i])
        if p >= 2 and lengths_needed["any"] is None:
            lengths_needed["any"] = i
        if not _is_pow2(p) and lengths_needed["odd"] is None:
            lengths_needed["odd"] = i
        if lengths_needed["any"] is not None and (lengths_needed["odd"] is not None or facts.two_groups_only):
            break
    if lengths_needed["any"] is None or (lengths_needed["odd"] is None and not facts.two_groups_only):
        # fall back to the members of non-trivial maximal subgroups (their periods are their orders)
        for sub in m.maximal_subgroups():
            for j in sub.members.tolist():
                _, p = transformation_index_period(m.elements[j])
                if p >= 2 and (lengths_needed["any"] is None or j < lengths_needed["any"]):
                    lengths_needed["any"] = j
                if not _is_pow2(p) and (lengths_needed["odd"] is None or j < lengths_needed["odd"]):
                    lengths_needed["odd"] = j
    if lengths_needed["any"] is not None:
        facts.any_witness = _witness(dfa, m, lengths_needed["any"], to)
    if lengths_needed["odd"] is not None:
        facts.odd_witness = _witness(dfa, m, lengths_needed["odd"], to)
    # short words: the first 1 + k + k^2 elements contain every element with a word of length <= 2
    for i in range(1, min(m.size, 1 + k + k * k)):
        if len(m.word_ids(i)) > 2:
            break
        _, p = transformation_index_period(m.elements[i])
        if p >= 2:
            facts.short_witness = _witness(dfa, m, i, to)
            break
    for a in range(k):
        p = facts.letter_periods[a]
        i = int(m.right[0, a])
        if p >= 2 and facts.letter_witness is None:
            facts.letter_witness = _witness(dfa, m, i, to)
        if p > 2 and facts.odd_letter_witness is None:
            facts.odd_letter_witness = _witness(dfa, m, i, to)


def gather_facts(dfa: "DFA", max_elements: int = DEFAULT_MAX_ELEMENTS) -> Facts:
    """Minimise ``dfa``, build its syntactic monoid and everything the verdict rules need."""
    from .groups import distinct_groups, small_faithful_action

    mdfa = minimal_complete_dfa(dfa)
    m = transition_monoid(mdfa, max_elements=max_elements)
    subs = m.maximal_subgroups()
    facts = Facts(mdfa, m, aperiodic=m.is_aperiodic(), is_group=m.is_group(),
                  groups=[s.info for s in distinct_groups(subs)])
    facts.letter_periods = [transformation_index_period(g)[1] for g in m.generators]
    ident = np.arange(m.degree)
    facts.reset_only = all(np.unique(g).size == 1 or np.array_equal(g, ident) for g in m.generators)
    if facts.is_group and facts.groups:
        action = small_faithful_action(m.generators, facts.groups[0].order)
        facts.action_degree = int(action.shape[1])
        facts.letter_reflections = [_reflections(g) for g in action]
    if not facts.aperiodic:
        _scan_witnesses(facts)
    return facts


def _reflections(perm: np.ndarray) -> int:
    """Number of reflections (transpositions) of a permutation: points minus cycles (Proposition 1)."""
    perm = np.asarray(perm, dtype=np.int64)
    seen = np.zeros(perm.size, dtype=bool)
    cycles = 0
    for q in range(perm.size):
        if not seen[q]:
            cycles += 1
            while not seen[q]:
                seen[q] = True
                q = int(perm[q])
    return int(perm.size - cycles)


# --------------------------------------------------------------------------- constructions
def _cons(layers, state_size, factors, note: str) -> dict[str, Any]:
    return {"layers": layers, "state_size": state_size, "factors_per_token": factors, "note": note}


def _cascade(kind: str) -> dict[str, Any]:
    return _cons(None, None, None, f"Krohn-Rhodes cascade of {kind}; depth and sizes are not computed here")


def _two_group_layers(facts: Facts) -> int:
    """Lower bound ceil(log2(largest element period)) on the layers of real-eigenvalue diagonal models."""
    best = 1
    for g in facts.groups:
        if g.element_orders:
            e = max(g.element_orders)
        elif g.abelian:
            e = max(_invariant_factors(g)) if g.abelian_invariants else 1
        else:
            e = 2
        best = max(best, e)
    for w in (facts.any_witness, facts.letter_witness):
        if w is not None:
            best = max(best, w.period)
    return max(1, ceil(log2(best)))


def _invariant_factors(g) -> list[int]:
    from .groups import _invariant_factors as inv

    return inv(list(g.abelian_invariants)) or [1]


# --------------------------------------------------------------------------- the rules
def _star_free(family: str, facts: Facts) -> Verdict:
    n = facts.dfa.n_states
    if facts.monoid.size == 1:
        return Verdict("constructible", "trivial", "the syntactic monoid is trivial: the language is empty or "
                       "everything, a constant decoder suffices", _cons(0, 0, 0, "constant output"), 0)
    # [0,1] families: Sarrof et al. 2024 (cited after Theorem 4) is the basis; [-1,1] families: Theorem 4's cascade
    th = "Sarrof et al. 2024; Theorem 4" if family.endswith("[0,1]") else "Theorem 4; Sarrof et al. 2024"
    if facts.reset_only:
        return Verdict("constructible", th,
                       "every letter acts as the identity or as a constant map (a reset automaton): one layer with a "
                       "one-hot state, A = I or A = 0 (per scalar head, a GH projection with beta = 1) and B = the "
                       "target state", _cons(1, n, 1, "one scalar head per DFA state"), min_layers=1)
    return Verdict("constructible", th,
                   f"the syntactic monoid ({facts.monoid.size} elements) is aperiodic (star-free language): a cascade "
                   "of reset automata (flip-flops) recognises it; a reset is A = 0 with B = the target "
                   "(non-negative diagonal entries, or GH projections with beta = 1)",
                   _cascade(f"resets (at most {n} states per component)"))


def _diag01(facts: Facts) -> Verdict:
    if facts.aperiodic:
        return _star_free("diagonal[0,1]", facts)
    w = facts.any_witness
    return Verdict("impossible", "Theorem 1 (mechanism); Sarrof et al. 2024",
                   f"{w.describe(facts.show)}; products of non-negative diagonal matrices stay non-negative, so on "
                   "x u^k y every layer's rounded state is eventually constant in k (any depth)", witness=w)


def _diag11(facts: Facts) -> Verdict:
    if facts.aperiodic:
        return _star_free("diagonal[-1,1]", facts)
    if facts.odd_witness is not None:
        w = facts.odd_witness
        extra = ("; the group is not solvable: even with log precision impossible unless TC0 = NC1 "
                 "(Merrill et al. 2024)") if facts.nonsolvable else ""
        return Verdict("impossible", "Theorem 2 (mechanism)" + ("; Merrill et al. 2024" if facts.nonsolvable else ""),
                       f"{w.describe(facts.show)}; with real diagonal transitions the state on x u^k y is eventually "
                       f"periodic with period dividing 2^L for L layers, never {w.period}{extra}", witness=w)
    L = _two_group_layers(facts)
    base = (f"every group in the syntactic monoid is a 2-group ({_groups_text(facts)}): its composition factors "
            "are Z2, realised by a -1 diagonal entry")
    if not facts.finite:
        return Verdict("constructible", "Theorem 1 (construction); Theorem 4", base, _two_group_construction(facts),
                       witness=facts.any_witness)
    return Verdict("constructible", "Theorem 1 (construction); Theorem 4; Lemma 1 (depth)",
                   f"{base}; an element of period {2 ** L} needs at least {L} layer(s) with real eigenvalues "
                   "(Lemma 1 and the proof of Theorem 2: with L real-eigenvalue layers the state on a repeated "
                   "block is eventually periodic with period dividing 2^L; Theorem 2 itself is about periods that "
                   "are not powers of two)", _two_group_construction(facts), min_layers=L,
                   witness=facts.any_witness)


def _two_group_construction(facts: Facts) -> dict[str, Any]:
    """Diagonal +-1 construction for monoids whose groups are 2-groups (scalar heads in DeltaNet)."""
    gi = facts.group_info
    if gi is not None and gi.abelian:
        factors = _invariant_factors(gi)
        if max(factors) == 2:
            return _cons(1, len(factors), 1, "one +-1 coordinate per Z2 factor (A = -1 flips it; a scalar "
                         "reflection per head)")
        return _cons(_two_group_layers(facts), len(factors), 1, "one binary counter of +-1 scalars per cyclic "
                     "factor, a layer per bit (the carry reads the updated lower bits)")
    return _cascade("Z2 sign flips (A = -1) and resets (A = 0)")


def _deltanet01(facts: Facts) -> Verdict:
    if facts.aperiodic:
        return _star_free("deltanet[0,1]", facts)
    w = facts.short_witness
    if w is not None:
        why = ("one GH factor with beta in [0,1] has eigenvalues in [0,1]" if len(w.word) == 1 else
               "the block u multiplies two GH factors with beta in [0,1], whose product has eigenvalues in [0,1] "
               "(Proposition 1)")
        return Verdict("impossible", "Theorem 1 (mechanism)" + ("" if len(w.word) == 1 else "; Proposition 1"),
                       f"{w.describe(facts.show)}; {why}, so every layer's rounded state on x u^k y is eventually "
                       "constant in k (any depth)", witness=w)
    return Verdict("open", "none",
                   f"the syntactic monoid has a non-trivial group ({_groups_text(facts)}) but every word with a "
                   f"non-trivial period has length >= 3 (shortest: {facts.show(facts.any_witness.word)!r}); a product "
                   "of three or more GH factors with beta in [0,1] can have non-real eigenvalues, so Theorem 1 "
                   "does not apply, and no construction is known", witness=facts.any_witness)


def _deltanet11(facts: Facts) -> Verdict:
    if facts.aperiodic:
        return _star_free("deltanet[-1,1]", facts)
    gi = facts.group_info
    ow = facts.odd_letter_witness if facts.finite else None
    min_layers = 2 if ow is not None else (1 if facts.finite else None)
    one_layer = f"; one layer is impossible ({_one_layer_bound(ow, facts)})" if ow is not None else ""
    two = _two_group_construction(facts) if facts.two_groups_only else None
    transpositions = facts.is_group and max(facts.letter_reflections, default=0) <= 1
    deg = facts.action_degree
    if transpositions and (two is None or two["layers"] is None or two["layers"] > 1 or two["state_size"] > deg):
        return Verdict("constructible", "Theorem 3; Proposition 1",
                       f"the syntactic monoid is a group ({_groups_text(facts)}) acting faithfully on {deg} points "
                       "where every letter is a single transposition (or the identity): one reflection per letter",
                       _cons(1, deg, 1, "state = distinct labels on the points; letter = reflection with key "
                             "e_i - e_j"), min_layers=1)
    if two is not None:
        return Verdict("constructible", "Theorem 1 (construction); Theorem 4",
                       f"every group in the syntactic monoid is a 2-group ({_groups_text(facts)}): scalar heads "
                       "(1 - beta in {-1, 0, 1}) implement the diagonal +-1 construction (Z2 sign flips and "
                       "resets)" + one_layer, two, min_layers=min_layers, witness=facts.any_witness)
    if gi is not None and gi.abelian:
        factors = _invariant_factors(gi)
        return Verdict("constructible", "Theorem 6",
                       f"the syntactic monoid is the abelian group {gi.name}: layer 1 tracks position parity "
                       f"(A = -1), layer 2 applies one 2x2 reflection per token per cyclic factor "
                       f"({' x '.join(f'Z{f}' for f in factors)}), chosen by symbol and parity{one_layer}",
                       _cons(2, 2 * len(factors), 1, "layer 1: state 1 (parity); layer 2: one 2x2 head per "
                             "cyclic factor"), min_layers=min_layers, witness=ow)
    if ow is not None:
        return Verdict("open", _one_layer_theorem(ow),
                       f"impossible with one layer ({_one_layer_bound(ow, facts)}); with two or more layers products "
                       "of reflections can rotate "
                       "(Theorem 6 does so for abelian groups), but no theorem decides this monoid "
                       f"({_groups_text(facts)})", min_layers=2, witness=ow)
    if facts.odd_witness is None:  # log precision: the one-layer bound is gone, nothing else decides
        return Verdict("open", "none",
                       f"the syntactic monoid contains {_groups_text(facts)}; with log precision the rounding "
                       "arguments do not apply and no construction with one reflection per token is known",
                       witness=facts.any_witness)
    return Verdict("open", "none",
                   f"the syntactic monoid contains {_groups_text(facts)} with an element of period "
                   f"{facts.odd_witness.period}, but every letter has period 1 or 2 and the letters are not all "
                   "single transpositions of a group: no theorem decides", witness=facts.odd_witness)


def _one_layer_theorem(w: Witness) -> str:
    """The result behind "one layer is impossible" for a letter ``w`` of period > 2."""
    return "Lemma 1 (one layer)" if _is_pow2(w.period) else "Theorem 2 (one layer)"


def _one_layer_bound(w: Witness, facts: Facts) -> str:
    """Why one GH factor per token in one layer cannot give the letter of ``w`` its period (> 2)."""
    if _is_pow2(w.period):
        return (f"Lemma 1: {w.describe(facts.show)}; a single GH factor A has real eigenvalues in [-1, 1], so A^2 has "
                "eigenvalues in [0, 1] and the rounded state on x u^(2k) y is eventually constant: its period "
                f"divides 2, never {w.period}")
    return (f"Theorem 2 with L = 1: {w.describe(facts.show)}, and a single GH factor has real eigenvalues, so the "
            f"period divides 2, never {w.period}")


def _deltaproduct01(facts: Facts) -> Verdict:
    if facts.aperiodic:
        return _star_free("deltaproduct[0,1]", facts)
    lw = facts.letter_witness if facts.finite else None
    part = (f"with n_h <= 2 factors per token it is impossible (Theorem 1 with Proposition 1: "
            f"{lw.describe(facts.show)}); " if lw is not None else "")
    return Verdict("open", "Theorem 1 (mechanism); Proposition 1" if lw is not None else "none",
                   f"{part}with n_h >= 3 factors with beta in [0,1] a token's matrix can have non-real eigenvalues "
                   "(all of modulus < 1 except the eigenvalue 1), so Theorem 1 does not apply, and no construction of "
                   f"a non-trivial group ({_groups_text(facts)}) is known", witness=lw or facts.any_witness)


def _deltaproduct11(facts: Facts) -> Verdict:
    n = facts.dfa.n_states
    if facts.monoid.size == 1:
        return _star_free("deltaproduct[-1,1]", facts)
    if facts.is_group:
        gi = facts.group_info
        if gi is not None and gi.abelian:
            factors = _invariant_factors(gi)
            size = sum(1 if f == 2 else 2 for f in factors)
            cons = _cons(1, size, size, "block diagonal: a scalar -1 per Z2 factor, a 2x2 rotation (two "
                         "reflections) per larger cyclic factor")
        else:
            cons = _cons(1, facts.action_degree, max(facts.letter_reflections, default=0),
                         f"state = distinct labels on {facts.action_degree} points permuted faithfully (the DFA has "
                         f"{n} states); each letter's permutation as points - cycles reflections")
        return Verdict("constructible", "Theorem 3; Proposition 1",
                       f"the syntactic monoid is a group ({_groups_text(facts) or 'trivial'}): one layer whose "
                       "letters act as orthogonal matrices (permutations, or rotations per cyclic factor), each a "
                       "product of reflections", cons, min_layers=1)
    return Verdict("constructible", "Theorem 4; Proposition 1",
                   "every regular language: a Krohn-Rhodes cascade of permutation-reset automata, each component a "
                   "layer of reflections (permutations) and projections (resets)",
                   _cascade(f"permutation-reset automata (at most {n} states per component)"))


def _unconstrained(facts: Facts) -> Verdict:
    n = facts.dfa.n_states
    return Verdict("constructible", "one-hot simulation",
                   f"one layer with a one-hot state over the {n} states of the minimal DFA: A(x) is the 0/1 transition "
                   "matrix of x, B = 0",
                   _cons(1, n, None, "A(x) = transition matrix (not a GH product)"), min_layers=1)


_RULES = {
    "diagonal[0,1]": _diag01, "diagonal[-1,1]": _diag11, "deltanet[0,1]": _deltanet01,
    "deltanet[-1,1]": _deltanet11, "deltaproduct[0,1]": _deltaproduct01, "deltaproduct[-1,1]": _deltaproduct11,
    "unconstrained": _unconstrained,
}


def _groups_text(facts: Facts) -> str:
    return ", ".join(g.name for g in facts.groups)


def _log_precision(family: str, v: Verdict, facts: Facts) -> Verdict:
    """Weaken the finite-precision negatives: the rounding arguments need finite precision."""
    if v.verdict != "impossible":
        return v
    if family.startswith("diagonal") and facts.nonsolvable:
        return Verdict("impossible-unless-TC0=NC1", "Merrill et al. 2024",
                       f"the syntactic monoid contains the non-solvable group "
                       f"{next(g.name for g in facts.groups if not g.solvable)}: its word problem is NC1-complete "
                       "and diagonal LRNNs with log precision are in TC0", witness=v.witness)
    return Verdict("open", "none", "with log precision the rounding argument does not apply: " + v.reason,
                   witness=v.witness)


def classify_facts(facts: Facts, precision: str = "finite") -> dict[str, Verdict]:
    """Verdict per family from precomputed :class:`Facts`."""
    if precision not in CLASSIFY_PRECISIONS:
        raise StatetrackError(f"precision must be 'finite' or 'log', got {precision!r}")
    facts.precision = precision
    out = {}
    for fam in FAMILIES:
        v = _RULES[fam](facts)
        if precision == "log":
            v = _log_precision(fam, v, facts)
        out[fam] = v
    return out


def classify(dfa: "DFA", precision: str = "finite", max_elements: int = DEFAULT_MAX_ELEMENTS) -> dict[str, Any]:
    """Which LRNN family can recognise the language of ``dfa``.

    Returns ``{"states", "monoid_size", "aperiodic", "is_group", "groups", "families": {family:
    {verdict, theorem, reason, construction, min_layers, witness}}}`` (JSON-ready).

    Example:
        >>> from statetrack.automata.dfa import DFA
        >>> parity = DFA(["0", "1"], None, 0, [True, False], [[0, 1], [1, 0]])
        >>> v = classify(parity)["families"]
        >>> v["diagonal[0,1]"]["verdict"], v["diagonal[-1,1]"]["verdict"]
        ('impossible', 'constructible')
    """
    facts = gather_facts(dfa, max_elements=max_elements)
    verdicts = classify_facts(facts, precision)
    return {
        "states": facts.dfa.n_states,
        "monoid_size": facts.monoid.size,
        "aperiodic": facts.aperiodic,
        "is_group": facts.is_group,
        "precision": precision,
        "groups": [g.to_json() for g in facts.groups],
        "families": {f: v.to_json() for f, v in verdicts.items()},
    }
