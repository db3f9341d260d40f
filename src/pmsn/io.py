"""Atomic file writes: everything pmsn writes (checkpoints, CSV, YAML, figures) goes to a temporary file in the
target folder first and is renamed into place, so an interrupted run never leaves a half-written file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

TEMP_SUFFIX = ".pmsn-tmp"  # temp files are ".<target name>.<random>.pmsn-tmp" beside the target


def atomic_write(path: str | Path, write) -> None:
    """Write through ``write(handle)`` into a temp file in the same folder, then ``os.replace`` it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj, path: str | Path) -> None:
    atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files a killed ``atomic_write`` left in ``folder`` (the caller owns the folder); returns them."""
    stale = sorted(Path(folder).glob(f".*{TEMP_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
