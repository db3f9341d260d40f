"""Energy counting (docs/training.md §6): TC-LIF Table 2 from its published rates, hand-computed layers, and the
hook-based measurement checked against counts computed independently from the spikes."""

import pytest
import torch
from torch import nn

from pmsn.bench.energy import measure_energy
from pmsn.bench.energy_model import (E_AC_PJ, E_MAC_PJ, LayerSpec, NeuronCost, layer_operations, network_energy,
                                     neuron_cost, neuron_cost_by_name, tclif_table2_layers)
from pmsn.papers import tclif_table2_energy
from pmsn.models import build_model
from pmsn.neurons import GLIF, IF, KLIF, LIF, PMSN, PSN, TCLIF, MaskedPSN, NoResetPMSN, SlidingPSN


@pytest.mark.parametrize("neuron, expected_nj", [("lif", 23.90), ("tclif", 28.18)])
def test_tclif_table2_reproduced_from_published_rates(neuron, expected_nj):
    rates, paper_nj = tclif_table2_energy()[neuron]
    energy_nj = network_energy(tclif_table2_layers(neuron, rates))["energy_pj"] / 1000.0
    assert round(energy_nj, 2) == expected_nj  # docs/training.md §6.4
    assert abs(energy_nj - paper_nj) < 0.15  # the paper prints 23.8 and 28.2


def test_hand_computed_recurrent_lif_layer():
    # m = 10 inputs at rate 0.5 → 4 recurrent LIF neurons at rate 0.25
    layer = LayerSpec("h", fan_in=10, neurons=4, input_rate=0.5, output_rate=0.25, recurrent=True,
                      cost=NeuronCost(macs=1.0, resets=1.0))
    ops = layer_operations(layer)
    assert ops.synaptic_ac == pytest.approx(10 * 4 * 0.5 + 4 * 4 * 0.25)  # 24
    assert ops.neuronal_ac == pytest.approx(4 * 0.25)
    assert ops.mac == pytest.approx(4.0)
    assert ops.energy_pj() == pytest.approx(0.9 * 25 + 4.6 * 4)  # 40.9 pJ


def test_hand_computed_real_input_and_readout():
    dense = layer_operations(LayerSpec("in", 3, 5, 1.0, 0.1, input_binary=False, cost=NeuronCost(2.0, 2.0)))
    assert (dense.synaptic_mac, dense.synaptic_ac, dense.neuronal_mac) == (15.0, 0.0, 10.0)
    assert dense.neuronal_ac == pytest.approx(5 * 0.1 * 2)
    readout = layer_operations(LayerSpec("out", 256, 10, 0.03))
    assert readout.synaptic_ac == pytest.approx(2560 * 0.03) and readout.mac == 0.0
    total = network_energy([LayerSpec("out", 256, 10, 0.03)], e_ac=1.0, e_mac=0.0)
    assert total["energy_pj"] == pytest.approx(76.8)


def test_neuron_costs_by_kind():
    assert neuron_cost(LIF(), 10) == NeuronCost(1.0, 1.0)
    assert neuron_cost(LIF(reset="none"), 10) == NeuronCost(1.0, 0.0)
    assert neuron_cost(TCLIF(), 10) == NeuronCost(2.0, 2.0)
    assert neuron_cost(PMSN(4, compartments=5), 10) == NeuronCost(5.0, 1.0)
    assert neuron_cost(NoResetPMSN(4, compartments=9), 10) == NeuronCost(9.0, 0.0)
    assert neuron_cost(PSN(T=16), 16) == NeuronCost(16.0, 0.0)
    assert neuron_cost(MaskedPSN(T=16, order=4), 16) == NeuronCost(4.0, 0.0)
    assert neuron_cost(SlidingPSN(order=3), 16) == NeuronCost(3.0, 0.0)
    assert neuron_cost(IF(), 10) == NeuronCost(1.0, 1.0) and neuron_cost(IF(reset="none"), 10) == NeuronCost(1.0, 0.0)
    assert neuron_cost(KLIF(), 10) == NeuronCost(2.0, 1.0) and neuron_cost(KLIF(reset="none"), 10) == NeuronCost(2.0, 0.0)
    assert neuron_cost(GLIF(channels=4), 10) == NeuronCost(2.0, 1.0)


@pytest.mark.parametrize("neuron", ["if", "klif", "glif"])
def test_energy_of_networks_with_the_newer_baselines(neuron):
    torch.manual_seed(0)
    model = build_model("tclif_ff", neuron=neuron, preset="smnist_large", num_classes=10, hidden=[8, 8, 8],
                        input_size=1, T=12)
    result = measure_energy(model, [torch.rand(3, 12, 1) * 4])
    spiking = [row for row in result["layers"] if "firing_rate" in row]
    assert len(spiking) == 3 and result["total"]["energy_nj_per_sample"] > 0


@pytest.mark.parametrize("bad", [dict(input_rate=-0.1), dict(output_rate=float("nan")), dict(fan_in=-1)])
def test_bad_layer_raises(bad):
    spec = dict(name="x", fan_in=2, neurons=2, input_rate=0.5, output_rate=0.5, cost=NeuronCost(1, 1))
    with pytest.raises(ValueError, match="layer 'x'"):
        layer_operations(LayerSpec(**{**spec, **bad}))
    with pytest.raises(ValueError, match="unknown neuron kind"):
        neuron_cost_by_name("gru")


