"""``pmsn.train.build``: one way from settings to a network, and from a run back to the same network."""

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
