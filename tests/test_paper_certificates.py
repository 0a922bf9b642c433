"""The paper model's certificates for dense blocks: growth to +-inf, certified float64 decay, the compiled loop.

Every test draws fresh random layers (the seed is printed on failure) and compares with a plain reference: App. B's
definition evaluated with Fractions (:func:`paper_states_bruteforce`) or the exact-only analysis."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from statetrack.lrnn.claims import paper_model
from statetrack.lrnn.claims.paper_frame import build_frame, exact_inverse, exact_matmul
from statetrack.lrnn.claims.paper_growth import growth_certificate
from statetrack.lrnn.claims.paper_model import cast_fraction, paper_layer, paper_states_bruteforce
from statetrack.lrnn.claims.paper_tail import UNCERTAIN, VANISHED, follow, follow_reference
from statetrack.lrnn.claims.precision import FORMATS, round_to_grid


def _seed() -> int:
    return int(np.random.SeedSequence().entropy % 10 ** 6)


def _dense(rng, fmt, eigs) -> np.ndarray:
    """A dense matrix on the dtype grid with eigenvalues about ``eigs`` (a random well-conditioned basis)."""
    n = len(eigs)
    V = np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    return round_to_grid(V @ np.diag(eigs) @ np.linalg.inv(V), fmt)


def _constant_input_states(A: np.ndarray, B: np.ndarray, H0: np.ndarray, fmt, T: int) -> list[np.ndarray]:
    """App. B's formula for a constant input, ``Hhat_k = cast(sum_{j<k} cast(A^j B) + cast(A^k H0))`` for
    ``k = 1..T``, with Fractions and IEEE rules for infinite terms (``O(T)`` products: the terms are formed one after
    the other; the same definition as :func:`paper_states_bruteforce`, which is ``O(T^2)``)."""
    from statetrack.lrnn.claims.paper_model import ExactSum

    Ar = np.array([[Fraction(float(v)) for v in row] for row in A], dtype=object)
    term = np.array([[Fraction(float(v)) for v in row] for row in B], dtype=object)
    h = np.array([[Fraction(float(v)) for v in row] for row in H0], dtype=object)
    acc = ExactSum(B.shape)
    out = []
    for _ in range(T):
        acc.add(np.array([[cast_fraction(x, fmt) for x in row] for row in term]))
        h = Ar.dot(h)
        state = acc.copy().add(np.array([[cast_fraction(x, fmt) for x in row] for row in h]))
        out.append(state.cast(fmt))
        term = Ar.dot(term)
    return out


def test_constant_input_reference_is_the_definition():
    rng = np.random.default_rng(_seed())
    fmt = FORMATS["float16"]
    A = _dense(rng, fmt, [2.5, 0.5])
    B = round_to_grid(rng.standard_normal((2, 1)), fmt)
    H0 = round_to_grid(rng.standard_normal((2, 1)), fmt)
    a = _constant_input_states(A, B, H0, fmt, 16)
    b = paper_states_bruteforce([A] * 16, [B] * 16, H0, fmt)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def test_exact_frame_is_exact():
    rng = np.random.default_rng(_seed())
    A = _dense(rng, FORMATS["bfloat16"], [1.2, 0.5, -0.3])
    fr = build_frame(A)
    Ar = [[Fraction(float(v)) for v in row] for row in A]
    assert exact_matmul(fr.X, fr.M) == exact_matmul(Ar, fr.X)  # A X = X M exactly
    assert exact_inverse(fr.Xinv) == fr.X
    assert fr.lead_real and abs(float(fr.lead) - np.max(np.linalg.eigvals(A).real)) < 1e-9


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
@pytest.mark.parametrize("extend", [True, False])
def test_growth_matches_the_bruteforce_definition(monkeypatch, name, extend):
    """Dense layers with a dominant eigenvalue above 1 (and sometimes a second one above 1, so that a summed entry can
    meet both infinities): Hhat_t from the growth certificate equals App. B's definition from the settle bound on.
    ``extend=False`` skips the exact completion, so the certificate's own sign analysis (and, for the summed terms,
    the certified float64 run up to the sign change) decides every infinity."""
    fmt = FORMATS[name]
    seed = _seed()
    rng = np.random.default_rng([7, len(name), int(extend), seed])
    if not extend:
        monkeypatch.setattr(paper_model, "GROWTH_EXACT_EXTEND", 0)
        monkeypatch.setattr(paper_model, "EXACT_DENSE_STEPS", 1)
    big = 3.0 if name == "float16" else 600.0  # reach the overflow within a short brute-force horizon
    decided = 0
    for _ in range(3):
        n, D = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        second = rng.choice([0.5, big * 0.9, -0.7])
        A = _dense(rng, fmt, [big, second] + list(rng.uniform(-0.5, 0.5, n - 2)))
        B = round_to_grid(rng.standard_normal((n, D)), fmt)
        H0 = round_to_grid(rng.standard_normal((n, D)) * rng.choice([0.0, 1.0]), fmt)
        res = paper_layer([], [], H0, A, B, fmt, max_steps=8)
        if not res.decided:
            continue
        decided += 1
        assert res.certificates["growth"] > 0, seed
        T = res.settle_step + 3
        assert T < 200, (seed, T)
        ref = _constant_input_states(A, B, H0, fmt, T)
        for t in range(res.settle_step, T + 1):
            assert np.array_equal(ref[t - 1], res.state(t), equal_nan=True), (seed, t, ref[t - 1], res.state(t))
    assert decided, seed


def test_growth_certificate_refuses_what_it_cannot_prove():
    fmt = FORMATS["float16"]
    fr = build_frame(np.array([[1.0, 0.25], [0.0, 1.0]]))  # a Jordan block at 1: linear growth, no certificate
    assert fr is None or growth_certificate(fr, [Fraction(1), Fraction(1)], fmt) is None
    fr = build_frame(np.array([[0.5, 0.0], [0.0, 2.0]]))
    assert growth_certificate(fr, [Fraction(1), Fraction(0)], fmt) is None  # no component on the growing direction
    g = growth_certificate(fr, [Fraction(1), Fraction(-3)], fmt)
    assert g is not None and g.signs.tolist() in ([0.0, -1.0], [1.0, -1.0], [-1.0, -1.0]) or g is None


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_float_decay_matches_the_exact_only_path(monkeypatch, name):
    """Contracting dense layers: the certified float64 run (after one exact term) gives the same states as following
    every term exactly until it vanishes (with ``||A^q||_inf <= 1`` for some ``q <= 96``), before, at and long after
    the settle bound."""
    fmt = FORMATS[name]
    seed = _seed()
    rng = np.random.default_rng([11, len(name), seed])
    rho = 0.93 if name == "float16" else 0.6  # exact-only must vanish within a few hundred terms
    n, D = int(rng.integers(2, 4)), int(rng.integers(1, 3))
    A = _dense(rng, fmt, [rho] + list(rng.uniform(-0.5, 0.5, n - 1)))
    B = round_to_grid(rng.standard_normal((n, D)), fmt)
    H0 = round_to_grid(rng.standard_normal((n, D)), fmt)
    As = [round_to_grid(rng.uniform(-1, 1, (n, n)), fmt)]
    Bs = [round_to_grid(rng.standard_normal((n, D)), fmt)]
    monkeypatch.setattr(paper_model, "EXACT_DENSE_STEPS", 1)
    fast = paper_layer(As, Bs, H0, A, B, fmt, max_steps=1)
    monkeypatch.setattr(paper_model, "EXACT_DENSE_STEPS", 10 ** 6)
    monkeypatch.setattr(paper_model, "DENSE_FLOAT_STEPS", 0)
    monkeypatch.setattr(paper_model, "MAX_POWER", 96)  # the exact path's own vanishing test, ||A^q||_inf <= 1
    slow = paper_layer(As, Bs, H0, A, B, fmt, max_steps=2000)
    assert slow.decided, seed
    if build_frame(A).norm > 1:  # numpy's basis not good enough for ||M|| <= 1: the fast path must refuse
        assert not fast.decided
        return
    assert fast.decided and fast.certificates["vanish"] > 0 and fast.period == slow.period, seed
    top = max(fast.settle_step, slow.settle_step)
    for t in sorted({2, 5, 40, top - 1, top, top + 2, 10 ** 15}):
        assert np.array_equal(fast.state(t), slow.state(t), equal_nan=True), (seed, t)


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_compiled_loop_matches_the_plain_loop(name):
    """The compiled loop and the same code run as plain Python agree on fresh random blocks and columns, and every
    cast it reports equals the exact cast of ``A^j y``."""
    fmt = FORMATS[name]
    seed = _seed()
    rng = np.random.default_rng([3, len(name), seed])
    n = int(rng.integers(2, 4))
    A = _dense(rng, fmt, list(rng.uniform(0.3, 0.97, n)))
    fr = build_frame(A)
    ys = [[Fraction(float(v)) for v in round_to_grid(rng.standard_normal(n), fmt)] for _ in range(3)]
    steps = 300
    a = follow(fr, A, ys, fmt, steps, hist_cap=40)
    b = follow_reference(fr, A, ys, fmt, steps, hist_cap=40)
    assert np.array_equal(a.status, b.status) and np.array_equal(a.stop, b.stop) and a.sums == b.sums, seed
    assert np.array_equal(a.hist, b.hist) and np.array_equal(a.first_pos, b.first_pos), seed
    Ar = [[Fraction(float(v)) for v in row] for row in A]
    for c, y in enumerate(ys):
        v = list(y)
        total = [0] * n
        for j in range(int(a.stop[c])):
            casts = [cast_fraction(x, fmt) for x in v]
            if j < 40:
                assert a.hist[c, j].tolist() == casts, (seed, c, j)
            total = [t + int(Fraction(x) / Fraction(fmt.tiny)) for t, x in zip(total, casts)]
            v = [sum((r * x for r, x in zip(row, v)), Fraction(0)) for row in Ar]
        assert total == a.sums[c], (seed, c)
        if a.status[c] == VANISHED:
            for _ in range(30):  # the terms after the certificate really cast to 0
                assert all(cast_fraction(x, fmt) == 0.0 for x in v), (seed, c)
                v = [sum((r * x for r, x in zip(row, v)), Fraction(0)) for row in Ar]


def test_planted_ties_are_decided_exactly():
    """``A = 3/4 I`` from ``y = 1``: ``(3/4)^j`` lands exactly on ties of the float16 subnormal grid; the float64 bound
    cannot decide them, the interval recomputation does, and every cast equals the exact one."""
    fmt = FORMATS["float16"]
    A = np.array([[0.75, 0.0], [0.0, 0.75]])
    fr = build_frame(A)
    ys = [[Fraction(1), Fraction(-1)]]
    run = follow(fr, A, ys, fmt, 200, hist_cap=200)
    assert run.status[0] == VANISHED
    for j in range(int(run.stop[0])):
        x = Fraction(3, 4) ** j
        assert run.hist[0, j].tolist() == [cast_fraction(x, fmt), cast_fraction(-x, fmt)], j
    assert run.status[0] != UNCERTAIN


def test_dense_members_are_decided_in_the_paper_model():
    """A one-layer deltanet [0, 1] member in float16: its rounded I - beta k k^T has eigenvalues slightly above 1,
    decided by the growth certificate, with a decoder-free witness of period 1."""
    from statetrack.lrnn.claims.families import random_member
    from statetrack.lrnn.claims.paper_run import check_paper

    m = random_member("deltanet", "0,1", seed=0, layers=1)
    r = check_paper(m, "parity", "float16", max_steps=64)
    assert r["decided"] and r["period"] == 1 and r["layers"][0]["certificates"]["growth"] > 0
    assert r["witness"]["lengths"] == [r["settle_step"], r["settle_step"] + 1]


def test_other_infinities_match_the_exact_terms():
    """The diagonal model's answer (does a summed growing entry meet the other infinity before the dominant direction
    takes over?) agrees with the exact casts of every term before the overflow step, on fresh dense float16 blocks
    with two eigenvalues above 1 of either sign pattern."""
    from statetrack.lrnn.claims.paper_growth import other_infinities

    fmt = FORMATS["float16"]
    seed = _seed()
    rng = np.random.default_rng([17, seed])
    decided = {True: 0, False: 0}
    for _ in range(40):
        n = int(rng.integers(2, 4))
        A = _dense(rng, fmt, [3.0, float(rng.choice([2.6, 2.9]))] + list(rng.uniform(-0.5, 0.5, n - 2)))
        fr = build_frame(A)
        y = [Fraction(float(v)) for v in round_to_grid(rng.standard_normal(n) * 2.0 ** -10, fmt)]
        g = growth_certificate(fr, y, fmt, True)
        if g is None or g.no_other_inf:
            continue
        other = other_infinities(fr, y, fmt, g.start, g.signs)
        if other is None:
            continue
        Ar = [[Fraction(float(v)) for v in row] for row in A]
        v, truth = list(y), np.zeros(n, dtype=bool)
        for _j in range(g.start):
            casts = [cast_fraction(x, fmt) for x in v]
            truth |= np.array([c == -s * np.inf for c, s in zip(casts, g.signs)])
            v = [sum((r * x for r, x in zip(row, v)), Fraction(0)) for row in Ar]
        assert other.tolist() == truth.tolist(), (seed, other, truth)
        decided[bool(truth.any())] += 1
    assert decided[True] + decided[False] > 0, seed


# ------------------------------------------------------------------------------------------------ group norm, decay
def _rotation_block(rng, fmt, modulus: float, angle: float, rest: list[float]) -> np.ndarray:
    """A dense block on the dtype grid with a complex pair ``modulus e^{+-i angle}`` and real eigenvalues ``rest``
    (a random well-conditioned basis)."""
    n = 2 + len(rest)
    J = np.zeros((n, n))
    a, b = modulus * np.cos(angle), modulus * np.sin(angle)
    J[:2, :2] = [[a, b], [-b, a]]
    for k, e in enumerate(rest):
        J[2 + k, 2 + k] = e
    V = np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    return round_to_grid(V @ J @ np.linalg.inv(V), fmt)


def test_sqrt_and_block_norms_are_tight_upper_bounds():
    from mpmath import mp, mpf, sqrt as msqrt

    from statetrack.lrnn.claims.paper_frame import block_norm_up, sqrt_up

    seed = _seed()
    rng = np.random.default_rng([19, seed])
    mp.prec = 300
    for _ in range(50):
        x = Fraction(int(rng.integers(1, 10 ** 12)), int(rng.integers(1, 10 ** 12)))
        up = sqrt_up(x)
        assert up * up >= x and (up - Fraction(1, 2 ** 200)) ** 2 < x * (1 + Fraction(1, 2 ** 150)), (seed, x)
        B = [[Fraction(float(v)) for v in row] for row in rng.standard_normal((2, 2))]
        nb = block_norm_up(B)
        sv = float(np.linalg.svd(np.array(B, dtype=float), compute_uv=False)[0])
        assert nb >= Fraction(sv) * (1 - Fraction(1, 2 ** 40)) and nb <= Fraction(sv) * (1 + Fraction(1, 2 ** 40))
        # the defining property: ||B z||_2 <= nb ||z||_2 for random z (exactly, with squares)
        for z in rng.standard_normal((5, 2)):
            zf = [Fraction(float(v)) for v in z]
            Bz = [B[0][0] * zf[0] + B[0][1] * zf[1], B[1][0] * zf[0] + B[1][1] * zf[1]]
            assert Bz[0] ** 2 + Bz[1] ** 2 <= nb * nb * (zf[0] ** 2 + zf[1] ** 2), seed
    assert sqrt_up(Fraction(9, 4)) >= Fraction(3, 2) and float(msqrt(mpf(2))) <= float(sqrt_up(Fraction(2)))


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_group_norm_contracts_for_near_one_complex_pairs(name):
    """A complex pair of modulus < 1 whose real 2x2 block has ``||.||_inf > 1``: the group norm certifies the
    contraction, the ``inf``-norm does not; the exact ``gnorm`` bounds ``||M z||_G / ||z||_G`` on random ``z``."""
    from statetrack.lrnn.claims.paper_frame import group_norm_up

    fmt = FORMATS[name]
    seed = _seed()
    rng = np.random.default_rng([23, len(name), seed])
    A = _rotation_block(rng, fmt, 0.97, 0.2, [0.3])
    fr = build_frame(A)
    assert fr.groups == ((0, 1), (2,)), (seed, fr.groups)
    modulus = max(abs(np.linalg.eigvals(A)))
    assert fr.norm > 1 and fr.gnorm < 1, (seed, float(fr.norm), float(fr.gnorm))
    assert abs(float(fr.gnorm) - modulus) < 1e-6, seed
    for z in rng.standard_normal((20, 3)):
        zf = [Fraction(float(v)) for v in z]
        Mz = [sum((m * x for m, x in zip(row, zf)), Fraction(0)) for row in fr.M]
        assert group_norm_up(Mz, fr.groups) <= fr.gnorm * group_norm_up(zf, fr.groups) * (1 + Fraction(1, 2 ** 100))


@pytest.mark.parametrize("rot", [True, False])
def test_decay_index_is_where_the_exact_casts_vanish(rot):
    """The analytic decay certificate: every exact cast ``cast(A^j y)`` is finite, and 0 from the certified index on
    (checked exactly for every term up to it and 40 after), for complex pairs (group norm) and real spectra."""
    from statetrack.lrnn.claims.paper_decay import decay_certificate

    fmt = FORMATS["float16"]
    seed = _seed()
    rng = np.random.default_rng([29, int(rot), seed])
    A = _rotation_block(rng, fmt, 0.93, 0.3, [0.5]) if rot else _dense(rng, fmt, [0.93, 0.8, -0.4])
    fr = build_frame(A)
    y = [Fraction(float(v)) for v in round_to_grid(rng.standard_normal(3) * 100, fmt)]
    dec = decay_certificate(fr, y, fmt)
    assert dec is not None and dec.start < 2000, seed
    assert dec.norm == ("group" if rot else dec.norm), seed
    Ar = [[Fraction(float(v)) for v in row] for row in A]
    v, last_nonzero = list(y), -1
    for j in range(dec.start + 40):
        casts = [cast_fraction(x, fmt) for x in v]
        assert all(np.isfinite(casts)), (seed, j)
        if any(casts):
            last_nonzero = j
        v = [sum((r * x for r, x in zip(row, v)), Fraction(0)) for row in Ar]
    assert last_nonzero < dec.start, (seed, last_nonzero, dec.start)
    assert last_nonzero > dec.start // 4, (seed, last_nonzero, dec.start)  # a bound, but not a loose one


def test_decay_certificate_refuses_non_contracting_blocks():
    from statetrack.lrnn.claims.paper_decay import decay_certificate

    fmt = FORMATS["float16"]
    rng = np.random.default_rng(5)
    for A in (_rotation_block(rng, fmt, 1.01, 0.2, [0.3]), np.array([[1.0, 0.0], [0.0, 0.5]])):
        fr = build_frame(A)
        assert decay_certificate(fr, [Fraction(1)] * A.shape[0], fmt) is None
    fr = build_frame(np.array([[0.5, 0.0], [0.0, 0.25]]))
    assert decay_certificate(fr, [Fraction(60000), Fraction(60000)], fmt).start > 0
    assert decay_certificate(fr, [Fraction(65536 * 4), Fraction(1)], fmt) is None  # its bound allows an overflow


@pytest.mark.parametrize("rot", [True, False])
def test_layer_with_analytic_decay_matches_the_definition(monkeypatch, rot):
    """A layer whose dense block is decided by analytic decay only (no float64 run, no exact vanishing): from the
    certified settle step on App. B's states are constant, the entries the certificate does not compute are
    reported, refused by ``state``, and every other entry equals the definition's."""
    fmt = FORMATS["float16"]
    seed = _seed()
    rng = np.random.default_rng([31, int(rot), seed])
    monkeypatch.setattr(paper_model, "GROWTH_EXACT_EXTEND", 0)  # no exact completion (see the next test)
    A = np.zeros((4, 4))
    A[:3, :3] = _rotation_block(rng, fmt, 0.9, 0.25, [0.4]) if rot else _dense(rng, fmt, [0.9, 0.7, -0.4])
    A[3, 3] = 0.5  # a scalar block, decided exactly: its entries stay known
    D = 2
    B = round_to_grid(rng.standard_normal((4, D)), fmt)
    H0 = round_to_grid(rng.standard_normal((4, D)), fmt)
    monkeypatch.setattr(paper_model, "DENSE_FLOAT_STEPS", 0)
    monkeypatch.setattr(paper_model, "EXACT_DENSE_STEPS", 2)
    res = paper_layer([], [], H0, A, B, fmt, max_steps=2)
    assert res.decided and res.period == 1 and res.certificates["decay"] > 0, (seed, res.reason)
    assert res.unknown_entries == 3 * D and res.unknown[:3].all() and not res.unknown[3].any(), seed
    with pytest.raises(ValueError, match="not computed"):
        res.state(res.settle_step)
    assert res.to_json()["unknown_entries"] == 3 * D
    T = res.settle_step + 3
    assert T < 800, (seed, T)
    ref = _constant_input_states(A, B, H0, fmt, T)
    for t in range(res.settle_step, T + 1):
        assert np.array_equal(ref[t - 1], ref[res.settle_step - 1], equal_nan=True), (seed, t)
    assert np.array_equal(ref[T - 1][3], res._window[0][3]), seed  # the known entries
    assert np.array_equal(ref[0], res.state(1)), seed  # early states stay exact (history)


