"""The TC-LIF paper's fully connected nets, feed-forward and recurrent (docs/tasks.md §2.7, docs/neurons.md §3.3).

Per hidden layer: Linear → (Dropout) → neuron; a recurrent layer adds a full Linear of its own previous spikes,
I[t] = W_in x[t] + b_in + W_rec S[t−1] + b_rec (S[−1] = 0). The output layer is a plain per-step Linear and the
logits are the **sum** over time. Feed-forward layers run the neuron's parallel path on the whole sequence;
recurrent layers loop over time with ``neuron.step``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pmsn.models.layers import (SpikingClassifier, check_neuron_name, check_positive_int, make_neuron, run_neuron,
                                sequence_to_time_first)
from pmsn.neurons.tclif import PRESETS as TCLIF_NEURON_PRESETS


@dataclass(frozen=True)
class TCLIFArchitecture:
    hidden: tuple[int, ...]
    recurrent: tuple[bool, ...]  # per hidden layer
    neuron_preset: str  # key of pmsn.neurons.tclif.PRESETS (β init, γ, V_th of docs/neurons.md §3.4)


@dataclass(frozen=True)
class TCLIFTask:
    input_size: int
    num_classes: int
    steps: int
    dropout: float
    feedforward: TCLIFArchitecture
    recurrent: TCLIFArchitecture


def _mnist(ff_hidden, rec_hidden, neuron_prefix) -> TCLIFTask:
    return TCLIFTask(1, 10, 784, 0.0,
                     TCLIFArchitecture(ff_hidden, (False,) * 3, f"{neuron_prefix}_ff"),
                     TCLIFArchitecture(rec_hidden, (True, True, False), f"{neuron_prefix}_rec"))


def _speech(input_size, num_classes, width, rec_layers, neuron_preset) -> TCLIFTask:
    return TCLIFTask(input_size, num_classes, 250, 0.0,
                     TCLIFArchitecture((width, width), (False, False), neuron_preset),
                     TCLIFArchitecture((width,) * rec_layers, (True,) * rec_layers, neuron_preset))


# docs/tasks.md §2.7 table; SSC: paper net 700-128-128-35 / 700-128(rec)-35, "ssc_code" = code default 400
PRESETS: dict[str, TCLIFTask] = {
    "smnist_small": _mnist((40, 256, 128), (40, 200, 64), "smnist"),
    "smnist_large": _mnist((64, 256, 256), (64, 256, 256), "smnist"),
    "psmnist_small": _mnist((40, 256, 128), (40, 200, 64), "psmnist"),
    "psmnist_large": _mnist((64, 256, 256), (64, 256, 256), "psmnist"),
    "gsc": TCLIFTask(40, 12, 101, 0.3,
                     TCLIFArchitecture((300, 300), (False, False), "gsc_ff"),
                     TCLIFArchitecture((300, 300), (True, False), "gsc_rec")),
    "shd": _speech(700, 20, 128, 2, "shd"),
    "ssc": _speech(700, 35, 128, 1, "ssc"),
    "ssc_code": _speech(700, 35, 400, 2, "ssc"),
}


class SpikingLinear(nn.Module):
    """Linear → Dropout → neuron on a whole ``[T, B, F]`` sequence (the neuron's parallel path)."""

    def __init__(self, in_features: int, out_features: int, neuron: nn.Module, dropout: float):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.dropout = nn.Dropout(dropout)
        self.neuron = neuron

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return run_neuron(self.neuron, self.dropout(self.linear(x)), lengths)


class RecurrentSpikingLinear(SpikingLinear):
    """Linear → Dropout, plus W_rec S[t−1] + b_rec, → neuron, stepped over time (docs/neurons.md §3.3)."""

    def __init__(self, in_features: int, out_features: int, neuron: nn.Module, dropout: float):
        super().__init__(in_features, out_features, neuron, dropout)
        self.recurrent = nn.Linear(out_features, out_features)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # stepped from t = 0: causal, so padding after a sequence never reaches it (docs/variable_length.md §2)
        drive = self.dropout(self.linear(x))  # the feed-forward part for all steps at once
        spikes_t = drive.new_zeros(drive.shape[1:])
        state, spikes = None, []
        for drive_t in drive.unbind(0):  # unbind, not drive[t]: indexing makes backward quadratic in T
            spikes_t, state = self.neuron.step(drive_t + self.recurrent(spikes_t), state)
            spikes.append(spikes_t)
        return torch.stack(spikes)


class TCLIFNet(SpikingClassifier):
    """A TC-LIF paper net: hidden spiking layers (some recurrent) and a per-step Linear readout summed over T."""

    accepts_lengths = True  # padded batches with lengths (docs/variable_length.md §4)

    time_reduction = "sum"

    def __init__(self, neuron: str, input_size: int, num_classes: int, hidden: Sequence[int],
                 recurrent: Sequence[bool], dropout: float, steps: int | None, neuron_preset: str,
                 neuron_kwargs: Mapping[str, object] | None = None):
        super().__init__()
        check_neuron_name(neuron)
        if len(hidden) != len(recurrent) or not hidden:
            raise ValueError(f"hidden {tuple(hidden)} and recurrent {tuple(recurrent)} need the same, non-zero length")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if neuron in ("psn", "masked_psn") and any(recurrent):
            raise ValueError(f"recurrent layers step through time, and {neuron} cannot be stepped (PSN is "
                             "non-causal; masked PSN only once its trained λ reaches 1); use sliding_psn")
        self.input_size = check_positive_int(input_size, "input_size")
        defaults = {"tclif": TCLIF_NEURON_PRESETS[neuron_preset]}
        layers, width = [], input_size
        for size, is_recurrent in zip(hidden, recurrent):
            check_positive_int(size, "hidden size")
            layer_type = RecurrentSpikingLinear if is_recurrent else SpikingLinear
            layers.append(layer_type(width, size, make_neuron(neuron, size, steps, defaults, neuron_kwargs), dropout))
            width = size
        self.layers = nn.ModuleList(layers)
        self.readout = nn.Linear(width, check_positive_int(num_classes, "num_classes"))

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        return sequence_to_time_first(x, self.input_size, type(self).__name__)

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, lengths)
        return self.readout(x)


