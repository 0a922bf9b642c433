"""Training until the model is certified: a ``stop_when`` hook for :func:`statetrack.lrnn.train.train`."""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError

from ..model import LRNNModel
from ..train import RESTART, clamped_gates
from .api import certify
from .certificate import STATUSES, Certificate

#: probe words of the frozen-gate check: this many random words of this length over the DFA's alphabet
PROBE_WORDS, PROBE_LENGTH = 32, 64


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
    beyond them is kept (a fresh start would lose what it learnt). :func:`~statetrack.lrnn.train.train` applies a
    restart only while a quarter of its steps is left (:func:`~statetrack.lrnn.train.restart_allowed`) and then calls
    :meth:`restarted`, which spends one of the ``restarts``; :meth:`state_dict` goes into the run's checkpoints."""

    def __init__(self, dfa: DFA, labels: str, min_length: int, every: int, restarts: int = 0,
                 max_length: int | None = None, **certify_kwargs: Any):
        if every < 1:
            raise StatetrackError(f"until_certified: every must be >= 1; got {every}")
        if restarts < 0:
            raise StatetrackError(f"until_certified: restarts must be >= 0; got {restarts}")
        self.dfa, self.labels, self.min_length, self.every = dfa, labels, int(min_length), int(every)
        self.restarts = int(restarts)
        self.max_length = max_length
        self.kwargs = {"search_lengths": (64, 256), "max_rounds": 500, "max_boxes": 5_000, "deepen": 0,
                       **certify_kwargs}
        self.history: list[tuple[int, str, bool]] = []
        self.last: Certificate | None = None
        self.certified_at: int | None = None
        self.restarted_at: list[int] = []
        rng = np.random.default_rng(0)
        self.probe = torch.as_tensor(rng.integers(0, dfa.n_symbols, size=(PROBE_WORDS, PROBE_LENGTH)))

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
        if self.last.status == "certified":
            self.certified_at = step
            return True
        short = self.max_length is None or len(self.last.word or ()) <= self.max_length
        if self.last.status == "counterexample" and short and self.restarts_left and self.frozen(m):
            return RESTART
        return False

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
                "history": [{"step": s, "status": st, "restarted": r} for s, st, r in self.history]}

    def load_state_dict(self, state: Any) -> None:
        """Continue from :meth:`state_dict` (of a checkpoint: untrusted, validated; :class:`StatetrackError`)."""
        def steps_ok(xs: Any) -> bool:
            return isinstance(xs, list) and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in xs)

        if not isinstance(state, dict) or not steps_ok(state.get("restarted_at")):
            raise StatetrackError("restarted_at is not a list of positive steps")
        hist = state.get("history")
        if not isinstance(hist, list):
            raise StatetrackError("history is not a list")
        parsed = []
        for i, h in enumerate(hist):
            if not (isinstance(h, dict) and steps_ok([h.get("step")]) and h.get("status") in STATUSES
                    and isinstance(h.get("restarted"), bool)):
                raise StatetrackError(f"history[{i}] is not {{step, status, restarted}} with a known status")
            parsed.append((h["step"], h["status"], h["restarted"]))
        self.restarted_at, self.history = list(state["restarted_at"]), parsed

    def to_json(self) -> dict[str, Any]:
        return {"every": self.every, "certified_at": self.certified_at, "restarts": self.restarts,
                "restarted_at": self.restarted_at,
                "history": [{"step": s, "status": st, "restarted": r} for s, st, r in self.history],
                "last": None if self.last is None else self.last.to_json()}
