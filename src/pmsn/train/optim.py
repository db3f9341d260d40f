"""Optimiser parameter groups, the learning-rate schedule and the masked-PSN λ schedule.

PMSN groups (spec neurons §5.4, experiments §3.1), by parameter name:
    "sequential": log_dt, log_A_real at neuron_lr, wd 0; A_imag, VinvB_*, CV_* at 10·neuron_lr, wd 0
                  (VinvB_real wd = ``vinvb_real_weight_decay`` when set: the S-MNIST/pixel-sCIFAR quirk);
                  D and every other parameter at the global lr/wd.
    "imagenet":   every kernel parameter at neuron_lr (A_imag at 10×), all with the global wd.
    "none":       one group at the global lr/wd (TC-LIF, PSN family, LIF baselines).
The schedule is a pure function of (epoch, step) that scales every group's ``initial_lr``, so resuming needs
only the epoch counter.
"""

from __future__ import annotations

import math

import torch

SLOW_NEURON_PARAMS = ("log_dt", "log_A_real")
FAST_NEURON_PARAMS = ("A_imag", "VinvB_real", "VinvB_imag", "CV_real", "CV_imag")


def parameter_groups(model: torch.nn.Module, optim) -> list[dict]:
    """Split ``model``'s trainable parameters into optimiser groups per ``optim.neuron_groups``."""
    groups: dict[str, dict] = {}

    def add(key: str, param, lr: float, weight_decay: float) -> None:
        group = groups.setdefault(key, {"name": key, "params": [], "lr": lr, "weight_decay": weight_decay})
        group["params"].append(param)

    for full_name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        name = full_name.rsplit(".", 1)[-1]
        rule = optim.neuron_groups
        if rule == "sequential" and name in SLOW_NEURON_PARAMS:
            add("neuron", param, optim.neuron_lr, 0.0)
        elif rule == "sequential" and name == "VinvB_real" and optim.vinvb_real_weight_decay is not None:
            add("neuron_fast_decayed", param, 10 * optim.neuron_lr, optim.vinvb_real_weight_decay)
        elif rule == "sequential" and name in FAST_NEURON_PARAMS:
            add("neuron_fast", param, 10 * optim.neuron_lr, 0.0)
        elif rule == "imagenet" and name == "A_imag":
            add("neuron_fast", param, 10 * optim.neuron_lr, optim.weight_decay)
        elif rule == "imagenet" and name in SLOW_NEURON_PARAMS + FAST_NEURON_PARAMS:
            add("neuron", param, optim.neuron_lr, optim.weight_decay)
        else:
            add("global", param, optim.lr, optim.weight_decay)
    return list(groups.values())


def build_optimizer(model: torch.nn.Module, optim) -> torch.optim.Optimizer:
    groups = parameter_groups(model, optim)
    if optim.name == "sgd":
        optimizer = torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum)
    else:  # adamw: decoupled weight decay; adam: L2 added to the gradient (identical at wd 0, the TC-LIF setting)
        cls = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
        optimizer = cls(groups, lr=optim.lr, betas=tuple(optim.betas))
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    return optimizer


def lr_factor(schedule, epochs: int, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
    """Multiplier of the initial lr at ``epoch`` (0-based) and ``step`` within it.

    cosine: ½(1 + cos(π·progress)), progress = epoch / t_max, or (epoch + step/steps_per_epoch) / t_max per step
    (= torch's CosineAnnealingLR with eta_min 0); multistep: γ^(#milestones ≤ epoch); step: γ^⌊epoch/step_size⌋.
    """
    if schedule.name == "constant":
        return 1.0
    if schedule.name == "multistep":
        return schedule.gamma ** sum(1 for m in schedule.milestones if m <= epoch)
    if schedule.name == "step":
        return schedule.gamma ** (epoch // schedule.step_size)
    t_max = schedule.t_max or epochs
    progress = epoch + (step / steps_per_epoch if schedule.per_step else 0.0)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, t_max) / t_max))


def apply_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor


def mask_lambda(epoch: int, epochs: int, speed: float | None = 8.0) -> float:
    """Progressive masking of masked PSN at the start of ``epoch`` (0-based): min(1, speed·e/(epochs − 1)) with
    the paper's speed 8 (spec §3.3). A single-epoch run, or ``speed=None``, trains the fully masked neuron (λ = 1).
    """
    if epochs <= 1 or speed is None:
        return 1.0
    if speed <= 0:
        raise ValueError(f"mask_speed must be > 0 or null, got {speed}")
    return min(1.0, speed * epoch / (epochs - 1))


def set_mask_lambda(model: torch.nn.Module, value: float) -> int:
    """Call ``set_lambda(value)`` on every module that has it (MaskedPSN); returns how many were set."""
    count = 0
    for module in model.modules():
        if callable(getattr(module, "set_lambda", None)):
            module.set_lambda(value)
            count += 1
    return count
