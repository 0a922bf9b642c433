"""Automaton extraction: from trained parity models, and from an exact oracle model with a distracting subspace."""
from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from statetrack.automata.catalog import get_language
from statetrack.cli import main
from statetrack.lrnn.extract import extract, kmeans
from statetrack.lrnn.tasks import Task, task_from_dfa
from statetrack.lrnn.train import load_run

torch.set_num_threads(1)

PARITY_LENGTHS = (3, 12)  # as the shared `parity_run` fixture of conftest.py




def test_extracted_automaton_is_parity_only_for_the_negative_range(parity_run):
    model, task, _ = load_run(parity_run((-1, 1)))
    res = extract(model, task, test_lengths=(20, 60), test_words=64)
    assert res.equivalent and res.counterexample is None
    assert res.states == 2 and res.k == 2
    model, task, _ = load_run(parity_run((0, 1)))
    res = extract(model, task, test_lengths=(20, 60), test_words=64)
    assert not res.equivalent and res.counterexample is not None
    assert task.dfa.accepts(res.counterexample) != res.dfa.accepts(res.counterexample)


def test_cli_extract_json_and_dot(parity_run, tmp_path, capsys):
    run = parity_run((-1, 1))
    dot = tmp_path / "parity.dot"
    code = main(["extract", str(run), "--test-lengths", "20:40", "--test-words", "32", "--dot", str(dot), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["equivalent"] is True and out["counterexample"] is None
    assert out["states"] == 2 and 0.0 <= out["agreement"] <= 1.0
    assert dot.read_text().startswith("digraph")
    code = main(["extract", str(run), "--lang", "mod:3", "--test-lengths", "20:40", "--test-words", "16", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["equivalent"] is False and out["counterexample"]


class OracleModel(nn.Module):
    """Exactly tracks a DFA. Features: one-hot state (small), then readout-irrelevant directions that dominate the
    variance: one-hot last symbol (large) and noise (as a trained model's unused state directions)."""

    def __init__(self, task: Task, distractor: float = 100.0):
        super().__init__()
        self.task, self.distractor = task, distractor
        n, k = task.dfa.n_states, task.n_symbols
        self.noise_dims = 8
        self.head = nn.Linear(n + k + self.noise_dims, 2)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
            self.head.weight[1, :n] = torch.from_numpy(np.where(task.dfa.accepting, 10.0, -10.0))

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        words = np.where(ids.numpy() < self.task.n_symbols, ids.numpy(), -1)
        states = torch.from_numpy(np.maximum(self.task.states(words), 0))
        sym = torch.clamp(ids, max=self.task.n_symbols - 1)
        gen = torch.Generator().manual_seed(int(ids.sum()) + ids.numel())
        noise = 5.0 * torch.randn(*ids.shape, self.noise_dims, generator=gen)
        return torch.cat([nn.functional.one_hot(states, self.task.dfa.n_states).float(),
                          self.distractor * nn.functional.one_hot(sym, self.task.n_symbols).float(), noise], -1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids))


def test_readout_subspace_recovers_mod3_where_raw_states_cluster_by_last_symbol():
    task = task_from_dfa(get_language("mod:3"), train_lengths=(1, 10))
    oracle = OracleModel(task)
    res = extract(oracle, task, test_lengths=(30, 50), test_words=32)
    assert res.equivalent and res.states == task.dfa.n_states and res.agreement == 1.0 and res.accuracy == 1.0
    # the readout alone (lookahead 0) cannot tell the two rejecting states apart
    res0 = extract(oracle, task, lookahead=0, test_lengths=(30, 50), test_words=32)
    assert not res0.equivalent
    naive = extract(oracle, task, subspace="pca", test_lengths=(30, 50), test_words=32)
    assert not naive.equivalent


def test_kmeans_separates_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 9.0]])
    x = np.concatenate([c + 0.1 * rng.standard_normal((40, 2)) for c in centres])
    labels = kmeans(x, 3, np.random.default_rng(1))
    for i in range(3):
        assert len(set(labels[40 * i:40 * (i + 1)])) == 1
    assert len(set(labels)) == 3
