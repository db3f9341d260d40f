"""Honest model selection (docs/training.md §1.1): the stratified, seeded validation split; best.pt chosen on it
while the test split keeps its papers' metric; the records say which number is which; resume; old checkpoints."""

import csv

import pytest
import torch

from pmsn.cli import main
from pmsn.train import loop, resolve_config, resume_config, train
from pmsn.train.build import build_datasets, class_labels, stratified_split
from pmsn.train.checkpoint import atomic_torch_save, load_checkpoint

NEW_KEYS = ("selection", "chosen_epoch", "chosen_valid_acc", "chosen_test_acc")


def _indices(subset):
    return set(subset.indices)


def test_stratified_split_counts_per_class():
    labels = torch.tensor([0] * 1 + [1] * 2 + [2] * 10 + [3] * 25)[torch.randperm(38, generator=torch.Generator()
                                                                               .manual_seed(1))]
    kept, held = stratified_split(labels, 0.1, seed=5)
    held_counts = {c: int((labels[held] == c).sum()) for c in range(4)}
    assert held_counts == {0: 0, 1: 1, 2: 1, 3: 3}  # round half up of 0.1·n_c, ≥ 1 from n_c = 2, a lone item stays
    assert sorted(kept + held) == list(range(38)) and not set(kept) & set(held)
    assert stratified_split(labels, 0.1, seed=5) == (kept, held)
    other = stratified_split(labels, 0.1, seed=6)[1]
    assert other != held and {c: int((labels[other] == c).sum()) for c in range(4)} == held_counts
    kept_most = stratified_split(labels, 0.9, seed=5)[0]  # each class of n_c ≥ 2 keeps at least one item
    assert sorted(labels[kept_most].tolist()) == [0, 1, 2, 3, 3]  # 25 − round(22.5) = 2
    assert stratified_split(labels, 0.0, seed=5) == (list(range(38)), [])


def test_validation_split_is_stratified_seeded_disjoint_and_covering(tiny):
    config = resolve_config(overrides=tiny + ["data.limit_train=300", "data.valid_fraction=0.2"])
    parts = build_datasets(config, ("train", "valid", "test"))
    whole = build_datasets(resolve_config(overrides=tiny + ["data.limit_train=300", "data.valid_fraction=0"]),
                           ("train",))["train"]
    train_ids, valid_ids = _indices(parts["train"]), _indices(parts["valid"])
    assert not train_ids & valid_ids and train_ids | valid_ids == set(whole.indices)
    assert parts["train"].dataset is parts["valid"].dataset  # one level over the same training files
    assert not isinstance(parts["train"].dataset, torch.utils.data.Subset)
    counts = torch.bincount(class_labels(whole), minlength=10)
    held = torch.bincount(class_labels(parts["valid"]), minlength=10)
    assert held.tolist() == [int(0.2 * n + 0.5) for n in counts.tolist()]
    again = build_datasets(config, ("valid",))["valid"]
    assert _indices(again) == valid_ids  # same seed, same split
    other = build_datasets(resolve_config(overrides=tiny + ["data.limit_train=300", "data.valid_fraction=0.2",
                                                            "seed=7"]), ("valid",))["valid"]
    assert _indices(other) != valid_ids and len(other) == len(valid_ids)
    assert _indices(build_datasets(config, ("train",))["train"]) == train_ids  # "train" alone is the reduced set


