"""Per-task presets for ``pmsn train --task NAME``: the PMSN paper's recipe of each task (docs/training.md §4).

A preset is a partial config layered over the dataclass defaults of ``pmsn.train.config`` (which are the 5k-digit
CPU main job, including its single CPU thread; the full-size presets leave the thread count to torch) by
``resolve_config``. The YAML files in ``configs/`` pin one paper table row each (task x neuron x
size) on top of these.
"""

from __future__ import annotations


# S-MNIST row of docs/training.md §4.1: AdamW 1e-2 / neuron 1e-3 / wd 1e-2, dropout 0.1, batch 64, 200 epochs,
# cosine, seed 1111
_SEQUENTIAL_MNIST = {
    "model": {"name": "pmsn_smnist", "neuron": "pmsn", "options": {"width": 128, "dropout": 0.1}},
    "data": {"options": {}},
    "optim": {"name": "adamw", "lr": 1e-2, "neuron_lr": 1e-3, "weight_decay": 1e-2, "neuron_groups": "sequential",
              "vinvb_real_weight_decay": 1e-2},
    "schedule": {"name": "cosine"},
    "epochs": 200, "batch_size": 64, "seed": 1111, "threads": None,
}
# sCIFAR column row of docs/training.md §4.1: AdamW 1e-3 / 1e-3 / wd 0, batch 128, 200 epochs, LS 0.1,
# mixup/cutmix; augmentation docs/tasks.md §1.2
_SCIFAR_COLUMN = {
    "model": {"name": "scifar_column", "neuron": "pmsn", "options": {}},
    "data": {"options": {"mode": "column"}, "drop_last": True},
    "optim": {"name": "adamw", "lr": 1e-3, "neuron_lr": 1e-3, "weight_decay": 0.0, "neuron_groups": "sequential"},
    "schedule": {"name": "cosine"},
    "epochs": 200, "batch_size": 128, "seed": 1, "label_smoothing": 0.1, "mixup_alpha": 0.2, "cutmix_alpha": 1.0,
    "threads": None,
}
# sCIFAR pixel row of docs/training.md §4.1: as S-MNIST (with the VinvB_real quirk), no augmentation
_SCIFAR_PIXEL = {**_SEQUENTIAL_MNIST,
                 "model": {"name": "pmsn_scifar_pixel", "neuron": "pmsn", "options": {"dropout": 0.1}}}
# SHD row of docs/training.md §4.1, paper values: dropout 0.4, wd 0, batch 40, 150 epochs
# (code: 0.2 / 1e-3 / 100, docs/choices.md §5.3)
_SPEECH_SPIKES = {
    "model": {"name": "pmsn_shd", "neuron": "pmsn", "options": {"width": 256, "dropout": 0.4}},
    "data": {"options": {}},
    "optim": {"name": "adamw", "lr": 1e-2, "neuron_lr": 1e-3, "weight_decay": 0.0, "neuron_groups": "sequential"},
    "schedule": {"name": "cosine"},
    "epochs": 150, "batch_size": 40, "seed": 1111, "threads": None,
}
# GSC row of docs/training.md §4.2 (TC-LIF only): Adam 1e-3 (AdamW with weight decay 0 = Adam), x0.1 at 60/90/120,
# batch 128, 100 epochs
_GSC = {
    "model": {"name": "tclif_rec", "neuron": "tclif", "options": {"preset": "gsc"}},
    "data": {"options": {}},
    "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.0, "neuron_groups": "none"},
    "schedule": {"name": "multistep", "milestones": [60, 90, 120], "gamma": 0.1},
    "epochs": 100, "batch_size": 128, "seed": 0, "threads": None,
}
# ImageNet row of docs/training.md §4.1: SGD 0.1 (neuron lr 0.1 paper), wd 0, 320 epochs cosine, AMP, TET loss,
# seed 2020
_IMAGENET = {
    "model": {"name": "sew_resnet18", "neuron": "pmsn", "options": {}},
    "data": {"options": {}, "workers": 8},
    "optim": {"name": "sgd", "lr": 0.1, "neuron_lr": 0.1, "momentum": 0.9, "weight_decay": 0.0,
              "neuron_groups": "imagenet"},
    "schedule": {"name": "cosine"},
    "epochs": 320, "batch_size": 64, "seed": 2020, "amp": True, "loss": "tet", "threads": None,
}
# static CIFAR row of docs/training.md §4.3 (PSN paper): modified PLIF-Net, PSN, T = 4, SGD 0.1, wd 0, batch 128,
# 1024 epochs, cosine, LS 0.1, mixup/cutmix, AMP (docs/tasks.md §5.1, docs/choices.md §6.1)
_STATIC_CIFAR = {
    "model": {"name": "plif_net", "neuron": "psn", "options": {"width": 256, "T": 4}},
    "data": {"options": {}, "drop_last": True},
    "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "neuron_groups": "none"},
    "schedule": {"name": "cosine"},
    "epochs": 1024, "batch_size": 128, "seed": 2020, "label_smoothing": 0.1, "mixup_alpha": 0.2, "cutmix_alpha": 1.0,
    "amp": True, "threads": None,
}
# CIFAR10-DVS row of docs/training.md §4.3: DVS VGG, sliding PSN k = 2, SGD 0.1, wd 5e-4, batch 32, 200 epochs,
# cosine, TET loss, AMP (docs/tasks.md §5.2, docs/choices.md §6.2)
_CIFAR10_DVS = {
    "model": {"name": "dvs_vgg", "neuron": "sliding_psn", "options": {}},
    "data": {"options": {"steps": 10}},
    "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "neuron_groups": "none"},
    "schedule": {"name": "cosine"},
    "epochs": 200, "batch_size": 32, "seed": 1029, "loss": "tet", "amp": True, "threads": None,
}

PRESETS: dict[str, dict] = {
    # the main job holds 10 % of its training digits out to choose best.pt (docs/training.md §1.1)
    "smnist5k": {"data": {"valid_fraction": 0.1}},
    "psmnist5k": {"data": {"task": "psmnist5k", "options": {"resolution": 14}}, "model": {"options": {"dropout": 0.0}}},
    "smnist": _SEQUENTIAL_MNIST,
    # PS-MNIST: dropout 0 per the paper (code default 0.02), docs/choices.md §5.4
    "psmnist": {**_SEQUENTIAL_MNIST, "model": {**_SEQUENTIAL_MNIST["model"], "options": {"width": 128, "dropout": 0.0}},
                "optim": {**_SEQUENTIAL_MNIST["optim"], "vinvb_real_weight_decay": None}},
    "scifar10": _SCIFAR_COLUMN,
    "scifar100": _SCIFAR_COLUMN,
    "scifar10_pixel": {**_SCIFAR_PIXEL, "data": {"task": "scifar10", "options": {"mode": "pixel"}}},
    "scifar100_pixel": {**_SCIFAR_PIXEL, "data": {"task": "scifar100", "options": {"mode": "pixel"}}},
    "shd": _SPEECH_SPIKES,
    "ssc": _SPEECH_SPIKES,
    "gsc": _GSC,
    "imagenet": _IMAGENET,
    "cifar10": _STATIC_CIFAR,
    "cifar100": _STATIC_CIFAR,
    "cifar10dvs": _CIFAR10_DVS,
}
