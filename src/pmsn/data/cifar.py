"""CIFAR-10/100 readers from the official python pickles: sequential (docs/tasks.md §1.2, §1.3) and static
(docs/tasks.md §5.1).

``mode="column"``: step t = image column t, x [32, 3, 32] (features = 3 channels × 32 rows), T = 32.
``mode="pixel"``: raster scan, step t = the RGB values of pixel t, x [1024, 3], T = 1024.
Static tasks ``cifar10`` / ``cifar100``: the image itself, x [3, 32, 32] (the network repeats it over T).
Images are normalised with the per-data-set mean/std of docs/tasks.md §1.2; the training augmentation there
(flip, TrivialAugmentWide, RandomErasing) is on by default for the column-mode and static train splits.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import random_erasing, random_horizontal_flip, trivial_augment_wide
from .base import find_path, resolve_data_dir
from .errors import corrupt_data

CIFAR_MODES = ("column", "pixel")
STATIC_CIFAR = {"cifar10": "scifar10", "cifar100": "scifar100"}  # static task -> the layout of the same files


@dataclass(frozen=True)
class CifarLayout:
    folder: str
    files: dict[str, tuple[str, ...]]
    label_key: bytes
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str


CIFAR_LAYOUTS = {
    "scifar10": CifarLayout(
        folder="cifar-10-batches-py",
        files={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        label_key=b"labels",
        num_classes=10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2023, 0.1994, 0.2010),
        source="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (unpack it)",
    ),
    "scifar100": CifarLayout(
        folder="cifar-100-python",
        files={"train": ("train",), "test": ("test",)},
        label_key=b"fine_labels",
        num_classes=100,
        mean=(0.50708, 0.48655, 0.44092),
        std=(0.26733, 0.25644, 0.27615),
        source="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (unpack it)",
    ),
}


class _CifarUnpickler(pickle.Unpickler):
    """Reads the official CIFAR batches (a dict of bytes, lists and NumPy arrays) and refuses every other class or
    function, so a tampered file cannot run code. The official files name NumPy's array rebuild under the
    NumPy 1 module path ``numpy.core.multiarray``; NumPy 2 keeps it in ``numpy._core.multiarray``."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never holds "
                                         f"(refused: unpickling it could run code)")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own array rebuild function
        return getattr(np, name)


def read_cifar_pickle(path: Path, layout: CifarLayout, task: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickle -> uint8 images [N, 3, 32, 32] (rows of 3072 = R plane, G plane, B plane) and int64 labels."""
    try:
        with open(path, "rb") as stream:
            batch = _CifarUnpickler(stream, encoding="bytes").load()
        if not isinstance(batch, dict):
            raise TypeError(f"found a {type(batch).__name__}, expected a dict")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[layout.label_key], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise corrupt_data(task, path, f"not a CIFAR pickle with b'data' and {layout.label_key!r}: {error!r}",
                           layout.source) from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise corrupt_data(task, path, f"data {list(data.shape)} / {len(labels)} labels, expected [N, 3072] / N",
                           layout.source)
    if labels.size and (labels.min() < 0 or labels.max() >= layout.num_classes):
        raise corrupt_data(task, path, f"labels outside 0..{layout.num_classes - 1}", layout.source)
    return data.reshape(-1, 3, 32, 32), labels


class CifarSequenceDataset(Dataset):
    """uint8 images kept in memory; normalisation, optional augmentation and the sequence layout per item."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, layout: CifarLayout, mode: str, augment: bool):
        self.images = images
        self.labels = labels
        self.num_classes = layout.num_classes
        self.mode = mode
        self.augment = augment
        self.mean = torch.tensor(layout.mean).view(3, 1, 1)
        self.std = torch.tensor(layout.std).view(3, 1, 1)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.augment:
            image = trivial_augment_wide(random_horizontal_flip(image))
        normalised = (image.float() / 255.0 - self.mean) / self.std
        if self.augment:
            normalised = random_erasing(normalised, p=0.1)
        return to_sequence(normalised, self.mode), int(self.labels[index])


def to_sequence(image: torch.Tensor, mode: str) -> torch.Tensor:
    """[3, H, W] -> column mode [W, 3, H] (x[t, c, r] = image[c, r, t]), pixel mode [H·W, 3] (raster order) or,
    for the static tasks (mode "image"), the image unchanged."""
    if mode == "column":
        return image.permute(2, 0, 1).contiguous()
    if mode == "image":
        return image
    return image.reshape(3, -1).t().contiguous()


def read_cifar_split(task: str, layout: CifarLayout, split: str, data_dir) -> tuple[torch.Tensor, torch.Tensor]:
    """All pickles of ``split`` -> uint8 images [N, 3, 32, 32] and int64 labels [N]."""
    names = layout.files[split]
    expected = f"{layout.folder}/{', '.join(names)}"
    root = resolve_data_dir(data_dir, task, expected, layout.source)
    image_parts, label_parts = [], []
    for name in names:
        path = find_path(root, (name,), (layout.folder,), task, f"{layout.folder}/{name}", layout.source)
        images, labels = read_cifar_pickle(path, layout, task)
        image_parts.append(images)
        label_parts.append(labels)
    return torch.from_numpy(np.concatenate(image_parts)), torch.from_numpy(np.concatenate(label_parts))


def build_cifar(task: str, split: str, data_dir, mode: str = "column", augment: bool | None = None):
    """Tasks ``scifar10`` / ``scifar100``; ``augment`` None = the paper recipe (on for column-mode train)."""
    if mode not in CIFAR_MODES:
        raise ValueError(f"{task}: mode must be one of {CIFAR_MODES}, got {mode!r}")
    layout = CIFAR_LAYOUTS[task]
    images, labels = read_cifar_split(task, layout, split, data_dir)
    if augment is None:
        augment = split == "train" and mode == "column"
    return CifarSequenceDataset(images, labels, layout, mode, augment)


def build_static_cifar(task: str, split: str, data_dir, augment: bool | None = None) -> CifarSequenceDataset:
    """Tasks ``cifar10`` / ``cifar100`` (PSN Table 2, docs/tasks.md §5.1): items ([3, 32, 32] normalised image,
    label); ``augment`` None = the PSN recipe (on for the train split)."""
    layout = CIFAR_LAYOUTS[STATIC_CIFAR[task]]
    images, labels = read_cifar_split(task, layout, split, data_dir)
    return CifarSequenceDataset(images, labels, layout, "image", split == "train" if augment is None else augment)
