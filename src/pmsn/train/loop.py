"""The training loop behind ``pmsn train`` and ``pmsn eval``.

One epoch: set the masked-PSN λ (docs/training.md §5) → train over the shuffled training set (lr from the
schedule every step) → evaluate on the validation split (``data.valid_fraction`` > 0) and the test split → write
metrics, curves, ``last.pt`` (and ``best.pt`` on a new best selection accuracy: validation when there is a
validation split, else test, as the papers do; docs/training.md §1.1). ``epoch_seconds`` and ``peak_memory_mib``
cover the training pass, without the one-time C++ build (docs/training.md §1.5).

Reproducibility: everything is seeded from ``config.seed``; the training order of epoch e comes from a generator
seeded with (seed, e) (or DistributedSampler.set_epoch), and the global RNG state (dropout, augmentation,
mixing) is stored in each checkpoint, so on CPU an interrupted-and-resumed run equals an uninterrupted one bit
for bit.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler, Sampler
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from pmsn.data import mixup_cutmix, pad_collate
from pmsn.io import remove_stale_temp_files
from pmsn.memory import MIB, peak_bytes, reset_peak
from pmsn.neurons.lengths import step_mask
from pmsn.ops.cpp_build import build_seconds
from pmsn.train import distributed
from pmsn.train.build import architecture, build_datasets, build_from_config, load_run, model_arguments
from pmsn.train.checkpoint import (FORMAT, atomic_torch_save, check_architecture, load_checkpoint, load_model_state,
                                   rng_state, set_rng_state)
from pmsn.train.config import (TrainConfig, check_names, config_to_dict, resolve_config, save_yaml, task_info,
                               uses_lengths)
from pmsn.train.optim import apply_lr, build_optimizer, lr_factor, mask_lambda, set_mask_lambda
from pmsn.train.records import RunRecords


@dataclass
class RunResult:
    """``best_test_acc``/``best_epoch``: the best test accuracy over epochs (the papers' number); ``chosen_*``: the
    epoch of ``best.pt``, chosen on ``selection`` ("valid" or "test"), with its accuracies (docs/training.md §1.1)."""

    run_dir: Path | None
    best_test_acc: float
    best_epoch: int
    final_test_acc: float
    wall_seconds: float
    epochs_done: int
    history: list[dict] = field(default_factory=list)
    selection: str = "test"
    chosen_epoch: int = 0
    chosen_valid_acc: float | None = None
    chosen_test_acc: float = math.nan


@dataclass
class _Selection:
    """Which epoch ``best.pt`` holds: the first with the highest accuracy on ``split`` (docs/training.md §1.1)."""

    split: str  # "valid" or "test"
    epoch: int = 0
    valid_acc: float | None = None
    test_acc: float = -math.inf

    @property
    def score(self) -> float:
        if self.epoch == 0:
            return -math.inf
        return self.valid_acc if self.split == "valid" else self.test_acc

    def offer(self, epoch: int, valid_acc: float | None, test_acc: float) -> bool:
        """Take ``epoch`` if it beats the chosen one on the selection split; True when taken."""
        if (valid_acc if self.split == "valid" else test_acc) > self.score:
            self.epoch, self.valid_acc, self.test_acc = epoch, valid_acc, test_acc
            return True
        return False

    def state(self) -> dict:
        return {"selection": self.split, "chosen_epoch": self.epoch, "chosen_valid_acc": self.valid_acc,
                "chosen_test_acc": self.test_acc}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict) -> "_Selection":
        """The stored choice; checkpoints from before validation chose on test: their best epoch."""
        return cls(checkpoint.get("selection", "test"), checkpoint.get("chosen_epoch", checkpoint["best_epoch"]),
                   checkpoint.get("chosen_valid_acc"), checkpoint.get("chosen_test_acc", checkpoint["best_test_acc"]))


class _ShardSampler(Sampler):
    """Evaluation shard of one rank: indices rank, rank + world, ... (no padding, so counts stay exact)."""

    def __init__(self, length: int, rank: int, world_size: int):
        self.indices = list(range(rank, length, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _loader(dataset, config: TrainConfig, context, train: bool, generator: torch.Generator | None = None):
    batch_size = config.batch_size if train else (config.eval_batch_size or 2 * config.batch_size)
    if train and context.distributed:
        sampler = DistributedSampler(dataset, context.world_size, context.rank, shuffle=True, seed=config.seed,
                                     drop_last=config.data.drop_last)
    elif train:
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = _ShardSampler(len(dataset), context.rank, context.world_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=config.data.workers,
                      drop_last=train and config.data.drop_last, generator=generator,
                      collate_fn=pad_collate if uses_lengths(config) else None,
                      pin_memory=torch.cuda.is_available() and config.device != "cpu", persistent_workers=False)


def _to_device(batch, device: torch.device):
    """(x, labels, lengths) on ``device``; lengths is None unless the loader pads (docs/variable_length.md §6)."""
    x, labels, *lengths = (tensor.to(device, non_blocking=True) for tensor in batch)
    return x, labels, lengths[0] if lengths else None


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2 ** 63)


# --- one epoch -----------------------------------------------------------------------------------------------------

def _autocast(config: TrainConfig, device: torch.device):
    if config.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _logits(model, x, lengths, per_step: bool = False):
    """The model on a batch, told the lengths of a padded one (docs/variable_length.md §6)."""
    if lengths is None:
        return model(x, per_step=True) if per_step else model(x)
    return model(x, per_step=per_step, lengths=lengths)


def _forward_loss(model, x, targets, config: TrainConfig, lengths=None):
    """(loss, logits [B, K]); TET = mean over t of CE of each step's logits (docs/training.md §1.3); with lengths,
    each sample's mean over its valid steps, then the batch mean (docs/variable_length.md §6)."""
    if config.loss == "tet":
        per_step = _logits(model, x, lengths, per_step=True)
        steps = per_step.shape[0]
        flat_targets = targets.repeat(steps, *([1] * (targets.dim() - 1)))
        if lengths is None:
            loss = F.cross_entropy(per_step.flatten(0, 1).float(), flat_targets,
                                   label_smoothing=config.label_smoothing)
            return loss, per_step.mean(0)
        losses = F.cross_entropy(per_step.flatten(0, 1).float(), flat_targets, reduction="none",
                                 label_smoothing=config.label_smoothing).unflatten(0, (steps, -1))
        valid = step_mask(lengths, steps, per_step.device)
        counts = lengths.to(losses)
        loss = (losses.masked_fill(~valid, 0.0).sum(0) / counts).mean()
        return loss, per_step.sum(0) / counts.unsqueeze(-1).to(per_step.dtype)  # padded per-step logits are 0
    logits = _logits(model, x, lengths)
    return F.cross_entropy(logits.float(), targets, label_smoothing=config.label_smoothing), logits


def evaluate(model, loader, config: TrainConfig, device: torch.device, context,
             split: str = "test") -> tuple[float, float, int]:
    """(mean CE loss, accuracy in %, number of samples) on ``loader`` (the ``split``), summed over ranks."""
    model.eval()
    loss_sum, correct, count = 0.0, 0.0, 0.0
    with torch.no_grad():
        for batch in loader:
            x, labels, lengths = _to_device(batch, device)
            with _autocast(config, device):
                logits = _logits(model, x, lengths)
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
            correct += (logits.argmax(-1) == labels).sum().item()
            count += labels.numel()
    loss_sum, correct, count = distributed.sum_over_ranks([loss_sum, correct, count], context, device)
    if count == 0:
        raise ValueError(f"the {split} split is empty; nothing to evaluate")
    return loss_sum / count, 100.0 * correct / count, int(count)


def _train_epoch(model, loader, optimizer, config, device, context, epoch, num_classes, records, progress):
    """(mean loss, accuracy %, seconds without the one-time C++ build, samples/s) of one pass over ``loader``."""
    model.train()
    steps_per_epoch = len(loader)
    loss_sum, correct, count = 0.0, 0.0, 0.0
    start, built_before = time.perf_counter(), build_seconds()
    mixing = config.mixup_alpha > 0 or config.cutmix_alpha > 0
    # CutMix's box spans the image axes: [B, C, H, W] for static images, else the column layout [B, W, C, H]
    image_dims = {"height_dim": 2, "width_dim": 3} if task_info(config.data.task).steps is None else {}
    for index, batch in enumerate(loader):
        apply_lr(optimizer, lr_factor(config.schedule, config.epochs, epoch, index, steps_per_epoch))
        x, labels, lengths = _to_device(batch, device)
        targets = labels
        if mixing:
            x, targets = mixup_cutmix(x, labels, num_classes, mixup_alpha=config.mixup_alpha,
                                      cutmix_alpha=config.cutmix_alpha, **image_dims)
        with _autocast(config, device):
            loss, logits = _forward_loss(model, x, targets, config, lengths)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at epoch {epoch + 1}, step {index + 1}; "
                                     f"lower the learning rate (optim.lr={config.optim.lr}) or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()

        batch = labels.numel()
        batch_correct = (logits.detach().argmax(-1) == labels).sum().item()
        loss_sum += loss.item() * batch
        correct += batch_correct
        count += batch
        elapsed = time.perf_counter() - start - (build_seconds() - built_before)
        rate = count * context.world_size / max(elapsed, 1e-9)
        step = epoch * steps_per_epoch + index + 1
        if progress is not None:
            progress.set_postfix(loss=f"{loss_sum / count:.4f}", acc=f"{100 * correct / count:.2f}%",
                                 rate=f"{rate:.0f}/s", refresh=False)
            progress.update(1)
        if records is not None and (step % config.log_every == 0 or index + 1 == steps_per_epoch):
            records.step({"step": step, "epoch": epoch + 1, "loss": round(loss.item(), 6),
                          "acc": round(100 * batch_correct / batch, 4), "lr": optimizer.param_groups[0]["lr"],
                          "samples_per_s": round(rate, 2)})
    loss_sum, correct, count = distributed.sum_over_ranks([loss_sum, correct, count], context, device)
    seconds = time.perf_counter() - start - (build_seconds() - built_before)
    return loss_sum / max(count, 1), 100.0 * correct / max(count, 1), seconds, count / max(seconds, 1e-9)


# --- the run -------------------------------------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


# Everything a run writes into its folder; --overwrite removes these and nothing else.
RUN_FILES = ("config.yaml", "last.pt", "best.pt", "metrics.csv", "steps.csv", "curves.png", "permutation.npy")


def check_run_dir(config: TrainConfig, overwrite: bool = False) -> None:
    """Refuse a named run folder that already holds a run, unless ``overwrite`` (ValueError naming it)."""
    if config.name is None or overwrite:
        return
    run_dir = Path(config.out) / config.name
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"run folder {str(run_dir)!r} already exists; continue it with --resume {run_dir}, "
                         f"replace it with --overwrite, or choose another name (--set name=...)")


