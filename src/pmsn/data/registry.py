"""Task registry: ``TASKS[name]`` describes a task, ``build_dataset`` builds its ``torch.utils.data.Dataset``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from torch.utils.data import Dataset

from .cifar import CIFAR_LAYOUTS, STATIC_CIFAR, build_cifar, build_static_cifar
from .cifar10dvs import DEFAULT_SIZE, DEFAULT_STEPS as DVS_STEPS, DVS_FILES, DVS_SOURCE, build_cifar10dvs
from .imagenet import IMAGENET_SOURCE, build_imagenet
from .mnist import EMBEDDED_SOURCE, MNIST_FILES, MNIST_SOURCE, build_mnist, build_mnist5k
from .speech import FRAMES, GSC_SOURCE, N_MELS, build_speech_commands
from .spikes import CHANNELS, DEFAULT_STEPS, MAX_TIME, SPIKE_FILES, SPIKE_SOURCE, build_spikes


@dataclass(frozen=True)
class TaskInfo:
    """What a task is: ``steps`` = T at the default options (None: a static image the model repeats over T),
    ``input_shape`` = shape of one step's input, ``options`` = the keyword options of ``build_dataset`` with
    their defaults, ``files`` = what ``data_dir`` must hold, ``source`` = where those files come from."""

    name: str
    num_classes: int
    steps: int | None
    input_shape: tuple[int, ...]
    splits: tuple[str, ...]
    source: str
    files: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    builder: Callable[..., Dataset] = field(default=None, repr=False, compare=False)


def _mnist_files() -> tuple[str, ...]:
    return tuple(f"{name}(.gz)" for pair in MNIST_FILES.values() for name in pair)


def _cifar_task(name: str) -> TaskInfo:
    layout = CIFAR_LAYOUTS[name]
    return TaskInfo(
        name, layout.num_classes, 32, (3, 32), ("train", "test"), layout.source,
        tuple(f"{layout.folder}/{file}" for files in layout.files.values() for file in files),
        {"mode": "column", "augment": None},
        lambda split, data_dir, **options: build_cifar(name, split, data_dir, **options),
    )


def _static_cifar_task(name: str) -> TaskInfo:
    layout = CIFAR_LAYOUTS[STATIC_CIFAR[name]]
    return TaskInfo(
        name, layout.num_classes, None, (3, 32, 32), ("train", "test"), layout.source,
        tuple(f"{layout.folder}/{file}" for files in layout.files.values() for file in files), {"augment": None},
        lambda split, data_dir, **options: build_static_cifar(name, split, data_dir, **options),
    )


def _spike_task(name: str, num_classes: int) -> TaskInfo:
    splits = tuple(SPIKE_FILES[name])
    return TaskInfo(
        name, num_classes, DEFAULT_STEPS, (CHANNELS,), splits, SPIKE_SOURCE,
        tuple(f"{SPIKE_FILES[name][split]}(.gz)" for split in splits),
        {"steps": DEFAULT_STEPS, "pool": 1, "max_time": MAX_TIME, "preload": None, "variable_length": False},
        lambda split, data_dir, **options: build_spikes(name, split, data_dir, **options),
    )


def _build_registry() -> dict[str, TaskInfo]:
    tasks = [
        TaskInfo("smnist5k", 10, 196, (1,), ("train", "test"), EMBEDDED_SOURCE, ("(embedded) mnist5k.npz",),
                 {"resolution": 14}, lambda split, data_dir, **o: build_mnist5k(split, permuted=False, **o)),
        TaskInfo("psmnist5k", 10, 196, (1,), ("train", "test"), EMBEDDED_SOURCE, ("(embedded) mnist5k.npz",),
                 {"resolution": 14}, lambda split, data_dir, **o: build_mnist5k(split, permuted=True, **o)),
        TaskInfo("smnist", 10, 784, (1,), ("train", "test"), MNIST_SOURCE, _mnist_files(),
                 {"resolution": 28}, lambda split, data_dir, **o: build_mnist(split, data_dir, permuted=False, **o)),
        TaskInfo("psmnist", 10, 784, (1,), ("train", "test"), MNIST_SOURCE, _mnist_files(),
                 {"resolution": 28}, lambda split, data_dir, **o: build_mnist(split, data_dir, permuted=True, **o)),
        _cifar_task("scifar10"),
        _cifar_task("scifar100"),
        _static_cifar_task("cifar10"),
        _static_cifar_task("cifar100"),
        TaskInfo("cifar10dvs", 10, DVS_STEPS, (2, DEFAULT_SIZE, DEFAULT_SIZE), ("train", "test"), DVS_SOURCE,
                 (DVS_FILES,), {"steps": DVS_STEPS, "size": DEFAULT_SIZE, "augment": None},
                 lambda split, data_dir, **o: build_cifar10dvs(split, data_dir, **o)),
        _spike_task("shd", 20),
        _spike_task("ssc", 35),
        TaskInfo("gsc", 12, FRAMES, (N_MELS,), ("train", "valid", "test"), GSC_SOURCE,
                 ("validation_list.txt", "testing_list.txt", "<word>/*.wav", "_background_noise_/*.wav"),
                 {"variable_length": False}, lambda split, data_dir, **o: build_speech_commands(split, data_dir, **o)),
        TaskInfo("imagenet", 1000, None, (3, 224, 224), ("train", "test"), IMAGENET_SOURCE,
                 ("train/<class>/*.JPEG", "val/<class>/*.JPEG (the test split)"),
                 {"image_size": 224}, lambda split, data_dir, **o: build_imagenet(split, data_dir, **o)),
    ]
    return {task.name: task for task in tasks}


TASKS: dict[str, TaskInfo] = _build_registry()


def build_dataset(task: str, split: str = "train", data_dir: str | os.PathLike | None = None, **options) -> Dataset:
    """The ``split`` of ``task`` as a Dataset whose items are ``(x, y)``: x float32, time first ([T, *input_shape];
    imagenet: a static [3, H, W] image), y an int label.

    ``data_dir`` (else ``$PMSN_DATA``) holds the task's files; the embedded ``smnist5k``/``psmnist5k`` need none.
    ``options`` are the task's keyword options (``TASKS[task].options``). Missing or unreadable files raise
    :class:`pmsn.data.DataError` naming the file, its source and the ``--data-dir`` / ``PMSN_DATA`` setting.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    info = TASKS[task]
    if split not in info.splits:
        raise ValueError(f"{task}: unknown split {split!r}; expected one of {info.splits}")
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        raise TypeError(f"{task}: unknown option(s) {unknown}; the task accepts {sorted(info.options) or 'none'}")
    return info.builder(split, data_dir, **options)
