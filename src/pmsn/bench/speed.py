"""``pmsn bench speed``: train-step and inference time and peak memory of every neuron, side by side.

    pmsn bench speed                                  # T 32 256 1024 4096, B 64, C 256, median of 5
    pmsn bench speed --T 256 1024 --neurons pmsn sj_lif --out bench_out/speed

One process times every neuron of this package and SpikingJelly's ``LIFNode`` (multi-step, tau 2), ``PSN``
and ``SlidingPSN`` (k 32) as outside baselines (``pmsn.bench.candidates``), on the same input, thread count and
flush-denormal setting, interleaved over the neurons (``pmsn.bench.timing``); the table reports medians. Peak
memory is measured afterwards, per neuron, in a fresh process (``pmsn.bench.memory``). The command runs with
glibc's ``MALLOC_*`` settings of ``pmsn.bench.malloc_env`` (it re-executes itself once, ``--malloc-env``).
This module is the command and its output: ``speed.csv`` and ``speed.png`` (time vs T, log-log, train and
inference).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
from pathlib import Path

import torch

from pmsn.arguments import non_negative_int, positive_float, positive_int
from pmsn.bench.candidates import DTYPES, candidates, spikingjelly_status
from pmsn.bench.malloc_env import ensure_malloc_env, malloc_description
from pmsn.bench.timing import DEFAULT_STEPS, BenchConfig, Cell, run_bench
from pmsn.io import atomic_write_bytes
from pmsn.tables import format_value, write_csv

CSV_FIELDS = ("neuron", "label", "family", "path", "T", "batch", "channels", "dtype", "device", "threads", "repeats",
              "train_ms", "infer_ms", "ref_lif", "train_vs_ref_lif", "infer_vs_ref_lif", "ref_psn",
              "train_vs_ref_psn", "infer_vs_ref_psn", "train_peak_mib", "infer_peak_mib", "memory_method", "status")


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
    malloc = malloc_description()
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
