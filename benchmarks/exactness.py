"""Exactness and streaming of PMSN at long T: float32 vs float64 spikes, and ``step()`` throughput.

    python benchmarks/exactness.py                 # T = 16384, B = 4, C = 64; streaming 4 x 1000 steps, C = 256

1. Spike agreement: the same layer run on the same input in float32 and in float64, on every parallel path
   (fused C++ sweep, FFT, chunked scan when available), each compared with the float64 serial sweep (the
   fused path in float64, or the FFT path where the kernel is not built). Expect >= 99.99 % at T = 16384
   (docs/kernels.md §8: the float32 convolution error dominates; the soma keeps its remainder in [0, θ)).
2. Streaming: ``neuron.step`` one time step at a time under ``torch.no_grad``; steps/second per window of
   ``--window`` steps. The state is n − 1 complex modes + the soma remainder per channel, so a step costs
   O(n·C) whatever t is: the windows should run at the same rate.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from pmsn.neurons import PMSN
from pmsn.neurons.pmsn import PATHS
from pmsn.ops.fused_cpu import fused_available


def spike_agreement(steps: int, batch: int, channels: int, compartments: int,
                    seed: int = 0) -> tuple[list[dict], float]:
    """Per path: fraction of float32 and float64 spikes equal to the float64 reference, first differing t;
    and the reference firing rate."""
    torch.manual_seed(seed)
    neuron = PMSN(channels=channels, compartments=compartments)
    x = torch.randn(steps, batch, channels, dtype=torch.float64) + 0.5
    reference_path = "fused" if fused_available() else "fft"
    with torch.no_grad():
        neuron.path = reference_path
        reference = neuron(x)
        results = []
        for path in PATHS:
            if path == "fused" and not fused_available():
                continue
            neuron.path = path
            for dtype in (torch.float32, torch.float64):
                spikes = neuron(x.to(dtype)).to(torch.float64)
                differs = (spikes != reference).flatten(1).any(1).nonzero()
                results.append({"path": path, "dtype": str(dtype).removeprefix("torch."),
                                "agreement": (spikes == reference).double().mean().item(),
                                "first_mismatch_t": int(differs[0]) if len(differs) else None,
                                "reference": f"{reference_path} float64"})
    neuron.path = None
    return results, reference.mean().item()


def streaming_throughput(windows: int, window: int, batch: int, channels: int, compartments: int,
                         seed: int = 0) -> list[float]:
    """Steps per second of ``neuron.step`` in consecutive windows of one continuing sequence."""
    torch.manual_seed(seed)
    neuron = PMSN(channels=channels, compartments=compartments)
    inputs = torch.randn(window, batch, channels) + 0.5
    state, rates = None, []
    with torch.no_grad():
        for _ in range(windows):
            start = time.perf_counter()
            for x_t in inputs:
                _, state = neuron.step(x_t, state)
            rates.append(window / (time.perf_counter() - start))
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", dest="steps", type=int, default=16384)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--compartments", type=int, default=5)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--stream-batch", type=int, default=1)
    parser.add_argument("--stream-channels", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--min-agreement", type=float, default=0.9999)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)

    results, firing_rate = spike_agreement(args.steps, args.batch, args.channels, args.compartments)
    print(f"PMSN n={args.compartments}, T={args.steps}, B={args.batch}, C={args.channels}, input N(0.5, 1), "
          f"firing rate {firing_rate:.3f}; reference: {results[0]['reference']}")
    print(f"{'path':<8} {'dtype':<8} {'equal spikes':>13} {'first mismatch t':>17}")
    for row in results:
        print(f"{row['path']:<8} {row['dtype']:<8} {100 * row['agreement']:>12.4f}% "
              f"{'-' if row['first_mismatch_t'] is None else row['first_mismatch_t']:>17}")
    worst = min(row["agreement"] for row in results)

    rates = streaming_throughput(args.windows, args.window, args.stream_batch, args.stream_channels,
                                 args.compartments)
    print(f"\nstreaming step(): B={args.stream_batch}, C={args.stream_channels}, windows of {args.window} steps")
    print("steps/s per window: " + ", ".join(f"{rate:.0f}" for rate in rates)
          + f"  (last/first = {rates[-1] / rates[0]:.2f})")
    ok = worst >= args.min_agreement
    print(f"\nworst agreement {100 * worst:.4f}% {'>=' if ok else '<'} {100 * args.min_agreement:.2f}%")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
