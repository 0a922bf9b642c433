"""Proposition 1 and the spectra behind Theorems 1 and 2, as checks.

* :func:`symbol_spectra` -- eigenvalues of ``A(x)`` for every input symbol ``x`` (compiled models: every layer's
  symbols; LRNN models: the first layer, per head, with ``x`` repeated past the convolution warm-up).
* :func:`product_spectra` -- eigenvalues of products of ``2^(i-1)`` consecutive transitions of layer ``i`` (Theorem 2's
  quantity). Compiled models: every word of that length over the layer's input symbols (at most ``max_words``; a
  seeded random sample beyond). LRNN models: the products met on ``1^t`` once the run has settled (every position of
  the final cycle, at most 256), or at the last 256 positions of a run that did not settle (``settled: False``).
* :func:`gh_norm_check` -- products of GH factors with ``beta`` in ``[0, 2]`` (unit keys) have spectral norm <= 1.
* :func:`two_factor_check` -- one or two GH factors with ``beta`` in ``[0, 1]`` have real eigenvalues in ``[0, 1]``
  (the product of two positive semi-definite matrices is similar to a positive semi-definite one).
* :func:`three_factor_example` -- three such factors can have non-real eigenvalues: a found example, re-checked.

Eigenvalues are computed in float64 with ``numpy.linalg.eigvals``; "real" means ``|imag| <= tol``.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .families import CompiledStage
from .parity import DEFAULT_MAX_STEPS, OnesRunner, is_compiled, settle

TOL = 1e-9


def _gh_product(keys: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """``G_F ... G_1`` for ``keys [..., F, n]``, ``betas [..., F]`` (factor 0 first)."""
    n = keys.shape[-1]
    M = np.broadcast_to(np.eye(n), keys.shape[:-2] + (n, n)).copy()
    for f in range(keys.shape[-2]):
        k, b = keys[..., f, :], betas[..., f]
        M = M - b[..., None, None] * k[..., :, None] * np.einsum("...i,...ij->...j", k, M)[..., None, :]
    return M


def _unit_keys(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    k = rng.standard_normal(shape)
    return k / np.linalg.norm(k, axis=-1, keepdims=True)


def _summary(ev: np.ndarray, tol: float = TOL) -> dict:
    ev = np.asarray(ev).reshape(-1)
    if ev.size == 0:
        return {"count": 0}
    return {"count": int(ev.size), "max_abs_imag": float(np.abs(ev.imag).max()),
            "min_real": float(ev.real.min()), "max_real": float(ev.real.max()),
            "max_modulus": float(np.abs(ev).max()), "real": bool(np.abs(ev.imag).max() <= tol),
            "nonnegative_real": bool(np.abs(ev.imag).max() <= tol and ev.real.min() >= -tol)}


# ------------------------------------------------------------------------------------------------ Prop. 1
def gh_norm_check(n: int = 4, factors: int = 6, samples: int = 2000, seed: int = 0) -> dict:
    """Largest spectral norm of random products of ``1..factors`` GH factors, unit keys, ``beta ~ U[0, 2]``
    (with ``beta = 0`` and ``beta = 2`` mixed in)."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for F in range(1, factors + 1):
        keys = _unit_keys(rng, (samples, F, n))
        betas = rng.uniform(0, 2, (samples, F))
        betas[rng.random((samples, F)) < 0.1] = 2.0
        worst = max(worst, float(np.linalg.norm(_gh_product(keys, betas), ord=2, axis=(-2, -1)).max()))
    return {"claim": "GH products with beta in [0,2] have norm <= 1", "n": n, "factors": factors,
            "samples": samples * factors, "max_norm": worst, "holds": worst <= 1 + 1e-12}


