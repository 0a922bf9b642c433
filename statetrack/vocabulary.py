"""The names statetrack uses, written once: LRNN families, eigenvalue ranges, dtypes, kernels, layer kinds,
constructions and precision regimes.

This module imports nothing (not even torch): every layer of the package reads its lists from here, and the command
line builds its ``choices=`` from them. The kernels import nothing of ours, so they keep their own backend tuples; a
test checks that those equal :data:`HOUSEHOLDER_KERNELS` and :data:`DIAGONAL_KERNELS`.

Example:
    >>> FAMILIES[:2]
    ('diagonal[0,1]', 'diagonal[-1,1]')
    >>> TORCH_DTYPE_NAMES["bf16"], DEFAULT_KERNEL
    ('bfloat16', 'auto')
"""
from __future__ import annotations

# ----------------------------------------------------------------------------------------------- families
#: layer types of a trained LRNN model (``LRNNConfig.layer``; the claims' family members), in the claims' order
LRNN_LAYER_TYPES: tuple[str, ...] = ("diagonal", "deltanet", "deltaproduct")

#: the non-LRNN baselines that ``train`` can fit (``statetrack.lrnn.baselines.BASELINES``)
BASELINE_MODELS: tuple[str, ...] = ("lstm", "transformer")

#: eigenvalue ranges of a transition, by name (``"0,1"``: today's DeltaNet and Mamba; ``"-1,1"``: the extension)
EIGENVALUE_RANGES: dict[str, tuple[int, int]] = {"0,1": (0, 1), "-1,1": (-1, 1)}

#: parametrisations of the transition gates (beta of Householder layers, the diagonal transition): ``sigmoid`` as
#: published (the ends of the range are approached, never reached), ``saturating`` (a clamped affine map of the
#: sigmoid: the exact ends are reachable, e.g. beta = 2, a reflection; statetrack.lrnn.layers.gate_unit)
GATES: tuple[str, ...] = ("sigmoid", "saturating")

#: the families that ``classify`` gives a verdict for: each layer type with each eigenvalue range, then the
#: unconstrained (dense, any real matrix) baseline
FAMILIES: tuple[str, ...] = tuple(f"{t}[{r}]" for t in LRNN_LAYER_TYPES for r in EIGENVALUE_RANGES) + ("unconstrained",)

#: verdicts of ``classify``
VERDICTS: tuple[str, ...] = ("impossible", "impossible-unless-TC0=NC1", "constructible", "open")

#: precision regimes of the impossibility arguments of ``classify``
CLASSIFY_PRECISIONS: tuple[str, ...] = ("finite", "log")
#: precision models of the impossibility checkers (``claims``): exact products rounded after every step, the paper's
#: App. B model (exact products, each term cast, summed exactly, cast once), or plain float arithmetic
CLAIM_PRECISIONS: tuple[str, ...] = ("per-step", "paper", "float")
#: how the step models' runs on 1^t are followed: the compiled layer-by-layer cycle search where it applies, always
#: it, or the reference runner that interns every state
CLAIM_ENGINES: tuple[str, ...] = ("auto", "fast", "reference")

# --------------------------------------------------------------------------------------------------- dtypes
#: floating dtypes by their canonical names, widest first
FLOAT_DTYPES: tuple[str, ...] = ("float64", "float32", "bfloat16", "float16")
#: every accepted dtype name (canonical names and short aliases) -> the canonical name, which is also the name of
#: the torch dtype (``getattr(torch, TORCH_DTYPE_NAMES[name])``)
TORCH_DTYPE_NAMES: dict[str, str] = {
    "float64": "float64", "fp64": "float64", "float32": "float32", "fp32": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
}

# -------------------------------------------------------------------------------------------------- kernels
#: the kernel every entry point uses unless told otherwise (the kernels' own choice: chunked on a CPU, Triton on a GPU)
DEFAULT_KERNEL = "auto"
#: backends of the Householder-product scan (``statetrack.kernels.householder_scan``)
HOUSEHOLDER_KERNELS: tuple[str, ...] = ("auto", "reference", "chunked", "triton")
#: backends of the diagonal scan (``statetrack.kernels.diagonal_scan``)
DIAGONAL_KERNELS: tuple[str, ...] = ("auto", "reference", "chunked")
#: runners of numeric verification: the Householder-scan backends, and ``direct`` (the sequential runner of
#: ``statetrack.lrnn.verify_numeric``, one GH factor at a time)
NUMERIC_KERNELS: tuple[str, ...] = HOUSEHOLDER_KERNELS + ("direct",)
#: what ``verify`` checks by default: ``all`` runs every available kernel on the same words and reports the worst, so
#: "ok in bfloat16" holds whatever the summation order
VERIFY_KERNEL = "all"

# ----------------------------------------------------------------------------------------------- layer kinds
#: layer kinds of a compiled-model file (``layers.l.kind``): GH products, or the dense / diagonal baselines
COMPILED_LAYER_KINDS: tuple[str, ...] = ("householder", "dense", "diagonal")

# ------------------------------------------------------------------------------------------- constructions
#: constructions of ``compile`` (``auto`` picks the cheapest that applies)
CONSTRUCTIONS: tuple[str, ...] = ("auto", "parity", "rotation", "group", "permreset", "counter", "bitcode", "modadd2",
                                  "cascade", "unconstrained")
#: what ``auto`` optimises first: ``balanced`` (fewest factors, exact at equal cost), ``exact`` (integer keys
#: whenever one exists), ``small`` (fewest factors, irrational keys allowed)
COMPILE_PREFERENCES: tuple[str, ...] = ("balanced", "exact", "small")
#: how a cascade level reads the previous coordinates of the levels above it
CASCADE_COUPLINGS: tuple[str, ...] = ("copy", "conv")

__all__ = [
    "LRNN_LAYER_TYPES", "BASELINE_MODELS", "EIGENVALUE_RANGES", "GATES", "FAMILIES", "VERDICTS", "CLASSIFY_PRECISIONS",
    "CLAIM_PRECISIONS", "CLAIM_ENGINES", "FLOAT_DTYPES", "TORCH_DTYPE_NAMES", "DEFAULT_KERNEL", "HOUSEHOLDER_KERNELS", "DIAGONAL_KERNELS",
    "NUMERIC_KERNELS", "VERIFY_KERNEL", "COMPILED_LAYER_KINDS", "CONSTRUCTIONS", "COMPILE_PREFERENCES", "CASCADE_COUPLINGS",
]
