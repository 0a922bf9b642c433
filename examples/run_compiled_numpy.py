"""Run a statetrack compiled model with numpy alone (no statetrack import), following docs/model-format.md.

Usage: python run_compiled_numpy.py MODEL WORD [--sep S]
Prints, per token, the DFA state reached (its name), then whether the word is accepted.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": np.float64, "I64": np.int64, "F32": np.float32}


def read_model(path):
    """-> (metadata dict, {tensor name: array}) from a safetensors file."""
    data = open(path, "rb").read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    meta = json.loads(header.pop("__metadata__")["statetrack"])
    body = data[8 + hlen:]
    tensors = {}
    for name, t in header.items():
        start, end = t["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return meta, tensors


def run(meta, tensors, ids):
    """DFA state ids after each token of ``ids`` (symbol ids of the model's alphabet)."""
    sym = list(ids)
    for l, info in enumerate(meta["layers"]):
        T = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"layers.{l}.")}
        if "conv" in T:  # width-2 causal convolution: (previous symbol or start row R, current symbol)
            R = T["conv"].shape[1]
            sym = [int(T["conv"][p, s]) for p, s in zip([R] + sym[:-1], sym)]
        h, out = T["h0"].copy(), []
        for s in sym:
            if info["kind"] == "householder":
                for k, beta, v in zip(T["keys"][s], T["betas"][s], T["values"][s]):
                    h = h - beta * k * (k @ h) + beta * k * v  # (I - beta k k^T) h + beta k v
            elif info["kind"] == "dense":
                h = T["matrices"][s] @ h + T["bias"][s]
            else:
                h = T["diag"][s] * h + T["bias"][s]
            code = int(np.argmin(((T["codes"] - h) ** 2).sum(1)))  # nearest code
            out.append(int(T["next"][code, s]))  # symbol for the next layer (last layer: DFA state)
        sym = out
    return sym


if __name__ == "__main__":
    path, word = sys.argv[1], sys.argv[2]
    sep = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--sep" else None
    meta, tensors = read_model(path)
    symbols = word.split(sep) if sep else list(word)
    ids = [meta["alphabet"].index(a) for a in symbols if a != ""]
    states = run(meta, tensors, ids)
    dfa = meta["dfa"]
    names = [dfa["states"][q] for q in states]
    print(" ".join(names))
    final = names[-1] if names else dfa["start"]
    print("accepted" if final in dfa["accepting"] else "rejected")
