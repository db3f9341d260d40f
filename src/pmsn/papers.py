"""The papers' published numbers (``paper_numbers.yaml`` beside this module), one typed accessor per table.

    from pmsn import papers
    papers.pmsn_table5_compartments()[5]                      # 90.97
    papers.accuracy()[("scifar10", "scifar_column", "pmsn")]  # PaperAccuracy(accuracy=90.97, source='PMSN Table II')
    papers.paper_tables()["pmsn_table2"].rows[0]              # PaperRow('sCIFAR-10 T = 32', 'PMSN', '0.54M', 90.97, {...})

Every accessor returns a new dict (the file is read once), so a caller may change what it gets.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.yaml")


class PaperAccuracy(NamedTuple):
    accuracy: float  # best test accuracy, %
    source: str  # table (and model size) in the paper


class EnergyReference(NamedTuple):
    """TC-LIF Table 2: the firing rates of the three hidden layers and the energy, nJ per step per sample."""

    rates: tuple[float, float, float]
    energy_nj: float


class GradientNormReference(NamedTuple):
    """TC-LIF Supp. Table 7, one (β1, β2) init: the norm before training, β after, the norm after, accuracy %."""

    norm_before: float
    betas_after: tuple[float, float]
    norm_after: float
    accuracy: float


class CostTable(NamedTuple):
    """PMSN Table VII: column headers and ``(row label, one value per column)``."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float, ...]], ...]


class MemoryReference(NamedTuple):
    """PSN Supp. Table 4, one (T, N) cell: training memory of VGG-11 without neurons, with IF, with PSN (units not
    stated), the two increases over no neuron, their ratio and the saving per step and sample."""

    steps: int
    batch: int
    m_no: float
    m_if: float
    m_psn: float
    delta_if: float
    delta_psn: float
    ratio: float
    saving_per_step_sample: float


class PaperRow(NamedTuple):
    """One row of a paper's table as ``pmsn report`` shows it (docs/tasks.md §6)."""

    setting: str  # the data set / column of the paper
    method: str  # the paper's row label
    params: str | None  # the parameter count as the paper prints it (None: none printed)
    accuracy: float | None  # %, None where the paper prints "N.A." or nothing
    match: dict[str, tuple] | None  # dotted config.yaml key → accepted values (None: key absent); None: no runs


class PaperTable(NamedTuple):
    title: str
    rows: tuple[PaperRow, ...]


def _match(spec: dict | None) -> dict[str, tuple] | None:
    if spec is None:
        return None
    return {key: tuple(value) if isinstance(value, list) else (value,) for key, value in spec.items()}


@lru_cache(maxsize=1)
def _numbers() -> dict:
    return yaml.safe_load(PAPER_NUMBERS.read_text(encoding="utf-8"))


def accuracy() -> dict[tuple[str, str, str], PaperAccuracy]:
    """(task, model, neuron) → best test accuracy and its source (docs/tasks.md §4)."""
    return {(task, model, neuron): PaperAccuracy(float(value), source)
            for task, model, neuron, value, source in _numbers()["accuracy"]}


def paper_tables() -> dict[str, PaperTable]:
    """The accuracy tables of ``pmsn report`` (PMSN Tables I, II, III, V; TC-LIF Table 1; PSN Tables 1, 2) in the
    papers' row order, each row with the runs of ours that fill it (docs/tasks.md §6)."""
    return {key: PaperTable(table["title"], tuple(PaperRow(setting, method, params, None if value is None
                                                           else float(value), _match(match))
                                                  for setting, method, params, value, match in table["rows"]))
            for key, table in _numbers()["paper_tables"].items()}


def pmsn_table7_runs() -> dict[str, tuple[dict[str, tuple], ...]]:
    """PMSN Table VII: method (``PMSN``, ``PSN``) → the runs of ours behind each column of ``pmsn_table7_cost``."""
    return {method: tuple(_match(spec) for spec in specs) for method, specs in _numbers()["pmsn_table7_runs"].items()}


def tclif_table2_runs() -> dict[str, dict[str, tuple]]:
    """TC-LIF Table 2: neuron (``lif``, ``tclif``) → the runs of ours (S-MNIST recurrent large net)."""
    return {neuron: _match(spec) for neuron, spec in _numbers()["tclif_table2_runs"].items()}


