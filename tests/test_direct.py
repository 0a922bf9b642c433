"""The direct search for shallow stacks of small DFAs (constructions/direct.py) and its use by the cascade."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.constructions import compile_language, prove
from statetrack.constructions.bitcode import search_bit_code
from statetrack.constructions.budget import WorkBudget
from statetrack.constructions.cascade import compile_cascade
from statetrack.constructions.direct import congruences, direct_search, prefix_search, register_component
from statetrack.constructions.group import minimal_dfa

#: a 3-state random DFA (seed 0, number 24 of the size benchmark, minimised) whose cascade has 3 layers
RANDOM24 = DFA("abc", None, 0, [True, False, False], [[1, 0, 0], [2, 0, 0], [1, 0, 2]])


def _partitions(n: int):
    """Every partition of ``range(n)`` as class ids (restricted growth strings): the plain reference."""
    def grow(prefix: list[int], top: int):
        if len(prefix) == n:
            yield tuple(prefix)
            return
        for c in range(top + 2):
            yield from grow(prefix + [c], max(top, c))
    yield from grow([0], 0)


def _is_congruence(delta: np.ndarray, lab: tuple[int, ...]) -> bool:
    n, S = delta.shape
    return all(lab[int(delta[p, a])] == lab[int(delta[q, a])]
               for p, q in itertools.combinations(range(n), 2) if lab[p] == lab[q] for a in range(S))


@pytest.mark.parametrize("lang", ["tomita:5", "tomita:7", "group:S3", "mod:4"])
def test_congruences_are_exactly_the_partitions_every_letter_respects(lang):
    delta = np.asarray(minimal_dfa(get_language(lang)).delta)
    n = delta.shape[0]
    want = {p for p in _partitions(n) if _is_congruence(delta, p) and max(p) > 0 and max(p) < n - 1}
    got, complete = congruences(delta)
    assert complete and set(got) == want and len(got) == len(want)


def test_congruences_of_fresh_random_automata_match_the_reference():
    rng = np.random.default_rng(7)
    for _ in range(12):
        n = int(rng.integers(3, 7))
        delta = rng.integers(0, n, size=(n, 2))
        want = {p for p in _partitions(n) if _is_congruence(delta, p) and max(p) > 0 and max(p) < n - 1}
        got, complete = congruences(delta)
        assert complete and set(got) == want


@pytest.mark.parametrize("dfa", [minimal_dfa(get_language("tomita:7")), minimal_dfa(RANDOM24)],
                         ids=["tomita:7", "random24"])
def test_direct_stacks_are_proved_and_shallower_than_the_cascade(dfa):
    assert search_bit_code(dfa).status == "impossible"  # one layer of bit codes is impossible here
    _, cascade = compile_cascade(dfa, direct=False)
    res = direct_search(dfa, max_layers=cascade["layers"] - 1)
    assert res.model is not None and res.layers == res.model.num_layers == 2 < cascade["layers"]
    assert prove(res.model).proved and res.model.construction == "direct"
    model, rep = compile_language(dfa)  # auto uses it
    assert rep["construction"] == "direct" and rep["layers"] == 2
    assert rep["direct"]["cascade_layers"] == cascade["layers"]
    assert prove(model).proved and "direct search" in rep["reason"]


#: a 4-state random DFA (seed 0, number 1 of the size benchmark, minimised): 3 cascade layers, nothing shallower found
RANDOM1 = DFA("abc", None, 0, [False, True, False, False], [[1, 2, 2], [1, 2, 1], [1, 3, 2], [3, 1, 2]])


@pytest.mark.parametrize("dfa", [minimal_dfa(RANDOM1), minimal_dfa(get_language("tomita:4"))],
                         ids=["random1", "tomita:4"])
def test_a_search_that_finds_nothing_changes_nothing(dfa):
    plain_model, plain = compile_cascade(dfa, direct=False)
    model, rep = compile_cascade(dfa)
    assert prove(model).proved
    if plain["layers"] <= 2:  # tomita:4: two layers already, the search does not run
        assert rep["direct"] is None and rep["layers"] == plain["layers"] and rep["construction"] == "cascade"
        return
    res = direct_search(dfa, max_layers=min(3, plain["layers"] - 1))
    assert res.model is None and res.complete and res.tried > 0
    assert prefix_search(plain_model, plain["layers"]) is None
    assert rep["construction"] == "cascade" and rep["layers"] == plain["layers"] and not rep["direct"]["found"]
    assert (model.tensors["layers.0.keys"] == plain_model.tensors["layers.0.keys"]).all()


def test_the_cascade_prefix_under_the_dfa_makes_tomita_3_shallower():
    d = minimal_dfa(get_language("tomita:3"))
    plain_model, plain = compile_cascade(d, direct=False)
    out = prefix_search(plain_model, plain["layers"])
    assert out is not None and out.num_layers == plain["layers"] - 1 == 4 and prove(out).proved
    for l in range(out.num_layers - 1):  # the kept layers act as the cascade's
        for name in ("keys", "betas", "values", "h0", "codes"):
            assert np.array_equal(out.tensors[f"layers.{l}.{name}"], plain_model.tensors[f"layers.{l}.{name}"])
    assert prefix_search(plain_model, 4) is None  # no 3-layer prefix stack: the first 2 cascade layers leave too much
    b = WorkBudget(5)
    assert prefix_search(plain_model, plain["layers"], budget=b) is None and b.used <= 5 and "direct" in b.stopped


def test_one_layer_is_never_reported():
    d = minimal_dfa(get_language("tomita:7"))
    assert direct_search(d, max_layers=1).model is None
    res = direct_search(d, max_layers=3)
    assert res.layers == 2 and all(int(i["n"]) >= 1 for i in res.model.meta["layers"])


def test_the_search_stays_within_its_work_budget_and_says_so():
    d = minimal_dfa(get_language("tomita:7"))
    for total in (0, 50, 400):
        b = WorkBudget(total)
        res = direct_search(d, budget=b)
        assert b.used <= total and res.model is None and not res.complete and "direct" in b.stopped
    b = WorkBudget()
    res = direct_search(d, budget=b)
    assert res.model is not None and res.complete and b.spent["direct"] > 0 and b.stopped == []
    again = direct_search(d, budget=WorkBudget())
    assert again.layers == res.layers and again.chain == res.chain  # deterministic


def test_register_component_follows_the_last_letters():
    comp = register_component(2, 2)
    rng = np.random.default_rng(3)
    for _ in range(20):
        word = rng.integers(0, 2, size=int(rng.integers(0, 6))).tolist()
        s = comp.start
        for a in word:
            s = int(comp.delta[s, a])
        code = comp.codes[s].reshape(2, 2)
        tail = word[-2:]
        want = np.zeros((2, 2))
        for b, a in enumerate(tail):
            want[2 - len(tail) + b, a] = 1.0
        assert (code == want).all()
        for a in range(2):  # the letter's bit-code action moves the code exactly
            act = comp.actions[a]
            h = np.where(act.source >= 0, comp.codes[s][np.maximum(act.source, 0)], act.const)
            assert (h == comp.codes[int(comp.delta[s, a])]).all()


# ------------------------------------------------------------------ the width-2 convolution coupling
def _runs_like_its_dfa(model, seed: int, n_words: int = 16, length: int = 40) -> None:
    """The float runner (:class:`statetrack.lrnn.compiled.CompiledLRNN`) hands out the DFA's states on fresh random
    words."""
    import torch

    from statetrack.lrnn.compiled import CompiledLRNN

    d = model.dfa()
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, d.n_symbols, size=(n_words, length))
    states, drift = CompiledLRNN(model).run_states(torch.from_numpy(ids))
    want = np.empty_like(ids)
    for b, word in enumerate(ids):
        q = d.start
        for t, a in enumerate(word):
            q = int(d.delta[q, a])
            want[b, t] = q
    assert np.array_equal(states.numpy(), want) and drift == 0.0


#: random DFA 25 of the size benchmark (seed 0), minimised: 2 layers with the convolution before, now 1
RANDOM25 = DFA("abc", None, 0, [False, False, True, True], [[0, 1, 2], [0, 3, 0], [2, 2, 0], [0, 3, 0]])


@pytest.mark.parametrize("lang,before,now", [("tomita:7", 2, 1), ("tomita:3", 4, 2),
                                             ("random25", 2, 1)])
def test_convolution_stacks_are_proved_and_shallower_than_before(lang, before, now):
    d = minimal_dfa(RANDOM25 if lang == "random25" else get_language(lang))
    plain_model, plain = compile_cascade(d, coupling="conv", direct=False)
    assert plain["layers"] == before
    model, rep = compile_language(d, coupling="conv")
    assert rep["construction"] == "direct" and rep["layers"] == model.num_layers == now
    assert prove(model).proved
    assert any("conv" in info for info in model.meta["layers"])
    _runs_like_its_dfa(model, seed=now)


def test_one_layer_with_the_convolution_reads_letter_pairs():
    d = minimal_dfa(get_language("tomita:7"))
    assert search_bit_code(d).status == "impossible"  # no one-layer bit code without the convolution
    res = direct_search(d, max_layers=1, conv=True)
    assert res.layers == 1 and res.chain == [] and prove(res.model).proved
    cv = res.model.tensors["layers.0.conv"]
    assert cv.shape == (d.n_symbols + 1, d.n_symbols)
    assert direct_search(d, max_layers=1).model is None  # without the convolution: no one-layer stack


def test_pair_automaton_is_the_dfa_after_each_letter_without_its_sink():
    from statetrack.constructions.direct import pair_automaton

    rng = np.random.default_rng(5)
    for _ in range(10):
        n = int(rng.integers(3, 7))
        delta = rng.integers(0, n, size=(n, 2))
        delta[n - 1] = n - 1  # a sink (rejecting: accepting only state 0)
        d = DFA("ab", None, 0, [q == 0 for q in range(n)], delta)
        pd, keep = pair_automaton(d)
        for p in range(3):
            after = {d.start} if p == 2 else {int(x) for x in delta[:, p]}
            for q in range(n):
                for a in range(2):
                    ok = q in after and q != n - 1 and int(delta[q, a]) != n - 1
                    assert pd[q, p * 2 + a] == (int(delta[q, a]) if ok else -1)
        assert not keep[n - 1] and keep[: n - 1].all() if n - 1 != 0 else True


def test_coarsened_classes_keep_every_run_exact():
    from statetrack.constructions.stack_merge import _coarsen, _triples

    rng = np.random.default_rng(9)
    merged = 0
    for _ in range(30):  # random partial machines: each symbol defined on some classes, one output per entry
        k, S = int(rng.integers(2, 8)), int(rng.integers(1, 5))
        step = rng.integers(0, k, size=(k, S))
        defined = rng.random((k, S)) < 0.6
        out = rng.integers(0, 3, size=(k, S))  # output when class k is entered by symbol s
        sym, old = np.nonzero(defined.T)
        new = step[old, sym]
        pairs = _triples(sym, old, new)
        ent = _triples(new, sym, out[new, sym])
        g = _coarsen(k, pairs, ent)
        merged += int(g.max()) + 1 < k
        for s_ in range(S):  # determinism and one output per (class, symbol) after the merge
            seen_next, seen_out = {}, {}
            for c in range(k):
                if defined[c, s_]:
                    t = int(step[c, s_])
                    assert seen_next.setdefault(int(g[c]), int(g[t])) == int(g[t])
                    assert seen_out.setdefault(int(g[t]), int(out[t, s_])) == int(out[t, s_])
    assert merged > 0


def test_the_convolution_search_stays_within_its_work_budget():
    d = minimal_dfa(get_language("flipflop"))
    for total in (0, 100, 5000):
        b = WorkBudget(total)
        res = direct_search(d, budget=b, conv=True)
        assert b.used <= total and res.model is None and not res.complete and "direct" in b.stopped
    b = WorkBudget(10 ** 8)
    direct_search(d, budget=b, conv=True)
    from statetrack.constructions.direct import CONV_STEPS

    assert b.used <= CONV_STEPS  # the convolution's search draws at most CONV_STEPS of the compile's budget


def test_registers_over_the_walk_cap_are_never_built():
    """A large alphabet: registers of more than MAX_CONFIGS states (which the walk refuses) are left out before any
    is built, and the candidates are made lazily, so the search over 40 letters stays small."""
    import itertools

    from statetrack.constructions.direct import MAX_CONFIGS, _candidates

    rng = np.random.default_rng(3)
    S = 40
    dfa = DFA(tuple(f"s{i}" for i in range(S)), None, 0, [True, False, False, True],
              rng.integers(0, 4, size=(4, S)).tolist())
    for depth in (2, 3):
        comps = list(itertools.islice(_candidates(dfa, [(0, 1, 2, 3)], [], depth, 4), 50))
        regs = [c for cs in comps for c in cs if c.name.startswith("register")]
        assert regs and all(c.delta.shape[0] <= MAX_CONFIGS for c in regs)
        assert {c.name for c in regs} == {"register of the last 2 letters"}  # 1 + 40 + 1600 states; k = 3: 65,641


def _partial_congruence(delta: np.ndarray, lab: tuple[int, ...]) -> bool:
    """Every step defined at two states of one class leads them to one class (-1: undefined)."""
    n, P = delta.shape
    return all(lab[int(delta[p, a])] == lab[int(delta[q, a])] for p, q in itertools.combinations(range(n), 2)
               if lab[p] == lab[q] for a in range(P) if delta[p, a] >= 0 and delta[q, a] >= 0)


def _coarser(big: tuple[int, ...], small: tuple[int, ...]) -> bool:
    return all(big[p] == big[q] for p, q in itertools.combinations(range(len(big)), 2) if small[p] == small[q])


def test_separating_congruences_are_the_fewest_class_ones_of_the_reference():
    """Fresh random partial automata (-1: undefined) with a sink row and random pairs to keep apart: the backtracking
    search returns exactly the congruences with the fewest classes that keep every pair apart (brute force over
    every partition of the non-sink states)."""
    from statetrack.constructions.direct import separating_congruences

    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(40):
        n, P = int(rng.integers(3, 8)), int(rng.integers(2, 7))
        delta = rng.integers(0, n - 1, size=(n, P))
        delta[rng.random((n, P)) < 0.5] = -1
        delta[n - 1] = -1  # the sink: never entered, no step defined
        keep = np.arange(n) < n - 1
        sep = sorted({tuple(sorted(map(int, rng.choice(n - 1, 2, replace=False))))
                      for _ in range(int(rng.integers(1, 4)))})
        ok = []
        for lab in _partitions(n - 1):
            full = lab + (max(lab) + 1,)
            if any(full[x] == full[y] for x, y in sep):
                continue
            if _partial_congruence(delta, full):
                ok.append(lab)
        fewest = min((max(lab) for lab in ok), default=None)
        want = {lab for lab in ok if max(lab) == fewest and fewest >= 1 and fewest < n - 2}
        got = separating_congruences(delta, keep, sep, cap=10 ** 6)
        got_cls = {tuple(c[:n - 1]) for c in got}
        assert all(c[n - 1] not in c[:n - 1] for c in got)  # the sink alone
        assert got_cls == want, (delta.tolist(), sep, sorted(got_cls), sorted(want))
        checked += bool(want)
    assert checked >= 10


def test_flipflop_in_two_layers_with_the_convolution():
    """The separating letter-pair quotient (the last written bit) under the DFA: two proved layers (four before)."""
    d = minimal_dfa(get_language("flipflop"))
    model, rep = compile_language(d, coupling="conv")
    assert rep["construction"] == "direct" and rep["layers"] == model.num_layers == 2
    assert rep["direct"]["below"] == ["quotient of the letter-pair automaton (2 classes)"]
    assert prove(model).proved
    _runs_like_its_dfa(model, seed=2)


def test_closure_of_partial_automata_is_the_smallest_congruence_above():
    """A step defined at only some members of a class still binds them (the class's steps are compared, not only
    those of the pair merged): brute force over every partition on fresh random partial automata."""
    from statetrack.constructions.direct import _close

    rng = np.random.default_rng(12)
    for _ in range(30):
        n, P = int(rng.integers(3, 7)), int(rng.integers(1, 4))
        delta = rng.integers(0, n, size=(n, P))
        delta[rng.random((n, P)) < 0.5] = -1
        start = tuple(int(x) for x in rng.integers(0, n, size=n))

        above = [lab for lab in _partitions(n) if _partial_congruence(delta, lab) and _coarser(lab, start)]
        smallest = [lab for lab in above if all(_coarser(o, lab) for o in above)]
        assert [_close(delta, np.array(start))] == smallest


def _all_partitions(n: int):
    """Every partition of range(n) as canonical class ids (restricted growth strings)."""
    def grow(prefix):
        if len(prefix) == n:
            yield tuple(prefix)
            return
        for c in range(max(prefix, default=-1) + 2):
            yield from grow(prefix + [c])
    yield from grow([])


def _is_congruence(pdelta: np.ndarray, lab: tuple[int, ...]) -> bool:
    """Plain check on a partial automaton: members of a class step into one class wherever both steps are defined
    (classes' steps compared as wholes: a defined step of one member fixes the class's step)."""
    for a in range(pdelta.shape[1]):
        to: dict[int, int] = {}
        for q, c in enumerate(lab):
            t = int(pdelta[q, a])
            if t >= 0 and to.setdefault(c, lab[t]) != lab[t]:
                return False
    return True


@pytest.mark.parametrize("seed", range(6))
def test_few_class_congruences_are_every_coarse_congruence_of_the_automaton_without_its_sink(seed):
    from statetrack.constructions.direct import few_class_congruences, sink_free_automaton

    rng = np.random.default_rng(seed)
    n, S = 6, 2
    delta = rng.integers(0, n - 1, size=(n, S))
    delta[n - 1] = n - 1  # a rejecting sink
    delta[rng.random((n, S)) < 0.25] = n - 1
    d = DFA("ab", None, 0, [q % 2 == 0 and q < n - 1 for q in range(n)], delta)
    pdelta, keep = sink_free_automaton(d)
    assert not keep[n - 1] and keep[:n - 1].all()
    assert ((pdelta == -1) == ((delta == n - 1) | (np.arange(n) == n - 1)[:, None])).all()
    got, complete = few_class_congruences(pdelta, keep, 3)
    assert complete
    want = set()
    for lab in _all_partitions(n - 1):
        full = lab + (max(lab) + 1,)  # the sink alone
        if 2 <= max(lab) + 1 <= 3 and _is_congruence(pdelta, full):
            want.add(full)
    assert set(got) == want and len(got) == len(want)
    assert [max(c[q] for q in range(n - 1)) for c in got] == sorted(max(c[q] for q in range(n - 1)) for c in got)


def test_product_component_runs_its_parts_side_by_side():
    from statetrack.constructions.direct import product_component, quotient_component, register_component

    d = minimal_dfa(get_language("modarith:3"))
    cons, _ = congruences(np.asarray(d.delta))
    masks = search_bit_code(DFA(d.alphabet, None, 0, [False] * 3, np.array(
        [[cons[0][int(d.delta[cons[0].index(c), a])] for a in range(d.n_symbols)] for c in range(3)]))).masks
    parts = [quotient_component(d, cons[0], masks), register_component(d.n_symbols, 1)]
    prod = product_component(parts)
    rng = np.random.default_rng(0)
    for _ in range(20):  # the product's state and code after a word are the parts' own, side by side
        word = rng.integers(0, d.n_symbols, size=int(rng.integers(0, 8)))
        states = [p.start for p in parts]
        q = prod.start
        h = prod.codes[q].copy()
        for a in word:
            states = [int(p.delta[s, a]) for p, s in zip(parts, states)]
            q = int(prod.delta[q, a])
            act = prod.actions[a]
            h = np.where(act.source >= 0, np.where(act.negate, 1 - h[act.source], h[act.source]), act.const)
        assert np.array_equal(prod.codes[q], np.concatenate([p.codes[s] for p, s in zip(parts, states)]))
        assert np.array_equal(h, prod.codes[q])


@pytest.mark.parametrize("lang,coupling,depth", [("modarith:3", "copy", 2), ("tomita:3", "copy", 2),
                                                 ("tomita:3", "conv", 2)])
def test_quotients_without_the_sink_give_the_catalog_depth_targets(lang, coupling, depth):
    """Issue 15's targets (at most half the original depth): modarith:3 without the convolution 5 -> 2, tomita:3
    9 -> 2 without it and 5 -> 2 with it; the first layer runs a quotient of the DFA without its sink (beside a
    quotient of the DFA), the second the DFA's state."""
    d = minimal_dfa(get_language(lang))
    model, rep = compile_language(d, coupling=coupling)
    assert rep["construction"] == "direct" and rep["layers"] == model.num_layers == depth
    assert any("without its sink" in b for b in rep["direct"]["below"])
    assert prove(model).proved
    _runs_like_its_dfa(model, seed=depth)


