"""The typed outcome of :func:`statetrack.lrnn.certify.certify`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: outcomes, and the CLI exit code of each
STATUSES = {"certified": 0, "counterexample": 1, "inconclusive": 3}


@dataclass
class Certificate:
    """What was shown about a model and a language.

    ``status``: ``certified`` (every word of length >= ``min_length`` is classified as the DFA does, at every
    length, in the arithmetic named by ``arithmetic``), ``counterexample`` (``word`` is misclassified, checked by
    running the model on it: ``predicted`` vs ``expected`` class) or ``inconclusive`` (``reason`` says why).
    ``method`` names the argument (``regions`` for trained models, ``exact-proof`` for compiled ones);
    ``details`` holds figures of the argument (nodes, rounds, largest radius, margins, ...).
    """

    status: str
    method: str
    reason: str = ""
    word: tuple[str, ...] | None = None
    predicted: int | None = None
    expected: int | None = None
    arithmetic: str | None = None
    min_length: int = 1
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Certificate.status must be one of {', '.join(STATUSES)}; got {self.status!r}")

    @property
    def exit_code(self) -> int:
        return STATUSES[self.status]

    def word_text(self) -> str | None:
        if self.word is None:
            return None
        return "".join(self.word) if all(len(s) == 1 for s in self.word) else " ".join(self.word)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "method": self.method, "reason": self.reason, "word": self.word_text(),
                "word_length": None if self.word is None else len(self.word), "predicted": self.predicted,
                "expected": self.expected, "arithmetic": self.arithmetic, "min_length": self.min_length,
                "details": self.details}
