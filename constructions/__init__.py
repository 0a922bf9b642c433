"""statetrack.constructions: automata compiled into LRNN weights built from generalized Householder products.

* :mod:`.householder` -- GH factorisations (Proposition 1).
* :mod:`.parity`, :mod:`.rotation`, :mod:`.group` (Theorem 3), :mod:`.modadd` (Theorem 6), :mod:`.unconstrained`
  -- the constructions; :func:`compile_language` (:mod:`.auto`) picks the cheapest.
* :mod:`.model_format` -- the compiled-model file (safetensors + JSON metadata).
* :mod:`.verify_exact` -- proofs for every length; :mod:`.verify_numeric` -- float runs in each dtype.

Example:
    >>> from statetrack.automata.dfa import DFA
    >>> d = DFA(["0", "1"], ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    >>> model, report = compile_language(d)
    >>> report["construction"], prove(model).proved
    ('parity', True)
"""
if __name__ == "constructions":  # imported by its bare name from the repository root: see statetrack/_shadow.py
    from statetrack._shadow import defer_to_installed

    defer_to_installed(__name__, __path__[0])
else:
    from .auto import CONSTRUCTIONS, compile_language
    from .householder import GHFactors, contraction_factors, orthogonal_factors, permutation_factors
    from .model_format import (CompiledModel, ConstructionNotApplicable, build_model, load_model, save_model,
                               summarize)
    from .verify_exact import ProofResult, prove

    __all__ = [
        "compile_language", "CONSTRUCTIONS", "GHFactors", "permutation_factors", "orthogonal_factors",
        "contraction_factors", "CompiledModel", "ConstructionNotApplicable", "build_model", "load_model", "save_model",
        "summarize", "ProofResult", "prove",
    ]
