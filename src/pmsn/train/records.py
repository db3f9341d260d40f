"""What a run leaves in its folder besides checkpoints: metrics CSVs, learning-curve PNG, TensorBoard events.

``metrics.csv`` (one row per epoch) and ``curves.png`` are rewritten atomically from the full history after each
epoch, so they always agree with ``last.pt``; ``steps.csv`` (every ``log_every`` optimiser steps) is appended.
TensorBoard events are written only when the ``tensorboard`` package is importable.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pmsn.io import atomic_write_bytes, atomic_write_text
from pmsn.tables import csv_text

# valid_* are empty without data.valid_fraction; chosen_epoch = the epoch best.pt holds so far (docs/training.md
# §1.1); epoch_seconds, train_samples_per_s and peak_memory_mib cover the training pass (docs/training.md §1.5).
EPOCH_FIELDS = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc", "best_test_acc",
                "chosen_epoch", "lr", "epoch_seconds", "train_samples_per_s", "peak_memory_mib", "memory_method",
                "wall_seconds")
STEP_FIELDS = ("step", "epoch", "loss", "acc", "lr", "samples_per_s")


class RunRecords:
    """Rank-0 writer of the run folder's metric files."""

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.steps_path = self.run_dir / "steps.csv"
        kept = []
        if resume_step is not None and self.steps_path.exists():  # keep the rows logged up to the checkpoint
            with self.steps_path.open() as handle:
                kept = [row for row in csv.DictReader(handle) if int(row["step"]) <= resume_step]
        atomic_write_text(self.steps_path, csv_text(kept, STEP_FIELDS))
        self.tensorboard = _tensorboard_writer(self.run_dir)

    def step(self, row: dict) -> None:
        with self.steps_path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=STEP_FIELDS, extrasaction="ignore", lineterminator="\n").writerow(row)
        if self.tensorboard is not None:
            for key in ("loss", "acc", "lr"):
                self.tensorboard.add_scalar(f"step/{key}", row[key], row["step"])

    def epoch(self, history: list[dict]) -> None:
        atomic_write_text(self.run_dir / "metrics.csv", csv_text(history, EPOCH_FIELDS))
        plot_curves(history, self.run_dir / "curves.png")
        if self.tensorboard is not None:
            row = history[-1]
            for key in ("train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc", "lr"):
                if row.get(key) is not None:
                    self.tensorboard.add_scalar(f"epoch/{key}", row[key], row["epoch"])
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _tensorboard_writer(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def plot_curves(history: list[dict], path: Path) -> bool:
    """Loss and accuracy vs epoch (train, valid when held out, test) as a PNG; the epoch best.pt holds is marked
    on the accuracy panel. Returns False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        return False
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for split, style in (("train", "-"), ("valid", ":"), ("test", "--")):
        if any(row.get(f"{split}_acc") is None for row in history):  # old histories and runs without valid
            continue
        loss_axis.plot(epochs, [row[f"{split}_loss"] for row in history], style, marker="o", label=split)
        acc_axis.plot(epochs, [row[f"{split}_acc"] for row in history], style, marker="o", label=split)
    chosen = history[-1].get("chosen_epoch") if history else None
    if chosen:
        acc_axis.axvline(chosen, color="grey", linewidth=1, label=f"best.pt (epoch {chosen})")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_axis.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for axis in (loss_axis, acc_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return True
