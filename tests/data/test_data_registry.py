"""The task registry and build_dataset's argument checks."""

import pytest
import torch

from pmsn.data import TASKS, CorruptDataError, DataError, MissingDataError, build_dataset

EXTERNAL_TASKS = [name for name in TASKS if not name.endswith("5k")]


def test_registry_lists_every_task():
    assert set(TASKS) == {"smnist5k", "psmnist5k", "smnist", "psmnist", "scifar10", "scifar100", "shd", "ssc",
                          "gsc", "imagenet", "cifar10", "cifar100", "cifar10dvs"}
    expected = {"smnist5k": (10, 196), "smnist": (10, 784), "scifar10": (10, 32), "scifar100": (100, 32),
                "shd": (20, 250), "ssc": (35, 250), "gsc": (12, 101), "imagenet": (1000, None),
                "cifar10": (10, None), "cifar100": (100, None), "cifar10dvs": (10, 10)}
    for name, (classes, steps) in expected.items():
        assert (TASKS[name].num_classes, TASKS[name].steps) == (classes, steps)
        assert TASKS[name].source and TASKS[name].files and "train" in TASKS[name].splits


@pytest.mark.parametrize("name", ["smnist5k", "psmnist5k"])
def test_embedded_tasks_match_their_description(name):
    info = TASKS[name]
    x, y = build_dataset(name, "test", data_dir="/nonexistent/is/ignored")[0]
    assert x.shape == (info.steps, *info.input_shape) and 0 <= y < info.num_classes


def test_embedded_train_set_works_with_a_dataloader():
    loader = torch.utils.data.DataLoader(build_dataset("psmnist5k", "train"), batch_size=32, shuffle=True)
    x, y = next(iter(loader))
    assert x.shape == (32, 196, 1) and y.shape == (32,) and y.dtype == torch.int64


def test_argument_errors():
    with pytest.raises(ValueError, match="unknown task 'mnist'.*smnist5k"):
        build_dataset("mnist")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        build_dataset("smnist5k", "valid")
    with pytest.raises(TypeError, match="unknown option.*'steps'.*resolution"):
        build_dataset("smnist5k", "train", steps=49)


def test_error_hierarchy():
    assert issubclass(MissingDataError, DataError) and issubclass(MissingDataError, FileNotFoundError)
    assert issubclass(CorruptDataError, DataError) and issubclass(CorruptDataError, ValueError)


@pytest.mark.parametrize("name", EXTERNAL_TASKS)
def test_empty_data_dir_gives_one_clear_message(name, tmp_path):
    with pytest.raises(MissingDataError) as caught:
        build_dataset(name, "test", data_dir=tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{name}:") and "--data-dir" in message and "PMSN_DATA" in message
    assert "http" in message


@pytest.mark.parametrize("name", EXTERNAL_TASKS)
def test_nonexistent_data_dir(name, tmp_path):
    with pytest.raises(MissingDataError, match="data directory"):
        build_dataset(name, "train", data_dir=tmp_path / "missing")
