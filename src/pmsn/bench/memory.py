"""Peak memory of one call, measured from outside the allocator (CPU) or by the CUDA caching allocator.

    with PeakMemory(device) as peak:
        run_one_train_step()
    peak.mib          # peak increase over the memory in use when the block started, MiB

CPU: tracemalloc does not see torch's buffers, so the measure is the process's resident set (RSS), read and
reset through ``pmsn.memory`` (``VmHWM``, ``clear_refs``); the peak of a block is ``VmHWM`` after it minus
``VmRSS`` before it.
Freed memory that glibc keeps would be reused without raising the RSS, so the block first returns it to the
system (``malloc_trim(0)``); for the same reason the measurement is run in a fresh process with glibc's
default malloc settings (``run_json_subprocess``), not in the benchmark process, which keeps freed memory on
purpose. Where ``clear_refs`` cannot be written the fallback is ``ru_maxrss`` minus the RSS at the start,
which is right in a fresh process as long as nothing earlier peaked higher (``method`` says which was used).
CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the memory allocated before.

For ``pmsn bench speed`` (``measure_peaks``, ``measure_in_subprocesses``): one fresh process per neuron,
``python -m pmsn.bench.memory`` with the neuron's name, its T values and the input sizes as JSON on stdin,
measures the peak of one train step and one inference call at each T (after a warm-up call of each) and prints
the results as one JSON line.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import resource
import subprocess
import sys
from typing import TYPE_CHECKING, Callable

import torch

from pmsn.bench.candidates import DTYPES, Candidate, candidates, inference, make_inputs, train_step
from pmsn.memory import MIB, current_rss_bytes, process_peak_rss_bytes, reset_peak_rss

if TYPE_CHECKING:
    from pmsn.bench.timing import BenchConfig, Cell


def release_free_memory() -> None:
    """Collect garbage and hand glibc's free heap pages back to the system, so the next peak starts from truth."""
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


class PeakMemory:
    """Context manager: ``bytes``/``mib`` = peak memory increase inside the block; ``method`` = how measured."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.bytes: int | None = None
        self.method = ""

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            self.method = "cuda-max-allocated"
            return self
        release_free_memory()
        self._start = current_rss_bytes()
        if self._start is None:
            self.method = "unavailable"
        elif reset_peak_rss():
            self.method = "rss-hwm"
        else:
            self.method = "ru_maxrss"
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device) - self._start
        elif self.method == "rss-hwm":
            self.bytes = max(0, process_peak_rss_bytes() - self._start)
        elif self.method == "ru_maxrss":  # Linux reports kilobytes
            self.bytes = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self._start)

    @property
    def mib(self) -> float | None:
        return None if self.bytes is None else self.bytes / MIB


def run_json_subprocess(module: str, payload: dict, timeout: float | None = None) -> dict:
    """Run ``python -m module`` in a fresh process with ``payload`` as JSON on stdin; return the JSON it prints last.

    The child gets glibc's default malloc settings (the benchmark's own ``MALLOC_*`` variables are removed).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    try:
        done = subprocess.run([sys.executable, "-m", module], input=json.dumps(payload), capture_output=True,
                              text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"memory measurement ({module}) ran past {timeout:.0f} s") from error
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"memory measurement ({module}) failed with exit code {done.returncode}:\n{tail}")
    return json.loads(lines[-1])


def measure_peaks(module, candidate: Candidate, x, weights) -> tuple[float | None, float | None, str]:
    """(train MiB, inference MiB, method): peak memory of one call of each after a warm-up call of each."""
    peaks = []
    for run in (lambda: train_step(module, x, weights), lambda: inference(module, x)):
        candidate.prepare(module, x)
        run()  # warm-up: lazy initialisation and one-time allocations are not the neuron's working memory
        candidate.prepare(module, x)
        with PeakMemory(x.device) as peak:
            run()
        peaks.append(peak)
    candidate.prepare(module, x)
    return peaks[0].mib, peaks[1].mib, peaks[0].method


def measure_in_subprocesses(cells: list["Cell"], config: "BenchConfig", log: Callable[[str], None]) -> None:
    """Fill in the peaks of the timed cells: one fresh process per neuron measures its cells in increasing T."""
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
            result = run_json_subprocess("pmsn.bench.memory", payload, timeout=budget)
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
        x, weights = make_inputs(steps, payload["batch"], payload["channels"], dtype, device, payload["seed"])
        torch.manual_seed(payload["seed"])
        module = candidate.build(steps, payload["channels"]).to(device=device, dtype=dtype)
        train_mib, infer_mib, method = measure_peaks(module, candidate, x, weights)
        results.append({"T": steps, "train_mib": train_mib, "infer_mib": infer_mib, "method": method})
        del module, x, weights
    print(json.dumps({"cells": results}))


__all__ = ["PeakMemory", "current_rss_bytes", "process_peak_rss_bytes", "reset_peak_rss", "release_free_memory",
           "run_json_subprocess", "MIB", "measure_peaks", "measure_in_subprocesses"]

if __name__ == "__main__":
    _memory_child()
