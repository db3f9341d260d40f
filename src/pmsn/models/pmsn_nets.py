"""The PMSN paper's sequence networks (docs/tasks.md §2.2, §2.3, §2.5), for any neuron.

* ``PMSNSequenceNet`` — S-MNIST / PS-MNIST: Linear encoder → residual spike stage → per-step Linear → mean over T.
* ``PMSNPixelCIFARNet`` — sCIFAR-10 pixel by pixel (T = 1024): two residual spike stages joined by a channel
  average pool and a Linear.
* ``PMSNSpeechNet`` — SHD / SSC: tied input dropout → sum-pool of adjacent input channels → 2 × (Linear → neuron →
  tied dropout) → per-step Linear → mean over T.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from pmsn.models.layers import (NeuronDefaults, SpikingClassifier, TiedDropout, check_images, check_neuron_name,
                                check_positive_int, make_neuron, merge_time, norm_rows, run_neuron,
                                sequence_to_time_first, split_time, valid_rows)
from pmsn.neurons.pmsn import PRESETS as PMSN_PRESETS

SEQUENTIAL_DEFAULTS: NeuronDefaults = {"pmsn": PMSN_PRESETS["sequential"]}
SPEECH_DEFAULTS: NeuronDefaults = {"pmsn": PMSN_PRESETS["shd"]}


class ResidualSpikeStage(nn.Module):
    """``depth`` pre-norm blocks with a running spike sum (docs/tasks.md §2.2, PMSN code):

        z   = BN(x);   acc = tied_dropout_{p/5}(neuron(z) + acc)    (acc starts at 0)
        x   = tied_dropout_p(Conv1×1(acc))                          (every block but the last)
        out = tied_dropout_p(acc)                                   (after the last block)

    The 1×1 Conv1d over channels is a per-step Linear (same parameters). The output is the accumulated
    (non-binary) spike sum. Input and output ``[T, B, width]``. With ``lengths`` the BN statistics cover the valid
    steps only (docs/variable_length.md §4).
    """

    def __init__(self, width: int, depth: int, neuron: str, steps: int | None, dropout: float,
                 neuron_defaults: NeuronDefaults | None, neuron_kwargs: Mapping[str, object] | None):
        super().__init__()
        self.norms = nn.ModuleList(nn.BatchNorm1d(width) for _ in range(depth))
        self.neurons = nn.ModuleList(make_neuron(neuron, width, steps, neuron_defaults, neuron_kwargs)
                                     for _ in range(depth))
        self.convs = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.sum_dropout = TiedDropout(dropout / 5.0)  # inside the official PMSN neuron (docs/choices.md §1.12)
        self.dropout = TiedDropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        steps = x.shape[0]
        valid = valid_rows(lengths, steps, x.device)
        spike_sum = torch.zeros_like(x)
        for index, (norm, neuron) in enumerate(zip(self.norms, self.neurons)):
            z = split_time(norm_rows(norm, merge_time(x), valid), steps)  # BN statistics pooled over T and B
            spike_sum = self.sum_dropout(run_neuron(neuron, z, lengths) + spike_sum)
            if index < len(self.convs):
                x = self.dropout(self.convs[index](spike_sum))
        return self.dropout(spike_sum)


def _check_dropout(dropout: float) -> float:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return float(dropout)


def _average_channels(x: torch.Tensor, group: int) -> torch.Tensor:
    """AvgPool1d(group) over the channel (last) axis: ``[..., C]`` → ``[..., C / group]``."""
    return x.unflatten(-1, (-1, group)).mean(-1)


class PMSNSequenceNet(SpikingClassifier):
    """S-MNIST / PS-MNIST net (docs/tasks.md §2.2): d = 128 → 65,418 parameters with PMSN, d = 208 → 156,218."""

    accepts_lengths = True  # padded batches with lengths (docs/variable_length.md §4)

    def __init__(self, neuron: str = "pmsn", num_classes: int = 10, width: int = 128, depth: int = 4,
                 dropout: float = 0.1, T: int | None = 784, input_size: int = 1,
                 neuron_kwargs: Mapping[str, object] | None = None):
        super().__init__()
        check_neuron_name(neuron)
        self.input_size = check_positive_int(input_size, "input_size")
        self.encoder = nn.Linear(input_size, check_positive_int(width, "width"))
        self.stage = ResidualSpikeStage(width, check_positive_int(depth, "depth"), neuron, T,
                                        _check_dropout(dropout), SEQUENTIAL_DEFAULTS, neuron_kwargs)
        self.decoder = nn.Linear(width, check_positive_int(num_classes, "num_classes"))

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        return sequence_to_time_first(x, self.input_size, type(self).__name__)

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.stage(self.encoder(x), lengths))


class PMSNPixelCIFARNet(SpikingClassifier):
    """sCIFAR-10 pixel by pixel (docs/tasks.md §2.3): stage(d) → AvgPool4 over channels → Linear(d/4 → 2d) →
    stage(2d) → AvgPool4 → per-step Linear(2d/4 → K). d = 128: 206,474 parameters with PMSN (the official code
    also builds the last 1×1 conv of each stage, whose output it discards; those two convs are not built here).

    Input: pixel sequences ``[B, T, 3]`` or images ``[B, 3, H, W]`` (raster scan, T = H·W).
    """

    accepts_lengths = True  # padded batches with lengths (docs/variable_length.md §4)

    pool = 4

    def __init__(self, neuron: str = "pmsn", num_classes: int = 10, width: int = 128, depth: int = 3,
                 dropout: float = 0.1, T: int | None = 1024, input_size: int = 3,
                 neuron_kwargs: Mapping[str, object] | None = None):
        super().__init__()
        check_neuron_name(neuron)
        if check_positive_int(width, "width") % self.pool:
            raise ValueError(f"width must be a multiple of {self.pool} (channel average pool), got {width}")
        self.input_size = check_positive_int(input_size, "input_size")
        check_positive_int(depth, "depth")
        dropout = _check_dropout(dropout)
        wide = 2 * width
        self.encoder = nn.Linear(input_size, width)
        self.stage1 = ResidualSpikeStage(width, depth, neuron, T, dropout, SEQUENTIAL_DEFAULTS, neuron_kwargs)
        self.bridge = nn.Linear(width // self.pool, wide)
        self.stage2 = ResidualSpikeStage(wide, depth, neuron, T, dropout, SEQUENTIAL_DEFAULTS, neuron_kwargs)
        self.decoder = nn.Linear(wide // self.pool, check_positive_int(num_classes, "num_classes"))

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # images: raster scan, one pixel (its colour values) per step
            check_images(x, self.input_size, type(self).__name__)
            x = x.flatten(2).transpose(1, 2)
        return sequence_to_time_first(x, self.input_size, type(self).__name__)

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.stage1(self.encoder(x), lengths)
        x = self.stage2(self.bridge(_average_channels(x, self.pool)), lengths)
        return self.decoder(_average_channels(x, self.pool))


class PMSNSpeechNet(SpikingClassifier):
    """SHD / SSC net (docs/tasks.md §2.5): d = 256 → 120,340 parameters with PMSN, d = 352 → 199,252 (SHD,
    20 classes).

    Input: binned spike counts ``[B, T, 700]``; groups of ``pool`` adjacent channels are summed (700 → 140).
    """

    accepts_lengths = True  # padded batches with lengths (docs/variable_length.md §4)

    def __init__(self, neuron: str = "pmsn", num_classes: int = 20, width: int = 256, dropout: float = 0.2,
                 T: int | None = 250, input_size: int = 700, pool: int = 5,
                 neuron_kwargs: Mapping[str, object] | None = None):
        super().__init__()
        check_neuron_name(neuron)
        self.input_size = check_positive_int(input_size, "input_size")
        self.pool = check_positive_int(pool, "pool")
        if input_size % pool:
            raise ValueError(f"input_size ({input_size}) must be a multiple of pool ({pool})")
        check_positive_int(width, "width")
        self.dropout = TiedDropout(_check_dropout(dropout))
        self.hidden1 = nn.Linear(input_size // pool, width)
        self.neuron1 = make_neuron(neuron, width, T, SPEECH_DEFAULTS, neuron_kwargs)
        self.hidden2 = nn.Linear(width, width)
        self.neuron2 = make_neuron(neuron, width, T, SPEECH_DEFAULTS, neuron_kwargs)
        self.decoder = nn.Linear(width, check_positive_int(num_classes, "num_classes"))

    def time_first(self, x: torch.Tensor) -> torch.Tensor:
        return sequence_to_time_first(x, self.input_size, type(self).__name__)

    def per_step_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.dropout(x).unflatten(-1, (-1, self.pool)).sum(-1)  # sum-pool adjacent channels
        x = self.dropout(run_neuron(self.neuron1, self.hidden1(x), lengths))
        x = self.dropout(run_neuron(self.neuron2, self.hidden2(x), lengths))
        return self.decoder(x)
