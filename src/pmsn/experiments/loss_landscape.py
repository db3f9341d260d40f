"""``pmsn ablate loss_landscape``: the loss around trained networks along two filter-normalised random directions.

Method of H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein, "Visualizing the Loss Landscape of Neural Nets"
(NeurIPS 2018), as used by TC-LIF Fig. 5 (LIF vs TC-LIF near the minimum found by training): draw Gaussian
directions d1, d2 shaped like the parameters, rescale each filter of d to the norm of the same filter of θ, and
evaluate L(θ + α·d1 + β·d2) on a grid of (α, β) with the network in eval mode on a fixed training subset
(docs/training.md §7). Which parameters move and why: ``perturbed_parameters``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from pmsn.experiments.ablation_base import Options, choose_setting, select_rows, tclif_smnist_settings, write_outputs
from pmsn.experiments.sweep import Row, neuron_overrides, run_sweep
from pmsn.neurons.base import Neuron
from pmsn.plot.landscape import landscape_figure
from pmsn.tables import markdown_table

# Li et al.'s plots span [-1, 1] per axis; 21 points keep the paper-sized grid (441 evaluations) GPU-friendly.
PAPER_GRID = {"span": 1.0, "resolution": 21, "samples": 1024}
SMOKE_GRID = {"span": 1.0, "resolution": 5, "samples": 32}
DIRECTION_SEED = 0  # the same seed for every network: equal-shaped nets get the same raw Gaussian draws


def perturbed_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters the directions move: those with ≥ 2 dims (synaptic weights, conv kernels) outside spiking
    neurons. Biases and norm layers (1-D) stay fixed, Li et al.'s "ignore biasbn" default; neuron parameters
    (τ, TC-LIF's β logits, PMSN's modal parameters, PSN's weights) stay fixed too (docs/training.md §7.2)."""
    in_neurons = {id(p) for module in model.modules() if isinstance(module, Neuron) for p in module.parameters()}
    return {name: p for name, p in model.named_parameters() if p.dim() >= 2 and id(p) not in in_neurons}


