"""Profile of the fused PMSN CPU kernel against its arithmetic floor (docs/kernels.md §12).

    python benchmarks/pmsn_cpu_profile.py [--steps 1024 --batch 64 --channels 256 --modes 4 --repeats 7]
                                          [--isa native|avx2]

``--isa avx2`` measures everything with 256-bit code: the kernel and the peak loops are built with
``PMSN_CPU_ISA=avx2`` (x86-64-v3) and torch runs with ``ATEN_CPU_CAPABILITY=avx2`` (SpikingJelly's LIF, the
streaming loops), set for the whole process (docs/kernels.md §12.6). Default: this CPU's instruction set.

1. Measures this core's achievable rates on one thread: an FMA-bound loop (12 independent chains of full-width
   registers: 512-bit where the build has AVX-512, else 256-bit; built with the kernel's flags), one dependent FMA
   chain (its latency gives the clock, 4 cycles per FMA on Zen 4 / recent Intel), and streaming read / copy
   bandwidth of 256 MiB tensors.
2. Times the two custom ops separately (forward with checkpoints, forward for inference, backward with and
   without parameter gradients), the whole PMSN train step and SpikingJelly's LIFNode train step, interleaved in
   one process, median of ``--repeats``, 1 thread, flush-denormal, the bench's ``MALLOC_*`` settings.
3. Prints the per-element operation and byte counts read off csrc/pmsn_cpu.cpp, the floors they give at the
   measured rates, and measured / floor per part.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch.utils.cpp_extension import load_inline

from fused_cpu_vs_torch import pmsn_parameters
from pmsn.bench.malloc_env import BENCH_MALLOC_ENV
from pmsn.ops.cpp_build import BASE_LDFLAGS, ISA_ENV, ISA_MARCH, cpu_cflags, cpu_isa
from pmsn.ops.fused_cpu import _BLOCK, fused_available, pmsn_fused

# Peak-rate loops in the kernel's flags (docs/kernels.md §5), one register wide: 64 bytes with AVX-512, else 32
# (12 chains of 64-byte vectors would not fit AVX2's 16 registers).
_MICRO_SOURCE = r"""
#include <torch/extension.h>
#include <chrono>
#ifdef __AVX512F__
constexpr int kBytes = 64;
#else
constexpr int kBytes = 32;
#endif
typedef float vec __attribute__((vector_size(kBytes)));
constexpr int kLanes = kBytes / 4;

// GFLOP/s of 12 independent FMA chains (acc = acc·a + b), one register each.
double fma_rate(int64_t iterations) {
  const vec a = (vec){} + 0.999f, b = (vec){} + 1e-3f;
  vec c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b, c6 = b, c7 = b, c8 = b, c9 = b, c10 = b, c11 = b;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it) {
    c0 = c0 * a + b; c1 = c1 * a + b; c2 = c2 * a + b; c3 = c3 * a + b; c4 = c4 * a + b; c5 = c5 * a + b;
    c6 = c6 * a + b; c7 = c7 * a + b; c8 = c8 * a + b; c9 = c9 * a + b; c10 = c10 * a + b; c11 = c11 * a + b;
    asm volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7), "+v"(c8),
                 "+v"(c9), "+v"(c10), "+v"(c11));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  volatile float sink = (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11)[0];
  (void)sink;
  return 2.0 * kLanes * 12 * iterations / seconds / 1e9;
}

