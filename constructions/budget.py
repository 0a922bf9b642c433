"""One work budget shared by the searches of a compile: deterministic, counted in steps, not seconds.

:func:`statetrack.constructions.compile_language` gives every search it runs -- the bit-code search
(:mod:`.bitcode`), the merging of layer runs (:mod:`.stack_merge`) -- steps from one :class:`WorkBudget`. A step is
a unit of work each search defines (a node of the bit-code search, a transition looked at by the merge), so the
same DFA gets the same model on every machine and under any load; the report says which search stopped early.
The default (:data:`DEFAULT_WORK`) keeps every DFA of up to 10 states under a few seconds on a laptop core
(benchmarks/RESULTS.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: default steps of one compile, shared by all its searches
DEFAULT_WORK = 3_000_000


@dataclass
class WorkBudget:
    """``total`` steps; ``used`` so far; ``stopped``: the searches that ran out (in order, each named once);
    ``spent``: steps per search."""

    total: int = DEFAULT_WORK
    used: int = 0
    stopped: list[str] = field(default_factory=list)
    spent: dict[str, int] = field(default_factory=dict)

    @property
    def left(self) -> int:
        return max(0, self.total - self.used)

    def take(self, steps: int, who: str) -> bool:
        """Spend ``steps`` for the search ``who``; False (and ``who`` recorded as stopped) when fewer are left."""
        if steps > self.left:
            self.stop(who)
            return False
        self.used += int(steps)
        self.spent[who] = self.spent.get(who, 0) + int(steps)
        return True

    def charge(self, steps: int, who: str) -> None:
        """Record ``steps`` already spent by ``who`` (a search with its own cap drawn from :attr:`left`)."""
        self.used += int(steps)
        self.spent[who] = self.spent.get(who, 0) + int(steps)

    def stop(self, who: str) -> None:
        if who not in self.stopped:
            self.stopped.append(who)

    def report(self) -> dict:
        """``{work_budget, work_used, spent: {search: steps}, stopped_early: [search, ...]}`` for the JSON."""
        return {"work_budget": self.total, "work_used": self.used, "spent": dict(self.spent),
                "stopped_early": list(self.stopped)}


__all__ = ["WorkBudget", "DEFAULT_WORK"]
