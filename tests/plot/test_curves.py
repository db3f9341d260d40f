"""Learning-curve overlays: run folders are read, grouped over seeds, smoothed and drawn; bad input is one line."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmsn.cli import main
from pmsn.plot.curves import group_runs, mean_and_std, moving_average, plot_curves, read_run
from pmsn.tables import csv_text
from pmsn.train.config import config_to_dict, resolve_config, save_yaml
from pmsn.train.loop import train
from pmsn.train.records import EPOCH_FIELDS


def fake_run(folder, neuron: str, seed: int, accuracies: list[float]):
    """A run folder in pmsn train's format: config.yaml from a resolved config, metrics.csv from its writer."""
    folder.mkdir(parents=True)
    config = resolve_config(overrides=[f"model.neuron={neuron}", f"seed={seed}", f"name={folder.name}"])
    save_yaml(config_to_dict(config), folder / "config.yaml")
    rows = [{field: 0.0 for field in EPOCH_FIELDS} | {"epoch": epoch, "test_acc": acc}
            for epoch, acc in enumerate(accuracies, start=1)]
    (folder / "metrics.csv").write_text(csv_text(rows, EPOCH_FIELDS))
    return folder


@pytest.fixture
def runs(tmp_path):
    return [fake_run(tmp_path / "pmsn-a", "pmsn", 1, [50.0, 70.0, 80.0]),
            fake_run(tmp_path / "pmsn-b", "pmsn", 2, [60.0, 80.0, 90.0]),
            fake_run(tmp_path / "lif-a", "lif", 1, [40.0, 45.0])]


def test_seeds_group_and_groups_are_labelled_by_what_differs(runs):
    groups = group_runs([read_run(folder) for folder in runs])
    assert sorted(groups) == ["neuron=lif", "neuron=pmsn (n=2)"]
    assert sorted(run.folder.name for run in groups["neuron=pmsn (n=2)"]) == ["pmsn-a", "pmsn-b"]
    means, stds = mean_and_std([run.history["test_acc"] for run in groups["neuron=pmsn (n=2)"]])
    assert means == [55.0, 75.0, 85.0] and stds == [5.0, 5.0, 5.0]


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40), st.integers(1, 10))
def test_moving_average_is_the_trailing_mean(values, window):
    expected = [np.mean(values[max(0, i - window + 1):i + 1]) for i in range(len(values))]
    assert np.allclose(moving_average(values, window), expected)


def test_mean_and_std_match_numpy_over_unequal_lengths():
    curves = [[1.0, 2.0, 4.0], [3.0, 6.0], [5.0]]
    means, stds = mean_and_std(curves)
    assert means == pytest.approx([3.0, 4.0, 4.0]) and stds == pytest.approx([np.std([1, 3, 5]), 2.0, 0.0])


def test_figure_files_carry_the_labels(runs, tmp_path):
    paths = plot_curves(runs, tmp_path / "fig" / "curves", smooth=2, formats=("png", "svg"))
    assert [path.suffix for path in paths] == [".png", ".svg"]
    assert paths[0].read_bytes().startswith(b"\x89PNG")
    svg = paths[1].read_text()
    assert "neuron=pmsn (n=2)" in svg and "2-epoch moving average" in svg


def test_a_real_run_folder_plots(tmp_path):
    result = train(resolve_config(flags={"device": "cpu"}, overrides=[
        f"out={tmp_path}", "name=real", "epochs=2", "data.limit_train=64", "data.limit_test=32",
        "model.options.width=8"]), quiet=True)
    run = read_run(result.run_dir)
    assert len(run.history["test_acc"]) == 2 and not math.isnan(run.history["train_loss"][1])
    assert main(["plot", "curves", str(result.run_dir), "--metric", "train_loss", "--formats", "png",
                 "--out", str(tmp_path / "loss")]) == 0
    assert (tmp_path / "loss.png").exists()


def test_bad_input_is_one_line(tmp_path, runs, capsys):
    assert main(["plot", "curves", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "metrics.csv" in error and "pmsn train" in error
    (runs[0] / "metrics.csv").write_text("")
    with pytest.raises(ValueError, match="no epoch rows"):
        read_run(runs[0])
    with pytest.raises(ValueError, match="metric must be one of"):
        plot_curves(runs[1:], tmp_path / "x", metric="accuracy")
    assert not list(tmp_path.glob("x.*"))