@pytest.mark.parametrize("rot", [True, False])
def test_short_analytic_decay_is_completed_exactly(monkeypatch, rot):
    """An analytic decay index within ``GROWTH_EXACT_EXTEND`` terms: the terms up to it are followed exactly, so
    every state is known and equals App. B's, before the settle bound (from the exact history) and after it."""
    fmt = FORMATS["float16"]
    seed = _seed()
    rng = np.random.default_rng([32, int(rot), seed])
    A = np.zeros((4, 4))
    A[:3, :3] = _rotation_block(rng, fmt, 0.8, 0.25, [0.4]) if rot else _dense(rng, fmt, [0.8, 0.7, -0.4])
    A[3, 3] = 0.5
    B = round_to_grid(rng.standard_normal((4, 2)), fmt)
    H0 = round_to_grid(rng.standard_normal((4, 2)), fmt)
    monkeypatch.setattr(paper_model, "DENSE_FLOAT_STEPS", 0)
    monkeypatch.setattr(paper_model, "EXACT_DENSE_STEPS", 2)
    res = paper_layer([], [], H0, A, B, fmt, max_steps=2)
    assert res.decided and res.certificates["decay"] > 0 and res.unknown_entries == 0, (seed, res.reason)
    T = res.settle_step + 3
    assert T < 300, (seed, T)
    ref = _constant_input_states(A, B, H0, fmt, T)
    for t in range(1, T + 1):
        assert np.array_equal(ref[t - 1], res.state(t), equal_nan=True), (seed, t, ref[t - 1], res.state(t))


