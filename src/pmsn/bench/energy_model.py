"""Theoretical energy of a spiking network: the counting rule, per-layer formulas and TC-LIF Table 2.

Counting rule (docs/training.md §6.2; TC-LIF Table 2 / Supp. Table 4, PMSN Table IV: docs/training.md §6.3), per
time step and per sample, for a layer of n neurons fed by m inputs:

    synaptic:  m·n·Fr_in accumulates (AC) when the input is spikes (event driven; a spike count k costs k ACs),
               m·n multiply-accumulates (MAC) when the input is real valued;
               + n·n·Fr_out AC for a recurrent layer (W_rec on the layer's own spikes)
    neuronal:  c·n MAC (the membrane update) + r·n·Fr_out AC (the reset, r compartments reset by a spike)

with c MACs and r resets per neuron and step by neuron kind (``neuron_cost``): LIF/PLIF 1/1, ALIF 2/1 (membrane
and adaptation), TC-LIF 2/2, PMSN n/1 (n − 1 hidden modes + the soma; 0 resets without reset), PSN T/0,
masked/sliding PSN k/0. Energy = E_AC·AC + E_MAC·MAC with E_AC = 0.9 pJ, E_MAC = 4.6 pJ (45 nm, Horowitz 2014).
A non-spiking readout layer costs only its synaptic term. Batch norm is assumed folded into the weights.

``network_energy(layers)`` is the pure formula on given sizes and rates; ``table2_markdown`` reproduces TC-LIF
Table 2 with it from the published rates (``pmsn.papers``). ``pmsn.bench.energy`` counts the
operations a real network triggers on data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from pmsn import papers

E_AC_PJ = 0.9  # energy of one 32-bit float accumulate, 45 nm (Horowitz 2014), picojoule
E_MAC_PJ = 4.6  # energy of one 32-bit float multiply-accumulate, picojoule


@dataclass(frozen=True)
class Operations:
    """Operation counts per time step per sample (fractional: they are expectations over the data)."""

    synaptic_ac: float = 0.0
    synaptic_mac: float = 0.0
    neuronal_ac: float = 0.0
    neuronal_mac: float = 0.0

    @property
    def ac(self) -> float:
        return self.synaptic_ac + self.neuronal_ac

    @property
    def mac(self) -> float:
        return self.synaptic_mac + self.neuronal_mac

    def energy_pj(self, e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ) -> float:
        return e_ac * self.ac + e_mac * self.mac

    def __add__(self, other: "Operations") -> "Operations":
        return Operations(self.synaptic_ac + other.synaptic_ac, self.synaptic_mac + other.synaptic_mac,
                          self.neuronal_ac + other.neuronal_ac, self.neuronal_mac + other.neuronal_mac)


@dataclass(frozen=True)
class NeuronCost:
    """Per neuron and time step: ``macs`` of the membrane update, ``resets`` compartments reset by a spike."""

    macs: float
    resets: float


@dataclass(frozen=True)
class LayerSpec:
    """One layer for ``network_energy``: ``fan_in`` m inputs → ``neurons`` n outputs.

    ``input_rate``: mean input per entry and step (the presynaptic firing rate, or 1 for a dense real input);
    ``input_binary``: inputs are spikes (AC) or real values (MAC); ``output_rate``: firing rate of this layer
    (ignored without ``cost``); ``cost``: the neuron's cost, None for a non-spiking readout.
    """

    name: str
    fan_in: int
    neurons: int
    input_rate: float
    output_rate: float = 0.0
    input_binary: bool = True
    recurrent: bool = False
    cost: NeuronCost | None = None


def layer_operations(layer: LayerSpec) -> Operations:
    """The counting rule of the module docstring for one layer (per step, per sample)."""
    for name in ("fan_in", "neurons"):
        value = getattr(layer, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"layer {layer.name!r}: {name} must be a non-negative int, got {value!r}")
    for name in ("input_rate", "output_rate"):
        value = getattr(layer, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"layer {layer.name!r}: {name} must be a finite number >= 0, got {value!r}")
    m, n = layer.fan_in, layer.neurons
    synapses = m * n
    synaptic_ac = synapses * layer.input_rate if layer.input_binary else 0.0
    synaptic_mac = 0.0 if layer.input_binary else float(synapses)
    if layer.cost is None:
        return Operations(synaptic_ac, synaptic_mac)
    if layer.recurrent:
        synaptic_ac += n * n * layer.output_rate
    return Operations(synaptic_ac, synaptic_mac, layer.cost.resets * n * layer.output_rate, layer.cost.macs * n)


def network_energy(layers: list[LayerSpec], e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ) -> dict:
    """Per-layer operations and energy (pJ per step per sample) and their total, for given sizes and rates."""
    rows, total = [], Operations()
    for layer in layers:
        ops = layer_operations(layer)
        total = total + ops
        rows.append({"layer": layer.name, "operations": ops, "energy_pj": ops.energy_pj(e_ac, e_mac)})
    return {"layers": rows, "operations": total, "energy_pj": total.energy_pj(e_ac, e_mac)}


# --- neuron kinds ------------------------------------------------------------------------------------------------

def neuron_cost_by_name(name: str, compartments: int = 5, steps: int | None = None, order: int | None = None,
                        resets: bool = True) -> NeuronCost:
    """Cost of a neuron kind by name (the ``pmsn.neurons.NEURONS`` names)."""
    if name in ("lif", "plif", "if"):  # IF's V + X is counted like LIF's update (docs/training.md §6.3)
        return NeuronCost(1.0, 1.0 if resets else 0.0)
    if name == "klif":  # the LIF charge and the scale k
        return NeuronCost(2.0, 1.0 if resets else 0.0)
    if name == "glif":  # the gated decay of U and the gated input
        return NeuronCost(2.0, 1.0)
    if name == "alif":
        return NeuronCost(2.0, 1.0)
    if name == "tclif":
        return NeuronCost(2.0, 2.0)
    if name == "pmsn":
        return NeuronCost(float(compartments), 1.0 if resets else 0.0)
    if name == "psn":
        if steps is None:
            raise ValueError("the PSN cost needs steps (T MACs per neuron and step)")
        return NeuronCost(float(steps), 0.0)
    if name in ("masked_psn", "sliding_psn"):
        if order is None:
            raise ValueError(f"the {name} cost needs order (k MACs per neuron and step)")
        return NeuronCost(float(order), 0.0)
    raise ValueError(f"unknown neuron kind {name!r}; expected lif, plif, if, klif, glif, alif, tclif, pmsn, psn, "
                     f"masked_psn, sliding_psn")


def neuron_kind(module: nn.Module) -> str:
    """The neuron kind of a module (a subclass, e.g. an ablation variant, counts as its base kind)."""
    from pmsn.neurons import ALIF, GLIF, IF, KLIF, LIF, PLIF, PMSN, PSN, TCLIF, MaskedPSN, SlidingPSN

    for name, cls in (("masked_psn", MaskedPSN), ("psn", PSN), ("sliding_psn", SlidingPSN), ("tclif", TCLIF),
                      ("pmsn", PMSN), ("alif", ALIF), ("glif", GLIF), ("klif", KLIF), ("if", IF), ("plif", PLIF),
                      ("lif", LIF)):  # most specific first
        if isinstance(module, cls):
            return name
    raise ValueError(f"no energy cost known for neuron module {type(module).__name__}")


def neuron_cost(module: nn.Module, steps: int) -> NeuronCost:
    """Cost of a built neuron module run over ``steps`` time steps."""
    from pmsn.neurons import IF, KLIF, LIF, PLIF

    kind = neuron_kind(module)
    if kind == "pmsn":
        return neuron_cost_by_name("pmsn", compartments=module.compartments, resets=module.resets)
    if isinstance(module, (LIF, PLIF, IF, KLIF)):
        return neuron_cost_by_name(kind, resets=module.reset != "none")
    return neuron_cost_by_name(kind, steps=steps, order=getattr(module, "order", None))


# --- TC-LIF Table 2 -----------------------------------------------------------------------------------------

def tclif_table2_layers(neuron: str, rates: tuple[float, float, float]) -> list[LayerSpec]:
    """The S-MNIST recurrent net 1-64r-256r-256-10 of TC-LIF Table 2 with the rule above (docs/training.md §6.4):
    the single input pixel counted as a spike with Fr_in = 1, the readout as 2560·Fr₃ ACs."""
    cost = neuron_cost_by_name(neuron)
    r1, r2, r3 = rates
    return [LayerSpec("hidden1 (64, rec)", 1, 64, 1.0, r1, True, True, cost),
            LayerSpec("hidden2 (256, rec)", 64, 256, r1, r2, True, True, cost),
            LayerSpec("hidden3 (256)", 256, 256, r2, r3, True, False, cost),
            LayerSpec("readout (10)", 256, 10, r3)]


def table2_markdown() -> str:
    """TC-LIF Table 2 recomputed from its published rates next to the published energies."""
    lines = ["| neuron | layer firing rates | ours (nJ / step / sample) | paper (nJ) |", "|---|---|---|---|"]
    for neuron, (rates, paper) in papers.tclif_table2_energy().items():
        ours = network_energy(tclif_table2_layers(neuron, rates))["energy_pj"] / 1000.0
        lines.append(f"| {neuron} | {list(rates)} | {ours:.2f} | {paper} |")
    return "\n".join(lines) + "\n"


__all__ = ["E_AC_PJ", "E_MAC_PJ", "Operations", "NeuronCost", "LayerSpec", "layer_operations", "network_energy",
           "neuron_cost_by_name", "neuron_cost", "neuron_kind", "tclif_table2_layers", "table2_markdown"]
