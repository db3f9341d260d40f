"""Model registry: names → builders, default task and neuron, and the parameter counts to check against.

Counts: ``ours`` is the exact count of the built model (docs/tasks.md §2.8); ``paper``
is the rounded number the paper reports (None where it reports none). ``matches_paper`` is False where the two
count different things (noted in ``note``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from pmsn.models.lstm import NO_NEURON, lstm
from pmsn.models.plif_net import PLIFNet
from pmsn.models.pmsn_nets import PMSNPixelCIFARNet, PMSNSequenceNet, PMSNSpeechNet
from pmsn.models.scifar_column import ColumnCIFARNet
from pmsn.models.sew_resnet import sew_resnet18, sew_resnet34
from pmsn.models.tclif_nets import tclif_feedforward, tclif_recurrent
from pmsn.models.vgg import DVSVGG, VGG11


@dataclass(frozen=True)
class ReferenceCount:
    neuron: str
    options: Mapping[str, Any]
    ours: int
    paper: int | None
    label: str  # what the row is, for tables
    matches_paper: bool = True
    note: str = ""
    task: str = ""  # when it differs from the model's default task


@dataclass(frozen=True)
class ModelSpec:
    builder: Callable[..., nn.Module]
    task: str
    neuron: str  # default neuron
    description: str
    references: tuple[ReferenceCount, ...] = field(default_factory=tuple)

    @property
    def paper_params(self) -> int | None:
        """The paper's count for the default configuration (the first reference row is ``build_model(name)``)."""
        return self.references[0].paper if self.references else None


def _ref(neuron, ours, paper, label, matches_paper=True, note="", task="", **options) -> ReferenceCount:
    task = task or options.get("preset", "")  # a TC-LIF net preset names its task
    return ReferenceCount(neuron, options, ours, paper, label, matches_paper, note, task)


_BAND_NOTE = "paper counts only the k-band of the T×T mask; we store the full T²+T matrix"

