"""The public names: ``statetrack.__all__`` and each subpackage's ``__all__`` are pinned, every name resolves, the
package root imports nothing heavy, and the vocabulary is the one list that the modules (and the kernels) use.

A change to an ``__all__`` below is a change of the public API: update the pin on purpose, not by accident.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys

import pytest

import statetrack
from statetrack import vocabulary

ROOT = ["__version__", "language", "classify", "monoid", "compile", "load", "verify", "CompiledModel", "Classification",
        "MonoidReport", "NumericOptions", "VerifyResult", "DFA", "Equivalence", "StatetrackError", "RegexSyntaxError"]

SUBPACKAGES = {
    "statetrack.automata": [
        "get_language", "list_languages", "transition_monoid", "syntactic_monoid", "classify", "count_table",
        "WordSampler", "sample_accepted", "sample_rejected", "enumerate_words", "generate_suite", "write_suite",
        "SuiteOptions", "DFA", "Equivalence", "AlphabetError", "DFAFormatError", "ModelFormatError",
        "RegexSyntaxError", "StateLimitError", "StatetrackError"],
    "statetrack.constructions": [
        "compile_language", "CONSTRUCTIONS", "GHFactors", "permutation_factors", "orthogonal_factors",
        "contraction_factors", "CompiledModel", "ConstructionNotApplicable", "build_model", "load_model", "save_model",
        "summarize", "ProofResult", "prove"],
    "statetrack.lrnn": [
        "CompiledLRNN", "DeltaNetLayer", "DeltaProductLayer", "DiagonalLayer", "ShortConvolution", "LRNNConfig",
        "LRNNModel", "load_model", "save_model"],
    "statetrack.kernels": [
        "householder_scan", "diagonal_scan", "householder_scan_reference", "householder_scan_chunked",
        "diagonal_scan_reference", "diagonal_scan_chunked", "KernelInputError", "HOUSEHOLDER_BACKENDS",
        "DIAGONAL_BACKENDS"],
    "statetrack.vocabulary": [
        "LRNN_LAYER_TYPES", "BASELINE_MODELS", "EIGENVALUE_RANGES", "GATES", "FAMILIES", "VERDICTS", "CLASSIFY_PRECISIONS",
        "CLAIM_PRECISIONS", "CLAIM_ENGINES", "FLOAT_DTYPES", "TORCH_DTYPE_NAMES", "DEFAULT_KERNEL", "HOUSEHOLDER_KERNELS",
        "DIAGONAL_KERNELS", "NUMERIC_KERNELS", "VERIFY_KERNEL", "COMPILED_LAYER_KINDS", "CONSTRUCTIONS", "COMPILE_PREFERENCES",
        "CASCADE_COUPLINGS"],
    "statetrack.api": [
        "language", "classify", "monoid", "compile", "load", "verify", "parse_alphabet", "catalog_group_action",
        "CompiledModel", "Classification", "MonoidReport"],
    "statetrack.lrnn.verify": ["verify_model", "VerifyResult", "NumericOptions", "LanguageCheck", "ExactCheck"],
}


def test_root_all_is_pinned():
    assert sorted(statetrack.__all__) == sorted(ROOT)
    assert len(set(statetrack.__all__)) == len(statetrack.__all__)


@pytest.mark.parametrize("name", ROOT)
def test_root_names_resolve(name):
    assert getattr(statetrack, name) is not None
    assert name in dir(statetrack)


def test_root_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        statetrack.no_such_name  # noqa: B018


def test_front_door_names_are_the_api_module_s():
    from statetrack import api

    for name in ("language", "classify", "monoid", "compile", "load", "verify", "CompiledModel"):
        assert getattr(statetrack, name) is getattr(api, name)


@pytest.mark.parametrize("module", sorted(SUBPACKAGES))
def test_subpackage_all_is_pinned(module):
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(SUBPACKAGES[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which the module lacks"


def test_import_statetrack_is_cheap():
    code = ("import sys, statetrack; heavy = [m for m in ('torch', 'numpy', 'sympy', 'networkx') if m in sys.modules];"
            " print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ------------------------------------------------------------------------------------------------ vocabulary
def test_vocabulary_imports_nothing():
    tree = ast.parse(inspect.getsource(vocabulary))
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)


def test_kernel_backends_equal_the_vocabulary():
    from statetrack import kernels

    assert tuple(kernels.HOUSEHOLDER_BACKENDS) == vocabulary.HOUSEHOLDER_KERNELS
    assert tuple(kernels.DIAGONAL_BACKENDS) == vocabulary.DIAGONAL_KERNELS
    assert vocabulary.DEFAULT_KERNEL in vocabulary.HOUSEHOLDER_KERNELS
    assert set(vocabulary.DIAGONAL_KERNELS) <= set(vocabulary.HOUSEHOLDER_KERNELS) < set(vocabulary.NUMERIC_KERNELS)


def test_modules_read_their_lists_from_the_vocabulary():
    from statetrack.automata import expressivity
    from statetrack.constructions import auto, model_format
    from statetrack.lrnn import baselines, compiled, layers, model, train, verify_numeric
    from statetrack.lrnn.claims import families

    from statetrack.lrnn.claims import precision

    assert expressivity.FAMILIES is vocabulary.FAMILIES
    assert precision.PRECISION_MODELS is vocabulary.CLAIM_PRECISIONS
    assert auto.CONSTRUCTIONS is vocabulary.CONSTRUCTIONS and auto.PREFER is vocabulary.COMPILE_PREFERENCES
    assert tuple(model_format.KIND_TENSORS) == vocabulary.COMPILED_LAYER_KINDS
    assert families.FAMILIES is vocabulary.LRNN_LAYER_TYPES and families.RANGES is vocabulary.EIGENVALUE_RANGES
    assert layers.EIGENVALUE_RANGES == tuple(vocabulary.EIGENVALUE_RANGES.values())
    assert model.LRNN_LAYER_TYPES is vocabulary.LRNN_LAYER_TYPES
    assert tuple(baselines.BASELINES) == vocabulary.BASELINE_MODELS
    assert train.MODEL_KINDS == vocabulary.LRNN_LAYER_TYPES + vocabulary.BASELINE_MODELS
    assert compiled.KERNELS is vocabulary.HOUSEHOLDER_KERNELS
    assert verify_numeric.KERNELS is vocabulary.NUMERIC_KERNELS
    assert verify_numeric.DTYPE_NAMES is vocabulary.TORCH_DTYPE_NAMES
    assert set(compiled.DTYPES) == set(vocabulary.TORCH_DTYPE_NAMES)
    assert all(str(compiled.DTYPES[n]) == f"torch.{c}" for n, c in vocabulary.TORCH_DTYPE_NAMES.items())
    assert set(vocabulary.TORCH_DTYPE_NAMES.values()) == set(vocabulary.FLOAT_DTYPES)
    assert len(vocabulary.FAMILIES) == len(vocabulary.LRNN_LAYER_TYPES) * len(vocabulary.EIGENVALUE_RANGES) + 1


def test_one_default_kernel():
    from statetrack.lrnn.compiled import CompiledLRNN, StateTracker
    from statetrack.lrnn.evaluate import compiled_predictor
    from statetrack.lrnn.train import TrainConfig
    from statetrack.lrnn.verify_numeric import NumericResult, run_numeric

    def default(fn, name):
        return inspect.signature(fn).parameters[name].default

    for fn in (CompiledLRNN.__init__, StateTracker.__init__, compiled_predictor, run_numeric,
               statetrack.CompiledModel.to_module):
        assert default(fn, "kernel") == vocabulary.DEFAULT_KERNEL, fn
    assert TrainConfig().kernel == vocabulary.DEFAULT_KERNEL
    assert statetrack.NumericOptions().kernel == vocabulary.VERIFY_KERNEL == "all"  # verify checks every kernel
    assert NumericResult(1, 0, None, 1, 0.0).kernel == vocabulary.DEFAULT_KERNEL


def test_cli_choices_come_from_the_vocabulary():
    from statetrack.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices

    def action(command, dest):
        return next(a for a in sub[command]._actions if a.dest == dest)

    assert tuple(action("compile", "construction").choices) == vocabulary.CONSTRUCTIONS
    assert tuple(action("compile", "coupling").choices) == vocabulary.CASCADE_COUPLINGS
    assert tuple(action("compile", "prefer").choices) == vocabulary.COMPILE_PREFERENCES
    assert tuple(action("classify", "precision").choices) == vocabulary.CLASSIFY_PRECISIONS
    assert tuple(action("train", "kernel").choices) == vocabulary.HOUSEHOLDER_KERNELS
    assert tuple(action("train", "model").choices) == vocabulary.LRNN_LAYER_TYPES + vocabulary.BASELINE_MODELS
    for command in ("train", "evaluate"):
        assert action(command, "kernel").default == vocabulary.DEFAULT_KERNEL, command
    assert action("verify", "kernel").default == vocabulary.VERIFY_KERNEL
