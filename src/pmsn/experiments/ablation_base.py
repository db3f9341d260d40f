"""What every ablation runner shares: the caller's ``Options``, the setting to run, row selection and outputs.

Below the runners (``sweep_ablations``, ``soma_timing``, ``gradient_ablation``), which the registry
``pmsn.experiments.ablations`` collects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from pmsn.experiments.sweep import SMOKE, SMOKE_OVERRIDES, Row, Setting
from pmsn.train.config import deep_merge, parse_override
from pmsn.io import atomic_write_text
from pmsn.plot.figures import save_figure
from pmsn.tables import write_csv


@dataclass
class Options:
    """What the caller chose (``pmsn ablate`` flags); None = the ablation's own (paper or smoke) value."""

    out: Path
    smoke: bool = False
    task: str | None = None
    epochs: int | None = None
    seeds: tuple[int, ...] | None = None
    values: tuple[str, ...] | None = None  # subset of the sweep values (as written in the labels' values)
    overrides: tuple[str, ...] = ()
    quiet: bool = True
    lengths: tuple[int, ...] | None = None  # soma timing: T values
    batch: int | None = None  # soma / gradient: batch size
    channels: int | None = None  # soma timing: neurons per layer
    repeats: int | None = None
    train: bool = False  # gradient_norm: also train the 16 Table 7 inits
    checkpoints: tuple[str, ...] = ()  # loss_landscape: trained networks (checkpoints or run folders)
    pretrained: bool = False  # loss_landscape: the shipped PMSN network
    span: float | None = None  # loss_landscape: grid over [-span, span]²
    resolution: int | None = None  # loss_landscape: grid points per axis
    samples: int | None = None  # loss_landscape: training samples the loss is measured on
    say: Callable = print


def choose_setting(options: Options, paper: Setting, smoke: Setting = SMOKE, keep_model: bool = False) -> Setting:
    """The setting to run: smoke, the paper's, or the caller's task (keeping the model if ``keep_model``); the
    caller's ``--set`` overrides merged over the setting's (a row's own overrides still come last)."""
    setting = smoke if options.smoke else paper
    if options.task is not None and not options.smoke:
        setting = Setting(options.task, {}, paper.epochs, paper.seeds, f"task {options.task} (chosen)",
                          paper.model if keep_model else None)
    overrides = setting.overrides
    for text in options.overrides:
        overrides = deep_merge(overrides, parse_override(text))
    return replace(setting, epochs=options.epochs or setting.epochs, seeds=options.seeds or setting.seeds,
                   overrides=overrides)


def select_rows(rows: list[Row], options: Options, key: str) -> list[Row]:
    if options.values is None:
        return rows
    chosen = [row for row in rows if str(row.values.get(key)) in options.values or row.label in options.values]
    if not chosen:
        raise ValueError(f"--values {list(options.values)} matches none of {[str(r.values.get(key)) for r in rows]}")
    return chosen


def write_outputs(options: Options, name: str, results: list[dict], summary: list[dict], markdown: str,
           figure, meta: dict, formats=("png",)) -> dict:
    out = Path(options.out)
    write_csv(out / f"{name}.csv", results)
    write_csv(out / f"{name}_summary.csv", summary)
    atomic_write_text(out / f"{name}.md", markdown)
    figures = [str(p) for p in save_figure(figure, out / name, formats)] if figure is not None else []
    meta = {"ablation": name, **meta, "files": [f"{name}.csv", f"{name}_summary.csv", f"{name}.md"] +
            [Path(f).name for f in figures]}
    atomic_write_text(out / "ablation.json", json.dumps(meta, indent=2, default=str))
    options.say(f"wrote {out / (name + '.md')}")
    return {"results": results, "summary": summary, "markdown": markdown, "meta": meta}


# The TC-LIF papers' S-MNIST training (Adam 5e-4, no weight decay, steps at epochs 60 and 80, batch 128), and its
# smoke version, for a TC-LIF ``model`` section (tclif_beta, gradient_norm --train).
TCLIF_SMNIST_OVERRIDES = {"optim": {"name": "adam", "lr": 5e-4, "weight_decay": 0, "neuron_groups": "none"},
                          "schedule": {"name": "multistep", "milestones": [60, 80]}, "batch_size": 128}


def tclif_smnist_settings(model: dict, paper_description: str, smoke_description: str) -> tuple[Setting, Setting]:
    """(paper, smoke) settings of a TC-LIF S-MNIST sweep; the smoke net has hidden layers of 8."""
    paper = Setting("smnist", TCLIF_SMNIST_OVERRIDES, 200, (0,), paper_description, model)
    smoke = Setting("smnist5k", deep_merge(SMOKE_OVERRIDES, {"optim": {"neuron_groups": "none"}}), 1, (0,),
                    smoke_description, {**model, "options": {**model["options"], "hidden": [8, 8, 8]}})
    return paper, smoke


__all__ = ["Options", "choose_setting", "select_rows", "write_outputs", "tclif_smnist_settings",
           "TCLIF_SMNIST_OVERRIDES"]
