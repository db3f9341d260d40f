"""``pmsn bench speed``: train-step and inference time and peak memory of every neuron, side by side.

    pmsn bench speed                                  # T 32 256 1024 4096, B 64, C 256, median of 5
    pmsn bench speed --T 256 1024 --neurons pmsn sj_lif --out bench_out/speed

One process times every neuron of this package and SpikingJelly's ``LIFNode`` (multi-step, tau 2), ``PSN``
and ``SlidingPSN`` (k 32) as outside baselines, on the same input, thread count and flush-denormal setting.
Train step = forward + backward of ``(spikes * w).sum()`` with gradients to the input and every parameter;
inference = forward under ``torch.no_grad``. After one warm-up call per neuron, the repeats go round-robin over
the neurons (the starting neuron rotates each repeat) so that machine noise hits every neuron alike; the
table reports medians. Peak memory is measured afterwards, per neuron, in a fresh process
(``pmsn.bench.memory``). Writes ``speed.csv`` and ``speed.png`` (time vs T, log-log, train and inference).

glibc returns large freed blocks to the system and faults them in again on the next call, which would make
every full-size tensor cost page faults; the bench therefore runs with ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_TOP_PAD_`` set (``BENCH_MALLOC_ENV``), which glibc reads only at
start-up: the command re-executes itself once with them set (``--malloc-env``), the same for every neuron.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from pmsn.arguments import non_negative_int, positive_float, positive_int
from pmsn.tables import format_value, write_csv
from pmsn.bench.memory import PeakMemory, run_json_subprocess
from pmsn.neurons import build_neuron
from pmsn.io import atomic_write_bytes
from pmsn.neurons.pmsn import PATHS as PMSN_PATHS

DEFAULT_STEPS = (32, 256, 1024, 4096)
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# Keep freed memory in the heap (no munmap/trim, large blocks from the heap): set before the process starts.
BENCH_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
    "MALLOC_TOP_PAD_": str(1 << 28),
}
_REEXEC_MARK = "PMSN_BENCH_REEXEC"
SPIKINGJELLY_HINT = "pip install --no-deps spikingjelly loguru"

CSV_FIELDS = ("neuron", "label", "family", "path", "T", "batch", "channels", "dtype", "device", "threads", "repeats",
              "train_ms", "infer_ms", "ref_lif", "train_vs_ref_lif", "infer_vs_ref_lif", "ref_psn",
              "train_vs_ref_psn", "infer_vs_ref_psn", "train_peak_mib", "infer_peak_mib", "memory_method", "status")


# ------------------------------------------------------------------------------------------------ the neurons
@dataclass(frozen=True)
class Candidate:
    """One neuron of the comparison: ``build(T, channels)`` → module; cost grows like ``T ** time_power``."""

    name: str
    label: str
    family: str  # "pmsn" (this package) or "spikingjelly"
    build: Callable[[int, int], nn.Module]
    time_power: int = 1  # 2 for the dense T×T time mixing of the PSN family
    reset: Callable[[nn.Module], None] | None = None  # stateful modules are reset before every call


def spikingjelly_status() -> tuple[object | None, str]:
    """``(spikingjelly.activation_based, "")`` when importable, else ``(None, why not)``."""
    try:
        from spikingjelly import activation_based
        from spikingjelly.activation_based import functional, neuron  # noqa: F401  (the submodules used below)
    except Exception as error:  # ImportError, or a missing dependency of spikingjelly (e.g. loguru)
        return None, f"SpikingJelly not importable ({type(error).__name__}: {error}); install: {SPIKINGJELLY_HINT}"
    return activation_based, ""


def _pmsn_factory(name: str, **kwargs) -> Callable[[int, int], nn.Module]:
    return lambda steps, channels: build_neuron(name, channels, T=steps, **kwargs)


def candidates() -> dict[str, Candidate]:
    """Every neuron the bench knows, by CLI name (SpikingJelly ones only when it is importable)."""
    table = [
        Candidate("lif", "LIF", "pmsn", _pmsn_factory("lif")),
        Candidate("plif", "PLIF", "pmsn", _pmsn_factory("plif")),
        Candidate("alif", "ALIF", "pmsn", _pmsn_factory("alif")),
        Candidate("tclif", "TC-LIF", "pmsn", _pmsn_factory("tclif")),
        Candidate("psn", "PSN", "pmsn", _pmsn_factory("psn"), time_power=2),
        Candidate("masked_psn", "masked PSN k=32", "pmsn", _pmsn_factory("masked_psn", mask_lambda=1.0),
                  time_power=2),
        Candidate("sliding_psn", "sliding PSN k=32", "pmsn", _pmsn_factory("sliding_psn", order=32), time_power=2),
        Candidate("pmsn", "PMSN n=5", "pmsn", _pmsn_factory("pmsn", compartments=5)),
    ]
    for path in PMSN_PATHS:  # forced paths (fft, fused, chunked when the neuron has it); "fused" is the CPU default
        if path != "fused":
            table.append(Candidate(f"pmsn_{path}", f"PMSN n=5 {path}", "pmsn",
                                   _pmsn_factory("pmsn", compartments=5, path=path)))
    sj, _ = spikingjelly_status()
    if sj is not None:
        reset = sj.functional.reset_net
        table += [
            Candidate("sj_lif", "SJ LIFNode", "spikingjelly",
                      lambda steps, channels: sj.neuron.LIFNode(tau=2.0, step_mode="m"), reset=reset),
            Candidate("sj_psn", "SJ PSN", "spikingjelly", lambda steps, channels: sj.neuron.PSN(T=steps),
                      time_power=2, reset=reset),
            Candidate("sj_sliding_psn", "SJ SlidingPSN k=32", "spikingjelly",
                      lambda steps, channels: sj.neuron.SlidingPSN(k=32, step_mode="m"), time_power=2, reset=reset),
        ]
    return {candidate.name: candidate for candidate in table}


def neuron_path(module: nn.Module, x: torch.Tensor) -> str:
    """The PMSN path (fused / fft / chunked) this module takes for ``x``; ``""`` for other neurons."""
    choose = getattr(module, "chosen_path", None)
    return choose(x) if choose is not None else ""


# ------------------------------------------------------------------------------------------------ one call
def _prepare(module: nn.Module, candidate: Candidate, x: torch.Tensor) -> None:
    if candidate.reset is not None:
        candidate.reset(module)
    module.zero_grad(set_to_none=True)
    x.grad = None


def train_step(module: nn.Module, x: torch.Tensor, weights: torch.Tensor) -> None:
    """Forward + backward of ``(spikes * w).sum()``: gradients to ``x`` (requires grad) and every parameter."""
    (module(x) * weights).sum().backward()


def inference(module: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        module(x)


def _timed(device: torch.device, call: Callable[[], None]) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure_peaks(module, candidate, x, weights) -> tuple[float | None, float | None, str]:
    """(train MiB, inference MiB, method): peak memory of one call of each after a warm-up call of each."""
    peaks = []
    for run in (lambda: train_step(module, x, weights), lambda: inference(module, x)):
        _prepare(module, candidate, x)
        run()  # warm-up: lazy initialisation and one-time allocations are not the neuron's working memory
        _prepare(module, candidate, x)
        with PeakMemory(x.device) as peak:
            run()
        peaks.append(peak)
    _prepare(module, candidate, x)
    return peaks[0].mib, peaks[1].mib, peaks[0].method


# ------------------------------------------------------------------------------------------------ the bench
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
    names = tuple(known) if config.neurons is None else tuple(config.neurons)
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
    last: dict[str, Cell] = {}
    for steps in sorted(set(config.steps)):
        generator = torch.Generator().manual_seed(config.seed + steps)
        shape = (steps, config.batch, config.channels)
        x = torch.randn(shape, generator=generator, dtype=dtype).to(device).requires_grad_(True)
        weights = torch.randn(shape, generator=generator, dtype=dtype).to(device)
        running: list[tuple[Cell, nn.Module]] = []
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
                spent = 0.0
                for _ in range(config.warmup):
                    _prepare(module, candidate, x)
                    spent = _timed(device, lambda: train_step(module, x, weights))
                    _prepare(module, candidate, x)
                    spent += _timed(device, lambda: inference(module, x))
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
                _prepare(module, cell.candidate, x)
                cell.train_s.append(_timed(device, lambda: train_step(module, x, weights)))
                _prepare(module, cell.candidate, x)
                cell.infer_s.append(_timed(device, lambda: inference(module, x)))
        if memory_mode == "inprocess":
            for cell, module in running:
                cell.train_peak_mib, cell.infer_peak_mib, cell.memory_method = measure_peaks(
                    module, cell.candidate, x, weights)
        del running, x, weights

    if memory_mode == "subprocess":
        _measure_memory_in_subprocesses(cells, config, log)
    return cells


def _measure_memory_in_subprocesses(cells: list[Cell], config: BenchConfig, log: Callable[[str], None]) -> None:
    """One fresh process per neuron measures its cells in increasing T (see ``pmsn.bench.memory``)."""
    by_name: dict[str, list[Cell]] = {}
    for cell in cells:
        if cell.ok:
            by_name.setdefault(cell.candidate.name, []).append(cell)
    for name, own in by_name.items():
        log(f"peak memory: {name} (fresh process)")
        payload = {"name": name, "steps": [cell.steps for cell in own], "batch": config.batch,
                   "channels": config.channels, "dtype": config.dtype, "device": config.device,
                   "threads": torch.get_num_threads(), "seed": config.seed}
        budget = 60.0 + sum(4 * (cell.median_ms("train") + cell.median_ms("infer")) / 1000.0 for cell in own)
        try:
            result = run_json_subprocess("pmsn.bench.speed", payload, timeout=budget)
        except RuntimeError as error:
            log(f"  {error}")
            continue
        for cell, measured in zip(own, result["cells"]):
            cell.train_peak_mib, cell.infer_peak_mib = measured["train_mib"], measured["infer_mib"]
            cell.memory_method = measured["method"]


def _memory_child() -> None:
    """Entry of the fresh process: measure the cells of one neuron given as JSON on stdin, print JSON."""
    payload = json.loads(sys.stdin.read())
    torch.set_num_threads(payload["threads"])
    torch.set_flush_denormal(True)
    candidate = candidates()[payload["name"]]
    device, dtype = torch.device(payload["device"]), DTYPES[payload["dtype"]]
    results = []
    for steps in payload["steps"]:
        shape = (steps, payload["batch"], payload["channels"])
        generator = torch.Generator().manual_seed(payload["seed"] + steps)
        x = torch.randn(shape, generator=generator, dtype=dtype).to(device).requires_grad_(True)
        weights = torch.randn(shape, generator=generator, dtype=dtype).to(device)
        torch.manual_seed(payload["seed"])
        module = candidate.build(steps, payload["channels"]).to(device=device, dtype=dtype)
        train_mib, infer_mib, method = measure_peaks(module, candidate, x, weights)
        results.append({"T": steps, "train_mib": train_mib, "infer_mib": infer_mib, "method": method})
        del module, x, weights
    print(json.dumps({"cells": results}))


# ------------------------------------------------------------------------------------------------ reporting
def _references(cells: list[Cell]) -> tuple[str, str]:
    """The LIF and PSN every ratio is taken against: SpikingJelly's when measured, else this package's."""
    names = {cell.candidate.name for cell in cells}
    return ("sj_lif" if "sj_lif" in names else "lif"), ("sj_psn" if "sj_psn" in names else "psn")


def _ratio(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference


def result_rows(cells: list[Cell], config: BenchConfig) -> list[dict]:
    """One dict per cell with the ``CSV_FIELDS``; ratios are time / reference time at the same T (< 1: faster)."""
    ref_lif, ref_psn = _references(cells)
    lookup = {(cell.candidate.name, cell.steps): cell for cell in cells}
    rows = []
    for cell in cells:
        train, infer = cell.median_ms("train"), cell.median_ms("infer")
        row = {"neuron": cell.candidate.name, "label": cell.candidate.label, "family": cell.candidate.family,
               "path": cell.path, "T": cell.steps, "batch": config.batch, "channels": config.channels,
               "dtype": config.dtype, "device": config.device, "threads": torch.get_num_threads(),
               "repeats": len(cell.train_s), "train_ms": train, "infer_ms": infer,
               "train_peak_mib": cell.train_peak_mib, "infer_peak_mib": cell.infer_peak_mib,
               "memory_method": cell.memory_method, "status": cell.status}
        for key, reference in (("lif", ref_lif), ("psn", ref_psn)):
            other = lookup.get((reference, cell.steps))
            row[f"ref_{key}"] = reference
            row[f"train_vs_ref_{key}"] = _ratio(train, other.median_ms("train") if other else None)
            row[f"infer_vs_ref_{key}"] = _ratio(infer, other.median_ms("infer") if other else None)
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Plain-text table, one block per T: median times, ratios to the reference LIF and PSN, peak memory."""
    if not rows:
        return "(no results)"
    ref_lif, ref_psn = rows[0]["ref_lif"], rows[0]["ref_psn"]
    header = (f"{'neuron':<20} {'path':<7} {'train ms':>9} {'/' + ref_lif:>8} {'/' + ref_psn:>8} {'infer ms':>9} "
              f"{'/' + ref_lif:>8} {'/' + ref_psn:>8} {'train MiB':>9} {'infer MiB':>9}  status")
    lines = []
    for steps in sorted({row["T"] for row in rows}):
        lines += ["", f"T = {steps}", header, "-" * len(header)]
        for row in (r for r in rows if r["T"] == steps):
            cells = [format_value(row[key], decimals) for key, decimals in (
                ("train_ms", 1), ("train_vs_ref_lif", 2), ("train_vs_ref_psn", 2), ("infer_ms", 1),
                ("infer_vs_ref_lif", 2), ("infer_vs_ref_psn", 2), ("train_peak_mib", 0), ("infer_peak_mib", 0))]
            lines.append(f"{row['label']:<20} {row['path']:<7} " + " ".join(
                f"{cell:>{width}}" for cell, width in zip(cells, (9, 8, 8, 9, 8, 8, 9, 9)))
                + f"  {'' if row['status'] == 'ok' else row['status']}")
    return "\n".join(lines[1:])


