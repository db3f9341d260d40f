"""SHD / SSC readers: HDF5 spike trains binned into dense count frames (docs/tasks.md §1.4).

File schema: ``spikes/times`` (ragged float seconds), ``spikes/units`` (ragged int channel 0..699), ``labels``.
Binning: edges = linspace(0, max_time, steps); bin = np.digitize(t, edges), so t in [0, max_time) falls in
bins 1..steps-1 and bin 0 stays empty; duplicate (bin, channel) events are summed. Events at t ≥ max_time (none in
the official files, where they would overflow) are dropped. ``pool`` sums groups of adjacent channels
(700 / 5 = 140); PMSN pools after its input dropout, so pooling here is a shortcut for dropout-free use.
With ``variable_length`` an item is ``(x, label, length)``, length = 1 + the last bin holding a spike (1 for a
sample without spikes); x is the same, all zero after it (docs/variable_length.md §5).
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import find_path, resolve_data_dir
from .collate import check_variable_length
from .errors import corrupt_data, missing_data

CHANNELS = 700
MAX_TIME = 1.4
DEFAULT_STEPS = 250
SPIKE_SOURCE = "https://zenkelab.org/datasets/ (Spiking Heidelberg Datasets, CC BY 4.0; .h5 or .h5.gz)"
SPIKE_FILES = {
    "shd": {"train": "shd_train.h5", "test": "shd_test.h5"},
    "ssc": {"train": "ssc_train.h5", "valid": "ssc_valid.h5", "test": "ssc_test.h5"},
}
SPIKE_SUBDIRS = ("shd", "SHD", "ssc", "SSC", "hdspikes")


def spike_bins(times: np.ndarray, steps: int = DEFAULT_STEPS, max_time: float = MAX_TIME) -> np.ndarray:
    """Bin index per spike time: ``np.digitize(times, linspace(0, max_time, steps))`` (1..steps-1 in range)."""
    return np.digitize(times, np.linspace(0.0, max_time, steps))


def event_indices(times: np.ndarray, units: np.ndarray, steps: int, max_time: float, pool: int) -> np.ndarray:
    """Flat index bin·(700/pool) + unit//pool of each kept event (events past the last bin are dropped)."""
    bins = spike_bins(times, steps, max_time)
    keep = bins < steps
    return bins[keep].astype(np.int64) * (CHANNELS // pool) + units[keep].astype(np.int64) // pool


def bin_spikes(times, units, steps: int = DEFAULT_STEPS, max_time: float = MAX_TIME, pool: int = 1) -> torch.Tensor:
    """Dense float32 counts [steps, 700 / pool] of one sample's spikes."""
    indices = event_indices(np.asarray(times), np.asarray(units), steps, max_time, pool)
    return counts_from_indices(indices, steps, CHANNELS // pool)


def counts_from_indices(indices: np.ndarray, steps: int, features: int) -> torch.Tensor:
    # NumPy's bincount: a few times faster than torch's for one sample, and free of intra-op thread overhead
    counts = np.bincount(indices, minlength=steps * features).astype(np.float32)
    return torch.from_numpy(counts.reshape(steps, features))


def _open_h5(path: Path, task: str):
    import h5py

    if not path.is_file():
        raise missing_data(task, path.name, [path.parent], SPIKE_SOURCE)
    try:
        if path.suffix == ".gz":  # the official downloads are gzipped; h5py reads the inflated bytes in memory
            with gzip.open(path, "rb") as stream:
                return h5py.File(io.BytesIO(stream.read()), "r")
        return h5py.File(path, "r")
    except (OSError, EOFError) as error:
        raise corrupt_data(task, path, f"cannot open as HDF5: {error}", SPIKE_SOURCE) from error


class SpikeDataset(Dataset):
    """``ds[i]`` = (float32 counts [steps, 700/pool], label). With ``preload`` all events are binned once in
    ``__init__`` (flat int32 indices); without it each item is read from the file (for the large SSC files;
    gunzip them first, since a ``.gz`` file is inflated in memory once per process). With ``variable_length``:
    (counts, label, length) for ``pad_collate``."""

    def __init__(self, path: Path, task: str, steps: int, max_time: float, pool: int, preload: bool,
                 variable_length: bool = False):
        if not isinstance(steps, int) or steps < 2:
            raise ValueError(f"{task}: steps must be an int >= 2, got {steps!r}")
        if not isinstance(pool, int) or pool < 1 or CHANNELS % pool:
            raise ValueError(f"{task}: pool must be a divisor of 700 (e.g. 1, 5), got {pool!r}")
        self.path, self.task = path, task
        self.variable_length = check_variable_length(task, variable_length)
        self.steps, self.max_time, self.pool = steps, max_time, pool
        self.features = CHANNELS // pool
        self.num_classes = {"shd": 20, "ssc": 35}[task]
        self._file = None
        self._file_pid = None
        h5 = _open_h5(path, task)
        try:
            try:
                self.labels = torch.from_numpy(np.asarray(h5["labels"][:], dtype=np.int64))
                times_set, units_set = h5["spikes"]["times"], h5["spikes"]["units"]
            except KeyError as error:
                raise corrupt_data(task, path, f"missing HDF5 key {error}; expected spikes/times, spikes/units, "
                                   "labels", SPIKE_SOURCE) from error
            if len(times_set) != len(self.labels) or len(units_set) != len(self.labels):
                raise corrupt_data(task, path, f"{len(times_set)} times / {len(units_set)} units / "
                                   f"{len(self.labels)} labels", SPIKE_SOURCE)
            if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
                raise corrupt_data(task, path, f"labels outside 0..{self.num_classes - 1}", SPIKE_SOURCE)
            self._events = self._preload(times_set[:], units_set[:]) if preload else None
        finally:
            h5.close()

    def _sample_indices(self, times: np.ndarray, units: np.ndarray, index: int) -> np.ndarray:
        times, units = np.asarray(times), np.asarray(units)
        if times.shape != units.shape or times.ndim != 1:
            raise corrupt_data(self.task, self.path, f"sample {index}: times {times.shape} vs units {units.shape}",
                               SPIKE_SOURCE)
        if units.size and (units.min() < 0 or units.max() >= CHANNELS):
            raise corrupt_data(self.task, self.path, f"sample {index}: unit ids outside 0..699", SPIKE_SOURCE)
        return event_indices(times, units, self.steps, self.max_time, self.pool)

    def _preload(self, all_times, all_units) -> tuple[np.ndarray, np.ndarray]:
        per_sample = [self._sample_indices(t, u, i) for i, (t, u) in enumerate(zip(all_times, all_units))]
        offsets = np.zeros(len(per_sample) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in per_sample], out=offsets[1:])
        flat = np.concatenate(per_sample) if per_sample else np.zeros(0, dtype=np.int64)
        return flat.astype(np.int32), offsets

    def _h5(self):
        # h5py handles must not cross a fork: (re)open lazily in each DataLoader worker process
        if self._file is None or self._file_pid != os.getpid():
            self._file, self._file_pid = _open_h5(self.path, self.task), os.getpid()
        return self._file

    def __getstate__(self) -> dict:
        # an open h5py handle cannot be pickled (DataLoader workers under "spawn"): they reopen the file
        return {**self.__dict__, "_file": None, "_file_pid": None}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | tuple[torch.Tensor, int, int]:
        if self._events is not None:
            flat, offsets = self._events
            indices = flat[offsets[index]:offsets[index + 1]]
        else:
            spikes = self._h5()["spikes"]
            indices = self._sample_indices(spikes["times"][index], spikes["units"][index], index)
        counts = counts_from_indices(indices, self.steps, self.features)
        if self.variable_length:  # the flat index is bin·features + channel
            return counts, int(self.labels[index]), int(indices.max()) // self.features + 1 if indices.size else 1
        return counts, int(self.labels[index])


def build_spikes(task: str, split: str, data_dir, steps: int = DEFAULT_STEPS, pool: int = 1,
                 max_time: float = MAX_TIME, preload: bool | None = None, variable_length: bool = False
                 ) -> SpikeDataset:
    """Tasks ``shd`` / ``ssc``; ``preload`` None = preload SHD, read SSC per item."""
    name = SPIKE_FILES[task][split]
    root = resolve_data_dir(data_dir, task, name, SPIKE_SOURCE)
    path = find_path(root, (name, name + ".gz"), SPIKE_SUBDIRS, task, f"{name} (or {name}.gz)", SPIKE_SOURCE)
    return SpikeDataset(path, task, steps, max_time, pool, preload=(task == "shd") if preload is None else preload,
                        variable_length=variable_length)
