"""The ablation runners of ``pmsn ablate NAME`` (spec neurons.md §3.5, §5.11; experiments.md §4).

Each runner writes ``<name>.csv`` (one line per run or measurement), ``<name>_summary.csv``, ``<name>.md`` (the
table with the papers' numbers beside ours) and ``<name>.png`` into ``out``, plus ``ablation.json`` (what ran).
``smoke=True`` runs a tiny version in seconds (tests); otherwise the paper's setting (GPU-sized) unless the
caller picks another task, epochs and seeds. Training sweeps resume from the run folders under ``out/runs``.

    compartments   PMSN n = 2, 3, 4, 5, 9, 17 (PMSN Table V)
    reset          PMSN vs PMSN without reset (integrator / memoryless), LIF vs LIF without reset (Table II)
    global         local vs global PMSN input (Table III "Global", global_mode="sum")
    soma           parallel vs serial soma and the serial MSN: time per training / inference step vs T (Fig. 5)
    psn_order      masked / sliding PSN order k sweep (PSN Fig. 5)
    masked_lambda  progressive-mask λ schedule speed of masked PSN (PSN §3.3)
    tclif_beta     TC-LIF (β1, β2) init grid over the four quadrants (TC-LIF Fig. 2)
    gradient_norm  TC-LIF Table 7 closed-form norms, autograd checks, gradient through time LIF/TC-LIF/PMSN
    firing_rates   per-layer firing rates and energy of trained nets per neuron (PMSN Fig. 6, PSN Fig. 4b)
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from pmsn.experiments.gradients import (TABLE7, autograd_jacobian_norm, comparison_neurons, gradient_through_time,
                                        tclif_gradient_norm)
from pmsn.experiments.sweep import (SMOKE, SMOKE_OVERRIDES, Row, Setting, accuracy_figure, accuracy_markdown,
                                    run_sweep, summarise)
from pmsn.io import atomic_write_text
from pmsn.plot.figures import pyplot, save_figure
from pmsn.tables import markdown_table, write_csv


@dataclass
class Options:
    """What the caller chose (``pmsn ablate`` flags); None = the ablation's own (paper or smoke) value."""

    out: Path
    smoke: bool = False
    task: str | None = None
    epochs: int | None = None
    seeds: tuple[int, ...] | None = None
    values: tuple[str, ...] | None = None  # subset of the sweep values (as written in the labels' values)
    overrides: tuple[str, ...] = ()
    quiet: bool = True
    lengths: tuple[int, ...] | None = None  # soma timing: T values
    batch: int | None = None  # soma / gradient: batch size
    channels: int | None = None  # soma timing: neurons per layer
    repeats: int | None = None
    train: bool = False  # gradient_norm: also train the 16 Table 7 inits
    say: Callable = print


# PMSN Table V (sCIFAR-10 column): n → accuracy
TABLE5_CIFAR10 = {2: 88.79, 3: 90.49, 4: 90.75, 5: 90.97, 9: 91.05, 17: 91.43}
# PSN Fig. 5 (sCIFAR-100): k → (masked, sliding) max test accuracy from the logs
PSN_ORDER_CIFAR100 = {
    1: (49.30, 49.70), 2: (57.46, 55.91), 3: (59.03, 59.13), 4: (60.36, 59.96), 5: (60.02, 60.39),
    6: (59.50, 61.46), 7: (60.24, 61.38), 8: (60.40, 59.97), 9: (59.94, 60.32), 10: (60.24, 61.26),
    11: (60.27, 60.86), 12: (60.45, 61.70), 13: (60.07, 61.51), 14: (60.12, 61.89), 15: (60.52, 61.73),
    16: (59.61, 61.36), 17: (59.59, 60.46), 18: (60.83, 61.88), 19: (60.42, 61.61), 20: (61.26, 61.00),
    21: (59.98, 62.38), 22: (60.38, 60.15), 23: (59.94, 61.12), 24: (60.38, 60.39), 25: (60.79, 61.64),
    26: (59.82, 61.82), 27: (60.00, 62.14), 28: (59.65, 61.53), 29: (60.11, 60.89), 30: (60.60, 61.63),
    31: (60.75, 62.63), 32: (60.69, 62.11)}


# --- shared plumbing ----------------------------------------------------------------------------------------------

