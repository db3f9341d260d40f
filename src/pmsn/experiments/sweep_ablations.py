"""The training-sweep ablations of ``pmsn ablate``: each trains rows × seeds (``pmsn.experiments.sweep``) and
tables the best test accuracy beside the papers' numbers (``pmsn.papers``).

    compartments   PMSN n = 2, 3, 4, 5, 9, 17 (PMSN Table V)
    reset          PMSN vs PMSN without reset (integrator / memoryless), LIF vs LIF without reset (Table II)
    clamp          PMSN vs PMSN without the soma's input clamp (serial soft reset), accuracy and s/epoch (PMSN §VII-F2)
    global         local vs global PMSN input (Table III "Global", global_mode="sum")
    psn_order      masked / sliding PSN order k sweep (PSN Fig. 5)
    masked_lambda  progressive-mask λ schedule speed of masked PSN (docs/training.md §5)
    tclif_beta     TC-LIF (β1, β2) init grid over the four quadrants (TC-LIF Fig. 2)
    firing_rates   per-layer firing rates and energy of trained nets per neuron (PMSN Fig. 6a; PSN Fig. 4b with
                   --task scifar10 / scifar100 or --values naming glif, klif, plif or lif_no_reset)
    energy_accuracy accuracy vs energy over PMSN n, masked / sliding PSN k and LIF width (PMSN Fig. 6b)
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path

import torch

from pmsn import papers
from pmsn.experiments.ablation_base import (Options, choose_setting, select_rows, tclif_smnist_settings,
                                            write_outputs)
from pmsn.experiments.gradients import tclif_gradient_norm
from pmsn.experiments.sweep import (Row, Setting, accuracy_figure, accuracy_markdown, neuron_overrides,
                                   override_strings, run_sweep, summarise)
from pmsn.plot.figures import pyplot
from pmsn.tables import markdown_table
from pmsn.train.config import deep_merge, preset


def _sweep(options: Options, name: str, setting: Setting, rows: list[Row], value_columns: list[str],
           x_column: str, title: str, paper_note: str, group_column: str | None = None) -> dict:
    runs_dir = Path(options.out) / "runs"
    options.say(f"pmsn ablate {name}: {len(rows)} rows × {len(setting.seeds)} seeds, {setting.epochs} epochs, "
                f"{setting.description}")
    results = run_sweep(setting, rows, runs_dir, quiet=options.quiet, say=options.say)
    summary = summarise(rows, results)
    markdown = (f"# Ablation: {name}\n\n{title}\n\nSetting: {setting.description}; task `{setting.task}`, "
                f"{setting.epochs} epochs, seeds {list(setting.seeds)}; overrides `{' '.join(override_strings(setting.overrides))}`."
                f"\nMetric: best test accuracy over epochs (mean ± std over seeds).\n\n"
                f"{accuracy_markdown(summary, value_columns)}\n{paper_note}\n")
    figure = accuracy_figure(summary, x_column, title, group_column)
    return write_outputs(options, name, results, summary, markdown, figure,
                  {"setting": setting.__dict__, "rows": [r.label for r in rows]})


def psn_recipe(neuron: str, options: Options) -> dict:
    """The PSN paper's sCIFAR recipe (docs/training.md §4.3) for PSN-family and LIF rows run in the paper's
    setting: SGD 0.1 (sliding PSN: AdamW 1e-3), batch 128, 256 epochs (so masked PSN's λ reaches 1 at epoch 32),
    weight decay 0, one learning rate. Empty for smoke runs and a task the caller chose; --epochs still wins."""
    if options.smoke or options.task is not None:
        return {}
    optim = {"name": "adamw", "lr": 1e-3} if neuron == "sliding_psn" else {"name": "sgd", "lr": 0.1, "momentum": 0.9}
    recipe = {"optim": {**optim, "weight_decay": 0.0, "neuron_groups": "none"}, "batch_size": 128, "amp": True}
    return recipe if options.epochs is not None else {**recipe, "epochs": 256}


def _with_recipe(neuron: str, options: Options, **neuron_kwargs) -> dict:
    return deep_merge(neuron_overrides(neuron, **neuron_kwargs), psn_recipe(neuron, options))


def compartments(options: Options) -> dict:
    paper = Setting("scifar10", {}, 200, (1,), "paper: sCIFAR-10 column net, T = 32 (PMSN Table V)")
    setting = choose_setting(options, paper)
    values = (2, 3, 5) if options.smoke else (2, 3, 4, 5, 9, 17)
    table5 = papers.pmsn_table5_compartments() if setting.task == "scifar10" else {}
    rows = [Row(f"n={n}", neuron_overrides("pmsn", compartments=n), {"compartments": n}, table5.get(n))
            for n in values]
    return _sweep(options, "compartments", setting, select_rows(rows, options, "compartments"), ["compartments"],
                  "compartments", "PMSN compartment number n (n − 1 hidden modes + soma)",
                  "Paper (PMSN Table V, sCIFAR-10 column T = 32): n = 2/3/4/5/9/17 → 88.79 / 90.49 / 90.75 / "
                  "90.97 / 91.05 / 91.43 (CIFAR-100: 61.84 / 65.16 / 65.83 / 66.08 / 66.51 / 66.81).")


def reset(options: Options) -> dict:
    paper = Setting("scifar10", {}, 200, (1,), "paper: sCIFAR-10 column net, T = 32 (PMSN Table II); PMSN rows: "
                    "PMSN recipe, 200 epochs; LIF rows: PSN recipe, 256 epochs, seed 1")
    setting = choose_setting(options, paper)
    table2 = papers.pmsn_table2_reset() if setting.task == "scifar10" else {}
    specs = [("PMSN", "pmsn", {}, "pmsn"),
             ("PMSN w/o reset (integrator)", "pmsn", {"soma_mode": "no_reset"}, "pmsn_no_reset"),
             ("PMSN w/o reset (memoryless)", "pmsn", {"soma_mode": "memoryless"}, "pmsn_no_reset"),
             ("LIF (soft reset)", "lif", {"reset": "soft"}, "lif"),
             ("LIF w/o reset", "lif", {"reset": "none"}, "lif_no_reset")]
    rows = [Row(label, _with_recipe(neuron, options, **kwargs) if neuron == "lif" else neuron_overrides(neuron, **kwargs),
                {"variant": label}, table2.get(paper_key))
            for label, neuron, kwargs, paper_key in specs]
    return _sweep(options, "reset", setting, select_rows(rows, options, "variant"), ["variant"], "variant",
                  "Neuronal reset: PMSN and LIF with and without reset",
                  "Paper (PMSN Table II, sCIFAR-10 T = 32): PMSN 90.97, PMSN w/o reset 89.27 (the paper does not say "
                  "which no-reset soma; both readings share its number here), LIF 81.50, LIF w/o reset 79.50 "
                  "(CIFAR-100: 66.08 / 60.82 / 55.45 / 53.33; T = 1024: 82.14 / 79.63 / 45.07 / 43.30).")


def clamp(options: Options) -> dict:
    paper = Setting("scifar10", {}, 200, (1,), "paper: sCIFAR-10 column net, T = 32, PMSN recipe (PMSN §VII-F2)")
    setting = choose_setting(options, paper)
    # the clamped PMSN's paper accuracy is its Table II number; the unclamped one's is that minus PMSN §VII-F2's drop
    paper_drop, paper_seconds = papers.pmsn_clamp_ablation()
    drop = paper_drop.get(setting.task)
    known = papers.accuracy().get((setting.task, "scifar_column", "pmsn"))
    base = known.accuracy if known is not None and drop is not None else None
    rows = [Row("PMSN (clamped, parallel soma)", neuron_overrides("pmsn"), {"soma_mode": "parallel", "clamp": "ReLU"},
                base),
            Row("PMSN w/o clamp (serial soft reset)", neuron_overrides("pmsn", soma_mode="serial_soft"),
                {"soma_mode": "serial_soft", "clamp": "none"}, None if base is None else round(base - drop, 2))]
    rows = select_rows(rows, options, "soma_mode")
    runs_dir = Path(options.out) / "runs"
    options.say(f"pmsn ablate clamp: {len(rows)} rows × {len(setting.seeds)} seeds, {setting.epochs} epochs, "
                f"{setting.description}")
    results = run_sweep(setting, rows, runs_dir, quiet=options.quiet, say=options.say)
    summary = summarise(rows, results)
    by_mode = {line["soma_mode"]: line for line in summary}
    comparison = ""
    if len(by_mode) == 2:
        with_clamp, without = by_mode["parallel"], by_mode["serial_soft"]
        for line in summary:
            line["acc_change_vs_clamped"] = line["acc_mean"] - with_clamp["acc_mean"]
            line["seconds_vs_clamped"] = line["epoch_seconds"] / with_clamp["epoch_seconds"]
        paper_drop = f"paper −{drop:.2f}" if drop is not None else "the paper reports no drop for this task"
        comparison = (f"Without the clamp: accuracy {without['acc_mean'] - with_clamp['acc_mean']:+.2f} points "
                      f"({paper_drop}), {without['epoch_seconds'] / with_clamp['epoch_seconds']:.2f}× the "
                      f"seconds per epoch.\n\n")
    seconds = "; ".join(f"{name} {fast:g} vs {slow:g} s ({slow / fast:.1f}×)" for name, (fast, slow) in
                        paper_seconds.items())
    markdown = (f"# Ablation: clamp\n\nPMSN's soma clamps its input, v[t] = r[t−1] + ReLU(κY[t]), which makes the "
                f"reset parallel. Without the clamp (`soma_mode: serial_soft`, `SoftResetPMSN`: v = r + κY, soft reset "
                f"r = v − θS) the soma must run step by step.\n\nSetting: {setting.description}; task "
                f"`{setting.task}`, {setting.epochs} epochs, seeds {list(setting.seeds)}; overrides "
                f"`{' '.join(override_strings(setting.overrides))}`.\nMetric: best test accuracy over epochs (mean ± "
                f"std over seeds); s/epoch is this machine's.\n\n{accuracy_markdown(summary, ['soma_mode', 'clamp'])}\n"
                f"{comparison}Paper (PMSN §VII-F2, T = 32): without the clamp −3.98 points on sCIFAR-10 (90.97 → "
                f"86.99) and −4.5 on sCIFAR-100 (66.08 → 61.58); s/epoch (RTX 3090) PMSN vs "
                f"last-compartment-serial PMSN: {seconds}.\n")
    figure = accuracy_figure(summary, "clamp", "PMSN soma input clamp (PMSN §VII-F2)")
    return write_outputs(options, "clamp", results, summary, markdown, figure,
                         {"setting": setting.__dict__, "rows": [r.label for r in rows]})


def global_input(options: Options) -> dict:
    paper = Setting("imagenet", {}, 320, (2020,), "paper: ImageNet SEW-ResNet-18, T = 4 (PMSN Table III)")
    setting = choose_setting(options, paper)
    table3 = papers.pmsn_table3_global() if setting.task == "imagenet" else {}
    rows = [Row("local PMSN", neuron_overrides("pmsn"), {"input": "local"}, table3.get("local")),
            Row("global PMSN (sum)", neuron_overrides("pmsn", global_mode="sum"), {"input": "global"},
                table3.get("global"))]
    return _sweep(options, "global", setting, select_rows(rows, options, "input"), ["input"], "input",
                  "Global PMSN: every step sees the whole-sequence input sum (global_mode='sum')",
                  "Paper (PMSN Table III, ImageNet T = 4): SEW-18 local 66.64 vs global 68.77; SEW-34 68.45 vs "
                  "70.98. The paper's global formula is not in our copy; 'sum' is the parameter-free reading "
                  "(docs/choices.md §1.9).")


def psn_order(options: Options) -> dict:
    paper = Setting("scifar100", {}, 256, (2020,), "paper: sCIFAR-100 column net, T = 32, PSN recipe (PSN Fig. 5)")
    setting = choose_setting(options, paper)
    orders = (1, 2) if options.smoke else tuple(range(1, 33))
    fig5 = papers.psn_fig5_order() if setting.task == "scifar100" else {}
    rows = [Row(f"{kind} k={k}", _with_recipe(kind, options, order=k), {"neuron": kind, "order": k},
                fig5[k][index] if k in fig5 else None)
            for index, kind in enumerate(("masked_psn", "sliding_psn")) for k in orders]
    return _sweep(options, "psn_order", setting, select_rows(rows, options, "order"), ["neuron", "order"], "order",
                  "Masked and sliding PSN: order k", "Paper (PSN Fig. 5, sCIFAR-100, one run per k): best masked "
                  "k = 20 (61.26), best sliding k = 31 (62.63); PSN (T×T) 62.21.", group_column="neuron")


def masked_lambda(options: Options) -> dict:
    paper = Setting("scifar10", {}, 256, (2020,), "paper: sCIFAR-10 column net, T = 32, masked PSN k = 32, "
                    "PSN recipe")
    setting = choose_setting(options, paper)
    speeds = [("paper (8)", 8.0), ("4", 4.0), ("2", 2.0), ("1 (linear)", 1.0), ("none (λ = 1)", None)]
    if options.smoke:
        speeds = [speeds[0], speeds[-1]]
    paper_acc = papers.accuracy()[("scifar10", "scifar_column", "masked_psn")].accuracy  # PSN Table 1, k = 32
    rows = [Row(f"speed {label}", {**_with_recipe("masked_psn", options), "mask_speed": speed}, {"schedule": label},
                paper_acc if speed == 8.0 and setting.task == "scifar10" else None)
            for label, speed in speeds]
    return _sweep(options, "masked_lambda", setting, select_rows(rows, options, "schedule"), ["schedule"], "schedule",
                  "Masked PSN progressive mask: λ(e) = min(1, speed·e/(E − 1))",
                  "Paper (PSN, sCIFAR-10 T = 32, k = 32): 85.81 with the paper schedule (speed 8); accuracy curves "
                  "drop when λ reaches 1 (PSN Fig. 4a). Other speeds are our extension.")


def tclif_beta(options: Options) -> dict:
    model = {"name": "tclif_ff", "neuron": "tclif", "options": {"preset": "smnist_large",
                                                                "neuron_kwargs": {"parametrization": "free"}}}
    paper, smoke = tclif_smnist_settings(model, "paper: S-MNIST (T = 784), TC-LIF FF 1-64-256-256-10 (TC-LIF Fig. 2)",
                                         "smoke: 64/32 embedded 7×7 digits, TC-LIF FF 1-8-8-8-10")
    setting = choose_setting(options, paper, smoke, keep_model=True)
    magnitudes = (0.5,) if options.smoke else (0.2, 0.5, 0.8)
    rows = []
    for quadrant, (sign1, sign2) in (("I", (1, 1)), ("II", (-1, 1)), ("III", (-1, -1)), ("IV", (1, -1))):
        for m1 in magnitudes:
            for m2 in magnitudes:
                beta1, beta2 = sign1 * m1, sign2 * m2
                rows.append(Row(f"Q{quadrant} b1={beta1:+.1f} b2={beta2:+.1f}",
                                neuron_overrides(decay_init=[beta1, beta2]),
                                {"quadrant": quadrant, "beta1": beta1, "beta2": beta2}))
    rows = select_rows(rows, options, "quadrant")
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
    return write_outputs(options, "tclif_beta", results, summary, markdown, _beta_figure(summary),
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


def _measure_energy(result: dict, smoke: bool) -> list[dict]:
    """Firing rates and AC/MAC energy of a run's best.pt on a few test batches (docs/training.md §6): sets
    ``mean_firing_rate`` and ``energy_nj_per_sample`` of ``result``; returns the spiking layers' rows. Runs on
    variable-length data get padded batches with their lengths, counted over valid steps (docs/training.md §6.5)."""
    from pmsn.bench.energy import measure_energy
    from pmsn.data import pad_collate
    from pmsn.train.build import build_datasets, load_run
    from pmsn.train.config import uses_lengths

    model, config, _ = load_run(Path(result["run"]) / "best.pt")
    loader = torch.utils.data.DataLoader(build_datasets(config, splits=("test",))["test"], batch_size=64,
                                         collate_fn=pad_collate if uses_lengths(config) else None)
    energy = measure_energy(model, [batch for _, batch in zip(range(2 if smoke else 4), loader)])
    spiking = [row for row in energy["layers"] if "firing_rate" in row]
    result["mean_firing_rate"] = statistics.mean(row["firing_rate"] for row in spiking)
    result["energy_nj_per_sample"] = energy["total"]["energy_nj_per_sample"]
    return spiking


def _energy_summary(rows: list[Row], results: list[dict]) -> list[dict]:
    """The sweep's summary with each row's firing rate and energy averaged over its seeds."""
    summary = summarise(rows, results)
    for line in summary:
        mine = [r for r in results if r["label"] == line["label"]]
        line["mean_firing_rate"] = statistics.mean(r["mean_firing_rate"] for r in mine)
        line["energy_nj_per_sample"] = statistics.mean(r["energy_nj_per_sample"] for r in mine)
    return summary


def _energy_table(summary: list[dict], label: str) -> str:
    paper = any(s["paper"] is not None for s in summary)
    return markdown_table([{label: s["label"], "best test acc (%)": f"{s['acc_mean']:.2f} ± {s['acc_std']:.2f}",
                            **({"paper (%)": s["paper"]} if paper else {}),
                            "mean firing rate": s["mean_firing_rate"], "energy (nJ/sample)": s["energy_nj_per_sample"],
                            "params": s["parameters"]} for s in summary])


# PSN Fig. 4b: firing rates per layer of the sCIFAR column nets of eight neurons (PSN recipe), with their neuron
# arguments as in configs/*_scifar10_column.yaml; their PSN Table 1 accuracies are papers.accuracy()'s.
_LIF_KWARGS = {"tau": 2.0, "reset": "soft", "detach_reset": True, "surrogate": "atan"}
PSN_FIG4B_NEURONS = (
    ("psn", "psn", {}),
    ("masked_psn", "masked_psn", {}),
    ("sliding_psn", "sliding_psn", {}),
    ("glif", "glif", {}),
    ("klif", "klif", _LIF_KWARGS),
    ("plif", "plif", {"tau_init": 2.0, "reset": "soft", "detach_reset": True, "surrogate": "atan"}),
    ("lif", "lif", _LIF_KWARGS),
    ("lif_no_reset", "lif", {"tau": 2.0, "reset": "none", "surrogate": "atan"}),
)
PSN_FIG4B_TASKS = ("scifar10", "scifar100")
PMSN_FIG6A_NEURONS = ("pmsn", "lif", "sliding_psn", "masked_psn", "psn")


def _psn_figure_rows(options: Options) -> bool:
    """Whether ``firing_rates`` runs PSN Fig. 4b's neurons: the caller chose its task (sCIFAR-10/100 column) or
    named a neuron only that figure has."""
    only_psn = {name for name, *_ in PSN_FIG4B_NEURONS} - set(PMSN_FIG6A_NEURONS)
    return options.task in PSN_FIG4B_TASKS or bool(options.values and only_psn & set(options.values))


def firing_rates(options: Options) -> dict:
    if _psn_figure_rows(options):
        task = options.task or "scifar10"
        paper = Setting(task, {}, 256, (2020,), f"paper: {task} column net, T = 32, PSN recipe (PSN Fig. 4b)")
        options = replace(options, task=None)  # the figure's own task: keep its recipe (psn_recipe)
        setting = choose_setting(options, paper)
        table1 = papers.accuracy()
        rows = [Row(name, _with_recipe(neuron, options, **kwargs), {"neuron": name},
                    None if options.smoke else table1[(task, "scifar_column", name)].accuracy)
                for name, neuron, kwargs in PSN_FIG4B_NEURONS]
        figure_note = ("Paper (PSN Fig. 4b, sequential CIFAR): no uninterrupted firing without reset; PSN and masked "
                       "PSN fire most, sliding PSN and LIF w/o reset slightly more than the vanilla neurons (GLIF, "
                       "KLIF, PLIF, LIF); values are only in the figure. Paper accuracy: PSN Table 1.")
    else:
        paper = Setting("scifar10_pixel", {}, 200, (1111,), "paper: sCIFAR-10 pixel net, T = 1024 (PMSN Fig. 6)")
        setting = choose_setting(options, paper)
        neurons = ("pmsn", "lif", "sliding_psn") if options.smoke else PMSN_FIG6A_NEURONS
        rows = [Row(neuron, neuron_overrides(neuron), {"neuron": neuron}) for neuron in neurons]
        figure_note = ("Paper (PMSN Fig. 6a, pixel sCIFAR-10): PMSN has the lowest spike density of PMSN / masked PSN "
                       "/ SPSN / LIF / PSN; values are only in the figure.")
    rows = select_rows(rows, options, "neuron")
    runs_dir = Path(options.out) / "runs"
    options.say(f"pmsn ablate firing_rates: {len(rows)} neurons × {len(setting.seeds)} seeds, {setting.epochs} "
                f"epochs, {setting.description}")
    results = run_sweep(setting, rows, runs_dir, quiet=options.quiet, say=options.say)
    layer_rows, per_neuron = [], {}
    for result in results:
        spiking = _measure_energy(result, options.smoke)
        for index, row in enumerate(spiking):
            layer_rows.append({"neuron": result["label"], "seed": result["seed"], "layer": index + 1,
                               "module": row["layer"], "firing_rate": row["firing_rate"],
                               "energy_nj_per_sample": row["energy_nj_per_sample"]})
            per_neuron.setdefault(result["label"], []).append(row["neuron_rates"])
    summary = _energy_summary(rows, results)
    table = _energy_table(summary, "neuron")
    markdown = (f"# Ablation: firing_rates\n\nFiring rate per spiking layer (test batches) and estimated energy "
                f"(0.9 pJ/AC, 4.6 pJ/MAC) of the trained nets.\n\nSetting: {setting.description}; "
                f"{setting.epochs} epochs, seeds {list(setting.seeds)}.\n\n{table}\nPer layer:\n\n"
                f"{markdown_table(layer_rows)}\n{figure_note}\n")
    return write_outputs(options, "firing_rates", results + layer_rows, summary, markdown,
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
    all_layers = sorted({r["layer"] for r in layer_rows})
    axes[0].set_xticks([layer + (len(names) - 1) * width / 2 for layer in all_layers], [str(layer) for layer in all_layers])
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


def energy_accuracy(options: Options) -> dict:
    paper = Setting("scifar10_pixel", {}, 200, (1111,), "paper: sCIFAR-10 pixel net, T = 1024 (PMSN Fig. 6b)")
    setting = choose_setting(options, paper)
    model = setting.model or preset(setting.task)["model"]
    width = deep_merge(model.get("options", {}), setting.overrides.get("model", {}).get("options", {})).get("width", 64)
    sweeps = [("PMSN", "pmsn", "compartments", (2, 3) if options.smoke else (2, 3, 5, 9)),
              ("masked PSN", "masked_psn", "order", (1, 2) if options.smoke else (1, 4, 16, 32)),
              ("sliding PSN", "sliding_psn", "order", (1, 2) if options.smoke else (1, 4, 16, 32)),
              ("LIF", "lif", "width", (1, 2) if options.smoke else (1, 2, 4))]
    rows = []
    for family, neuron, knob, values in sweeps:
        for value in values:
            if knob == "width":  # LIF gets wider instead of richer (PMSN Fig. 6b: "LIF (width scaled)")
                overrides = deep_merge(neuron_overrides(neuron), {"model": {"options": {"width": width * value}}})
                label = f"{family} width x{value}"
            else:
                overrides, label = neuron_overrides(neuron, **{knob: value}), f"{family} {knob}={value}"
            rows.append(Row(label, overrides, {"family": family, "value": value}))
    rows = select_rows(rows, options, "family")
    options.say(f"pmsn ablate energy_accuracy: {len(rows)} rows × {len(setting.seeds)} seeds, {setting.epochs} "
                f"epochs, {setting.description}")
    results = run_sweep(setting, rows, Path(options.out) / "runs", quiet=options.quiet, say=options.say)
    for result in results:
        _measure_energy(result, options.smoke)
    summary = _energy_summary(rows, results)
    table = _energy_table(summary, "row")
    markdown = (f"# Ablation: energy_accuracy\n\nBest test accuracy against estimated energy (0.9 pJ/AC, 4.6 pJ/MAC, "
                f"test batches) as each neuron gets richer: PMSN compartments n, masked / sliding PSN order k, LIF "
                f"width.\n\nSetting: {setting.description}; {setting.epochs} epochs, seeds {list(setting.seeds)}."
                f"\n\n{table}\nPaper (PMSN Fig. 6b, pixel sCIFAR-10): PMSN gains fast from n = 2 to 5 and then "
                "saturates, at lower energy than masked PSN, sliding PSN and wider LIFs; values are only in the "
                "figure.\n")
    return write_outputs(options, "energy_accuracy", results, summary, markdown, _energy_figure(summary),
                         {"setting": setting.__dict__, "rows": [r.label for r in rows]})


def _energy_figure(summary: list[dict]):
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for family in dict.fromkeys(line["family"] for line in summary):
        points = sorted((line["energy_nj_per_sample"], line["acc_mean"], line["value"]) for line in summary
                        if line["family"] == family)
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=family)
        for energy, accuracy, value in points:
            axis.annotate(str(value), (energy, accuracy), textcoords="offset points", xytext=(3, 3), fontsize=7)
    axis.set(xlabel="energy per sample (nJ)", ylabel="best test accuracy (%)", xscale="log",
             title="accuracy vs energy (labels: n, k or width factor)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure
