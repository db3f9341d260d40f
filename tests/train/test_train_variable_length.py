"""The trainer with data.options.variable_length (docs/variable_length.md §6): padded batches, lengths passed to
the model in training and evaluation, the TET loss over valid steps, and the config checks."""

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pmsn.data import build_dataset
from pmsn.data.collate import pad_collate
from pmsn.models import build_model
from pmsn.models.layers import SpikingClassifier
from pmsn.train import evaluate_checkpoint, resolve_config, train
from pmsn.train.build import load_run
from pmsn.train.loop import _forward_loss

STEPS = 20


def write_shd(path, count, seed):
    """An SHD file with the real schema (ragged spikes/times, spikes/units, labels); sample i ends early."""
    rng = np.random.RandomState(seed)
    times = [np.sort(rng.uniform(0, 1.4 * (i % 4 + 1) / 4, 30)).astype(np.float32) for i in range(count)]
    units = [rng.randint(0, 700, 30).astype(np.uint16) for _ in range(count)]
    holder = [np.empty(count, dtype=object) for _ in range(2)]
    holder[0][:], holder[1][:] = times, units
    with h5py.File(path, "w") as h5:
        h5.create_dataset("spikes/times", data=holder[0], dtype=h5py.vlen_dtype(np.float32))
        h5.create_dataset("spikes/units", data=holder[1], dtype=h5py.vlen_dtype(np.uint16))
        h5.create_dataset("labels", data=np.arange(count, dtype=np.uint16) % 3)


@pytest.fixture
def shd_settings(tmp_path):
    write_shd(tmp_path / "shd_train.h5", 12, 0)
    write_shd(tmp_path / "shd_test.h5", 8, 1)
    return ["data.task=shd", f"data.data_dir={tmp_path}", f"data.options.steps={STEPS}", "data.options.pool=35",
            "data.options.variable_length=true", "model.name=pmsn_shd", "model.neuron=psn", "model.options.width=8",
            "model.options.input_size=20", "model.options.pool=5", "model.options.dropout=0.0",
            "model.options.neuron_kwargs={threshold: 0.0}", "batch_size=4",  # b = 0: the PSN layers spike
            "epochs=1", "log_every=1", "device=cpu", "threads=1", f"out={tmp_path / 'runs'}", "name=varlen",
            "data.valid_fraction=0"]  # all 12 items train


def test_training_passes_lengths_and_evaluation_uses_them(shd_settings, tmp_path, monkeypatch):
    calls = []
    padded_logits = SpikingClassifier._padded_logits

    def spy(self, x, per_step, lengths):
        calls.append(lengths.clone())
        return padded_logits(self, x, per_step, lengths)

    monkeypatch.setattr(SpikingClassifier, "_padded_logits", spy)
    result = train(resolve_config(overrides=shd_settings), quiet=True)
    assert len(calls) == 12 // 4 + 8 // 8  # 3 training batches, 1 test batch (eval batch = 2 x 4)
    assert all(lengths.dtype == torch.long and 1 <= lengths.min() and lengths.max() <= STEPS for lengths in calls)
    assert len(set(torch.cat(calls).tolist())) > 1, "the fixture's samples have different lengths"

    # the recorded test accuracy is the model's on padded batches with their lengths, which differs from zero padding
    model, _, _ = load_run(result.run_dir)
    x, labels, lengths = pad_collate([build_dataset("shd", "test", data_dir=tmp_path, steps=STEPS, pool=35,
                                                    variable_length=True)[i] for i in range(8)])
    with torch.no_grad():
        with_lengths, zero_padded = model.eval()(x, lengths=lengths), model(x)
    evaluated = evaluate_checkpoint(result.run_dir)
    assert evaluated["loss"] == pytest.approx(F.cross_entropy(with_lengths, labels).item(), rel=1e-5)
    assert evaluated["loss"] != pytest.approx(F.cross_entropy(zero_padded, labels).item(), rel=1e-5)
    assert evaluated["accuracy"] == pytest.approx(result.final_test_acc)


def test_tet_loss_averages_each_sample_over_its_valid_steps(shd_settings):
    config = resolve_config(overrides=shd_settings + ["loss=tet"])
    torch.manual_seed(0)
    model = build_model("tclif_ff", neuron="lif", num_classes=3, preset="shd", hidden=(8, 8), input_size=5, T=6)
    x, targets, lengths = torch.randn(3, 6, 5), torch.tensor([0, 2, 1]), torch.tensor([6, 2, 4])
    loss, logits = _forward_loss(model, x, targets, config, lengths)
    expected_loss = sum(F.cross_entropy(model(x[b:b + 1, :n], per_step=True)[:, 0], targets[b].repeat(n))
                        for b, n in enumerate(lengths.tolist())) / 3
    expected_logits = torch.cat([model(x[b:b + 1, :n], per_step=True).mean(0) for b, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(loss, expected_loss)
    torch.testing.assert_close(logits, expected_logits)


@pytest.mark.parametrize("extra, message", [
    (["data.options.variable_length=maybe"], "'data.options.variable_length' expects true or false, got 'maybe'"),
    (["mixup_alpha=0.2"], "variable_length cannot be combined with mixup/cutmix"),
])
def test_config_checks(shd_settings, extra, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(overrides=shd_settings + extra)


def test_tasks_without_variable_lengths_refuse_the_option():
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['variable_length'\]"):
        resolve_config(overrides=["data.task=smnist5k", "data.options.variable_length=true"])


def test_ablation_energy_of_a_variable_length_run_counts_valid_steps(shd_settings, tmp_path):
    """The firing-rate/energy ablations measure a run's best.pt on padded test batches with their lengths
    (docs/training.md §6.5): the same numbers as measure_energy on the padded batch, not those of its zero padding."""
    from pmsn.bench.energy import measure_energy
    from pmsn.experiments.sweep_ablations import _measure_energy

    run = train(resolve_config(overrides=shd_settings), quiet=True).run_dir
    result = {"run": str(run)}
    spiking = _measure_energy(result, smoke=True)
    model, _, _ = load_run(run / "best.pt")
    batch = pad_collate([build_dataset("shd", "test", data_dir=tmp_path, steps=STEPS, pool=35,
                                       variable_length=True)[i] for i in range(8)])
    padded = measure_energy(model, [batch])
    assert padded["mean_steps"] < batch[0].shape[1]  # the fixture's sequences end early
    assert result["energy_nj_per_sample"] == pytest.approx(padded["total"]["energy_nj_per_sample"])
    assert [row["firing_rate"] for row in spiking] == pytest.approx(
        [row["firing_rate"] for row in padded["layers"] if "firing_rate" in row])
    every_step = measure_energy(model, [batch[:2]])
    assert every_step["total"]["energy_nj_per_sample"] != pytest.approx(result["energy_nj_per_sample"])
