"""``pmsn report RUN_DIR``: one Markdown report from a tree of run folders, ablations, energy tables and figures.

Found by walking RUN_DIR:
* training runs — folders with ``metrics.csv`` and ``config.yaml`` (``pmsn train``): task, model, neuron, epochs,
  best / final test accuracy, s/epoch, next to the paper's accuracy for that task × model × neuron (experiments.md §4);
* ablations — folders with ``ablation.json`` (``pmsn ablate``): their Markdown table and PNG;
* energy tables — ``energy.md`` (``pmsn bench energy --out``);
* other figures — PNG files not yet shown (e.g. ``pmsn plot dynamics``).
The papers' speed, memory and energy numbers close the report.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime
from pathlib import Path

import yaml

from pmsn.bench.energy import table2_markdown
from pmsn.io import atomic_write_text

# (task, model, neuron) → (paper best test accuracy %, source); experiments.md §4
PAPER_ACCURACY = {
    ("smnist", "pmsn_smnist", "pmsn"): (99.40, "PMSN Table I, 66.3k (99.53 at 156.4k)"),
    ("psmnist", "pmsn_smnist", "pmsn"): (97.16, "PMSN Table I, 66.3k (97.78 at 156.4k)"),
    ("smnist", "pmsn_smnist", "sliding_psn"): (97.20, "PMSN Table I, SPSN*"),
    ("smnist", "pmsn_smnist", "masked_psn"): (97.76, "PMSN Table I, masked PSN*"),
    ("smnist", "pmsn_smnist", "psn"): (97.90, "PMSN Table I, PSN*"),
    ("shd", "pmsn_shd", "pmsn"): (94.25, "PMSN Table I, 120.3k (95.10 at 199.3k)"),
    ("shd", "pmsn_shd", "sliding_psn"): (82.51, "PMSN Table I, SPSN*"),
    ("shd", "pmsn_shd", "masked_psn"): (86.00, "PMSN Table I, masked PSN*"),
    ("shd", "pmsn_shd", "psn"): (89.75, "PMSN Table I, PSN*"),
    ("scifar10", "scifar_column", "pmsn"): (90.97, "PMSN Table II"),
    ("scifar10", "scifar_column", "psn"): (88.45, "PSN Table 1"),
    ("scifar10", "scifar_column", "masked_psn"): (85.81, "PSN Table 1, k = 32"),
    ("scifar10", "scifar_column", "sliding_psn"): (86.70, "PSN Table 1, k = 32"),
    ("scifar10", "scifar_column", "plif"): (83.49, "PSN Table 1"),
    ("scifar10", "scifar_column", "lif"): (81.50, "PSN Table 1"),
    ("scifar100", "scifar_column", "pmsn"): (66.08, "PMSN Table II"),
    ("scifar100", "scifar_column", "psn"): (62.21, "PSN Table 1"),
    ("scifar100", "scifar_column", "masked_psn"): (60.69, "PSN Table 1, k = 32"),
    ("scifar100", "scifar_column", "sliding_psn"): (62.11, "PSN Table 1, k = 32"),
    ("scifar100", "scifar_column", "plif"): (57.55, "PSN Table 1"),
    ("scifar100", "scifar_column", "lif"): (55.45, "PSN Table 1"),
    ("scifar10_pixel", "pmsn_scifar_pixel", "pmsn"): (82.14, "PMSN Table II"),
    ("scifar10_pixel", "pmsn_scifar_pixel", "psn"): (55.24, "PMSN Table II"),
    ("scifar10_pixel", "pmsn_scifar_pixel", "masked_psn"): (57.83, "PMSN Table II"),
    ("scifar10_pixel", "pmsn_scifar_pixel", "sliding_psn"): (70.23, "PMSN Table II"),
    ("scifar10_pixel", "pmsn_scifar_pixel", "lif"): (45.07, "PMSN Table II"),
    ("smnist", "tclif_ff", "tclif"): (97.35, "TC-LIF Table 1, FF large (96.46 small)"),
    ("smnist", "tclif_rec", "tclif"): (99.20, "TC-LIF Table 1, Rec large (98.79 small)"),
    ("smnist", "tclif_ff", "lif"): (72.06, "TC-LIF Table 1, LIF* FF large"),
    ("smnist", "tclif_rec", "lif"): (89.28, "TC-LIF Table 1, LIF* Rec large"),
    ("smnist", "tclif_ff", "plif"): (87.92, "TC-LIF Table 1, PLIF* FF large"),
    ("psmnist", "tclif_ff", "tclif"): (83.98, "TC-LIF Table 1, FF large"),
    ("psmnist", "tclif_rec", "tclif"): (95.36, "TC-LIF Table 1, Rec large"),
    ("gsc", "tclif_ff", "tclif"): (91.35, "TC-LIF Table 1"),
    ("gsc", "tclif_rec", "tclif"): (94.84, "TC-LIF Table 1"),
    ("shd", "tclif_ff", "tclif"): (83.08, "TC-LIF Table 1"),
    ("shd", "tclif_rec", "tclif"): (88.91, "TC-LIF Table 1"),
    ("ssc", "tclif_ff", "tclif"): (63.46, "TC-LIF Table 1"),
    ("ssc", "tclif_rec", "tclif"): (61.09, "TC-LIF Table 1"),
    ("imagenet", "sew_resnet18", "pmsn"): (66.64, "PMSN Table III (local input)"),
    ("imagenet", "sew_resnet34", "pmsn"): (68.45, "PMSN Table III (local input)"),
    ("imagenet", "sew_resnet18", "psn"): (67.63, "PSN Table 2"),
    ("imagenet", "sew_resnet34", "psn"): (70.54, "PSN Table 2"),
}

PAPER_COST = """| | S-MNIST (T = 784) | sCIFAR-10 T = 32 | sCIFAR-10 T = 1024 |
|---|---|---|---|
| PMSN s/epoch | 35.32 | 73.21 | 61.76 |
| PSN s/epoch | 21.18 | 49.02 | 34.06 |
| PMSN peak memory (GB) | 1.44 | 3.14 | 9.40 |
| PSN peak memory (GB) | 0.61 | 1.76 | 9.08 |
| PMSN accuracy (%) | 99.40 | 90.97 | 82.14 |
| PSN accuracy (%) | 97.90 | 88.45 | 55.24 |
"""


def find_runs(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.rglob("metrics.csv") if (path.parent / "config.yaml").exists())


def run_summary(run_dir: Path, root: Path) -> dict:
    """One row of the runs table from a run folder's ``config.yaml`` and ``metrics.csv``."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    with (run_dir / "metrics.csv").open() as handle:
        history = list(csv.DictReader(handle))
    model, data = config.get("model", {}), config.get("data", {})
    task = config.get("preset") or config.get("task") or data.get("task", "?")
    key = (data.get("task", task), model.get("name"), model.get("neuron"))
    paper = PAPER_ACCURACY.get(key)
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
             "the best test accuracy over epochs (the papers' metric). Paper numbers are full-size GPU runs; rows "
             "on other tasks (e.g. the embedded 5k-digit S-MNIST) have no paper counterpart.\n"]

    runs = [run_summary(run_dir, root) for run_dir in find_runs(root)]
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

    parts.append("## Paper reference: speed and memory (PMSN Table VII, RTX 3090)\n\n" + PAPER_COST)
    return "\n".join(parts)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"pmsn report expects a folder of runs / ablations, got {str(root)!r}")
    report_path = Path(out) if out is not None else root / "report.md"
    atomic_write_text(report_path, build_report(root.resolve(), report_path.resolve()))
    return report_path
