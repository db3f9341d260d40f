"""The training loop on a tiny CPU setting: outputs, resume equality, eval, architecture errors, the CLI."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from pmsn.cli import main
from pmsn.io import TEMP_SUFFIX
from pmsn.neurons import MaskedPSN
from pmsn.train import evaluate_checkpoint, resolve_config, resume_config, train
from pmsn.train.checkpoint import load_checkpoint
from pmsn.train.optim import mask_lambda


def _weights(path):
    return load_checkpoint(path)["model"]


def test_run_folder_contents(tiny):
    result = train(resolve_config(overrides=tiny + ["name=first"]), quiet=True)
    run = result.run_dir
    assert run.name == "first"
    for name in ("config.yaml", "metrics.csv", "steps.csv", "curves.png", "last.pt", "best.pt"):
        assert (run / name).is_file(), name
    assert not list(run.glob(".*.tmp"))
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[-1]["best_test_acc"]) == pytest.approx(result.best_test_acc)
    assert len(list(csv.DictReader((run / "steps.csv").open()))) == 2 * 3  # 96 samples / batch 32, log_every 1
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert resolve_config(overrides=tiny + ["name=first"]) == resolve_config(base=stored)
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    last = load_checkpoint(run)
    assert last["epoch"] == 2 and last["architecture"]["options"]["T"] == 49


def test_resume_is_bit_identical(tiny):
    straight = train(resolve_config(overrides=tiny + ["name=straight"]), quiet=True)
    first = train(resolve_config(overrides=tiny + ["name=split"]), quiet=True, stop_after=1)
    assert first.epochs_done == 1
    resumed = train(resume_config(first.run_dir), resume=first.run_dir, quiet=True)
    assert resumed.run_dir == first.run_dir and resumed.epochs_done == 2
    a, b = _weights(straight.run_dir / "last.pt"), _weights(resumed.run_dir / "last.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert straight.history[-1]["test_acc"] == resumed.history[-1]["test_acc"]
    rows = list(csv.DictReader((resumed.run_dir / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    steps = list(csv.DictReader((resumed.run_dir / "steps.csv").open()))
    assert [int(r["step"]) for r in steps] == list(range(1, 7))


def test_same_seed_same_weights_other_seed_differs(tiny):
    one = train(resolve_config(overrides=tiny + ["epochs=1", "name=a"]), quiet=True)
    two = train(resolve_config(overrides=tiny + ["epochs=1", "name=b"]), quiet=True)
    three = train(resolve_config(overrides=tiny + ["epochs=1", "name=c", "seed=5"]), quiet=True)
    w1, w2, w3 = (_weights(r.run_dir / "last.pt") for r in (one, two, three))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert not all(torch.equal(w1[k], w3[k]) for k in w1)


def test_eval_reproduces_the_logged_accuracy(tiny):
    result = train(resolve_config(overrides=tiny), quiet=True)
    evaluated = evaluate_checkpoint(result.run_dir / "best.pt")
    assert evaluated["accuracy"] == pytest.approx(result.best_test_acc)
    assert evaluated["samples"] == 64


def test_wrong_architecture_is_named(tiny):
    result = train(resolve_config(overrides=tiny + ["epochs=1"]), quiet=True)
    with pytest.raises(ValueError, match=r"holds weights of pmsn_smnist\(neuron='pmsn'.*width=8.*model to load them "
                                         r"into is pmsn_smnist\(neuron='pmsn'.*width=16"):
        evaluate_checkpoint(result.run_dir, overrides=["model.options.width=16"])
    changed = resume_config(result.run_dir, flags={"model": {"neuron": "lif"}, "epochs": 2})
    with pytest.raises(ValueError, match=r"neuron='pmsn'.*neuron='lif'"):
        train(changed, resume=result.run_dir, quiet=True)


def test_masked_psn_lambda_follows_epochs(tiny):
    overrides = tiny + ["model.neuron=masked_psn", "epochs=17", "data.limit_train=32", "data.limit_test=32"]
    first = train(resolve_config(overrides=overrides), quiet=True, stop_after=1)
    lambdas = lambda run: {float(m.mask_lambda) for m in _masked(run)}  # noqa: E731
    assert lambdas(first.run_dir) == {mask_lambda(0, 17)} == {0.0}
    second = train(resume_config(first.run_dir), resume=first.run_dir, quiet=True, stop_after=2)
    assert lambdas(second.run_dir) == {mask_lambda(1, 17)} == {0.5}


def _masked(run):
    from pmsn.models import build_model

    checkpoint = load_checkpoint(run)
    arch = checkpoint["architecture"]
    model = build_model(arch["model"], neuron=arch["neuron"], **arch["options"])
    model.load_state_dict(checkpoint["model"])
    return [m for m in model.modules() if isinstance(m, MaskedPSN)]


def test_cli_train_and_eval(tiny, tmp_path, capsys):
    sets = [arg for item in tiny for arg in ("--set", item) if not item.startswith(("epochs", "out", "device"))]
    assert main(["train", *sets, "--epochs", "1", "--out", str(tmp_path / "cli"), "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "epoch   1/1" in out and "wall" in out
    assert "done: chosen on validation: epoch 1" in out and "best test over epochs" in out  # the main job's split
    (run,) = (tmp_path / "cli").iterdir()
    assert main(["eval", str(run / "best.pt"), "--json"]) == 0
    assert '"accuracy"' in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--task", "smnist"]) == 2
    assert "cannot be combined" in capsys.readouterr().err


def test_cli_rejects_unknown_key(capsys):
    assert main(["train", "--set", "optim.learning_rate=0.1"]) == 2
    err = capsys.readouterr().err
    assert "pmsn train: error: unknown config key" in err and "'optim.lr'" in err
    assert main(["train", "--config", "missing.yaml"]) == 2
    assert "missing.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ("model.name=resnet", r"unknown model\.name 'resnet'.*'pmsn_smnist'"),
    ("model.neuron=izhikevich", r"unknown model\.neuron 'izhikevich'.*'pmsn'"),
    ("model.options.widht=8", r"does not take option\(s\) \['widht'\] \(model\.options\); it takes .*'width'"),
    ("data.options.res=7", r"data task 'smnist5k' does not take option\(s\) \['res'\].*'resolution'"),
    ("data.task=mnist", r"unknown data\.task 'mnist'"),
])
def test_names_and_options_are_checked_before_training(tiny, override, message):
    with pytest.raises(ValueError, match=message):
        train(resolve_config(overrides=tiny + [override]), quiet=True)


# Runs in a child process: dies like a SIGKILL (os._exit, no cleanup) half-way through writing FILE at epoch 2.
KILL_DURING_WRITE = """
import os, sys
from pmsn.io import atomic_write
from pmsn.train import loop, resolve_config, train
file_name, overrides = sys.argv[1], sys.argv[2:]
save = loop.atomic_torch_save