class _TinyNet(nn.Module):
    """Linear(3→4) → LIF → Linear(4→2), batch-first input [B, T, 3]."""

    def __init__(self):
        super().__init__()
        self.hidden, self.neuron, self.readout = nn.Linear(3, 4), LIF(tau=2.0, reset="soft"), nn.Linear(4, 2)

    def forward(self, x):
        spikes = self.neuron(self.hidden(x.transpose(0, 1)))
        return self.readout(spikes).mean(0)


def test_measurement_matches_counts_from_the_spikes():
    torch.manual_seed(0)
    model = _TinyNet()
    with torch.no_grad():
        model.hidden.weight.fill_(1.0)
    x = torch.rand(5, 7, 3)  # B = 5, T = 7
    with torch.no_grad():
        spikes = model.neuron(model.hidden(x.transpose(0, 1)))
    rate = spikes.mean().item()
    assert 0.0 < rate < 1.0
    result = measure_energy(model, [(x, None)])
    rows = {row["layer"]: row for row in result["layers"]}
    assert result["steps"] == 7 and result["samples"] == 5
    assert rows["neuron"]["firing_rate"] == pytest.approx(rate)
    assert rows["neuron"]["neuronal_mac"] == 4 and rows["neuron"]["neuronal_ac"] == pytest.approx(4 * rate)
    assert rows["hidden"]["synaptic_mac"] == 12 and rows["hidden"]["synaptic_ac"] == 0  # real-valued input
    assert rows["readout"]["synaptic_ac"] == pytest.approx(spikes.sum().item() * 2 / 35)  # spikes × fan-out
    total = sum(row["energy_pj"] for row in result["layers"])
    assert result["total"]["energy_pj"] == pytest.approx(total)
    assert result["total"]["energy_nj_per_sample"] == pytest.approx(total * 7 / 1000)
    assert torch.allclose(rows["neuron"]["neuron_rates"], spikes.mean((0, 1)))


def test_step_mode_neurons_of_recurrent_nets_are_counted():
    torch.manual_seed(0)
    model = build_model("tclif_rec", hidden=(4, 6, 6), T=12)
    result = measure_energy(model, [torch.rand(3, 12, 1) * 4])
    neurons = [row for row in result["layers"] if "firing_rate" in row]
    assert result["steps"] == 12 and len(neurons) == 3
    assert [row["neurons"] for row in neurons] == [4, 6, 6]
    assert all(row["neuronal_mac"] == 2 * row["neurons"] for row in neurons)  # TC-LIF: 2 MAC / neuron / step
    recurrent = [row for row in result["layers"] if row["layer"].endswith("recurrent")]
    assert len(recurrent) == 2 and all(row["input"] == "spikes" for row in recurrent)
    assert E_AC_PJ == 0.9 and E_MAC_PJ == 4.6


def test_cli_energy(tmp_path, capsys):
    from pmsn.cli import main

    assert main(["bench", "energy", "--paper-table"]) == 0
    assert "28.18" in capsys.readouterr().out
    out = tmp_path / "energy"
    assert main(["bench", "energy", "smnist5k", "--set", "data.options.resolution=7", "--set",
                 "model.options.width=4", "--set", "model.options.depth=1", "--batch-size", "4", "--out",
                 str(out)]) == 0
    text = (out / "energy.csv").read_text()
    assert text.startswith("layer,kind,neurons,firing_rate") and "stage.neurons.0,pmsn,4," in text
    assert main(["bench", "energy", str(tmp_path / "missing")]) == 2
    assert "pmsn bench: error: expected a checkpoint" in capsys.readouterr().err


def test_padded_batches_count_only_valid_steps():
    """A padded batch with garbage after each sequence's length counts what the sequences count run alone
    (docs/variable_length.md §1): the single runs are an independent reference, stepped recurrent layers included."""
    torch.manual_seed(0)
    model = build_model("tclif_rec", hidden=(4, 6, 6), T=12)
    lengths = torch.tensor([12, 5, 9, 1])
    x = torch.rand(4, 12, 1) * 4
    padded = x.clone()
    for b, length in enumerate(lengths.tolist()):
        padded[b, length:] = 50.0  # large inputs: counted padding would fire every neuron
    result = measure_energy(model, [(padded, torch.zeros(4), lengths)])
    alone = [measure_energy(model, [x[b:b + 1, :length]]) for b, length in enumerate(lengths.tolist())]
    assert result["samples"] == 4 and result["steps"] == 12 and result["mean_steps"] == pytest.approx(27 / 4)
    weights = lengths.double() / lengths.sum()  # each single run is normalised per its own steps
    for index, row in enumerate(result["layers"]):
        for key in ("synaptic_ac", "synaptic_mac", "neuronal_ac", "neuronal_mac", "firing_rate"):
            if row.get(key) is None:
                continue
            expected = sum(float(w) * single["layers"][index][key] for w, single in zip(weights, alone))
            assert row[key] == pytest.approx(expected), (row["layer"], key)
    mean_energy = sum(single["total"]["energy_nj_per_sample"] for single in alone) / 4
    assert result["total"]["energy_nj_per_sample"] == pytest.approx(mean_energy)
    unmasked = measure_energy(model, [(padded, torch.zeros(4))])  # the same batch read as 12 steps each
    assert unmasked["total"]["energy_nj_per_sample"] > 1.5 * result["total"]["energy_nj_per_sample"]
