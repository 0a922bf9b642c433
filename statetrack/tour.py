"""The built-in tour (``statetrack demo``): compile, prove and run the showcase languages, one row each.

Languages: parity, mod:3 (rotation), group:S3, group:S5, modsum:5 (modadd2, two layers), tomita:5 (the Klein
four-group language) and tomita:3 (not a group: the Krohn-Rhodes cascade of Theorem 4, shortened by the direct
search). Each is compiled, proved exactly (:func:`statetrack.constructions.prove`), and run in float32 and
bfloat16 for ``steps`` tokens on a random word, one long run of each symbol and one cycled short word, by the
sequential ``direct`` runner of :mod:`statetrack.lrnn.verify_numeric` (memoised: 10^5 tokens of an exact
construction cost one table walk).

Example:
    >>> rows = demo_rows(steps=50, languages=[("parity", "auto")])
    >>> rows[0].construction, rows[0].proved, rows[0].numeric["float32"]["errors"]
    ('parity', True, 0)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from statetrack.api import catalog_group_action
from statetrack.errors import StatetrackError

#: (catalog name, construction) of the tour, in order
DEMO: tuple[tuple[str, str], ...] = (("parity", "auto"), ("mod:3", "auto"), ("mod:5", "auto"), ("group:S3", "auto"),
                                     ("group:S5", "auto"), ("group:Q8", "auto"), ("modsum:5", "modadd2"),
                                     ("tomita:5", "auto"), ("tomita:3", "auto"))
#: the dtypes each language runs in
DEMO_DTYPES: tuple[str, ...] = ("float32", "bfloat16")
#: the numeric runner of the tour (the memoised sequential one)
DEMO_KERNEL = "direct"


@dataclass
class DemoRow:
    """One language of the tour.

    ``construction``, ``layers``, ``dims``, ``factors``, ``codes``: the compile report's fields; ``proved`` and
    ``reachable``: the exact proof; ``numeric``: per dtype name, the numeric run
    (:meth:`statetrack.lrnn.verify_numeric.NumericResult.to_json`).
    """

    language: str
    construction: str
    layers: int
    dims: list[int]
    factors: list[int]
    codes: list[int]
    proved: bool
    reachable: int
    numeric: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The row of ``statetrack demo --json``: the fields above, with one key per dtype instead of ``numeric``."""
        out: dict[str, Any] = {"language": self.language, "construction": self.construction, "layers": self.layers,
                               "dims": self.dims, "factors": self.factors, "codes": self.codes,
                               "proved": self.proved, "reachable": self.reachable}
        out.update(self.numeric)
        return out


def demo_rows(steps: int = 100_000, seed: int = 0, progress: bool = False,
              languages: Sequence[tuple[str, str]] = DEMO, dtypes: Sequence[str] = DEMO_DTYPES) -> list[DemoRow]:
    """Compile, prove and run each ``(catalog name, construction)`` of ``languages``; one :class:`DemoRow` each.

    ``steps``: tokens per numeric word (at least 1); ``seed``: seed of the random word; ``progress``: a bar on stderr.
    """
    if steps < 1:
        raise StatetrackError(f"steps must be at least 1, got {steps}")
    from tqdm.auto import tqdm

    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language, prove
    from statetrack.lrnn.verify_numeric import run_numeric, sample_words

    rows = []
    for name, construction in tqdm(list(languages), desc="demo", unit="language", disable=not progress):
        dfa = get_language(name)
        model, rep = compile_language(dfa, construction, group_action=catalog_group_action(name, dfa))
        proof = prove(model)
        mdfa = model.dfa()
        words = sample_words(mdfa, steps, mdfa.n_symbols + 2, seed)
        numeric = {dt: run_numeric(model, dt, words=words, kernel=DEMO_KERNEL).to_json() for dt in dtypes}
        rows.append(DemoRow(language=name, construction=rep["construction"], layers=rep["layers"], dims=rep["dims"],
                            factors=rep["factors"], codes=rep["codes"], proved=proof.proved,
                            reachable=proof.reachable, numeric=numeric))
    return rows


def demo_reports(out_dir, languages: Sequence[tuple[str, str]] = DEMO, progress: bool = False) -> list[str]:
    """Write the HTML report (:func:`statetrack.report.report_language`) of each tour language into ``out_dir``
    (created if missing) as ``<name>.html`` with ``:`` replaced by ``_``; returns the paths written."""
    import os

    from tqdm.auto import tqdm

    from statetrack.automata.catalog import get_language
    from statetrack.report import report_language, write_report

    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise StatetrackError(f"report folder {out_dir!r} exists and is not a folder")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, _construction in tqdm(list(languages), desc="reports", unit="language", disable=not progress):
        path = os.path.join(out_dir, name.replace(":", "_") + ".html")
        write_report(report_language(get_language(name), name), path)
        paths.append(path)
    return paths


__all__ = ["DemoRow", "demo_rows", "demo_reports", "DEMO", "DEMO_DTYPES", "DEMO_KERNEL"]
