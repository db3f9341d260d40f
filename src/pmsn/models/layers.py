"""Building blocks shared by the networks: the classifier contract, time-tied dropout, neuron construction.

Layout: a DataLoader yields batch-first tensors; every network turns them into time-first ``[T, B, C, *spatial]``
(the neuron layout, docs/neurons.md §1.1), runs layers there and returns per-step logits ``[T, B, K]``; the
logits of a sample are their mean (or sum, TC-LIF) over time. A right-padded batch comes with ``lengths`` [B]:
the readout then takes each sequence's own valid steps (docs/variable_length.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from pmsn.neurons import NEURONS, build_neuron
from pmsn.neurons.lengths import check_lengths, step_mask

NeuronDefaults = Mapping[str, Mapping[str, object]]


class SpikingClassifier(nn.Module):
    """Base of every network: ``model(x)`` → logits ``[B, K]``; ``model(x, per_step=True)`` → ``[T, B, K]``.

    ``model(x, lengths=lengths)`` takes a right-padded batch, ``lengths`` an int tensor [B] (docs/variable_length.md
    §4): the logits are the mean (or sum) over each sequence's valid steps, the per-step logits are 0 at padded steps.

    Subclasses implement ``time_first(x)`` (check the batch-first input, return the time-first tensor) and
    ``per_step_logits(x, lengths=None)``; ``time_reduction`` says how the per-step logits combine ("mean" or "sum");
    a sequence network that handles padded batches sets ``accepts_lengths`` (the others refuse ``lengths``).
    """

    time_reduction = "mean"
    accepts_lengths = False

    def forward(self, x: torch.Tensor, per_step: bool = False, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            x = x.float()  # e.g. uint8 images or integer spike counts straight from a loader
        if lengths is not None:
            return self._padded_logits(self.time_first(x), per_step, lengths)
        outputs = self.per_step_logits(self.time_first(x))
        if per_step:
            return outputs
        return outputs.sum(0) if self.time_reduction == "sum" else outputs.mean(0)

    def _padded_logits(self, x: torch.Tensor, per_step: bool, lengths: torch.Tensor) -> torch.Tensor:
        """The readout over valid steps only (docs/variable_length.md §4); padded per-step logits are 0."""
        name = type(self).__name__
        if not self.accepts_lengths:
            raise ValueError(f"{name} is not a variable-length sequence network, so it takes no lengths "
                             f"(docs/variable_length.md §4); pass lengths=None")
        check_lengths(lengths, x.shape[1], x.shape[0], name)
        outputs = self.per_step_logits(x, lengths)
        outputs = outputs.masked_fill(~step_mask(lengths, x.shape[0], x.device).unsqueeze(-1), 0.0)
        if per_step:
            return outputs
        total = outputs.sum(0)
        return total if self.time_reduction == "sum" else total / lengths.to(total).unsqueeze(-1)

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


def sequence_to_time_first(x: torch.Tensor, features: int, name: str) -> torch.Tensor:
    """``[B, T, F]`` (or ``[B, T]`` when F = 1) → ``[T, B, F]``; errors name the expected shape."""
    if x.dim() == 2 and features == 1:
        x = x.unsqueeze(-1)
    if x.dim() != 3 or x.shape[-1] != features:
        raise ValueError(f"{name} expects a batch-first sequence [B, T, {features}]"
                         f"{' or [B, T]' if features == 1 else ''}, got shape {tuple(x.shape)}")
    return x.transpose(0, 1)


def check_images(x: torch.Tensor, channels: int, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects batch-first images [B, {channels}, H, W], got shape {tuple(x.shape)}")


def merge_time(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, ...]`` → ``[T·B, ...]`` for layers without a time axis (conv, BN: statistics pooled over T and B)."""
    return x.flatten(0, 1)


def split_time(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``[T·B, ...]`` → ``[T, B, ...]``."""
    return x.unflatten(0, (steps, -1))


def valid_rows(lengths: torch.Tensor | None, steps: int, device: torch.device) -> torch.Tensor | None:
    """The valid rows of ``merge_time``'s ``[T·B, ...]`` (row t·B + b is valid if t < L_b); None without lengths."""
    return None if lengths is None else step_mask(lengths, steps, device).flatten()


def norm_rows(norm: nn.Module, x: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """``norm`` on ``[T·B, ...]``; with ``rows`` only the valid rows are normalised, so batch statistics and
    running averages never see padding, and padded rows are 0 (docs/variable_length.md §4)."""
    if rows is None:
        return norm(x)
    return x.new_zeros(x.shape).index_put((rows,), norm(x[rows]))


def run_neuron(neuron: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """A neuron layer on ``[T, B, ...]``; a non-causal neuron is told the lengths, so padding never reaches valid
    steps; a causal one needs nothing (docs/variable_length.md §2-3)."""
    if lengths is None or neuron.causal:
        return neuron(x)
    return neuron(x, lengths=lengths)


class TiedDropout(nn.Module):
    """Channel dropout tied over time: one Bernoulli mask per (sample, channel), the same at every step.

    Input ``[T, B, C, *spatial]``; kept entries are scaled by 1/(1 − p). Identity in eval mode or for p = 0.
    (PMSN code: ``Dropout1d`` / ``DropoutNd(tie=True)`` on ``[B, C, L]``, docs/tasks.md §2.2-2.5.)
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask_shape = (1, x.shape[1], x.shape[2]) + (1,) * (x.dim() - 3)
        keep = torch.rand(mask_shape, device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# What the network itself passes to every neuron it builds; neuron_kwargs setting one of them is refused.
NETWORK_NEURON_KEYS = {"channels": "the layer's width", "T": "the network's number of time steps"}


def make_neuron(neuron: str, channels: int, steps: int | None, defaults: NeuronDefaults | None,
                overrides: Mapping[str, object] | None) -> nn.Module:
    """One neuron layer: the network's per-neuron defaults (presets) updated by the caller's ``neuron_kwargs``.

    ``channels`` and ``T`` come from the network, never from ``neuron_kwargs`` (one ValueError line naming the key;
    a GLIF with one conductance for all steps is ``time_wise: false``, docs/neurons.md §8.2)."""
    kwargs = {**(defaults or {}).get(neuron, {}), **(overrides or {})}
    for key, what in NETWORK_NEURON_KEYS.items():
        if key in kwargs:
            hint = "; for a GLIF with one conductance for all steps use time_wise: false" if (
                neuron == "glif" and key == "T") else ""
            raise ValueError(f"neuron_kwargs must not set {key!r}: the network passes {what} "
                             f"({key}={channels if key == 'channels' else steps}) to the {neuron} neuron itself, "
                             f"got {key}={kwargs[key]!r}{hint}")
    return build_neuron(neuron, channels, T=steps, **kwargs)


def check_neuron_name(neuron: object) -> str:
    if not isinstance(neuron, str) or neuron not in NEURONS:
        raise ValueError(f"unknown neuron {neuron!r}; expected one of {sorted(NEURONS)}")
    return neuron


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
