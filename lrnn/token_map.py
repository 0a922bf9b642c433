"""Token maps: how an outside model's vocabulary and output classes stand for a language's symbols and answers.

A model trained elsewhere (an fla checkpoint, :mod:`statetrack.lrnn.fla_checkpoint`) has its own token ids. A token
map, a small JSON file, says which token id is which alphabet symbol and which output tokens carry the answer:

.. code-block:: json

    {"symbols": {"0": 3, "1": 4}, "accept": 1, "reject": 0}

reads the language-model head's logits at every position and compares those of token 1 (accept) and token 0 (reject):
the next-token prediction among designated class tokens, one answer per prefix. With ``"states": {"even": 5, "odd": 6}``
instead of accept/reject, the argmax among those tokens names the DFA state (per-token state labels). Every alphabet
symbol must be mapped; symbols and state names are compared by name, never by position.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from statetrack.errors import ModelFormatError
from statetrack.untrusted import parse_json, read_text



@dataclass(frozen=True)
class TokenMap:
    """``symbols``: alphabet symbol -> token id; ``classes``: class name -> token id, in class order
    (``reject, accept`` for accept/reject maps; the DFA's state names in its order for state maps)."""

    symbols: dict[str, int]
    labels: str  # "final" (accept/reject per prefix) or "states" (the DFA state per prefix)
    classes: dict[str, int]

    def token_ids(self, alphabet: tuple[str, ...] | list[str]) -> list[int]:
        """Token id of each alphabet symbol, in the alphabet's order; ModelFormatError naming a missing symbol."""
        missing = [a for a in alphabet if a not in self.symbols]
        if missing:
            raise ModelFormatError(f"token map: no token for symbol(s) {', '.join(map(repr, missing))}")
        return [self.symbols[a] for a in alphabet]

    def class_token_ids(self, state_names: list[str] | None = None) -> list[int]:
        """Token ids of the classes in statetrack's class order: ``[reject, accept]``, or one per DFA state in the
        order of ``state_names`` (required for state maps)."""
        if self.labels == "final":
            return [self.classes["reject"], self.classes["accept"]]
        if state_names is None:
            raise ModelFormatError("token map: a state map needs the DFA's state names")
        missing = [q for q in state_names if q not in self.classes]
        if missing:
            raise ModelFormatError(f"token map: no token for state(s) {', '.join(map(repr, missing))}")
        return [self.classes[q] for q in state_names]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"symbols": dict(self.symbols)}
        if self.labels == "final":
            out.update(accept=self.classes["accept"], reject=self.classes["reject"])
        else:
            out["states"] = dict(self.classes)
        return out


def _token(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << 31):
        raise ModelFormatError(f"token map: {where} must be a token id (a non-negative integer), got {value!r}")
    return value


def parse_token_map(obj: Any, where: str = "token map") -> TokenMap:
    """Validate a token map given as a JSON-like object (see the module docstring)."""
    if not isinstance(obj, dict):
        raise ModelFormatError(f"{where}: expected a JSON object")
    unknown = sorted(set(obj) - {"symbols", "accept", "reject", "states"})
    if unknown:
        raise ModelFormatError(f"{where}: unknown field(s) {', '.join(unknown)}")
    syms = obj.get("symbols")
    if not isinstance(syms, dict) or not syms:
        raise ModelFormatError(f"{where}: 'symbols' must be a non-empty object mapping symbols to token ids")
    symbols = {}
    for name, tok in syms.items():
        if not isinstance(name, str) or not name:
            raise ModelFormatError(f"{where}: symbol names must be non-empty strings")
        symbols[name] = _token(f"symbols[{name!r}]", tok)
    if len(set(symbols.values())) != len(symbols):
        raise ModelFormatError(f"{where}: two symbols share a token id")
    if "states" in obj:
        if "accept" in obj or "reject" in obj:
            raise ModelFormatError(f"{where}: give either 'accept'/'reject' or 'states', not both")
        st = obj["states"]
        if not isinstance(st, dict) or not st:
            raise ModelFormatError(f"{where}: 'states' must be a non-empty object mapping state names to token ids")
        classes = {str(q): _token(f"states[{q!r}]", t) for q, t in st.items()}
        labels = "states"
    else:
        if "accept" not in obj or "reject" not in obj:
            raise ModelFormatError(f"{where}: needs 'accept' and 'reject' token ids (or 'states')")
        classes = {"reject": _token("reject", obj["reject"]), "accept": _token("accept", obj["accept"])}
        labels = "final"
    if len(set(classes.values())) != len(classes):
        raise ModelFormatError(f"{where}: two classes share a token id")
    return TokenMap(symbols=symbols, labels=labels, classes=classes)


def read_token_map(path: str | os.PathLike) -> TokenMap:
    """Read and validate a token-map JSON file (through the untrusted-input reader: regular files only, size and
    nesting bounded; docs/security.md)."""
    obj = parse_json(read_text(path, "json", error=ModelFormatError), str(path), error=ModelFormatError)
    return parse_token_map(obj, str(path))


__all__ = ["TokenMap", "parse_token_map", "read_token_map"]
