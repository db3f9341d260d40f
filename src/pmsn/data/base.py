"""Shared pieces of the readers: the in-memory sequence data set and the file look-up under the data directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch.utils.data import Dataset

from .errors import DATA_DIR_HINT, MissingDataError, missing_data

DATA_DIR_ENV = "PMSN_DATA"


class SequenceDataset(Dataset):
    """Samples preprocessed once into one tensor: ``inputs`` [N, T, *features], ``labels`` [N] int64.

    ``ds[i]`` returns ``(inputs[i], int(labels[i]))``: time first per sample. The whole tensors are public so a
    trainer may also slice batches directly (``ds.inputs[idx]``) without a DataLoader.
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, num_classes: int):
        if inputs.shape[0] != labels.shape[0]:
            raise ValueError(f"inputs hold {inputs.shape[0]} samples but labels {labels.shape[0]}")
        self.inputs = inputs
        self.labels = labels.long()
        self.num_classes = num_classes

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.inputs[index], int(self.labels[index])


def resolve_data_dir(data_dir: str | os.PathLike | None, task: str, expected: str, source: str) -> Path:
    """``data_dir`` if given, else ``$PMSN_DATA``, else a :class:`MissingDataError` naming what is expected."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not chosen:
        raise MissingDataError(
            f"{task}: no data directory given; the task needs {expected} from {source}: {DATA_DIR_HINT}."
        )
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise missing_data(task, f"data directory {path} (holding {expected})", [path], source)
    return path


def candidate_dirs(root: Path, subdirs: Sequence[str]) -> list[Path]:
    """``root`` itself and the usual sub-folders a download unpacks into, in search order."""
    return [root] + [root / sub for sub in subdirs]


def find_path(
    root: Path, names: Sequence[str], subdirs: Sequence[str], task: str, expected: str, source: str
) -> Path:
    """First existing ``dir/name`` over the candidate dirs and ``names`` (e.g. raw then ``.gz``), else an error."""
    searched = candidate_dirs(root, subdirs)
    for folder in searched:
        for name in names:
            if (folder / name).exists():
                return folder / name
    raise missing_data(task, expected, searched, source)
