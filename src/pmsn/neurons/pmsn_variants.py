"""Ablation variants of PMSN (docs/pmsn.md §7): each changes one part of the paper's neuron and keeps the rest.
Paper: X. Chen, J. Wu, C. Ma, Y. Yan, Y. Wu, K. C. Tan, "PMSN: A Parallel Multi-compartment Spiking Neuron for
Multi-scale Temporal Processing", 2024, arXiv:2408.14917.

    SerialSomaPMSN   the same soma, run step by step in forward          (PMSN §VII-F2 timing; docs/pmsn.md §7.1)
    SoftResetPMSN    no clamp, subtract θ per spike (PMSN eq. 11)        ("serial_soft")
    NoResetPMSN      integrate-and-fire without reset: v[t] = Σ κY      ("no_reset", PMSN Table II)
    MemorylessPMSN   no soma memory: S[t] = [κY[t] ≥ θ]                  ("memoryless", the official code's w/o reset)
    GlobalPMSN       every step sees I_g = Σ_t u[t] (non-causal, no step) (PMSN Table III "Global"; docs/pmsn.md §7.2)

Each overrides the soma (``_soma`` for the whole sequence, ``_soma_step`` for one step) or the input, and is
tested parallel == serial like the paper's neuron. ``build_pmsn`` picks the class from the config-level names
``soma_mode`` and ``global_mode``, so ``model.options.neuron_kwargs.soma_mode: no_reset`` keeps working.
"""

from __future__ import annotations

import torch

from pmsn.neurons.base import check_choice
from pmsn.neurons.pmsn import PMSN
from pmsn.surrogate import spike


class SerialSomaPMSN(PMSN):
    """The paper's soma computed by the loop of ``_soma_step`` in forward (to time the parallel reset against)."""

    soma_mode = "serial"
    fusable = False

    def _soma(self, current: torch.Tensor, trace: bool):
        remainder, spikes, potentials = torch.zeros_like(current[0]), [], []
        for drive_t in (self.scale * current).unbind(0):
            s_t, potential_t, remainder = self._soma_step(drive_t, remainder)
            spikes.append(s_t)
            potentials.append(potential_t)
        return torch.stack(spikes), torch.stack(potentials)


class SoftResetPMSN(SerialSomaPMSN):
    """Soft reset without the input clamp: v[t] = r[t−1] + κY[t], r[t] = v[t] − θ·S[t] (PMSN eq. 11)."""

    soma_mode = "serial_soft"

    def _soma_step(self, drive: torch.Tensor, remainder: torch.Tensor):
        potential = remainder + drive
        spikes = spike(potential - self.threshold, self.surrogate, self.strict)
        return spikes, potential, potential - self.threshold * spikes


class NoResetPMSN(PMSN):
    """The soma integrates and never resets: v[t] = Σ_{τ≤t} κY[τ], S[t] = [v[t] ≥ θ]."""

    soma_mode = "no_reset"
    resets = False
    fusable = False

    def _soma(self, current: torch.Tensor, trace: bool):
        potential = (self.scale * current).cumsum(0)
        return spike(potential - self.threshold, self.surrogate, self.strict), potential

    def _soma_step(self, drive: torch.Tensor, remainder: torch.Tensor):
        potential = remainder + drive
        return spike(potential - self.threshold, self.surrogate, self.strict), potential, potential


class MemorylessPMSN(PMSN):
    """No soma memory: S[t] = [κY[t] ≥ θ] (what the official code's "w/o reset" runs)."""

    soma_mode = "memoryless"
    resets = False
    fusable = False

    def _soma(self, current: torch.Tensor, trace: bool):
        drive = self.scale * current
        return spike(drive - self.threshold, self.surrogate, self.strict), drive

    def _soma_step(self, drive: torch.Tensor, remainder: torch.Tensor):
        return spike(drive - self.threshold, self.surrogate, self.strict), drive, remainder


class GlobalPMSN(PMSN):
    """Every step's hidden input is the whole sequence's sum I_g = Σ_t u[t]; non-causal, so no ``step``."""

    global_mode = "sum"
    causal = False  # I_g sums every step: padded steps are zeroed out of it (docs/variable_length.md §3)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(0, keepdim=True).expand_as(x)

    def _step(self, x_t, state):
        raise ValueError("GlobalPMSN (global_mode='sum') needs the whole sequence; it has no step")


SOMA_VARIANTS = {"parallel": PMSN, "serial": SerialSomaPMSN, "serial_soft": SoftResetPMSN,
                 "no_reset": NoResetPMSN, "memoryless": MemorylessPMSN}
GLOBAL_MODES = (None, "sum")


def build_pmsn(channels: int, soma_mode: str = "parallel", global_mode: str | None = None, **kwargs) -> PMSN:
    """The PMSN class named by ``soma_mode`` (and ``global_mode="sum"`` → GlobalPMSN), built with ``kwargs``."""
    check_choice("PMSN", "soma_mode", soma_mode, tuple(SOMA_VARIANTS))
    check_choice("PMSN", "global_mode", global_mode, GLOBAL_MODES)
    if global_mode is None:
        return SOMA_VARIANTS[soma_mode](channels, **kwargs)
    if soma_mode != "parallel":
        raise ValueError(f"PMSN: global_mode='sum' runs with the parallel soma only, got soma_mode={soma_mode!r}")
    return GlobalPMSN(channels, **kwargs)
