"""Smoke runs of every ablation (one row each, tiny), their outputs, and resuming from the run folders."""

import csv
import json

import pytest
import torch

from pmsn.experiments import Options, run_ablation

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_outputs(out, name):
    meta = json.loads((out / "ablation.json").read_text())
    assert meta["ablation"] == name
    for file in meta["files"]:
        assert (out / file).stat().st_size > 0
    assert (out / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
    with (out / f"{name}_summary.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name, values", [("reset", "PMSN w/o reset (integrator)"), ("global", "global"),
                                          ("psn_order", "2"), ("masked_lambda", "paper (8)"), ("tclif_beta", "IV"),
                                          ("firing_rates", "pmsn"), ("energy_accuracy", "PMSN")])
def test_training_ablations_smoke(tmp_path, name, values):
    result = run_ablation(name, Options(out=tmp_path, smoke=True, values=(values,), say=lambda *a, **k: None))
    summary = _check_outputs(tmp_path, name)
    assert len(summary) == len(result["summary"]) >= 1
    assert all(0.0 <= float(row["acc_mean"]) <= 100.0 for row in summary)
    assert "best test acc" in (tmp_path / f"{name}.md").read_text()


def test_compartments_smoke_and_resume(tmp_path):
    options = Options(out=tmp_path, smoke=True, values=("2", "5"), say=lambda *a, **k: None)
    first = run_ablation("compartments", options)
    summary = _check_outputs(tmp_path, "compartments")
    assert [int(row["compartments"]) for row in summary] == [2, 5]
    assert int(summary[1]["parameters"]) - int(summary[0]["parameters"]) == 2 * 8 * 6 * 3  # 6·(n−1) per channel
    checkpoint = tmp_path / "runs" / "n=5-seed0" / "last.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = run_ablation("compartments", options)  # finished runs are read back, not retrained
    assert checkpoint.stat().st_mtime_ns == stamp
    assert again["summary"] == first["summary"]
    with pytest.raises(ValueError, match="matches none"):
        run_ablation("compartments", Options(out=tmp_path, smoke=True, values=("7",)))


def test_soma_and_gradient_norm_smoke(tmp_path):
    quiet = dict(smoke=True, say=lambda *a, **k: None)
    run_ablation("soma", Options(out=tmp_path / "soma", **quiet))
    summary = _check_outputs(tmp_path / "soma", "soma")
    assert {row["variant"] for row in summary} >= {"PMSN parallel", "PMSN serial soma", "serial MSN (step loop)"}
    assert all(float(row["train_step_s"]) > 0 for row in summary)
    result = run_ablation("gradient_norm", Options(out=tmp_path / "grad", **quiet))
    assert len(result["results"]) == 16
    assert all(round(row["norm_closed_form"], 3) == row["paper_norm_before"] for row in result["results"])
    with pytest.raises(ValueError, match="unknown ablation"):
        run_ablation("dropout", Options(out=tmp_path))


def test_cli_ablate(tmp_path):
    from pmsn.cli import main

    assert main(["ablate", "gradient_norm", "--smoke", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "gradient_norm.md").exists()


def test_set_overrides_merge_between_the_setting_and_the_rows(tmp_path):
    from pmsn.experiments.ablation_base import choose_setting
    from pmsn.experiments.sweep import SMOKE, Row, neuron_overrides, override_strings, resolve

    options = Options(out=tmp_path, smoke=True, overrides=("optim.lr=1e-3", "model.neuron=plif"))
    setting = choose_setting(options, SMOKE)
    assert setting.overrides["optim"] == {"lr": 0.001} and setting.overrides["data"]["limit_train"] == 64
    row = Row("n=3", neuron_overrides("pmsn", compartments=3))
    config, run_dir = resolve(setting, row, 7, tmp_path / "runs")
    assert (config.optim.lr, config.model.neuron, config.seed) == (0.001, "pmsn", 7)  # the row's neuron wins
    assert config.model.options["neuron_kwargs"]["compartments"] == 3 and run_dir.name == "n=3-seed7"
    assert override_strings(setting.overrides)[:2] == ["data.options.resolution=7", "data.limit_train=64"]


class _Planned(Exception):
    """Raised instead of training: carries what the ablation would run."""


def _planned_configs(monkeypatch, tmp_path, name: str, **option_values) -> dict:
    """The resolved config of every (row, first seed) the ablation would train, by row label."""
    from pmsn.experiments import sweep_ablations
    from pmsn.experiments.sweep import resolve

    def plan(setting, rows, runs_dir, **_):
        raise _Planned({row.label: resolve(setting, row, setting.seeds[0], runs_dir)[0] for row in rows})

    monkeypatch.setattr(sweep_ablations, "run_sweep", plan)
    with pytest.raises(_Planned) as planned:
        run_ablation(name, Options(out=tmp_path, say=lambda *a, **k: None, **option_values))
    return planned.value.args[0]


def test_psn_family_and_lif_rows_train_with_the_psn_recipe(monkeypatch, tmp_path):
    from pmsn.train.optim import mask_lambda

    orders = _planned_configs(monkeypatch, tmp_path, "psn_order", values=("3",))
    masked, sliding = orders["masked_psn k=3"], orders["sliding_psn k=3"]
    assert (masked.optim.name, masked.optim.lr, masked.epochs, masked.batch_size) == ("sgd", 0.1, 256, 128)
    assert (sliding.optim.name, sliding.optim.lr, sliding.epochs) == ("adamw", 1e-3, 256)
    # progressive masking reaches λ = 1 at epoch 32 of 256 (docs/training.md §5), not at 25 of 200
    assert mask_lambda(31, masked.epochs, masked.mask_speed) < 1.0 == mask_lambda(32, masked.epochs, masked.mask_speed)
    schedule = _planned_configs(monkeypatch, tmp_path, "masked_lambda")["speed paper (8)"]
    assert (schedule.optim.name, schedule.epochs) == ("sgd", 256)

    reset = _planned_configs(monkeypatch, tmp_path, "reset")
    assert (reset["LIF (soft reset)"].optim.name, reset["LIF (soft reset)"].epochs) == ("sgd", 256)
    assert (reset["LIF w/o reset"].optim.name, reset["LIF w/o reset"].epochs) == ("sgd", 256)
    pmsn = reset["PMSN"]
    assert (pmsn.optim.name, pmsn.epochs) == ("adamw", 200)  # PMSN rows keep the PMSN recipe
    # the caller's --epochs wins over the recipe; a chosen task drops the recipe
    assert _planned_configs(monkeypatch, tmp_path, "reset", epochs=3)["LIF w/o reset"].epochs == 3
    assert _planned_configs(monkeypatch, tmp_path, "reset", task="smnist5k")["LIF w/o reset"].optim.name != "sgd"


def test_energy_accuracy_scales_each_family(tmp_path):
    result = run_ablation("energy_accuracy", Options(out=tmp_path, smoke=True, values=("LIF", "sliding PSN"),
                                                     say=lambda *a, **k: None))
    summary = {line["label"]: line for line in result["summary"]}
    assert sorted(summary) == ["LIF width x1", "LIF width x2", "sliding PSN order=1", "sliding PSN order=2"]
    assert summary["LIF width x2"]["parameters"] > summary["LIF width x1"]["parameters"]
    assert summary["sliding PSN order=2"]["parameters"] == summary["sliding PSN order=1"]["parameters"] + 2  # +1 per layer
    assert all(line["energy_nj_per_sample"] > 0 for line in summary.values())
    assert (tmp_path / "energy_accuracy.png").read_bytes().startswith(b"\x89PNG")


def test_gradient_map_is_the_normalised_input_gradient():
    from pmsn.experiments.gradient_maps import gradient_map
    from pmsn.models import build_model

    torch.manual_seed(0)
    model = build_model("tclif_ff", neuron="lif", preset="smnist_large", num_classes=3, hidden=[4, 5, 6],
                        input_size=2, T=7)
    inputs, targets = torch.rand(3, 7, 2) * 3, torch.tensor([0, 1, 2])
    grid = gradient_map(model, inputs, targets)
    assert grid.shape == (4 + 5 + 6, 7)
    rows = grid[grid.amax(1) > 0]
    assert torch.allclose(rows.amax(1), torch.ones(len(rows)))  # every non-silent neuron peaks at 1
    # the first layer's rows are |∂L/∂I| of its input current I = W x: check one against autograd directly
    first = next(m for m in model.modules() if type(m).__name__ == "LIF")
    captured = {}
    handle = first.register_forward_pre_hook(lambda module, args: captured.setdefault("x", args[0]).retain_grad())
    torch.nn.functional.cross_entropy(model(inputs), targets).backward()
    handle.remove()
    expected = captured["x"].grad.abs().mean(1).T
    expected = expected / expected.amax(1, keepdim=True).clamp_min(1e-38)
    assert torch.allclose(grid[:4], expected)


def test_gradient_maps_smoke(tmp_path):
    result = run_ablation("gradient_maps", Options(out=tmp_path, smoke=True, say=lambda *a, **k: None))
    assert [row["network"] for row in result["results"]] == ["LIF", "ALIF", "TC-LIF"]
    assert (tmp_path / "gradient_maps.png").read_bytes().startswith(b"\x89PNG")
    again = run_ablation("gradient_maps", Options(out=tmp_path / "again", smoke=True, say=lambda *a, **k: None,
                                                  checkpoints=(str(tmp_path / "runs" / "LIF-seed0"),)))
    assert [row["network"] for row in again["results"]] == ["LIF-seed0"]
