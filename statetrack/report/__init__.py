"""``statetrack report``: one self-contained HTML page about a language, a compiled model, a trained run or an fla
checkpoint (inline SVG and CSS, nothing fetched at view time).

Sections, in this order where they apply: the minimal DFA drawn, the syntactic monoid's egg-box, the verdict per
LRNN family with theorem and witness, the compiled model (layers, factors, exact proof, precision per dtype and
kernel), the transition eigenvalues on the unit circle, and for trained models the training curves and the accuracy
against length with the training range shaded. Every number comes from the library function that computes it
elsewhere (classify, prove, run_numeric, evaluate); this package only lays them out.

Example:
    >>> from statetrack.automata.catalog import get_language
    >>> r = report_language(get_language("parity"), "parity", compile_model=False)
    >>> [s.id for s in r.sections]
    ['dfa', 'monoid', 'verdicts']
"""
from __future__ import annotations

import os
from pathlib import Path

from .build import (Report, compiled_section, dfa_section, length_section, model_eigen_section, monoid_section,
                    training_section, verdict_section, title_line)
from .page import render_html


def report_language(dfa, name: str, compile_model: bool = True, numeric_len: int = 256) -> Report:
    """The report of a language: DFA, monoid, verdicts and (``compile_model``) the auto construction's model."""
    from statetrack.constructions import compile_language
    from statetrack.errors import StatetrackError

    verdicts, c = verdict_section(dfa)
    sections = [dfa_section(dfa), monoid_section(dfa), verdicts]
    if compile_model:
        try:
            model, rep = compile_language(dfa, "auto")
        except StatetrackError as exc:
            from .build import Section

            sections.append(Section("compiled", "Compiled model", f"<p>Not compiled: {exc}</p>",
                                    {"error": str(exc)}))
        else:
            sections += [compiled_section(model, rep, numeric_len), model_eigen_section(model)]
    title, summary = title_line(name, c)
    return Report("language", title, summary, sections)


def report_compiled(path: str | os.PathLike, numeric_len: int = 256) -> Report:
    """The report of a compiled-model file: its language's sections, then the model's proof, precision, spectra."""
    from statetrack.constructions import load_model

    model = load_model(path)
    dfa = model.dfa()
    verdicts, c = verdict_section(dfa)
    sections = [dfa_section(dfa), monoid_section(dfa), verdicts, compiled_section(model, None, numeric_len),
                model_eigen_section(model)]
    title, summary = title_line(f"{Path(path).name} ({model.meta.get('construction')})", c)
    return Report("compiled", title, summary, sections)


def report_run(run_dir: str | os.PathLike, max_len: int | None = None, per_length: int = 32) -> Report:
    """The report of a trained run folder: the task's language, training curves, accuracy against length, and the
    first layer's transition eigenvalues."""
    from statetrack.lrnn.evaluate import model_predictor
    from statetrack.lrnn.train import load_run

    run_dir = Path(run_dir)
    model, task, info = load_run(run_dir)
    dfa = task.dfa
    verdicts, c = verdict_section(dfa)
    lo, hi = task.train_lengths
    sections = [dfa_section(dfa), monoid_section(dfa), verdicts, training_section(run_dir),
                length_section(model_predictor(model), task, (lo, hi), max_len or max(4 * hi, 64), per_length)]
    if hasattr(model, "blocks"):
        sections.append(model_eigen_section(model, [str(a) for a in dfa.alphabet]))
    train_cfg = info.get("train") if isinstance(info.get("train"), dict) else {}
    kind = str(info.get("model", "model"))
    if train_cfg.get("eigenvalue_range") is not None:
        kind += f" {list(train_cfg['eigenvalue_range'])}"
    title, summary = title_line(f"run {run_dir.name} ({kind})", c)
    return Report("run", title, summary, sections)


def report_fla(path: str | os.PathLike, token_map_path: str | os.PathLike, dfa, name: str,
               lengths: tuple[int, int] = (1, 64), per_length: int = 32) -> Report:
    """The report of an fla checkpoint read through a token map against the language of ``dfa``."""
    from statetrack.lrnn.evaluate import model_predictor
    from statetrack.lrnn.fla_checkpoint import fla_model_for_language

    small, task = fla_model_for_language(path, token_map_path, dfa)
    spec = small.spec
    verdicts, c = verdict_section(dfa)
    sections = [dfa_section(dfa), monoid_section(dfa), verdicts,
                length_section(model_predictor(small), task, None, lengths[1], per_length),
                model_eigen_section(small, [str(a) for a in task.dfa.alphabet])]
    title, summary = title_line(f"{Path(path).name} (fla {spec.model_type}) on {name}", c)
    return Report("fla", title, summary, sections)


def build_report(path: str | os.PathLike | None = None, dfa=None, name: str = "", token_map=None,
                 numeric_len: int = 256) -> Report:
    """The report for what ``path`` is (a run folder with ``run.json``, an fla checkpoint folder, or a compiled-model
    file), or for the language ``dfa`` when ``path`` is None. An fla checkpoint needs ``token_map`` (a path) and
    ``dfa``; a run or compiled model takes its language from the file, so ``dfa`` must then be None.

    Raises StatetrackError naming the problem (a missing path, a missing token map, two sources).
    """
    from statetrack.errors import StatetrackError
    from statetrack.lrnn.fla_checkpoint import is_fla_checkpoint

    if path is None:
        if dfa is None:
            raise StatetrackError("report: give a model path or a language (dfa)")
        return report_language(dfa, name or "language", numeric_len=numeric_len)
    p = Path(path)
    if not p.exists():
        raise StatetrackError(f"report: {p}: no such file or folder")
    if p.is_dir() and is_fla_checkpoint(p):
        if token_map is None or dfa is None:
            raise StatetrackError(f"report: {p} is an fla checkpoint: give token_map (which token is which symbol "
                                  "and class) and the language it is meant to recognise")
        return report_fla(p, token_map, dfa, name or "language")
    if dfa is not None or token_map is not None:
        raise StatetrackError(f"report: {p} carries its own language; give no language source or token map")
    if p.is_dir():
        if not (p / "run.json").is_file():
            raise StatetrackError(f"report: {p} is neither a run folder (no run.json) nor an fla checkpoint")
        return report_run(p)
    return report_compiled(p, numeric_len)


def write_report(report: Report, path: str | os.PathLike) -> None:
    """Write the report's HTML atomically."""
    from statetrack.fileio import atomic_write_text

    atomic_write_text(path, render_html(report))


__all__ = ["Report", "build_report", "report_language", "report_compiled", "report_run", "report_fla", "render_html",
           "write_report"]
