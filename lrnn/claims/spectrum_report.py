"""``claims spectrum`` as a library function: Proposition 1's checks and the transition spectra of a model or of
random family members, as one typed result (:class:`SpectrumReport`); the CLI only validates, plots and prints it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .families import random_member
from .parity import load_any_model
from .precision import grid_format
from .spectra import product_spectra, proposition1_checks, symbol_spectra


@dataclass
class SpectrumReport:
    """``data``: the ``claims spectrum`` JSON object; ``groups``: eigenvalues per legend group (for a plot)."""

    data: dict[str, Any]
    groups: dict[str, list[complex]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Proposition 1 holds: norm <= 1 for beta in [0, 2], real spectra in [0, 1] for <= 2 factors with beta in
        [0, 1], and a non-real example with 3 factors was found."""
        return bool(self.data["ok"])

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)


def _strip(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "eigenvalues"} for r in rows]


def spectrum_report(dtype: str, precision: str, *, model_path: str | None = None, family: str = "deltanet",
                    eig_range: str = "0,1", samples: int = 1, seed: int = 0, layers: int = 2, symbol: Any = None,
                    max_steps: int = 1 << 13) -> SpectrumReport:
    """Proposition 1's checks, then the spectra of ``A(x)`` per symbol and of products of transitions, for the model
    at ``model_path`` or for ``samples`` random members of ``family`` in ``eig_range`` (seeds ``seed, seed + 1, ...``).
    """
    grid_format(dtype)
    prop = proposition1_checks()
    ok = prop["norm"]["holds"] and prop["two_factors"]["holds"] and prop["three_factors"].get("found", False)
    out: dict[str, Any] = {"claim": "spectrum", "dtype": dtype, "precision": precision, "proposition1": prop}
    groups: dict[str, list[complex]] = {}
    if model_path:
        model = load_any_model(model_path)
        sym = symbol_spectra(model, dtype, precision)
        prod = product_spectra(model, dtype, precision, symbol, max_steps)
        out.update(model=model_path, symbols=_strip(sym), products=_strip(prod))
        for r in sym:
            groups.setdefault(f"A(x), layer {r['layer']}", []).extend(complex(*z) for z in r["eigenvalues"])
        for r in prod:
            if r.get("eigenvalues"):
                groups.setdefault(f"products of {r['product_length']}, layer {r['layer']}", []).extend(
                    complex(*z) for z in r["eigenvalues"])
    else:
        summary = []
        for sd in range(seed, seed + samples):
            member = random_member(family, eig_range, seed=sd, layers=layers)
            sym = symbol_spectra(member, dtype, precision)
            prod = product_spectra(member, dtype, precision, symbol, max_steps)
            summary.append({"seed": sd, "symbols": _strip(sym), "products": _strip(prod)})
            for r in sym:
                groups.setdefault("A(x), layer 1", []).extend(complex(*z) for z in r["eigenvalues"])
            for r in prod[1:]:
                groups.setdefault(f"products of {r['product_length']}, layer {r['layer']}", []).extend(
                    complex(*z) for z in r.get("eigenvalues", []))
        allp = [p for s in summary for p in s["products"] if p.get("count")]
        out.update(family=family, range=eig_range, samples=samples, members=summary,
                   products_real=sum(p["real"] for p in allp), products_checked=len(allp))
    out["ok"] = bool(ok)
    return SpectrumReport(out, groups)


__all__ = ["SpectrumReport", "spectrum_report"]
