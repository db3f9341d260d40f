"""The ablation runners of ``pmsn ablate NAME`` (docs/neurons.md §3.5, docs/pmsn.md §7, docs/tasks.md §4).

Each runner writes ``<name>.csv`` (one line per run or measurement), ``<name>_summary.csv``, ``<name>.md`` (the
table with the papers' numbers beside ours) and ``<name>.png`` into ``out``, plus ``ablation.json`` (what ran).
``smoke=True`` runs a tiny version in seconds (tests); otherwise the paper's setting (GPU-sized) unless the
caller picks another task, epochs and seeds. Training sweeps resume from the run folders under ``out/runs``.

    compartments   PMSN n = 2, 3, 4, 5, 9, 17 (PMSN Table V)
    reset          PMSN vs PMSN without reset (integrator / memoryless), LIF vs LIF without reset (Table II)
    clamp          PMSN vs PMSN without the soma's input clamp (serial soft reset): accuracy, s/epoch (PMSN §VII-F2)
    global         local vs global PMSN input (Table III "Global", global_mode="sum")
    soma           parallel vs serial soma, the unclamped soma and the serial MSN: time per step vs T (PMSN Fig. 5,
                   PMSN §VII-F2)
    psn_order      masked / sliding PSN order k sweep (PSN Fig. 5)
    masked_lambda  progressive-mask λ schedule speed of masked PSN (docs/training.md §5)
    tclif_beta     TC-LIF (β1, β2) init grid over the four quadrants (TC-LIF Fig. 2)
    gradient_norm  TC-LIF Table 7 closed-form norms, autograd checks, gradient through time LIF/TC-LIF/PMSN
    gradient_maps  |∂L/∂I[t]| per neuron and step of trained LIF / ALIF / TC-LIF nets (TC-LIF Fig. 3)
    firing_rates   per-layer firing rates and energy of trained nets per neuron (PMSN Fig. 6a; PSN Fig. 4b's eight
                   neurons with --task scifar10 / scifar100)
    energy_accuracy accuracy vs energy over PMSN n, masked / sliding PSN k and LIF width (PMSN Fig. 6b)
    loss_landscape loss around trained nets along filter-normalised random directions (TC-LIF Fig. 5)

This module is the registry. The runners: the training sweeps in ``sweep_ablations``, ``soma`` in
``soma_timing``, ``gradient_norm`` in ``gradient_ablation``, ``gradient_maps`` in ``gradient_maps``, ``loss_landscape`` in ``loss_landscape``; what they share (``Options``, the setting, row
selection, the output files) in ``ablation_base``; the papers' numbers in ``papers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pmsn.experiments.ablation_base import Options
from pmsn.experiments.gradient_ablation import gradient_norm
from pmsn.experiments.gradient_maps import gradient_maps
from pmsn.experiments.loss_landscape import loss_landscape
from pmsn.experiments.soma_timing import soma
from pmsn.experiments.sweep_ablations import (clamp, compartments, energy_accuracy, firing_rates, global_input,
                                              masked_lambda, psn_order, reset, tclif_beta)

ABLATIONS: dict[str, Callable[[Options], dict]] = {
    "compartments": compartments, "reset": reset, "clamp": clamp, "global": global_input, "soma": soma,
    "psn_order": psn_order, "masked_lambda": masked_lambda, "tclif_beta": tclif_beta, "gradient_norm": gradient_norm,
    "gradient_maps": gradient_maps, "firing_rates": firing_rates, "energy_accuracy": energy_accuracy,
    "loss_landscape": loss_landscape,
}


def run_ablation(name: str, options: Options) -> dict:
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; expected one of {sorted(ABLATIONS)}")
    Path(options.out).mkdir(parents=True, exist_ok=True)
    return ABLATIONS[name](options)


__all__ = ["ABLATIONS", "Options", "run_ablation"]
