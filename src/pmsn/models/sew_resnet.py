"""SEW-ResNet-18/34 with connect function ADD for ImageNet (docs/tasks.md §2.6).

The image is repeated T times plus a learnable per-step offset (T parameters) → conv7×7/2 → BN → neuron →
AvgPool3×3/2 → 4 stages of SEW BasicBlocks → global average pool → per-step Linear → ``[T, B, K]``; logits =
mean over T (train with TET on ``per_step=True``). Convs and BN run on ``[T·B, C, H, W]``, neurons on
``[T, B, C, H, W]``. Module names follow torchvision's ResNet: ``pretrained=PATH`` copies an ImageNet ANN ResNet's
weights in (``pmsn.models.resnet_weights``, docs/tasks.md §2.6.1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from pmsn.models.layers import (NeuronDefaults, SpikingClassifier, check_images, check_neuron_name,
                                check_positive_int, make_neuron, merge_time, split_time)
from pmsn.models.resnet_weights import load_resnet_weights
from pmsn.neurons.pmsn import PRESETS as PMSN_PRESETS

IMAGENET_DEFAULTS: NeuronDefaults = {"pmsn": PMSN_PRESETS["imagenet"]}
STAGE_PLANES = (64, 128, 256, 512)
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class NeuronFactory:
    """Builds the neuron layers of one network with the same name, T, defaults and overrides."""

    def __init__(self, neuron: str, steps: int, defaults: NeuronDefaults, overrides: Mapping[str, object] | None):
        self.neuron, self.steps, self.defaults, self.overrides = neuron, steps, defaults, overrides

    def __call__(self, channels: int) -> nn.Module:
        return make_neuron(self.neuron, channels, self.steps, self.defaults, self.overrides)


def _conv_bn_spike(conv: nn.Module, norm: nn.Module, neuron: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return neuron(split_time(norm(conv(merge_time(x))), x.shape[0]))


class SEWBasicBlock(nn.Module):
    """conv3×3-BN-SN, conv3×3-BN-SN, output = SN-out + identity (ADD); identity = SN(BN(conv1×1/s)) on downsampling."""

    def __init__(self, in_planes: int, planes: int, stride: int, neurons: NeuronFactory):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.sn1 = neurons(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.sn2 = neurons(planes)
        self.downsample = self.downsample_sn = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))
            self.downsample_sn = neurons(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [T, B, C, H, W]
        out = _conv_bn_spike(self.conv1, self.bn1, self.sn1, x)
        out = _conv_bn_spike(self.conv2, self.bn2, self.sn2, out)
        if self.downsample is None:
            return out + x
        return out + _conv_bn_spike(self.downsample[0], self.downsample[1], self.downsample_sn, x)


class SEWResNet(SpikingClassifier):
    """SEW-ResNet with BasicBlocks; ``width_divisor`` divides every channel count (smoke tests).

    Parameters with PMSN: 11,814,316 (18 layers) / 22,018,988 (34 layers) at 1000 classes.
    Input: images ``[B, 3, H, W]``; not a sequence model, so no ``lengths`` (docs/variable_length.md §4).
    """

    def __init__(self, depths: Sequence[int], neuron: str = "pmsn", num_classes: int = 1000, T: int = 4,
                 width_divisor: int = 1, neuron_kwargs: Mapping[str, object] | None = None):
        super().__init__()
        check_neuron_name(neuron)
        self.steps = check_positive_int(T, "T")
        check_positive_int(width_divisor, "width_divisor")
        if STAGE_PLANES[0] % width_divisor:
            raise ValueError(f"width_divisor must divide 64, got {width_divisor}")
        neurons = NeuronFactory(neuron, T, IMAGENET_DEFAULTS, neuron_kwargs)
        planes = [p // width_divisor for p in STAGE_PLANES]
        self.pe = nn.Parameter(torch.zeros(T, 1, 1, 1, 1))  # learnable per-step offset of the repeated image
        nn.init.trunc_normal_(self.pe, std=0.02)
        self.conv1 = nn.Conv2d(3, planes[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.sn1 = neurons(planes[0])
        self.avgpool_stem = nn.AvgPool2d(3, stride=2, padding=1)  # the code uses average, not max, pooling
        in_planes, stages = planes[0], []
        for index, (stage_planes, depth) in enumerate(zip(planes, depths)):
            stride = 1 if index == 0 else 2
            blocks = [SEWBasicBlock(in_planes, stage_planes, stride, neurons)]
            blocks += [SEWBasicBlock(stage_planes, stage_planes, 1, neurons) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            in_planes = stage_planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(in_planes, check_positive_int(num_classes, "num_classes"))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, 3, type(self).__name__)
        return x.unsqueeze(0).expand(self.steps, *x.shape) + self.pe  # direct encoding, repeated T times

    def per_step_logits(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[0]
        x = _conv_bn_spike(self.conv1, self.bn1, self.sn1, x)
        x = split_time(self.avgpool_stem(merge_time(x)), steps)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return self.fc(x.mean(dim=(-2, -1)))  # global average pool, then the per-step classifier


def _with_weights(model: SEWResNet, pretrained: str | None) -> SEWResNet:
    if pretrained is not None:
        load_resnet_weights(model, pretrained)
    return model


def sew_resnet18(neuron: str = "pmsn", num_classes: int = 1000, T: int = 4, width_divisor: int = 1,
                 neuron_kwargs: Mapping[str, object] | None = None, pretrained: str | None = None) -> SEWResNet:
    """SEW-ResNet-18; ``pretrained``: a torchvision ResNet-18 state-dict file to start from (docs/tasks.md §2.6.1)."""
    return _with_weights(SEWResNet(DEPTHS[18], neuron, num_classes, T, width_divisor, neuron_kwargs), pretrained)


def sew_resnet34(neuron: str = "pmsn", num_classes: int = 1000, T: int = 4, width_divisor: int = 1,
                 neuron_kwargs: Mapping[str, object] | None = None, pretrained: str | None = None) -> SEWResNet:
    """SEW-ResNet-34; ``pretrained``: a torchvision ResNet-34 state-dict file to start from (docs/tasks.md §2.6.1)."""
    return _with_weights(SEWResNet(DEPTHS[34], neuron, num_classes, T, width_divisor, neuron_kwargs), pretrained)
