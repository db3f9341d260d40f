"""Smoke runs of every ablation (every smoke row, tiny), their outputs, the papers' settings they plan, and
resuming from the run folders."""

import csv
import json

import pytest
import torch

from pmsn.experiments import Options, run_ablation
from pmsn.experiments.sweep import slug

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_outputs(out, name):
    meta = json.loads((out / "ablation.json").read_text())
    assert meta["ablation"] == name
    for file in meta["files"]:
        assert (out / file).stat().st_size > 0
    assert (out / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
    with (out / f"{name}_summary.csv").open() as handle:
        return list(csv.DictReader(handle))


# every smoke row of each training ablation (``energy_accuracy``: test_energy_accuracy_runs_every_family)
SMOKE_ROWS = {
    "reset": ["PMSN", "PMSN w/o reset (integrator)", "PMSN w/o reset (memoryless)", "LIF (soft reset)",
              "LIF w/o reset"],
    "clamp": ["PMSN (clamped, parallel soma)", "PMSN w/o clamp (serial soft reset)"],
    "global": ["local PMSN", "global PMSN (sum)"],
    "psn_order": ["masked_psn k=1", "masked_psn k=2", "sliding_psn k=1", "sliding_psn k=2"],
    "masked_lambda": ["speed paper (8)", "speed none (λ = 1)"],
    "tclif_beta": ["QI b1=+0.5 b2=+0.5", "QII b1=-0.5 b2=+0.5", "QIII b1=-0.5 b2=-0.5", "QIV b1=+0.5 b2=-0.5"],
    "firing_rates": ["pmsn", "lif", "sliding_psn"],
}


@pytest.mark.parametrize("name", sorted(SMOKE_ROWS))
def test_training_ablations_smoke(tmp_path, name):
    result = run_ablation(name, Options(out=tmp_path, smoke=True, say=lambda *a, **k: None))
    summary = _check_outputs(tmp_path, name)
    assert [row["label"] for row in summary] == [line["label"] for line in result["summary"]] == SMOKE_ROWS[name]
    assert all(0.0 <= float(row["acc_mean"]) <= 100.0 for row in summary)
    assert all((tmp_path / "runs" / f"{slug(label)}-seed0" / "best.pt").exists() for label in SMOKE_ROWS[name])
    assert "best test acc" in (tmp_path / f"{name}.md").read_text()
    if name == "clamp":  # the accuracy and s/epoch change of the unclamped soma, the paper's drop beside it
        clamped, unclamped = result["summary"]
        assert (clamped["soma_mode"], unclamped["soma_mode"]) == ("parallel", "serial_soft")
        assert unclamped["acc_change_vs_clamped"] == pytest.approx(unclamped["acc_mean"] - clamped["acc_mean"])
        assert unclamped["seconds_vs_clamped"] > 0 and clamped["acc_change_vs_clamped"] == 0
        markdown = (tmp_path / "clamp.md").read_text()
        assert "Without the clamp: accuracy" in markdown and "−3.98" in markdown and "62 vs 158" in markdown
    if name == "firing_rates":
        assert all(0.0 <= float(row["mean_firing_rate"]) <= 1.0 for row in summary)


def test_firing_rates_psn_fig4b_neurons_smoke(tmp_path):
    from pmsn.train.config import load_yaml

    names = ["psn", "masked_psn", "sliding_psn", "glif", "klif", "plif", "lif", "lif_no_reset"]
    result = run_ablation("firing_rates", Options(out=tmp_path, smoke=True, task="scifar10",
                                                  say=lambda *a, **k: None))
    summary = _check_outputs(tmp_path, "firing_rates")
    assert [row["neuron"] for row in summary] == names
    assert all(float(row["energy_nj_per_sample"]) > 0 for row in summary)
    layers = [row for row in result["results"] if "layer" in row]
    assert sorted({row["neuron"] for row in layers}) == sorted(names)
    assert all(0.0 <= row["firing_rate"] <= 1.0 for row in layers)
    model = {name: load_yaml(tmp_path / "runs" / f"{name}-seed0" / "config.yaml")["model"] for name in names}
    no_reset = model["lif_no_reset"]
    assert no_reset["neuron"] == "lif" and no_reset["options"]["neuron_kwargs"]["reset"] == "none"
    assert model["lif"]["options"]["neuron_kwargs"]["reset"] == "soft"
    assert [model[name]["neuron"] for name in names[:6]] == names[:6]
    assert "PSN Fig. 4b" in (tmp_path / "firing_rates.md").read_text()


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
    assert {row["variant"] for row in summary} >= {"PMSN parallel", "PMSN serial soma", "serial MSN (step loop)",
                                                   "PMSN w/o clamp (serial soft reset)"}
    assert "last-compartment-serial" in (tmp_path / "soma" / "soma.md").read_text()
    assert all(float(row["train_step_s"]) > 0 for row in summary)
    result = run_ablation("gradient_norm", Options(out=tmp_path / "grad", **quiet))
    assert len(result["results"]) == 16
    assert all(round(row["norm_closed_form"], 3) == row["paper_norm_before"] for row in result["results"])
    with pytest.raises(ValueError, match="unknown ablation"):
        run_ablation("dropout", Options(out=tmp_path))


def test_gradient_norm_train_smoke(tmp_path):
    """``pmsn ablate gradient_norm --train`` (TC-LIF Supp. Table 7's training half): the first two inits train,
    and their β after training are read back from the last hidden layer."""
    from pmsn import papers
    from pmsn.experiments.gradients import tclif_gradient_norm

    result = run_ablation("gradient_norm", Options(out=tmp_path, smoke=True, train=True, say=lambda *a, **k: None))
    table7 = papers.tclif_table7_gradient_norm()
    trained = result["results"][16:]
    assert [(row["beta1_init"], row["beta2_init"]) for row in trained] == list(table7)[:2]
    for row in trained:
        init = (row["beta1_init"], row["beta2_init"])
        after = (row["beta1_after"], row["beta2_after"])
        assert -1 < after[0] < 0 < after[1] < 1  # TC-LIF's β stay in their ranges
        assert after != init and max(abs(a - b) for a, b in zip(after, init)) < 0.1  # trained, a little
        assert row["norm_after"] == pytest.approx(tclif_gradient_norm(*after))
        assert row["paper_acc"] == table7[init].accuracy and 0 <= row["best_test_acc"] <= 100
        assert (tmp_path / "runs" / f"b1={init[0]}_b2={init[1]}-seed0" / "last.pt").exists()
    assert result["meta"]["trained"] is True
    assert "Trained (β after training" in (tmp_path / "gradient_norm.md").read_text()
    with (tmp_path / "gradient_norm.csv").open() as handle:
        assert sum(1 for row in csv.DictReader(handle) if row["beta1_after"]) == 2


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


def test_energy_accuracy_runs_every_family(tmp_path):
    result = run_ablation("energy_accuracy", Options(out=tmp_path, smoke=True, say=lambda *a, **k: None))
    _check_outputs(tmp_path, "energy_accuracy")
    summary = {line["label"]: line for line in result["summary"]}
    assert list(summary) == ["PMSN compartments=2", "PMSN compartments=3", "masked PSN order=1", "masked PSN order=2",
                             "sliding PSN order=1", "sliding PSN order=2", "LIF width x1", "LIF width x2"]
    assert summary["LIF width x2"]["parameters"] > summary["LIF width x1"]["parameters"]
    assert summary["PMSN compartments=3"]["parameters"] == summary["PMSN compartments=2"]["parameters"] + 2 * 8 * 6
    # sliding PSN: one weight more per layer and order
    assert summary["sliding PSN order=2"]["parameters"] == summary["sliding PSN order=1"]["parameters"] + 2
    # the masked PSN's order is its mask (a buffer): the same T × T weights whatever k
    assert summary["masked PSN order=2"]["parameters"] == summary["masked PSN order=1"]["parameters"]
    assert all(line["energy_nj_per_sample"] > 0 and 0 <= line["mean_firing_rate"] <= 1 for line in summary.values())


def test_clamp_and_psn_fig4b_plan_the_papers_settings(monkeypatch, tmp_path):
    from pmsn.experiments import sweep_ablations

    papers_of = {}

    def plan(setting, rows, runs_dir, **_):
        papers_of.update({row.label: row.paper for row in rows})
        raise _Planned(setting)

    monkeypatch.setattr(sweep_ablations, "run_sweep", plan)
    for task, expected in ((None, (90.97, 86.99)), ("scifar100", (66.08, 61.58))):
        papers_of.clear()
        with pytest.raises(_Planned) as planned:
            run_ablation("clamp", Options(out=tmp_path, task=task, say=lambda *a, **k: None))
        assert planned.value.args[0].task == (task or "scifar10")
        assert tuple(papers_of.values()) == expected  # PMSN §VII-F2: −3.98 / −4.5 points without the clamp
    configs = _planned_configs(monkeypatch, tmp_path, "clamp")
    assert [c.model.options.get("neuron_kwargs", {}).get("soma_mode", "parallel") for c in configs.values()] == \
        ["parallel", "serial_soft"]
    assert all((c.optim.name, c.epochs) == ("adamw", 200) for c in configs.values())  # the PMSN recipe

    monkeypatch.setattr(sweep_ablations, "run_sweep", plan)
    papers_of.clear()
    with pytest.raises(_Planned):
        run_ablation("firing_rates", Options(out=tmp_path, task="scifar100", say=lambda *a, **k: None))
    assert papers_of["glif"] == 58.92 and papers_of["lif_no_reset"] == 53.33 and len(papers_of) == 8
    fig4b = _planned_configs(monkeypatch, tmp_path, "firing_rates", task="scifar10")
    assert {(c.data.task, c.model.name) for c in fig4b.values()} == {("scifar10", "scifar_column")} and len(fig4b) == 8
    assert {label: (c.optim.name, c.epochs) for label, c in fig4b.items() if c.optim.name != "sgd"} == \
        {"sliding_psn": ("adamw", 256)}  # the PSN recipe (docs/training.md §4.3) for all eight
    assert all(c.epochs == 256 and c.batch_size == 128 for c in fig4b.values())
    # naming a neuron only PSN Fig. 4b has picks that list too; without, PMSN Fig. 6a's five on pixel sCIFAR-10
    assert list(_planned_configs(monkeypatch, tmp_path, "firing_rates", values=("klif", "psn"))) == ["psn", "klif"]
    fig6a = _planned_configs(monkeypatch, tmp_path, "firing_rates")
    assert list(fig6a) == ["pmsn", "lif", "sliding_psn", "masked_psn", "psn"]
    assert {(c.model.name, c.data.options.get("mode")) for c in fig6a.values()} == {("pmsn_scifar_pixel", "pixel")}


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
