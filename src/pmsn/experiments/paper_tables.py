"""The papers' tables in their layouts with our runs beside them: the "Paper tables" of ``pmsn report``.

    runs = [read_run(path, root) for path in run_folders]
    print(paper_tables_markdown(runs))   # PMSN Tables I, II, III, V, VII; TC-LIF Tables 1, 2; PSN Tables 1, 2

A run fills a row when its ``config.yaml`` matches the row's ``match`` in ``paper_numbers.yaml`` (dotted keys such
as ``data.task``, ``model.neuron``, ``model.options.neuron_kwargs.soma_mode`` → accepted values, ``null`` = the
key is absent); a row shows the paper's number, our best test accuracy (mean ± std over the matched runs), the
number of runs, their epochs and parameter counts, and "–" where nothing matched (docs/tasks.md §6).
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from pmsn import papers
from pmsn.bench.energy_model import network_energy, tclif_table2_layers
from pmsn.tables import MISSING, markdown_table

# metrics.csv peak-memory columns (``peak_memory_<unit>``, largest over epochs) → GiB
_MEMORY_UNITS = {"bytes": 2.0 ** -30, "mib": 2.0 ** -10, "gib": 1.0}


@dataclass(frozen=True)
class RunResult:
    """What the paper tables need from one run folder."""

    folder: Path
    run: str  # the folder, relative to the report's root
    config: dict  # its config.yaml
    best_test_acc: float | None  # max test_acc over the epochs of metrics.csv (the papers' metric)
    chosen_test_acc: float | None  # test_acc of the epoch chosen on validation (data.valid_fraction), else None
    epochs: int
    epoch_seconds: float | None  # mean over epochs
    peak_memory_gib: float | None  # largest peak_memory_<unit> of metrics.csv, if the run logged one
    energy: tuple[tuple[float, ...], float] | None  # energy.csv: neuron-layer firing rates, nJ per step per sample

    @cached_property
    def parameters(self) -> int | None:
        """Learned parameters in ``last.pt`` (None without it); read only for runs that fill a row."""
        checkpoint = self.folder / "last.pt"
        if not checkpoint.exists():
            return None
        from pmsn.experiments.sweep import _is_parameter
        from pmsn.train.checkpoint import load_checkpoint

        state = load_checkpoint(checkpoint)["model"]
        return sum(tensor.numel() for key, tensor in state.items() if _is_parameter(key, tensor))


def read_run(run_dir: Path, root: Path) -> RunResult:
    """A run folder (``config.yaml``, ``metrics.csv``; ``last.pt`` and ``energy.csv`` when present)."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    with (run_dir / "metrics.csv").open() as handle:
        history = list(csv.DictReader(handle))
    accuracies = [float(row["test_acc"]) for row in history if row.get("test_acc")]
    seconds = [float(row["epoch_seconds"]) for row in history if row.get("epoch_seconds")]
    return RunResult(run_dir, str(run_dir.relative_to(root)) or ".", config, max(accuracies, default=None),
                     _chosen_test_acc(history), len(history), statistics.mean(seconds) if seconds else None, _peak_memory(history),
                     _energy(run_dir / "energy.csv"))


def _chosen_test_acc(history: list[dict]) -> float | None:
    """The test accuracy at the epoch the run chose on its validation split (docs/training.md §1.1), if it had one."""
    if not history or not history[-1].get("valid_acc") or not history[-1].get("chosen_epoch"):
        return None
    chosen = int(history[-1]["chosen_epoch"])
    return next((float(row["test_acc"]) for row in history if int(row["epoch"]) == chosen), None)


def _peak_memory(history: list[dict]) -> float | None:
    values = [float(value) * _MEMORY_UNITS[key.rsplit("_", 1)[1]] for row in history for key, value in row.items()
              if key.startswith("peak_memory_") and key.rsplit("_", 1)[1] in _MEMORY_UNITS and value]
    return max(values, default=None)


