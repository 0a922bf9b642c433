"""Hypothesis strategies for hostile input (JSON values and texts, DOT and XML token soups, regex patterns, mutated
files) and helpers that rewrite a safetensors header. Every strategy keeps examples small (a few hundred bytes) so that
fuzzing stays fast; the limits themselves are exercised by the regression tests."""
from __future__ import annotations

import json
import struct
from typing import Any

from hypothesis import strategies as st

#: a valid DFA JSON (parity), the seed that mutations start from
PARITY_JSON: dict[str, Any] = {
    "alphabet": ["0", "1"], "states": ["even", "odd"], "start": "even", "accepting": ["even"],
    "transitions": {"even": {"0": "even", "1": "odd"}, "odd": {"0": "odd", "1": "even"}},
}

#: scalars that break naive readers: bools where ints are expected, huge and negative numbers, odd strings
hostile_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(-(10 ** 30), 10 ** 30),
    st.floats(allow_nan=False, allow_infinity=False, width=32), st.sampled_from(["", "0", "1", "even", "odd", "tc",
                                                                               "\u0000", "\ud7ff", "a" * 50]),
)

#: JSON values up to a few levels deep
json_values = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["alphabet", "states", "start", "accepting", "transitions",
                                                             "even", "odd", "0", "1", "x"]), inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def mutated_json(draw, seed: dict[str, Any]) -> Any:
    """``seed`` with one to three keys (at any level) replaced by hostile values or removed."""
    obj = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(1, 3))):
        path: list = []
        node = obj
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node)) if isinstance(node, dict) else st.integers(0, len(node) - 1))
            path.append(key)
            node = node[key]
        if not path:
            continue
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return obj


@st.composite
def mutated_text(draw, seed: str, alphabet: str) -> str:
    """``seed`` with a few characters deleted, replaced or inserted (from ``alphabet``)."""
    chars = list(seed)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(chars)))
        op = draw(st.sampled_from(["del", "sub", "ins"]))
        c = draw(st.sampled_from(alphabet))
        if op == "ins" or not chars or i == len(chars):
            chars.insert(i, c)
        elif op == "del":
            del chars[i]
        else:
            chars[i] = c
    return "".join(chars)


_DOT_TOKENS = ["digraph", "graph", "strict", "subgraph", "node", "edge", "{", "}", "[", "]", ";", ",", "=", "->",
               "--", ":", "+", "a", "b", "q0", "__start0", "starting_x", "label", "shape", "doublecircle",
               "is_start", "is_final", "peripheries", "2", "true", '"0"', '"a b"', '"\\""', "<x<y>>", "<", "/*",
               "*/", "//", "\n#", "\n", " ", "statetrack_alphabet", "'[\"0\"]'", '"[\\"0\\"]"', "ɛ", "-1.5"]

#: DOT token soups, usually starting like a graph so that the parser gets past the header
dot_texts = st.builds(lambda head, body: head + " ".join(body),
                      st.sampled_from(["digraph {", "digraph G {", "strict digraph {", "", "graph {"]),
                      st.lists(st.sampled_from(_DOT_TOKENS), max_size=40))

_XML_TOKENS = ["<structure>", "</structure>", "<type>fa</type>", "<type>", "</type>", "<automaton>", "</automaton>",
               '<state id="0" name="q0">', '<state id="1">', '<state id="0">', "</state>", "<initial/>", "<final/>",
               "<transition>", "</transition>", "<from>0</from>", "<to>1</to>", "<from>", "</from>", "<read>0</read>",
               "<read/>", "<read>", "</read>", "1", "x", "&amp;", "&lt;", "&e;", "<!-- statetrack alphabet: [\"0\"] -->",
               "<!-- statetrack alphabet: 5 -->", "<![CDATA[ab]]>", '<?xml version="1.0"?>',
               '<?xml version="1.0" encoding="nope"?>', "<!DOCTYPE a [<!ENTITY e \"x\">]>", "\n", " "]

#: JFLAP-like XML token soups
jff_texts = st.builds(lambda parts: "".join(parts), st.lists(st.sampled_from(_XML_TOKENS), max_size=30))

#: regex patterns over the dialect's metacharacters and a few letters (short: subset constructions stay small)
regex_patterns = st.text(st.sampled_from(list("ab()[]{}|*+?.&~^$\\-,0123")), max_size=12)

#: the bytes of a words file: text lines, CRLF, stray bytes that are not UTF-8
words_bytes = st.one_of(
    st.binary(max_size=64),
    st.lists(st.text(st.sampled_from("01ab \r\t\u00e9"), max_size=6), max_size=6).map(
        lambda ls: "\n".join(ls).encode("utf-8")),
)


# ---------------------------------------------------------------------------------------------------- safetensors
def split_safetensors(data: bytes) -> tuple[dict, bytes]:
    """``(header object, tensor bytes)`` of a safetensors file written by statetrack."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def join_safetensors(header: Any, body: bytes, *, raw_header: bytes | None = None) -> bytes:
    """A safetensors file from a header object (or raw header bytes, which may be any text) and the tensor bytes."""
    text = raw_header if raw_header is not None else json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(text)) + text + body


def with_metadata(data: bytes, key: str, meta_text: str) -> bytes:
    """The file ``data`` with ``__metadata__[key]`` replaced by ``meta_text`` (any text, not necessarily JSON)."""
    header, body = split_safetensors(data)
    header["__metadata__"][key] = meta_text
    return join_safetensors(header, body)
