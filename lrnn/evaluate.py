"""Length generalisation: per-length accuracy of trained runs and compiled models.

For every test length ``T`` the evaluator draws ``per_length`` words of length T from the task (the same generator
and balance as training, seeded by ``[seed, T]`` so every length's words are fixed by the seed alone) and reports

- ``accuracy``: final labels: the fraction of words classified correctly; per-token labels: the fraction of
  positions whose predicted DFA state is right;
- ``chance``: the accuracy of the best constant guess (:meth:`~statetrack.lrnn.tasks.Task.chance`);
- ``scaled_accuracy = (accuracy - chance) / (1 - chance)`` (Deletang et al. 2023; 0 = chance, 1 = perfect; not
  clipped, so below-chance models score negative; 0 when chance is 1);
- per-token labels also ``sequence_accuracy``: the fraction of words with every position right.

The overall ``accuracy`` and ``scaled_accuracy`` are the means over the lengths (every length weighs the same).
Compiled models (docs/model-format.md) run through :class:`~statetrack.lrnn.compiled.CompiledLRNN` and are scored the
same way; a correct construction scores 1.0 everywhere.
"""
from __future__ import annotations

import io
import os
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from statetrack.fileio import atomic_write_bytes
from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError

from .tasks import IGNORE, Task, align_alphabet

