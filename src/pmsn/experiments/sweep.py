"""Training sweeps for the ablations: rows × seeds of ``pmsn.train`` runs, resumable, summarised as CSV/Markdown.

Every run is an ordinary ``pmsn.train`` run folder ``<out>/runs/<row>-seed<S>`` (config.yaml, metrics.csv,
last.pt, best.pt): a finished run is read back, an interrupted one resumed from its ``last.pt``, a missing one
trained. The summary aggregates best test accuracy over seeds (mean ± std, the papers' metric) and the mean
time per epoch.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pmsn.tables import markdown_table


@dataclass(frozen=True)
class Row:
    """One configuration of a sweep: ``label``, its config ``overrides`` (a nested dict, merged over the
    setting's), table ``values``, the paper's number for it (``paper``, or None)."""

    label: str
    overrides: dict
    values: dict = field(default_factory=dict)
    paper: float | None = None


@dataclass(frozen=True)
class Setting:
    """Where a sweep runs: a ``pmsn.train`` task preset, optionally its whole ``model`` section replaced
    (``{"name", "neuron", "options"}``), then ``overrides`` (a nested config dict, e.g.
    ``{"optim": {"lr": 5e-4}}``), ``epochs`` and ``seeds``."""

    task: str
    overrides: dict
    epochs: int
    seeds: tuple[int, ...]
    description: str
    model: dict | None = None


# A tiny CPU setting (seconds per run) shared by every ``--smoke`` sweep: 7×7 embedded digits (T = 49).
SMOKE_OVERRIDES = {"data": {"options": {"resolution": 7}, "limit_train": 64, "limit_test": 32}, "batch_size": 32,
                   "device": "cpu", "log_every": 1000}
SMOKE_PMSN_NET = {"name": "pmsn_smnist", "neuron": "pmsn", "options": {"width": 8, "depth": 2, "dropout": 0.1}}
SMOKE = Setting("smnist5k", SMOKE_OVERRIDES, epochs=1, seeds=(0,), model=SMOKE_PMSN_NET,
                description="smoke: 64/32 embedded 7×7 digits (T = 49), PMSN net width 8, 2 blocks, 1 epoch")


def neuron_overrides(neuron: str | None = None, **neuron_kwargs) -> dict:
    """The config dict that sets ``model.neuron`` (if given) and ``model.options.neuron_kwargs`` (those given)."""
    model = {} if neuron is None else {"neuron": neuron}
    if neuron_kwargs:
        model["options"] = {"neuron_kwargs": neuron_kwargs}
    return {"model": model}


def override_strings(overrides: dict, prefix: str = "") -> list[str]:
    """A nested config dict as ``--set`` style ``key.path=value`` strings (for the tables' setting line)."""
    strings = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            strings += override_strings(value, f"{prefix}{key}.")
        else:
            strings.append(f"{prefix}{key}={value if isinstance(value, str) else json.dumps(value)}")
    return strings


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=_-]+", "_", text).strip("_")


def row_epochs(setting: Setting, row: Row) -> int:
    """A row's own recipe may set its epochs (e.g. the PSN recipe's 256 beside PMSN's 200); else the setting's."""
    return row.overrides.get("epochs", setting.epochs)


def resolve(setting: Setting, row: Row, seed: int, runs_dir: Path, extra: tuple[str, ...] = ()):
    """The ``TrainConfig`` of one run (setting ← row ← extra ``--set`` strings ← seed/epochs/folder)."""
    from pmsn.train.config import deep_merge, preset, resolve_config

    name = f"{slug(row.label)}-seed{seed}"
    base = preset(setting.task)
    if setting.model is not None:
        base["model"] = {"name": setting.model["name"], "neuron": setting.model.get("neuron", "pmsn"),
                         "options": dict(setting.model.get("options", {}))}
    overrides = list(extra) + [f"seed={seed}", f"epochs={row_epochs(setting, row)}", f"out={runs_dir}",
                               f"name={name}"]
    flags = deep_merge(setting.overrides, row.overrides)
    return resolve_config(base=base, flags=flags, overrides=overrides), runs_dir / name


def run_one(setting: Setting, row: Row, seed: int, runs_dir: Path, extra: tuple[str, ...] = (),
            quiet: bool = True) -> dict:
    """Train (or resume, or read back) one run; returns its result row."""
    from pmsn.train.checkpoint import load_checkpoint
    from pmsn.train.loop import resume_config, train

    config, run_dir = resolve(setting, row, seed, runs_dir, extra)
    last = run_dir / "last.pt"
    if last.exists():
        checkpoint = load_checkpoint(last)
        if checkpoint["epoch"] < row_epochs(setting, row):
            resumed = resume_config(run_dir, overrides=[f"epochs={row_epochs(setting, row)}"])
            train(resumed, resume=run_dir, quiet=quiet, show_progress=False)
    else:  # a fresh run, or one killed before its first epoch ended: start (again) from scratch
        train(config, quiet=quiet, show_progress=False, overwrite=True)
    return read_run(run_dir, row, seed)


def read_run(run_dir: Path, row: Row, seed: int) -> dict:
    """Result row of a finished run folder from its ``last.pt``."""
    from pmsn.train.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(run_dir / "last.pt")
    history = checkpoint["history"]
    seconds = [entry["epoch_seconds"] for entry in history]
    parameters = sum(t.numel() for k, t in checkpoint["model"].items() if _is_parameter(k, t))
    return {"label": row.label, **row.values, "seed": seed, "epochs": checkpoint["epoch"],
            "best_test_acc": checkpoint["best_test_acc"], "final_test_acc": history[-1]["test_acc"],
            "epoch_seconds": statistics.mean(seconds), "parameters": parameters, "run": str(run_dir)}


def _is_parameter(key: str, tensor: torch.Tensor) -> bool:
    """State-dict entries that are learned parameters (not BN statistics, masks or counters)."""
    buffers = ("running_mean", "running_var", "num_batches_tracked", "mask", "mask_lambda", "epochs_started")
    return tensor.is_floating_point() and not key.endswith(buffers)


def run_sweep(setting: Setting, rows: list[Row], runs_dir: Path, extra: tuple[str, ...] = (),
              quiet: bool = True, say=print) -> list[dict]:
    """All rows × seeds (progress on ``say``); returns the per-run result rows."""
    results, total, index = [], len(rows) * len(setting.seeds), 0
    for row in rows:
        for seed in setting.seeds:
            index += 1
            say(f"[{index}/{total}] {row.label}, seed {seed}", flush=True)
            result = run_one(setting, row, seed, runs_dir, extra, quiet)
            say(f"    best test acc {result['best_test_acc']:.2f}% ({result['epochs']} epochs, "
                f"{result['epoch_seconds']:.1f} s/epoch)", flush=True)
            results.append(result)
    return results


def summarise(rows: list[Row], results: list[dict]) -> list[dict]:
    """One line per row: mean ± std of the best test accuracy over seeds, mean s/epoch, parameters, paper."""
    summary = []
    for row in rows:
        mine = [r for r in results if r["label"] == row.label]
        if not mine:
            continue
        accuracies = [r["best_test_acc"] for r in mine]
        summary.append({"label": row.label, **row.values, "seeds": len(mine),
                        "acc_mean": statistics.mean(accuracies),
                        "acc_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                        "final_acc_mean": statistics.mean(r["final_test_acc"] for r in mine),
                        "epoch_seconds": statistics.mean(r["epoch_seconds"] for r in mine),
                        "parameters": mine[0]["parameters"], "paper": row.paper})
    return summary


# --- output -------------------------------------------------------------------------------------------------------

def accuracy_markdown(summary: list[dict], value_columns: list[str]) -> str:
    """The summary as a Markdown table: values, accuracy mean ± std (seeds), s/epoch, params, paper."""
    rows = [{**{c: s.get(c) for c in value_columns},
             "best test acc (%)": f"{s['acc_mean']:.2f} ± {s['acc_std']:.2f} ({s['seeds']})",
             "s/epoch": s["epoch_seconds"], "params": s["parameters"], "paper (%)": s["paper"]}
            for s in summary]
    return markdown_table(rows)


def accuracy_figure(summary: list[dict], x_column: str, title: str, group_column: str | None = None):
    """Best test accuracy (mean ± std over seeds) per row; the paper's numbers as open markers."""
    from pmsn.plot.figures import pyplot

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(max(6.0, 0.5 * len(summary) + 3), 4))
    groups = sorted({s.get(group_column) for s in summary}, key=str) if group_column else [None]
    numeric = all(isinstance(s.get(x_column), (int, float)) for s in summary)
    positions = {}
    for group in groups:
        members = [s for s in summary if group is None or s.get(group_column) == group]
        if numeric:
            xs = [s[x_column] for s in members]
        else:
            xs = [positions.setdefault(str(s[x_column]), len(positions)) for s in members]
        label = str(group) if group is not None else "ours"
        axis.errorbar(xs, [s["acc_mean"] for s in members], yerr=[s["acc_std"] for s in members], marker="o",
                      capsize=3, linestyle="-" if numeric else "none", label=f"{label} (ours)")
        papers = [(x, s["paper"]) for x, s in zip(xs, members) if s["paper"] is not None]
        if papers:
            axis.plot(*zip(*papers), marker="s", markerfacecolor="none", linestyle="none",
                      label=f"{label} (paper)")
    if not numeric:
        axis.set_xticks(list(positions.values()), list(positions), rotation=20, ha="right")
    axis.set(xlabel=x_column, ylabel="best test accuracy (%)", title=title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure
