"""Parameter groups by declared role (docs/training.md §2), the lr schedule and the masked-PSN λ schedule."""

import math

import pytest
import torch

from pmsn.models import build_model
from pmsn.neurons import MaskedPSN
from pmsn.train.config import OptimConfig, ScheduleConfig
from pmsn.train.optim import build_optimizer, lr_factor, mask_lambda, parameter_groups, set_mask_lambda


def _groups_by_param(model, optim):
    names = {id(p): n.rsplit(".", 1)[-1] for n, p in model.named_parameters()}
    table = {}
    for group in parameter_groups(model, optim):
        for param in group["params"]:
            table.setdefault(names[id(param)], set()).add((group["lr"], group["weight_decay"]))
    return table


def test_sequential_groups_with_vinvb_quirk():
    model = build_model("pmsn_smnist", neuron="pmsn", num_classes=10, width=8, depth=2, T=49)
    optim = OptimConfig(lr=1e-2, neuron_lr=1e-3, weight_decay=1e-2, vinvb_real_weight_decay=1e-2)
    table = _groups_by_param(model, optim)
    assert table["log_dt"] == table["log_A_real"] == {(1e-3, 0.0)}
    for name in ("A_imag", "VinvB_imag", "CV_real", "CV_imag"):
        assert table[name] == {(1e-2, 0.0)}, name
    assert table["VinvB_real"] == {(1e-2, 1e-2)}  # the S-MNIST code quirk
    assert table["D"] == table["weight"] == table["bias"] == {(1e-2, 1e-2)}
    total = sum(p.numel() for g in parameter_groups(model, optim) for p in g["params"])
    assert total == sum(p.numel() for p in model.parameters())  # every parameter exactly once


def test_imagenet_and_single_group_rules():
    model = build_model("pmsn_smnist", neuron="pmsn", num_classes=10, width=8, depth=2, T=49)
    table = _groups_by_param(model, OptimConfig(lr=0.1, neuron_lr=0.1, weight_decay=1e-4, neuron_groups="imagenet"))
    assert table["A_imag"] == {(1.0, 1e-4)} and table["CV_real"] == {(0.1, 1e-4)} and table["D"] == {(0.1, 1e-4)}
    groups = parameter_groups(model, OptimConfig(lr=5e-4, weight_decay=0.0, neuron_groups="none"))
    assert len(groups) == 1 and groups[0]["lr"] == 5e-4


def test_groups_follow_declared_roles_not_names():
    class Toy(torch.nn.Module):
        optimizer_roles = {"slow": "neuron_slow", "fast": "neuron_fast"}

        def __init__(self):
            super().__init__()
            self.slow, self.fast = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
            self.log_dt = torch.nn.Parameter(torch.zeros(1))  # a PMSN name without a role: global

    optim = OptimConfig(lr=1e-2, neuron_lr=1e-3, weight_decay=0.5)
    table = _groups_by_param(Toy(), optim)
    assert table == {"slow": {(1e-3, 0.0)}, "fast": {(1e-2, 0.0)}, "log_dt": {(1e-2, 0.5)}}
    assert [g["name"] for g in parameter_groups(Toy(), optim)] == ["global", "neuron_slow", "neuron_fast"]
    Toy.optimizer_roles = {"slow": "sluggish"}
    with pytest.raises(ValueError, match="Toy.optimizer_roles gives 'slow' the role 'sluggish'"):
        parameter_groups(Toy(), optim)


def test_group_layout_is_stable_when_learning_rates_change():
    model = build_model("pmsn_smnist", neuron="pmsn", num_classes=10, width=8, depth=2, T=49)
    same = OptimConfig(lr=1e-3, neuron_lr=1e-3, weight_decay=0.0)
    other = OptimConfig(lr=1e-2, neuron_lr=1e-4, weight_decay=1e-2)
    layout = [[id(p) for p in g["params"]] for g in parameter_groups(model, same)]
    assert layout == [[id(p) for p in g["params"]] for g in parameter_groups(model, other)]  # resume may change lr


def test_build_optimizer_kinds():
    model = torch.nn.Linear(2, 2)
    assert isinstance(build_optimizer(model, OptimConfig(name="sgd")), torch.optim.SGD)
    assert isinstance(build_optimizer(model, OptimConfig(name="adam")), torch.optim.Adam)
    adamw = build_optimizer(model, OptimConfig(name="adamw", lr=3e-3))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["initial_lr"] == 3e-3


def test_cosine_per_epoch_matches_torch():
    epochs = 7
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        assert lr_factor(ScheduleConfig(), epochs, epoch) == pytest.approx(optimizer.param_groups[0]["lr"], abs=1e-12)
        optimizer.step()
        scheduler.step()


def test_cosine_per_step_and_step_schedules():
    per_step = ScheduleConfig(per_step=True)
    assert lr_factor(per_step, 2, 0, 5, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))
    assert lr_factor(per_step, 2, 1, 9, 10) > 0
    # TC-LIF S-MNIST schedule (docs/training.md §4.2)
    multistep = ScheduleConfig(name="multistep", milestones=[60, 80], gamma=0.1)
    assert [lr_factor(multistep, 200, e) for e in (0, 59, 60, 79, 80, 199)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])
    step = ScheduleConfig(name="step", step_size=10, gamma=0.8)
    assert lr_factor(step, 100, 25) == pytest.approx(0.64)
    assert lr_factor(ScheduleConfig(name="constant"), 5, 3) == 1.0


def test_mask_lambda_schedule():
    assert mask_lambda(0, 256) == 0.0
    assert mask_lambda(16, 256) == pytest.approx(8 * 16 / 255)
    assert mask_lambda(31, 256) < 1.0 and mask_lambda(32, 256) == 1.0  # λ hits 1 at e = 32 (docs/training.md §5)
    epochs = 17
    for epoch in range(epochs):
        expected = 1.0 if epoch >= (epochs - 1) / 8 else 8 * epoch / (epochs - 1)
        assert mask_lambda(epoch, epochs) == pytest.approx(expected)
    assert mask_lambda(0, 1) == 1.0


def test_set_mask_lambda_reaches_every_masked_psn():
    model = build_model("pmsn_smnist", neuron="masked_psn", num_classes=10, width=4, depth=2, T=16)
    masked = [m for m in model.modules() if isinstance(m, MaskedPSN)]
    assert len(masked) == 2
    assert set_mask_lambda(model, 0.25) == 2
    assert all(float(m.mask_lambda) == 0.25 for m in masked)


def test_mask_lambda_speed():
    assert [mask_lambda(e, 9) for e in (0, 1, 2)] == [0.0, 1.0, 1.0]  # paper speed 8: λ hits 1 after (E − 1)/8
    assert [mask_lambda(e, 9, speed=2.0) for e in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert mask_lambda(0, 9, speed=None) == 1.0
    with pytest.raises(ValueError, match="mask_speed"):
        mask_lambda(1, 9, speed=-1.0)