def _setting(options: Options, paper: Setting, smoke: Setting = SMOKE, keep_model: bool = False) -> Setting:
    """The setting to run: smoke, the paper's, or the caller's task (keeping the model if ``keep_model``)."""
    setting = smoke if options.smoke else paper
    if options.task is not None and not options.smoke:
        setting = Setting(options.task, (), paper.epochs, paper.seeds, f"task {options.task} (chosen)",
                          paper.model if keep_model else None)
    return replace(setting, epochs=options.epochs or setting.epochs, seeds=options.seeds or setting.seeds,
                   overrides=setting.overrides + tuple(options.overrides))


def _select(rows: list[Row], options: Options, key: str) -> list[Row]:
    if options.values is None:
        return rows
    chosen = [row for row in rows if str(row.values.get(key)) in options.values or row.label in options.values]
    if not chosen:
        raise ValueError(f"--values {list(options.values)} matches none of {[str(r.values.get(key)) for r in rows]}")
    return chosen


def _write(options: Options, name: str, results: list[dict], summary: list[dict], markdown: str,
           figure, meta: dict) -> dict:
    out = Path(options.out)
    write_csv(out / f"{name}.csv", results)
    write_csv(out / f"{name}_summary.csv", summary)
    atomic_write_text(out / f"{name}.md", markdown)
    figures = [str(p) for p in save_figure(figure, out / name, ("png",))] if figure is not None else []
    meta = {"ablation": name, **meta, "files": [f"{name}.csv", f"{name}_summary.csv", f"{name}.md"] +
            [Path(f).name for f in figures]}
    atomic_write_text(out / "ablation.json", json.dumps(meta, indent=2, default=str))
    options.say(f"wrote {out / (name + '.md')}")
    return {"results": results, "summary": summary, "markdown": markdown, "meta": meta}


def _sweep(options: Options, name: str, setting: Setting, rows: list[Row], value_columns: list[str],
           x_column: str, title: str, paper_note: str, group_column: str | None = None) -> dict:
    runs_dir = Path(options.out) / "runs"
    options.say(f"pmsn ablate {name}: {len(rows)} rows × {len(setting.seeds)} seeds, {setting.epochs} epochs, "
                f"{setting.description}")
    results = run_sweep(setting, rows, runs_dir, quiet=options.quiet, say=options.say)
    summary = summarise(rows, results)
    markdown = (f"# Ablation: {name}\n\n{title}\n\nSetting: {setting.description}; task `{setting.task}`, "
                f"{setting.epochs} epochs, seeds {list(setting.seeds)}; overrides `{' '.join(setting.overrides)}`."
                f"\nMetric: best test accuracy over epochs (mean ± std over seeds).\n\n"
                f"{accuracy_markdown(summary, value_columns)}\n{paper_note}\n")
    figure = accuracy_figure(summary, x_column, title, group_column)
    return _write(options, name, results, summary, markdown, figure,
                  {"setting": setting.__dict__, "rows": [r.label for r in rows]})


# --- training sweeps ----------------------------------------------------------------------------------------------

def compartments(options: Options) -> dict:
    paper = Setting("scifar10", (), 200, (1,), "paper: sCIFAR-10 column net, T = 32 (PMSN Table V)")
    setting = _setting(options, paper)
    values = (2, 3, 5) if options.smoke else (2, 3, 4, 5, 9, 17)
    rows = [Row(f"n={n}", (f"model.options.neuron_kwargs.compartments={n}", "model.neuron=pmsn"),
                {"compartments": n}, TABLE5_CIFAR10.get(n) if setting.task == "scifar10" else None)
            for n in values]
    return _sweep(options, "compartments", setting, _select(rows, options, "compartments"), ["compartments"],
                  "compartments", "PMSN compartment number n (n − 1 hidden modes + soma)",
                  "Paper (PMSN Table V, sCIFAR-10 column T = 32): n = 2/3/4/5/9/17 → 88.79 / 90.49 / 90.75 / "
                  "90.97 / 91.05 / 91.43 (CIFAR-100: 61.84 / 65.16 / 65.83 / 66.08 / 66.51 / 66.81).")