@pytest.mark.parametrize("kind", ["pair", "negative"])
def test_oscillation_certificate_matches_the_exact_casts(kind):
    """A dominant complex pair / negative real eigenvalue of modulus > 1: the certified index is one by which every
    row's exact casts have met both infinities (checked term by term with Fractions)."""
    from statetrack.lrnn.claims.paper_oscillate import both_infinities

    fmt = FORMATS["float16"]
    seed = _seed()
    rng = np.random.default_rng([37, len(kind), seed])
    if kind == "pair":
        A = _rotation_block(rng, fmt, 1.06, float(rng.uniform(0.2, 2.5)), [0.5])
    else:
        A = _dense(rng, fmt, [-1.08, 0.6, -0.3])
    y = [Fraction(float(v)) for v in round_to_grid(rng.standard_normal(3), fmt)]
    J = both_infinities(A, y, fmt)
    assert J is not None and J < 1500, (seed, J)
    Ar = [[Fraction(float(v)) for v in row] for row in A]
    v, pos, neg = list(y), np.zeros(3, bool), np.zeros(3, bool)
    for _ in range(J):
        casts = np.array([cast_fraction(x, fmt) for x in v])
        pos |= casts == np.inf
        neg |= casts == -np.inf
        v = [sum((r * x for r, x in zip(row, v)), Fraction(0)) for row in Ar]
    assert pos.all() and neg.all(), (seed, J, pos, neg)
    assert both_infinities(_dense(rng, fmt, [1.08, 0.6, -0.3]), y, fmt) is None  # a positive dominant: growth's case
    assert both_infinities(_rotation_block(rng, fmt, 0.9, 0.4, [0.5]), y, fmt) is None  # no growth


