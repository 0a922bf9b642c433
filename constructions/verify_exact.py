"""Exact verification: a proof, for every input length, that a compiled model follows its DFA.

Method. For each layer ``l`` an exact transition table ``T_l [C_l, S_l]`` is computed: the state reached from code
``c`` on input symbol ``s``, as a code index, or ``-1`` when it is not exactly a code. Then a breadth-first search runs
over the reachable tuples ``(c_0, ..., c_{L-1}, p, q)`` of layer codes, the previous raw input ``p`` of each layer read
through a width-2 convolution (``conv``; ``R`` before the first token) and the DFA state, from ``(h0 codes, R, start)``:
on DFA symbol ``a`` layer 0 reads ``a``, layer ``l`` (after ``s_l = conv_l[p_l, s_l]`` when it has a convolution)
moves to ``T_l[c_l, s_l]`` and hands ``next_l[c_l', s_l]`` to layer ``l + 1``, and the last layer's output must equal
``delta(q, a)``. If every layer's ``h0`` is exactly a code and no
reachable tuple and symbol leaves the codes or decodes to a wrong state, then by induction every run of every length
stays exactly on codes and decodes correctly. Otherwise the search order (parents in length-lexicographic order,
symbols in alphabet order) yields a shortest, then least, counterexample word.

Arithmetic, per layer, chosen automatically:

* ``int``: all entries of the per-symbol affine maps are integers (integer keys with integer ``beta`` and
  ``beta * v``; integer matrices) and so are ``h0`` and the codes: numpy int64, vectorised over all codes.
* ``fraction``: the float64 tensors read as the dyadic rationals they are (``fractions.Fraction``).
* ``cyclotomic``: the layer has ``exact`` metadata (keys, codes, h0 given as integers, ``"p/q"`` strings or
  ``["cos", p, q]`` / ``["sin", p, q]`` meaning ``cos(p pi/q)``), evaluated in the cyclotomic field ``Q(zeta_N)``
  (:class:`CyclotomicField`, ``N = lcm(4, 2q, ...)``). The float64 tensors must match the exact values to 1e-12;
  if they do not (a tampered file), the float64 values themselves are proved, as rationals, and fail.

The tuple search is vectorised with numpy (tuples packed into one int64 key) and handles any number of layers.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from statetrack.errors import ModelFormatError, StateLimitError
from statetrack.untrusted import short_repr

from .model_format import CompiledModel

#: largest absolute value of an integer entry handled by the int64 path
_INT_LIMIT = 2 ** 20
#: tolerance between float64 tensors and their exact description
EXACT_TOL = 1e-12
DEFAULT_MAX_TUPLES = 20_000_000
#: largest order ``N`` of the cyclotomic field ``Q(zeta_N)`` that an ``exact`` description may require
MAX_CYCLOTOMIC_ORDER = 1024
#: largest degree ``phi(N)`` of that field (the length of each element's coefficient vector)
MAX_FIELD_DEGREE = 128
#: an ``exact`` rational entry: an integer or ``p/q``, at most 64 digits each
_RATIONAL = re.compile(r"-?[0-9]{1,64}(?:/[0-9]{1,64})?")


@dataclass(frozen=True)
class ProofResult:
    """Outcome of :func:`prove`: ``proved``; ``counterexample`` (tuple of DFA symbols) or None; ``reachable`` (number
    of reachable tuples explored); ``detail`` (what was proved, or what failed and where)."""

    proved: bool
    counterexample: tuple | None
    reachable: int
    detail: str

    def __bool__(self) -> bool:
        return self.proved


# ================================================================================================ cyclotomic field
def _cyclotomic_poly(N: int) -> list[int]:
    """Coefficients (low degree first) of the N-th cyclotomic polynomial, by integer division of ``x^N - 1``."""
    return list(_cyclotomic_poly_cached(N))


@functools.lru_cache(maxsize=256)
def _cyclotomic_poly_cached(N: int) -> tuple[int, ...]:
    def div(num: list[int], den: list[int]) -> list[int]:
        num = num[:]
        out = [0] * (len(num) - len(den) + 1)
        for i in range(len(out) - 1, -1, -1):
            c = num[i + len(den) - 1] // den[-1]
            out[i] = c
            for j, d in enumerate(den):
                num[i + j] -= c * d
        assert not any(num), "inexact cyclotomic division"
        return out

    poly = [-1] + [0] * (N - 1) + [1]
    for d in range(1, N):
        if N % d == 0:
            poly = div(poly, list(_cyclotomic_poly_cached(d)))
    return tuple(poly)


def euler_phi(N: int) -> int:
    """Euler's totient of ``N >= 1`` (trial division; the degree of ``Q(zeta_N)``)."""
    out, m, p = N, N, 2
    while p * p <= m:
        if m % p == 0:
            while m % p == 0:
                m //= p
            out -= out // p
        p += 1
    if m > 1:
        out -= out // m
    return out


