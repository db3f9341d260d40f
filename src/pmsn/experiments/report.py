"""``pmsn report RUN_DIR``: one Markdown report from a tree of run folders, ablations, energy tables and figures.

First the papers' tables in their layouts, our runs matched to their rows by config (``pmsn.experiments.paper_tables``,
docs/tasks.md §6). Then what is found by walking RUN_DIR:
* training runs — folders with ``metrics.csv`` and ``config.yaml`` (``pmsn train``): task, model, neuron, epochs,
  best / final test accuracy, s/epoch, next to the paper's accuracy for that task × model × neuron
  (docs/tasks.md §4);
* ablations — folders with ``ablation.json`` (``pmsn ablate``): their Markdown table and PNG;
* energy tables — ``energy.md`` (``pmsn bench energy --out``);
* other figures — PNG files not yet shown (e.g. ``pmsn plot dynamics``).
"""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime
from pathlib import Path

import yaml

from pmsn.bench.energy_model import table2_markdown
from pmsn.experiments.paper_tables import paper_tables_markdown, read_run
from pmsn import papers
from pmsn.io import atomic_write_text


def find_runs(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.rglob("metrics.csv") if (path.parent / "config.yaml").exists())


# Settings under which a run has no neuronal reset: PMSN's reset-free somas, a LIF-family neuron with reset "none"
NO_RESET_SOMAS = ("no_reset", "memoryless")


def paper_key(config: dict) -> tuple:
    """The ``papers.accuracy()`` key (task, model, neuron) of a run's config (docs/tasks.md §4): pixel-by-pixel
    sCIFAR (``data.options.mode: pixel``) is the task ``<task>_pixel``; a run without neuronal reset is the
    neuron ``<neuron>_no_reset`` (the w/o-reset columns of PMSN Table II and PSN Table 1)."""
    model, data = config.get("model") or {}, config.get("data") or {}
    task = data.get("task") or config.get("preset") or config.get("task")
    if (data.get("options") or {}).get("mode") == "pixel":
        task = f"{task}_pixel"
    neuron = model.get("neuron")
    neuron_kwargs = (model.get("options") or {}).get("neuron_kwargs") or {}
    if neuron_kwargs.get("soma_mode") in NO_RESET_SOMAS or neuron_kwargs.get("reset") == "none":
        neuron = f"{neuron}_no_reset"
    return task, model.get("name"), neuron


def run_summary(run_dir: Path, root: Path) -> dict:
    """One row of the runs table from a run folder's ``config.yaml`` and ``metrics.csv``."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    with (run_dir / "metrics.csv").open() as handle:
        history = list(csv.DictReader(handle))
    model, data = config.get("model", {}), config.get("data", {})
    task = config.get("preset") or config.get("task") or data.get("task", "?")
    paper = papers.accuracy().get(paper_key(config))
    best = max((float(row["test_acc"]) for row in history), default=float("nan"))
    seconds = [float(row["epoch_seconds"]) for row in history if row.get("epoch_seconds")]
    options = ", ".join(f"{k}={v}" for k, v in sorted((model.get("options") or {}).items()))
    return {"run": str(run_dir.relative_to(root)) or ".", "task": task, "model": model.get("name"),
            "neuron": model.get("neuron"), "options": options,
            "epochs": f"{len(history)}/{config.get('epochs', '?')}", "best": best,
            "final": float(history[-1]["test_acc"]) if history else float("nan"),
            "s_per_epoch": sum(seconds) / len(seconds) if seconds else float("nan"),
            "paper": paper}


def _runs_table(rows: list[dict]) -> str:
    lines = ["| run | task | model | neuron | options | epochs | best test acc (%) | final (%) | s/epoch | "
             "paper (%) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        paper = f"{row['paper'][0]:.2f} ({row['paper'][1]})" if row["paper"] else "–"
        lines.append(f"| {row['run']} | {row['task']} | {row['model']} | {row['neuron']} | {row['options']} | "
                     f"{row['epochs']} | {row['best']:.2f} | {row['final']:.2f} | {row['s_per_epoch']:.1f} | "
                     f"{paper} |")
    return "\n".join(lines) + "\n"


def _demote(markdown: str) -> str:
    """Headings one level down, so an included document nests under the report's sections."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines()) + "\n"


