"""The network a NIR graph imports into: a chain of torch layers and pmsn neurons on ``[T, B, ...]`` (docs/nir.md §4).

Neurons (``pmsn.neurons.Neuron``) and spiking layers (``SpikingLinear``, ``RecurrentSpikingLinear``) run on the whole
time-first sequence; every other layer holds no state across time steps and runs on the ``[T·B, ...]`` view, i.e.
once per step with zero delay (the NIR graph semantics of docs/nir.md §2.1).
"""

from __future__ import annotations

import torch
from torch import nn

from pmsn.models.layers import merge_time, split_time
from pmsn.models.tclif_nets import SpikingLinear
from pmsn.neurons.base import Neuron, check_sequence

SEQUENCE_LAYERS = (Neuron, SpikingLinear)  # layers with state over time: called on [T, B, ...]


class SpikingSequential(nn.Sequential):
    """``nn.Sequential`` over time-first input: ``net(x)`` with ``x`` of shape ``[T, B, *per_step_shape]``.

    ``time_reduction`` (``"mean"``, ``"sum"`` or ``None``) records how the exported classifier combined its
    per-step outputs; the forward pass always returns the per-step outputs ``[T, B, ...]``.
    """

    def __init__(self, *layers: nn.Module, time_reduction: str | None = None):
        super().__init__(*layers)
        if time_reduction not in (None, "mean", "sum"):
            raise ValueError(f"time_reduction must be None, 'mean' or 'sum', got {time_reduction!r}")
        self.time_reduction = time_reduction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_sequence(x, None, type(self).__name__)
        steps = x.shape[0]
        for layer in self:
            x = layer(x) if isinstance(layer, SEQUENCE_LAYERS) else split_time(layer(merge_time(x)), steps)
        return x


class Scale(nn.Module):
    """Element-wise gain ``y = s ⊙ x`` (NIR ``Scale``; also the input gain of an imported neuron, docs/nir.md §3.3).

    ``scale`` has the per-step shape of the signal and broadcasts over the leading batch dimension.
    """

    def __init__(self, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"