def filter_normalize(direction: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """d_i · ‖θ_i‖ / ‖d_i‖ for every filter i along dim 0 (a conv's output channel, a linear layer's row): Li et
    al.'s filter normalisation (docs/training.md §7.1)."""
    if direction.shape != weight.shape or direction.dim() < 2:
        raise ValueError(f"filter_normalize expects a direction and a weight of the same shape with >= 2 dims, got "
                         f"{tuple(direction.shape)} and {tuple(weight.shape)}")
    tiny = torch.finfo(weight.dtype).tiny  # an all-zero filter of d stays zero instead of dividing by 0
    scale = weight.flatten(1).norm(dim=1) / direction.flatten(1).norm(dim=1).clamp_min(tiny)
    return direction * scale.view(-1, *([1] * (direction.dim() - 1)))


def random_direction(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A filter-normalised Gaussian direction for every parameter of ``model``; zero on those that stay fixed.
    Drawn on the CPU in the order of ``perturbed_parameters``, so the draws do not depend on the device."""
    moved = perturbed_parameters(model)
    direction = {}
    for name, parameter in model.named_parameters():
        if name in moved:
            draw = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            direction[name] = filter_normalize(draw.to(parameter.device), parameter.detach())
        else:
            direction[name] = torch.zeros_like(parameter)
    return direction


def grid_coordinates(span: float, resolution: int) -> torch.Tensor:
    """``resolution`` evenly spaced values on [−span, span], float64; the middle one is exactly 0 when odd."""
    half = (resolution - 1) / 2
    return span * (torch.arange(resolution, dtype=torch.float64) - half) / half


def landscape(model: nn.Module, directions: tuple[dict, dict], coordinates: torch.Tensor,
              measure: Callable[[nn.Module], dict]) -> list[dict]:
    """``measure(model)`` at θ + α·d1 + β·d2 for every (α, β) of ``coordinates``² (β outer, α inner); one row
    ``{"alpha", "beta", **measure}`` per point. The parameters are rebuilt from θ at every point and restored."""
    first, second = directions
    parameters = dict(model.named_parameters())
    origin = {name: p.detach().clone() for name, p in parameters.items()}
    rows = []
    try:
        for beta in coordinates.tolist():
            for alpha in coordinates.tolist():
                with torch.no_grad():
                    for name, parameter in parameters.items():
                        parameter.copy_(origin[name] + alpha * first[name] + beta * second[name])
                rows.append({"alpha": alpha, "beta": beta, **measure(model)})
    finally:
        with torch.no_grad():
            for name, parameter in parameters.items():
                parameter.copy_(origin[name])
    return rows


def fixed_subset(dataset, samples: int):
    """``samples`` items of ``dataset`` chosen by a generator seeded 0 (files may be sorted by class); all if fewer."""
    if samples >= len(dataset):
        return dataset
    chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:samples]
    return torch.utils.data.Subset(dataset, chosen.sort().values.tolist())


def evaluator(config, dataset, device: torch.device) -> Callable[[nn.Module], dict]:
    """``model → {"loss", "accuracy"}`` on ``dataset`` by ``pmsn.train.loop.evaluate`` (eval mode, no dropout)."""
    from pmsn.train.distributed import Context
    from pmsn.train.loop import evaluate

    loader = torch.utils.data.DataLoader(dataset, batch_size=config.eval_batch_size or 2 * config.batch_size)
    context = Context()

    def measure(model: nn.Module) -> dict:
        loss, accuracy, _ = evaluate(model, loader, config, device, context)
        return {"loss": loss, "accuracy": accuracy}

    return measure


def local_minima(losses: list[list[float]]) -> int:
    """Interior grid points strictly below all 8 neighbours: a count of the basins the grid resolves."""
    count = 0
    for j in range(1, len(losses) - 1):
        for i in range(1, len(losses[j]) - 1):
            neighbours = [losses[j + dj][i + di] for dj in (-1, 0, 1) for di in (-1, 0, 1) if dj or di]
            count += all(losses[j][i] < value for value in neighbours)
    return count


def loss_landscape(options: Options) -> dict:
    """Trained LIF and TC-LIF nets (or the given checkpoints / the shipped PMSN net): their loss grids, a summary
    per network, contours and surfaces side by side."""
    from pmsn.train.build import build_datasets, load_run, pretrained
    from pmsn.train.checkpoint import resolve_checkpoint_path
    from pmsn.train.distributed import local_device

    grid = _grid(options)
    given = [resolve_checkpoint_path(path) for path in options.checkpoints]  # fail before anything runs
    if options.pretrained:
        given.append(pretrained())
    networks = _named(given) if given else _train_networks(options)
    coordinates = grid_coordinates(grid["span"], grid["resolution"])
    results, summary, losses = [], [], {}
    for label, checkpoint in networks:
        model, config, _ = load_run(checkpoint)
        device = local_device(config.device)
        model = model.to(device)
        dataset = fixed_subset(build_datasets(config, splits=("train",))["train"], grid["samples"])
        measure = evaluator(config, dataset, device)
        generator = torch.Generator().manual_seed(DIRECTION_SEED)
        directions = (random_direction(model, generator), random_direction(model, generator))
        options.say(f"{label}: {grid['resolution']}² points on {len(dataset)} training samples", flush=True)
        at_theta = measure(model)
        rows = landscape(model, directions, coordinates, measure)
        results += [{"network": label, **row} for row in rows]
        resolution = grid["resolution"]
        losses[label] = [[rows[j * resolution + i]["loss"] for i in range(resolution)] for j in range(resolution)]
        moved = perturbed_parameters(model)
        grid_losses = [row["loss"] for row in rows]
        summary.append({
            "network": label, "checkpoint": str(checkpoint), "model": config.model.name, "neuron": config.model.neuron,
            "samples": len(dataset),
            "moved_parameters": sum(p.numel() for p in moved.values()),
            "fixed_parameters": sum(p.numel() for name, p in model.named_parameters() if name not in moved),
            "loss_at_theta": at_theta["loss"], "accuracy_at_theta": at_theta["accuracy"],
            "grid_min_loss": min(grid_losses), "grid_max_loss": max(grid_losses),
            "mean_rise": sum(grid_losses) / len(grid_losses) - at_theta["loss"],
            "local_minima": local_minima(losses[label])})
    figure = landscape_figure({label: (coordinates.tolist(), grid_losses) for label, grid_losses in losses.items()},
                              title="training loss around the trained weights, filter-normalised directions")
    return write_outputs(options, "loss_landscape", results, summary, _markdown(summary, grid), figure,
                         {"grid": grid, "direction_seed": DIRECTION_SEED,
                          "networks": [{"label": label, "checkpoint": str(path)} for label, path in networks]},
                         formats=("png", "svg"))


def _grid(options: Options) -> dict:
    grid = dict(SMOKE_GRID if options.smoke else PAPER_GRID)
    for key in grid:
        if getattr(options, key) is not None:
            grid[key] = getattr(options, key)
    span, resolution, samples = grid["span"], grid["resolution"], grid["samples"]
    if isinstance(span, bool) or not isinstance(span, (int, float)) or not math.isfinite(span) or span <= 0:
        raise ValueError(f"loss_landscape: span must be a finite number > 0 (the grid covers [-span, span]²), "
                         f"got {span!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"loss_landscape: resolution must be an int >= 2 (grid points per axis), got {resolution!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"loss_landscape: samples must be an int >= 1 (training samples per loss), got {samples!r}")
    return {"span": float(span), "resolution": resolution, "samples": samples}


def _named(checkpoints: list[Path]) -> list[tuple[str, Path]]:
    """``(label, checkpoint)``: the run folder's name (the file's stem for a loose file), numbered if repeated."""
    labels = [path.parent.name if path.name in ("last.pt", "best.pt") else path.stem for path in checkpoints]
    return [(label if labels.count(label) == 1 else f"{label} #{index + 1}", path)
            for index, (label, path) in enumerate(zip(labels, checkpoints))]


def _train_networks(options: Options) -> list[tuple[str, Path]]:
    """TC-LIF Fig. 5's pair: the S-MNIST feed-forward net with LIF and with TC-LIF, trained (or resumed) under
    ``out/runs``; the landscape is taken around each run's last weights."""
    model = {"name": "tclif_ff", "neuron": "tclif", "options": {"preset": "smnist_large"}}
    paper, smoke = tclif_smnist_settings(model, "paper: S-MNIST (T = 784), FF 1-64-256-256-10 (TC-LIF Fig. 5)",
                                         "smoke: 64/32 embedded 7×7 digits, FF 1-8-8-8-10")
    setting = choose_setting(options, paper, smoke, keep_model=True)
    rows = select_rows([Row("LIF", neuron_overrides("lif"), {"neuron": "lif"}),
                        Row("TC-LIF", neuron_overrides("tclif"), {"neuron": "tclif"})], options, "neuron")
    options.say(f"pmsn ablate loss_landscape: training {len(rows)} nets, {setting.epochs} epochs, "
                f"{setting.description}")
    results = run_sweep(setting, rows, Path(options.out) / "runs", quiet=options.quiet, say=options.say)
    return [(result["label"], Path(result["run"]) / "last.pt") for result in results]


def _markdown(summary: list[dict], grid: dict) -> str:
    table = markdown_table([{"network": s["network"], "neuron": s["neuron"], "samples": s["samples"],
                             "L(θ)": s["loss_at_theta"],
                             "acc(θ) (%)": s["accuracy_at_theta"], "max L on grid": s["grid_max_loss"],
                             "mean rise": s["mean_rise"], "local minima": s["local_minima"],
                             "moved / fixed params": f"{s['moved_parameters']} / {s['fixed_parameters']}"}
                            for s in summary])
    return (f"# Ablation: loss_landscape\n\nL(θ + α·d1 + β·d2) on a {grid['resolution']} × {grid['resolution']} "
            f"grid over [−{grid['span']:g}, {grid['span']:g}]², cross-entropy on a fixed subset of the training "
            f"split (`samples`, eval mode), d1, d2 Gaussian and filter-normalised (Li et al. 2018), seed "
            f"{DIRECTION_SEED}; biases, norm layers and neuron parameters fixed (docs/training.md §7).\n\n"
            f"{table}\nMean rise: mean of L − L(θ) over the grid (larger: a sharper basin). Local minima: interior "
            "grid points below their 8 neighbours (more: a rougher landscape).\n\nPaper (TC-LIF Fig. 5): TC-LIF's "
            "landscape near the minimum is notably smoother than LIF's; the figure has no numbers, and our copy of "
            "the paper states neither the grid range, the resolution nor the data split.\n")
