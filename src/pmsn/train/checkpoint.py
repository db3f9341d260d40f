"""Checkpoints: atomic writes, RNG capture/restore, and the architecture check on load.

A checkpoint is a ``torch.save`` dict: ``format``, ``architecture`` (model name, neuron, builder options),
``config`` (the resolved run config), ``model``/``optimizer`` state dicts, ``epoch`` (epochs completed),
``best_test_acc``/``best_epoch``, ``history`` (per-epoch metrics), ``wall_seconds`` (training time so far) and
``rng`` (Python, NumPy, torch CPU/CUDA states, one entry per rank). The learning-rate schedule is a pure
function of the epoch/step (``pmsn.train.optim``), so the epoch counter is its whole state; the data order is
seeded per epoch (``pmsn.train.loop``), so it needs none either.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from pmsn.io import atomic_torch_save, atomic_write_text  # noqa: F401  (re-exported)

FORMAT = "pmsn-checkpoint-v1"


def describe_architecture(arch: dict) -> str:
    options = ", ".join(f"{k}={v!r}" for k, v in sorted(arch.get("options", {}).items()))
    return f"{arch.get('model')}(neuron={arch.get('neuron')!r}{', ' + options if options else ''})"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A run folder means its ``last.pt``; a file is taken as is."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist (expected a .pt file or a run folder "
                                f"holding last.pt)")
    return path


def load_checkpoint(path: str | Path) -> dict:
    path = resolve_checkpoint_path(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{str(path)!r} is not a pmsn training checkpoint (expected format {FORMAT!r}, "
                         f"found {found!r})")
    checkpoint["path"] = str(path)
    return checkpoint


def check_architecture(checkpoint: dict, expected: dict) -> None:
    """Raise ``ValueError`` naming both architectures when the checkpoint was trained on another model."""
    stored = checkpoint["architecture"]
    if expected != stored:
        raise ValueError(f"checkpoint {checkpoint.get('path', '')!r} holds weights of "
                         f"{describe_architecture(stored)}, but the model to load them into is "
                         f"{describe_architecture(expected)}")


def load_model_state(model: torch.nn.Module, checkpoint: dict) -> None:
    """Strict load; a shape or key mismatch is reported with the architecture the checkpoint came from."""
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {checkpoint.get('path', '')!r} ({describe_architecture(checkpoint['architecture'])})"
                         f" does not fit model {type(model).__name__}: {err}") from None