def reset(options: Options) -> dict:
    paper = Setting("scifar10", (), 200, (1,), "paper: sCIFAR-10 column net, T = 32 (PMSN Table II)")
    setting = _setting(options, paper)
    on_paper_task = setting.task == "scifar10"
    specs = [("PMSN", "pmsn", {}, 90.97), ("PMSN w/o reset (integrator)", "pmsn", {"soma_mode": "no_reset"}, 89.27),
             ("PMSN w/o reset (memoryless)", "pmsn", {"soma_mode": "memoryless"}, 89.27),
             ("LIF (soft reset)", "lif", {"reset": "soft"}, 81.50), ("LIF w/o reset", "lif", {"reset": "none"}, 79.50)]
    rows = [Row(label, (f"model.neuron={neuron}",) + tuple(f"model.options.neuron_kwargs.{k}={v}"
                                                          for k, v in kwargs.items()),
                {"variant": label}, paper_acc if on_paper_task else None)
            for label, neuron, kwargs, paper_acc in specs]
    return _sweep(options, "reset", setting, _select(rows, options, "variant"), ["variant"], "variant",
                  "Neuronal reset: PMSN and LIF with and without reset",
                  "Paper (PMSN Table II, sCIFAR-10 T = 32): PMSN 90.97, PMSN w/o reset 89.27 (the paper does not say "
                  "which no-reset soma; both readings share its number here), LIF 81.50, LIF w/o reset 79.50 "
                  "(CIFAR-100: 66.08 / 60.82 / 55.45 / 53.33; T = 1024: 82.14 / 79.63 / 45.07 / 43.30).")


def global_input(options: Options) -> dict:
    paper = Setting("imagenet", (), 320, (2020,), "paper: ImageNet SEW-ResNet-18, T = 4 (PMSN Table III)")
    setting = _setting(options, paper)
    on_paper_task = setting.task == "imagenet"
    rows = [Row("local PMSN", ("model.neuron=pmsn",), {"input": "local"}, 66.64 if on_paper_task else None),
            Row("global PMSN (sum)", ("model.neuron=pmsn", "model.options.neuron_kwargs.global_mode=sum"),
                {"input": "global"}, 68.77 if on_paper_task else None)]
    return _sweep(options, "global", setting, _select(rows, options, "input"), ["input"], "input",
                  "Global PMSN: every step sees the whole-sequence input sum (global_mode='sum')",
                  "Paper (PMSN Table III, ImageNet T = 4): SEW-18 local 66.64 vs global 68.77; SEW-34 68.45 vs "
                  "70.98. The paper's global formula is not in our copy; 'sum' is the spec's reading (a).")


def psn_order(options: Options) -> dict:
    paper = Setting("scifar100", (), 200, (1,), "paper: sCIFAR-100 column net, T = 32 (PSN Fig. 5)")
    setting = _setting(options, paper)
    orders = (1, 2) if options.smoke else tuple(range(1, 33))
    on_paper_task = setting.task == "scifar100"
    rows = [Row(f"{kind} k={k}", (f"model.neuron={kind}", f"model.options.neuron_kwargs.order={k}"),
                {"neuron": kind, "order": k},
                PSN_ORDER_CIFAR100[k][index] if on_paper_task and k in PSN_ORDER_CIFAR100 else None)
            for index, kind in enumerate(("masked_psn", "sliding_psn")) for k in orders]
    return _sweep(options, "psn_order", setting, _select(rows, options, "order"), ["neuron", "order"], "order",
                  "Masked and sliding PSN: order k", "Paper (PSN Fig. 5, sCIFAR-100, one run per k): best masked "
                  "k = 20 (61.26), best sliding k = 31 (62.63); PSN (T×T) 62.21.", group_column="neuron")


def masked_lambda(options: Options) -> dict:
    paper = Setting("scifar10", (), 200, (1,), "paper: sCIFAR-10 column net, T = 32, masked PSN k = 32")
    setting = _setting(options, paper)
    speeds = [("paper (8)", 8.0), ("4", 4.0), ("2", 2.0), ("1 (linear)", 1.0), ("none (λ = 1)", None)]
    if options.smoke:
        speeds = [speeds[0], speeds[-1]]
    rows = [Row(f"speed {label}", ("model.neuron=masked_psn", f"mask_speed={'null' if speed is None else speed}"),
                {"schedule": label}, 85.81 if speed == 8.0 and setting.task == "scifar10" else None)
            for label, speed in speeds]
    return _sweep(options, "masked_lambda", setting, _select(rows, options, "schedule"), ["schedule"], "schedule",
                  "Masked PSN progressive mask: λ(e) = min(1, speed·e/(E − 1))",
                  "Paper (PSN, sCIFAR-10 T = 32, k = 32): 85.81 with the paper schedule (speed 8); accuracy curves "
                  "drop when λ reaches 1 (PSN Fig. 4a). Other speeds are our extension.")