// Nanoseconds per FMA of one dependent chain (its latency).
double fma_latency_ns(int64_t iterations) {
  vec acc = (vec){} + 1e-3f;
  const vec a = (vec){} + 0.999f, b = (vec){} + 1e-3f;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it) {
    acc = acc * a + b;
    asm volatile("" : "+v"(acc));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  volatile float sink = acc[0];
  (void)sink;
  return seconds / iterations * 1e9;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fma_rate", &fma_rate);
  m.def("fma_latency_ns", &fma_latency_ns);
  m.def("register_bits", [] { return 8 * kBytes; });
}
"""


def operation_counts(modes: int) -> dict[str, tuple[float, float]]:
    """(arithmetic operations, DRAM bytes) per element (one (t, b, c) cell, float32) of each part, counted from
    csrc/pmsn_cpu.cpp (docs/kernels.md §12.1). An FMA counts 2, a compare+select 1, the divide and floor 1 each."""
    modal = 11 * modes  # per mode: Ā·x̂ + u (4 re, 3 im), current += Re(r·x̂) (4)
    forward = 1 + modal + 12  # skip·u, modes, soma (scale, ReLU, add, 2 compares, add, divide, floor, mul, sub)
    recompute = 1 + modal + 14  # same sweep, the soma writing dL/dS·tri(v − θ) and κ·[κY > 0] instead of S
    gradient_y = 6  # G = acc·gain (select), D·G, E += u·G
    adjoint = 27 * modes  # per mode: ζ (8), ν (7), P, W (8), dL/du += Re(r·ν) (4)
    checkpoints = (2 * modes + 1) / _BLOCK * 4
    return {
        "forward (train)": (forward, 4 + 4 + checkpoints),  # read u, write spikes, write checkpoints
        "forward (infer)": (forward, 4 + 4),
        "backward": (recompute + gradient_y + adjoint, 4 + 4 + 4 + checkpoints),  # read dL/dS, u; write dL/du
        "backward (no params)": (recompute + gradient_y + adjoint - 16 * modes, 4 + 4 + 4 + checkpoints),
    }


def peak_rates() -> dict[str, float]:
    """Achievable GFLOP/s, FMA latency (ns) and read / copy GB/s on this thread, with the kernel's ISA."""
    micro = load_inline(f"pmsn_profile_micro_{cpu_isa()}", _MICRO_SOURCE, extra_cflags=list(cpu_cflags()),
                        extra_ldflags=list(BASE_LDFLAGS), verbose=False)
    micro.fma_rate(10**7)  # warm-up (clock ramp)
    gflops = max(micro.fma_rate(10**8) for _ in range(3))
    latency = min(micro.fma_latency_ns(10**8) for _ in range(3))
    big = torch.randn(1 << 26)  # 256 MiB
    out = torch.empty_like(big)
    out.copy_(big)
    read = min(_time(lambda: big.sum()) for _ in range(5))
    copy = min(_time(lambda: out.copy_(big)) for _ in range(5))
    return {"gflops": gflops, "fma_latency_ns": latency, "ghz": 4.0 / latency, "bits": micro.register_bits(),
            "read_gbs": big.numel() * 4 / read / 1e9, "copy_gbs": 2 * big.numel() * 4 / copy / 1e9}


