"""The papers' speed-ratio figures: shapes of the grid, the ratio arithmetic, the serial loop, files written."""

from __future__ import annotations

import csv

import pytest
import torch

from pmsn.bench.candidates import SerialLoop, candidates
from pmsn.bench.speedup import batch_and_channels, measure, plot_pmsn_fig5, speedup_rows
from pmsn.bench.timing import Cell
from pmsn.cli import main
from pmsn.neurons import PMSN


def test_neurons_split_into_batch_and_channels():
    assert batch_and_channels(2 ** 16) == (256, 256)
    assert batch_and_channels(100) == (1, 100)
    with pytest.raises(ValueError, match="multiple of 256"):
        batch_and_channels(300)


def test_ratios_are_other_over_target_per_T():
    known = candidates()
    cells = [Cell(known["psn"], 4, train_s=[0.002, 0.004, 0.003], infer_s=[0.001]),
             Cell(known["lif"], 4, train_s=[0.009], infer_s=[0.0005, 0.0005]),
             Cell(known["psn"], 8, train_s=[0.01], infer_s=[0.01]),
             Cell(known["lif"], 8, status="skipped: too slow")]
    rows = {row["T"]: row for row in speedup_rows(cells, "psn", neurons=64)}
    assert rows[4]["train_ratio"] == pytest.approx(3.0) and rows[4]["infer_ratio"] == pytest.approx(0.5)
    assert rows[8]["train_ratio"] is None and rows[8]["other"] == "lif" and rows[8]["neurons"] == 64


def test_the_serial_candidate_is_the_step_loop():
    torch.manual_seed(0)
    neuron = PMSN(channels=3)
    x = torch.randn(20, 2, 3) * 2
    assert torch.equal(SerialLoop(neuron)(x), neuron(x))
    assert "pmsn_serial" in candidates() and not candidates()["pmsn_serial"].by_default


def test_pmsn_fig5_measures_every_reference(tmp_path):
    rows = measure("pmsn_fig5", steps=(4,), sizes=(8,), repeats=1, threads=1, device="cpu", log=lambda _: None)
    assert sorted(row["other"] for row in rows) == ["lif", "pmsn_serial", "psn", "sliding_psn"]
    assert all(row["train_ratio"] > 0 and row["infer_ratio"] > 0 for row in rows)
    png, svg = plot_pmsn_fig5(rows, tmp_path / "fig5", "test")
    assert png.read_bytes().startswith(b"\x89PNG") and "speed-up of PMSN" in svg.read_text()


def test_psn_fig3_command_writes_the_grid(tmp_path):
    assert main(["bench", "speedup", "psn_fig3", "--smoke", "--repeats", "1", "--malloc-env", "ignore",
                 "--out", str(tmp_path)]) == 0
    with (tmp_path / "psn_fig3.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((int(row["neurons"]), int(row["T"])) for row in rows) == [(16, 2), (16, 4), (64, 2), (64, 4)]
    assert "t_LIF / t_PSN" in (tmp_path / "psn_fig3.svg").read_text()
    assert main(["bench", "speedup", "psn_fig3", "--neurons", "300", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_pmsn_fig5_command_writes_the_figure(tmp_path):
    assert main(["bench", "speedup", "pmsn_fig5", "--smoke", "--repeats", "1", "--malloc-env", "ignore",
                 "--out", str(tmp_path)]) == 0
    with (tmp_path / "pmsn_fig5.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    # the smoke grid: N = 16 at T = 8 and 16, PMSN against its serial loop, LIF, PSN and sliding PSN at each T
    assert sorted((int(row["neurons"]), int(row["T"]), row["other"]) for row in rows) == [
        (16, steps, other) for steps in (8, 16) for other in sorted(("pmsn_serial", "lif", "psn", "sliding_psn"))]
    assert all(row["target"] == "pmsn" and float(row["train_ratio"]) > 0 and float(row["infer_ratio"]) > 0
               for row in rows)
    for row in rows:  # a ratio is the other neuron's time over PMSN's, from the same row's milliseconds
        assert float(row["train_ratio"]) == pytest.approx(
            float(row[f"train_{row['other']}_ms"]) / float(row["train_pmsn_ms"]))
    assert (tmp_path / "pmsn_fig5.png").read_bytes().startswith(b"\x89PNG")
    assert "speed-up of PMSN" in (tmp_path / "pmsn_fig5.svg").read_text()