def _image(path: Path, report_dir: Path) -> str:
    return f"![{path.stem}]({Path(os.path.relpath(path, report_dir)).as_posix()})\n"


def build_report(root: Path, report_path: Path) -> str:
    """The report's Markdown text (image links relative to ``report_path``)."""
    report_dir = report_path.parent
    shown: set[Path] = set()
    parts = [f"# pmsn report: {root}\n", f"Generated {datetime.now():%Y-%m-%d %H:%M} by `pmsn report`. Accuracy is "
             "the best test accuracy over epochs, selected on the test set as the papers' code does; runs that held out "
             "a validation split (data.valid_fraction) also show, under \"chosen on valid\", the test accuracy of the "
             "epoch chosen on it, the honest number (docs/training.md §1.1). Paper numbers are full-size GPU runs; rows on other tasks (e.g. the embedded 5k-digit S-MNIST) "
             "have no paper counterpart.\n"]

    run_dirs = find_runs(root)
    parts.append("## Paper tables\n\n" + paper_tables_markdown([read_run(run_dir, root) for run_dir in run_dirs]))
    runs = [run_summary(run_dir, root) for run_dir in run_dirs]
    ablation_dirs = sorted(path.parent for path in root.rglob("ablation.json"))
    standalone = [r for r in runs if not any((root / r["run"]).is_relative_to(a) for a in ablation_dirs)]
    parts.append("## Training runs\n")
    parts.append(_runs_table(standalone) if standalone else "No standalone training runs found.\n")
    for row in standalone:
        curves = root / row["run"] / "curves.png"
        if curves.exists():
            shown.add(curves)
    if standalone:
        parts.append("Learning curves: " + ", ".join(
            f"[{row['run']}]({Path(os.path.relpath(root / row['run'] / 'curves.png', report_dir)).as_posix()})"
            for row in standalone if (root / row["run"] / "curves.png").exists()) + "\n")

    parts.append("## Ablations\n")
    if not ablation_dirs:
        parts.append("No ablation outputs found.\n")
    for folder in ablation_dirs:
        meta = json.loads((folder / "ablation.json").read_text())
        name = meta.get("ablation", folder.name)
        markdown = folder / f"{name}.md"
        parts.append(_demote(_demote(markdown.read_text())) if markdown.exists() else f"### {name}\n")
        for png in sorted(folder.glob("*.png")):
            parts.append(_image(png, report_dir))
            shown.add(png)
        for run in (r for r in runs if (root / r["run"]).is_relative_to(folder)):
            shown.update((root / run["run"]).glob("*.png"))

    parts.append("## Energy\n")
    energy_files = sorted(root.rglob("energy.md"))
    for path in energy_files:
        parts.append(f"### {path.parent.relative_to(root) or '.'}\n\n{_demote(_demote(path.read_text()))}")
    parts.append(("" if energy_files else "No measured energy tables found.\n") +
                 "\nTC-LIF Table 2 recomputed from its published firing rates (0.9 pJ/AC, 4.6 pJ/MAC, per step "
                 "per sample):\n\n" + table2_markdown())

    figures = [path for path in sorted(root.rglob("*.png")) if path not in shown]
    parts.append("## Figures\n")
    parts.extend(_image(path, report_dir) for path in figures)
    if not figures:
        parts.append("No further figures.\n")
    return "\n".join(parts)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"pmsn report expects a folder of runs / ablations, got {str(root)!r}")
    report_path = Path(out) if out is not None else root / "report.md"
    atomic_write_text(report_path, build_report(root.resolve(), report_path.resolve()))
    return report_path
