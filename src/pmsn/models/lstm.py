"""The non-spiking LSTM baseline of TC-LIF Table 1 (S-/PS-MNIST Rec "LSTM", 66.5k; docs/tasks.md §2.9).

The row is Arjovsky, Shah & Bengio's (2016) LSTM: one layer of 128 units on the pixel sequence, a Linear readout
of the last hidden state. Input ``[B, T, F]`` → ``nn.LSTM`` (time first) → ``Linear(h → classes)`` of the last
step's hidden state. With ``lengths`` (docs/variable_length.md §4) each sequence's own last valid step is read;
the LSTM is causal, so the padding after it changes nothing. It has no spiking neuron: ``neuron`` is accepted so
that every config and command builds it, and ignored.
"""

from __future__ import annotations

import torch
from torch import nn

from pmsn.models.layers import SpikingClassifier, check_neuron_name, check_positive_int, sequence_to_time_first
from pmsn.neurons.lengths import check_lengths

NO_NEURON = "none"  # the registry's neuron for networks without one


class LSTMClassifier(SpikingClassifier):
    """``layers`` stacked ``nn.LSTM`` layers of ``hidden`` units; logits = ``Linear`` of the last hidden state.

    ``model(x, per_step=True)`` gives the readout of every step's hidden state ``[T, B, K]`` (0 at padded steps).
    """

    accepts_lengths = True  # padded batches with lengths (docs/variable_length.md §4)
    time_reduction = "last"

    def __init__(self, input_size: int = 1, hidden: int = 128, layers: int = 1, num_classes: int = 10):
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.lstm = nn.LSTM(input_size, check_positive_int(hidden, "hidden"), check_positive_int(layers, "layers"))
        self.readout = nn.Linear(hidden, check_positive_int(num_classes, "num_classes"))

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        return sequence_to_time_first(x, self.input_size, type(self).__name__)

    def forward(self, x: torch.Tensor, per_step: bool = False, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        x = self.time_first(x if x.is_floating_point() else x.float())
        steps, batch = x.shape[:2]
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps, type(self).__name__).to(x.device)
        hidden = self.lstm(x)[0]  # [T, B, h]
        if per_step:
            logits = self.readout(hidden)
            if lengths is None:
                return logits
            padded = torch.arange(steps, device=x.device).unsqueeze(1) >= lengths.unsqueeze(0)
            return logits.masked_fill(padded.unsqueeze(-1), 0.0)
        last = hidden[-1] if lengths is None else hidden[lengths - 1, torch.arange(batch, device=x.device)]
        return self.readout(last)


def lstm(neuron: str | None = None, num_classes: int = 10, input_size: int = 1, hidden: int = 128,
         layers: int = 1) -> LSTMClassifier:
    """The LSTM baseline; ``neuron`` (None, ``"none"`` or any neuron name, for configs) is ignored: no spikes."""
    if neuron not in (None, NO_NEURON):
        check_neuron_name(neuron)  # a typo still fails as for every other network
    return LSTMClassifier(input_size, hidden, layers, num_classes)
