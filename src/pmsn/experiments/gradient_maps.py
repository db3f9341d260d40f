"""``pmsn ablate gradient_maps``: where in time trained networks send their gradient (TC-LIF Fig. 3).

For each trained network: the loss L = cross-entropy of a batch of test sequences, and for every neuron of every
spiking layer the mean over the batch of |∂L/∂I[t]|, I = the input current the layer's neurons receive. Each
neuron's row is divided by its own maximum over time (the paper's normalisation is not in our copy; per-neuron
max-abs is our reading, docs/tasks.md §4.2), so the map shows how far back from the end each neuron still gets
gradient. Rows stack the hidden layers in order (y), time runs along x. The paper compares LIF, ALIF and TC-LIF on
S-MNIST (FF net 64-256-256); ``--checkpoints`` maps any trained networks instead.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pmsn.experiments.ablation_base import Options, choose_setting, tclif_smnist_settings, write_outputs
from pmsn.experiments.sweep import Row, neuron_overrides, run_sweep
from pmsn.neurons.base import Neuron
from pmsn.plot.figures import pyplot
from pmsn.tables import markdown_table

NEURONS = (("LIF", "lif"), ("ALIF", "alif"), ("TC-LIF", "tclif"))


def gradient_map(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``[neurons, T]``: batch-mean |∂L/∂I[t]| per neuron of every spiking layer (stacked in order), each row
    divided by its maximum over time (all-zero rows stay 0)."""
    captured: list[torch.Tensor] = []

    def keep_input(module, args):
        current = args[0]
        current.retain_grad()
        captured.append(current)

    layers = [module for module in model.modules() if isinstance(module, Neuron)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no spiking layer to map")
    handles = [layer.register_forward_pre_hook(keep_input) for layer in layers]
    try:
        model.eval()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    for current in captured:  # [T, B, C, *spatial] → [C, T]
        magnitude = current.grad.abs().flatten(3).mean(dim=(1, 3)) if current.dim() > 3 else current.grad.abs().mean(1)
        rows.append(magnitude.transpose(0, 1))
    grid = torch.cat(rows)
    return grid / grid.amax(dim=1, keepdim=True).clamp_min(torch.finfo(grid.dtype).tiny)


def _test_batch(config, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    from pmsn.train.build import build_datasets

    test = build_datasets(config, splits=("test",))["test"]
    step = max(1, len(test) // samples)
    inputs, targets = zip(*(test[i] for i in range(0, step * samples, step)))
    return torch.stack(inputs).float(), torch.as_tensor(targets)


def gradient_maps(options: Options) -> dict:
    from pmsn.train.build import load_run

    if options.checkpoints:
        networks = [(Path(path).name, Path(path)) for path in options.checkpoints]
        description = "the given checkpoints"
    else:
        model = {"name": "tclif_ff", "neuron": "tclif", "options": {"preset": "smnist_large"}}
        paper, smoke = tclif_smnist_settings(model, "paper: S-MNIST FF 1-64-256-256-10 (TC-LIF Fig. 3)",
                                             "smoke: 64/32 embedded 7×7 digits, FF 1-8-8-8-10")
        setting = choose_setting(options, paper, smoke, keep_model=True)
        rows = [Row(label, neuron_overrides(neuron), {"neuron": label}) for label, neuron in NEURONS]
        results = run_sweep(setting, rows, Path(options.out) / "runs", quiet=options.quiet, say=options.say)
        networks = [(result["label"], Path(result["run"]) / "best.pt") for result in results]
        description = f"{setting.description}; {setting.epochs} epochs"
    samples = options.samples or (8 if options.smoke else 64)
    maps, table = {}, []
    for label, path in networks:
        model, config, _ = load_run(path)
        maps[label] = gradient_map(model, *_test_batch(config, samples))
        steps = maps[label].shape[1]
        reach = maps[label].mean(0)  # mean normalised gradient per step over all neurons
        table.append({"network": label, "neurons": maps[label].shape[0], "T": steps,
                      "first quarter": float(reach[: steps // 4 or 1].mean()), "last quarter":
                      float(reach[-(steps // 4 or 1):].mean())})
    markdown = (f"# Ablation: gradient_maps\n\nMean |∂L/∂I[t]| per neuron over {samples} test sequences, each "
                f"neuron's row divided by its maximum over time; L = cross-entropy. Networks: {description}.\n\n"
                f"{markdown_table(table)}\nColumns: mean normalised gradient over the first and the last quarter "
                "of the steps. Paper (TC-LIF Fig. 3): LIF's gradient fades within the last steps, ALIF keeps a "
                "little, TC-LIF carries it across the whole sequence.\n")
    return write_outputs(options, "gradient_maps", table, table, markdown, _figure(maps),
                         {"networks": [str(path) for _, path in networks], "samples": samples})


def _figure(maps: dict[str, torch.Tensor]):
    plt = pyplot()
    figure, axes = plt.subplots(1, len(maps), figsize=(4.5 * len(maps), 4), squeeze=False)
    for axis, (label, grid) in zip(axes[0], maps.items()):
        image = axis.imshow(grid.numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        axis.set(title=label, xlabel="time step t", ylabel="neuron (hidden layers stacked)")
    figure.colorbar(image, ax=axes[0].tolist(), label="|∂L/∂I[t]| / max over t")
    return figure
