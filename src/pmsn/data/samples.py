"""Tiny sample files in each task's released format, for smoke runs without the data set.

``write_samples(task, root)`` writes a few random items per split in exactly the layout and format the task's
reader expects (IDX, CIFAR pickles, AEDAT 2.0, SHD/SSC HDF5, WAV folders, JPEG class folders), so that
``build_dataset(task, split, root)`` reads them like the real download. ``pmsn train --smoke`` uses it when no data
directory is set (docs/training.md §8); the tests use the same writers for their fixtures. The contents are random
noise: a model trained on them learns nothing. The embedded ``smnist5k``/``psmnist5k`` need no files.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import wave
from pathlib import Path

import numpy as np

from .cifar import CIFAR_LAYOUTS, STATIC_CIFAR
from .cifar10dvs import CLASSES as DVS_CLASSES, SENSOR_SIZE, TEST_PER_CLASS
from .mnist import IMAGE_SIDE, MNIST_FILES
from .speech import BACKGROUND_FOLDER, KEYWORDS, SAMPLE_RATE, SPLIT_LISTS
from .spikes import CHANNELS, MAX_TIME, SPIKE_FILES

AEDAT_HEADER = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
                b"# Timestamps tick is 1 us\r\n")


# --- one file in each format ------------------------------------------------------------------------------------

def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """IDX (MNIST): magic 0, 0, type 0x08 (uint8), ndim; big-endian int32 dims; the raw bytes; ``.gz`` optional."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    payload = header + np.asarray(array).astype(np.uint8).tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)


def write_cifar_batch(path: Path, images: np.ndarray, labels, label_key: bytes) -> None:
    """A CIFAR python batch: a pickled dict with ``b"data"`` [N, 3072] uint8 and the labels under ``label_key``."""
    with open(path, "wb") as stream:
        pickle.dump({b"data": np.asarray(images, dtype=np.uint8).reshape(len(images), -1),
                     label_key: [int(label) for label in labels], b"batch_label": b"sample"}, stream)


def dvs_address(sensor_x, sensor_y, polarity) -> np.ndarray:
    """DVS128 address word of AEDAT 2.0: polarity bit 0, x bits 1-7, y bits 8-14."""
    return (np.asarray(sensor_y) << 8) | (np.asarray(sensor_x) << 1) | np.asarray(polarity)


def write_aedat(path: Path, sensor_x, sensor_y, polarity, timestamps, header: bytes = AEDAT_HEADER) -> None:
    """AEDAT 2.0: '#' header lines, then (address, timestamp) pairs of big-endian uint32."""
    words = np.stack([dvs_address(sensor_x, sensor_y, polarity), np.asarray(timestamps)], axis=1).astype(">u4")
    Path(path).write_bytes(header + words.tobytes())


def write_spike_h5(path: Path, times, units, labels) -> None:
    """SHD/SSC HDF5: ragged ``spikes/times`` (float32 s) and ``spikes/units`` (uint16), ``labels`` (uint16)."""
    import h5py

    def ragged(arrays):
        holder = np.empty(len(arrays), dtype=object)
        holder[:] = list(arrays)
        return holder

    with h5py.File(path, "w") as h5:
        spikes = h5.create_group("spikes")
        spikes.create_dataset("times", data=ragged(times), dtype=h5py.vlen_dtype(np.float32))
        spikes.create_dataset("units", data=ragged(units), dtype=h5py.vlen_dtype(np.uint16))
        h5.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        h5.create_group("extra").create_dataset("speaker", data=np.zeros(len(labels), dtype=np.uint16))