def tclif_beta(options: Options) -> dict:
    model = {"name": "tclif_ff", "neuron": "tclif", "options": {"preset": "smnist_large",
                                                                "neuron_kwargs": {"parametrization": "free"}}}
    paper = Setting("smnist", ("optim.name=adam", "optim.lr=5e-4", "optim.weight_decay=0", "optim.neuron_groups=none",
                               "schedule.name=multistep", "schedule.milestones=[60, 80]", "batch_size=128"),
                    200, (0,), "paper: S-MNIST (T = 784), TC-LIF FF 1-64-256-256-10 (TC-LIF Fig. 2)", model)
    smoke = Setting("smnist5k", SMOKE_OVERRIDES + ("optim.neuron_groups=none",), 1, (0,),
                    "smoke: 64/32 embedded 7×7 digits, TC-LIF FF 1-8-8-8-10",
                    {**model, "options": {**model["options"], "hidden": [8, 8, 8]}})
    setting = _setting(options, paper, smoke, keep_model=True)
    magnitudes = (0.5,) if options.smoke else (0.2, 0.5, 0.8)
    rows = []
    for quadrant, (sign1, sign2) in (("I", (1, 1)), ("II", (-1, 1)), ("III", (-1, -1)), ("IV", (1, -1))):
        for m1 in magnitudes:
            for m2 in magnitudes:
                beta1, beta2 = sign1 * m1, sign2 * m2
                rows.append(Row(f"Q{quadrant} b1={beta1:+.1f} b2={beta2:+.1f}",
                                (f"model.options.neuron_kwargs.decay_init=[{beta1}, {beta2}]",),
                                {"quadrant": quadrant, "beta1": beta1, "beta2": beta2}))
    rows = _select(rows, options, "quadrant")
    runs_dir = Path(options.out) / "runs"
    options.say(f"pmsn ablate tclif_beta: {len(rows)} inits × {len(setting.seeds)} seeds, {setting.epochs} epochs, "
                f"{setting.description}")
    results = run_sweep(setting, rows, runs_dir, quiet=options.quiet, say=options.say)
    summary = summarise(rows, results)
    for line in summary:
        line["table7_norm"] = tclif_gradient_norm(line["beta1"], line["beta2"])
    markdown = (f"# Ablation: tclif_beta\n\nTC-LIF initial (β1, β2) over the four quadrants (β unconstrained, "
                f"`TCLIF(parametrization='free')`).\n\nSetting: {setting.description}; {setting.epochs} epochs, seeds "
                f"{list(setting.seeds)}.\n\n{accuracy_markdown(summary, ['quadrant', 'beta1', 'beta2'])}\n"
                "Paper (TC-LIF Fig. 2): only quadrant II (β1 < 0 < β2) trains well; I explodes, III vanishes, IV "
                "drives the soma negative. Exact grid values and accuracies are not in our copy.\n")
    return _write(options, "tclif_beta", results, summary, markdown, _beta_figure(summary),
                  {"setting": setting.__dict__, "rows": [r.label for r in rows]})


def _beta_figure(summary: list[dict]):
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 6))
    grid = torch.linspace(-1.0, 1.0, 201)
    b1, b2 = torch.meshgrid(grid, grid, indexing="xy")
    norm = tclif_gradient_norm(b1, b2)
    image = axis.contourf(b1.numpy(), b2.numpy(), norm.numpy(), levels=20, cmap="Blues", alpha=0.6)
    figure.colorbar(image, ax=axis, label="|1+β1β2| + |β2|·|2+β1β2| (TC-LIF Table 7 norm)")
    axis.axhline(0, color="black", linewidth=0.8)
    axis.axvline(0, color="black", linewidth=0.8)
    for line in summary:
        axis.plot(line["beta1"], line["beta2"], "o", color="tab:red")
        axis.annotate(f"{line['acc_mean']:.1f}", (line["beta1"], line["beta2"]), textcoords="offset points",
                      xytext=(4, 4), fontsize=8)
    axis.set(xlabel="β1 (soma → dendrite)", ylabel="β2 (dendrite → soma)", xlim=(-1, 1), ylim=(-1, 1),
             title="TC-LIF β init grid: best test accuracy (%)")
    figure.tight_layout()
    return figure


