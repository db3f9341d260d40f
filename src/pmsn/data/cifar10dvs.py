"""CIFAR10-DVS reader: the released AEDAT 2.0 event files → T frames by event count (docs/tasks.md §5.2).

Layout of ``data_dir``: one folder per class (``airplane`` … ``truck``, as the ten released zips unpack), each
holding ``cifar10_<class>_<i>.aedat`` for i = 0..999. Split of the PSN / TEBN code: i < 100 test, i ≥ 100 train
(900 / 100 per class). Item: (frames [T, 2, size, size] float32 event counts, label).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .augment import random_horizontal_flip, random_roll
from .base import candidate_dirs, resolve_data_dir
from .errors import corrupt_data, missing_data

TASK = "cifar10dvs"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SENSOR_SIZE = 128  # DVS128: 128 × 128 pixels
TEST_PER_CLASS = 100  # files 0..99 of each class are the test split (docs/tasks.md §5.2)
DEFAULT_STEPS = 10
DEFAULT_SIZE = 48  # frames resized 128 → 48 (TET / TEBN VGG input)
MAX_SHIFT = 5  # random roll of the training frames, pixels
DVS_SOURCE = ("https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671 (the AEDAT 2.0 release of .aedat "
              "files, ten class zips such as airplane.zip; unpack them into one folder)")
DVS_FILES = "<class>/cifar10_<class>_<i>.aedat (classes airplane … truck)"
_SUBDIRS = ("CIFAR10DVS", "cifar10dvs", "CIFAR10-DVS", "extract")
_FILE_NAME = re.compile(r"cifar10_([a-z]+)_(\d+)\.aedat")


def _header_length(data: bytes, path: Path) -> int:
    """Bytes of the ASCII header: the lines starting with '#'. An event's first byte is the top byte of its
    address, 0 for the 15-bit DVS128 addresses, so it never reads as '#'."""
    offset = 0
    while data.startswith(b"#", offset):
        end = data.find(b"\n", offset)
        if end < 0:
            raise corrupt_data(TASK, path, "the '#' header never ends", DVS_SOURCE)
        line = data[offset:end].strip()
        if line.startswith(b"#!AER-DAT") and not line.startswith(b"#!AER-DAT2"):
            raise corrupt_data(TASK, path, f"format {line.decode(errors='replace')!r}, expected #!AER-DAT2.0",
                               DVS_SOURCE)
        offset = end + 1
    return offset


def read_aedat(path: str | Path) -> dict[str, np.ndarray]:
    """Events of one AEDAT 2.0 file: ``t`` (µs), ``x``, ``y`` (0..127), ``p`` (0/1), in file order.

    Body: big-endian (uint32 address, uint32 timestamp) pairs. DVS128 address bits: polarity = bit 0,
    sensor x = bits 1-7, sensor y = bits 8-14. Orientation and polarity as SpikingJelly's CIFAR10-DVS loader, which
    the PSN code reads through: x = 127 − sensor y, y = 127 − sensor x, p = 1 − polarity (docs/tasks.md §5.2).
    """
    path = Path(path)
    data = path.read_bytes()
    body = memoryview(data)[_header_length(data, path):]
    if len(body) % 8:
        raise corrupt_data(TASK, path, f"{len(body)} event bytes, not a multiple of 8 (address, timestamp)",
                           DVS_SOURCE)
    words = np.frombuffer(body, dtype=">u4").reshape(-1, 2)
    address, timestamp = words[:, 0].astype(np.int64), words[:, 1].astype(np.int64)
    sensor_x, sensor_y = (address >> 1) & 0x7F, (address >> 8) & 0x7F
    return {"t": timestamp, "x": SENSOR_SIZE - 1 - sensor_y, "y": SENSOR_SIZE - 1 - sensor_x,
            "p": 1 - (address & 1)}


def integrate_frames(events: dict[str, np.ndarray], steps: int, size: int = SENSOR_SIZE) -> np.ndarray:
    """Event counts in ``steps`` frames of equal event number (SpikingJelly's ``split_by="number"``):
    frame j sums events [j·⌊N/T⌋, (j+1)·⌊N/T⌋), the last frame up to N. Returns float32 [T, 2, size, size],
    ``frames[j, p, y, x]`` = number of events of polarity p at pixel (x, y) in frame j."""
    count = len(events["x"])
    per_frame = count // steps
    lengths = np.full(steps, per_frame)
    lengths[-1] = count - per_frame * (steps - 1)
    frame = np.repeat(np.arange(steps), lengths)
    flat = ((frame * 2 + events["p"]) * size + events["y"]) * size + events["x"]
    return np.bincount(flat, minlength=steps * 2 * size * size).astype(np.float32).reshape(steps, 2, size, size)


def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """[T, 2, H, W] → [T, 2, size, size], bilinear with antialiasing (as PIL's resize of the TET / TEBN code)."""
    if frames.shape[-1] == size and frames.shape[-2] == size:
        return frames
    return F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _class_root(root: Path) -> Path:
    searched = candidate_dirs(root, _SUBDIRS)
    for folder in searched:
        if (folder / CLASSES[0]).is_dir():
            return folder
    raise missing_data(TASK, f"class folder {CLASSES[0]}/ ({DVS_FILES})", searched, DVS_SOURCE)


def list_split(root: Path, split: str) -> tuple[list[Path], list[int]]:
    """Files and labels of ``split``, ordered by class then file index."""
    files, labels = [], []
    for label, name in enumerate(CLASSES):
        folder = root / name
        indexed = []
        for path in folder.glob("*.aedat") if folder.is_dir() else ():
            match = _FILE_NAME.fullmatch(path.name)
            if match and match.group(1) == name:
                indexed.append((int(match.group(2)), path))
        if not indexed:
            raise missing_data(TASK, f"{name}/cifar10_{name}_<i>.aedat", [folder], DVS_SOURCE)
        chosen = sorted((index, path) for index, path in indexed if (index < TEST_PER_CLASS) == (split == "test"))
        files += [path for _, path in chosen]
        labels += [label] * len(chosen)
    return files, labels


class CIFAR10DVSDataset(Dataset):
    """Reads and integrates one AEDAT file per item; training items are flipped and rolled (docs/tasks.md §5.2)."""

    def __init__(self, files: list[Path], labels: list[int], steps: int, size: int, augment: bool):
        self.files, self.labels = files, torch.tensor(labels, dtype=torch.long)
        self.steps, self.size, self.augment = steps, size, augment
        self.num_classes = len(CLASSES)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames = torch.from_numpy(integrate_frames(read_aedat(self.files[index]), self.steps))
        frames = resize_frames(frames, self.size)
        if self.augment:
            frames = random_roll(random_horizontal_flip(frames), MAX_SHIFT)
        return frames, int(self.labels[index])


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{TASK}: {name} must be a positive int, got {value!r}")
    return value


def build_cifar10dvs(split: str, data_dir, steps: int = DEFAULT_STEPS, size: int = DEFAULT_SIZE,
                     augment: bool | None = None) -> CIFAR10DVSDataset:
    """Task ``cifar10dvs``: ``steps`` frames (T) of ``size`` × ``size`` pixels; ``augment`` None = on for train."""
    _check_positive(steps, "steps")
    if _check_positive(size, "size") > SENSOR_SIZE:
        raise ValueError(f"{TASK}: size must be at most the sensor's {SENSOR_SIZE}, got {size}")
    root = _class_root(resolve_data_dir(data_dir, TASK, DVS_FILES, DVS_SOURCE))
    files, labels = list_split(root, split)
    return CIFAR10DVSDataset(files, labels, steps, size, split == "train" if augment is None else augment)
