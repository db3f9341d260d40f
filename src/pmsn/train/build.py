"""The one place that turns settings into data sets and a network, and a run back into a network.

    datasets = build_datasets(config)                        # "train", "test" (+ "valid": docs/training.md §1.1)
    model = build_from_config(config, dataset=datasets["train"])   # fresh weights
    model, config, checkpoint = load_run("runs/my-run")      # trained weights of last.pt (or any .pt of a run)
    model, config, checkpoint = load_run(pretrained())        # the shipped main-job network (96.5 %)

A checkpoint stores ``architecture`` = {model, neuron, options}: the builder's keyword arguments, including those
derived from the data (``T``, ``num_classes``). ``load_run`` rebuilds exactly that network (like nanoGPT's
``model_args``), after checking that the stored config still describes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from pmsn.data import build_dataset
from pmsn.models import build_model, model_options
from pmsn.train.checkpoint import check_architecture, load_checkpoint, load_model_state
from pmsn.train.config import TrainConfig, check_names, resolve_config, task_info


# Networks shipped in the package (weights, config and history; no optimiser state): src/pmsn/pretrained/README.md
PRETRAINED = {"smnist5k_pmsn": Path(__file__).resolve().parents[1] / "pretrained" / "smnist5k_pmsn.pt"}


def pretrained(name: str = "smnist5k_pmsn") -> Path:
    """The checkpoint file of a shipped network (default: ``pmsn train``'s PMSN on the embedded digits)."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained network {name!r}; expected one of {sorted(PRETRAINED)}")
    return PRETRAINED[name]


def data_dir_of(config: TrainConfig) -> str | None:
    return config.data.data_dir or os.environ.get("PMSN_DATA")


SPLITS = ("train", "valid", "test")


def _read_split(config: TrainConfig, split: str):
    """One split of the task's files; ``data.limit_*`` keeps a fixed random subset (files may be sorted)."""
    limit = {"train": config.data.limit_train, "test": config.data.limit_test}[split]
    dataset = build_dataset(config.data.task, split, data_dir=data_dir_of(config), **config.data.options)
    if limit is not None and limit < len(dataset):
        chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:limit]
        dataset = torch.utils.data.Subset(dataset, chosen.sort().values.tolist())
    return dataset


def build_datasets(config: TrainConfig, splits=("train", "test")) -> dict:
    """The configured data set of each split ("train", "valid", "test"). With ``data.valid_fraction`` > 0 the
    (limited) training set is split into "train" and "valid" (``stratified_split`` seeded by ``config.seed``),
    and "train" is the reduced set wherever it is asked for (docs/training.md §1.1)."""
    unknown = [split for split in splits if split not in SPLITS]
    if unknown:
        raise ValueError(f"unknown data split(s) {unknown}; expected some of {list(SPLITS)}")
    fraction = config.data.valid_fraction
    if "valid" in splits and fraction == 0:
        raise ValueError("the split 'valid' needs data.valid_fraction > 0 (a share of the training set held out), "
                         "got 0")
    datasets = {}
    if fraction > 0 and {"train", "valid"} & set(splits):
        datasets.update(_split_training_set(_read_split(config, "train"), fraction, config.seed))
    for split in splits:
        if split not in datasets:
            datasets[split] = _read_split(config, split)
    return {split: datasets[split] for split in splits}


def _split_training_set(dataset, fraction: float, seed: int) -> dict:
    """{"train": kept items, "valid": held-out items} as one-level Subsets of ``dataset``'s underlying data."""
    kept, held = stratified_split(class_labels(dataset), fraction, seed)
    if not held:
        raise ValueError(f"data.valid_fraction={fraction} holds out no sample of the {len(dataset)} training "
                         f"samples; raise it or the number of training samples")
    base, indices = dataset, list(range(len(dataset)))
    if isinstance(dataset, torch.utils.data.Subset):  # one level, so the loop still finds the data set's attributes
        base, indices = dataset.dataset, list(dataset.indices)
    return {"train": torch.utils.data.Subset(base, [indices[i] for i in kept]),
            "valid": torch.utils.data.Subset(base, [indices[i] for i in held])}


