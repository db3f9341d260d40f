"""Variable-length samples: the readers' ``variable_length`` option and the padded batch (docs/variable_length.md §5).

A variable-length reader yields ``(x, y, length)``: x time first ``[T_i, *features]`` (the first ``length`` steps
are the sample, anything after is padding) and an int label. ``pad_collate`` stacks such items into the right-padded
batch ``(x [B, T, *features], y [B], lengths [B])`` that ``model(x, lengths=lengths)`` takes.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import torch


def check_variable_length(task: str, value) -> bool:
    """The readers' ``variable_length`` option: a bool (a YAML string such as "no" would silently mean True)."""
    if not isinstance(value, bool):
        raise ValueError(f"{task}: variable_length must be true or false, got {value!r}")
    return value


def _check_item(index: int, item) -> tuple[torch.Tensor, int, int]:
    if not (isinstance(item, (tuple, list)) and len(item) == 3):
        got = f"{len(item)} elements" if isinstance(item, (tuple, list)) else f"a {type(item).__name__}"
        raise ValueError(f"pad_collate expects items (x, label, length) from a variable-length reader, got {got} "
                         f"at batch index {index}")
    x, label, length = item
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ValueError(f"pad_collate expects x as a time-first tensor [T, *features] at batch index {index}, "
                         f"got {type(x).__name__}{tuple(x.shape) if isinstance(x, torch.Tensor) else ''}")
    length = int(length) if isinstance(length, torch.Tensor) and length.numel() == 1 else length
    if not isinstance(length, numbers.Integral) or isinstance(length, bool) or not 1 <= length <= x.shape[0]:
        raise ValueError(f"pad_collate expects a length in [1, T={x.shape[0]}] at batch index {index}, got "
                         f"{length!r}")
    return x, int(label), int(length)


def pad_collate(batch: Sequence) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Items ``(x_i [T_i, *F], y_i, L_i)`` → ``(x [B, max T_i, *F], y [B] int64, lengths [B] int64)``; step t of
    sample i holds x_i[t] for t < L_i and 0 after (padding at the end)."""
    if len(batch) == 0:
        raise ValueError("pad_collate expects a non-empty batch, got 0 items")
    items = [_check_item(index, item) for index, item in enumerate(batch)]
    features = items[0][0].shape[1:]
    for index, (x, _, _) in enumerate(items):
        if x.shape[1:] != features:
            raise ValueError(f"pad_collate expects every x of shape [T, {', '.join(map(str, features))}], got "
                             f"{tuple(x.shape)} at batch index {index}")
    steps = max(x.shape[0] for x, _, _ in items)
    inputs = items[0][0].new_zeros((len(items), steps) + tuple(features))
    for index, (x, _, length) in enumerate(items):
        inputs[index, :length] = x[:length]
    labels = torch.tensor([label for _, label, _ in items], dtype=torch.long)
    lengths = torch.tensor([length for _, _, length in items], dtype=torch.long)
    return inputs, labels, lengths
