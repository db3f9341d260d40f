"""Typed training configuration: dataclasses with the main job's defaults, YAML loading and ``key=value`` overrides.

Precedence when resolving a run (``resolve_config``): dataclass defaults ← task preset (``pmsn.train.presets``)
← YAML file ← command-line flags ← ``--set`` overrides. Nested mappings merge key by key, except that a layer
which names a different ``model.name`` starts ``model.options`` afresh (the old model's options would not fit). Every key is checked: an unknown key or a value of the
wrong type/choice raises ``ValueError`` naming the valid keys or values. Free-form ``options`` dicts are passed
as keyword arguments to ``build_model`` / ``build_dataset``, which check them themselves.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import yaml

from pmsn.data import TASKS
from pmsn.io import atomic_write_text
from pmsn.models import MODELS, model_options
from pmsn.neurons import NEURONS
from pmsn.train.presets import PRESETS

NEURON_GROUP_RULES = ("sequential", "imagenet", "none")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "multistep", "step", "constant")
LOSSES = ("ce", "tet")


def _choices(*values, **kwargs):
    return field(metadata={"choices": values}, **kwargs)


def _range(default, low=None, high=None, *, low_open=False, high_open=False, **kwargs):
    """A number field whose value (each element, for a list) must lie in the interval; None passes."""
    bounds = (low, high, low_open, high_open)
    if "default_factory" in kwargs:
        return field(metadata={"range": bounds}, **kwargs)
    return field(default=default, metadata={"range": bounds})


def _positive(default, **kwargs):
    return _range(default, 0, low_open=True, **kwargs)


def _at_least(low, default, **kwargs):
    return _range(default, low, **kwargs)


@dataclass
class ModelConfig:
    name: str = "pmsn_smnist"  # a name of pmsn.models.build_model
    neuron: str = "pmsn"  # a name of pmsn.neurons.NEURONS
    options: dict = field(default_factory=lambda: {"width": 64, "dropout": 0.1})


@dataclass
class DataConfig:
    task: str = "smnist5k"  # a key of pmsn.data.TASKS
    data_dir: Optional[str] = None  # else $PMSN_DATA, else the data package's default
    options: dict = field(default_factory=lambda: {"resolution": 14})
    workers: int = _at_least(0, 0)  # DataLoader worker processes (0 = load in the training process)
    limit_train: Optional[int] = _at_least(1, None)  # use only the first N training samples (smoke runs)
    limit_test: Optional[int] = _at_least(1, None)
    drop_last: bool = False  # drop the last partial training batch (the sCIFAR recipe does)
    # held out of the training set to choose best.pt (docs/training.md §1.1); 0 = choose on test as the papers do
    valid_fraction: float = _range(0.0, 0, 1, high_open=True)


@dataclass
class OptimConfig:
    name: str = _choices(*OPTIMIZERS, default="adamw")
    lr: float = _positive(1e-2)  # global lr: weights, biases, BN, PMSN's D (docs/training.md §2.1)
    weight_decay: float = _at_least(0, 1e-2)
    neuron_lr: float = _positive(1e-3)  # PMSN log_dt/log_A_real; A_imag/VinvB/CV at 10x (docs/training.md §2)
    neuron_groups: str = _choices(*NEURON_GROUP_RULES, default="sequential")
    vinvb_real_weight_decay: Optional[float] = _at_least(0, None)  # the S-MNIST/pixel-sCIFAR code quirk: 1e-2 (else 0)
    momentum: float = _range(0.9, 0, 1, high_open=True)  # SGD only
    betas: list[float] = _range(None, 0, 1, high_open=True, default_factory=lambda: [0.9, 0.999])  # Adam(W) only


@dataclass
class ScheduleConfig:
    name: str = _choices(*SCHEDULES, default="cosine")
    per_step: bool = False  # cosine: anneal every optimiser step instead of every epoch
    t_max: Optional[int] = _at_least(1, None)  # cosine period in epochs (default: the number of epochs)
    milestones: list[int] = _at_least(1, None, default_factory=list)  # multistep: epochs where lr *= gamma
    step_size: int = _at_least(1, 10)  # step: every step_size epochs lr *= gamma
    gamma: float = _positive(0.1)


@dataclass
class TrainConfig:
    preset: str = "smnist5k"  # the preset the config starts from (pmsn.train.presets); data.task is the data set
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    epochs: int = _at_least(1, 40)
    batch_size: int = _at_least(1, 64)  # per process under torchrun
    eval_batch_size: Optional[int] = _at_least(1, None)  # default: 2 x batch_size
    loss: str = _choices(*LOSSES, default="ce")  # "tet": mean over t of CE(out_t, y) (docs/training.md §1.3)
    label_smoothing: float = _range(0.0, 0, 1, high_open=True)
    mixup_alpha: float = _at_least(0, 0.0)  # with cutmix_alpha: Mixup or CutMix per batch (docs/tasks.md §1.2)
    cutmix_alpha: float = _at_least(0, 0.0)
    grad_clip: Optional[float] = _positive(None)  # max gradient norm (none of the papers clips)
    mask_speed: Optional[float] = _at_least(0, 8.0)  # masked PSN λ schedule (docs/training.md §5); null: λ = 1
    seed: int = _range(1111, 0, 2 ** 63 - 1)
    device: str = "auto"  # "auto" = cuda if available, else cpu
    amp: bool = False  # bf16 autocast on CUDA
    threads: Optional[int] = _at_least(1, 1)  # torch intra-op threads on CPU (None: torch's choice); see the README on why 1
    out: str = "runs"  # root of run folders
    name: Optional[str] = None  # run folder name (default: <preset>-<model>-<neuron>-<timestamp>)
    log_every: int = _at_least(1, 50)  # optimiser steps between rows of steps.csv
    note: str = ""  # free text kept with the run (e.g. the paper table row)


# --- generic dataclass <-> dict conversion with checks ---------------------------------------------------------

def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(data: dict, cls=TrainConfig, prefix: str = ""):
    """Build ``cls`` from a (partial) nested dict, checking keys, types and choices."""
    if not isinstance(data, dict):
        raise ValueError(f"config section {prefix.rstrip('.') or '<root>'!r} must be a mapping, "
                         f"got {type(data).__name__}: {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown config key(s) {[prefix + k for k in unknown]}; valid keys here: "
                         f"{[prefix + k for k in fields]}")
    values = {}
    for name, value in data.items():
        key = prefix + name
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = config_from_dict(value, kind, key + ".")
        else:
            values[name] = _coerce(value, kind, key)
            choices = fields[name].metadata.get("choices")
            if choices and values[name] not in choices:
                raise ValueError(f"config key {key!r} must be one of {list(choices)}, got {value!r}")
            if "range" in fields[name].metadata:
                nullable = typing.get_origin(kind) in (typing.Union, types.UnionType)
                _check_range(values[name], fields[name].metadata["range"], key, nullable)
    config = cls(**values)
    if cls is TrainConfig:
        _check_run_settings(config)
    return config


def _check_range(value, bounds, key: str, nullable: bool) -> None:
    low, high, low_open, high_open = bounds
    for number in value if isinstance(value, list) else [value]:
        if number is None:
            continue
        if ((low is not None and (number <= low if low_open else number < low))
                or (high is not None and (number >= high if high_open else number > high))):
            if high is None:
                wanted = f"{'>' if low_open else '>='} {low}"
            else:
                wanted = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            wanted = (f"numbers {wanted} in every element" if isinstance(value, list)
                      else f"a number {wanted}" + (" or null" if nullable else ""))
            raise ValueError(f"config key {key!r} expects {wanted}, got {number!r}")


def _check_run_settings(config: TrainConfig) -> None:
    """Checks that span a value's form rather than its range: the run folder, the device, Adam's betas."""
    name = config.name
    if name is not None and (not name.strip() or name in (".", "..") or "/" in name or "\\" in name
                             or Path(name).is_absolute() or name.startswith(".") or "\0" in name):
        raise ValueError(f"config key 'name' must be a plain folder name inside 'out' (no '/', no leading '.'), "
                         f"got {name!r}")
    if not config.out.strip():
        raise ValueError("config key 'out' must name a folder, got an empty string")
    if len(config.optim.betas) != 2:
        raise ValueError(f"config key 'optim.betas' expects two numbers [beta1, beta2], got {config.optim.betas!r}")
    if config.device != "auto":
        try:
            torch.device(config.device)
        except RuntimeError:
            raise ValueError(f"config key 'device' expects auto, cpu, cuda or cuda:N, got {config.device!r}") from None


def _coerce(value: Any, kind, key: str):
    """Convert ``value`` (from YAML or the command line) to the annotated type, or raise naming the key."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key {key!r} expects a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if kind is dict:
        if not isinstance(value, dict):
            raise ValueError(f"config key {key!r} expects a mapping of options, got {value!r}")
        return {str(k): _numeric_string(v) for k, v in value.items()}
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ValueError(f"config key {key!r} expects true/false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not _is_integral(value):
            raise ValueError(f"config key {key!r} expects an integer, got {value!r}")
        return int(float(value)) if isinstance(value, str) else int(value)
    if kind is float:
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"config key {key!r} expects a number, got {value!r}") from None
        if isinstance(value, bool) or not math.isfinite(result):
            raise ValueError(f"config key {key!r} expects a finite number, got {value!r}")
        return result
    if kind is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"config key {key!r} expects a string, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported config annotation {kind!r} for {key!r}")  # a bug in this module


