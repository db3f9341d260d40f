"""Errors raised by the data readers: one clear message naming the file, its source and how to point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

DATA_DIR_HINT = "pass --data-dir DIR (or set the PMSN_DATA environment variable)"


class DataError(Exception):
    """Base class of every data-set error raised by :mod:`pmsn.data`."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file or folder that a task needs is not there."""


class CorruptDataError(DataError, ValueError):
    """A data file exists but its content is not in the expected format."""


def missing_data(task: str, expected: str, searched: Iterable[Path | str], source: str) -> MissingDataError:
    """The error for a missing file: what was expected, where it was looked for, where it comes from."""
    places = ", ".join(str(place) for place in searched) or "(no data directory given)"
    return MissingDataError(
        f"{task}: {expected} not found (looked in: {places}). Get it from {source} and {DATA_DIR_HINT} "
        f"pointing at the folder that holds it."
    )


def corrupt_data(task: str, path: Path | str, problem: str, source: str) -> CorruptDataError:
    """The error for an unreadable file: which file, what is wrong, where a good copy comes from."""
    return CorruptDataError(f"{task}: {path} is not a valid data file ({problem}). Re-download it from {source}.")
