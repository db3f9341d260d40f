"""The modified PLIF-Net of the PSN paper for static CIFAR (PSN Table 2, docs/tasks.md §5.3).

The image is repeated T times (direct encoding) → 2 × [3 × (Conv3×3 no bias → BN → neuron), AvgPool2] → flatten →
Linear(w·64 → w·16) → neuron → Linear(w·16 → K); logits = mean over T. "Modified" = average instead of max
pooling and no voting layer (PSN paper, Sec. 4.3). Convs and BN run on ``[T·B, C, H, W]``, neurons on
``[T, B, C, H, W]``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from pmsn.models.layers import (SpikingClassifier, check_images, check_neuron_name, check_positive_int,
                                make_neuron, merge_time, split_time)

IMAGE_SIZE = 32  # CIFAR; two AvgPool2 leave 8 × 8
CONVS_PER_STAGE = 3


class PLIFNet(SpikingClassifier):
    """Modified PLIF-Net: width w = 256, T = 4 and PSN give 70,113,174 parameters (docs/tasks.md §5.5).

    Input: images ``[B, 3, 32, 32]``; not a sequence model, so no ``lengths``.
    """

    accepts_lengths = False

    def __init__(self, neuron: str = "psn", num_classes: int = 10, width: int = 256, T: int = 4,
                 neuron_kwargs: Mapping[str, object] | None = None):
        super().__init__()
        check_neuron_name(neuron)
        check_positive_int(width, "width")
        self.steps = check_positive_int(T, "T")
        channels = [3] + [width] * (2 * CONVS_PER_STAGE)
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
                                   for c_in, c_out in zip(channels[:-1], channels[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(width) for _ in self.convs)
        self.neurons = nn.ModuleList(make_neuron(neuron, width, T, None, neuron_kwargs) for _ in self.convs)
        self.pool = nn.AvgPool2d(2)
        features = width * (IMAGE_SIZE // 4) ** 2
        self.fc1 = nn.Linear(features, features // 4)
        self.fc_neuron = make_neuron(neuron, features // 4, T, None, neuron_kwargs)
        self.fc2 = nn.Linear(features // 4, check_positive_int(num_classes, "num_classes"))

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, 3, type(self).__name__)
        if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"{type(self).__name__} expects {IMAGE_SIZE}×{IMAGE_SIZE} images, got {tuple(x.shape)}")
        return x.unsqueeze(0).expand(self.steps, *x.shape)  # direct encoding: the image at every step

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        steps = x.shape[0]
        for index, (conv, norm, neuron) in enumerate(zip(self.convs, self.norms, self.neurons)):
            x = neuron(split_time(norm(conv(merge_time(x))), steps))
            if index % CONVS_PER_STAGE == CONVS_PER_STAGE - 1:
                x = split_time(self.pool(merge_time(x)), steps)
        return self.fc2(self.fc_neuron(self.fc1(x.flatten(2))))

