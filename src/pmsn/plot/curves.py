"""Learning curves of several runs on one figure: overlays, mean ± std over seeds, moving average.

The papers' curve figures (PMSN Fig. 3, PSN Fig. 4a with an 8-epoch moving average, TC-LIF Fig. 4 with mean ± std
over seeds) are this function over run folders written by ``pmsn train`` (``metrics.csv`` + ``config.yaml``).
Runs whose configs differ only in ``seed`` (and the run's ``name``/``out``/``note``) form one group, drawn as
the mean with a ±1 std band; each group is labelled by the settings that tell the groups apart.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from pmsn.plot.figures import pyplot, save_figure
from pmsn.train.config import load_yaml
from pmsn.train.records import EPOCH_FIELDS

# Settings that name or place a run without changing what it computes, plus the seed that groups repeat.
NOT_A_SETTING = ("seed", "name", "out", "note")
METRICS = tuple(field for field in EPOCH_FIELDS if field not in ("epoch", "memory_method"))  # the numeric columns


@dataclass
class Run:
    folder: Path
    settings: dict  # flattened config without NOT_A_SETTING, e.g. {"model.neuron": "pmsn", ...}
    history: dict  # metric -> list of floats, one per epoch (epoch 1 first)


def flatten(config: dict, prefix: str = "") -> dict:
    """``{"model": {"neuron": "pmsn"}}`` → ``{"model.neuron": "pmsn"}``; lists become tuples (hashable)."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = tuple(value) if isinstance(value, list) else value
    return flat


def read_run(folder: str | Path) -> Run:
    """A run folder's settings and per-epoch history; a missing or foreign folder is one clear error."""
    folder = Path(folder)
    metrics, config = folder / "metrics.csv", folder / "config.yaml"
    for path in (metrics, config):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: plot curves expects run folders written by `pmsn train` "
                                    "(with metrics.csv and config.yaml)")
    with metrics.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "epoch" not in rows[0]:
        raise ValueError(f"{metrics} has no epoch rows (columns {list(rows[0]) if rows else []}); expected the "
                         f"metrics.csv of `pmsn train` with columns {EPOCH_FIELDS}")
    history = {metric: [_number(row.get(metric)) for row in rows] for metric in METRICS}
    settings = {key: value for key, value in flatten(load_yaml(config)).items() if key not in NOT_A_SETTING}
    return Run(folder, settings, history)


def _number(text: str | None) -> float:
    return float(text) if text not in (None, "") else math.nan


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over the last ``window`` values (fewer at the start), as the PSN paper's Fig. 4a smoothing."""
    if window < 1:
        raise ValueError(f"moving average window must be >= 1, got {window}")
    return [sum(values[max(0, i + 1 - window):i + 1]) / (i + 1 - max(0, i + 1 - window)) for i in range(len(values))]


def group_runs(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs with equal settings (seeds aside) in one group, labelled by the settings that differ between groups."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(sorted(run.settings.items(), key=lambda item: item[0])), []).append(run)
    differing = sorted({key for key in set().union(*(run.settings for run in runs))
                        if len({repr(run.settings.get(key)) for run in runs}) > 1})
    labelled = {}
    for members in groups.values():
        label = ", ".join(f"{key.rsplit('.', 1)[-1]}={members[0].settings.get(key)}" for key in differing)
        label = label or members[0].folder.name
        labelled[f"{label} (n={len(members)})" if len(members) > 1 else label] = members
    return labelled


def mean_and_std(curves: list[list[float]]) -> tuple[list[float], list[float]]:
    """Per-epoch mean and population std over the runs that reached that epoch."""
    length = max(len(curve) for curve in curves)
    means, stds = [], []
    for epoch in range(length):
        values = [curve[epoch] for curve in curves if epoch < len(curve) and not math.isnan(curve[epoch])]
        mean = sum(values) / len(values) if values else math.nan
        means.append(mean)
        stds.append(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else math.nan)
    return means, stds


def plot_curves(folders: list[str | Path], out: str | Path, metric: str = "test_acc", smooth: int = 1,
                formats=("png", "svg"), title: str | None = None) -> list[Path]:
    """Draw ``metric`` per epoch for the runs in ``folders`` (groups of seeds as mean ± std) to ``out``.{formats}."""
    if metric not in METRICS:
        raise ValueError(f"plot curves metric must be one of {METRICS}, got {metric!r}")
    if not folders:
        raise ValueError("plot curves expects at least one run folder")
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for label, members in group_runs([read_run(folder) for folder in folders]).items():
        means, stds = mean_and_std([moving_average(run.history[metric], smooth) for run in members])
        epochs = range(1, len(means) + 1)
        (line,) = axis.plot(epochs, means, label=label)
        if len(members) > 1:
            axis.fill_between(epochs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                              color=line.get_color(), alpha=0.2, linewidth=0)
    smoothing = f", {smooth}-epoch moving average" if smooth > 1 else ""
    axis.set(xlabel="epoch", ylabel=metric.replace("_", " ") + (" (%)" if metric.endswith("_acc") else ""),
             title=title or f"{metric.replace('_', ' ')}{smoothing}")
    axis.grid(alpha=0.3)
    axis.legend()
    return save_figure(figure, out, formats)
