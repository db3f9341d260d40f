"""Spiking VGG networks (docs/tasks.md §5.4): VGG-11 (configuration A of Simonyan & Zisserman 2015, the network of
the PSN paper's memory test and its "+200 parameters" remark, Sec. 3.4) and the CIFAR10-DVS VGG of TET / TEBN that
the PSN paper trains with the sliding PSN, k = 2 (PSN Table 2).

Each conv is Conv3×3 (bias) → BN → neuron; convs and BN run on ``[T·B, C, H, W]``, neurons on ``[T, B, C, H, W]``;
logits = mean over T of the per-step classifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from pmsn.models.layers import (NeuronDefaults, SpikingClassifier, check_images, check_neuron_name,
                                check_positive_int, make_neuron, merge_time, split_time)

POOL = "pool"
VGG11_LAYERS = (64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL)  # configuration A
DVS_LAYERS = (64, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL)  # TET / TEBN "VGGSNN"
DVS_DEFAULTS: NeuronDefaults = {"sliding_psn": {"order": 2}}  # PSN Table 2: sliding PSN k = 2, exp init


class SpikingVGG(SpikingClassifier):
    """The convolutional trunk; subclasses add the input encoding and the classifier head."""

    accepts_lengths = False

    def __init__(self, layers: Sequence[int | str], in_channels: int, neuron: str, T: int | None, pool: nn.Module,
                 batch_norm: bool, width_divisor: int, defaults: NeuronDefaults | None,
                 neuron_kwargs: Mapping[str, object] | None):
        super().__init__()
        check_neuron_name(neuron)
        check_positive_int(width_divisor, "width_divisor")
        if layers[0] % width_divisor:
            raise ValueError(f"width_divisor must divide {layers[0]}, got {width_divisor}")
        self.convs, self.norms, self.neurons = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.pool_after: list[int] = []  # conv indices followed by the pool
        channels = in_channels
        for item in layers:
            if item == POOL:
                self.pool_after.append(len(self.convs) - 1)
                continue
            width = item // width_divisor
            self.convs.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
            self.norms.append(nn.BatchNorm2d(width) if batch_norm else nn.Identity())
            self.neurons.append(make_neuron(neuron, width, T, defaults, neuron_kwargs))
            channels = width
        self.out_channels = channels
        self.pool = pool
        for conv in self.convs:
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[0]
        for index, (conv, norm, neuron) in enumerate(zip(self.convs, self.norms, self.neurons)):
            x = neuron(split_time(norm(conv(merge_time(x))), steps))
            if index in self.pool_after:
                x = split_time(self.pool(merge_time(x)), steps)
        return x


class VGG11(SpikingVGG):
    """Spiking VGG-11 for 224 × 224 images repeated T times: 8 convs (max pooling), AdaptiveAvgPool 7 × 7,
    Linear(25088 → 4096) → neuron → Dropout → Linear(4096 → 4096) → neuron → Dropout → Linear(4096 → K).
    132,868,840 parameters with BN and 1000 classes, plus 10 neuron layers (PSN, T = 4: + 200)."""

    def __init__(self, neuron: str = "psn", num_classes: int = 1000, T: int = 4, batch_norm: bool = True,
                 dropout: float = 0.5, width_divisor: int = 1, neuron_kwargs: Mapping[str, object] | None = None):
        self.steps = check_positive_int(T, "T")
        super().__init__(VGG11_LAYERS, 3, neuron, T, nn.MaxPool2d(2), bool(batch_norm), width_divisor, None,
                         neuron_kwargs)
        hidden = 4096 // width_divisor
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.fc1 = nn.Linear(self.out_channels * 49, hidden)
        self.fc1_neuron = make_neuron(neuron, hidden, T, None, neuron_kwargs)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc2_neuron = make_neuron(neuron, hidden, T, None, neuron_kwargs)
        self.dropout = nn.Dropout(dropout)
        self.fc3 = nn.Linear(hidden, check_positive_int(num_classes, "num_classes"))
        for linear in (self.fc1, self.fc2, self.fc3):  # torchvision's VGG initialisation
            nn.init.normal_(linear.weight, 0.0, 0.01)
            nn.init.zeros_(linear.bias)

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, 3, type(self).__name__)
        return x.unsqueeze(0).expand(self.steps, *x.shape)  # direct encoding: the image at every step

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        steps = x.shape[0]
        x = split_time(self.avgpool(merge_time(self.features(x))), steps).flatten(2)
        x = self.dropout(self.fc1_neuron(self.fc1(x)))
        x = self.dropout(self.fc2_neuron(self.fc2(x)))
        return self.fc3(x)


class DVSVGG(SpikingVGG):
    """CIFAR10-DVS VGG (TET / TEBN code, plain BN as in the PSN paper): 8 convs 64-128-P-256-256-P-512-512-P-512-512-P
    (average pooling) → flatten → Dropout(0.25) → Linear(512·(size/16)² → K) per step. 9,271,522 parameters
    with the sliding PSN, k = 2, at 48 × 48 (docs/tasks.md §5.5).

    Input: frame sequences ``[B, T, 2, size, size]`` as ``pmsn.data`` task ``cifar10dvs`` yields them.
    """

    def __init__(self, neuron: str = "sliding_psn", num_classes: int = 10, T: int = 10, image_size: int = 48,
                 dropout: float = 0.25, width_divisor: int = 1, neuron_kwargs: Mapping[str, object] | None = None):
        check_positive_int(T, "T")
        self.image_size = check_positive_int(image_size, "image_size")
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 (four AvgPool2), got {image_size}")
        super().__init__(DVS_LAYERS, 2, neuron, T, nn.AvgPool2d(2), True, width_divisor, DVS_DEFAULTS,
                         neuron_kwargs)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.out_channels * (image_size // 16) ** 2, check_positive_int(num_classes, "num_classes"))

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[2] != 2 or x.shape[3:] != (self.image_size, self.image_size):
            raise ValueError(f"{type(self).__name__} expects event frames [B, T, 2, {self.image_size}, "
                             f"{self.image_size}], got shape {tuple(x.shape)}")
        return x.transpose(0, 1)

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x).flatten(2)))
