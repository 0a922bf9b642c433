"""Run as a script (in a subprocess, with ``TRITON_INTERPRET=1``): build tiny flash-linear-attention models with
fla's own classes, save them with ``save_pretrained`` and write fla's own logits beside them.

``python tests/fla_reference_models.py OUT_DIR`` writes ``OUT_DIR/<case>/{config.json, model.safetensors,
fla_logits.safetensors}``. fla's layers run through its Triton kernels under the Triton interpreter; its autotuner
would benchmark configurations, which the interpreter cannot do without a GPU, so each kernel keeps its first one.
Up to 64 tokens fla's layers use the recurrent kernel (its chunked kernel refuses float32).
"""
from __future__ import annotations

import os
import sys

import torch
from triton.runtime import autotuner

_init = autotuner.Autotuner.__init__


def _first_config_only(self, fn, arg_names, configs, *args, **kwargs):
    _init(self, fn, arg_names, configs[:1], *args, **kwargs)


autotuner.Autotuner.__init__ = _first_config_only

from fla.models import (DeltaNetConfig, DeltaNetForCausalLM, GatedDeltaProductConfig,  # noqa: E402
                        GatedDeltaProductForCausalLM)
from safetensors.torch import save_file  # noqa: E402

VOCAB, T = 5, 40
CASES = {
    "deltanet_neg": (DeltaNetForCausalLM, dict(hidden_size=32, num_hidden_layers=2, num_heads=2, vocab_size=VOCAB,
                                                allow_neg_eigval=True)),
    "deltanet_gate_noconv": (DeltaNetForCausalLM, dict(hidden_size=32, num_hidden_layers=1, num_heads=2,
                                                        vocab_size=VOCAB, use_gate=True, use_short_conv=False,
                                                        expand_v=2.0)),
    "deltaproduct_nh2": (GatedDeltaProductForCausalLM, dict(hidden_size=32, num_hidden_layers=1, num_heads=2,
                                                             head_dim=8, vocab_size=VOCAB, num_householder=2,
                                                             allow_neg_eigval=True, use_forget_gate=False)),
    "deltaproduct_nh3_01": (GatedDeltaProductForCausalLM, dict(hidden_size=32, num_hidden_layers=1, num_heads=2,
                                                                head_dim=16, expand_v=1.0, vocab_size=VOCAB,
                                                                num_householder=3, allow_neg_eigval=False,
                                                                use_forget_gate=False, use_output_gate=False)),
}


def main(out: str) -> None:
    torch.manual_seed(0)
    ids = torch.randint(0, VOCAB, (2, T), generator=torch.Generator().manual_seed(1))
    for name, (cls, kwargs) in CASES.items():
        config = (DeltaNetConfig if cls is DeltaNetForCausalLM else GatedDeltaProductConfig)(**kwargs)
        model = cls(config).eval()
        with torch.no_grad():
            for p in model.parameters():  # fla starts some weights at exactly 0 or 1: perturb so every path counts
                p.add_(0.05 * torch.randn_like(p))
            model.save_pretrained(os.path.join(out, name))
            logits = model(ids).logits.float().contiguous()
        save_file({"ids": ids, "logits": logits}, os.path.join(out, name, "fla_logits.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
