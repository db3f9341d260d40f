"""Theoretical energy of a spiking network: firing rates measured on data → AC/MAC counts → joules.

Counting rule (spec neurons.md §3.6, TC-LIF Table 2 / Supp. Table 4; experiments.md §4.1 Table IV), per time
step and per sample, for a layer of n neurons fed by m inputs:

    synaptic:  m·n·Fr_in accumulates (AC) when the input is spikes (event driven; a spike count k costs k ACs),
               m·n multiply-accumulates (MAC) when the input is real valued;
               + n·n·Fr_out AC for a recurrent layer (W_rec on the layer's own spikes)
    neuronal:  c·n MAC (the membrane update) + r·n·Fr_out AC (the reset, r compartments reset by a spike)

with c MACs and r resets per neuron and step by neuron kind (``neuron_cost``): LIF/PLIF 1/1, ALIF 2/1 (membrane
and adaptation), TC-LIF 2/2, PMSN n/1 (n − 1 hidden modes + the soma; 0 resets without reset), PSN T/0,
masked/sliding PSN k/0. Energy = E_AC·AC + E_MAC·MAC with E_AC = 0.9 pJ, E_MAC = 4.6 pJ (45 nm, Horowitz 2014).
A non-spiking readout layer costs only its synaptic term. Batch norm is assumed folded into the weights.

Two entry points:
* ``network_energy(layers)`` — the pure formula on given sizes and rates (reproduces TC-LIF Table 2).
* ``measure_energy(model, batches)`` — forward hooks on every ``Linear``/``Conv`` and every spiking neuron
  (``pmsn.neurons.Neuron``, both ``forward`` and ``step``) count the operations the data actually triggers.
``pmsn bench energy CHECKPOINT|CONFIG|TASK`` prints the per-layer table and writes CSV + Markdown.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pmsn.arguments import non_negative_int, positive_int
from pmsn.tables import markdown_table, write_csv

E_AC_PJ = 0.9  # energy of one 32-bit float accumulate, 45 nm (Horowitz 2014), picojoule
E_MAC_PJ = 4.6  # energy of one 32-bit float multiply-accumulate, picojoule


@dataclass(frozen=True)
class Operations:
    """Operation counts per time step per sample (fractional: they are expectations over the data)."""

    synaptic_ac: float = 0.0
    synaptic_mac: float = 0.0
    neuronal_ac: float = 0.0
    neuronal_mac: float = 0.0

    @property
    def ac(self) -> float:
        return self.synaptic_ac + self.neuronal_ac

    @property
    def mac(self) -> float:
        return self.synaptic_mac + self.neuronal_mac

    def energy_pj(self, e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ) -> float:
        return e_ac * self.ac + e_mac * self.mac

    def __add__(self, other: "Operations") -> "Operations":
        return Operations(self.synaptic_ac + other.synaptic_ac, self.synaptic_mac + other.synaptic_mac,
                          self.neuronal_ac + other.neuronal_ac, self.neuronal_mac + other.neuronal_mac)


@dataclass(frozen=True)
class NeuronCost:
    """Per neuron and time step: ``macs`` of the membrane update, ``resets`` compartments reset by a spike."""

    macs: float
    resets: float


@dataclass(frozen=True)
class LayerSpec:
    """One layer for ``network_energy``: ``fan_in`` m inputs → ``neurons`` n outputs.

    ``input_rate``: mean input per entry and step (the presynaptic firing rate, or 1 for a dense real input);
    ``input_binary``: inputs are spikes (AC) or real values (MAC); ``output_rate``: firing rate of this layer
    (ignored without ``cost``); ``cost``: the neuron's cost, None for a non-spiking readout.
    """

    name: str
    fan_in: int
    neurons: int
    input_rate: float
    output_rate: float = 0.0
    input_binary: bool = True
    recurrent: bool = False
    cost: NeuronCost | None = None


def layer_operations(layer: LayerSpec) -> Operations:
    """The counting rule of the module docstring for one layer (per step, per sample)."""
    for name in ("fan_in", "neurons"):
        value = getattr(layer, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"layer {layer.name!r}: {name} must be a non-negative int, got {value!r}")
    for name in ("input_rate", "output_rate"):
        value = getattr(layer, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"layer {layer.name!r}: {name} must be a finite number >= 0, got {value!r}")
    m, n = layer.fan_in, layer.neurons
    synapses = m * n
    synaptic_ac = synapses * layer.input_rate if layer.input_binary else 0.0
    synaptic_mac = 0.0 if layer.input_binary else float(synapses)
    if layer.cost is None:
        return Operations(synaptic_ac, synaptic_mac)
    if layer.recurrent:
        synaptic_ac += n * n * layer.output_rate
    return Operations(synaptic_ac, synaptic_mac, layer.cost.resets * n * layer.output_rate, layer.cost.macs * n)


def network_energy(layers: list[LayerSpec], e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ) -> dict:
    """Per-layer operations and energy (pJ per step per sample) and their total, for given sizes and rates."""
    rows, total = [], Operations()
    for layer in layers:
        ops = layer_operations(layer)
        total = total + ops
        rows.append({"layer": layer.name, "operations": ops, "energy_pj": ops.energy_pj(e_ac, e_mac)})
    return {"layers": rows, "operations": total, "energy_pj": total.energy_pj(e_ac, e_mac)}


def tclif_table2_layers(neuron: str, rates: tuple[float, float, float]) -> list[LayerSpec]:
    """The S-MNIST recurrent net 1-64r-256r-256-10 of TC-LIF Table 2 with the spec's counting (neurons.md §3.6):
    the single input pixel counted as a spike with Fr_in = 1, the readout as 2560·Fr₃ ACs."""
    cost = neuron_cost_by_name(neuron)
    r1, r2, r3 = rates
    return [LayerSpec("hidden1 (64, rec)", 1, 64, 1.0, r1, True, True, cost),
            LayerSpec("hidden2 (256, rec)", 64, 256, r1, r2, True, True, cost),
            LayerSpec("hidden3 (256)", 256, 256, r2, r3, True, False, cost),
            LayerSpec("readout (10)", 256, 10, r3)]


# TC-LIF Table 2: published per-layer firing rates and energies (nJ per step per sample)
TCLIF_TABLE2 = {"lif": ((0.219, 0.145, 0.004), 23.8), "tclif": ((0.294, 0.146, 0.030), 28.2)}


# --- neuron kinds ------------------------------------------------------------------------------------------------

def neuron_cost_by_name(name: str, compartments: int = 5, steps: int | None = None, order: int | None = None,
                        resets: bool = True) -> NeuronCost:
    """Cost of a neuron kind by name (the ``pmsn.neurons.NEURONS`` names)."""
    if name in ("lif", "plif"):
        return NeuronCost(1.0, 1.0 if resets else 0.0)
    if name == "alif":
        return NeuronCost(2.0, 1.0)
    if name == "tclif":
        return NeuronCost(2.0, 2.0)
    if name == "pmsn":
        return NeuronCost(float(compartments), 1.0 if resets else 0.0)
    if name == "psn":
        if steps is None:
            raise ValueError("the PSN cost needs steps (T MACs per neuron and step)")
        return NeuronCost(float(steps), 0.0)
    if name in ("masked_psn", "sliding_psn"):
        if order is None:
            raise ValueError(f"the {name} cost needs order (k MACs per neuron and step)")
        return NeuronCost(float(order), 0.0)
    raise ValueError(f"unknown neuron kind {name!r}; expected lif, plif, alif, tclif, pmsn, psn, masked_psn, "
                     f"sliding_psn")


def neuron_kind(module: nn.Module) -> str:
    """The neuron kind of a module (a subclass, e.g. an ablation variant, counts as its base kind)."""
    from pmsn.neurons import ALIF, LIF, PLIF, PMSN, PSN, TCLIF, MaskedPSN, SlidingPSN

    for name, cls in (("masked_psn", MaskedPSN), ("psn", PSN), ("sliding_psn", SlidingPSN), ("tclif", TCLIF),
                      ("pmsn", PMSN), ("alif", ALIF), ("plif", PLIF), ("lif", LIF)):  # most specific first
        if isinstance(module, cls):
            return name
    raise ValueError(f"no energy cost known for neuron module {type(module).__name__}")


def neuron_cost(module: nn.Module, steps: int) -> NeuronCost:
    """Cost of a built neuron module run over ``steps`` time steps."""
    from pmsn.neurons import LIF, PLIF

    kind = neuron_kind(module)
    if kind == "pmsn":
        return neuron_cost_by_name("pmsn", compartments=module.compartments,
                                   resets=module.soma_mode not in ("no_reset", "memoryless"))
    if isinstance(module, (LIF, PLIF)):
        return neuron_cost_by_name(kind, resets=module.reset != "none")
    return neuron_cost_by_name(kind, steps=steps, order=getattr(module, "order", None))


# --- measurement on data -------------------------------------------------------------------------------------

@dataclass
class _Tally:
    """Running sums of one module over the measured batches."""

    name: str
    kind: str
    calls: int = 0
    samples_steps: float = 0.0  # neurons: Σ T·B rows seen (gives T)
    synaptic_ac: float = 0.0
    synaptic_mac: float = 0.0
    input_events: float = 0.0  # Σ of the (non-negative integer) inputs, for the input rate
    input_entries: float = 0.0
    binary_input: bool = True
    spikes: float = 0.0  # neurons only
    entries: float = 0.0
    neurons: int = 0
    per_neuron: list = field(default_factory=list)  # (per-neuron spike sums, rows) per call (rate histograms)


def _is_event_input(x: torch.Tensor) -> bool:
    """Spikes or spike counts: non-negative integers (the residual spike sums of the PMSN nets count too)."""
    return bool(torch.all(x >= 0)) and bool(torch.all(x == torch.round(x)))


def _synaptic_hook(tally: _Tally):
    def hook(module, inputs, output):
        x = inputs[0].detach()
        if isinstance(module, nn.Linear):
            rows = x.numel() // module.in_features
            dense = rows * module.in_features * module.out_features
            fan_out = module.out_features
        else:  # ConvNd: each input entry reaches out_channels/groups · kernel positions (stride 1 ⇒ exact)
            kernel = math.prod(module.kernel_size)
            dense = output.numel() * (module.in_channels // module.groups) * kernel
            fan_out = dense / max(x.numel(), 1)
        event = _is_event_input(x)
        tally.binary_input &= event
        tally.calls += 1
        tally.input_entries += x.numel()
        tally.input_events += float(x.sum()) if event else x.numel()
        if event:
            tally.synaptic_ac += float(x.sum()) * fan_out
        else:
            tally.synaptic_mac += dense
    return hook


def _record_spikes(tally: _Tally, spikes: torch.Tensor, time_first: bool) -> None:
    spikes = spikes.detach().float()
    steps_batch = spikes.shape[0] * spikes.shape[1] if time_first else spikes.shape[0]
    neuron_dims = spikes.shape[2:] if time_first else spikes.shape[1:]
    tally.neurons = int(math.prod(neuron_dims))
    tally.calls += 1
    tally.samples_steps += steps_batch
    tally.spikes += float(spikes.sum())
    tally.entries += spikes.numel()
    flat = spikes.reshape(steps_batch, -1)
    tally.per_neuron.append((flat.sum(0), flat.shape[0]))


@contextmanager
def _hooks(model: nn.Module):
    """Install the counting hooks; yields the tallies (layers in call order on the first batch)."""
    from pmsn.neurons import Neuron

    tallies: dict[str, _Tally] = {}
    handles, patched = [], []

    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            tally = tallies.setdefault(name, _Tally(name, type(module).__name__))
            handles.append(module.register_forward_hook(_synaptic_hook(tally)))
        elif isinstance(module, Neuron):
            tally = tallies.setdefault(name, _Tally(name, neuron_kind(module)))

            def forward_hook(mod, inputs, output, tally=tally):
                _record_spikes(tally, output[0] if isinstance(output, tuple) else output, time_first=True)
            handles.append(module.register_forward_hook(forward_hook))
            original_step = module.step

            def step(x_t, state=None, tally=tally, original_step=original_step):
                s_t, new_state = original_step(x_t, state)
                _record_spikes(tally, s_t, time_first=False)
                return s_t, new_state
            module.step = step
            patched.append(module)
    try:
        yield tallies
    finally:
        for handle in handles:
            handle.remove()
        for module in patched:
            del module.step  # back to the class method


def measure_energy(model: nn.Module, batches, steps: int | None = None, e_ac: float = E_AC_PJ,
                   e_mac: float = E_MAC_PJ, device: str | torch.device = "cpu") -> dict:
    """Run ``model`` (eval mode, no grad) over ``batches`` of ``(x, label)`` (or x) and count operations.

    Returns ``{"layers": [row, ...], "total": row, "steps": T, "samples": N}``; each row has per-step-per-sample
    AC/MAC counts, ``energy_pj`` per step per sample, ``energy_nj_per_sample`` (× T), and for neuron layers
    ``neurons``, ``firing_rate`` and ``neuron_rates`` (a tensor of per-neuron rates).
    """
    from pmsn.neurons import Neuron

    model = model.to(device).eval()
    samples, measured_steps = 0, None
    with torch.no_grad(), _hooks(model) as tallies:
        for batch in batches:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            x = x.to(device)
            samples += x.shape[0]
            before = {name: t.samples_steps for name, t in tallies.items()}
            model(x)
            for tally in tallies.values():  # a neuron sees T·B rows per batch: T = rows / B
                if tally.samples_steps > before[tally.name]:
                    measured_steps = round((tally.samples_steps - before[tally.name]) / x.shape[0])
    if samples == 0:
        raise ValueError("measure_energy got no batches to run")
    steps = steps or measured_steps or 1
    neuron_modules = {name: module for name, module in model.named_modules() if isinstance(module, Neuron)}
    rows, total = [], Operations()
    for name, tally in tallies.items():
        if tally.calls == 0:
            continue
        per = samples * steps  # normalise every count to one step of one sample
        if name in neuron_modules:
            rate = tally.spikes / max(tally.entries, 1.0)
            cost = neuron_cost(neuron_modules[name], steps)
            neurons = tally.neurons
            ops = Operations(0.0, 0.0, cost.resets * neurons * rate, cost.macs * neurons)
            per_neuron = sum(s for s, _ in tally.per_neuron) / sum(c for _, c in tally.per_neuron)
            row = {"layer": name, "kind": tally.kind, "neurons": neurons, "firing_rate": rate,
                   "neuron_macs": cost.macs, "neuron_resets": cost.resets, "neuron_rates": per_neuron.cpu()}
        else:
            ops = Operations(tally.synaptic_ac / per, tally.synaptic_mac / per)
            input_rate = tally.input_events / max(tally.input_entries, 1.0)
            row = {"layer": name, "kind": tally.kind, "input": "spikes" if tally.binary_input else "real",
                   "input_rate": input_rate if tally.binary_input else None}
        total = total + ops
        row.update(_ops_columns(ops, steps, e_ac, e_mac))
        rows.append(row)
    summary = {"layer": "total", "kind": "", **_ops_columns(total, steps, e_ac, e_mac)}
    return {"layers": rows, "total": summary, "steps": steps, "samples": samples}


def _ops_columns(ops: Operations, steps: int, e_ac: float, e_mac: float) -> dict:
    energy = ops.energy_pj(e_ac, e_mac)
    return {"synaptic_ac": ops.synaptic_ac, "synaptic_mac": ops.synaptic_mac, "neuronal_ac": ops.neuronal_ac,
            "neuronal_mac": ops.neuronal_mac, "energy_pj": energy, "energy_nj_per_sample": energy * steps / 1000.0}


# --- output ------------------------------------------------------------------------------------------------------

COLUMNS = ("layer", "kind", "neurons", "firing_rate", "input", "input_rate", "synaptic_ac", "synaptic_mac",
           "neuronal_ac", "neuronal_mac", "energy_pj", "energy_nj_per_sample")


def energy_rows(result: dict) -> list[dict]:
    """Table rows of a ``measure_energy`` result (the columns of ``COLUMNS``), the total last."""
    return [{column: row.get(column) for column in COLUMNS} for row in result["layers"] + [result["total"]]]


def table2_markdown() -> str:
    """TC-LIF Table 2 recomputed from its published rates next to the published energies."""
    lines = ["| neuron | layer firing rates | ours (nJ / step / sample) | paper (nJ) |", "|---|---|---|---|"]
    for neuron, (rates, paper) in TCLIF_TABLE2.items():
        ours = network_energy(tclif_table2_layers(neuron, rates))["energy_pj"] / 1000.0
        lines.append(f"| {neuron} | {list(rates)} | {ours:.2f} | {paper} |")
    return "\n".join(lines) + "\n"


# --- CLI ---------------------------------------------------------------------------------------------------------

def load_model_and_data(source: str, overrides: list[str], split: str = "test"):
    """(model, dataset, config) from a checkpoint/run folder (trained weights), a YAML config or a task name
    (fresh weights)."""
    from pmsn.train.build import build_datasets, build_from_config, load_run
    from pmsn.train.config import resolve_config
    from pmsn.train.presets import PRESETS

    path = Path(source)
    if path.suffix == ".pt" or path.is_dir():
        model, config, _ = load_run(path, overrides)
        return model, build_datasets(config, splits=(split,))[split], config
    if path.suffix in (".yaml", ".yml"):
        config = resolve_config(config_file=str(path), overrides=overrides)
    elif source in PRESETS:
        config = resolve_config(preset_name=source, overrides=overrides)
    else:
        raise FileNotFoundError(f"expected a checkpoint (.pt or run folder), a YAML config or a task name "
                                f"({', '.join(sorted(PRESETS))}); got {source!r}")
    dataset = build_datasets(config, splits=(split,))[split]
    return build_from_config(config, dataset=dataset), dataset, config


def _run(args) -> int:
    from pmsn.io import atomic_write_text

    if args.paper_table:
        print(table2_markdown(), end="")
        return 0
    if args.source is None:
        raise ValueError("bench energy expects a CHECKPOINT, CONFIG or TASK (or --paper-table), got none")
    torch.manual_seed(args.seed)
    model, dataset, config = load_model_and_data(args.source, args.overrides)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=False)
    batches = [batch for _, batch in zip(range(args.batches), loader)]
    result = measure_energy(model, batches, device=args.device)
    rows = energy_rows(result)
    title = (f"Energy of {config.model.name} ({config.model.neuron}) on {config.data.task}: {result['samples']} "
             f"samples, T = {result['steps']}; E_AC = {E_AC_PJ} pJ, E_MAC = {E_MAC_PJ} pJ; counts per step per "
             f"sample, energy per step (pJ) and per sample (nJ).")
    table = markdown_table(rows, COLUMNS)
    print(title)
    print(table, end="")
    if args.out:
        out = Path(args.out)
        write_csv(out / "energy.csv", rows, COLUMNS)
        atomic_write_text(out / "energy.md", f"{title}\n\n{table}\nTC-LIF Table 2 check:\n\n{table2_markdown()}")
        print(f"wrote {out / 'energy.csv'} and {out / 'energy.md'}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "energy", help="firing rates, AC/MAC counts and energy per layer (0.9 pJ/AC, 4.6 pJ/MAC)",
        description="Measure per-layer firing rates on data and estimate synaptic/neuronal operations and energy "
                    "(TC-LIF / PMSN counting, spec neurons.md §3.6). SOURCE: a checkpoint (.pt or run folder), a "
                    "YAML config or a task name (fresh weights).")
    parser.add_argument("source", nargs="?", metavar="CHECKPOINT|CONFIG|TASK")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override (e.g. data.options.resolution=7)")
    parser.add_argument("--batches", type=positive_int, default=1, help="number of test batches to measure (default 1)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--out", metavar="DIR", help="write energy.csv and energy.md here")
    parser.add_argument("--paper-table", action="store_true",
                        help="only print TC-LIF Table 2 recomputed from its published firing rates")
    parser.set_defaults(func=_run)


__all__ = ["E_AC_PJ", "E_MAC_PJ", "Operations", "NeuronCost", "LayerSpec", "layer_operations", "network_energy",
           "tclif_table2_layers", "TCLIF_TABLE2", "neuron_cost_by_name", "neuron_cost", "neuron_kind",
           "measure_energy", "energy_rows", "table2_markdown", "load_model_and_data"]