class CyclotomicField:
    """The field ``Q(zeta_N)``, ``zeta_N = exp(2 pi i / N)``, with elements as coefficient tuples on the power basis
    ``1, zeta, ..., zeta^{d-1}`` (``d = phi(N)``), reduced modulo the cyclotomic polynomial: equal numbers have equal
    tuples, so elements can be hashed and compared exactly."""

    def __init__(self, N: int):
        if isinstance(N, bool) or not isinstance(N, int) or not 1 <= N <= MAX_CYCLOTOMIC_ORDER:
            raise StateLimitError(f"cyclotomic field: order N = {N!r} is outside [1, {MAX_CYCLOTOMIC_ORDER}] "
                                  "(MAX_CYCLOTOMIC_ORDER)")
        if euler_phi(N) > MAX_FIELD_DEGREE:
            raise StateLimitError(f"cyclotomic field: Q(zeta_{N}) has degree {euler_phi(N)}, over the limit of "
                                  f"{MAX_FIELD_DEGREE} (MAX_FIELD_DEGREE)")
        self.N = N
        phi = _cyclotomic_poly(N)
        self.d = d = len(phi) - 1
        # reduced forms of zeta^e for e in [0, 2d): zeta^d = -sum_{i<d} phi_i zeta^i
        self._pow: list[tuple[Fraction, ...]] = []
        cur = [Fraction(0)] * d
        cur[0] = Fraction(1)
        for _ in range(max(2 * d, N)):
            self._pow.append(tuple(cur))
            top = cur[-1]
            cur = [Fraction(0)] + cur[:-1]
            if top:
                cur = [c - top * p for c, p in zip(cur, phi[:d])]
        self.zero = Cyc(self, (Fraction(0),) * d)
        self.one = self.zeta(0)

    def zeta(self, e: int) -> "Cyc":
        """``zeta_N^e``."""
        return Cyc(self, self._pow[e % self.N])

    def __call__(self, x: Any) -> "Cyc":
        """Coerce an integer, a Fraction or a :class:`Cyc` of this field."""
        if isinstance(x, Cyc):
            return x
        c = [Fraction(0)] * self.d
        c[0] = Fraction(x)
        return Cyc(self, tuple(c))

    def cos_pi(self, p: int, q: int) -> "Cyc":
        """``cos(p pi / q) = (zeta^e + zeta^-e) / 2`` with ``e = p N / (2q)``."""
        e = self._exponent(p, q)
        return (self.zeta(e) + self.zeta(-e)) * Fraction(1, 2)

    def sin_pi(self, p: int, q: int) -> "Cyc":
        """``sin(p pi / q) = (zeta^e - zeta^-e) / (2i)``, ``1/i = -i = zeta^{3N/4}``."""
        if self.N % 4:
            raise ValueError("sin needs i in the field (N divisible by 4)")
        e = self._exponent(p, q)
        return (self.zeta(e) - self.zeta(-e)) * self.zeta(3 * self.N // 4) * Fraction(1, 2)

    def _exponent(self, p: int, q: int) -> int:
        if (p * self.N) % (2 * q):
            raise ValueError(f"cos/sin of {p} pi/{q} is not in Q(zeta_{self.N})")
        return p * self.N // (2 * q)


class Cyc:
    """An element of a :class:`CyclotomicField` (immutable, hashable)."""

    __slots__ = ("F", "c")

    def __init__(self, F: CyclotomicField, c: tuple):
        self.F = F
        self.c = c

    def _co(self, o: Any) -> "Cyc":
        return o if isinstance(o, Cyc) else self.F(o)

    def __add__(self, o: Any) -> "Cyc":
        o = self._co(o)
        return Cyc(self.F, tuple(a + b for a, b in zip(self.c, o.c)))

    __radd__ = __add__

    def __sub__(self, o: Any) -> "Cyc":
        o = self._co(o)
        return Cyc(self.F, tuple(a - b for a, b in zip(self.c, o.c)))

    def __rsub__(self, o: Any) -> "Cyc":
        return self._co(o) - self

    def __neg__(self) -> "Cyc":
        return Cyc(self.F, tuple(-a for a in self.c))

    def __mul__(self, o: Any) -> "Cyc":
        if not isinstance(o, Cyc):
            o = Fraction(o)
            return Cyc(self.F, tuple(a * o for a in self.c))
        d = self.F.d
        prod = [Fraction(0)] * (2 * d - 1)
        for i, a in enumerate(self.c):
            if a:
                for j, b in enumerate(o.c):
                    if b:
                        prod[i + j] += a * b
        out = prod[:d]
        for e in range(d, 2 * d - 1):
            if prod[e]:
                out = [x + prod[e] * y for x, y in zip(out, self.F._pow[e])]
        return Cyc(self.F, tuple(out))

    __rmul__ = __mul__

    def __eq__(self, o: object) -> bool:
        if isinstance(o, (int, Fraction)):
            o = self.F(o)
        return isinstance(o, Cyc) and o.F is self.F and o.c == self.c

    def __hash__(self) -> int:
        return hash(self.c)

    def __complex__(self) -> complex:
        N = self.F.N
        return sum(complex(float(a)) * complex(math.cos(2 * math.pi * j / N), math.sin(2 * math.pi * j / N))
                   for j, a in enumerate(self.c) if a) + 0j

    def __float__(self) -> float:
        return complex(self).real

    def __repr__(self) -> str:
        return f"Cyc(N={self.F.N}, {[str(a) for a in self.c]})"


def _is_trig(spec: Any) -> bool:
    return isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str) and spec[0] in ("cos", "sin")