def _energy(path: Path) -> tuple[tuple[float, ...], float] | None:
    """``pmsn bench energy RUN --out RUN``: firing rates of the neuron layers and the total energy per step."""
    if not path.exists():
        return None
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    totals = [row for row in rows if row["layer"] == "total"]
    if not totals:
        return None
    rates = tuple(float(row["firing_rate"]) for row in rows if row["layer"] != "total" and row.get("firing_rate"))
    return rates, float(totals[0]["energy_pj"]) / 1000.0


# --- matching ------------------------------------------------------------------------------------------------------

def config_value(config: dict, key: str):
    """The value at a dotted ``key`` of a config dict; None where any part is absent."""
    value = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def matching(runs: list[RunResult], match: dict[str, tuple] | None) -> list[RunResult]:
    """The runs whose config has an accepted value at every key of ``match`` (none for a row without match)."""
    if match is None:
        return []
    return [run for run in runs if all(config_value(run.config, key) in accepted for key, accepted in match.items())]


# --- cells ---------------------------------------------------------------------------------------------------------

def _mean_std(values: list[float], decimals: int = 2) -> str | None:
    if not values:
        return None
    if len(values) == 1:
        return f"{values[0]:.{decimals}f}"
    return f"{statistics.mean(values):.{decimals}f} ± {statistics.stdev(values):.{decimals}f}"


def _count(parameters: int) -> str:
    """A parameter count as the papers print it: 66.3k, 0.54M."""
    if parameters < 1e3:
        return str(parameters)
    return f"{parameters / 1e3:.1f}k" if parameters < 1e6 else f"{parameters / 1e6:.2f}M"


def _distinct(values) -> str | None:
    """Distinct values in order, joined by " / " (None if there are none)."""
    shown = list(dict.fromkeys(str(value) for value in values if value is not None))
    return " / ".join(shown) or None