def tclif_table2_lstm_energy() -> float:
    """TC-LIF Table 2: the non-spiking LSTM's energy, nJ per step per sample."""
    return float(_numbers()["tclif_table2_lstm_energy_nj"])


def pmsn_table2_reset() -> dict[str, float]:
    """PMSN Table II (sCIFAR-10, T = 32): ``pmsn``, ``pmsn_no_reset``, ``lif``, ``lif_no_reset`` → accuracy %."""
    return {name: float(value) for name, value in _numbers()["pmsn_table2_reset"].items()}


def pmsn_clamp_ablation() -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """PMSN §VII-F2: (accuracy points lost without the soma's clamp, by task; seconds per epoch of PMSN and of the
    unclamped serial soma, by setting)."""
    numbers = _numbers()["pmsn_clamp_ablation"]
    return ({task: float(value) for task, value in numbers["accuracy_drop"].items()},
            {name: (float(fast), float(slow)) for name, (fast, slow) in numbers["epoch_seconds"].items()})


def pmsn_table3_global() -> dict[str, float]:
    """PMSN Table III (ImageNet SEW-ResNet-18, T = 4): ``local`` and ``global`` PMSN input → accuracy %."""
    return {name: float(value) for name, value in _numbers()["pmsn_table3_global"].items()}


def pmsn_table5_compartments() -> dict[int, float]:
    """PMSN Table V (sCIFAR-10 column): compartments n → accuracy %."""
    return {int(n): float(value) for n, value in _numbers()["pmsn_table5_compartments"].items()}


def pmsn_table7_cost() -> CostTable:
    """PMSN Table VII (RTX 3090): s/epoch, peak memory (GB) and accuracy % of PMSN and PSN on three settings."""
    table = _numbers()["pmsn_table7_cost"]
    return CostTable(tuple(table["columns"]),
                     tuple((label, tuple(float(v) for v in values)) for label, *values in table["rows"]))


def psn_fig5_order() -> dict[int, tuple[float, float]]:
    """PSN Fig. 5 (sCIFAR-100): order k → (masked PSN, sliding PSN) max test accuracy %."""
    return {int(k): (float(masked), float(sliding)) for k, (masked, sliding) in _numbers()["psn_fig5_order"].items()}


def tclif_table2_energy() -> dict[str, EnergyReference]:
    """TC-LIF Table 2 (S-MNIST 1-64r-256r-256-10): neuron (``lif``, ``tclif``) → firing rates and energy."""
    return {neuron: EnergyReference(tuple(float(r) for r in entry["rates"]), float(entry["energy_nj"]))
            for neuron, entry in _numbers()["tclif_table2_energy"].items()}


def tclif_table7_gradient_norm() -> dict[tuple[float, float], GradientNormReference]:
    """TC-LIF Supp. Table 7: (β1, β2) init → norms before and after training, β after, accuracy %."""
    return {tuple(float(b) for b in entry["init"]): GradientNormReference(
                float(entry["norm_before"]), tuple(float(b) for b in entry["after"]), float(entry["norm_after"]),
                float(entry["accuracy"]))
            for entry in _numbers()["tclif_table7_gradient_norm"]}


def psn_table4_memory() -> tuple[MemoryReference, ...]:
    """PSN Supp. Table 4 (VGG-11): the (T, N = batch size) cells in the paper's order."""
    return tuple(MemoryReference(int(steps), int(batch), *(float(value) for value in values))
                 for steps, batch, *values in _numbers()["psn_table4_memory"])


__all__ = ["PAPER_NUMBERS", "PaperAccuracy", "EnergyReference", "GradientNormReference", "CostTable", "PaperRow",
           "PaperTable", "accuracy", "paper_tables", "pmsn_table7_runs", "tclif_table2_runs", "tclif_table2_lstm_energy",
           "pmsn_table2_reset", "pmsn_table3_global", "pmsn_table5_compartments", "pmsn_table7_cost",
           "psn_fig5_order", "tclif_table2_energy", "tclif_table7_gradient_norm", "MemoryReference",
           "psn_table4_memory"]