def two_factor_check(n: int = 4, samples: int = 4000, seed: int = 0, tol: float = 1e-7) -> dict:
    """Eigenvalues of random products of 1 or 2 GH factors, unit keys, ``beta ~ U[0, 1]``."""
    rng = np.random.default_rng(seed)
    evs = []
    for F in (1, 2):
        keys = _unit_keys(rng, (samples, F, n))
        evs.append(np.linalg.eigvals(_gh_product(keys, rng.uniform(0, 1, (samples, F)))).reshape(-1))
    ev = np.concatenate(evs)
    s = _summary(ev, tol)
    holds = s["max_abs_imag"] <= tol and s["min_real"] >= -tol and s["max_real"] <= 1 + tol
    return {"claim": "<= 2 GH factors with beta in [0,1] have real eigenvalues in [0,1]", "n": n,
            "samples": 2 * samples, **{k: s[k] for k in ("max_abs_imag", "min_real", "max_real")}, "holds": holds}


def three_factor_example(n: int = 2, seed: int = 0, tries: int = 10000, tol: float = 1e-6) -> dict | None:
    """Three GH factors with ``beta`` in ``[0, 1]`` whose product has a non-real eigenvalue (searched with a seeded
    generator; keys rounded to 4 decimals and re-normalised so the example is easy to copy), or None."""
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(tries):
        keys = np.round(_unit_keys(rng, (3, n)), 4)
        keys /= np.linalg.norm(keys, axis=-1, keepdims=True)
        betas = np.round(rng.uniform(0, 1, 3), 2)
        ev = np.linalg.eigvals(_gh_product(keys, betas))
        im = float(np.abs(ev.imag).max())
        if im > tol and (best is None or im > best[2]):
            best = (keys, betas, im, ev)
            if im > 0.02:
                break
    if best is None:
        return None
    keys, betas, im, ev = best
    return {"claim": "3 GH factors with beta in [0,1] can have non-real eigenvalues", "n": n,
            "keys": keys.tolist(), "betas": betas.tolist(),
            "eigenvalues": [[float(z.real), float(z.imag)] for z in ev], "max_abs_imag": im, "found": True}


def proposition1_checks(n: int = 4, samples: int = 2000, seed: int = 0) -> dict:
    """The three Proposition-1 checks in one JSON object."""
    ex = three_factor_example(2, seed)
    return {"norm": gh_norm_check(n, samples=samples, seed=seed), "two_factors": two_factor_check(n, 2 * samples, seed),
            "three_factors": ex if ex is not None else {"found": False}}


# ------------------------------------------------------------------------------------------------ models
def symbol_spectra(model: Any, dtype: str = "float32", precision: str = "float") -> list[dict]:
    """Per layer and symbol, the eigenvalues of ``A(x)`` (all heads): ``[{layer, symbol, eigenvalues, ...}]``."""
    out = []
    if is_compiled(model):
        from statetrack.constructions.model_format import layer_matrices

        alphabet = [str(a) for a in model.meta["alphabet"]]
        for l in range(model.num_layers):
            A, _ = layer_matrices(model, l)
            for s in range(A.shape[0]):
                ev = np.linalg.eigvals(A[s])
                name = alphabet[s] if l == 0 else str(s)
                out.append({"layer": l + 1, "symbol": name, "eigenvalues": _pairs(ev), **_summary(ev)})
        return out
    from .families import symbol_transitions
    from .precision import Stepper

    stepper = Stepper(dtype, _step_model(precision))
    import copy

    import torch

    m = copy.deepcopy(model).to(getattr(torch, stepper.fmt.name)).float().eval()
    alphabet = m.config.extra.get("alphabet") if isinstance(m.config.extra, dict) else None
    for s in range(m.config.vocab_size):
        A, _ = symbol_transitions(m, s, stepper)
        ev = np.linalg.eigvals(A)
        name = str(alphabet[s]) if alphabet and s < len(alphabet) else str(s)
        out.append({"layer": 1, "symbol": name, "eigenvalues": _pairs(ev), **_summary(ev)})
    return out