@pytest.mark.parametrize("h0", ["random", "zero"])
@pytest.mark.parametrize("extend", [True, False])
def test_layer_with_oscillation_matches_the_definition(monkeypatch, h0, extend):
    """A layer whose dense block rotates outwards: from the certified settle step on its states are App. B's (NaN in
    the block's entries, the scalar block's entries exact). ``H0 = 0``: the oscillating column alone sets the settle
    bound (no drift, no other late certificate), so the NaN must be in the sum at exactly that term.
    ``extend``: the terms up to the certificate are followed exactly, so every earlier state is known too."""
    fmt = FORMATS["float16"]
    seed = _seed()
    rng = np.random.default_rng([41, len(h0), int(extend), seed])
    A = np.zeros((4, 4))
    A[:3, :3] = _rotation_block(rng, fmt, 1.1, float(rng.uniform(0.3, 2.0)), [0.4])
    A[3, 3] = 0.5
    B = round_to_grid(rng.standard_normal((4, 2)), fmt)
    H0 = round_to_grid(rng.standard_normal((4, 2)), fmt) * (h0 == "random")
    monkeypatch.setattr(paper_model, "EXACT_DENSE_STEPS", 2)
    monkeypatch.setattr(paper_model, "GROWTH_EXACT_EXTEND", 10 ** 4 if extend else 0)
    res = paper_layer([], [], H0, A, B, fmt, max_steps=2)
    assert res.decided and res.certificates["oscillation"] == 2 and res.unknown_entries == 0, (seed, res.reason)
    T = res.settle_step + 3
    assert T < 700, (seed, T)
    ref = _constant_input_states(A, B, H0, fmt, T)
    for t in range(1 if extend else res.settle_step, T + 1):
        assert np.array_equal(ref[t - 1], res.state(t), equal_nan=True), (seed, t, ref[t - 1], res.state(t))
    assert np.isnan(res.state(res.settle_step)[:3]).all(), seed
    if not extend:  # states between the exact history and the certificate are refused, not guessed
        with pytest.raises(ValueError, match="not visited"):
            res.state(res.settle_step - 1)