def _paper(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def accuracy_rows(table: papers.PaperTable, runs: list[RunResult]) -> list[dict]:
    """One line per paper row: the paper's params and accuracy beside our mean ± std, runs, epochs and params."""
    lines = []
    for row in table.rows:
        mine = [run for run in matching(runs, row.match) if run.best_test_acc is not None]
        lines.append({"setting": row.setting, "method": row.method, "params (paper)": row.params,
                      "paper (%)": _paper(row.accuracy),
                      "ours (%)": _mean_std([run.best_test_acc for run in mine]),
                      "ours, chosen on valid (%)": _mean_std([run.chosen_test_acc for run in mine
                                                              if run.chosen_test_acc is not None]),
                      "runs": len(mine) or None, "epochs": _distinct(run.epochs for run in mine),
                      "params (ours)": _distinct(_count(run.parameters) for run in mine if run.parameters)})
    return lines


def cost_rows(runs: list[RunResult]) -> list[dict]:
    """PMSN Table VII: s/epoch, peak memory and accuracy of PMSN and PSN, the paper's beside ours, per setting."""
    table, targets = papers.pmsn_table7_cost(), papers.pmsn_table7_runs()
    lines = []
    for label, values in table.rows:
        method, quantity = label.split(" ", 1)
        line = {"": label}
        for column, value, match in zip(table.columns, values, targets[method]):
            mine = matching(runs, match)
            if quantity.startswith("s/epoch"):
                ours = _mean_std([run.epoch_seconds for run in mine if run.epoch_seconds is not None])
            elif quantity.startswith("peak memory"):
                ours = _mean_std([run.peak_memory_gib for run in mine if run.peak_memory_gib is not None])
            else:
                ours = _mean_std([run.best_test_acc for run in mine if run.best_test_acc is not None])
            line[f"{column}: paper"], line[f"{column}: ours"] = _paper(value), ours
        lines.append(line)
    return lines


def energy_rows(runs: list[RunResult]) -> list[dict]:
    """TC-LIF Table 2: the paper's rates and energy, our energy model on the paper's rates, our measured ones."""
    lines = [{"neuron": "LSTM (non-spiking)", "paper rates": None, "paper (nJ)": f"{papers.tclif_table2_lstm_energy():.1f}",
              "ours from the paper's rates (nJ)": None, "ours: measured rates": None, "ours: measured (nJ)": None,
              "runs": None}]
    targets = papers.tclif_table2_runs()
    for neuron, reference in papers.tclif_table2_energy().items():
        measured = [run.energy for run in matching(runs, targets[neuron]) if run.energy is not None]
        rates = [statistics.mean(layer) for layer in zip(*(energy[0] for energy in measured))]
        modelled = network_energy(tclif_table2_layers(neuron, reference.rates))["energy_pj"] / 1000.0
        lines.append({"neuron": neuron, "paper rates": ", ".join(f"{r:.3f}" for r in reference.rates),
                      "paper (nJ)": f"{reference.energy_nj:.1f}", "ours from the paper's rates (nJ)": f"{modelled:.1f}",
                      "ours: measured rates": ", ".join(f"{r:.3f}" for r in rates) or None,
                      "ours: measured (nJ)": _mean_std([energy[1] for energy in measured], 1),
                      "runs": len(measured) or None})
    return lines


# --- the section -----------------------------------------------------------------------------------------------------

METRIC = ("ours = best test accuracy over epochs, selected on the test set as the papers' code does (no validation "
          "split), mean ± std over the matched runs (seeds)")


def on_a_subset(run: RunResult) -> bool:
    """Trained or tested on part of the data set (``data.limit_train`` / ``limit_test``): not the papers' setting."""
    return any(config_value(run.config, f"data.{key}") is not None for key in ("limit_train", "limit_test"))


def paper_tables_markdown(runs: list[RunResult]) -> str:
    """The "Paper tables" section: every table in the papers' row order, "–" where no run of ours matches."""
    tables = papers.paper_tables()
    subset = [run.run for run in runs if on_a_subset(run)]
    runs = [run for run in runs if not on_a_subset(run)]
    parts = [f"The papers' numbers beside ours; {METRIC}. A run fills a row when its config.yaml matches the row "
             f"(task, model, neuron and the options that define the row; docs/tasks.md §6). Paper numbers are "
             f"full-size GPU runs; {MISSING} = no matching run or no number in the paper."
             + (f" Left out, trained or tested on part of the data set (data.limit_train / limit_test): "
                f"{', '.join(subset)}." if subset else "") + "\n"]
    for key in ("pmsn_table1", "pmsn_table2", "pmsn_table3", "pmsn_table5"):
        parts.append(f"### {tables[key].title}\n\n{markdown_table(accuracy_rows(tables[key], runs))}")
    parts.append("### PMSN Table VII: training cost of PMSN and PSN (paper: one RTX 3090; ours: the machine each "
                 "run used; peak memory in GB, ours in GiB from metrics.csv's peak_memory_* column)\n\n"
                 + markdown_table(cost_rows(runs)))
    parts.append(f"### {tables['tclif_table1'].title}\n\n{markdown_table(accuracy_rows(tables['tclif_table1'], runs))}")
    parts.append("### TC-LIF Table 2: energy of the S-MNIST recurrent net 1-64r-256r-256-10, nJ per step per sample "
                 "(ours measured: `pmsn bench energy RUN --out RUN` writes energy.csv into the run folder)\n\n"
                 + markdown_table(energy_rows(runs)))
    for key in ("psn_table1", "psn_table2"):
        parts.append(f"### {tables[key].title}\n\n{markdown_table(accuracy_rows(tables[key], runs))}")
    return "\n".join(parts)


__all__ = ["RunResult", "read_run", "config_value", "matching", "on_a_subset", "accuracy_rows", "cost_rows", "energy_rows",
           "paper_tables_markdown", "METRIC"]
