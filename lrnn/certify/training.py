"""Training until the model is certified: a ``stop_when`` hook for :func:`statetrack.lrnn.train.train`."""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError

from ..model import LRNNModel
from ..tasks import Task
from ..train import RESTART, clamped_gates, loss_and_accuracy
from .api import certify
from .certificate import STATUSES, Certificate

#: probe words of the frozen-gate check: this many random words of this length over the DFA's alphabet
PROBE_WORDS, PROBE_LENGTH = 32, 64
#: labelled words of the stall check (a fixed batch of training lengths, the same at every check and after a resume)
PROGRESS_WORDS = 256
#: the stall check's least gain: the probe loss of the last ``patience`` checks must fall below ``1 - STALL_GAIN``
#: times the best one before them, or the run counts as stalled
STALL_GAIN = 0.1


class UntilCertified:
    """Every ``every`` steps, certify a CPU copy of the model (in eval mode) against ``dfa``; True (stop) once the
    status is ``certified``. ``history`` holds ``(step, status, restarted)`` (``restarted``: the run started again
    from a fresh initialisation after this check); ``last`` the latest :class:`Certificate`. ``certify_kwargs`` go to
    :func:`~statetrack.lrnn.certify.certify` (by default a short search: words up to length 256).

    ``restarts``: how many times a run may start again from a fresh initialisation (:data:`~statetrack.lrnn.train.
    RESTART`) when it is *frozen and refuted*: the certificate is a counterexample no longer than ``max_length``
    (the longest training length: the model is wrong where it is trained) and every saturating gate sits on its
    clamp on random probe words (:func:`~statetrack.lrnn.train.clamped_gates` = 1). This is a heuristic: a clamped
    gate passes no gradient to its own pre-activation, so the kinds of the learnt maps are stuck *while* the gates
    stay clamped (e.g. a parity DeltaNet with ``beta = 2`` on both symbols: two reflections, whose products rotate the
    state, where parity needs the identity on '0'); the embeddings and other layers still learn and could in
    principle move a gate off its clamp. A frozen model that is right on the training lengths and refuted only
    beyond them is kept (a fresh start would lose what it learnt).

    With ``patience`` > 0 a run may also restart when it is *stalled and refuted*: refuted at each of the last
    ``patience`` checks since its (re)start, the latest on a word no longer than ``max_length``, while the loss on a
    fixed labelled
    batch of training lengths (:data:`PROGRESS_WORDS` words, the training's own loss,
    :func:`~statetrack.lrnn.train.loss_and_accuracy`) stayed above ``1 - STALL_GAIN`` times its best value before
    those checks: the plateau of a wrong basin (a diagonal parity model whose sign flip sits on the wrong symbol) or
    a run that has not started to learn. ``patience=0`` (the default) turns the rule off; it pays only where a fresh
    model learns in the steps left (benchmarks/RESULTS.md). :func:`~statetrack.lrnn.train.train` applies a
    restart only while a quarter of its steps is left (:func:`~statetrack.lrnn.train.restart_allowed`) and then calls
    :meth:`restarted`, which spends one of the ``restarts``; :meth:`state_dict` goes into the run's checkpoints."""

    def __init__(self, dfa: DFA, labels: str, min_length: int, every: int, restarts: int = 0,
                 max_length: int | None = None, patience: int = 0, **certify_kwargs: Any):
        if every < 1:
            raise StatetrackError(f"until_certified: every must be >= 1; got {every}")
        if restarts < 0:
            raise StatetrackError(f"until_certified: restarts must be >= 0; got {restarts}")
        if patience < 0:
            raise StatetrackError(f"until_certified: patience must be >= 0; got {patience}")
        self.dfa, self.labels, self.min_length, self.every = dfa, labels, int(min_length), int(every)
        self.restarts, self.patience = int(restarts), int(patience)
        self.max_length = max_length
        #: the probe loss of each check, in step with ``history`` (None where a checkpoint did not keep it)
        self.losses: list[float | None] = []
        self.kwargs = {"search_lengths": (64, 256), "max_rounds": 500, "max_boxes": 5_000, "deepen": 0,
                       **certify_kwargs}
        self.history: list[tuple[int, str, bool]] = []
        self.last: Certificate | None = None
        self.certified_at: int | None = None
        self.restarted_at: list[int] = []
        rng = np.random.default_rng(0)
        self.probe = torch.as_tensor(rng.integers(0, dfa.n_symbols, size=(PROBE_WORDS, PROBE_LENGTH)))
        top = max(self.min_length, max_length if max_length is not None else PROBE_LENGTH)
        self.progress = Task(dfa, labels, (self.min_length, top)).batch(PROGRESS_WORDS, np.random.default_rng(1))

    @property
    def restarts_left(self) -> int:
        """Restarts not yet spent."""
        return max(0, self.restarts - len(self.restarted_at))

    def __call__(self, step: int, model: nn.Module) -> "bool | str":
        if step % self.every:
            return False
        inner = getattr(model, "module", model)
        if not isinstance(inner, LRNNModel):
            raise StatetrackError("until_certified: certification needs an LRNN model (not a baseline)")
        m = copy.deepcopy(inner).cpu().float().eval()
        self.last = certify(m, self.dfa, labels=self.labels, min_length=self.min_length, **self.kwargs)
        self.history.append((step, self.last.status, False))
        self.losses.append(self.probe_loss(m) if self.patience else None)
        if self.last.status == "certified":
            self.certified_at = step
            return True
        if self.restarts_left and (self.refuted_short() and self.frozen(m) or self.stalled()):
            return RESTART
        return False

    def refuted_short(self) -> bool:
        """The latest check refuted the model on a word no longer than ``max_length`` (a training length)."""
        last = self.last
        return (last is not None and last.status == "counterexample"
                and (self.max_length is None or len(last.word or ()) <= self.max_length))

    def probe_loss(self, model: LRNNModel) -> float:
        """The training loss of ``model`` on the fixed labelled batch of training lengths."""
        with torch.no_grad():
            loss, _ = loss_and_accuracy(model(self.progress.ids), self.progress, self.labels)
        return float(loss)

    def stalled(self) -> bool:
        """Refuted at each of the last ``patience`` checks since the (re)start (the latest on a training length), with
        no probe loss among them below ``1 - STALL_GAIN`` times the best before them (the class docstring)."""
        if self.patience == 0 or not self.refuted_short():
            return False
        since = max((i + 1 for i, h in enumerate(self.history) if h[2]), default=0)  # checks since the last restart
        if len(self.history) - since <= self.patience:
            return False
        recent, before = self.losses[-self.patience:], self.losses[since:-self.patience]
        if any(x is None for x in recent + before):
            return False
        if any(st != "counterexample" for _, st, _ in self.history[-self.patience:]):
            return False
        return min(recent) > (1 - STALL_GAIN) * min(before)  # type: ignore[type-var]

    def restarted(self, step: int) -> None:
        """Called by :func:`~statetrack.lrnn.train.train` when it has applied the restart asked for at ``step``."""
        self.restarted_at.append(int(step))
        if self.history and self.history[-1][0] == step:
            self.history[-1] = (step, self.history[-1][1], True)

    def frozen(self, model: LRNNModel) -> bool:
        """Every saturating gate on its clamp on the probe words (the heuristic of the class docstring)."""
        return clamped_gates(model, self.probe) == 1.0

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps (JSON): the checks so far and the restarts spent."""
        return {"restarted_at": list(self.restarted_at),
                "history": [{"step": s, "status": st, "restarted": r, **({} if x is None else {"probe_loss": x})}
                            for (s, st, r), x in zip(self.history, self.losses)]}

    def load_state_dict(self, state: Any) -> None:
        """Continue from :meth:`state_dict` (of a checkpoint: untrusted, validated; :class:`StatetrackError`)."""
        def steps_ok(xs: Any) -> bool:
            return isinstance(xs, list) and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in xs)

        if not isinstance(state, dict) or not steps_ok(state.get("restarted_at")):
            raise StatetrackError("restarted_at is not a list of positive steps")
        hist = state.get("history")
        if not isinstance(hist, list):
            raise StatetrackError("history is not a list")
        parsed, losses = [], []
        for i, h in enumerate(hist):
            if not (isinstance(h, dict) and steps_ok([h.get("step")]) and h.get("status") in STATUSES
                    and isinstance(h.get("restarted"), bool)):
                raise StatetrackError(f"history[{i}] is not {{step, status, restarted}} with a known status")
            x = h.get("probe_loss")
            if x is not None and not (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                                      and x >= 0):
                raise StatetrackError(f"history[{i}].probe_loss is not a finite number >= 0")
            parsed.append((h["step"], h["status"], h["restarted"]))
            losses.append(None if x is None else float(x))
        self.restarted_at, self.history, self.losses = list(state["restarted_at"]), parsed, losses

    def to_json(self) -> dict[str, Any]:
        return {"every": self.every, "certified_at": self.certified_at, "restarts": self.restarts,
                "patience": self.patience, "restarted_at": self.restarted_at,
                "history": self.state_dict()["history"],
                "last": None if self.last is None else self.last.to_json()}
