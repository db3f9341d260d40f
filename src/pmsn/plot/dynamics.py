"""Dynamics figures of a PMSN layer (PMSN Fig. 4 / Fig. 7; docs/tasks.md §4.1).

* ``dynamics`` figure: one input current driving a PMSN layer — the hidden compartments (modal states Re x_m of
  ``trace.hidden``), the soma potential with threshold, spike and reset marks, a spike raster over channels —
  and the same current driving a LIF and a TC-LIF neuron for comparison.
* ``modes`` figure: the impulse response of each hidden mode (layer-averaged, Re C̃_m B̄_m Ā_mˡ) and their sum K,
  the discrete eigenvalues λ·Δ of every channel in the complex plane, histograms of Im(λΔ) (oscillation) and
  Re(λΔ) (damping) over the channels.

Inputs (``make_input``): a digit of the embedded S-MNIST set (raster scan), a step, a sine, a unit impulse.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from pmsn.neurons import LIF, PMSN, TCLIF
from pmsn.plot.figures import pyplot, save_figure

INPUTS = ("digit", "step", "sine", "impulse")


def make_input(kind: str, steps: int = 200, gain: float = 1.0, period: float = 50.0, digit_index: int = 0,
               resolution: int = 14) -> torch.Tensor:
    """A current ``[T]``: ``digit`` (embedded test digit, T = resolution²; ``steps`` ignored), ``step`` (gain from
    T/10 on), ``sine`` (gain·(1 + sin 2πt/period)/2), ``impulse`` (gain at t = 0)."""
    if kind not in INPUTS:
        raise ValueError(f"input must be one of {INPUTS}, got {kind!r}")
    if kind == "digit":
        from pmsn.data import build_dataset

        dataset = build_dataset("smnist5k", "test", resolution=resolution)
        if not 0 <= digit_index < len(dataset):
            raise ValueError(f"digit_index must be in [0, {len(dataset)}), got {digit_index}")
        return gain * dataset[digit_index][0][:, 0]
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2, got {steps!r}")
    t = torch.arange(steps, dtype=torch.float32)
    if kind == "step":
        return gain * (t >= steps // 10).float()
    if kind == "sine":
        if period <= 0:
            raise ValueError(f"period must be > 0, got {period}")
        return gain * 0.5 * (1.0 + torch.sin(2.0 * math.pi * t / period))
    current = torch.zeros(steps)
    current[0] = gain
    return current


@dataclass
class LayerResponse:
    """What the figures draw: currents ``[T, C]`` into the layer and the traces of each neuron."""

    current: torch.Tensor  # u [T, C]
    hidden: torch.Tensor  # Re x_m [T, C, N]
    soma_current: torch.Tensor  # Y [T, C]
    soma: torch.Tensor  # v (pre-reset) [T, C]
    spikes: torch.Tensor  # [T, C]
    lif_membrane: torch.Tensor
    lif_spikes: torch.Tensor
    tclif_dendrite: torch.Tensor
    tclif_soma: torch.Tensor
    tclif_spikes: torch.Tensor
    threshold: float
    lif_threshold: float
    tclif_threshold: float


def layer_response(neuron: PMSN, current: torch.Tensor) -> LayerResponse:
    """Drive ``neuron`` (and a default LIF and TC-LIF) with ``current`` ``[T]`` (every channel) or ``[T, C]``."""
    if current.dim() == 1:
        current = current.unsqueeze(1).expand(-1, neuron.channels)
    if current.dim() != 2 or current.shape[1] != neuron.channels:
        raise ValueError(f"current must be [T] or [T, {neuron.channels}], got {tuple(current.shape)}")
    x = current.unsqueeze(1).to(torch.float64)  # [T, 1, C]
    lif, tclif = LIF(tau=2.0, reset="soft"), TCLIF()
    with torch.no_grad():
        spikes, trace = copy.deepcopy(neuron).double()(x, return_states=True)  # float64 copy, caller's untouched
        lif_spikes, lif_trace = lif(x, return_states=True)
        tclif_spikes, tclif_trace = tclif(x, return_states=True)
    return LayerResponse(current.float(), trace.hidden[:, 0].float(), trace.current[:, 0].float(),
                         trace.soma[:, 0].float(), spikes[:, 0].float(), lif_trace.membrane[:, 0].float(),
                         lif_spikes[:, 0].float(), tclif_trace.dendrite[:, 0].float(), tclif_trace.soma[:, 0].float(),
                         tclif_spikes[:, 0].float(), neuron.threshold, lif.threshold, tclif.threshold)


def _spike_marks(axis, spikes: torch.Tensor, level: float, color: str, label: str) -> None:
    times = torch.nonzero(spikes > 0).flatten().numpy()
    if len(times):
        axis.plot(times, [level] * len(times), linestyle="none", marker="|", markersize=12, color=color,
                  label=label)


def dynamics_figure(response: LayerResponse, channel: int, title: str = ""):
    """Input, hidden compartments, soma, raster (PMSN) and LIF / TC-LIF traces for one ``channel``."""
    plt = pyplot()
    steps, channels = response.current.shape
    if not 0 <= channel < channels:
        raise ValueError(f"channel must be in [0, {channels}), got {channel}")
    time = range(steps)
    figure, axes = plt.subplots(6, 1, figsize=(10, 13), sharex=True,
                                gridspec_kw={"height_ratios": [1, 1.4, 1.4, 1.2, 1.2, 1.2]})
    axes[0].plot(time, response.current[:, channel], color="black")
    axes[0].set(ylabel="input u[t]", title=title or f"PMSN dynamics, channel {channel}")

    hidden = response.hidden[:, channel]
    for m in range(hidden.shape[-1]):
        axes[1].plot(time, hidden[:, m], label=f"hidden mode {m + 1}")
    axes[1].plot(time, response.soma_current[:, channel], color="black", linewidth=1.2, linestyle="--",
                 label="current into soma Y")
    axes[1].set(ylabel="hidden potential\n(modal, Re x_m)")
    axes[1].legend(loc="upper right", ncol=3)

    soma, spikes, theta = response.soma[:, channel], response.spikes[:, channel], response.threshold
    residual = soma - theta * torch.floor(soma / theta)
    axes[2].plot(time, soma, color="tab:blue", label="soma v[t] (before reset)")
    axes[2].axhline(theta, color="tab:red", linestyle="--", linewidth=1, label="threshold θ")
    reset_times = torch.nonzero(spikes > 0).flatten()
    axes[2].plot(reset_times.numpy(), residual[reset_times].numpy(), linestyle="none", marker="v",
                 color="tab:green", label="after reset")
    _spike_marks(axes[2], spikes, theta * 1.25, "tab:red", "spike")
    axes[2].set(ylabel="PMSN soma")
    axes[2].legend(loc="upper right", ncol=4)

    shown = min(channels, 32)
    raster = torch.nonzero(response.spikes[:, :shown] > 0)
    axes[3].scatter(raster[:, 0].numpy(), raster[:, 1].numpy(), marker="|", s=30, color="black")
    axes[3].set(ylabel="PMSN channel", ylim=(-0.5, shown - 0.5),
                title=f"spike raster ({shown} channels, rate {response.spikes.mean():.3f})")

    axes[4].plot(time, response.lif_membrane[:, channel], color="tab:purple", label="LIF membrane (τ = 2, soft reset)")
    axes[4].axhline(response.lif_threshold, color="tab:red", linestyle="--", linewidth=1)
    _spike_marks(axes[4], response.lif_spikes[:, channel], response.lif_threshold * 1.25, "tab:red", "spike")
    axes[4].set(ylabel="LIF")
    axes[4].legend(loc="upper right", ncol=2)

    axes[5].plot(time, response.tclif_dendrite[:, channel], color="tab:orange", label="TC-LIF dendrite U_D")
    axes[5].plot(time, response.tclif_soma[:, channel], color="tab:brown", label="TC-LIF soma U_S")
    axes[5].axhline(response.tclif_threshold, color="tab:red", linestyle="--", linewidth=1)
    _spike_marks(axes[5], response.tclif_spikes[:, channel], response.tclif_threshold * 1.25, "tab:red", "spike")
    axes[5].set(ylabel="TC-LIF (β1 = −0.5,\nβ2 = 0.5)", xlabel="time step t")
    axes[5].legend(loc="upper right", ncol=3)
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def modal_eigenvalues(neuron: PMSN) -> torch.Tensor:
    """λ·Δ ``[C, N]`` complex (the discrete-time eigenvalues: Ā = exp(λΔ))."""
    with torch.no_grad():
        eigenvalue = torch.complex(-torch.exp(neuron.log_A_real.double()), neuron.A_imag.double())
        return eigenvalue * torch.exp(neuron.log_dt.double()).unsqueeze(-1)


def mode_impulse_responses(neuron: PMSN, steps: int) -> torch.Tensor:
    """Per-mode impulse responses Re(C̃_m B̄_m Ā_mˡ) ``[steps, C, N]`` (their sum over m is the kernel K)."""
    from pmsn.ops.linear_system import convolution_kernel

    with torch.no_grad():
        decay, input_gain, readout = neuron.modal_system(torch.float64)
        residue = readout * input_gain
        return torch.stack([convolution_kernel(decay[:, m:m + 1], residue[:, m:m + 1], steps)
                            for m in range(decay.shape[1])], dim=-1)


def modes_figure(neuron: PMSN, steps: int = 200, title: str = ""):
    """Impulse responses (layer average), λΔ in the complex plane, histograms of Im(λΔ) and Re(λΔ)."""
    plt = pyplot()
    responses = mode_impulse_responses(neuron, steps).mean(1)  # layer-averaged over channels, [steps, N]
    eigen = modal_eigenvalues(neuron)
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    for m in range(responses.shape[1]):
        axes[0, 0].plot(responses[:, m], label=f"mode {m + 1}")
    axes[0, 0].plot(responses.sum(1), color="black", linewidth=1.5, label="kernel K (sum)")
    axes[0, 0].set(xlabel="lag l (steps)", ylabel="response to a unit impulse",
                   title="impulse response per hidden mode (layer mean)")
    axes[0, 0].legend(ncol=2)
    for m in range(eigen.shape[1]):
        axes[0, 1].scatter(eigen[:, m].real.numpy(), eigen[:, m].imag.numpy(), s=12, label=f"mode {m + 1}")
    axes[0, 1].axvline(0.0, color="grey", linewidth=0.8)
    axes[0, 1].set(xlabel="Re(λΔ) (damping per step)", ylabel="Im(λΔ) (rad per step)",
                   title=f"eigenvalues λΔ of {eigen.shape[0]} channels")
    axes[0, 1].legend(ncol=2)
    axes[1, 0].hist(eigen.imag.flatten().numpy(), bins=30, color="tab:blue")
    axes[1, 0].set(xlabel="Im(λΔ): oscillation frequency (rad/step)", ylabel="count (modes × channels)",
                   title="oscillation frequency")
    axes[1, 1].hist(eigen.real.flatten().numpy(), bins=30, color="tab:orange")
    axes[1, 1].set(xlabel="Re(λΔ): damping (1/step)", ylabel="count (modes × channels)", title="damping")
    for axis in axes.flat:
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def all_layers_figure(layers: list[PMSN], steps: int = 200, title: str = ""):
    """PMSN Fig. 7: for every PMSN layer (rows), the layer-mean impulse response per mode and the histograms of
    Im(λΔ) and Re(λΔ) over its channels."""
    plt = pyplot()
    figure, axes = plt.subplots(len(layers), 3, figsize=(13, 2.8 * len(layers)), squeeze=False)
    for index, (neuron, row) in enumerate(zip(layers, axes)):
        responses = mode_impulse_responses(neuron, steps).mean(1)
        eigen = modal_eigenvalues(neuron)
        for m in range(responses.shape[1]):
            row[0].plot(responses[:, m], label=f"mode {m + 1}")
        row[0].set(xlabel="lag l (steps)", ylabel=f"layer {index + 1}\nimpulse response",
                   title="impulse response per mode (layer mean)" if index == 0 else "")
        row[1].hist(eigen.imag.flatten().numpy(), bins=30, color="tab:blue")
        row[1].set(xlabel="Im(λΔ) (rad/step)", ylabel="count", title="oscillation frequency" if index == 0 else "")
        row[2].hist(eigen.real.flatten().numpy(), bins=30, color="tab:orange")
        row[2].set(xlabel="Re(λΔ) (1/step)", ylabel="count", title="damping" if index == 0 else "")
        for axis in row:
            axis.grid(alpha=0.3)
    axes[0, 0].legend(ncol=2, fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def pmsn_layers(network) -> list[PMSN]:
    """The PMSN modules of a network, in order."""
    return [module for module in network.modules() if isinstance(module, PMSN)]


def load_pmsn_layer(checkpoint: str | Path, layer: int = 0):
    """(network, PMSN module) of a training checkpoint; ``layer`` indexes the PMSN modules in order."""
    from pmsn.train.build import load_run

    network, _, state = load_run(checkpoint)
    layers = pmsn_layers(network)
    if not layers:
        raise ValueError(f"checkpoint {str(checkpoint)!r} holds no PMSN layer (neuron "
                         f"{state['architecture']['neuron']!r})")
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer must be in [0, {len(layers)}) for this checkpoint, got {layer}")
    return network.eval(), layers[layer]


def network_layer_input(network, neuron: PMSN, sequence: torch.Tensor) -> torch.Tensor:
    """The current ``[T, C]`` that ``neuron`` receives inside ``network`` for one input ``sequence`` ``[T, F]``."""
    captured = {}

    def hook(module, inputs):
        captured["x"] = inputs[0].detach()

    handle = neuron.register_forward_pre_hook(hook)
    try:
        with torch.no_grad():
            network(sequence.unsqueeze(0))
    finally:
        handle.remove()
    x = captured["x"]
    return x[:, 0].reshape(x.shape[0], x.shape[2], -1)[..., 0]  # first sample, first spatial position


def plot_dynamics(out: str | Path, input_kind: str = "impulse", checkpoint: str | Path | None = None, layer: int = 0,
                  channels: int = 16, compartments: int = 5, steps: int = 200, gain: float = 1.0,
                  period: float = 50.0, digit_index: int = 0, resolution: int = 14, channel: int | None = None,
                  seed: int = 0, formats=("png", "svg")) -> list[Path]:
    """Write ``dynamics.*`` and ``modes.*`` into ``out`` for a fresh (seeded) or trained PMSN layer, and for a
    checkpoint ``layers.*``, every PMSN layer at once (PMSN Fig. 7)."""
    torch.manual_seed(seed)
    current = make_input(input_kind, steps, gain, period, digit_index, resolution)
    if checkpoint is not None:
        network, neuron = load_pmsn_layer(checkpoint, layer)
        source = f"{Path(checkpoint).name}, PMSN layer {layer}"
        if input_kind == "digit":  # the current this layer really gets from the digit inside the network
            current = network_layer_input(network, neuron, current.unsqueeze(-1))
    else:
        neuron = PMSN(channels=channels, compartments=compartments)
        source = f"fresh PMSN layer (n = {compartments}, seed {seed})"
    response = layer_response(neuron, current)
    if channel is None:  # the most active channel
        channel = int(response.spikes.sum(0).argmax())
    out = Path(out)
    title = f"{source}: {input_kind} input, channel {channel}"
    paths = save_figure(dynamics_figure(response, channel, title), out / "dynamics", formats)
    paths += save_figure(modes_figure(neuron, max(steps, 2), source), out / "modes", formats)
    if checkpoint is not None:
        paths += save_figure(all_layers_figure(pmsn_layers(network), max(steps, 2), Path(checkpoint).name),
                             out / "layers", formats)
    return paths
