"""Hypothesis strategies shared by the tests (importable: pytest puts tests/ on sys.path)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from statetrack.automata.dfa import DFA


@st.composite
def dfas(draw, max_states: int = 5, max_symbols: int = 3) -> DFA:
    """Random (possibly partial) DFAs over the letters a, b, c, ..."""
    n = draw(st.integers(1, max_states))
    k = draw(st.integers(1, max_symbols))
    delta = draw(st.lists(st.integers(-1, n - 1), min_size=n * k, max_size=n * k))
    acc = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    start = draw(st.integers(0, n - 1))
    return DFA([chr(97 + i) for i in range(k)], None, start, np.array(acc, dtype=bool), np.array(delta).reshape(n, k))