MODELS: dict[str, ModelSpec] = {
    "pmsn_smnist": ModelSpec(
        PMSNSequenceNet, "smnist", "pmsn",
        "PMSN S-/PS-MNIST: Linear(1→d), 4 pre-BN residual spike blocks, mean over T → Linear(d→10) "
        "(docs/tasks.md §2.2)",
        (_ref("pmsn", 65_418, 66_300, "d=128", width=128),
         _ref("pmsn", 156_218, 156_400, "d=208", width=208))),
    "pmsn_scifar_pixel": ModelSpec(
        PMSNPixelCIFARNet, "scifar10_pixel", "pmsn",
        "PMSN sCIFAR-10 pixel (T=1024): 2 residual spike stages (128, 256) joined by AvgPool4 + Linear "
        "(docs/tasks.md §2.3)",
        (_ref("pmsn", 206_474, 210_000, "d=128", note="2 unused 1×1 convs of the code not built"),
         _ref("lif", 176_522, 180_000, "d=128"),
         _ref("sliding_psn", 176_720, 180_000, "d=128, k=32"),
         _ref("psn", 6_474_122, 6_470_000, "d=128, T=1024"),
         _ref("masked_psn", 6_474_122, 380_000, "d=128, T=1024, k=32", False, _BAND_NOTE))),
    "scifar_column": ModelSpec(
        ColumnCIFARNet, "scifar10_column", "pmsn",
        "sCIFAR column (T=32): 6 × [Conv1d k3-BN-neuron], AvgPool2 ×2, Linear-neuron-Linear, mean over T "
        "(docs/tasks.md §2.4)",
        (_ref("pmsn", 539_776, 540_000, "CIFAR-10"),
         _ref("pmsn", 562_816, None, "CIFAR-100", task="scifar100_column", num_classes=100),
         _ref("lif", 513_418, 510_000, "CIFAR-10"),
         _ref("lif", 536_548, None, "CIFAR-100", task="scifar100_column", num_classes=100),
         _ref("psn", 520_810, 520_000, "CIFAR-10, T=32"),
         _ref("masked_psn", 520_810, 520_000, "CIFAR-10, T=32, k=32"),
         _ref("sliding_psn", 513_649, 510_000, "CIFAR-10, k=32"))),
    "pmsn_shd": ModelSpec(
        PMSNSpeechNet, "shd", "pmsn",
        "PMSN SHD/SSC: tied dropout, sum-pool 5 channels, 2 × (Linear-neuron-dropout), per-step Linear "
        "(docs/tasks.md §2.5)",
        (_ref("pmsn", 120_340, 120_300, "SHD d=256", width=256),
         _ref("pmsn", 199_252, 199_300, "SHD d=352", width=352),
         _ref("sliding_psn", 107_094, 107_100, "SHD d=256, k=32", width=256),
         _ref("psn", 232_528, 232_500, "SHD d=256, T=250", width=256),
         _ref("masked_psn", 232_528, 122_500, "SHD d=256, T=250, k=32", False, _BAND_NOTE, width=256))),
    "tclif_ff": ModelSpec(
        tclif_feedforward, "smnist", "tclif",
        "TC-LIF feed-forward: Linear-(Dropout)-neuron layers, per-step Linear summed over T (docs/tasks.md §2.7)",
        (_ref("tclif", 85_136, 85_100, "S-MNIST large 1-64-256-256-10", preset="smnist_large"),
         _ref("tclif", 44_768, 44_800, "S-MNIST small 1-40-256-128-10", preset="smnist_small"),
         _ref("tclif", 106_216, 106_200, "GSC 40-300-300-12", preset="gsc"),
         _ref("tclif", 108_824, 108_800, "SHD 700-128-128-20", preset="shd"),
         _ref("tclif", 110_759, 110_800, "SSC 700-128-128-35", preset="ssc"),
         _ref("tclif", 454_839, None, "SSC code 700-400-400-35", preset="ssc_code"))),
    "tclif_rec": ModelSpec(
        tclif_recurrent, "smnist", "tclif",
        "TC-LIF recurrent: as tclif_ff, some layers add W_rec·S[t−1] and are stepped over time "
        "(docs/tasks.md §2.7)",
        (_ref("tclif", 155_088, 155_100, "S-MNIST large 1-64r-256r-256-10", preset="smnist_large"),
         _ref("tclif", 63_640, 63_600, "S-MNIST small 1-40r-200r-64-10", preset="smnist_small"),
         _ref("tclif", 196_516, 196_500, "GSC 40-300r-300-12", preset="gsc"),
         _ref("tclif", 141_848, 141_800, "SHD 700-128r-128r-20", preset="shd"),
         _ref("tclif", 110_757, 110_800, "SSC 700-128r-35", preset="ssc"),
         _ref("tclif", 775_639, None, "SSC code 700-400r-400r-35", preset="ssc_code"))),
    "sew_resnet18": ModelSpec(
        sew_resnet18, "imagenet", "pmsn",
        "SEW-ResNet-18 (ADD), image repeated T=4 + learnable offset, AvgPool stem, per-step fc (docs/tasks.md §2.6)",
        (_ref("pmsn", 11_814_316, None, "ImageNet, T=4"),
         _ref("psn", 11_689_916, None, "ImageNet, T=4"))),
    "sew_resnet34": ModelSpec(
        sew_resnet34, "imagenet", "pmsn",
        "SEW-ResNet-34 (ADD), image repeated T=4 + learnable offset, AvgPool stem, per-step fc (docs/tasks.md §2.6)",
        (_ref("pmsn", 22_018_988, None, "ImageNet, T=4"),
         _ref("psn", 21_798_396, None, "ImageNet, T=4"))),
    "plif_net": ModelSpec(
        PLIFNet, "cifar10", "psn",
        "Modified PLIF-Net (PSN Table 2): image repeated T, 2 × [3 × (Conv3×3-BN-neuron), AvgPool2], "
        "Linear-neuron-Linear, mean over T (docs/tasks.md §5.3)",
        (_ref("psn", 70_113_174, None, "CIFAR-10, width 256, T=4"),
         _ref("plif", 70_113_041, None, "CIFAR-10, width 256"))),
    "vgg11": ModelSpec(
        VGG11, "imagenet", "psn",
        "Spiking VGG-11 (config A, BN): image repeated T, 8 × Conv3×3-BN-neuron with max pooling, "
        "3 Linear layers with 2 neuron layers (docs/tasks.md §5.4)",
        (_ref("psn", 132_869_040, None, "ImageNet, BN, T=4", note="PSN paper: the PSN adds 200 parameters"),
         _ref("psn", 132_863_536, None, "ImageNet, no BN, T=4", batch_norm=False))),
    "dvs_vgg": ModelSpec(
        DVSVGG, "cifar10dvs", "sliding_psn",
        "CIFAR10-DVS VGG of TET/TEBN with plain BN (PSN Table 2): 8 × Conv3×3-BN-neuron with average pooling, "
        "Dropout, per-step Linear (docs/tasks.md §5.4)",
        (_ref("sliding_psn", 9_271_522, None, "CIFAR10-DVS 48×48, k=2"),)),
    "lstm": ModelSpec(
        lstm, "smnist", NO_NEURON,
        "Non-spiking LSTM baseline (TC-LIF Table 1): nn.LSTM (h units) on the sequence, Linear readout of the last "
        "valid step; takes no neuron (docs/tasks.md §2.9)",
        (_ref(NO_NEURON, 68_362, 66_500, "S-/PS-MNIST h=128", False,
              "paper: 4·(128·129 + 128) = 66,560, the 128-unit cell with one bias per gate and no readout; "
              "nn.LSTM keeps two biases (+512), the readout adds 1,290"),
         _ref(NO_NEURON, 66_286, 66_500, "S-/PS-MNIST h=126 (nearest count)", hidden=126))),
}


def model_options(name: str) -> frozenset[str]:
    """The keyword options network ``name`` takes: its builder's parameters except ``neuron``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return frozenset(inspect.signature(MODELS[name].builder).parameters) - {"neuron"}


def build_model(name: str, neuron: str | None = None, num_classes: int | None = None, **options) -> nn.Module:
    """Build network ``name`` with spiking neuron ``neuron`` (default: the model's own, see ``MODELS``).

    ``options`` are the builder's keyword arguments (``width``, ``depth``, ``dropout``, ``T``, ``neuron_kwargs``,
    ``preset``, ``hidden``, ``width_divisor``, ... depending on the model); an unknown one raises TypeError.
    """
    accepted = model_options(name)
    spec = MODELS[name]
    if num_classes is not None:
        options["num_classes"] = num_classes
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"model {name!r} does not take option(s) {unknown}; it takes {sorted(accepted)}")
    return spec.builder(neuron=spec.neuron if neuron is None else neuron, **options)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter entries (shared tensors counted once, as ``model.parameters()`` yields them)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
