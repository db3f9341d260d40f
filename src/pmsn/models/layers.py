"""Building blocks shared by the networks: the classifier contract, time-tied dropout, neuron construction.

Layout: a DataLoader yields batch-first tensors; every network turns them into time-first ``[T, B, C, *spatial]``
(the neuron layout, docs/neurons.md §1.1), runs layers there and returns per-step logits ``[T, B, K]``; the
logits of a sample are their mean (or sum, TC-LIF) over time.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from pmsn.neurons import NEURONS, build_neuron

NeuronDefaults = Mapping[str, Mapping[str, object]]


class SpikingClassifier(nn.Module):
    """Base of every network: ``model(x)`` → logits ``[B, K]``; ``model(x, per_step=True)`` → ``[T, B, K]``.

    Subclasses implement ``time_first(x)`` (check the batch-first input, return the time-first tensor) and
    ``per_step_logits(x)``; ``time_reduction`` says how the per-step logits combine ("mean" or "sum").
    """

    time_reduction = "mean"

    def forward(self, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            x = x.float()  # e.g. uint8 images or integer spike counts straight from a loader
        outputs = self.per_step_logits(self.time_first(x))
        if per_step:
            return outputs
        return outputs.sum(0) if self.time_reduction == "sum" else outputs.mean(0)

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def per_step_logits(self, x: torch.Tensor) -> torch.Tensor:
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


def make_neuron(neuron: str, channels: int, steps: int | None, defaults: NeuronDefaults | None,
                overrides: Mapping[str, object] | None) -> nn.Module:
    """One neuron layer: the network's per-neuron defaults (presets) updated by the caller's ``neuron_kwargs``."""
    kwargs = {**(defaults or {}).get(neuron, {}), **(overrides or {})}
    return build_neuron(neuron, channels, T=steps, **kwargs)


def check_neuron_name(neuron: object) -> str:
    if not isinstance(neuron, str) or neuron not in NEURONS:
        raise ValueError(f"unknown neuron {neuron!r}; expected one of {sorted(NEURONS)}")
    return neuron


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