def _build_tclif(recurrent: bool, neuron: str, num_classes: int | None, preset: str, hidden: Sequence[int] | None,
                 dropout: float | None, T: int | None, input_size: int | None,
                 neuron_kwargs: Mapping[str, object] | None) -> TCLIFNet:
    if preset not in PRESETS:
        raise ValueError(f"unknown TC-LIF net preset {preset!r}; expected one of {sorted(PRESETS)}")
    task = PRESETS[preset]
    architecture = task.recurrent if recurrent else task.feedforward
    if hidden is not None and len(hidden) != len(architecture.hidden):
        raise ValueError(f"preset {preset!r} has {len(architecture.hidden)} hidden layers; hidden= must give as "
                         f"many sizes, got {tuple(hidden)}")
    return TCLIFNet(neuron, task.input_size if input_size is None else input_size,
                    task.num_classes if num_classes is None else num_classes,
                    tuple(hidden) if hidden is not None else architecture.hidden, architecture.recurrent,
                    task.dropout if dropout is None else dropout, task.steps if T is None else T,
                    architecture.neuron_preset, neuron_kwargs)


def tclif_feedforward(neuron: str = "tclif", num_classes: int | None = None, preset: str = "smnist_large",
                      hidden: Sequence[int] | None = None, dropout: float | None = None, T: int | None = None,
                      input_size: int | None = None, neuron_kwargs: Mapping[str, object] | None = None) -> TCLIFNet:
    """Feed-forward TC-LIF net of ``preset`` (hidden sizes overridable by position, e.g. for smoke tests)."""
    return _build_tclif(False, neuron, num_classes, preset, hidden, dropout, T, input_size, neuron_kwargs)


def tclif_recurrent(neuron: str = "tclif", num_classes: int | None = None, preset: str = "smnist_large",
                    hidden: Sequence[int] | None = None, dropout: float | None = None, T: int | None = None,
                    input_size: int | None = None, neuron_kwargs: Mapping[str, object] | None = None) -> TCLIFNet:
    """Recurrent TC-LIF net of ``preset``; its recurrent layers need a neuron with ``step`` (not PSN)."""
    return _build_tclif(True, neuron, num_classes, preset, hidden, dropout, T, input_size, neuron_kwargs)
