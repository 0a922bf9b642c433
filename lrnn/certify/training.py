"""Training until the model is certified: a ``stop_when`` hook for :func:`statetrack.lrnn.train.train`."""
from __future__ import annotations

import copy
from typing import Any

from torch import nn

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError

from ..model import LRNNModel
from .api import certify
from .certificate import Certificate


class UntilCertified:
    """Every ``every`` steps, certify a CPU copy of the model (in eval mode) against ``dfa``; True (stop) once the
    status is ``certified``. ``history`` holds ``(step, status)``; ``last`` the latest :class:`Certificate`.
    ``certify_kwargs`` go to :func:`~statetrack.lrnn.certify.certify` (by default a short search: words up to
    length 256)."""

    def __init__(self, dfa: DFA, labels: str, min_length: int, every: int, **certify_kwargs: Any):
        if every < 1:
            raise StatetrackError(f"until_certified: every must be >= 1; got {every}")
        self.dfa, self.labels, self.min_length, self.every = dfa, labels, int(min_length), int(every)
        self.kwargs = {"search_lengths": (64, 256), "max_rounds": 500, **certify_kwargs}
        self.history: list[tuple[int, str]] = []
        self.last: Certificate | None = None
        self.certified_at: int | None = None

    def __call__(self, step: int, model: nn.Module) -> bool:
        if step % self.every:
            return False
        inner = getattr(model, "module", model)
        if not isinstance(inner, LRNNModel):
            raise StatetrackError("until_certified: certification needs an LRNN model (not a baseline)")
        m = copy.deepcopy(inner).cpu().float().eval()
        self.last = certify(m, self.dfa, labels=self.labels, min_length=self.min_length, **self.kwargs)
        self.history.append((step, self.last.status))
        if self.last.status == "certified":
            self.certified_at = step
            return True
        return False

    def to_json(self) -> dict[str, Any]:
        return {"every": self.every, "certified_at": self.certified_at,
                "history": [{"step": s, "status": st} for s, st in self.history],
                "last": None if self.last is None else self.last.to_json()}
