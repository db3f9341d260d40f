"""Column-by-column sequential CIFAR net (T = 32), PSN code topology reused by PMSN (docs/tasks.md §2.4).

Step t = image column t: ``[B, 3, rows]``. 6 × [Conv1d k3 (no bias) over rows → BN1d → neuron] with channels
3→w→w→w, AvgPool1d(2), w→w→w→w, AvgPool1d(2); flatten → Linear(w·rows/4 → 2w) → neuron → Linear(2w → K);
logits = mean over T. The Linear layers have a bias, except with PMSN (its code drops them).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from pmsn.models.layers import (NeuronDefaults, SpikingClassifier, check_neuron_name, check_positive_int,
                                make_neuron, merge_time, norm_rows, run_neuron, split_time, valid_rows)
from pmsn.neurons.pmsn import PRESETS as PMSN_PRESETS

COLUMN_DEFAULTS: NeuronDefaults = {"pmsn": PMSN_PRESETS["scifar_column"]}
POOL_AFTER = (2, 5)  # AvgPool1d(2) follows the 3rd and the 6th neuron


class ColumnCIFARNet(SpikingClassifier):
    """sCIFAR column net: w = 128 → 539,776 (C10) / 562,816 (C100) parameters with PMSN, 513,418 with LIF.

    Input: column sequences ``[B, T, 3, rows]`` as ``pmsn.data`` yields them (T = number of columns, 32);
    an image ``[B, 3, rows, cols]`` is ``image.permute(0, 3, 1, 2)``.
    """

    accepts_lengths = True  # padded batches with lengths (docs/variable_length.md §4)

    def __init__(self, neuron: str = "pmsn", num_classes: int = 10, width: int = 128, T: int | None = 32,
                 rows: int = 32, linear_bias: bool | None = None,
                 neuron_kwargs: Mapping[str, object] | None = None):
        super().__init__()
        check_neuron_name(neuron)
        check_positive_int(width, "width")
        self.rows = check_positive_int(rows, "rows")
        if rows % 4:
            raise ValueError(f"rows must be a multiple of 4 (two AvgPool1d(2)), got {rows}")
        bias = neuron != "pmsn" if linear_bias is None else bool(linear_bias)
        channels = [3] + [width] * 6
        self.convs = nn.ModuleList(nn.Conv1d(c_in, c_out, kernel_size=3, padding=1, bias=False)
                                   for c_in, c_out in zip(channels[:-1], channels[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(width) for _ in range(6))
        self.neurons = nn.ModuleList(make_neuron(neuron, width, T, COLUMN_DEFAULTS, neuron_kwargs)
                                     for _ in range(6))
        self.pool = nn.AvgPool1d(2)
        self.fc1 = nn.Linear(width * rows // 4, 2 * width, bias=bias)
        self.fc_neuron = make_neuron(neuron, 2 * width, T, COLUMN_DEFAULTS, neuron_kwargs)
        self.fc2 = nn.Linear(2 * width, check_positive_int(num_classes, "num_classes"), bias=bias)

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[2] != 3 or x.shape[3] != self.rows:
            raise ValueError(f"{type(self).__name__} expects column sequences [B, T, 3, {self.rows}] "
                             f"(step = one image column of 3 channels × {self.rows} rows), got {tuple(x.shape)}")
        return x.transpose(0, 1)  # [B, T = cols, 3, rows] → [T, B, 3, rows]

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        steps = x.shape[0]
        valid = valid_rows(lengths, steps, x.device)  # BN over valid steps only (docs/variable_length.md §4)
        for index, (conv, norm, neuron) in enumerate(zip(self.convs, self.norms, self.neurons)):
            # BN over T·B; neuron on [T, B, C, rows]
            x = run_neuron(neuron, split_time(norm_rows(norm, conv(merge_time(x)), valid), steps), lengths)
            if index in POOL_AFTER:
                x = split_time(self.pool(merge_time(x)), steps)
        x = run_neuron(self.fc_neuron, self.fc1(x.flatten(2)), lengths)
        return self.fc2(x)
