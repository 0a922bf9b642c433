"""``statetrack.verify`` (:func:`statetrack.lrnn.verify.verify_model`) is the one producer of the verify result:
the command's ``--json`` equals the library's ``to_json()`` field by field, passing and failing checks alike."""
import json

import pytest

import statetrack
from statetrack.automata.catalog import get_language
from statetrack.cli import main
from statetrack.constructions import compile_language, save_model
from statetrack.errors import StatetrackError
from statetrack.lrnn.verify import NumericOptions, VerifyResult, verify_model

FIELDS = ["model", "construction", "language", "exact", "numeric", "ok"]

# (compiled language, source language, dtype, max_len, samples, kernel, expected ok)
CASES = [
    ("mod:3", "mod:3", "float32", 200, 4, "direct", True),
    ("tomita:3", "tomita:3", "float64", 60, 3, "auto", True),
    ("parity", "parity", "float32", 50, 5, "reference", True),
    ("mod:3", "mod:4", "float32", 40, 2, "direct", False),  # another language: a counterexample
]


def _cli_json(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify_models")
    paths = {}
    for lang in {c[0] for c in CASES}:
        path = root / f"{lang.replace(':', '_')}.st"
        statetrack.compile(statetrack.language(lang=lang)).save(path)
        paths[lang] = str(path)
    return paths


@pytest.mark.parametrize("compiled,source,dtype,max_len,samples,kernel,expected", CASES)
def test_cli_json_equals_the_library_field_by_field(models, capsys, compiled, source, dtype, max_len, samples, kernel,
                                                    expected):
    path = models[compiled]
    code, cli = _cli_json(capsys, ["verify", path, "--lang", source, "--exact", "--dtype", dtype, "--max-len",
                                   str(max_len), "--samples", str(samples), "--kernel", kernel, "--seed", "3",
                                   "--json"])
    lib = statetrack.verify(path, dfa=statetrack.language(lang=source), exact=True,
                            numeric=NumericOptions(dtype=dtype, max_len=max_len, samples=samples, kernel=kernel,
                                                   seed=3))
    assert isinstance(lib, VerifyResult)
    assert list(cli) == FIELDS
    lib_json = json.loads(json.dumps(lib.to_json()))
    for name in FIELDS:
        assert cli[name] == lib_json[name], name
    assert lib.ok is expected and code == (0 if expected else 1)
    assert lib.exact.proved and lib.numeric.tested == samples and lib.numeric.max_len == max_len
    assert lib.language.equivalent is expected
    if not expected:
        word = lib.language.counterexample
        assert word is not None
        dfa_model, dfa_source = get_language(compiled), get_language(source)
        assert dfa_model.accepts(word) != dfa_source.accepts(word)


def test_failures_agree_without_a_source(tmp_path, capsys):
    """A float run that goes wrong (bfloat16 rotation) and a tampered model's exact counterexample."""
    path = str(tmp_path / "rot.st")
    assert main(["compile", "--lang", "mod:3", "--prefer", "small", "-o", path]) == 0
    capsys.readouterr()
    code, cli = _cli_json(capsys, ["verify", path, "--max-len", "3000", "--samples", "3", "--dtype", "bfloat16",
                                   "--kernel", "direct", "--json"])
    lib = statetrack.verify(path, numeric=NumericOptions(dtype="bfloat16", max_len=3000, samples=3, kernel="direct"))
    assert code == 1 and cli == json.loads(json.dumps(lib.to_json()))
    assert lib.numeric.errors > 0 and not lib.ok and lib.language is None and lib.exact is None

    weights, _ = compile_language(get_language("parity"))
    weights.tensors["layers.0.keys"] = weights.tensors["layers.0.keys"] * 0.5
    bad = tmp_path / "bad.st"
    save_model(weights, bad)
    code, cli = _cli_json(capsys, ["verify", str(bad), "--exact", "--samples", "0", "--json"])
    lib = verify_model(bad, exact=True)
    assert code == 1 and cli == lib.to_json()
    assert lib.model == str(bad) and lib.numeric is None and not lib.exact.proved and lib.exact.counterexample


def test_in_memory_models():
    parity = statetrack.language(lang="parity")
    model = statetrack.compile(parity)
    via_method = model.verify(dfa=parity, exact=True, numeric=NumericOptions(max_len=20, samples=2))
    via_weights = verify_model(model.weights, dfa=parity, exact=True, numeric=NumericOptions(max_len=20, samples=2))
    assert via_method == via_weights and via_method.model is None and via_method.ok
    assert via_method.construction == "parity"


def test_errors_name_the_parameter(tmp_path):
    model = statetrack.compile(statetrack.language(lang="parity"))
    with pytest.raises(StatetrackError, match="nothing to check"):
        statetrack.verify(model)
    with pytest.raises(StatetrackError, match=r"numeric\.samples"):
        statetrack.verify(model, numeric=NumericOptions(samples=-1))
    with pytest.raises(StatetrackError, match="numeric must be"):
        statetrack.verify(model, numeric={"samples": 2})
    with pytest.raises(StatetrackError, match="dfa must be"):
        statetrack.verify(model, dfa="parity")
    with pytest.raises(StatetrackError, match="model must be"):
        statetrack.verify(3, exact=True)
    with pytest.raises(StatetrackError):
        statetrack.verify(tmp_path / "missing.st", exact=True)