def _step_model(precision: str) -> str:
    """The step model whose weight grid a spectrum uses: ``paper`` stores weights like ``per-step`` (nearest, ties to
    the smaller value); its runs on ``1^t`` for product spectra use the ``per-step`` arithmetic."""
    return "per-step" if precision == "paper" else precision


def _pairs(ev: np.ndarray) -> list:
    return [[float(z.real), float(z.imag)] for z in np.asarray(ev).reshape(-1)]


def product_spectra(model: Any, dtype: str = "float32", precision: str = "float", symbol: "str | int | None" = None,
                    max_steps: int = DEFAULT_MAX_STEPS, max_words: int = 4096, seed: int = 0) -> list[dict]:
    """Per layer ``i``, eigenvalue summary of products of ``2^(i-1)`` consecutive transitions (see module doc)."""
    out = []
    precision = _step_model(precision)
    if is_compiled(model):
        runner = OnesRunner(model, dtype, precision, symbol)
        rng = np.random.default_rng(seed)
        for l, stage in enumerate(runner.stages):
            assert isinstance(stage, CompiledStage)
            S, length = stage.A.shape[0], 2 ** l
            if S ** length <= max_words:
                words = list(itertools.product(range(S), repeat=length))
            else:
                words = [tuple(rng.integers(0, S, length)) for _ in range(max_words)]
            ev = []
            for w in words:
                P = np.eye(stage.A.shape[-1])
                for s in w:
                    P = stage.A[s] @ P
                ev.append(np.linalg.eigvals(P))
            ev = np.concatenate(ev)
            out.append({"layer": l + 1, "product_length": length, "products": len(words), **_summary(ev, 1e-6),
                        "eigenvalues": _pairs(ev[:256])})
        return out
    runner = OnesRunner(model, dtype, precision, symbol)
    s = settle(runner, max_steps)
    if s.settled:
        start, p = s.settle_step - 1, s.period
    else:  # no cycle within max_steps: the last positions of the run
        p = min(256, s.steps)
        start = s.steps - p
    for l, (stage, run) in enumerate(zip(runner.stages, s.trace.runs)):
        length = 2 ** l
        ev, count = [], 0
        for t in range(start, start + min(p, 256)):
            if t - length + 1 < 0 or t >= run.steps.size:
                continue
            P = None
            for u in range(t - length + 1, t + 1):
                A = stage.transition(run.steps[u])
                P = A if P is None else A @ P
            ev.append(np.linalg.eigvals(P).reshape(-1))
            count += 1
        ev = np.concatenate(ev) if ev else np.zeros(0, dtype=complex)
        out.append({"layer": l + 1, "product_length": length, "products": count, "settled": s.settled,
                    **_summary(ev, 1e-6), "eigenvalues": _pairs(ev[:256])})
    return out


def plot_eigenvalues(groups: dict[str, np.ndarray], path: str, title: str = "") -> str:
    """Scatter eigenvalue groups (label -> complex array) on the complex plane with the unit circle; write ``path``
    (PNG, atomically). Needs matplotlib (the ``plot`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from statetrack.errors import StatetrackError

        raise StatetrackError("--plot needs matplotlib: pip install 'statetrack[plot]'") from None
    import io

    from statetrack.fileio import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    th = np.linspace(0, 2 * np.pi, 512)
    ax.plot(np.cos(th), np.sin(th), color="0.6", lw=1, label="unit circle")
    for label, ev in groups.items():
        ev = np.asarray(ev).reshape(-1)
        ax.scatter(ev.real, ev.imag, s=10, alpha=0.6, label=f"{label} ({ev.size})")
    ax.axhline(0, color="0.85", lw=0.5)
    ax.axvline(0, color="0.85", lw=0.5)
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.set_xlabel("Re")
    ax.set_ylabel("Im")
    ax.set_title(title or "transition eigenvalues")
    ax.legend(loc="lower left", fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


__all__ = ["gh_norm_check", "two_factor_check", "three_factor_example", "proposition1_checks", "symbol_spectra",
           "product_spectra", "plot_eigenvalues", "TOL"]