def write_wav(path: Path, samples, rate: int = SAMPLE_RATE, channels: int = 1) -> None:
    """16-bit PCM WAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(channels)
        stream.setsampwidth(2)
        stream.setframerate(rate)
        stream.writeframes(np.asarray(samples, dtype="<i2").tobytes())


# --- a few items of every task ----------------------------------------------------------------------------------
# Labels alternate between two classes, so the first items of a split (data.limit_train) hold both.

def _labels(count: int) -> np.ndarray:
    return np.arange(count) % 2


def _mnist(root: Path, rng: np.random.RandomState, per_split: int) -> None:
    for images_file, labels_file in MNIST_FILES.values():
        write_idx(root / images_file, rng.randint(0, 256, (per_split, IMAGE_SIDE, IMAGE_SIDE)))
        write_idx(root / labels_file, _labels(per_split))


def _cifar(layout_name: str):
    def write(root: Path, rng: np.random.RandomState, per_split: int) -> None:
        layout = CIFAR_LAYOUTS[layout_name]
        folder = root / layout.folder
        folder.mkdir(parents=True, exist_ok=True)
        for files in layout.files.values():
            for name in files:
                write_cifar_batch(folder / name, rng.randint(0, 256, (per_split, 3, 32, 32)), _labels(per_split),
                                  layout.label_key)
    return write


def _dvs(root: Path, rng: np.random.RandomState, per_split: int) -> None:
    files_per_class = max(1, per_split // len(DVS_CLASSES))
    for name in DVS_CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in [*range(files_per_class), *range(TEST_PER_CLASS, TEST_PER_CLASS + files_per_class)]:
            count = int(rng.randint(200, 400))
            write_aedat(root / name / f"cifar10_{name}_{index}.aedat", rng.randint(0, SENSOR_SIZE, count),
                        rng.randint(0, SENSOR_SIZE, count), rng.randint(0, 2, count),
                        np.sort(rng.randint(0, 10 ** 6, count)))


def _spikes(task: str):
    def write(root: Path, rng: np.random.RandomState, per_split: int) -> None:
        for file_name in SPIKE_FILES[task].values():
            sizes = rng.randint(20, 200, per_split)
            times = [np.sort(rng.uniform(0, MAX_TIME, size)).astype(np.float32) for size in sizes]
            units = [rng.randint(0, CHANNELS, size).astype(np.uint16) for size in sizes]
            write_spike_h5(root / file_name, times, units, _labels(per_split))
    return write


def _gsc(root: Path, rng: np.random.RandomState, per_split: int) -> None:
    words = (*KEYWORDS[:2], "cat")  # two keywords and one word of the "unknown" class
    listed = {split: [] for split in SPLIT_LISTS}
    for index in range(per_split):
        for split in ("train", *SPLIT_LISTS):
            clip = f"{words[index % len(words)]}/{split}{index:02d}_nohash_0.wav"
            write_wav(root / clip, rng.randint(-8000, 8000, SAMPLE_RATE))
            if split in listed:
                listed[split].append(clip)
    for split, file_name in SPLIT_LISTS.items():
        (root / file_name).write_text("".join(f"{clip}\n" for clip in listed[split]))
    write_wav(root / BACKGROUND_FOLDER / "white_noise.wav", rng.randint(-3000, 3000, 3 * SAMPLE_RATE))


def _imagenet(root: Path, rng: np.random.RandomState, per_split: int) -> None:
    from PIL import Image

    for folder in ("train", "val"):
        for index in range(per_split):
            wnid = f"n{index % 2:08d}"
            (root / folder / wnid).mkdir(parents=True, exist_ok=True)
            pixels = rng.randint(0, 256, (int(rng.randint(40, 80)), int(rng.randint(40, 80)), 3)).astype(np.uint8)
            Image.fromarray(pixels).save(root / folder / wnid / f"{wnid}_{index}.JPEG", quality=90)


SAMPLE_WRITERS = {
    "smnist": _mnist, "psmnist": _mnist,
    **{name: _cifar(name) for name in CIFAR_LAYOUTS},
    **{name: _cifar(layout) for name, layout in STATIC_CIFAR.items()},
    "cifar10dvs": _dvs, "shd": _spikes("shd"), "ssc": _spikes("ssc"), "gsc": _gsc, "imagenet": _imagenet,
}


def needs_files(task: str) -> bool:
    """Whether ``task`` reads files from a data directory (every task but the embedded 5k-digit ones)."""
    return task in SAMPLE_WRITERS


def write_samples(task: str, root: str | Path, per_split: int = 10, seed: int = 0) -> Path:
    """Write about ``per_split`` random items per split of ``task`` into ``root``, in the released layout; returns
    ``root``, to pass as ``data_dir``."""
    if task not in SAMPLE_WRITERS:
        raise ValueError(f"write_samples: task {task!r} has no files to write; expected one of "
                         f"{sorted(SAMPLE_WRITERS)}")
    if not isinstance(per_split, int) or per_split < 2:
        raise ValueError(f"write_samples: per_split must be an int >= 2, got {per_split!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    SAMPLE_WRITERS[task](root, np.random.RandomState(seed), per_split)
    return root
