"""``pmsn export nir`` end to end: a tiny LIF run saved by ``pmsn train`` exports and imports back with its spikes;
the shipped PMSN network is refused in one line (docs/nir.md §1, §6.3)."""

import pytest
import torch

nir = pytest.importorskip("nir")

from pmsn.cli import main  # noqa: E402
from pmsn.nir import load  # noqa: E402
from pmsn.train import build_datasets, load_run, resolve_config, train  # noqa: E402

TINY_LIF = ["data.task=smnist5k", "data.options.resolution=7", "data.limit_train=32", "data.limit_test=16",
            "model.name=tclif_ff", "model.neuron=lif", "model.options.preset=smnist_small",
            "model.options.hidden=[8,8,6]", "batch_size=16", "epochs=1", "device=cpu", "threads=1", "name=run"]


def test_export_nir_of_a_trained_lif_run_imports_with_its_spikes(tmp_path, capsys, neuron_spikes):
    run = train(resolve_config(overrides=TINY_LIF + [f"out={tmp_path / 'runs'}"]), quiet=True).run_dir
    capsys.readouterr()
    out = tmp_path / "lif.nir"
    assert main(["export", "nir", str(run), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    graph = nir.read(out)
    assert graph.metadata["model"] == "tclif_ff" and graph.metadata["time_reduction"] == "sum"
    model, config, _ = load_run(run)
    model.eval()
    loaded = load(out)
    assert loaded.time_reduction == "sum"
    x, _ = next(iter(torch.utils.data.DataLoader(build_datasets(config, ("test",))["test"], batch_size=8)))
    theirs, per_step = neuron_spikes(loaded, x.transpose(0, 1))  # the run's data: [B, T, 1] → time first
    ours, logits = neuron_spikes(model, x)
    assert len(ours) == len(theirs) == 3 and sum(float(s.sum()) for s in ours) > 0
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(b, a, rtol=0, atol=0)
    torch.testing.assert_close(per_step.sum(0), logits, rtol=1e-5, atol=1e-5)  # TC-LIF nets sum over time


def test_export_nir_refuses_the_pretrained_pmsn_network_in_one_line(tmp_path, capsys):
    out = tmp_path / "pmsn.nir"
    assert main(["export", "nir", "--pretrained", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("pmsn export: error: layer 'stage.neurons.0' (PMSN)")
    assert "soma" in err and "ReLU" in err and "docs/nir.md §6" in err
    assert not out.exists() and not any(tmp_path.iterdir())