def class_labels(dataset) -> torch.Tensor:
    """The int label of every item [N]: the data set's ``labels``/``targets`` when it keeps them, through
    ``Subset``s, else read from the items once."""
    if isinstance(dataset, torch.utils.data.Subset):
        return class_labels(dataset.dataset)[torch.as_tensor(list(dataset.indices), dtype=torch.long)]
    for name in ("labels", "targets"):
        labels = getattr(dataset, name, None)
        if isinstance(labels, (torch.Tensor, list, tuple)) and len(labels) == len(dataset):
            return torch.as_tensor(labels, dtype=torch.long)
    return torch.tensor([int(dataset[index][1]) for index in range(len(dataset))], dtype=torch.long)


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept, held-out) positions, both sorted: per class c with n_c items, a permutation seeded by ``seed``
    holds out round(fraction · n_c) of them, at least 1 and at most n_c − 1 when n_c ≥ 2 (a lone item stays)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"stratified_split expects a fraction in [0, 1), got {fraction!r}")
    generator = torch.Generator().manual_seed(seed)
    held = []
    for label in torch.unique(labels).tolist():  # sorted, so the generator's draws are reproducible
        members = torch.nonzero(labels == label).flatten()
        count = len(members)
        take = min(max(int(fraction * count + 0.5), 1), count - 1) if count >= 2 and fraction > 0 else 0
        held += members[torch.randperm(count, generator=generator)[:take]].tolist()
    held_set = set(held)
    return [index for index in range(len(labels)) if index not in held_set], sorted(held)


def _sequence_steps(dataset, task: str) -> int | None:
    """T of the data as the loader delivers it (options such as the MNIST resolution or the CIFAR mode change it);
    None for static-image tasks (the model repeats the image over its own T) or when no data set is given."""
    if dataset is None or task_info(task).steps is None or len(dataset) == 0:
        return None
    return int(dataset[0][0].shape[0])  # items are time first


def model_arguments(config: TrainConfig, dataset=None) -> dict:
    """Keyword arguments of the model builder: the configured options plus the task's classes and (from
    ``dataset``) its T when unset."""
    check_names(config)
    arguments = dict(config.model.options)
    arguments.setdefault("num_classes", task_info(config.data.task).num_classes)
    if "T" in model_options(config.model.name) and "T" not in arguments:
        steps = _sequence_steps(dataset, config.data.task)
        if steps is not None:
            arguments["T"] = steps
    return arguments


def architecture(config: TrainConfig, arguments: dict) -> dict:
    """What a checkpoint stores to be rebuilt: model name, neuron and the builder's keyword arguments."""
    return {"model": config.model.name, "neuron": config.model.neuron, "options": dict(arguments)}


def build_from_config(config: TrainConfig, arguments: dict | None = None, dataset=None) -> torch.nn.Module:
    """A fresh network of ``config``; ``arguments`` default to ``model_arguments(config, dataset)``."""
    options = dict(model_arguments(config, dataset) if arguments is None else arguments)
    num_classes = options.pop("num_classes")
    return build_model(config.model.name, neuron=config.model.neuron, num_classes=num_classes, **options)


def load_run(path: str | Path, overrides: list[str] = (), flags: dict | None = None):
    """``(model, config, checkpoint)`` of a run folder (its last.pt) or a checkpoint file, with the trained weights
    on the CPU. ``overrides``/``flags`` may change data or device settings; changing the model raises the
    architecture error naming both."""
    checkpoint = load_checkpoint(path)
    config = resolve_config(base=checkpoint["config"], flags=flags, overrides=overrides)
    arguments = model_arguments(config)
    stored = checkpoint["architecture"]["options"]
    for derived in ("T", "num_classes"):  # set from the data at training time, not by the config
        if derived in stored and derived not in config.model.options:
            arguments[derived] = stored[derived]
    check_architecture(checkpoint, architecture(config, arguments))
    # the trained weights replace a pretrained start, whose file is not read again (docs/tasks.md §2.6.1)
    model = build_from_config(config, {key: value for key, value in arguments.items() if key != "pretrained"})
    load_model_state(model, checkpoint)
    return model, config, checkpoint
