"""One training step of a PMSN layer on a very long sequence: time and peak memory.

    python benchmarks/long_sequence.py                       # T = 65,536, B = 1, C = 256, path picked by device
    python benchmarks/long_sequence.py --path fft --T 16384

Train step = forward + backward of ``(spikes * w).sum()`` with gradients to the input and every parameter.
Prints the step time, the peak RSS increase over the memory in use before the step (inputs allocated;
``pmsn.bench.memory``) and the peak RSS of the whole process; exits with 1 if that exceeds ``--limit-gib``.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from pmsn.bench.candidates import neuron_path
from pmsn.bench.memory import MIB, PeakMemory, process_peak_rss_bytes
from pmsn.neurons import PMSN


def long_sequence_step(steps: int, batch: int, channels: int, compartments: int, path: str | None, seed: int = 0):
    torch.manual_seed(seed)
    torch.set_flush_denormal(True)
    neuron = PMSN(channels=channels, compartments=compartments, path=path)
    warm = torch.randn(64, batch, channels, requires_grad=True)  # loads the kernel, starts thread pools
    neuron(warm).sum().backward()
    neuron.zero_grad(set_to_none=True)
    x = torch.randn(steps, batch, channels, requires_grad=True)
    weights = torch.randn(steps, batch, channels)
    with PeakMemory("cpu") as peak:
        start = time.perf_counter()
        spikes = neuron(x)
        (spikes * weights).sum().backward()
        seconds = time.perf_counter() - start
    finite = bool(torch.isfinite(x.grad).all()) and all(bool(torch.isfinite(p.grad).all()) for p in neuron.parameters())
    return {"path": neuron_path(neuron, x), "seconds": seconds, "peak_increase_mib": peak.mib,
            "process_peak_mib": process_peak_rss_bytes() / MIB, "method": peak.method,
            "firing_rate": spikes.mean().item(), "finite_gradients": finite}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", dest="steps", type=int, default=65536)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--compartments", type=int, default=5)
    parser.add_argument("--path", choices=("auto", "fft", "fused", "chunked"), default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--limit-gib", type=float, default=4.0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = long_sequence_step(args.steps, args.batch, args.channels, args.compartments,
                                None if args.path == "auto" else args.path)
    print(f"PMSN n={args.compartments}, T={args.steps}, B={args.batch}, C={args.channels}, path={result['path']}, "
          f"{torch.get_num_threads()} threads")
    print(f"train step: {result['seconds']:.2f} s; peak RSS increase {result['peak_increase_mib']:.0f} MiB "
          f"({result['method']}); process peak RSS {result['process_peak_mib']:.0f} MiB; "
          f"firing rate {result['firing_rate']:.3f}; finite gradients: {result['finite_gradients']}")
    within = result["process_peak_mib"] <= args.limit_gib * 1024
    print(f"within {args.limit_gib:g} GiB: {'yes' if within else 'NO'}")
    return 0 if within and result["finite_gradients"] else 1


if __name__ == "__main__":
    sys.exit(main())