def test_oscillation_with_a_late_start_and_no_prefix():
    """The reviewer's case: the oscillating column's start is the settle bound (``H0 = 0``, ``K = 0``); App. B's
    states (Fractions) are NaN from 1427 on, so the state at the settle bound must be NaN, not the dropped finite
    part (0)."""
    fmt = FORMATS["float16"]
    A = np.array([[0.875, 0.5], [-0.5, 0.875]])
    B = np.array([[1.0], [0.5]])
    res = paper_layer([], [], np.zeros((2, 1)), A, B, fmt, max_steps=512)
    assert res.decided and res.period == 1 and res.certificates["oscillation"] == 1, res.reason
    assert 1427 <= res.settle_step <= 2000 and np.isnan(res.state(res.settle_step)).all(), res.settle_step
    assert np.isnan(res.state(res.settle_step + 5)).all()


def test_short_oscillation_keeps_every_early_state():
    """The reviewer's case: a certificate 99 terms after the exact budget; ``state(t)`` once raised for
    ``33 < t < 131``. Completed exactly, every state equals App. B's."""
    fmt = FORMATS["float16"]
    A = np.array([[1.0, 0.5], [-0.5, 1.0]])
    B = np.array([[1.0], [0.5]])
    H0 = np.zeros((2, 1))
    res = paper_layer([], [], H0, A, B, fmt, max_steps=32)
    assert res.decided and res.certificates["oscillation"] == 1, res.reason
    T = res.settle_step + 2
    ref = _constant_input_states(A, B, H0, fmt, T)
    for t in range(1, T + 1):
        assert np.array_equal(ref[t - 1], res.state(t), equal_nan=True), (t, ref[t - 1], res.state(t))


