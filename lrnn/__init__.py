"""statetrack.lrnn: LRNN layers and models on the statetrack kernels, and compiled models as modules.

- :mod:`.layers`: :class:`DeltaNetLayer`, :class:`DeltaProductLayer` (generalized Householder products with
  eigenvalue range (0, 1) or (-1, 1)), :class:`DiagonalLayer` (selective diagonal, sign-aware), :class:`ShortConvolution`.
- :mod:`.model`: :class:`LRNNConfig`, :class:`LRNNModel` (embedding, pre-norm residual blocks, per-token head),
  safetensors persistence.
- :mod:`.compiled`: :class:`CompiledLRNN`, a compiled model file run through the kernels in a chosen backend and dtype.
"""
if __name__ == "lrnn":  # imported by its bare name from the repository root: see statetrack/_shadow.py
    from statetrack._shadow import defer_to_installed

    defer_to_installed(__name__, __path__[0])
else:
    from .compiled import CompiledLRNN
    from .layers import DeltaNetLayer, DeltaProductLayer, DiagonalLayer, ShortConvolution
    from .model import LRNNConfig, LRNNModel, load_model, save_model

    __all__ = ["CompiledLRNN", "DeltaNetLayer", "DeltaProductLayer", "DiagonalLayer", "ShortConvolution",
               "LRNNConfig", "LRNNModel", "load_model", "save_model"]
