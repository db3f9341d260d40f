"""``pmsn train`` under ``torchrun --nproc_per_node=2`` (Gloo on CPU): it completes, rank 0 alone writes the run,
and the test accuracy reduced over the two ranks' shards equals a single-process evaluation of the checkpoint."""

import csv
import os
import subprocess
import sys

import pytest

from pmsn.train import evaluate_checkpoint


def test_torchrun_two_processes(tiny, tmp_path):
    sets = [arg for item in tiny + ["epochs=1", "name=ddp"] for arg in ("--set", item)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "pmsn.cli", "train", *sets, "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    assert completed.stdout.count("done: chosen on validation") == 1  # only rank 0 logs
    assert "x 2 ranks" in completed.stdout
    run = tmp_path / "runs" / "ddp"
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file()
    (row,) = list(csv.DictReader((run / "metrics.csv").open()))
    evaluated = evaluate_checkpoint(run / "last.pt")
    assert evaluated["samples"] == 64
    assert float(row["test_acc"]) == pytest.approx(evaluated["accuracy"], abs=1e-3)
