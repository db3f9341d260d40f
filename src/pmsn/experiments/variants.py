"""A neuron variant that only the ablations need, registered by name so ``pmsn.train`` configs can use it.

* ``masked_psn_schedule`` — masked PSN whose progressive-mask schedule runs at another speed (the λ ablation):
  the trainer sets λ = min(1, 8·e/(E − 1)) every epoch (spec experiments.md §3.3); this neuron uses
  min(1, speed·e/(E − 1)) instead, i.e. the mask is complete after (E − 1)/speed epochs; ``speed=None`` keeps λ = 1.

Importing this module adds the name to ``pmsn.neurons.NEURONS`` (``pmsn ablate`` and ``pmsn report`` import
it, so their run folders resume and load). Neither is needed outside the ablations.
"""

from __future__ import annotations

import torch
from torch import nn

from pmsn.neurons import NEURONS, MaskedPSN

PAPER_MASK_SPEED = 8.0  # λ = min(1, 8·epoch/(epochs − 1)), spec experiments.md §3.3


class ScheduledMaskedPSN(MaskedPSN):
    """Masked PSN with λ(e) = min(1, speed·e/(epochs − 1)) at the start of epoch e (None: λ = 1 throughout).

    The trainer calls ``set_lambda`` once per epoch; this neuron ignores the value it is given and counts the
    calls in the ``epochs_started`` buffer (saved with checkpoints, so a resumed run continues the schedule).
    """

    def __init__(self, steps: int, epochs: int, order: int | None = None, speed: float | None = PAPER_MASK_SPEED,
                 **kwargs):  # ``steps`` = T (``build_neuron`` passes T only to the built-in PSN names)
        if speed is not None and not speed > 0:
            raise ValueError(f"masked_psn_schedule speed must be > 0 or None, got {speed!r}")
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"masked_psn_schedule needs epochs as a positive int, got {epochs!r}")
        super().__init__(steps, min(32, steps) if order is None else order, **kwargs)
        self.speed, self.epochs = (None if speed is None else float(speed)), epochs
        self.register_buffer("epochs_started", torch.tensor(0))

    def scheduled_lambda(self, epoch: int) -> float:
        if self.speed is None or self.epochs <= 1:
            return 1.0
        return min(1.0, self.speed * epoch / (self.epochs - 1))

    def set_lambda(self, value: float) -> None:
        super().set_lambda(self.scheduled_lambda(int(self.epochs_started)))
        self.epochs_started += 1

    def extra_repr(self) -> str:
        return super().extra_repr() + f", speed={self.speed}, epochs={self.epochs}"


VARIANTS: dict[str, type[nn.Module]] = {"masked_psn_schedule": ScheduledMaskedPSN}
NEURONS.update(VARIANTS)