def _check_trig(spec: list) -> tuple[int, int]:
    """``(p, q)`` of a ``["cos"|"sin", p, q]`` entry: integers (not bools), ``1 <= q <= MAX_CYCLOTOMIC_ORDER``."""
    p, q = spec[1], spec[2]
    if any(isinstance(x, bool) or not isinstance(x, int) for x in (p, q)):
        raise ModelFormatError(f"exact entry {short_repr(spec)}: p and q must be integers")
    if not 1 <= q <= MAX_CYCLOTOMIC_ORDER:
        raise ModelFormatError(f"exact entry {short_repr(spec)}: q must be in [1, {MAX_CYCLOTOMIC_ORDER}] "
                               "(MAX_CYCLOTOMIC_ORDER)")
    return p, q


def _spec_denominators(spec: Any, out: set[int]) -> None:
    stack = [spec]
    while stack:  # iterative: the nesting comes from a file
        node = stack.pop()
        if _is_trig(node):
            out.add(_check_trig(node)[1])
        elif isinstance(node, list):
            stack.extend(node)


def field_for_spec(spec: dict) -> CyclotomicField:
    """The smallest ``Q(zeta_N)`` (N a multiple of 4) holding every ``cos``/``sin`` entry of a layer's ``exact``.

    Raises :class:`StateLimitError` when ``N`` would exceed ``MAX_CYCLOTOMIC_ORDER`` or the field's degree
    ``MAX_FIELD_DEGREE`` (checked before the field is built), :class:`ModelFormatError` for a malformed entry."""
    if not isinstance(spec, dict):
        raise ModelFormatError(f"exact description must be an object, got {type(spec).__name__}")
    qs: set[int] = set()
    for v in spec.values():
        _spec_denominators(v, qs)
    N = 4
    for q in sorted(qs):
        N = N * (2 * q) // math.gcd(N, 2 * q)
        if N > MAX_CYCLOTOMIC_ORDER:
            raise StateLimitError(f"exact description needs the cyclotomic field of order {N} or more, over the "
                                  f"limit of {MAX_CYCLOTOMIC_ORDER} (MAX_CYCLOTOMIC_ORDER)")
    return CyclotomicField(N)