def _new_run_dir(config: TrainConfig, overwrite: bool) -> Path:
    name = config.name or (f"{config.preset}-{config.model.name}-{config.model.neuron}-"
                           f"{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    run_dir = Path(config.out) / name
    suffix = 1
    while config.name is None and run_dir.exists():
        suffix += 1
        run_dir = Path(config.out) / f"{name}-{suffix}"
    check_run_dir(config, overwrite)
    if overwrite:
        for file_name in RUN_FILES:
            (run_dir / file_name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "tensorboard", ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def train(config: TrainConfig, resume: str | Path | None = None, quiet: bool = False,
          stop_after: int | None = None, show_progress: bool | None = None, overwrite: bool = False) -> RunResult:
    """Train ``config``; ``resume`` = a checkpoint or run folder to continue; ``stop_after`` = stop (as if
    interrupted) once that many epochs are done; ``overwrite`` = replace the files of an existing run folder of the
    same name (else such a folder is refused). Returns the result (``run_dir`` is None on ranks > 0)."""
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"stop_after expects a number of epochs >= 1, got {stop_after}")
    if resume is None:
        check_run_dir(config, overwrite)  # before any data is read or anything is written
    torch.set_flush_denormal(True)  # subnormal floats are slow on CPU and meaningless for spikes
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = distributed.local_device(config.device)
    context = distributed.init(device)
    try:
        return _train(config, resume, quiet, stop_after, show_progress, overwrite, device, context)
    finally:
        distributed.shutdown(context)
        torch.set_num_threads(threads)


def _restore_optimizer(optimizer: torch.optim.Optimizer, checkpoint: dict) -> None:
    """Load the optimiser state but keep the freshly configured base lr / weight decay (a resume may change them)."""
    fresh = [(group["initial_lr"], group["weight_decay"]) for group in optimizer.param_groups]
    optimizer.load_state_dict(checkpoint["optimizer"])
    for group, (initial_lr, weight_decay) in zip(optimizer.param_groups, fresh):
        group["initial_lr"], group["weight_decay"] = initial_lr, weight_decay


def _train(config, resume, quiet, stop_after, show_progress, overwrite, device, context) -> RunResult:
    start_time = time.perf_counter()  # wall time includes data loading, model building and kernel compilation
    say = print if context.is_main else (lambda *args, **kwargs: None)
    checkpoint = load_checkpoint(resume) if resume is not None else None

    check_names(config)
    seed_everything(config.seed)
    if checkpoint is not None:
        _check_same_holdout(checkpoint, config)
    datasets = build_datasets(config, ("train", "valid", "test") if config.data.valid_fraction > 0 else
                              ("train", "test"))
    arguments = model_arguments(config, datasets["train"])
    if checkpoint is not None:
        check_architecture(checkpoint, architecture(config, arguments))
    model = build_from_config(config, arguments).to(device)
    optimizer = build_optimizer(model, config.optim)
    num_classes = arguments["num_classes"]

    start_epoch, history, best_acc, best_epoch, wall_before = 0, [], -math.inf, 0, 0.0
    chosen = _Selection("valid" if "valid" in datasets else "test")
    if checkpoint is not None:
        if not checkpoint["optimizer"]:
            raise ValueError(f"checkpoint {checkpoint['path']!r} holds weights without optimiser state (a shipped "
                             "pretrained network): evaluate or plot it; it cannot be resumed")
        _restore_optimizer(optimizer, checkpoint)
        load_model_state(model, checkpoint)
        start_epoch, history = checkpoint["epoch"], list(checkpoint["history"])
        best_acc, best_epoch = checkpoint["best_test_acc"], checkpoint["best_epoch"]
        chosen = _Selection.from_checkpoint(checkpoint)
        wall_before = checkpoint["wall_seconds"]
        states = checkpoint["rng"]
        set_rng_state(states[context.rank] if len(states) == context.world_size else states[0])
        run_dir = Path(checkpoint["path"]).parent
    else:
        torch.manual_seed(config.seed + context.rank)  # ranks start equal (DDP broadcasts), then differ in dropout
        run_dir = distributed.broadcast_object(_new_run_dir(config, overwrite) if context.is_main else None,
                                               context)
    network = model
    if context.distributed:
        network = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index]
                                                            if device.type == "cuda" else None)

    generator = torch.Generator()
    train_loader = _loader(datasets["train"], config, context, train=True, generator=generator)
    test_loader = _loader(datasets["test"], config, context, train=False)
    valid_loader = _loader(datasets["valid"], config, context, train=False) if "valid" in datasets else None
    records = None
    if context.is_main:
        removed = remove_stale_temp_files(run_dir)
        if removed:
            say(f"pmsn train: removed {len(removed)} temporary file(s) left by an interrupted write in {run_dir}")
        save_yaml(config_to_dict(config), run_dir / "config.yaml")
        base = datasets["train"]
        base = base.dataset if isinstance(base, torch.utils.data.Subset) else base
        if getattr(base, "permutation", None) is not None:  # PS-MNIST pixel order (docs/tasks.md §1.1)
            np.save(run_dir / "permutation.npy", np.asarray(base.permutation))
        records = RunRecords(run_dir, resume_step=start_epoch * len(train_loader) if checkpoint else None)
        parameters = sum(p.numel() for p in model.parameters())
        held_out = f" / {len(datasets['valid'])} valid" if valid_loader is not None else ""
        say(f"pmsn train: {config.preset} ({len(datasets['train'])} train{held_out} / {len(datasets['test'])} test), "
            f"model {config.model.name} neuron {config.model.neuron} ({parameters:,} parameters), {config.epochs} "
            f"epochs x {len(train_loader)} steps, batch {config.batch_size}"
            f"{f' x {context.world_size} ranks' if context.distributed else ''}, device {device}, run {run_dir}"
            + (f", resumed after epoch {start_epoch}" if checkpoint else ""))

    progress_enabled = (not quiet) if show_progress is None else show_progress
    last_epoch = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(start_epoch, last_epoch):
        set_mask_lambda(model, mask_lambda(epoch, config.epochs, config.mask_speed))
        generator.manual_seed(_epoch_seed(config.seed, epoch))
        if isinstance(train_loader.sampler, DistributedSampler):
            train_loader.sampler.set_epoch(epoch)
        progress = None
        if progress_enabled and context.is_main:
            progress = tqdm(total=len(train_loader), desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                            dynamic_ncols=True, unit="batch")
        memory_method = reset_peak(device)
        try:
            train_loss, train_acc, seconds, rate = _train_epoch(network, train_loader, optimizer, config, device,
                                                                 context, epoch, num_classes, records, progress)
        finally:
            if progress is not None:
                progress.close()
        peak = peak_bytes(device, memory_method)
        valid_loss = valid_acc = None
        if valid_loader is not None:
            valid_loss, valid_acc, _ = evaluate(network, valid_loader, config, device, context, split="valid")
        test_loss, test_acc, _ = evaluate(network, test_loader, config, device, context)
        if test_acc > best_acc:
            best_acc, best_epoch = test_acc, epoch + 1
        new_choice = chosen.offer(epoch + 1, valid_acc, test_acc)
        wall = wall_before + time.perf_counter() - start_time
        history.append({"epoch": epoch + 1, "train_loss": round(train_loss, 6), "train_acc": round(train_acc, 4),
                        "valid_loss": _rounded(valid_loss, 6), "valid_acc": _rounded(valid_acc, 4),
                        "test_loss": round(test_loss, 6), "test_acc": round(test_acc, 4),
                        "best_test_acc": round(best_acc, 4), "chosen_epoch": chosen.epoch,
                        "lr": optimizer.param_groups[0]["lr"],
                        "epoch_seconds": round(seconds, 3), "train_samples_per_s": round(rate, 2),
                        "peak_memory_mib": _rounded(None if peak is None else peak / MIB, 1),
                        "memory_method": memory_method, "wall_seconds": round(wall, 3)})
        states = distributed.gather_objects(rng_state(), context)
        if context.is_main:
            state = {"format": FORMAT, "architecture": architecture(config, arguments),
                     "config": config_to_dict(config), "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "epoch": epoch + 1, "best_test_acc": best_acc,
                     "best_epoch": best_epoch, **chosen.state(), "history": history, "rng": states,
                     "wall_seconds": wall}
            if new_choice:  # best.pt first: last.pt never claims a chosen epoch whose weights are lost
                atomic_torch_save(state, run_dir / "best.pt")
            atomic_torch_save(state, run_dir / "last.pt")
            records.epoch(history)
            validation = "" if valid_acc is None else f"valid loss {valid_loss:.4f} acc {valid_acc:6.2f}%  "
            say(f"epoch {epoch + 1:>3}/{config.epochs}  train loss {train_loss:.4f} acc {train_acc:6.2f}%  "
                f"{validation}test loss {test_loss:.4f} acc {test_acc:6.2f}% (best {best_acc:.2f}%)  "
                f"lr {optimizer.param_groups[0]['lr']:.2e}  {seconds:.1f}s ({rate:.0f} samples/s)", flush=True)
        distributed.barrier(context)

    wall = wall_before + time.perf_counter() - start_time
    final_acc = history[-1]["test_acc"] if history else float("nan")
    if records is not None:
        records.close()
        say(f"done: {describe_selection(chosen.state(), best_acc, best_epoch)}; final {final_acc:.2f}%; "
            f"wall {_format_seconds(wall)}, {len(history)}/{config.epochs} epochs, run {run_dir}", flush=True)
    return RunResult(run_dir if context.is_main else None, best_acc, best_epoch, final_acc, wall, len(history),
                     history, chosen.split, chosen.epoch, chosen.valid_acc, chosen.test_acc)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def describe_selection(selection: dict, best_test_acc: float, best_epoch: int) -> str:
    """Which number is which (docs/training.md §1.1): the epoch best.pt holds, and the best test accuracy over
    epochs (the papers' number). ``selection`` holds a checkpoint's keys selection/chosen_*."""
    best = f"best test over epochs {best_test_acc:.2f}% (epoch {best_epoch}; selected on test, as the papers do)"
    if selection.get("selection", "test") != "valid":
        return best
    return (f"chosen on validation: epoch {selection['chosen_epoch']} (valid {selection['chosen_valid_acc']:.2f}%, "
            f"test {selection['chosen_test_acc']:.2f}%); {best}")


