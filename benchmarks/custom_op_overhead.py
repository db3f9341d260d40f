"""Per-call cost of the ``torch.library`` custom-op wrapping of the fused CPU kernels (docs/kernels.md §3, §4).

    python benchmarks/custom_op_overhead.py [--rev c8e4778 --steps 1024 --batch 16 --channels 256 --repeats 9]

The same C++ sweeps run behind two Python fronts: the ``autograd.Function`` classes of ``pmsn.ops.fused_cpu`` /
``pmsn.ops.fused_leaky`` at git revision ``--rev`` (before the custom ops; loaded from ``git show`` into a
temporary package) and the custom ops of this checkout. Each case times forward + backward (training) and a
no-grad forward (inference) of PMSN and LIF, at the given size and at a tiny one (T = 16, B = 1, C = 16) where the
fixed per-call cost shows. Old and new alternate, one thread, median of ``--repeats``; the ratio is new / old.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from fused_pmsn_inputs import pmsn_parameters  # benchmarks/ is the script's folder

from pmsn.ops import fused_cpu, fused_leaky

ROOT = Path(__file__).resolve().parents[1]


def load_old(rev: str, folder: Path):
    """``fused_cpu`` and ``fused_leaky`` of revision ``rev`` as the modules ``pmsn_old_fused_cpu`` and
    ``pmsn_old_fused_leaky`` (the old fused_leaky's imports of pmsn.ops.fused_cpu point at the old copy)."""
    modules = []
    for name in ("fused_cpu", "fused_leaky"):
        text = subprocess.run(["git", "show", f"{rev}:src/pmsn/ops/{name}.py"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        text = text.replace("from pmsn.ops.fused_cpu import", "from pmsn_old_fused_cpu import")
        # The C++ sources sit next to the real modules: the same extension (and cached build) serves both fronts.
        text = text.replace("Path(__file__).resolve().parent", f"Path({str(ROOT / 'src' / 'pmsn' / 'ops')!r})")
        path = folder / f"pmsn_old_{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"pmsn_old_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def cases(steps: int, batch: int, channels: int, old_cpu, old_leaky):
    """{name: (old callable, new callable)}; every callable runs one training step or one inference call."""
    torch.manual_seed(0)
    x = (torch.randn(steps, batch, channels) + 0.5).requires_grad_(True)
    params = pmsn_parameters(channels)
    weight = torch.randn(x.shape)

    def train(function, *args, **kwargs):
        def run():
            (function(*args, **kwargs) * weight).sum().backward()
        return run

    def infer(function, *args, **kwargs):
        def run():
            with torch.no_grad():
                function(*args, **kwargs)
        return run

    return {
        "PMSN train": (train(old_cpu.pmsn_fused, x, *params), train(fused_cpu.pmsn_fused, x, *params)),
        "PMSN infer": (infer(old_cpu.pmsn_fused, x, *params), infer(fused_cpu.pmsn_fused, x, *params)),
        "LIF train": (train(old_leaky.lif_fused, x, 0.5), train(fused_leaky.lif_fused, x, 0.5)),
        "LIF infer": (infer(old_leaky.lif_fused, x, 0.5), infer(fused_leaky.lif_fused, x, 0.5)),
    }


def median_seconds(function, repeats: int, inner: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            function()
        samples.append((time.perf_counter() - start) / inner)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="c8e4778", help="revision with the autograd.Function fronts")
    parser.add_argument("--steps", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not (fused_cpu.fused_available() and fused_leaky.fused_leaky_available()):
        raise SystemExit("the fused CPU kernels are not available")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"CPU: {cpu}; 1 thread; torch {torch.__version__}; old = {args.rev}, new = working tree")
    with tempfile.TemporaryDirectory() as folder:
        old_cpu, old_leaky = load_old(args.rev, Path(folder))
        for steps, batch, channels, inner in ((args.steps, args.batch, args.channels, 1), (16, 1, 16, 200)):
            print(f"T={steps} B={batch} C={channels}")
            for name, (old, new) in cases(steps, batch, channels, old_cpu, old_leaky).items():
                old(), new()  # warm-up
                old_samples, new_samples = [], []
                for _ in range(args.repeats):  # alternate, so drifts hit both
                    old_samples += median_seconds(old, 1, inner)
                    new_samples += median_seconds(new, 1, inner)
                o, n = statistics.median(old_samples), statistics.median(new_samples)
                print(f"  {name:11s} old {o * 1e3:9.3f} ms  new {n * 1e3:9.3f} ms  new/old {n / o:5.3f}  "
                      f"(+{(n - o) * 1e6:7.1f} µs)")


if __name__ == "__main__":
    main()