def test_refused_states_leave_a_run_undecided(monkeypatch):
    """A lower layer whose early states are not all computed: the model runner reports a reason, no exception."""
    from statetrack.lrnn.claims.paper_run import _early_states

    monkeypatch.setattr(paper_model, "GROWTH_EXACT_EXTEND", 0)
    fmt = FORMATS["float16"]
    res = paper_layer([], [], np.zeros((2, 1)), np.array([[1.0, 0.5], [-0.5, 1.0]]), np.array([[1.0], [0.5]]), fmt,
                      max_steps=32)
    assert res.decided, res.reason
    why = _early_states(0, res, 1, res.settle_step)
    assert isinstance(why, str) and why.startswith("layer 1:") and "not all are computed" in why, why
    ok = _early_states(0, res, 1, 20)
    assert isinstance(ok, list) and len(ok) == 20


def test_cast_of_huge_values_is_infinite():
    """Exponents between float64's range and far beyond: +-inf for every dtype (``math.ldexp`` once overflowed for
    2^1024 <= |x| < 2^1101), and the cast agrees with the grid rounding of the exact value near the threshold."""
    from statetrack.lrnn.claims.paper_model import cast_int
    from statetrack.lrnn.claims.paper_growth import overflow_threshold
    from statetrack.lrnn.claims.precision import round_fraction_to_grid

    for fmt in FORMATS.values():
        for e in (128, 1000, 1023, 1024, 1050, 1100, 1101, 5000):
            assert cast_int(1, e, fmt) == np.inf and cast_int(-3, e, fmt) == -np.inf, (fmt.name, e)
        thr = overflow_threshold(fmt)
        for x in (thr, thr - Fraction(1, 2 ** 40), thr + Fraction(1, 2 ** 40), 2 * thr, Fraction(fmt.max)):
            for sx in (x, -x):
                got = cast_fraction(sx, fmt)
                assert got == round_fraction_to_grid(sx, fmt), (fmt.name, sx, got)
                assert np.isinf(got) == (sx > thr or sx <= -thr), (fmt.name, sx, got)  # a tie: the smaller