def test_letter_pair_quotients_only_up_to_twelve_states(monkeypatch):
    """With the convolution, DFAs of 13-24 states get the direct search without letter-pair quotients (their bit-code
    searches cost seconds each there and found no stack); up to 12 states they are built as before."""
    import statetrack.constructions.direct as direct

    calls = []
    real = direct._pair_components
    monkeypatch.setattr(direct, "_pair_components", lambda dfa, budget: calls.append(dfa.n_states) or real(dfa, budget))
    big = minimal_dfa(get_language("modarith:3"))
    assert direct.MAX_STATES < big.n_states <= direct.MAX_STATES_LARGE
    direct_search(big, budget=WorkBudget(50_000), conv=True)
    assert calls == []
    small = minimal_dfa(get_language("tomita:3"))
    direct_search(small, budget=WorkBudget(50_000), conv=True)
    assert calls == [small.n_states]


def test_zero_width_layer_is_no_stack_not_a_crash():
    """A merged layer whose state is a function of what it reads has no bits; the conv search skips such a stack
    (it raised ModelFormatError before) and compile still builds a proved model."""
    from statetrack.automata.formats import dfa_from_json

    d = dfa_from_json({
        "alphabet": list("abcd"), "states": ["0", "1", "2", "3"], "start": "0", "accepting": ["0", "1", "2"],
        "transitions": {"0": {"a": "3", "b": "1", "c": "3", "d": "3"}, "1": {"a": "1", "b": "3", "c": "3", "d": "3"},
                        "2": {"a": "2", "b": "3", "c": "2", "d": "3"}, "3": {"a": "2", "b": "3", "c": "1", "d": "3"}}})
    m = minimal_dfa(d)
    res = direct_search(m, conv=True)
    assert res.model is None or prove(res.model).proved
    model, rep = compile_language(m, "auto", coupling="conv")
    assert prove(model).proved


