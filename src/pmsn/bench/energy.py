"""Operations and energy a spiking network triggers on data, counted by forward hooks.

``measure_energy(model, batches)`` installs forward hooks on every ``Linear``/``Conv`` and every spiking neuron
(``pmsn.neurons.Neuron``, both ``forward`` and ``step``), runs the batches and counts what the data actually
triggers: event-driven accumulates for spike (count) inputs, multiply-accumulates for real inputs, each
neuron's membrane update and resets at its measured firing rate (the counting rule and the per-neuron costs of
``pmsn.bench.energy_model``). ``energy_rows`` turns the result into the table ``pmsn bench energy`` prints and
writes (``pmsn.bench.energy_cli``).

Padded batches ``(x, y, lengths)`` (``data.options.variable_length``, docs/variable_length.md §5) are run with
their lengths and only valid steps are counted: each hooked tensor's rows are matched to the batch's ``[T, B]``
step mask (time first ``[T, B, ...]``, flattened ``[T·B, ...]``, batch first ``[B, T, ...]``, or one step
``[B, ...]`` of a stepped neuron or recurrent layer), docs/training.md §6.5.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from pmsn.bench.energy_model import E_AC_PJ, E_MAC_PJ, Operations, neuron_cost, neuron_kind
from pmsn.neurons.lengths import step_mask


@dataclass
class _Tally:
    """Running sums of one module over the measured batches."""

    name: str
    kind: str
    calls: int = 0
    batch_calls: int = 0  # calls in the current batch: the step index of a stepped layer
    samples_steps: float = 0.0  # neurons: Σ T·B rows seen, padded ones included (gives T)
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


class _Batch:
    """The step mask ``valid`` [T, B] of the padded batch being run (None: every step counts)."""

    valid: torch.Tensor | None = None

    def rows(self, x: torch.Tensor, tally: _Tally) -> torch.Tensor | None:
        """Mask over ``x``'s leading dims marking its valid rows; None when all rows count."""
        tally.batch_calls += 1
        if self.valid is None:
            return None
        steps, batch = self.valid.shape
        if x.dim() >= 2 and tuple(x.shape[:2]) == (steps, batch):
            return self.valid
        if x.shape[0] == steps * batch:  # time-major flatten [T·B, ...]
            return self.valid.flatten()
        if x.dim() >= 2 and tuple(x.shape[:2]) == (batch, steps):
            return self.valid.T
        if x.shape[0] == batch and tally.batch_calls <= steps:  # one step of a stepped layer
            return self.valid[tally.batch_calls - 1]
        raise ValueError(f"energy with lengths: cannot match the rows of {tally.name}'s tensor "
                         f"{tuple(x.shape)} to the batch's steps T={steps}, B={batch}")