def test_class_labels_read_items_without_a_labels_tensor():
    items = [(torch.zeros(2), label) for label in (3, 1, 3, 0)]
    assert class_labels(items).tolist() == [3, 1, 3, 0]
    assert class_labels(torch.utils.data.Subset(items, [2, 1])).tolist() == [3, 1]


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1"])
def test_valid_fraction_out_of_range_is_refused(tiny, value, capsys):
    with pytest.raises(ValueError, match=r"'data.valid_fraction' expects a number in \[0, 1\), got"):
        resolve_config(overrides=tiny + [f"data.valid_fraction={value}"])
    assert main(["train", "--set", f"data.valid_fraction={value}", "--print-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data.valid_fraction" in err


def _scripted_evaluate(monkeypatch, valid, test):
    """evaluate() returns the scripted accuracies of each epoch, per split."""
    calls = {"valid": 0, "test": 0}

    def evaluate(model, loader, config, device, context, split="test"):
        accuracy = (valid if split == "valid" else test)[calls[split]]
        calls[split] += 1
        return 1.0, accuracy, len(loader.sampler)
    monkeypatch.setattr(loop, "evaluate", evaluate)


def test_best_pt_is_the_epoch_chosen_on_validation(tiny, monkeypatch, capsys):
    _scripted_evaluate(monkeypatch, valid=[50.0, 70.0, 60.0], test=[80.0, 60.0, 90.0])
    result = train(resolve_config(overrides=tiny + ["epochs=3", "data.valid_fraction=0.2", "name=v"]), quiet=True)
    out = capsys.readouterr().out
    assert ("chosen on validation: epoch 2 (valid 70.00%, test 60.00%); best test over epochs 90.00% (epoch 3; "
            "selected on test, as the papers do); final 90.00%") in out
    assert (result.selection, result.chosen_epoch, result.chosen_valid_acc, result.chosen_test_acc) == \
        ("valid", 2, 70.0, 60.0)
    assert (result.best_test_acc, result.best_epoch, result.final_test_acc) == (90.0, 3, 90.0)
    best, last = load_checkpoint(result.run_dir / "best.pt"), load_checkpoint(result.run_dir)
    assert best["epoch"] == 2 and best["chosen_epoch"] == 2
    assert {key: last[key] for key in NEW_KEYS} == {"selection": "valid", "chosen_epoch": 2,
                                                     "chosen_valid_acc": 70.0, "chosen_test_acc": 60.0}
    assert (last["best_test_acc"], last["best_epoch"]) == (90.0, 3)  # the papers' metric keeps its meaning
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    assert [(r["valid_acc"], r["test_acc"], r["best_test_acc"], r["chosen_epoch"]) for r in rows] == [
        ("50.0", "80.0", "80.0", "1"), ("70.0", "60.0", "80.0", "2"), ("60.0", "90.0", "90.0", "2")]


def test_without_validation_best_pt_is_the_best_test_epoch(tiny, monkeypatch, capsys):
    _scripted_evaluate(monkeypatch, valid=[], test=[80.0, 60.0, 90.0])
    result = train(resolve_config(overrides=tiny + ["epochs=3", "data.valid_fraction=0", "name=t"]), quiet=True)
    assert "done: best test over epochs 90.00% (epoch 3; selected on test" in capsys.readouterr().out
    assert (result.selection, result.chosen_epoch, result.chosen_valid_acc) == ("test", 3, None)
    assert load_checkpoint(result.run_dir / "best.pt")["epoch"] == 3
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    assert [(r["valid_loss"], r["valid_acc"], r["chosen_epoch"]) for r in rows] == [("", "", "1"), ("", "", "1"),
                                                                                    ("", "", "3")]


def _untimed(history):
    return [{key: value for key, value in row.items()
             if "seconds" not in key and "per_s" not in key and "memory" not in key} for row in history]


def test_resume_with_validation_is_bit_identical(tiny):
    held = tiny + ["epochs=3", "data.valid_fraction=0.2"]
    straight = train(resolve_config(overrides=held + ["name=straight"]), quiet=True)
    first = train(resolve_config(overrides=held + ["name=split"]), quiet=True, stop_after=1)
    resumed = train(resume_config(first.run_dir), resume=first.run_dir, quiet=True)
    for name in ("last.pt", "best.pt"):
        a, b = load_checkpoint(straight.run_dir / name), load_checkpoint(resumed.run_dir / name)
        assert all(torch.equal(a["model"][key], b["model"][key]) for key in a["model"]), name
        assert {key: a[key] for key in NEW_KEYS} == {key: b[key] for key in NEW_KEYS}
    assert _untimed(resumed.history) == _untimed(straight.history)
    assert all(row["valid_acc"] is not None for row in resumed.history)
    with pytest.raises(ValueError, match=r"trained with data.valid_fraction=0.2; a resumed run keeps it, got 0.3"):
        train(resume_config(first.run_dir, ["data.valid_fraction=0.3"]), resume=first.run_dir, quiet=True)


def test_checkpoint_without_the_selection_keys_loads_resumes_and_evaluates(tiny, capsys):
    first = train(resolve_config(overrides=tiny + ["data.valid_fraction=0", "name=old"]), quiet=True, stop_after=1)
    for name in ("last.pt", "best.pt"):
        state = load_checkpoint(first.run_dir / name)
        for key in NEW_KEYS + ("path",):
            del state[key]
        for row in state["history"]:  # metrics of a run from before validation and cost columns
            for key in ("valid_loss", "valid_acc", "chosen_epoch", "peak_memory_mib", "memory_method"):
                del row[key]
        atomic_torch_save(state, first.run_dir / name)
    assert main(["eval", str(first.run_dir / "best.pt")]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "chosen on validation" not in out
    resumed = train(resume_config(first.run_dir), resume=first.run_dir, quiet=True)
    assert resumed.epochs_done == 2 and resumed.selection == "test"
    assert resumed.chosen_epoch == resumed.best_epoch and resumed.chosen_test_acc == resumed.best_test_acc
    assert (first.run_dir / "curves.png").is_file()


def test_eval_prints_the_selection_and_evaluates_the_valid_split(tiny, capsys):
    result = train(resolve_config(overrides=tiny + ["data.valid_fraction=0.2", "name=e"]), quiet=True)
    capsys.readouterr()
    assert main(["eval", str(result.run_dir / "best.pt"), "--split", "valid"]) == 0
    out = capsys.readouterr().out
    assert f"chosen on validation: epoch {result.chosen_epoch} (valid {result.chosen_valid_acc:.2f}%" in out
    assert f"valid accuracy {result.chosen_valid_acc:.2f}%" in out  # the held-out items, rebuilt from the config
