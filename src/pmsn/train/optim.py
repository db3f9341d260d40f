"""Optimiser parameter groups, the learning-rate schedule and the masked-PSN λ schedule.

A neuron declares the optimiser role of its parameters where it creates them, in ``optimizer_roles``
(parameter name → role; PMSN: docs/training.md §2). This module maps roles to learning rate and weight decay
per ``optim.neuron_groups`` rule and never looks at parameter names:

    role               "sequential"                        "imagenet"
    neuron_slow        neuron_lr, wd 0                     neuron_lr, global wd
    neuron_frequency   10·neuron_lr, wd 0                  10·neuron_lr, global wd
    neuron_fast        10·neuron_lr, wd 0                  neuron_lr, global wd
    neuron_input       10·neuron_lr, wd 0 (or              neuron_lr, global wd
                       ``vinvb_real_weight_decay``: the S-MNIST/pixel-sCIFAR code's quirk)
    (no role)          global lr and wd                    global lr and wd

``"none"`` puts every parameter in one group at the global lr/wd (TC-LIF, PSN family, LIF baselines).
The schedule is a pure function of (epoch, step) that scales every group's ``initial_lr``, so resuming needs
only the epoch counter.
"""

from __future__ import annotations

import math

import torch

ROLES = ("neuron_slow", "neuron_frequency", "neuron_fast", "neuron_input")


def role_settings(rule: str, optim) -> dict[str, tuple[float, float]]:
    """(lr, weight decay) of each role under ``rule``; roles absent from the result use the global settings."""
    fast = 10 * optim.neuron_lr
    if rule == "sequential":
        input_decay = optim.vinvb_real_weight_decay if optim.vinvb_real_weight_decay is not None else 0.0
        return {"neuron_slow": (optim.neuron_lr, 0.0), "neuron_frequency": (fast, 0.0), "neuron_fast": (fast, 0.0),
                "neuron_input": (fast, input_decay)}
    if rule == "imagenet":
        return {"neuron_slow": (optim.neuron_lr, optim.weight_decay), "neuron_frequency": (fast, optim.weight_decay),
                "neuron_fast": (optim.neuron_lr, optim.weight_decay),
                "neuron_input": (optim.neuron_lr, optim.weight_decay)}
    return {}


def parameter_roles(model: torch.nn.Module) -> dict[int, str]:
    """``id(parameter) → role`` from every submodule's ``optimizer_roles`` declaration."""
    roles = {}
    for module in model.modules():
        for name, role in getattr(module, "optimizer_roles", {}).items():
            if role not in ROLES:
                raise ValueError(f"{type(module).__name__}.optimizer_roles gives {name!r} the role {role!r}; "
                                 f"expected one of {ROLES}")
            roles[id(getattr(module, name))] = role
    return roles


def parameter_groups(model: torch.nn.Module, optim) -> list[dict]:
    """Split ``model``'s trainable parameters into optimiser groups: ``global`` first, then one per role that the
    rule sets, in the order of ``ROLES`` (a stable layout, so a resume may change the learning rates)."""
    settings = role_settings(optim.neuron_groups, optim)
    roles = parameter_roles(model)
    groups = {name: {"name": name, "params": [], "lr": lr, "weight_decay": weight_decay}
              for name, (lr, weight_decay) in [("global", (optim.lr, optim.weight_decay))] + [
                  (role, settings[role]) for role in ROLES if role in settings]}
    for param in model.parameters():
        if param.requires_grad:
            role = roles.get(id(param))
            groups[role if role in settings else "global"]["params"].append(param)
    return [group for group in groups.values() if group["params"]]


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
    the PSN paper's speed 8 (docs/training.md §5). A single-epoch run, or ``speed=None``, trains the fully masked
    neuron (λ = 1).
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
