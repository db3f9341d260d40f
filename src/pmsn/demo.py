"""``python -m pmsn.demo`` / ``pmsn demo``: run a PMSN layer in parallel and step by step, show they agree.

Prints whether the spikes and input gradients of the two paths are equal and how long each took.
"""

from __future__ import annotations

import argparse
import time

import torch

from pmsn.arguments import non_negative_int, positive_int
from pmsn.neurons import PMSN


def run_demo(steps: int = 1024, batch: int = 8, channels: int = 64, compartments: int = 5, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    torch.set_flush_denormal(True)
    neuron = PMSN(channels=channels, compartments=compartments)
    x = torch.randn(steps, batch, channels) + 0.5
    weights = torch.randn_like(x)
    neuron(x[:2])  # warm-up: builds or loads the fused CPU kernel once, outside the timing
    results = {}
    for name, run in (("parallel", neuron), ("serial", neuron.serial)):
        inputs = x.clone().requires_grad_(True)
        start = time.perf_counter()
        spikes = run(inputs)
        (spikes * weights).sum().backward()
        results[name] = (spikes.detach(), inputs.grad, time.perf_counter() - start)
    (s_par, g_par, t_par), (s_ser, g_ser, t_ser) = results["parallel"], results["serial"]
    return {
        "spike_agreement": (s_par == s_ser).float().mean().item(),
        "grad_relative_l2": ((g_par - g_ser).norm() / g_ser.norm()).item(),
        "firing_rate": s_par.mean().item(),
        "parallel_s": t_par,
        "serial_s": t_ser,
    }


def _main(args: argparse.Namespace) -> int:
    print(f"PMSN layer: T={args.steps}, B={args.batch}, C={args.channels}, n={args.compartments} "
          f"(float32, {torch.get_num_threads()} threads), forward + backward")
    r = run_demo(args.steps, args.batch, args.channels, args.compartments, args.seed)
    print(f"  parallel (neuron(x))        {r['parallel_s'] * 1e3:9.1f} ms")
    print(f"  serial   (loop of step)     {r['serial_s'] * 1e3:9.1f} ms   -> parallel is "
          f"{r['serial_s'] / r['parallel_s']:.1f}x faster")
    print(f"  spikes equal on {100 * r['spike_agreement']:.4f} % of {args.steps * args.batch * args.channels} "
          f"entries (firing rate {r['firing_rate']:.3f})")
    print(f"  input gradients: relative L2 difference {r['grad_relative_l2']:.2e} (float32; a column whose "
          f"spike flips at a tie keeps a shifted remainder)")
    agree = r["spike_agreement"] >= 0.9999
    print("  parallel and serial paths AGREE" if agree else "  parallel and serial paths DISAGREE")
    return 0 if agree else 1


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=positive_int, default=1024, help="sequence length T")
    parser.add_argument("--batch", type=positive_int, default=8)
    parser.add_argument("--channels", type=positive_int, default=64)
    parser.add_argument("--compartments", type=positive_int, default=5)
    parser.add_argument("--seed", type=non_negative_int, default=0)


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run a PMSN layer in parallel and step by step and compare")
    _add_arguments(parser)
    parser.set_defaults(func=_main)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(prog="python -m pmsn.demo", description=__doc__)
    _add_arguments(cli)
    raise SystemExit(_main(cli.parse_args()))