#: tokens per forward pass (words x length) during evaluation
TOKEN_BUDGET = 1 << 16
#: resource limit: test tokens of one evaluation (the sum of the test lengths x words per length)
EVALUATE_MAX_TOKENS = 1 << 26


Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def model_predictor(model: nn.Module, device: "str | torch.device" = "cpu") -> Predictor:
    """``(ids [B, T], lengths [B]) -> predicted classes [B, T]`` of a trained model (argmax of the logits)."""
    model = model.to(device).eval()

    def predict(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(ids.to(device)).argmax(-1).cpu()

    return predict


def state_map(src: DFA, dst: DFA) -> np.ndarray:
    """Map the states of ``src`` to those of ``dst`` when both are minimal DFAs of the same language.

    Returns ``[src.n_states]`` int64 (-1 for unreachable states). Raises :class:`StatetrackError` when the two
    automata are not isomorphic on their reachable parts.
    """
    src, dst = src.complete(), dst.complete()
    if src.alphabet != dst.alphabet:
        raise StatetrackError(f"compiled model alphabet {list(src.alphabet)} differs from the task's "
                              f"{list(dst.alphabet)}")
    out = np.full(src.n_states, -1, dtype=np.int64)
    out[src.start] = dst.start
    todo = [src.start]
    while todo:
        q = todo.pop()
        for a in range(src.n_symbols):
            s, d = int(src.delta[q, a]), int(dst.delta[out[q], a])
            if out[s] == -1:
                out[s] = d
                todo.append(s)
            elif out[s] != d:
                raise StatetrackError("the compiled model's DFA is not the task's minimal DFA (no state isomorphism)")
    return out


def compiled_predictor(path: "str | os.PathLike", task: Task, kernel: str = "auto",
                       dtype: str = "float32") -> Predictor:
    """Predictions of a compiled model file in the task's class ids (final: accept = 1; per-token: DFA state)."""
    from .compiled import CompiledLRNN

    cm = CompiledLRNN(path, kernel=kernel, dtype=dtype)
    own = DFA.from_json(cm.meta["dfa"])
    if tuple(task.dfa.alphabet) != tuple(own.alphabet):
        raise StatetrackError(f"the task's alphabet {list(task.dfa.alphabet)} is not the compiled model's "
                              f"{list(own.alphabet)} in the model's order (align it with align_alphabet first)")
    if task.labels == "per-token":
        mapping = torch.from_numpy(state_map(own, task.dfa))

    def predict(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = torch.where(ids >= task.n_symbols, torch.zeros_like(ids), ids)  # padding: any symbol (causal)
        states, _ = cm.run_states(ids)
        if task.labels == "per-token":
            return mapping[states]
        return cm.accepting[states].long()

    return predict


def compiled_task(path: "str | os.PathLike", labels: str = "final", language: DFA | None = None) -> Task:
    """The task of a compiled model file: its own DFA (minimised), or ``language`` with its symbols paired to the
    model's by name (:func:`~statetrack.lrnn.tasks.align_alphabet`; an unknown symbol is an error)."""
    from statetrack.constructions.model_format import load_model

    cm = load_model(path)
    own = DFA.from_json(cm.meta["dfa"])
    if language is None:
        return Task(own.minimize(), labels, (1, 1))
    return Task(align_alphabet(language, own.alphabet, f"the compiled model {os.fspath(path)}"), labels, (1, 1))


def run_task(task: Task, language: DFA, source: dict[str, Any] | None = None) -> Task:
    """The task of a trained run, with its language replaced by ``language`` (paired to the model's symbols by name).

    Per-token runs predict the states of their own DFA, so another language is only accepted when it is the
    same language (then the run's own task is returned)."""
    dfa = align_alphabet(language, task.dfa.alphabet, "the run's model")
    if task.labels == "per-token":
        if not dfa.equivalent(task.dfa).equivalent:
            raise StatetrackError("a per-token run predicts the states of its own language; it cannot be scored on a "
                                  "different language")
        return task
    return Task(dfa, task.labels, task.train_lengths, task.balance, task.source if source is None else source)


def evaluate(predict: Predictor, task: Task, lengths: tuple[int, int], per_length: int = 100, seed: int = 0,
             progress: bool = False) -> dict[str, Any]:
    """Score ``predict`` on ``per_length`` words of every length in ``lengths`` (inclusive).

    Returns ``{accuracy, scaled_accuracy, [sequence_accuracy], per_length: {T: {accuracy, scaled_accuracy, chance,
    [sequence_accuracy]}}, lengths, per_length_words, seed}``.
    """
    lo, hi = int(lengths[0]), int(lengths[1])
    if lo < 1 or hi < lo:
        raise StatetrackError(f"lengths {lo}:{hi}: need 1 <= A <= B")
    if per_length < 1:
        raise StatetrackError(f"per_length {per_length}: need at least one word per length")
    tokens = (lo + hi) * (hi - lo + 1) // 2 * per_length
    if tokens > EVALUATE_MAX_TOKENS:
        raise StatetrackError(f"lengths {lo}:{hi} x per_length {per_length} = {tokens} test tokens exceeds the limit "
                              f"EVALUATE_MAX_TOKENS = {EVALUATE_MAX_TOKENS} (see docs/security.md)")
    rows: dict[int, dict[str, float]] = {}
    Ts = range(lo, hi + 1)
    if progress:
        from tqdm.auto import tqdm

        Ts = tqdm(Ts, desc="evaluate", unit="length")
    for T in Ts:
        words = task.sample_words(np.full(per_length, T), np.random.default_rng([int(seed), T]))
        batch = task.labelled(words)
        per_pass = max(1, TOKEN_BUDGET // T)
        preds = torch.cat([predict(batch.ids[i:i + per_pass], batch.lengths[i:i + per_pass])
                           for i in range(0, per_length, per_pass)])
        row: dict[str, float] = {}
        if task.labels == "final":
            correct = preds[:, T - 1] == batch.targets
            acc = float(correct.float().mean())
            chance = task.chance(T)
        else:
            real = batch.targets != IGNORE
            correct = (preds == batch.targets) | ~real
            acc = float(correct[real].float().mean())
            row["sequence_accuracy"] = float(correct.all(1).float().mean())
            chance = task.chance(T, batch.targets.numpy())
        row.update(accuracy=acc, chance=chance, scaled_accuracy=scaled(acc, chance))
        rows[T] = row
    out: dict[str, Any] = {
        "accuracy": float(np.mean([r["accuracy"] for r in rows.values()])),
        "scaled_accuracy": float(np.mean([r["scaled_accuracy"] for r in rows.values()])),
    }
    if task.labels == "per-token":
        out["sequence_accuracy"] = float(np.mean([r["sequence_accuracy"] for r in rows.values()]))
    out.update(per_length={str(T): r for T, r in rows.items()}, lengths=[lo, hi], per_length_words=per_length,
               seed=seed)
    return out


def scaled(acc: float, chance: float) -> float:
    """``(acc - chance) / (1 - chance)``; 0 when chance is 1 (nothing to learn beyond the constant guess)."""
    return 0.0 if chance >= 1.0 else (acc - chance) / (1.0 - chance)


def plot_available() -> bool:
    """Whether matplotlib (an optional dependency, needed by :func:`plot`) can be imported."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def plot(result: dict[str, Any], path: "str | os.PathLike", train_lengths: "tuple[int, int] | None" = None,
         title: str = "") -> None:
    """A PNG of accuracy (and scaled accuracy) against length, the training range shaded; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ts = [int(t) for t in result["per_length"]]
    acc = [result["per_length"][str(t)]["accuracy"] for t in Ts]
    sc = [result["per_length"][str(t)]["scaled_accuracy"] for t in Ts]
    ch = [result["per_length"][str(t)]["chance"] for t in Ts]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    if train_lengths is not None:
        ax.axvspan(train_lengths[0] - 0.5, train_lengths[1] + 0.5, color="tab:green", alpha=0.15,
                   label=f"train lengths {train_lengths[0]}..{train_lengths[1]}")
    ax.plot(Ts, acc, color="tab:blue", lw=1.2, label="accuracy")
    ax.plot(Ts, sc, color="tab:orange", lw=1.0, label="scaled accuracy")
    ax.plot(Ts, ch, color="gray", lw=0.8, ls="--", label="chance")
    ax.set_xlabel("length")
    ax.set_ylabel("accuracy")
    ax.set_ylim(min(-0.05, min(sc) - 0.05), 1.05)
    ax.set_title(title or f"accuracy {result['accuracy']:.3f}, scaled {result['scaled_accuracy']:.3f}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


__all__ = ["evaluate", "model_predictor", "compiled_predictor", "compiled_task", "run_task", "state_map", "scaled", "plot",
           "plot_available", "EVALUATE_MAX_TOKENS"]