def firing_rates(options: Options) -> dict:
    from pmsn.bench.energy import measure_energy
    from pmsn.train.build import build_datasets, load_run

    paper = Setting("scifar10_pixel", (), 200, (1111,), "paper: sCIFAR-10 pixel net, T = 1024 (PMSN Fig. 6)")
    setting = _setting(options, paper)
    neurons = ("pmsn", "lif", "sliding_psn", "masked_psn", "psn")
    if options.smoke:
        neurons = ("pmsn", "lif", "sliding_psn")
    rows = _select([Row(neuron, (f"model.neuron={neuron}",), {"neuron": neuron}) for neuron in neurons],
                   options, "neuron")
    runs_dir = Path(options.out) / "runs"
    options.say(f"pmsn ablate firing_rates: {len(rows)} neurons × {len(setting.seeds)} seeds, {setting.epochs} "
                f"epochs, {setting.description}")
    results = run_sweep(setting, rows, runs_dir, quiet=options.quiet, say=options.say)
    layer_rows, per_neuron = [], {}
    for result in results:
        model, config, _ = load_run(Path(result["run"]) / "best.pt")
        dataset = build_datasets(config, splits=("test",))["test"]
        loader = torch.utils.data.DataLoader(dataset, batch_size=64)
        batches = [batch for _, batch in zip(range(2 if options.smoke else 4), loader)]
        energy = measure_energy(model, batches)
        spiking = [row for row in energy["layers"] if "firing_rate" in row]
        result["mean_firing_rate"] = statistics.mean(row["firing_rate"] for row in spiking)
        result["energy_nj_per_sample"] = energy["total"]["energy_nj_per_sample"]
        for index, row in enumerate(spiking):
            layer_rows.append({"neuron": result["label"], "seed": result["seed"], "layer": index + 1,
                               "module": row["layer"], "firing_rate": row["firing_rate"],
                               "energy_nj_per_sample": row["energy_nj_per_sample"]})
            per_neuron.setdefault(result["label"], []).append(row["neuron_rates"])
    summary = summarise(rows, results)
    for line in summary:
        mine = [r for r in results if r["label"] == line["label"]]
        line["mean_firing_rate"] = statistics.mean(r["mean_firing_rate"] for r in mine)
        line["energy_nj_per_sample"] = statistics.mean(r["energy_nj_per_sample"] for r in mine)
    table = markdown_table([{"neuron": s["label"], "best test acc (%)": f"{s['acc_mean']:.2f} ± {s['acc_std']:.2f}",
                             "mean firing rate": s["mean_firing_rate"], "energy (nJ/sample)": s["energy_nj_per_sample"],
                             "params": s["parameters"]} for s in summary])
    markdown = (f"# Ablation: firing_rates\n\nFiring rate per spiking layer (test batches) and estimated energy "
                f"(0.9 pJ/AC, 4.6 pJ/MAC) of the trained nets.\n\nSetting: {setting.description}; "
                f"{setting.epochs} epochs, seeds {list(setting.seeds)}.\n\n{table}\nPer layer:\n\n"
                f"{markdown_table(layer_rows)}\nPaper (PMSN Fig. 6a, pixel sCIFAR-10): PMSN has the lowest spike "
                "density of PMSN / masked PSN / SPSN / LIF / PSN; values are only in the figure.\n")
    return _write(options, "firing_rates", results + layer_rows, summary, markdown,
                  _rates_figure(layer_rows, per_neuron, summary),
                  {"setting": setting.__dict__, "rows": [r.label for r in rows]})


