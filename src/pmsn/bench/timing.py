"""The timed loop of ``pmsn bench speed``: every (neuron, T) cell, the neurons interleaved within each repeat.

One process times every neuron on the same input, thread count and flush-denormal setting. After one warm-up
call per neuron, the repeats go round-robin over the neurons (the starting neuron rotates each repeat) so that
machine noise hits every neuron alike; the cells keep every time and report medians. A cell whose repeats
would take longer than ``max_seconds`` (estimated from its warm-up, or from the previous T and the neuron's
``time_power``) is skipped and marked. Peak memory is measured afterwards (``pmsn.bench.memory``): per neuron in
a fresh process (CPU default) or in this process (CUDA default).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch

from pmsn.ops.cpp_build import build_seconds
from pmsn.bench.candidates import (DTYPES, Candidate, candidates, inference, make_inputs, neuron_path,
                                   spikingjelly_status, train_step)
from pmsn.bench.memory import measure_in_subprocesses, measure_peaks

DEFAULT_STEPS = (32, 256, 1024, 4096)


@dataclass
class BenchConfig:
    steps: tuple[int, ...] = DEFAULT_STEPS
    batch: int = 64
    channels: int = 256
    neurons: tuple[str, ...] | None = None  # None: all
    repeats: int = 5
    warmup: int = 1
    threads: int | None = None
    dtype: str = "float32"
    device: str = "cpu"
    max_seconds: float = 60.0  # per cell (neuron, T): the repeats of train + inference
    memory: str = "auto"  # "subprocess" (CPU default), "inprocess" (CUDA default), "off"
    seed: int = 0


@dataclass
class Cell:
    candidate: Candidate
    steps: int
    path: str = ""
    train_s: list[float] = field(default_factory=list)
    infer_s: list[float] = field(default_factory=list)
    train_peak_mib: float | None = None
    infer_peak_mib: float | None = None
    memory_method: str = ""
    status: str = "ok"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def median_ms(self, which: str) -> float | None:
        times = self.train_s if which == "train" else self.infer_s
        return 1000.0 * statistics.median(times) if self.ok and times else None


def _timed(device: torch.device, call: Callable[[], None]) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def validate_config(config: BenchConfig, known: dict[str, Candidate]) -> tuple[str, ...]:
    """Check the settings; return the neuron names to run."""
    for name, value in (("batch", config.batch), ("channels", config.channels), ("repeats", config.repeats)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name} must be a positive integer, got {value!r}")
    if not config.steps or any(not isinstance(t, int) or t < 1 for t in config.steps):
        raise ValueError(f"--T must be one or more positive integers, got {config.steps!r}")
    if config.warmup < 0 or not config.max_seconds > 0:
        raise ValueError(f"--warmup must be >= 0 and --max-seconds > 0, got {config.warmup}, {config.max_seconds}")
    if config.dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {sorted(DTYPES)}, got {config.dtype!r}")
    if config.memory not in ("auto", "subprocess", "inprocess", "off"):
        raise ValueError(f"--memory must be auto, subprocess, inprocess or off, got {config.memory!r}")
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {config.device}: CUDA is not available here")
    if config.neurons is None:
        names = tuple(name for name, candidate in known.items() if candidate.by_default)
    else:
        names = tuple(config.neurons)
    unknown = [name for name in names if name not in known]
    if unknown:
        hint = "" if spikingjelly_status()[0] is not None else f" ({spikingjelly_status()[1]})"
        raise ValueError(f"unknown neuron(s) {unknown}; expected some of {sorted(known)}{hint}")
    return names


def _skip_estimate(previous: Cell | None, steps: int, config: BenchConfig) -> str:
    """Why a cell is skipped before it starts ("" to run it): its estimate from the previous T is too long."""
    if previous is None:
        return ""
    if not previous.ok:
        return f"skipped: {previous.status.split(': ', 1)[-1]} at T={previous.steps}"
    per_call = (previous.median_ms("train") + previous.median_ms("infer")) / 1000.0
    estimate = per_call * (steps / previous.steps) ** previous.candidate.time_power * (config.repeats + config.warmup)
    if estimate > config.max_seconds:
        return f"skipped: estimated {estimate:.0f} s > --max-seconds {config.max_seconds:g}"
    return ""


def run_bench(config: BenchConfig, log: Callable[[str], None] = print) -> list[Cell]:
    """Time every (neuron, T) cell, interleaved over the neurons within each repeat; then measure peak memory."""
    known = candidates()
    names = validate_config(config, known)
    device, dtype = torch.device(config.device), DTYPES[config.dtype]
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.set_flush_denormal(True)
    memory_mode = config.memory if config.memory != "auto" else ("inprocess" if device.type == "cuda" else "subprocess")

    cells: list[Cell] = []
    last: dict[str, Cell] = {}  # each neuron's cell at the previous T (for the skip estimate)
    for steps in sorted(set(config.steps)):
        cells += _time_at(steps, names, known, last, config, device, dtype, memory_mode == "inprocess", log)

    if memory_mode == "subprocess":
        measure_in_subprocesses(cells, config, log)
    return cells


__all__ = ["BenchConfig", "Cell", "run_bench", "validate_config", "DEFAULT_STEPS"]


def _time_at(steps: int, names, known, last: dict, config: BenchConfig, device, dtype, measure_memory: bool,
             log: Callable[[str], None]) -> list[Cell]:
    """The cells of one T: build and warm up each neuron, then time them interleaved (inputs freed on return)."""
    x, weights = make_inputs(steps, config.batch, config.channels, dtype, device, config.seed)
    cells, running = [], []
    for name in names:
        candidate = known[name]
        cell = Cell(candidate, steps)
        cells.append(cell)
        last[name], previous = cell, last.get(name)
        cell.status = _skip_estimate(previous, steps, config) or "ok"
        if not cell.ok:
            continue
        try:
            torch.manual_seed(config.seed)
            module = candidate.build(steps, config.channels).to(device=device, dtype=dtype)
            cell.path = neuron_path(module, x)
            spent, built = 0.0, build_seconds()
            for _ in range(config.warmup):
                candidate.prepare(module, x)
                spent = _timed(device, partial(train_step, module, x, weights))
                candidate.prepare(module, x)
                spent += _timed(device, partial(inference, module, x))
            spent -= build_seconds() - built  # a first call's one-time C++ build is not the neuron's time
        except (RuntimeError, MemoryError) as error:  # out of memory, missing kernel: report, go on
            cell.status = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
            continue
        if spent * config.repeats > config.max_seconds:
            cell.status = f"skipped: {spent * config.repeats:.0f} s > --max-seconds {config.max_seconds:g}"
            continue
        running.append((cell, module))
    log(f"T={steps}: timing {len(running)} neurons x {config.repeats} repeats")
    for repeat in range(config.repeats):
        start = repeat % max(1, len(running))
        for cell, module in running[start:] + running[:start]:
            cell.candidate.prepare(module, x)
            cell.train_s.append(_timed(device, partial(train_step, module, x, weights)))
            cell.candidate.prepare(module, x)
            cell.infer_s.append(_timed(device, partial(inference, module, x)))
    if measure_memory:
        for cell, module in running:
            cell.train_peak_mib, cell.infer_peak_mib, cell.memory_method = measure_peaks(
                module, cell.candidate, x, weights)
    return cells

