"""S-MNIST / PS-MNIST readers (docs/tasks.md §1.1): raster scan, one pixel per step, values in [0, 1].

Two sources: the embedded 5,000-digit subset ``mnist5k.npz`` (tasks ``smnist5k``/``psmnist5k``, no download) and
the official MNIST IDX files (tasks ``smnist``/``psmnist``, raw or ``.gz``). ``resolution`` < 28 average-pools
the image (28/resolution)×(28/resolution) before the scan, so T = resolution².
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from .base import SequenceDataset, find_path, resolve_data_dir
from .errors import corrupt_data, missing_data

MNIST_SOURCE = "http://yann.lecun.com/exdb/mnist/ (files train-images-idx3-ubyte.gz etc.)"
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_SUBDIRS = ("mnist", "MNIST", "MNIST/raw")
IMAGE_SIDE = 28
PERMUTATION_SEED = 1111  # docs/tasks.md §1.1: first NumPy draw after seeding 1111

EMBEDDED_PATH = Path(__file__).with_name("mnist5k.npz")
EMBEDDED_SOURCE = "the pmsn package itself (src/pmsn/data/mnist5k.npz; reinstall pmsn)"
EMBEDDED_SPLIT_SEED = 0
EMBEDDED_TRAIN_FRACTION = 0.8

# IDX type codes (third magic byte) -> big-endian NumPy dtype
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path, task: str = "mnist") -> np.ndarray:
    """Read an IDX file (raw or gzip): magic = 0, 0, type code, number of dims; then big-endian int32 dims."""
    payload = path.read_bytes()
    if payload[:2] == b"\x1f\x8b":  # gzip magic: the .gz files of the official download
        try:
            payload = gzip.decompress(payload)
        except (OSError, EOFError) as error:
            raise corrupt_data(task, path, f"cannot decompress: {error}", MNIST_SOURCE) from error
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0 or payload[2] not in _IDX_DTYPES:
        raise corrupt_data(task, path, f"bad IDX magic number {payload[:4].hex() or 'none'}", MNIST_SOURCE)
    ndim = payload[3]
    header_size = 4 + 4 * ndim
    if len(payload) < header_size:
        raise corrupt_data(task, path, "truncated IDX header", MNIST_SOURCE)
    shape = tuple(int(d) for d in np.frombuffer(payload, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[payload[2]])
    expected_bytes = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(payload) != expected_bytes:
        raise corrupt_data(task, path, f"{len(payload)} bytes but header {shape} needs {expected_bytes}", MNIST_SOURCE)
    return np.frombuffer(payload, dtype=dtype, offset=header_size).reshape(shape).astype(dtype.newbyteorder("="))


def pixel_permutation(n_pixels: int, seed: int = PERMUTATION_SEED) -> np.ndarray:
    """The fixed PS-MNIST permutation: ``RandomState(seed).permutation(n_pixels)`` (docs/tasks.md §1.1)."""
    return np.random.RandomState(seed).permutation(n_pixels)


def check_resolution(resolution: int) -> int:
    if not isinstance(resolution, int) or resolution <= 0 or IMAGE_SIDE % resolution:
        raise ValueError(f"resolution must be a divisor of 28 (28, 14 or 7 for T = 784, 196, 49), got {resolution!r}")
    return resolution


def images_to_sequences(images: np.ndarray, resolution: int, permuted: bool) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, T, 1] in [0, 1], T = resolution².

    Pooling averages non-overlapping (28/resolution)² blocks; the scan is row-major; PS-MNIST then reorders the
    steps as permuted[t] = original[perm[t]] (docs/tasks.md §1.1) with the permutation of length T.
    """
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"images must be [N, 28, 28], got {list(images.shape)}")
    factor = IMAGE_SIDE // check_resolution(resolution)
    scaled = images.astype(np.float32) / 255.0
    pooled = scaled.reshape(-1, resolution, factor, resolution, factor).mean(axis=(2, 4), dtype=np.float32)
    sequences = pooled.reshape(len(images), resolution * resolution)
    if permuted:
        sequences = sequences[:, pixel_permutation(resolution * resolution)]
    return torch.from_numpy(np.ascontiguousarray(sequences)).unsqueeze(-1)


def _with_permutation(dataset: SequenceDataset, resolution: int, permuted: bool) -> SequenceDataset:
    """Record the PS-MNIST pixel order on the data set (the trainer stores it with the run, docs/tasks.md §1.1)."""
    dataset.permutation = pixel_permutation(resolution * resolution) if permuted else None
    return dataset


def embedded_split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Fixed stratified split of the embedded set: per class a seeded shuffle, first 80 % train, rest test."""
    rng = np.random.RandomState(EMBEDDED_SPLIT_SEED)
    chosen = []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_train = int(round(EMBEDDED_TRAIN_FRACTION * len(members)))
        chosen.append(members[:n_train] if split == "train" else members[n_train:])
    return np.sort(np.concatenate(chosen))


def load_embedded() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 embedded digits: uint8 images [5000, 28, 28] and uint8 labels [5000]."""
    try:
        with np.load(EMBEDDED_PATH) as archive:
            return archive["images"], archive["labels"]
    except FileNotFoundError as error:
        raise missing_data("smnist5k", EMBEDDED_PATH.name, [EMBEDDED_PATH.parent], EMBEDDED_SOURCE) from error
    except (OSError, KeyError, ValueError) as error:
        raise corrupt_data("smnist5k", EMBEDDED_PATH, str(error), EMBEDDED_SOURCE) from error


def build_mnist5k(split: str, permuted: bool, resolution: int = 14) -> SequenceDataset:
    """Tasks ``smnist5k`` / ``psmnist5k``: 4,000 train / 1,000 test embedded digits."""
    images, labels = load_embedded()
    indices = embedded_split_indices(labels, split)
    inputs = images_to_sequences(images[indices], resolution, permuted)
    return _with_permutation(SequenceDataset(inputs, torch.from_numpy(labels[indices].astype(np.int64)),
                                             num_classes=10), resolution, permuted)


def build_mnist(split: str, data_dir, permuted: bool, resolution: int = 28) -> SequenceDataset:
    """Tasks ``smnist`` / ``psmnist`` from the official IDX files (60k train / 10k test)."""
    task = "psmnist" if permuted else "smnist"
    check_resolution(resolution)
    image_name, label_name = MNIST_FILES[split]
    expected = f"{image_name}(.gz) and {label_name}(.gz)"
    root = resolve_data_dir(data_dir, task, expected, MNIST_SOURCE)
    arrays = []
    for name in (image_name, label_name):
        path = find_path(root, (name, name + ".gz"), MNIST_SUBDIRS, task, f"{name} (or {name}.gz)", MNIST_SOURCE)
        arrays.append((path, read_idx(path, task)))
    (image_path, images), (label_path, labels) = arrays
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise corrupt_data(task, image_path, f"expected uint8 images [N, 28, 28], got {images.dtype} "
                           f"{list(images.shape)}", MNIST_SOURCE)
    if labels.ndim != 1 or len(labels) != len(images) or labels.size and labels.max() > 9:
        raise corrupt_data(task, label_path, f"expected {len(images)} labels in 0..9", MNIST_SOURCE)
    inputs = images_to_sequences(images, resolution, permuted)
    return _with_permutation(SequenceDataset(inputs, torch.from_numpy(labels.astype(np.int64)), num_classes=10),
                             resolution, permuted)
