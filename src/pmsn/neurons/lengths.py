"""Variable-length batches: the ``lengths`` argument and the mask of valid steps (docs/variable_length.md §1).

A padded batch ``[T, B, ...]`` holds sequence b in its steps 0 … L_b − 1 and padding after them (right padding);
``lengths`` = (L_0, …, L_{B−1}) is an integer tensor ``[B]`` with 1 ≤ L_b ≤ T.
"""

from __future__ import annotations

from typing import Any

import torch


def check_lengths(lengths: Any, batch: int, steps: int, name: str) -> torch.Tensor:
    """``lengths`` as a valid integer tensor ``[batch]`` with values in [1, steps]; one error line otherwise."""
    if not isinstance(lengths, torch.Tensor) or lengths.dtype == torch.bool or lengths.is_floating_point() \
            or lengths.is_complex():
        got = f"a tensor of dtype {lengths.dtype}" if isinstance(lengths, torch.Tensor) else type(lengths).__name__
        raise TypeError(f"{name} expects lengths as an integer torch.Tensor of shape [B={batch}], got {got}")
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"{name} expects lengths of shape [B={batch}] (one per sequence), got shape "
                         f"{tuple(lengths.shape)}")
    if batch:
        low, high = int(lengths.min()), int(lengths.max())
        if low < 1 or high > steps:
            raise ValueError(f"{name} expects lengths in [1, T={steps}], got values from {low} to {high}")
    return lengths


def step_mask(lengths: torch.Tensor, steps: int, device: torch.device) -> torch.Tensor:
    """``[T, B]`` bool, True at the valid steps t < L_b."""
    return torch.arange(steps, device=device).unsqueeze(1) < lengths.to(device).unsqueeze(0)


def zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``x`` ``[T, B, ...]`` with its padded steps set to 0 (a fill, not a product: any padding value is removed)."""
    valid = step_mask(lengths, x.shape[0], x.device)
    return x.masked_fill(~valid.reshape(valid.shape + (1,) * (x.dim() - 2)), 0.0)
