"""``pmsn bench speedup``: the papers' speed-ratio figures, measured here with ``pmsn bench speed``'s timed loop.

* ``pmsn_fig5`` — PMSN paper Fig. 5: speed-up of PMSN over the serial MSN (the same neuron run by its step
  loop), LIF, PSN and sliding PSN vs sequence length, one layer of 256 neurons, training and inference.
  speed-up = t_other / t_PMSN (> 1: PMSN is faster).
* ``psn_fig3`` — PSN paper Fig. 3: t_LIF / t_PSN over a grid of N neurons × T steps, inference and training
  (> 1: PSN is faster). N = batch × channels with channels = min(N, 256).

Each T (and N) is timed in one process with the neurons interleaved (``pmsn.bench.timing``), so the ratios are
side by side; absolute times depend on the machine, the ratios less. Writes ``<figure>.csv`` and the figure as
PNG + SVG.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from pmsn.arguments import positive_int
from pmsn.bench.malloc_env import ensure_malloc_env, malloc_description
from pmsn.bench.timing import BenchConfig, Cell, run_bench
from pmsn.plot.figures import pyplot, save_figure
from pmsn.tables import format_value, markdown_table, write_csv

# figure -> (reference neuron, compared neurons, default grid); the smoke grid is tiny
FIGURES = {
    "pmsn_fig5": {"target": "pmsn", "others": ("pmsn_serial", "lif", "psn", "sliding_psn"),
                  "steps": (64, 128, 256, 512, 1024, 2048, 4096), "sizes": (256,),
                  "smoke_steps": (8, 16), "smoke_sizes": (16,)},
    "psn_fig3": {"target": "psn", "others": ("lif",), "steps": (2, 4, 8, 16, 32, 64),
                 "sizes": (2 ** 8, 2 ** 12, 2 ** 16), "smoke_steps": (2, 4), "smoke_sizes": (16, 64)},
}
CALLS = (("train", "training (forward + backward)"), ("infer", "inference (forward)"))


def batch_and_channels(neurons: int) -> tuple[int, int]:
    """N neurons as ``[B, C]`` with C = min(N, 256) (neurons per layer) and B = N / C."""
    channels = min(neurons, 256)
    if neurons % channels:
        raise ValueError(f"the number of neurons must be <= 256 or a multiple of 256, got {neurons}")
    return neurons // channels, channels


def speedup_rows(cells: list[Cell], target: str, neurons: int) -> list[dict]:
    """One row per (other neuron, T): time of the other / time of ``target`` for each call (None if not timed)."""
    by_key = {(cell.candidate.name, cell.steps): cell for cell in cells}
    rows = []
    for (name, steps), cell in by_key.items():
        if name == target:
            continue
        reference = by_key[(target, steps)]
        row = {"neurons": neurons, "T": steps, "other": name, "target": target}
        for call, _ in CALLS:
            mine, theirs = reference.median_ms(call), cell.median_ms(call)
            row[f"{call}_{target}_ms"], row[f"{call}_{name}_ms"] = mine, theirs
            row[f"{call}_ratio"] = theirs / mine if mine and theirs else None
        rows.append(row)
    return rows


def measure(figure: str, steps, sizes, repeats: int, threads: int | None, device: str,
            log=print) -> list[dict]:
    spec = FIGURES[figure]
    rows = []
    for neurons in sizes:
        batch, channels = batch_and_channels(neurons)
        config = BenchConfig(steps=tuple(steps), batch=batch, channels=channels,
                             neurons=(spec["target"], *spec["others"]), repeats=repeats, threads=threads,
                             device=device, memory="off", max_seconds=120.0)
        log(f"{figure}: N = {neurons} neurons (B = {batch}, C = {channels})")
        rows += speedup_rows(run_bench(config, log=log), spec["target"], neurons)
    return rows


def plot_pmsn_fig5(rows: list[dict], stem: Path, title: str) -> list[Path]:
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, (call, name) in zip(axes, CALLS):
        for other in dict.fromkeys(row["other"] for row in rows):
            points = [(row["T"], row[f"{call}_ratio"]) for row in rows
                      if row["other"] == other and row[f"{call}_ratio"] is not None]
            if points:
                axis.plot(*zip(*points), marker="o", label=f"over {other}")
        axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set(xscale="log", yscale="log", xlabel="sequence length T", title=name)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("speed-up of PMSN (t_other / t_PMSN)")
    axes[1].legend()
    figure.suptitle(title, fontsize=9)
    return save_figure(figure, stem, ("png", "svg"))


def plot_psn_fig3(rows: list[dict], stem: Path, title: str) -> list[Path]:
    plt = pyplot()
    from matplotlib.colors import LogNorm

    steps = sorted({row["T"] for row in rows})
    sizes = sorted({row["neurons"] for row in rows})
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for axis, (call, name) in zip(axes, CALLS):
        grid = [[next((row[f"{call}_ratio"] for row in rows if row["T"] == t and row["neurons"] == n), None)
                 for t in steps] for n in sizes]
        values = [[float("nan") if v is None else v for v in line] for line in grid]
        known = [v for line in grid for v in line if v]
        spread = max([1.0] + [max(v, 1.0 / v) for v in known])  # a log colour scale centred on 1 (equal speed)
        image = axis.imshow(values, cmap="RdYlGn", origin="lower", aspect="auto",
                            norm=LogNorm(vmin=1.0 / spread, vmax=spread))
        for i, line in enumerate(grid):
            for j, value in enumerate(line):
                axis.text(j, i, format_value(value, 2), ha="center", va="center", fontsize=8)
        axis.set_xticks(range(len(steps)), [str(t) for t in steps])
        axis.set_yticks(range(len(sizes)), [f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else str(n) for n in sizes])
        axis.set(xlabel="T", ylabel="N neurons", title=f"t_LIF / t_PSN, {name}")
        figure.colorbar(image, ax=axis)
    figure.suptitle(title, fontsize=9)
    return save_figure(figure, stem, ("png", "svg"))


PLOTS = {"pmsn_fig5": plot_pmsn_fig5, "psn_fig3": plot_psn_fig3}


def _run(args: argparse.Namespace) -> int:
    ensure_malloc_env(args.malloc_env)
    spec = FIGURES[args.figure]
    steps = args.steps or (spec["smoke_steps"] if args.smoke else spec["steps"])
    sizes = args.neurons or (spec["smoke_sizes"] if args.smoke else spec["sizes"])
    for neurons in sizes:
        batch_and_channels(neurons)  # bad sizes fail before anything runs
    rows = measure(args.figure, steps, sizes, args.repeats, args.threads, args.device)
    title = (f"{args.figure}: {args.device}, {torch.get_num_threads()} threads, median of {args.repeats}, "
             f"torch {torch.__version__}, malloc {malloc_description()}")
    out = Path(args.out)
    write_csv(out / f"{args.figure}.csv", rows)
    paths = PLOTS[args.figure](rows, out / args.figure, title)
    columns = ["neurons", "T", "other", "train_ratio", "infer_ratio"]
    print(markdown_table([{key: format_value(row[key], 2) for key in columns} for row in rows], columns))
    print(f"wrote {out / f'{args.figure}.csv'}, " + ", ".join(str(path) for path in paths))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "speedup", help="the papers' speed-ratio figures: PMSN Fig. 5 (speed-up vs T), PSN Fig. 3 (N x T grid)",
        description=__doc__.split("\n\n")[1])
    parser.add_argument("figure", choices=sorted(FIGURES))
    parser.add_argument("--T", dest="steps", type=positive_int, nargs="+", metavar="T", help="sequence lengths")
    parser.add_argument("--neurons", type=positive_int, nargs="+", metavar="N",
                        help="neurons per call (<= 256, or a multiple of 256)")
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="a tiny grid (seconds), as the tests run it")
    parser.add_argument("--malloc-env", choices=("reexec", "warn", "ignore"), default="reexec")
    parser.add_argument("--out", default="bench_out/speedup", metavar="DIR")
    parser.set_defaults(func=_run)