def _synaptic_hook(tally: _Tally, batch: _Batch):
    def hook(module, inputs, output):
        x = inputs[0].detach()
        rows = batch.rows(x, tally)
        if isinstance(module, nn.Linear):
            dense = x.numel() // module.in_features * module.in_features * module.out_features
            fan_out = module.out_features
        else:  # ConvNd: each input entry reaches out_channels/groups · kernel positions (stride 1 ⇒ exact)
            kernel = math.prod(module.kernel_size)
            dense = output.numel() * (module.in_channels // module.groups) * kernel
            fan_out = dense / max(x.numel(), 1)
        if rows is not None:  # valid rows only: each row costs the same dense work
            dense = dense * float(rows.sum()) / rows.numel()
            x = x[rows]
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


def _record_spikes(tally: _Tally, spikes: torch.Tensor, time_first: bool, batch: _Batch) -> None:
    spikes = spikes.detach().float()
    steps_batch = spikes.shape[0] * spikes.shape[1] if time_first else spikes.shape[0]
    neuron_dims = spikes.shape[2:] if time_first else spikes.shape[1:]
    tally.neurons = int(math.prod(neuron_dims))
    tally.calls += 1
    tally.samples_steps += steps_batch
    rows = batch.rows(spikes, tally)
    flat = spikes.reshape(steps_batch, -1) if rows is None else spikes[rows].reshape(-1, tally.neurons)
    tally.spikes += float(flat.sum())
    tally.entries += flat.numel()
    tally.per_neuron.append((flat.sum(0), flat.shape[0]))


@contextmanager
def _hooks(model: nn.Module, batch: _Batch):
    """Install the counting hooks; yields the tallies (layers in call order on the first batch)."""
    from pmsn.neurons import Neuron

    tallies: dict[str, _Tally] = {}
    handles, patched = [], []

    for name, module in model.named_modules():
        if isinstance(module, nn.RNNBase):  # the LSTM baseline (docs/tasks.md §2.9): its gates are not counted
            raise ValueError(f"bench energy counts spiking networks (Linear/Conv synapses and pmsn neurons); "
                             f"{name!r} is a {type(module).__name__}, whose gate operations it does not count")
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            tally = tallies.setdefault(name, _Tally(name, type(module).__name__))
            handles.append(module.register_forward_hook(_synaptic_hook(tally, batch)))
        elif isinstance(module, Neuron):
            tally = tallies.setdefault(name, _Tally(name, neuron_kind(module)))

            def forward_hook(mod, inputs, output, tally=tally):
                _record_spikes(tally, output[0] if isinstance(output, tuple) else output, True, batch)
            handles.append(module.register_forward_hook(forward_hook))
            original_step = module.step

            def step(x_t, state=None, tally=tally, original_step=original_step):
                s_t, new_state = original_step(x_t, state)
                _record_spikes(tally, s_t, False, batch)
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
    """Run ``model`` (eval mode, no grad) over ``batches`` of ``(x, label)``, ``(x, label, lengths)`` (a padded
    batch: the model gets the lengths and only valid steps count) or x, and count operations.

    Returns ``{"layers": [row, ...], "total": row, "steps": T, "mean_steps": mean valid steps per sample,
    "samples": N}``; each row has AC/MAC counts per valid step per sample, ``energy_pj`` per step per sample,
    ``energy_nj_per_sample`` (× mean_steps, which is T without lengths), and for neuron layers ``neurons``,
    ``firing_rate`` and ``neuron_rates`` (a tensor of per-neuron rates), over valid steps.
    """
    from pmsn.neurons import Neuron

    model = model.to(device).eval()
    samples, measured_steps, valid_steps, padded = 0, None, 0, False
    current = _Batch()
    with torch.no_grad(), _hooks(model, current) as tallies:
        for batch in batches:
            x, lengths = _inputs(batch)
            x = x.to(device)
            samples += x.shape[0]
            before = {name: t.samples_steps for name, t in tallies.items()}
            for tally in tallies.values():
                tally.batch_calls = 0
            if lengths is None:
                current.valid = None
                model(x)
            else:  # the loader's batch-first padded batch [B, T, ...] (docs/variable_length.md §4)
                padded = True
                current.valid = step_mask(lengths, x.shape[1], x.device)
                valid_steps += int(lengths.sum())
                model(x, lengths=lengths.to(device))
            for tally in tallies.values():  # a neuron sees T·B rows per batch: T = rows / B
                if tally.samples_steps > before[tally.name]:
                    measured_steps = round((tally.samples_steps - before[tally.name]) / x.shape[0])
            if lengths is None:
                valid_steps += x.shape[0] * (steps or measured_steps or 1)
    if samples == 0:
        raise ValueError("measure_energy got no batches to run")
    steps = steps or measured_steps or 1
    mean_steps = valid_steps / samples if padded else steps
    neuron_modules = {name: module for name, module in model.named_modules() if isinstance(module, Neuron)}
    rows, total = [], Operations()
    for name, tally in tallies.items():
        if tally.calls == 0:
            continue
        per = samples * mean_steps  # normalise every count to one (valid) step of one sample
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
        row.update(_ops_columns(ops, mean_steps, e_ac, e_mac))
        rows.append(row)
    summary = {"layer": "total", "kind": "", **_ops_columns(total, mean_steps, e_ac, e_mac)}
    return {"layers": rows, "total": summary, "steps": steps, "mean_steps": mean_steps, "samples": samples}


def _inputs(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x, lengths or None) of a batch: a tensor, ``(x, label)`` or ``(x, label, lengths)``."""
    if not isinstance(batch, (tuple, list)):
        return batch, None
    if len(batch) == 3:
        return batch[0], batch[2]
    return batch[0], None


def _ops_columns(ops: Operations, steps: float, e_ac: float, e_mac: float) -> dict:
    energy = ops.energy_pj(e_ac, e_mac)
    return {"synaptic_ac": ops.synaptic_ac, "synaptic_mac": ops.synaptic_mac, "neuronal_ac": ops.neuronal_ac,
            "neuronal_mac": ops.neuronal_mac, "energy_pj": energy, "energy_nj_per_sample": energy * steps / 1000.0}


# --- output ------------------------------------------------------------------------------------------------------

COLUMNS = ("layer", "kind", "neurons", "firing_rate", "input", "input_rate", "synaptic_ac", "synaptic_mac",
           "neuronal_ac", "neuronal_mac", "energy_pj", "energy_nj_per_sample")


def energy_rows(result: dict) -> list[dict]:
    """Table rows of a ``measure_energy`` result (the columns of ``COLUMNS``), the total last."""
    return [{column: row.get(column) for column in COLUMNS} for row in result["layers"] + [result["total"]]]


__all__ = ["measure_energy", "energy_rows", "COLUMNS"]