def test_refined_frame_is_exact_and_nearly_diagonal():
    """Eigenvectors at 192 bits: ``A X = X M`` exactly, ``M`` is block diagonal (1x1 real, 2x2 rotation-scaled
    pairs) up to ``2^-150`` of its largest entry, and the pair's block norm is its modulus."""
    seed = _seed()
    rng = np.random.default_rng([43, seed])
    fmt = FORMATS["float32"]
    A = _rotation_block(rng, fmt, 0.999, 0.01, [1.0 + 2.0 ** -20, 1.0 + 2.0 ** -20 + 2.0 ** -30])
    fr = build_frame(A, 192)
    Ar = [[Fraction(float(v)) for v in row] for row in A]
    assert exact_matmul(Ar, fr.X) == exact_matmul(fr.X, fr.M), seed
    inside = {(r, c) for g in fr.groups for r in g for c in g}
    top = max(abs(v) for row in fr.M for v in row)
    off = max(abs(fr.M[r][c]) for r in range(4) for c in range(4) if (r, c) not in inside)
    assert off < top * Fraction(1, 2 ** 150), (seed, float(off))
    pair = next(g for g in fr.groups if len(g) == 2)
    assert abs(float(fr.gnorm) - max(abs(np.linalg.eigvals(A)))) < 1e-12 and len(pair) == 2, seed


@pytest.mark.parametrize("family,seed,how", [("deltanet", 16, "growth"), ("deltaproduct", 12, "oscillation"),
                                             ("deltaproduct", 9, "decay")])
def test_float32_members_once_undecided_are_decided(family, seed, how):
    """float32 [0, 1] members the earlier certificates left undecided: two eigenvalues above 1 only 1.1e-10 apart
    (refined frame), a near-1 complex pair of modulus 1 + 1.2e-8 (oscillation: NaN), and one of modulus 1 - 9e-9
    (group norm, analytic decay: state constant, value of the summed entries not computed)."""
    from statetrack.lrnn.claims.families import random_member
    from statetrack.lrnn.claims.paper_run import check_paper

    m = random_member(family, "0,1", seed=seed, layers=1)
    r = check_paper(m, "parity", "float32", max_steps=256)
    assert r["decided"] and r["period"] == 1 and r["layers"][0]["certificates"][how] > 0, r["reason"]
    assert r["witness"]["lengths"] == [r["settle_step"], r["settle_step"] + 1]
    assert (r["layers"][0]["unknown_entries"] > 0) == (how == "decay")
    if how == "decay":  # the sweep counts such members apart (decided, value not computed)
        from statetrack.lrnn.claims.sweep import sweep_cell

        c = sweep_cell("parity", family, "0,1", "float32", 1, precision="paper", seed=seed, layers=1, max_steps=256)
        assert c["witness_rate"] == 1.0 and c["undecided"] == 0 and c["value_not_computed"] == 1
        assert c["members"][0]["unknown_entries"] == r["layers"][0]["unknown_entries"]


