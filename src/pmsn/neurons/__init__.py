"""Spiking neurons with one contract: ``neuron(x)`` (parallel) equals the loop of ``neuron.step`` (serial).

    from pmsn.neurons import PMSN
    neuron = PMSN(channels=64, compartments=5)
    spikes = neuron(x)                      # x: [T, B, C, *spatial]
    s_t, state = neuron.step(x_t, state)    # x_t: [B, C, *spatial], state=None = fresh
"""

from __future__ import annotations

from torch import nn

from pmsn.neurons.base import Neuron
from pmsn.neurons.glif import GLIF
from pmsn.neurons.klif import KLIF
from pmsn.neurons.lif import ALIF, IF, LIF, PLIF
from pmsn.neurons.pmsn import PMSN
from pmsn.neurons.pmsn_variants import (GlobalPMSN, MemorylessPMSN, NoResetPMSN, SerialSomaPMSN, SoftResetPMSN,
                                        build_pmsn)
from pmsn.neurons.psn import PSN, MaskedPSN, SlidingPSN
from pmsn.neurons.tclif import TCLIF

NEURONS = {
    "pmsn": build_pmsn,  # PMSN, or an ablation variant by soma_mode / global_mode (pmsn_variants.py)
    "lif": LIF,
    "plif": PLIF,
    "if": IF,
    "klif": KLIF,
    "glif": GLIF,
    "alif": ALIF,
    "tclif": TCLIF,
    "psn": PSN,
    "masked_psn": MaskedPSN,
    "sliding_psn": SlidingPSN,
}

_NEEDS_CHANNELS = {"pmsn", "alif", "glif"}
_NEEDS_T = {"psn", "masked_psn"}


def build_neuron(name: str, channels: int, T: int | None = None, **kwargs) -> nn.Module:
    """Build a neuron by name for a layer of ``channels`` channels (and ``T`` steps for PSN / masked PSN).

    Neurons with per-layer parameters ignore ``channels`` (TC-LIF uses it with ``beta_sharing="channel"``).
    Defaults: masked PSN order k = 32 clipped to T, sliding PSN order 32 (the papers' k); GLIF gets ``T`` when it
    is given (one conductance per step, docs/neurons.md §8.2), else one conductance for any length.
    """
    if name not in NEURONS:
        raise ValueError(f"unknown neuron {name!r}; expected one of {sorted(NEURONS)}")
    if name in _NEEDS_T:
        if T is None:
            raise ValueError(f"neuron {name!r} has a fixed number of time steps: pass T")
        kwargs["T"] = T
        if name == "masked_psn":
            kwargs.setdefault("order", min(32, T))
    if name == "sliding_psn":
        kwargs.setdefault("order", 32)
    if name in _NEEDS_CHANNELS:
        kwargs["channels"] = channels
    if name == "tclif":
        kwargs.setdefault("channels", channels)
    if name == "glif" and T is not None:
        kwargs.setdefault("T", T)
    return NEURONS[name](**kwargs)


__all__ = ["Neuron", "LIF", "PLIF", "IF", "KLIF", "GLIF", "ALIF", "TCLIF", "PSN", "MaskedPSN", "SlidingPSN", "PMSN",
           "SerialSomaPMSN", "SoftResetPMSN", "NoResetPMSN", "MemorylessPMSN", "GlobalPMSN", "build_pmsn", "NEURONS",
           "build_neuron"]