def write_plot(rows: list[dict], path: Path, title: str) -> None:
    """Median time vs T, log-log, one line per neuron; train and inference panels (PMSN paper Fig. 5 style)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharex=True)
    labels = list(dict.fromkeys(row["label"] for row in rows))
    for panel, (key, name) in zip(axes, (("train_ms", "train step (forward + backward)"),
                                         ("infer_ms", "inference (no_grad forward)"))):
        for label in labels:
            points = [(row["T"], row[key]) for row in rows if row["label"] == label and row[key] is not None]
            if not points:
                continue
            family = next(row["family"] for row in rows if row["label"] == label)
            style = dict(linestyle="--", marker="s") if family == "spikingjelly" else dict(marker="o")
            style["color"] = plt.cm.tab20(labels.index(label) % 20)  # 13+ lines: more colours than the default 10
            if label.startswith("PMSN"):
                style["linewidth"] = 2.5
            panel.plot(*zip(*points), label=label, **style)
        panel.set_xscale("log", base=2)
        panel.set_yscale("log")
        panel.set_xlabel("sequence length T")
        panel.set_ylabel("median time (ms)")
        panel.set_title(name)
        panel.grid(True, which="both", alpha=0.3)
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(fontsize=7, loc="upper left")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    atomic_write_bytes(Path(path), buffer.getvalue())


# ------------------------------------------------------------------------------------------------ the command
def ensure_malloc_env(mode: str, log: Callable[[str], None] = print) -> None:
    """Re-execute this command once with ``BENCH_MALLOC_ENV`` set (glibc reads it only at start-up), or warn.

    Re-executes only when the process's own command line is the speed bench (``speed`` among its arguments),
    never a host program that called the CLI's ``main`` (e.g. pytest).
    """
    missing = [key for key in BENCH_MALLOC_ENV if key not in os.environ]
    if not missing or mode == "ignore":
        return
    own_command = "speed" in sys.argv[1:] or Path(sys.argv[0]).name == "speed.py"
    if mode == "reexec" and own_command and _REEXEC_MARK not in os.environ:
        env = {**os.environ, **{key: BENCH_MALLOC_ENV[key] for key in missing}, _REEXEC_MARK: "1"}
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    settings = " ".join(f"{key}={BENCH_MALLOC_ENV[key]}" for key in missing)
    log(f"warning: {', '.join(missing)} not set at start-up; timings include page faults of freed memory. "
        f"Run as: {settings} pmsn bench speed ...")


def _run(args: argparse.Namespace) -> int:
    ensure_malloc_env(args.malloc_env)
    config = BenchConfig(steps=tuple(args.steps), batch=args.batch, channels=args.channels,
                         neurons=tuple(args.neurons) if args.neurons else None, repeats=args.repeats,
                         warmup=args.warmup, threads=args.threads, dtype=args.dtype, device=args.device,
                         max_seconds=args.max_seconds, memory=args.memory, seed=args.seed)
    sj, why = spikingjelly_status()
    print(f"SpikingJelly {importlib.metadata.version('spikingjelly')} (baselines sj_*)" if sj else why)
    cells = run_bench(config)
    rows = result_rows(cells, config)
    malloc = " ".join(f"{key}={os.environ[key]}" for key in BENCH_MALLOC_ENV if key in os.environ) or "glibc defaults"
    title = (f"B={config.batch}, C={config.channels}, {config.dtype}, {config.device}, "
             f"{torch.get_num_threads()} threads, median of {config.repeats}, torch {torch.__version__}")
    print(f"\n{title}; malloc: {malloc}")
    print(f"ratios: time / time of {rows[0]['ref_lif']} and of {rows[0]['ref_psn']} at the same T (< 1 = faster)")
    print(format_table(rows))
    out = Path(args.out)
    write_csv(out / "speed.csv", rows, CSV_FIELDS)
    write_plot(rows, out / "speed.png", title)
    print(f"\nwrote {out / 'speed.csv'} and {out / 'speed.png'}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "speed", help="train/inference time and peak memory of every neuron vs SpikingJelly",
        description="Time a train step (forward + backward of (spikes*w).sum()) and inference of every neuron, "
                    "and SpikingJelly's LIFNode/PSN/SlidingPSN when installed, interleaved in one process; peak "
                    "memory per neuron in a fresh process. Writes speed.csv and speed.png.")
    parser.add_argument("--T", dest="steps", type=positive_int, nargs="+", default=list(DEFAULT_STEPS), metavar="T",
                        help="sequence lengths (default 32 256 1024 4096)")
    parser.add_argument("--batch", type=positive_int, default=64)
    parser.add_argument("--channels", type=positive_int, default=256)
    parser.add_argument("--neurons", nargs="+", metavar="NAME",
                        help=f"subset of: {' '.join(candidates())} (default all)")
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed repeats per cell, median reported (default 5)")
    parser.add_argument("--warmup", type=non_negative_int, default=1, help="untimed calls per cell first (default 1)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-seconds", type=positive_float, default=60.0,
                        help="skip a cell whose repeats would take longer (estimated from the warm-up or the "
                             "previous T; default 60)")
    parser.add_argument("--memory", choices=("auto", "subprocess", "inprocess", "off"), default="auto",
                        help="peak memory: fresh process per neuron (CPU default), in this process (CUDA default)")
    parser.add_argument("--malloc-env", choices=("reexec", "warn", "ignore"), default="reexec",
                        help="if the MALLOC_* variables are not set: re-execute with them (default) or warn")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--out", default="bench_out/speed", metavar="DIR", help="default bench_out/speed")
    parser.set_defaults(func=_run)


__all__ = ["Candidate", "BenchConfig", "Cell", "candidates", "spikingjelly_status", "run_bench", "result_rows",
           "format_table", "write_csv", "write_plot", "train_step", "inference", "measure_peaks", "neuron_path",
           "ensure_malloc_env", "register", "BENCH_MALLOC_ENV", "CSV_FIELDS", "DEFAULT_STEPS"]

if __name__ == "__main__":
    _memory_child()
