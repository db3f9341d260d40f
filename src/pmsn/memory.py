"""Peak memory of the running process: the kernel's RSS high-water mark on CPU, the caching allocator's on CUDA.

    method = reset_peak(device)       # start a new peak
    ...                               # the work
    peak = peak_bytes(device, method)

CPU: Linux keeps the resident set's high-water mark (``VmHWM`` of ``/proc/self/status``) and resets it to the
current RSS when "5" is written to ``/proc/self/clear_refs``. Where the kernel refuses that write the mark cannot
be reset and the peak is the process's since it started (method ``process-peak-rss``). CUDA:
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (tensors only, not the allocator's cache).
How the training loop records it: docs/training.md §1.5.
"""

from __future__ import annotations

import re

import torch

MIB = 1024 * 1024
METHODS = ("cuda-max-allocated", "rss-hwm", "process-peak-rss", "unavailable")
_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int | None:
    try:
        with open(_STATUS) as handle:
            match = re.search(rf"^{field}:\s+(\d+)\s+kB", handle.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def current_rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def process_peak_rss_bytes() -> int | None:
    """The process's RSS high-water mark (since start or the last ``reset_peak_rss``)."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS; False where the kernel does not allow it."""
    try:
        with open(_CLEAR_REFS, "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def reset_peak(device: torch.device | str) -> str:
    """Start a new peak on ``device``; returns the method ``peak_bytes`` will use (one of ``METHODS``)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return "cuda-max-allocated"
    if process_peak_rss_bytes() is None:
        return "unavailable"
    return "rss-hwm" if reset_peak_rss() else "process-peak-rss"


def peak_bytes(device: torch.device | str, method: str) -> int | None:
    """The peak since ``reset_peak`` returned ``method``: allocated bytes on CUDA, resident bytes on CPU."""
    if method == "cuda-max-allocated":
        return torch.cuda.max_memory_allocated(torch.device(device))
    if method in ("rss-hwm", "process-peak-rss"):
        return process_peak_rss_bytes()
    return None
