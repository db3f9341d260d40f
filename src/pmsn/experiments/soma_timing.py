"""``pmsn ablate soma``: wall time of the parallel vs the serial soma, the soma without its input clamp (serial soft
reset, PMSN §VII-F2's "last-compartment-serial PMSN") and the serial MSN, vs T (PMSN Fig. 5).

A measurement, not a training sweep: one layer, a training step (forward + backward) and an inference forward
per variant and T, median of a few repeats after a warm-up call. ``pmsn bench speed`` is the full speed and
memory comparison of every neuron.
"""

from __future__ import annotations

import statistics
import time

import torch

from pmsn.experiments.ablation_base import Options, write_outputs
from pmsn.plot.figures import pyplot
from pmsn.tables import markdown_table


def _time(function, repeats: int) -> float:
    function()  # warm-up (allocations, the fused extension build)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def soma(options: Options) -> dict:
    """Wall time of one training step (forward + backward) and one inference forward of a PMSN layer with the
    parallel soma vs the serial soma (same values), the unclamped soft-reset soma that has to run serially (the
    clamp ablation of PMSN §VII-F2), the whole serial MSN (step loop) and LIF (its default path — the fused sweep
    on CPU — and its step loop), vs T (PMSN Fig. 5 setting: one layer of 256 neurons)."""
    from pmsn.neurons import LIF, PMSN, SerialSomaPMSN, SoftResetPMSN

    lengths = options.lengths or ((32,) if options.smoke else (64, 256, 1024, 4096))
    channels = options.channels or (8 if options.smoke else 256)
    batch = options.batch or (2 if options.smoke else 16)
    repeats = options.repeats or (1 if options.smoke else 3)
    torch.manual_seed(0)
    variants_to_time = {
        "PMSN parallel": lambda: PMSN(channels),
        "PMSN parallel (FFT path)": lambda: PMSN(channels, path="fft"),
        "PMSN serial soma": lambda: SerialSomaPMSN(channels),
        "PMSN w/o clamp (serial soft reset)": lambda: SoftResetPMSN(channels),
        "serial MSN (step loop)": lambda: _Serial(PMSN(channels)),
        "LIF (default path)": lambda: LIF(tau=2.0, reset="soft"),
        "LIF (step loop)": lambda: _Serial(LIF(tau=2.0, reset="soft")),
    }
    results = []
    for steps in lengths:
        x = torch.rand(steps, batch, channels)
        for label, build in variants_to_time.items():
            neuron = build()

            def train_step():
                inputs = x.clone().requires_grad_(True)
                neuron(inputs).sum().backward()

            def inference():
                with torch.no_grad():
                    neuron(x)

            results.append({"variant": label, "T": steps, "channels": channels, "batch": batch,
                            "train_step_s": _time(train_step, repeats), "inference_s": _time(inference, repeats)})
            options.say(f"T={steps:>5} {label:<34} train {results[-1]['train_step_s'] * 1e3:9.1f} ms  "
                        f"inference {results[-1]['inference_s'] * 1e3:9.1f} ms", flush=True)
    summary = []
    for steps in lengths:
        base = next(r for r in results if r["T"] == steps and r["variant"] == "PMSN parallel")
        for r in results:
            if r["T"] == steps:
                summary.append({**r, "train_vs_parallel": r["train_step_s"] / base["train_step_s"],
                                "inference_vs_parallel": r["inference_s"] / base["inference_s"]})
    markdown = (f"# Ablation: soma (serial vs parallel)\n\nOne PMSN layer of {channels} neurons, batch {batch}, "
                f"CPU threads {torch.get_num_threads()}, median of {repeats}; time per training step (forward + "
                f"backward) and per inference forward; ratio = time / time of the parallel PMSN.\n\n"
                f"{markdown_table(summary)}\n\"PMSN serial soma\" runs the paper's clamped soma step by step (the "
                "same values as the parallel soma); \"PMSN w/o clamp\" lets negative current into the soma "
                "(`SoftResetPMSN`, soma_mode `serial_soft`), which has no parallel form: it is the paper's "
                "last-compartment-serial PMSN (accuracy: `pmsn ablate clamp`).\n\nPaper (PMSN §VII-F2, RTX 3090): "
                "s/epoch parallel vs last-compartment-serial 62 vs 158 (T = 32, 2.5×) and 73 vs 5182 (T = 1024, "
                "71×); Fig. 5: parallel PMSN > 10× faster than LIF in training, speed-up growing with T.\n")
    return write_outputs(options, "soma", results, summary, markdown, _soma_figure(summary),
                  {"channels": channels, "batch": batch, "lengths": list(lengths), "repeats": repeats})


class _Serial(torch.nn.Module):
    """A neuron run through its serial definition (the loop of ``step``)."""

    def __init__(self, neuron):
        super().__init__()
        self.neuron = neuron

    def forward(self, x):
        return self.neuron.serial(x)


def _soma_figure(summary: list[dict]):
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    for label in dict.fromkeys(r["variant"] for r in summary):
        mine = [r for r in summary if r["variant"] == label]
        for axis, key in zip(axes, ("train_step_s", "inference_s")):
            axis.plot([r["T"] for r in mine], [r[key] for r in mine], marker="o", label=label)
    for axis, title in zip(axes, ("training step (forward + backward)", "inference (forward)")):
        axis.set(xscale="log", yscale="log", xlabel="sequence length T", ylabel="seconds", title=title)
        axis.grid(alpha=0.3, which="both")
        axis.legend()
    figure.tight_layout()
    return figure
