"""Checkpoints: safe loading, atomic writes, RNG capture/restore, and the architecture check on load.

A checkpoint is a ``torch.save`` dict holding only tensors, plain containers (dict, list, tuple), strings,
numbers, booleans and None, so it is read with ``torch.load(..., weights_only=True)``, which refuses to run code
from the file. Keys: ``format``, ``architecture`` (model name, neuron, builder options), ``config`` (the resolved
run config), ``model``/``optimizer`` state dicts, ``epoch`` (epochs completed), ``best_test_acc``/``best_epoch``,
``history`` (per-epoch metrics), ``wall_seconds`` (training time so far) and ``rng`` (Python, NumPy, torch
CPU/CUDA generator states as tensors and numbers, one entry per rank). The learning-rate schedule is a pure function
of the epoch/step (``pmsn.train.optim``), so the epoch counter is its whole state; the data order is seeded per
epoch (``pmsn.train.loop``), so it needs none either.

Checkpoints of the first format (``pmsn-checkpoint-v1``) stored the NumPy RNG state as a pickled array and cannot
be read safely; :func:`convert_checkpoint` (``pmsn convert-checkpoint --trust``) rewrites a trusted one.
"""

from __future__ import annotations

import pickle
import random
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from pmsn.io import atomic_torch_save, atomic_write_text  # noqa: F401  (re-exported)

FORMAT = "pmsn-checkpoint-v2"
OLD_FORMATS = ("pmsn-checkpoint-v1",)


class CheckpointError(ValueError):
    """A file that is not a readable pmsn checkpoint: unsafe, corrupt, foreign or of an old format."""


def describe_architecture(arch: dict) -> str:
    options = ", ".join(f"{k}={v!r}" for k, v in sorted(arch.get("options", {}).items()))
    return f"{arch.get('model')}(neuron={arch.get('neuron')!r}{', ' + options if options else ''})"


# --- RNG states as tensors and numbers (weights_only-loadable) --------------------------------------------------

def rng_state() -> dict:
    version, mt_words, gauss = random.getstate()
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state = {"python": {"version": version, "state": torch.tensor(mt_words, dtype=torch.int64), "gauss": gauss},
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gauss": float(cached_gauss)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    python, numpy = state["python"], state["numpy"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- loading -------------------------------------------------------------------------------------------------------

def resolve_checkpoint_path(path: str | Path) -> Path:
    """A run folder means its ``last.pt``; a file is taken as is."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist (expected a .pt file or a run folder "
                                f"holding last.pt)")
    return path


def _convert_hint(path: Path) -> str:
    return (f"if it is a pmsn checkpoint of an older format from a source you trust, convert it with "
            f"`pmsn convert-checkpoint {path} --trust`")


def load_checkpoint(path: str | Path) -> dict:
    """Read a training checkpoint without executing anything in it; ``CheckpointError`` names the file otherwise."""
    path = resolve_checkpoint_path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        unsafe = re.search(r"GLOBAL ([\w.]+)", str(error))
        if unsafe:  # the restricted unpickler met a class or function: refuse without running it
            raise CheckpointError(f"checkpoint {str(path)!r} was not loaded: it holds {unsafe.group(1)}, not just "
                                  f"tensors and plain containers, and loading it could run code; "
                                  f"{_convert_hint(path)}") from None
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or truncated ({type(error).__name__}); use "
                              f"another copy (e.g. the run's best.pt or last.pt)") from None
    return _checked(checkpoint, path)


def _checked(checkpoint, path: Path) -> dict:
    found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
    if found in OLD_FORMATS:
        raise CheckpointError(f"checkpoint {str(path)!r} has the old format {found!r}; {_convert_hint(path)}")
    if found != FORMAT:
        if isinstance(checkpoint, dict) and "format" not in checkpoint:
            found = f"a dict with the keys {sorted(map(str, checkpoint))[:8]} and no 'format'"
        else:
            found = repr(found)
        raise CheckpointError(f"{str(path)!r} is not a pmsn training checkpoint (expected format {FORMAT!r}, "
                              f"found {found})")
    missing = sorted({"architecture", "config", "model", "optimizer", "epoch", "best_test_acc", "best_epoch",
                      "history", "rng", "wall_seconds"} - set(checkpoint))
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks the key(s) {missing}; it is damaged")
    checkpoint["path"] = str(path)
    return checkpoint


def convert_checkpoint(path: str | Path, out: str | Path | None = None) -> Path:
    """Rewrite a TRUSTED old-format checkpoint in the current, safely loadable format (unpickles it fully!)."""
    path = resolve_checkpoint_path(path)
    warnings.warn(f"pmsn: loading {str(path)!r} with full unpickling, which runs any code the file contains; "
                  "convert only files you trust", UserWarning, stacklevel=2)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a corrupt file: report it like load_checkpoint does
        raise CheckpointError(f"checkpoint {str(path)!r} could not be read ({type(error).__name__}: {error})") from None
    found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
    if found == FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} already has the format {FORMAT!r}; nothing to convert")
    if found not in OLD_FORMATS:
        raise CheckpointError(f"{str(path)!r} is not a pmsn training checkpoint (expected one of "
                              f"{list(OLD_FORMATS)}, found {found!r})")
    checkpoint["rng"] = [_rng_from_v1(state) for state in checkpoint["rng"]]
    checkpoint["format"] = FORMAT
    target = Path(out) if out is not None else path
    atomic_torch_save(checkpoint, target)
    _checked(torch.load(target, map_location="cpu", weights_only=True), target)  # the result must load safely
    return target


def _rng_from_v1(state: dict) -> dict:
    """v1 stored ``random.getstate()`` and ``np.random.get_state()`` as they come (a NumPy array inside)."""
    version, mt_words, gauss = state["python"]
    kind, keys, position, has_gauss, cached_gauss = state["numpy"]
    converted = {"python": {"version": int(version), "state": torch.tensor(mt_words, dtype=torch.int64),
                            "gauss": gauss},
                 "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys).astype(np.int64)),
                           "position": int(position), "has_gauss": int(has_gauss),
                           "cached_gauss": float(cached_gauss)},
                 "torch": state["torch"]}
    if "cuda" in state:
        converted["cuda"] = state["cuda"]
    return converted


# --- checks against the model --------------------------------------------------------------------------------------

def check_architecture(checkpoint: dict, expected: dict) -> None:
    """Raise ``ValueError`` naming both architectures when the checkpoint was trained on another model."""
    stored = checkpoint["architecture"]
    if expected != stored:
        raise CheckpointError(f"checkpoint {checkpoint.get('path', '')!r} holds weights of "
                              f"{describe_architecture(stored)}, but the model to load them into is "
                              f"{describe_architecture(expected)}")


def load_model_state(model: torch.nn.Module, checkpoint: dict) -> None:
    """Strict load; a shape or key mismatch is reported with the architecture the checkpoint came from."""
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        message = " ".join(str(err).split())
        raise CheckpointError(f"checkpoint {checkpoint.get('path', '')!r} "
                              f"({describe_architecture(checkpoint['architecture'])}) does not fit model "
                              f"{type(model).__name__}: {message}") from None