def _rates_figure(layer_rows: list[dict], per_neuron: dict, summary: list[dict]):
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    names = list(per_neuron)
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        mine = [r for r in layer_rows if r["neuron"] == name]
        layers = sorted({r["layer"] for r in mine})
        rates = [statistics.mean(r["firing_rate"] for r in mine if r["layer"] == layer) for layer in layers]
        axes[0].bar([layer + i * width for layer in layers], rates, width=width, label=name)
        values = torch.cat([t.flatten() for t in per_neuron[name]]).numpy()
        axes[1].hist(values, bins=30, range=(0.0, 1.0), histtype="step", linewidth=1.5, label=name)
    axes[0].set(xlabel="spiking layer", ylabel="firing rate (spikes / neuron / step)", title="rate per layer")
    axes[1].set(xlabel="per-neuron firing rate", ylabel="neurons", title="rate distribution", yscale="log")
    for line in summary:
        axes[2].errorbar(line["energy_nj_per_sample"], line["acc_mean"], yerr=line["acc_std"], marker="o",
                         capsize=3, label=line["label"])
    axes[2].set(xlabel="energy per sample (nJ)", ylabel="best test accuracy (%)", title="accuracy vs energy",
                xscale="log")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return figure


# --- measurements without training --------------------------------------------------------------------------------

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
    parallel soma vs the serial soma, the whole serial MSN (step loop) and LIF (its default path — the fused
    sweep on CPU — and its step loop), vs T (PMSN Fig. 5 setting: one layer of 256 neurons)."""
    from pmsn.neurons import LIF, PMSN

    lengths = options.lengths or ((32,) if options.smoke else (64, 256, 1024, 4096))
    channels = options.channels or (8 if options.smoke else 256)
    batch = options.batch or (2 if options.smoke else 16)
    repeats = options.repeats or (1 if options.smoke else 3)
    torch.manual_seed(0)
    variants_to_time = {
        "PMSN parallel": lambda: PMSN(channels),
        "PMSN parallel (FFT path)": lambda: PMSN(channels, path="fft"),
        "PMSN serial soma": lambda: PMSN(channels, soma_mode="serial"),
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
            options.say(f"T={steps:>5} {label:<26} train {results[-1]['train_step_s'] * 1e3:9.1f} ms  "
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
                f"{markdown_table(summary)}\nPaper (PMSN §VII-F2, RTX 3090): s/epoch parallel vs "
                "last-compartment-serial 62 vs 158 (T = 32, 2.5×) and 73 vs 5182 (T = 1024, 71×); Fig. 5: "
                "parallel PMSN > 10× faster than LIF in training, speed-up growing with T.\n")
    return _write(options, "soma", results, summary, markdown, _soma_figure(summary),
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


def gradient_norm(options: Options) -> dict:
    """TC-LIF Table 7: closed form vs paper (all 16 inits) and vs autograd; gradient through time of LIF, TC-LIF
    and PMSN; with ``train`` also the 16 inits trained (recurrent S-MNIST net) and their norms after training."""
    table = []
    for (beta1, beta2), (before, after_betas, after, accuracy) in TABLE7.items():
        table.append({"beta1": beta1, "beta2": beta2, "norm_closed_form": tclif_gradient_norm(beta1, beta2),
                      "norm_autograd": autograd_jacobian_norm(beta1, beta2), "paper_norm_before": before,
                      "paper_beta_after": after_betas, "paper_norm_after": after,
                      "paper_norm_after_closed_form": tclif_gradient_norm(*after_betas), "paper_acc": accuracy})
    steps = 49 if options.smoke else 784
    channels = 8 if options.smoke else 64
    curves = {name: gradient_through_time(neuron, steps, options.batch or 4, channels)
              for name, neuron in comparison_neurons(channels).items()}
    through_time = [{"t": t, **{name: float(curve[t]) for name, curve in curves.items()}} for t in range(steps)]
    trained = _train_table7(options) if options.train else []
    lags = [lag for lag in (1, 10, 50, 100, 300, 783) if lag < steps]
    reach = [{"neuron": name, **{f"lag {lag}": float(curve[steps - 1 - lag]) for lag in lags}}
             for name, curve in curves.items()]
    markdown = ("# Ablation: gradient_norm\n\nTC-LIF Supp. Table 7 norm |1+β1β2| + |β2|·|2+β1β2| (first-column "
                "absolute sum of M², M = [[1, β1], [β2, 1+β1β2]]): closed form, autograd through two `TCLIF.step`s, "
                f"and the paper.\n\n{markdown_table(table)}\nGradient through time: mean |∂L/∂I[t]|, L = Σ of the "
                f"soma potential at the last step (PMSN: soma current), T = {steps}, random input; value at "
                f"t = T − 1 − lag:\n\n{markdown_table(reach)}\n")
    if trained:
        markdown += f"Trained (β after training, norm after):\n\n{markdown_table(trained)}\n"
    figure = _gradient_figure(curves, table)
    return _write(options, "gradient_norm", table + trained, through_time, markdown, figure,
                  {"steps": steps, "channels": channels, "trained": bool(trained)})


def _train_table7(options: Options) -> list[dict]:
    from pmsn.neurons import TCLIF
    from pmsn.neurons.tclif import logits_from_betas
    from pmsn.train.checkpoint import load_checkpoint

    model = {"name": "tclif_rec", "neuron": "tclif", "options": {"preset": "smnist_large"}}
    paper = Setting("smnist", ("optim.name=adam", "optim.lr=5e-4", "optim.weight_decay=0", "optim.neuron_groups=none",
                               "schedule.name=multistep", "schedule.milestones=[60, 80]", "batch_size=128"),
                    200, (0,), "paper: S-MNIST recurrent 1-64r-256r-256-10 (TC-LIF Table 7)", model)
    smoke = Setting("smnist5k", SMOKE_OVERRIDES + ("optim.neuron_groups=none",), 1, (0,),
                    "smoke: embedded 7×7 digits, TC-LIF Rec 1-8r-8r-8-10",
                    {**model, "options": {**model["options"], "hidden": [8, 8, 8]}})
    setting = _setting(options, paper, smoke, keep_model=True)
    inits = list(TABLE7)[:2] if options.smoke else list(TABLE7)
    rows = [Row(f"b1={b1} b2={b2}", ("model.options.neuron_kwargs.decay_init=[%r, %r]" % logits_from_betas(b1, b2),),
                {"beta1": b1, "beta2": b2}, TABLE7[(b1, b2)][3]) for b1, b2 in inits]
    results = run_sweep(setting, rows, Path(options.out) / "runs", quiet=options.quiet, say=options.say)
    trained = []
    for row, result in zip(rows, results):
        state = load_checkpoint(Path(result["run"]) / "last.pt")["model"]
        keys = sorted(k for k in state if k.endswith("neuron.decay"))
        probe = TCLIF()
        probe.decay.data.copy_(state[keys[-1]])  # the last hidden layer, as in the paper
        beta1, beta2 = (float(b.detach()) for b in probe.betas())
        trained.append({"beta1_init": row.values["beta1"], "beta2_init": row.values["beta2"],
                        "beta1_after": beta1, "beta2_after": beta2, "norm_after": tclif_gradient_norm(beta1, beta2),
                        "best_test_acc": result["best_test_acc"], "paper_acc": row.paper})
    return trained


def _gradient_figure(curves: dict, table: list[dict]):
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    for name, curve in curves.items():
        steps = len(curve)
        axes[0].plot(range(steps), curve.clamp_min(1e-30).numpy(), label=name)
    axes[0].set(yscale="log", xlabel="time step t of the input", ylabel="mean |∂L/∂I[t]|",
                title="gradient reaching back from the last step")
    axes[0].legend()
    for line in table:
        axes[1].plot(line["paper_norm_before"], line["norm_closed_form"], "o", color="tab:blue")
        axes[1].plot(line["paper_norm_after"], line["paper_norm_after_closed_form"], "s", color="tab:orange",
                     markerfacecolor="none")
    axes[1].plot([1.1, 2.5], [1.1, 2.5], color="grey", linewidth=0.8)
    axes[1].plot([], [], "o", color="tab:blue", label="before training (16 inits)")
    axes[1].plot([], [], "s", color="tab:orange", markerfacecolor="none", label="after (from printed β)")
    axes[1].set(xlabel="paper norm (TC-LIF Table 7)", ylabel="closed form", title="Table 7 reproduction")
    axes[1].legend()
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


ABLATIONS: dict[str, Callable[[Options], dict]] = {
    "compartments": compartments, "reset": reset, "global": global_input, "soma": soma, "psn_order": psn_order,
    "masked_lambda": masked_lambda, "tclif_beta": tclif_beta, "gradient_norm": gradient_norm,
    "firing_rates": firing_rates,
}


def run_ablation(name: str, options: Options) -> dict:
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; expected one of {sorted(ABLATIONS)}")
    Path(options.out).mkdir(parents=True, exist_ok=True)
    return ABLATIONS[name](options)