def test_sink_free_searches_are_charged_and_capped(monkeypatch):
    """The DFA without its sink is tried as a component itself only up to SINK_FREE_ITSELF_STATES non-sink states, and
    each bit-code search of a sink-free component is charged its table over the 2^(k-1) subsets."""
    import statetrack.constructions.direct as direct

    delta = [[1, 2], [3, 4], [5, 6], [1, 3], [7, 1], [6, 8], [9, 10], [9, 11], [12, 10], [0, 9], [8, 3], [9, 11],
             [12, 12]]
    acc = [q in (0, 3, 6, 7, 9) for q in range(13)]
    d = minimal_dfa(DFA("ab", None, 0, acc, np.array(delta)))
    pdelta, keep = direct.sink_free_automaton(d)
    assert keep.sum() > direct.SINK_FREE_ITSELF_STATES
    seen = []
    real = direct.sink_free_component
    monkeypatch.setattr(direct, "sink_free_component",
                        lambda dfa, lab, *a, **k: seen.append(len({lab[q] for q in np.flatnonzero(keep)}))
                        or real(dfa, lab, *a, **k))
    direct._sink_free_components(d, WorkBudget(10**6))
    assert int(keep.sum()) not in seen  # the DFA itself (every non-sink state its own class) was not tried
    b = WorkBudget(10**6)
    lab = tuple(range(keep.size))  # the DFA without its sink, 12 classes: at least 2^11 * 2 steps charged
    monkeypatch.setattr(direct, "sink_free_component", real)
    direct.sink_free_component(d, lab, pdelta, keep, b, max_fills=1)
    assert b.used >= (1 << 11) * 2
