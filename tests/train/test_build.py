"""``pmsn.train.build``: one way from settings to a network, and from a run back to the same network."""

import json

import pytest
import torch

from pmsn.train import build_datasets, build_from_config, load_run, resolve_config, train


def test_load_run_rebuilds_the_trained_network(tiny):
    result = train(resolve_config(overrides=tiny + ["epochs=1", "name=run"]), quiet=True)
    model, config, checkpoint = load_run(result.run_dir)
    assert checkpoint["epoch"] == 1 and config.model.options["width"] == 8
    stored = checkpoint["model"]
    assert all(torch.equal(value, stored[key]) for key, value in model.state_dict().items())
    x, _ = next(iter(torch.utils.data.DataLoader(build_datasets(config, ("test",))["test"], batch_size=4)))
    fresh = build_from_config(config, dict(checkpoint["architecture"]["options"]))
    model.eval(), fresh.eval()
    assert not torch.equal(model(x), fresh(x))  # trained weights, not a fresh init
    with pytest.raises(ValueError, match=r"holds weights of pmsn_smnist\(.*width=8.*width=12"):
        load_run(result.run_dir / "best.pt", overrides=["model.options.width=12"])


def test_build_from_config_takes_T_from_the_data(tiny):
    config = resolve_config(overrides=tiny)
    dataset = build_datasets(config, ("test",))["test"]
    assert len(dataset) == 64
    model = build_from_config(config, dataset=dataset)
    x, _ = dataset[0]
    assert x.shape[0] == 49 and model(x.unsqueeze(1)).shape[-1] == 10


def test_pretrained_network_reproduces_its_recorded_accuracy(capsys):
    from pmsn.cli import main
    from pmsn.train.build import pretrained

    model, config, checkpoint = load_run(pretrained())
    assert checkpoint["architecture"]["model"] == "pmsn_smnist" and config.data.task == "smnist5k"
    assert sum(p.numel() for p in model.parameters()) == 20_426
    assert main(["eval", "--pretrained", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 1000 and result["accuracy"] == pytest.approx(checkpoint["best_test_acc"], abs=1e-9)
    assert result["accuracy"] > 95
    assert main(["train", "--resume", str(pretrained()), "--quiet"]) == 2
    assert "cannot be resumed" in capsys.readouterr().err


def test_plot_dynamics_of_the_pretrained_network(tmp_path, capsys):
    from pmsn.cli import main

    assert main(["plot", "dynamics", "--pretrained", "--formats", "png", "--out", str(tmp_path)]) == 0
    assert any(path.suffix == ".png" for path in tmp_path.iterdir())
