"""Train-step and inference time of the fused PMSN CPU kernel against SpikingJelly's LIFNode (docs/kernels.md §9).

    python benchmarks/fused_cpu_vs_torch.py [--steps 1024 --batch 64 --channels 256 --modes 4 --repeats 5]

Train step = forward + backward of (spikes · w).sum() with gradients to the input and every parameter;
both neurons are timed interleaved in one process, median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from spikingjelly.activation_based import functional, neuron

from fused_pmsn_inputs import pmsn_parameters  # benchmarks/ is the script's folder

from pmsn.ops.fused_cpu import fused_available, pmsn_fused


def timed(function, clock) -> float:
    start = clock()
    function()
    return clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--modes", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall",
                        help="'thread' = CPU time of this thread (with --threads 1: robust on a busy machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    if not fused_available():
        raise SystemExit("fused kernel not available")
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    shape = (args.steps, args.batch, args.channels)
    x = (torch.randn(shape) + 0.5).requires_grad_(True)
    weight = torch.randn(shape)
    params = pmsn_parameters(args.channels, args.modes)
    lif = neuron.LIFNode(step_mode="m")

    def pmsn_train():
        (pmsn_fused(x.unsqueeze(-1), *params).squeeze(-1) * weight).sum().backward()

    def lif_train():
        functional.reset_net(lif)
        (lif(x) * weight).sum().backward()

    def pmsn_infer():
        with torch.no_grad():
            pmsn_fused(x.unsqueeze(-1), *params)

    def lif_infer():
        functional.reset_net(lif)
        with torch.no_grad():
            lif(x)

    cases = {"pmsn train": pmsn_train, "lif train": lif_train, "pmsn infer": pmsn_infer, "lif infer": lif_infer}
    for function in cases.values():  # warm-up
        function()
    times = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, function in cases.items():
            times[name].append(timed(function, clock))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"shape T={args.steps} B={args.batch} C={args.channels} N={args.modes}, threads={torch.get_num_threads()}, "
          f"clock={args.clock}, median of {args.repeats}")
    for name, value in median.items():
        print(f"{name:11s} {1e3 * value:8.1f} ms")
    print(f"train ratio pmsn/lif {median['pmsn train'] / median['lif train']:.2f}, "
          f"inference ratio {median['pmsn infer'] / median['lif infer']:.2f}")


if __name__ == "__main__":
    main()
