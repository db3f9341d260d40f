"""Pretrained ANN ResNet weights into a SEW-ResNet (docs/tasks.md §2.6.1).

Both the PMSN and the PSN ImageNet recipes start from an ImageNet-trained ANN ResNet. The file is a standard
ResNet-18/34 state dict in torchvision's names (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer2.0.downsample.0/1``, ``fc``), read with ``torch.load(weights_only=True)``, bare or wrapped under
``"state_dict"`` or ``"model"``, optionally with DDP's ``module.`` prefix. SEW-ResNet names its convolutions,
batch norms and classifier exactly as torchvision does, so the name map is the identity; every such tensor is
copied after a shape check, the neurons and the per-step input offset ``pe`` keep their initialisation.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from pmsn.neurons.base import Neuron

WRAPPER_KEYS = ("state_dict", "model")
DDP_PREFIX = "module."
WHERE_FROM = ("torchvision's published ImageNet ResNet-18/34 weights (ResNet18_Weights.IMAGENET1K_V1 = "
              "https://download.pytorch.org/models/resnet18-f37072fd.pth, ResNet34_Weights.IMAGENET1K_V1 = "
              "https://download.pytorch.org/models/resnet34-b627a593.pth), downloaded by you")
_ANN_LAYERS = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)


def ann_tensor_names(model: nn.Module) -> list[str]:
    """The state-dict names of the network's convolutions, batch norms and linear layers (not its neurons')."""
    names = []
    for prefix, module in model.named_modules():
        if isinstance(module, _ANN_LAYERS) and not _inside_neuron(model, prefix):
            names += [f"{prefix}.{key}" for key in module.state_dict()]
    return names


def _inside_neuron(model: nn.Module, prefix: str) -> bool:
    parts = prefix.split(".")
    return any(isinstance(model.get_submodule(".".join(parts[:end])), Neuron) for end in range(1, len(parts)))


def read_resnet_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ResNet state-dict file: bare, or under one of ``WRAPPER_KEYS``; ``module.`` stripped."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"pretrained expects the path of a ResNet state-dict file, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {str(path)!r} not found; it should hold {WHERE_FROM}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or corrupt file fails anywhere in the unpickler: one line for all
        message = " ".join(str(error).split())[:300]
        raise ValueError(f"pretrained weights file {str(path)!r} is not a plain tensor state dict that loads with "
                         f"weights_only=True (nothing in it was run): {type(error).__name__}: {message}") from None
    state = loaded
    if isinstance(loaded, dict):
        wrapper = next((key for key in WRAPPER_KEYS if isinstance(loaded.get(key), dict)), None)
        state = loaded[wrapper] if wrapper is not None else loaded
    if not isinstance(state, dict) or not state:
        raise ValueError(f"pretrained weights file {str(path)!r} should hold a state dict (name → tensor), bare or "
                         f"under one of {list(WRAPPER_KEYS)}; got {type(state).__name__}")
    not_tensors = sorted(str(key) for key, value in state.items() if not isinstance(value, torch.Tensor))
    if not_tensors:
        raise ValueError(f"pretrained weights file {str(path)!r}: entries {not_tensors[:5]} are not tensors")
    if all(str(key).startswith(DDP_PREFIX) for key in state):
        state = {key[len(DDP_PREFIX):]: value for key, value in state.items()}
    return state


def load_resnet_weights(model: nn.Module, path: str | Path) -> list[str]:
    """Copy a torchvision-format ResNet state dict into ``model``'s ANN layers; return the names copied.

    Refused, in one line and before anything is copied: missing or extra names, shape mismatches. The classifier
    ``fc`` is skipped, with a warning, when the file's class count differs from the model's.
    """
    source = read_resnet_state(path)
    target = model.state_dict()
    expected = ann_tensor_names(model)
    missing = sorted(set(expected) - set(source))
    extra = sorted(set(source) - set(expected))
    if missing or extra:
        raise ValueError(f"pretrained weights file {str(path)!r} does not fit {type(model).__name__} (a ResNet state "
                         f"dict in torchvision's names expected): missing {_listed(missing)}, "
                         f"extra {_listed(extra)}")
    names = list(expected)
    fc_classes, model_classes = source["fc.weight"].shape[0], target["fc.weight"].shape[0]
    if fc_classes != model_classes:
        names = [name for name in names if not name.startswith("fc.")]
    mismatched = [f"{name} {tuple(source[name].shape)} vs {tuple(target[name].shape)}"
                  for name in names if source[name].shape != target[name].shape]
    if mismatched:
        raise ValueError(f"pretrained weights file {str(path)!r} does not fit {type(model).__name__}: shapes (file vs "
                         f"model) differ for {_listed(mismatched)}")
    if fc_classes != model_classes:
        warnings.warn(f"pmsn: pretrained weights {str(path)!r} have {fc_classes} classes, the model "
                      f"{model_classes}: fc keeps its initialisation", stacklevel=2)
    with torch.no_grad():
        for name in names:
            target[name].copy_(source[name])  # state_dict() tensors share storage with the parameters
    return names


def _listed(names: list[str], shown: int = 6) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} [{', '.join(names[:shown])}{more}]"