def spec_value(F: CyclotomicField, e: Any) -> Cyc:
    """An ``exact`` entry as a field element: int, ``"p/q"``, ``["cos", p, q]``, ``["sin", p, q]``."""
    if isinstance(e, bool):
        raise ModelFormatError(f"exact entry {e!r} is not a number")
    if isinstance(e, int):
        return F(e)
    if isinstance(e, str):
        if not _RATIONAL.fullmatch(e):
            raise ModelFormatError(f"exact entry {short_repr(e)} is not a rational 'p/q' (at most 64 digits each)")
        try:
            return F(Fraction(e))
        except (ValueError, ZeroDivisionError):
            raise ModelFormatError(f"exact entry {e!r} is not a rational 'p/q'") from None
    if _is_trig(e):
        p, q = _check_trig(e)
        try:
            return F.cos_pi(p, q) if e[0] == "cos" else F.sin_pi(p, q)
        except ValueError as exc:
            raise ModelFormatError(f"exact entry {short_repr(e)}: {exc}") from None
    raise ModelFormatError(f"exact entry {short_repr(e)} is not an int, 'p/q', ['cos', p, q] or ['sin', p, q]")


def _spec_array(F: CyclotomicField, spec: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    arr = np.empty(shape, dtype=object)

    # entries may be lists themselves (["cos", p, q]): walk the nesting along the expected shape
    def walk(node: Any, idx: tuple[int, ...]) -> None:
        if len(idx) == len(shape):
            arr[idx] = spec_value(F, node)
            return
        if not isinstance(node, list) or len(node) != shape[len(idx)]:
            raise ModelFormatError(f"{where}: the exact description does not have shape {shape}")
        for i, child in enumerate(node):
            walk(child, idx + (i,))

    walk(spec, ())
    return arr


# ================================================================================================ per-layer tables
@dataclass
class _LayerMaps:
    """Per-symbol affine maps ``h -> A_s h + b_s`` in one exact arithmetic, with the codes and h0."""

    mode: str  # "int" | "fraction" | "cyclotomic"
    A: Any  # int64 [S, n, n] or object [S, n, n]
    b: Any
    codes: Any  # [C, n]
    h0: Any  # [n]
    note: str = ""


def _is_int(x: np.ndarray) -> bool:
    return bool(np.all(np.abs(x) < _INT_LIMIT) and np.all(x == np.round(x)))


def _householder_maps_obj(keys, betas, values, conv) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``A [S, n, n]``, ``b [S, n]`` (object arrays) from factor tensors whose entries ``conv`` converts."""
    S, F, n = keys.shape[:3]
    A = np.empty((S, n, n), dtype=object)
    b = np.empty((S, n), dtype=object)
    for s in range(S):
        M = [[conv(1) if i == j else conv(0) for j in range(n)] for i in range(n)]
        v = [conv(0)] * n
        for f in range(F):
            beta = conv(betas[s][f])
            if beta == 0:
                continue
            k = [conv(keys[s][f][i]) for i in range(n)]
            bk = [beta * ki for ki in k]
            kM = [sum((k[i] * M[i][j] for i in range(n)), conv(0)) for j in range(n)]
            kv = sum((k[i] * v[i] for i in range(n)), conv(0))
            val = conv(values[s][f])
            M = [[M[i][j] - bk[i] * kM[j] for j in range(n)] for i in range(n)]
            v = [v[i] - bk[i] * kv + bk[i] * val for i in range(n)]
        for i in range(n):
            b[s, i] = v[i]
            for j in range(n):
                A[s, i, j] = M[i][j]
    return A, b


def layer_maps(model: CompiledModel, l: int) -> _LayerMaps:
    """The exact per-symbol maps of layer ``l`` in the cheapest exact arithmetic that represents it."""
    info = model.meta["layers"][l]
    t = model.layer(l)
    kind = info["kind"]
    note = ""
    spec = info.get("exact")
    if spec:
        F = field_for_spec(spec)
        conv = F
        exact: dict[str, np.ndarray] = {}
        ok = True
        for name, arr in (("keys", t.get("keys")), ("codes", t["codes"]), ("h0", t["h0"]),
                          ("matrices", t.get("matrices")), ("bias", t.get("bias")), ("diag", t.get("diag")),
                          ("betas", t.get("betas")), ("values", t.get("values"))):
            if name not in spec or arr is None:
                continue
            ex = _spec_array(F, spec[name], arr.shape, f"layer {l} exact {name}")
            approx = np.array([float(x) for x in ex.ravel()]).reshape(arr.shape)
            diff = float(np.abs(approx - arr).max(initial=0.0))
            if diff > EXACT_TOL:
                ok = False
                note = (f"layer {l}: the stored {name} differ from their exact description by {diff:.3g}; "
                        f"proving the stored float64 values instead")
                break
            exact[name] = ex

        def get(name: str) -> np.ndarray:
            if name in exact:
                return exact[name]
            return np.vectorize(lambda x: F(Fraction(float(x))), otypes=[object])(t[name])

        if ok:
            if kind == "householder":
                A, b = _householder_maps_obj(get("keys"), get("betas"), get("values"), conv)
            else:
                A, b = _dense_maps_obj(kind, get, conv)
            return _LayerMaps("cyclotomic", A, b, get("codes"), get("h0"), f"layer {l}: exact in Q(zeta_{F.N})")
    # rational: int64 when every map entry is an integer, else Fractions
    int_ok = _is_int(t["codes"]) and _is_int(t["h0"])
    if kind == "householder":
        bv = [Fraction(float(b)) * Fraction(float(v)) for b, v in zip(t["betas"].ravel(), t["values"].ravel())]
        int_ok = (int_ok and _is_int(t["keys"]) and _is_int(t["betas"])
                  and all(x.denominator == 1 and abs(x) < _INT_LIMIT for x in bv))
    else:
        int_ok = int_ok and all(_is_int(t[k]) for k in t if k != "next")
    if int_ok:
        n = info["n"]
        if kind == "householder":
            keys = t["keys"].astype(np.int64)
            betas = t["betas"].astype(np.int64)
            bvs = (t["betas"] * t["values"]).astype(np.int64)
            S, F_, _ = keys.shape
            A = np.tile(np.eye(n, dtype=np.int64), (S, 1, 1))
            b = np.zeros((S, n), dtype=np.int64)
            for f in range(F_):
                k, be, bv = keys[:, f], betas[:, f], bvs[:, f]
                bk = be[:, None] * k
                A = A - bk[:, :, None] * np.einsum("si,sij->sj", k, A)[:, None, :]
                b = b - bk * np.einsum("si,si->s", k, b)[:, None] + bv[:, None] * k
                if np.abs(A).max(initial=0) >= _INT_LIMIT ** 2 or np.abs(b).max(initial=0) >= _INT_LIMIT ** 2:
                    break
            else:
                return _LayerMaps("int", A, b, t["codes"].astype(np.int64), t["h0"].astype(np.int64),
                                  f"layer {l}: exact in int64{note and '; ' + note}")
        else:
            if kind == "dense":
                A = t["matrices"].astype(np.int64)
            else:
                A = np.stack([np.diag(d) for d in t["diag"].astype(np.int64)])
            return _LayerMaps("int", A, t["bias"].astype(np.int64), t["codes"].astype(np.int64),
                              t["h0"].astype(np.int64), f"layer {l}: exact in int64")
    conv = Fraction
    fr = np.vectorize(lambda x: Fraction(float(x)), otypes=[object])

    def getf(name: str) -> np.ndarray:
        return fr(t[name])

    if kind == "householder":
        A, b = _householder_maps_obj(getf("keys"), getf("betas"), getf("values"), conv)
    else:
        A, b = _dense_maps_obj(kind, getf, conv)
    return _LayerMaps("fraction", A, b, getf("codes"), getf("h0"),
                      f"layer {l}: exact in fractions" + (f"; {note}" if note else ""))


def _dense_maps_obj(kind: str, get, conv) -> tuple[np.ndarray, np.ndarray]:
    if kind == "dense":
        return get("matrices"), get("bias")
    diag = get("diag")
    S, n = diag.shape
    A = np.empty((S, n, n), dtype=object)
    for s in range(S):
        for i in range(n):
            for j in range(n):
                A[s, i, j] = diag[s, i] if i == j else conv(0)
    return A, get("bias")


def transition_table(maps: _LayerMaps) -> tuple[np.ndarray, int]:
    """``T [C, S]`` (code index reached, -1 when off the codes) and the code index of ``h0`` (-1 if none)."""
    codes = maps.codes
    C, n = codes.shape
    S = maps.A.shape[0]
    T = np.full((C, S), -1, dtype=np.int64)
    if maps.mode == "int":
        index = {codes[c].tobytes(): c for c in range(C)}
        for s in range(S):
            new = codes @ maps.A[s].T + maps.b[s]
            new = np.ascontiguousarray(new, dtype=np.int64)
            T[:, s] = [index.get(new[c].tobytes(), -1) for c in range(C)]
        h0 = index.get(np.ascontiguousarray(maps.h0, dtype=np.int64).tobytes(), -1)
        return T, h0
    index = {tuple(codes[c]): c for c in range(C)}
    if len(index) != C:
        raise ModelFormatError("two codes of a layer are equal in exact arithmetic (ambiguous decoder)")
    for s in range(S):
        A, b = maps.A[s], maps.b[s]
        for c in range(C):
            h = codes[c]
            new = tuple(b[i] + sum((A[i, j] * h[j] for j in range(n) if A[i, j] != 0), 0 * b[i]) for i in range(n))
            T[c, s] = index.get(new, -1)
    return T, index.get(tuple(maps.h0), -1)


# ================================================================================================ the search
def prove(model: CompiledModel, max_tuples: int = DEFAULT_MAX_TUPLES, progress: bool = False) -> ProofResult:
    """Prove that ``model`` follows its DFA on every word (see the module doc), or find a shortest counterexample."""
    dfa = model.dfa()
    L = model.num_layers
    tables, nexts, notes, h0c = [], [], [], []
    for l in range(L):
        maps = layer_maps(model, l)
        T, c0 = transition_table(maps)
        notes.append(maps.note)
        if c0 < 0:
            return ProofResult(False, None, 0, f"layer {l}: h0 is not exactly one of the codes "
                                               f"(so no state is proved for the empty prefix onwards)")
        tables.append(T)
        nexts.append(model.tensors[f"layers.{l}.next"])
        h0c.append(c0)
    # tuple columns: the layer codes, then the previous raw symbol of each conv layer (start row R), then the DFA state
    convs = [model.tensors.get(f"layers.{l}.conv") for l in range(L)]
    pcol = {}
    sizes = [t.shape[0] for t in tables]
    start = list(h0c)
    for l, cv in enumerate(convs):
        if cv is not None:
            pcol[l] = len(sizes)
            sizes.append(cv.shape[0])  # R + 1 values: R raw symbols and the start row
            start.append(cv.shape[1])
    qcol = len(sizes)
    sizes.append(dfa.n_states)
    start.append(dfa.start)
    W = len(sizes)
    space = math.prod(sizes)
    if space < 2 ** 62:  # tuples packed into one int64 key
        radix = np.ones(W, dtype=np.int64)
        for i in range(W - 2, -1, -1):
            radix[i] = radix[i + 1] * sizes[i + 1]

        def pack(rows: np.ndarray) -> np.ndarray:
            return rows @ radix
    else:  # deep stacks: the tuple's bytes are the key
        space = 2 ** 62

        def pack(rows: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(rows, dtype=np.int64).view(np.dtype((np.void, 8 * W))).ravel()
    S = dfa.n_symbols
    delta = dfa.delta
    front = np.array([start], dtype=np.int64)  # [M, W]
    seen = _Seen(space)
    seen.add(pack(front))
    parents: list[tuple[np.ndarray, np.ndarray]] = []  # per level: parent index, symbol of each frontier tuple
    total = 1
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="prove", unit="tuple", total=None)
    try:
        while front.shape[0]:
            M = front.shape[0]
            cand_par = np.repeat(np.arange(M), S)
            sym = np.tile(np.arange(S, dtype=np.int64), M)
            cur = front[cand_par]
            new = np.empty_like(cur)
            s = sym.copy()
            fail_at = np.full(M * S, L + 1, dtype=np.int64)  # layer where it fails; L = wrong DFA state
            for l in range(L):
                if convs[l] is not None:  # width-2 causal convolution over the raw symbols from below
                    raw = s
                    s = convs[l][cur[:, pcol[l]], raw]
                    new[:, pcol[l]] = raw
                c = tables[l][cur[:, l], s]
                off = (c < 0) & (fail_at > L)
                fail_at[off] = l
                c = np.where(c < 0, 0, c)
                new[:, l] = c
                s = nexts[l][c, s]
            q = delta[cur[:, qcol], sym]
            wrong = (s != q) & (fail_at > L)
            fail_at[wrong] = L
            new[:, qcol] = q
            bad = np.flatnonzero(fail_at <= L)
            if bad.size:
                i = int(bad[0])
                word = _word(parents, int(cand_par[i])) + [int(sym[i])]
                ce = dfa.decode(word)
                w = dfa.word_str(ce)
                if fail_at[i] < L:
                    why = (f"after {w!r} (length {len(word)}) layer {int(fail_at[i])}'s state is not exactly one "
                           f"of its codes")
                else:
                    why = (f"after {w!r} (length {len(word)}) the model decodes DFA state "
                           f"{dfa.states[int(s[i])]!r} but the DFA is in {dfa.states[int(q[i])]!r}")
                warn = [n for n in notes if "instead" in n]
                return ProofResult(False, ce, total, why + "".join(f" ({n})" for n in warn))
            keys = pack(new)
            uniq, first = np.unique(keys, return_index=True)
            fresh = seen.fresh(uniq)
            order = np.sort(first[fresh])  # keep first discovery, in length-lexicographic order
            front = new[order]
            parents.append((cand_par[order], sym[order]))
            seen.add(keys[order])
            total += order.size
            if bar is not None:
                bar.update(order.size)
            if total > max_tuples:
                raise StateLimitError(f"prove: more than {max_tuples} reachable tuples")
    finally:
        if bar is not None:
            bar.close()
    kinds = [n.split(": ", 1)[1] if ": " in n else n for n in notes]
    modes = f"all layers {kinds[0]}" if len(set(kinds)) == 1 else "; ".join(notes)
    return ProofResult(True, None, total,
                       f"proved for every length: {total} reachable (codes, DFA state) tuples over {L} layer(s), "
                       f"every transition lands exactly on a code that decodes to the DFA's successor ({modes})")


class _Seen:
    """A set of packed tuple keys (int64, or bytes for deep stacks): a bitmap when the key space is small, else a
    Python set."""

    BITMAP_LIMIT = 1 << 26

    def __init__(self, space: int):
        self.bitmap = np.zeros(space, dtype=bool) if space <= self.BITMAP_LIMIT else None
        self.set: set[int] = set()

    def fresh(self, keys: np.ndarray) -> np.ndarray:
        """Mask of the (distinct) ``keys`` not seen yet."""
        if self.bitmap is not None:
            return ~self.bitmap[keys]
        s = self.set
        return np.fromiter((k not in s for k in keys.tolist()), dtype=bool, count=keys.size)

    def add(self, keys: np.ndarray) -> None:
        if self.bitmap is not None:
            self.bitmap[keys] = True
        else:
            self.set.update(keys.tolist())


def _word(parents: Sequence[tuple[np.ndarray, np.ndarray]], idx: int) -> list[int]:
    """Symbols of the word reaching frontier element ``idx`` of the last level in ``parents``."""
    out = []
    for par, sym in reversed(parents):
        out.append(int(sym[idx]))
        idx = int(par[idx])
    return out[::-1]


__all__ = ["ProofResult", "prove", "CyclotomicField", "Cyc", "field_for_spec", "spec_value", "layer_maps",
           "transition_table"]