@pytest.mark.parametrize("extend", [True, False])
def test_growth_in_the_group_norm_matches_the_definition(monkeypatch, extend):
    """A dominant real eigenvalue above 1 next to a complex pair whose real block has ``||.||_inf`` above it: the
    growth certificate holds in the group norm only; Hhat from it equals App. B's definition from the settle bound."""
    from statetrack.lrnn.claims.paper_growth import _growth, _inf_norms

    fmt = FORMATS["float16"]
    seed = _seed()
    rng = np.random.default_rng([47, int(extend), seed])
    if not extend:
        monkeypatch.setattr(paper_model, "GROWTH_EXACT_EXTEND", 0)
        monkeypatch.setattr(paper_model, "EXACT_DENSE_STEPS", 1)
    n = 3
    V = np.eye(n) + 0.2 * rng.standard_normal((n, n)) / np.sqrt(n)
    J = np.zeros((n, n))
    J[0, 0] = 3.0
    J[1:, 1:] = 2.2 * np.array([[np.cos(0.8), np.sin(0.8)], [-np.sin(0.8), np.cos(0.8)]])
    A = round_to_grid(V @ J @ np.linalg.inv(V), fmt)
    fr = build_frame(A, 192)
    y = [Fraction(float(v)) for v in round_to_grid(rng.standard_normal(n), fmt)]
    assert _growth(fr, y, fmt, True, *_inf_norms(fr)) is None, seed  # ||M22||_inf = 2.2 (cos + sin) > 3
    B = round_to_grid(rng.standard_normal((n, 2)), fmt)
    H0 = round_to_grid(rng.standard_normal((n, 2)), fmt)
    res = paper_layer([], [], H0, A, B, fmt, max_steps=8)
    assert res.decided and res.certificates["growth"] > 0, (seed, res.reason)
    T = res.settle_step + 3
    assert T < 300, (seed, T)
    ref = _constant_input_states(A, B, H0, fmt, T)
    for t in range(res.settle_step, T + 1):
        assert np.array_equal(ref[t - 1], res.state(t), equal_nan=True), (seed, t, ref[t - 1], res.state(t))


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_compiled_loop_in_the_group_norm(name):
    """The certified float64 run in the group norm, on a complex pair of modulus < 1 whose real block has
    ``||.||_inf > 1``: the compiled loop equals the plain one, every cast equals the exact cast of ``A^j y``, and the
    terms after the vanishing certificate cast to 0."""
    fmt = FORMATS[name]
    seed = _seed()
    rng = np.random.default_rng([53, len(name), seed])
    A = _rotation_block(rng, fmt, {"float16": 0.96, "bfloat16": 0.9, "float32": 0.8}[name], float(rng.uniform(0.2, 1.5)),
                        [0.3])
    fr = build_frame(A, 192)
    assert fr.gnorm < 1, seed
    ys = [[Fraction(float(v)) for v in round_to_grid(rng.standard_normal(3), fmt)] for _ in range(2)]
    steps = 2000
    a = follow(fr, A, ys, fmt, steps, hist_cap=steps, norm="group")
    b = follow_reference(fr, A, ys, fmt, steps, hist_cap=steps, norm="group")
    assert np.array_equal(a.status, b.status) and np.array_equal(a.stop, b.stop) and a.sums == b.sums, seed
    assert np.array_equal(a.hist, b.hist), seed
    Ar = [[Fraction(float(v)) for v in row] for row in A]
    for c, y in enumerate(ys):
        assert a.status[c] == VANISHED, (seed, c, a.status[c])
        v, total = list(y), [0] * 3
        for j in range(int(a.stop[c]) + 30):
            casts = [cast_fraction(x, fmt) for x in v]
            if j < a.stop[c]:
                assert a.hist[c, j].tolist() == casts, (seed, c, j)
                total = [t + int(Fraction(x) / Fraction(fmt.tiny)) for t, x in zip(total, casts)]
            else:
                assert all(x == 0.0 for x in casts), (seed, c, j)
            v = [sum((r * x for r, x in zip(row, v)), Fraction(0)) for row in Ar]
        assert total == a.sums[c], (seed, c)


def test_vanish_index_is_a_tight_certified_bound():
    """``R q^K < tiny / 2`` at the certified ``K`` and not 3 + 1e-11 K steps before (checked at 400 bits), for rates from
    ``1/2`` to ``1 - 1e-12``; a rate within float64 rounding of 1 is refused."""
    from mpmath import mp, mpf

    from statetrack.lrnn.claims.paper_decay import _vanish_index

    seed = _seed()
    rng = np.random.default_rng([59, seed])
    ht = Fraction(1, 2 ** 150)
    mp.prec = 400
    for _ in range(20):
        R = Fraction(int(rng.integers(1, 10 ** 9)), int(rng.integers(1, 10 ** 6)))
        q = 1 - Fraction(1, int(10 ** rng.uniform(0.3, 12)))
        K = _vanish_index(R, q, ht)
        Rm, qm, hm = (mpf(x.numerator) / x.denominator for x in (R, q, ht))
        assert K is not None and Rm * qm ** K < hm, (seed, R, q, K)
        slack = 3 + K // 10 ** 11  # the estimate is padded by a relative 1e-12
        assert Rm * qm ** max(K - slack, 0) >= hm or K <= slack, (seed, R, q, K)
    assert _vanish_index(Fraction(1), 1 - Fraction(1, 10 ** 18), ht) is None


@pytest.mark.parametrize("n", [3, 40, 200, 3000])
def test_sum_bounds_scale_with_the_number_of_terms(n):
    """The float64 loop's bounds on ``sum_k a_k |v_k|`` (``n`` terms): a sum whose every addition rounds down (a
    leading 1, then terms just below half its spacing) must still be bounded above; a fixed ``1 + 16 u`` factor is
    not enough once ``n`` is about 20 or more."""
    from statetrack.lrnn.claims.paper_tail import _abs_dot_up, _sum_up

    seed = _seed()
    rng = np.random.default_rng([53, n, seed])
    u = 2.0 ** -53
    a = np.concatenate([[1.0], rng.uniform(0.9, 0.999, n - 1) * u])
    v = np.concatenate([[1.0], rng.uniform(0.99, 1.0, n - 1) * np.where(rng.random(n - 1) < 0.5, -1.0, 1.0)])
    exact = sum((Fraction(float(x)) * abs(Fraction(float(y))) for x, y in zip(a, v)), Fraction(0))
    f = _sum_up(n)
    assert Fraction(float(_abs_dot_up(a, v, f))) >= exact, (seed, n)
    if n >= 40:  # the adversarial sum really loses more than the old fixed factor covered
        assert Fraction(float(_abs_dot_up(a, v, 1.0 + 16.0 * u))) < exact, (seed, n)
    gam = Fraction(n) * Fraction(u) / (1 - Fraction(n) * Fraction(u))
    assert Fraction(f) >= 1 / (1 - gam), n
