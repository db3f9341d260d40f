"""``pmsn train --config FILE --smoke``: every paper config trains one tiny epoch end to end (on random sample
files in its task's released format when no data directory is set), keeps its model, and leaves a loadable run."""

from pathlib import Path

import pytest
import yaml

from pmsn.cli import main
from pmsn.data import TASKS, build_dataset
from pmsn.data.samples import SAMPLE_WRITERS, write_samples
from pmsn.train.config import resolve_config
from pmsn.train.smoke import SMOKE_BATCH, SMOKE_TEST_ITEMS, SMOKE_TRAIN_ITEMS, smoke_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def test_smoke_config_changes_only_the_amount_of_work():
    config = resolve_config(str(CONFIG_DIR / "pmsn_scifar10_column.yaml"))
    smoke = smoke_config(config)
    assert (smoke.epochs, smoke.batch_size, smoke.data.limit_train, smoke.data.limit_test) == (
        1, SMOKE_BATCH, SMOKE_TRAIN_ITEMS, SMOKE_TEST_ITEMS)
    assert smoke.model == config.model and smoke.optim == config.optim and smoke.loss == config.loss
    assert smoke.out.endswith("/smoke") and config.epochs > 1  # the original is untouched


def test_print_config_shows_the_smoke_settings(capsys):
    assert main(["train", "--config", str(CONFIG_DIR / "psn_shd.yaml"), "--smoke", "--print-config"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["epochs"] == 1 and shown["data"]["limit_train"] == SMOKE_TRAIN_ITEMS


def test_smoke_cannot_resume(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pmsn train: error: --smoke") and "\n" not in err


def test_smoke_reads_a_given_data_directory_and_names_missing_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PMSN_DATA", str(tmp_path))
    assert main(["train", "--config", str(CONFIG_DIR / "tclif_ff_shd.yaml"), "--smoke", "--out",
                 str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "shd_train.h5" in err and "\n" not in err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("task", sorted(SAMPLE_WRITERS))
def test_sample_files_read_back_in_every_split_with_the_task_shape(task, tmp_path):
    info = TASKS[task]
    root = write_samples(task, tmp_path, per_split=4)
    for split in info.splits:
        options = {"image_size": 32} if task == "imagenet" else {}
        dataset = build_dataset(task, split, root, **options)
        assert len(dataset) >= 2
        x, y = dataset[0][:2]
        expected = (3, 32, 32) if task == "imagenet" else info.input_shape
        assert tuple(x.shape[-len(expected):]) == expected and x.isfinite().all()
        if info.steps is not None:
            assert x.shape[0] == info.steps
        assert 0 <= y < info.num_classes


def test_sample_writer_refuses_the_embedded_tasks(tmp_path):
    with pytest.raises(ValueError, match="smnist5k.*has no files"):
        write_samples("smnist5k", tmp_path)