def _check_same_holdout(checkpoint: dict, config: TrainConfig) -> None:
    """A resumed run keeps its validation split: another fraction would move samples between train and valid."""
    stored = checkpoint["config"].get("data", {}).get("valid_fraction", 0.0)
    if stored != config.data.valid_fraction:
        raise ValueError(f"checkpoint {checkpoint['path']!r} was trained with data.valid_fraction={stored}; a "
                         f"resumed run keeps it, got {config.data.valid_fraction}")


def resume_config(resume: str | Path, overrides: list[str] = (), flags: dict | None = None) -> TrainConfig:
    """The stored config of a checkpoint/run folder with command-line changes applied (e.g. more epochs)."""
    checkpoint = load_checkpoint(resume)
    return resolve_config(base=checkpoint["config"], flags=flags, overrides=overrides)


def evaluate_checkpoint(path: str | Path, overrides: list[str] = (), flags: dict | None = None,
                        split: str = "test") -> dict:
    """Evaluate a checkpoint on ``split`` ("train", "valid", "test") of its task; ``flags``/``overrides`` may change
    data/device settings (changing the model, or data options that change its T, raises the architecture error).
    The result carries the run's selection (``selection``, ``chosen_*``, ``selection_summary``) when stored."""
    torch.set_flush_denormal(True)
    model, config, checkpoint = load_run(path, overrides, flags)
    device = distributed.local_device(config.device)
    context = distributed.Context()
    seed_everything(config.seed)
    dataset = build_datasets(config, splits=(split,))[split]
    check_architecture(checkpoint, architecture(config, model_arguments(config, dataset)))
    model = model.to(device)
    loss, acc, count = evaluate(model, _loader(dataset, config, context, train=False), config, device, context)
    result = {"checkpoint": checkpoint["path"], "task": config.data.task, "split": split, "loss": loss,
              "accuracy": acc, "samples": count, "epoch": checkpoint["epoch"]}
    if "selection" in checkpoint:  # how the run chose best.pt (docs/training.md §1.1); older checkpoints lack it
        result.update({key: checkpoint[key] for key in ("selection", "chosen_epoch", "chosen_valid_acc",
                                                        "chosen_test_acc", "best_test_acc", "best_epoch")})
        result["selection_summary"] = describe_selection(checkpoint, checkpoint["best_test_acc"],
                                                         checkpoint["best_epoch"])
    return result