def _is_integral(value) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number == int(number)


def _numeric_string(value):
    """YAML 1.1 reads ``1e-3`` as a string; inside free-form options turn such strings into numbers."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    if isinstance(value, dict):
        return {k: _numeric_string(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numeric_string(v) for v in value]
    return value


# --- names and options of the model and data set ----------------------------------------------------------

def task_info(task: str):
    if task not in TASKS:
        raise ValueError(f"unknown data.task {task!r}; expected one of {sorted(TASKS)}")
    return TASKS[task]


def check_names(config: TrainConfig) -> None:
    """Check the model, neuron and data task names and their options before anything is built (ValueError)."""
    if config.model.name not in MODELS:
        raise ValueError(f"unknown model.name {config.model.name!r}; expected one of {sorted(MODELS)}")
    spiking = MODELS[config.model.name].neuron != "none"  # the LSTM baseline has no neuron: model.neuron "none"
    if config.model.neuron not in NEURONS and (spiking or config.model.neuron != "none"):
        raise ValueError(f"unknown model.neuron {config.model.neuron!r}; expected one of {sorted(NEURONS)}"
                         + ("" if spiking else " or 'none'"))
    accepted = model_options(config.model.name)
    unknown = sorted(set(config.model.options) - accepted)
    if unknown:
        raise ValueError(f"model {config.model.name!r} does not take option(s) {unknown} (model.options); "
                         f"it takes {sorted(accepted)}")
    info = task_info(config.data.task)
    unknown = sorted(set(config.data.options) - set(info.options))
    if unknown:
        raise ValueError(f"data task {config.data.task!r} does not take option(s) {unknown} (data.options); "
                         f"it takes {sorted(info.options) or 'none'}")
    _check_variable_length(config)


def uses_lengths(config: TrainConfig) -> bool:
    """Whether the data come as padded batches with lengths (data.options.variable_length, docs/variable_length.md
    §6)."""
    return config.data.options.get("variable_length") is True


def _check_variable_length(config: TrainConfig) -> None:
    flag = config.data.options.get("variable_length", False)
    if not isinstance(flag, bool):
        raise ValueError(f"config key 'data.options.variable_length' expects true or false, got {flag!r}")
    if flag and (config.mixup_alpha > 0 or config.cutmix_alpha > 0):
        raise ValueError(f"data.options.variable_length cannot be combined with mixup/cutmix (they blend samples "
                         f"of different lengths); got mixup_alpha={config.mixup_alpha}, "
                         f"cutmix_alpha={config.cutmix_alpha}")


# --- merging, files and overrides ------------------------------------------------------------------------------

def deep_merge(base: dict, update: dict) -> dict:
    """Recursive dict merge; ``options`` mappings merge key by key as well."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        with path.open() as handle:
            data = yaml.safe_load(handle) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ValueError(f"config file {str(path)!r} is not valid YAML{line}: {problem}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def parse_override(text: str) -> dict:
    """``"optim.lr=1e-3"`` → ``{"optim": {"lr": 0.001}}``; the value is read as YAML (lists, true/false, null)."""
    if "=" not in text:
        raise ValueError(f"--set expects KEY=VALUE with a dotted key (e.g. optim.lr=1e-3), got {text!r}")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ValueError(f"--set got an empty key component in {text!r}")
    try:
        value = _numeric_string(yaml.safe_load(raw)) if raw.strip() else ""
    except yaml.YAMLError:
        raise ValueError(f"--set {key}= expects a YAML value (a number, string, true/false, null or [list]), "
                         f"got {raw!r}") from None
    nested: dict = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def save_yaml(data: dict, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def preset(name: str) -> dict:
    """The full config dict of the preset ``name``: the defaults with the preset layered on top."""
    if name not in PRESETS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(PRESETS)}")
    data_task = PRESETS[name].get("data", {}).get("task", name)
    merged = _merge_layer(config_to_dict(TrainConfig()), deep_merge({"data": {"task": data_task}}, PRESETS[name]))
    merged["preset"] = name
    return merged


def _renamed_keys(data: dict, source: str) -> dict:
    """Accept the top-level key ``task`` (renamed ``preset``; data.task names the data set) with a warning."""
    if "task" not in data:
        return data
    warnings.warn(f"{source}: the config key 'task' is now 'preset' (data.task is the data set); "
                  "rename it, the old key will be removed", FutureWarning, stacklevel=3)
    data = {("preset" if key == "task" else key): value for key, value in data.items()}
    return data


def resolve_config(config_file: str | None = None, preset_name: str | None = None, flags: dict | None = None,
                   overrides: list[str] = (), base: dict | None = None) -> TrainConfig:
    """Combine defaults, the preset (``--task``), a YAML file, command-line flags and ``--set`` overrides.

    ``base`` (e.g. the config stored in a checkpoint) replaces defaults + preset when given.
    """
    file_data = _renamed_keys(load_yaml(config_file), f"config file {config_file!r}") if config_file else {}
    if base is None:
        preset_name = preset_name or file_data.get("preset") or TrainConfig().preset
        merged = _merge_layer(preset(preset_name), file_data)
        merged["preset"] = preset_name
    else:
        merged = _merge_layer(_renamed_keys(base, "stored config"), file_data)
    merged = _merge_layer(merged, flags or {})
    for text in overrides:
        merged = _merge_layer(merged, _renamed_keys(parse_override(text), f"--set {text}"))
    config = config_from_dict(merged)
    check_names(config)
    return config


def _merge_layer(merged: dict, update: dict) -> dict:
    """``deep_merge``, except that a layer naming another model (data task) starts its options afresh."""
    result = deep_merge(merged, update)
    for section, identity in (("model", "name"), ("data", "task")):
        old, new = merged.get(section), update.get(section)
        if isinstance(old, dict) and isinstance(new, dict) and isinstance(result.get(section), dict):
            if identity in new and new[identity] != old.get(identity):
                result[section]["options"] = new.get("options", {})
    return result