def dying_save(state, path):
    if path.name == file_name and state["epoch"] == 2:
        atomic_write(path, lambda handle: (handle.write(b"PK half a checkpoint"), handle.flush(), os._exit(9)))
    save(state, path)

loop.atomic_torch_save = dying_save
train(resolve_config(overrides=overrides), quiet=True)
"""


def test_kill_during_checkpoint_writes_then_resume_equals_uninterrupted(tiny):
    learning = tiny + ["data.limit_train=512", "data.limit_test=128", "batch_size=64", "epochs=3",
                       "data.valid_fraction=0"]  # best.pt on the best test epoch, as the papers choose
    straight = train(resolve_config(overrides=learning + ["name=straight"]), quiet=True)
    assert straight.history[1]["test_acc"] > straight.history[0]["test_acc"]  # epoch 2 writes best.pt, then last.pt
    for file_name in ("best.pt", "last.pt"):
        name = f"killed-{file_name[:-3]}"
        child = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, file_name, *learning, f"name={name}"],
                               capture_output=True, text=True, timeout=300)
        assert child.returncode == 9, child.stderr
        run = straight.run_dir.parent / name
        assert list(run.glob(f".*{TEMP_SUFFIX}")), "the kill should leave a half-written temporary file"
        last = load_checkpoint(run)
        assert last["epoch"] == 1 and last["best_epoch"] == 1  # never claims a best epoch it did not save
        assert load_checkpoint(run / "best.pt")["epoch"] == 1 + (file_name == "last.pt")
        resumed = train(resume_config(run), resume=run, quiet=True)
        assert not list(run.glob(f".*{TEMP_SUFFIX}"))  # the next run cleaned up
        for saved in ("last.pt", "best.pt"):
            a, b = _weights(straight.run_dir / saved), _weights(run / saved)
            assert all(torch.equal(a[key], b[key]) for key in a), (file_name, saved)
        assert _untimed(resumed.history) == _untimed(straight.history)


def _untimed(history):
    return [{key: value for key, value in row.items()
             if "seconds" not in key and "per_s" not in key and "memory" not in key} for row in history]


def test_existing_run_folder_is_refused_unless_overwrite(tiny, capsys):
    first = train(resolve_config(overrides=tiny + ["name=taken", "epochs=1"]), quiet=True)
    before = (first.run_dir / "last.pt").read_bytes()
    sets = [arg for item in tiny + ["name=taken", "epochs=1"] for arg in ("--set", item)]
    assert main(["train", *sets, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"run folder '{first.run_dir}' already exists" in err and "--overwrite" in err
    assert (first.run_dir / "last.pt").read_bytes() == before  # untouched
    (first.run_dir / "notes.txt").write_text("mine")
    assert main(["train", *sets, "--set", "seed=7", "--quiet", "--overwrite"]) == 0
    assert (first.run_dir / "last.pt").read_bytes() != before
    assert (first.run_dir / "notes.txt").read_text() == "mine"  # --overwrite replaces the run's files only


def test_old_checkpoint_converts_and_resumes(tiny, tmp_path, capsys):
    import random

    first = train(resolve_config(overrides=tiny + ["name=old"]), quiet=True, stop_after=1)
    checkpoint = load_checkpoint(first.run_dir)
    random.seed(3)
    np.random.seed(3)
    checkpoint["rng"] = [{"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}]
    checkpoint["format"] = "pmsn-checkpoint-v1"  # how the first format stored the RNG: pickled tuples and arrays
    torch.save(checkpoint, first.run_dir / "last.pt")
    with pytest.raises(ValueError, match=r"holds numpy.*convert-checkpoint"):
        load_checkpoint(first.run_dir)
    expected = (random.random(), np.random.rand())
    with pytest.warns(UserWarning, match="runs any code the file contains"):
        assert main(["convert-checkpoint", str(first.run_dir), "--trust"]) == 0
    assert "converted" in capsys.readouterr().out
    converted = load_checkpoint(first.run_dir)
    assert converted["format"] == "pmsn-checkpoint-v2" and converted["epoch"] == 1
    from pmsn.train.checkpoint import set_rng_state

    set_rng_state(converted["rng"][0])
    assert (random.random(), np.random.rand()) == expected
    assert train(resume_config(first.run_dir), resume=first.run_dir, quiet=True).epochs_done == 2


def test_scifar_column_trains_from_cifar_pickles(tmp_path):
    """Data (column sequences [T, 3, rows]) and the column net agree on the layout, end to end."""
    from pmsn.data.samples import write_samples

    write_samples("scifar10", tmp_path, per_split=8)  # the official python batches, random images
    out = tmp_path / "runs"
    args = ["train", "--task", "scifar10", "--data-dir", str(tmp_path), "--epochs", "1", "--batch-size", "8",
            "--set", "model.options.width=4", "--out", str(out), "--quiet"]
    assert main(args + ["--neuron", "lif"]) == 0
    (run,) = out.iterdir()
    assert (run / "best.pt").is_file()


def test_psmnist_run_stores_its_permutation(tmp_path):
    import numpy as np

    from pmsn.data import pixel_permutation

    args = ["train", "--task", "psmnist5k", "--epochs", "1", "--set", "data.options.resolution=7",
            "--set", "data.limit_train=64", "--set", "data.limit_test=32", "--set", "model.options.width=8",
            "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    (run,) = tmp_path.iterdir()
    assert np.array_equal(np.load(run / "permutation.npy"), pixel_permutation(49))