def _time(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--modes", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--isa", choices=tuple(ISA_MARCH), default=None,
                        help=f"build the kernel for this ISA ({ISA_ENV}); avx2 also restricts torch to AVX2 "
                             "(default: $PMSN_CPU_ISA, else native)")
    args = parser.parse_args()
    wanted = {key: value for key, value in BENCH_MALLOC_ENV.items() if key not in os.environ}
    if args.isa is not None:
        wanted[ISA_ENV] = args.isa
    if cpu_isa() == "avx2" or args.isa == "avx2":  # torch picks its kernels' ISA once, at start-up
        wanted["ATEN_CPU_CAPABILITY"] = "avx2"
    wanted = {key: value for key, value in wanted.items() if os.environ.get(key) != value}
    if wanted:  # glibc reads the MALLOC_* settings only at start-up (docs/kernels.md §7.3), torch its capability
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, **wanted})
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    if not fused_available():
        raise SystemExit("fused kernel not available")
    from spikingjelly.activation_based import functional, neuron

    rates = peak_rates()
    torch.manual_seed(0)
    shape = (args.steps, args.batch, args.channels)
    elements = args.steps * args.batch * args.channels
    x = (torch.randn(shape) + 0.5).requires_grad_(True)
    weight = torch.randn(shape)
    params = pmsn_parameters(args.channels, args.modes)
    plain = [p.detach() for p in params]
    settings = (1.0, 1.0, 1.0, False)  # threshold, scale, surrogate width, through_integrator
    op_forward, op_backward = torch.ops.pmsn.pmsn_sweep_forward, torch.ops.pmsn.pmsn_sweep_backward
    with torch.no_grad():
        _, checkpoints = op_forward(x.detach(), *plain, *settings, False, _BLOCK)
    lif = neuron.LIFNode(step_mode="m")

    def lif_train():
        functional.reset_net(lif)
        (lif(x) * weight).sum().backward()

    cases = {
        "forward (train)": lambda: op_forward(x.detach(), *plain, *settings, False, _BLOCK),
        "forward (infer)": lambda: op_forward(x.detach(), *plain, *settings, False, 0),
        "backward": lambda: op_backward(weight, x.detach(), *plain, checkpoints, *settings, _BLOCK, True, True),
        "backward (no params)": lambda: op_backward(weight, x.detach(), *plain, checkpoints, *settings, _BLOCK,
                                                    True, False),
        "PMSN train step": lambda: (pmsn_fused(x, *params) * weight).sum().backward(),
        "SJ LIF train step": lif_train,
    }
    for name, function in cases.items():  # warm-up; the ops alone run without autograd recording
        with torch.no_grad() if "step" not in name else torch.enable_grad():
            function()
    times = {name: [] for name in cases}
    for round_index in range(args.repeats):
        names = list(cases)
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            with torch.no_grad() if "step" not in name else torch.enable_grad():
                times[name].append(_time(cases[name]))
    median = {name: 1e3 * statistics.median(values) for name, values in times.items()}

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown CPU")
    print(f"{cpu}; T={args.steps} B={args.batch} C={args.channels} N={args.modes} float32, 1 thread, "
          f"median of {args.repeats}, torch {torch.__version__}")
    print(f"kernel ISA {cpu_isa()} ({' '.join(cpu_cflags())}), torch CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    print(f"peak: {rates['gflops']:.1f} GFLOP/s (FMA-bound, {rates['bits']}-bit registers), FMA latency "
          f"{rates['fma_latency_ns']:.3f} ns "
          f"(≈ {rates['ghz']:.2f} GHz at 4 cycles), read {rates['read_gbs']:.1f} GB/s, copy {rates['copy_gbs']:.1f} "
          f"GB/s (read + write)")
    print(f"{'part':22s} {'ops/el':>7s} {'B/el':>6s} {'flop floor':>10s} {'byte floor':>10s} {'measured':>9s} "
          f"{'/floor':>7s} {'cyc/el':>7s}")
    for name, (ops, bytes_) in operation_counts(args.modes).items():
        flop_floor = ops * elements / rates["gflops"] / 1e6
        byte_floor = bytes_ * elements / rates["copy_gbs"] / 1e6
        cycles = median[name] * 1e-3 * rates["ghz"] * 1e9 / elements
        print(f"{name:22s} {ops:7.0f} {bytes_:6.2f} {flop_floor:8.1f}ms {byte_floor:8.1f}ms {median[name]:7.1f}ms "
              f"{median[name] / max(flop_floor, byte_floor):6.1f}× {cycles:7.2f}")
    train_floor = sum(max(ops * elements / rates["gflops"], bytes_ * elements / rates["copy_gbs"]) / 1e6
                      for name, (ops, bytes_) in operation_counts(args.modes).items()
                      if name in ("forward (train)", "backward"))
    lif_ms = median["SJ LIF train step"]
    print(f"PMSN train step {median['PMSN train step']:.1f} ms = {median['PMSN train step'] / lif_ms:.2f}× SJ LIF "
          f"({lif_ms:.1f} ms); kernel floor {train_floor:.1f} ms = {train_floor / lif_ms:.2f}× SJ LIF; "
          f"0.3× SJ LIF = {0.3 * lif_ms:.1f} ms")


if __name__ == "__main__":
    main()
