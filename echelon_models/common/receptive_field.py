"""How far a stack of 1-D convolutions sees: the context a chunked run needs at its edges."""

from __future__ import annotations

from torch import nn


def conv_context(layers: nn.Module) -> int:
    """One-sided context, in input samples, of the Conv1d/ConvTranspose1d layers of `layers`
    taken in registration order (the forward order of a sequential stack). An upper bound:
    residual branches are counted as if they were in series."""
    context = 0.0
    scale = 1.0  # input samples per sample at the current layer
    for layer in layers.modules():
        if isinstance(layer, nn.Conv1d):
            context += (layer.kernel_size[0] - 1) * layer.dilation[0] * scale / 2
            scale *= layer.stride[0]
        elif isinstance(layer, nn.ConvTranspose1d):
            scale /= layer.stride[0]
            context += (layer.kernel_size[0] - 1) * layer.dilation[0] * scale / 2
    return int(context + 1)
