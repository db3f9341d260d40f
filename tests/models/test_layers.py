"""Tied channel dropout, and the recurrent TC-LIF net against a hand-written loop of docs/neurons.md §3.2, §3.3."""

import torch

from pmsn.models import build_model
from pmsn.models.layers import TiedDropout


def test_tied_dropout_uses_one_mask_for_every_step():
    torch.manual_seed(0)
    dropout = TiedDropout(0.5).train()
    x = torch.ones(7, 4, 16, 3)  # [T, B, C, spatial]
    out = dropout(x)
    assert torch.equal(out, out[:1].expand_as(out))  # same mask at every t (and over the spatial dim)
    assert set(out.unique().tolist()) == {0.0, 2.0}  # kept entries scaled by 1/(1 − p)
    assert 0 < (out[0] == 0).sum() < out[0].numel()  # the mask varies over (sample, channel)
    assert torch.equal(dropout.eval()(x), x)


def test_tied_dropout_inside_the_speech_net_drops_whole_input_channels():
    torch.manual_seed(1)
    model = build_model("pmsn_shd", neuron="lif", width=8, dropout=0.5, input_size=20, pool=5).train()
    seen = {}
    model.hidden1.register_forward_pre_hook(lambda module, args: seen.setdefault("pooled", args[0]))
    model(torch.ones(3, 9, 20))  # [B, T, 700-like channels], constant over time
    pooled = seen["pooled"]  # [T, B, 4]: sums of 5 dropped-out channels, each 0 or 2
    assert torch.equal(pooled, pooled[:1].expand_as(pooled))
    assert set(pooled.unique().tolist()) <= {0.0, 2.0, 4.0, 6.0, 8.0, 10.0}


def _tclif_reference(model, x):
    """Hand-written loop: I[t] = W_in x[t] + b_in (+ W_rec S[t−1] + b_rec), TC-LIF update, readout summed."""
    batch, steps, _ = x.shape
    layer_inputs = [x[:, t] for t in range(steps)]
    for layer in model.layers:
        neuron = layer.neuron
        beta1, beta2 = -torch.sigmoid(neuron.decay[0]), torch.sigmoid(neuron.decay[1])
        width = layer.linear.out_features
        dendrite = soma = spikes = torch.zeros(batch, width, dtype=x.dtype)
        outputs = []
        for x_t in layer_inputs:
            current = x_t @ layer.linear.weight.T + layer.linear.bias
            if hasattr(layer, "recurrent"):
                current = current + spikes @ layer.recurrent.weight.T + layer.recurrent.bias
            dendrite = dendrite + beta1 * soma + current
            soma = soma + beta2 * dendrite
            spikes = (soma >= neuron.threshold).to(x.dtype)
            dendrite = dendrite - neuron.dendrite_reset * spikes
            soma = soma - neuron.threshold * spikes
            outputs.append(spikes)
        layer_inputs = outputs
    return sum(s @ model.readout.weight.T + model.readout.bias for s in layer_inputs)


def test_recurrent_tclif_net_equals_a_hand_written_loop():
    torch.manual_seed(0)
    model = build_model("tclif_rec", preset="smnist_small", hidden=(6, 5, 4), input_size=3).double().eval()
    assert [hasattr(layer, "recurrent") for layer in model.layers] == [True, True, False]
    with torch.no_grad():  # stronger weights so that every layer spikes
        for layer in model.layers:
            layer.linear.weight.mul_(6.0)
            if hasattr(layer, "recurrent"):
                layer.recurrent.weight.mul_(6.0)
    x = 3.0 * torch.rand(2, 9, 3, dtype=torch.float64)
    hidden = x.transpose(0, 1)
    for layer in model.layers:
        hidden = layer(hidden)
        assert 0.0 < hidden.mean() < 1.0
    reference = _tclif_reference(model, x)
    torch.testing.assert_close(model(x), reference)
    # the recurrence matters: without W_rec the output changes
    with torch.no_grad():
        model.layers[1].recurrent.weight.zero_()
        model.layers[1].recurrent.bias.zero_()
    assert not torch.allclose(model(x), reference)


def test_tclif_presets_set_the_neuron_hyper_parameters():
    rec = build_model("tclif_rec", preset="psmnist_large")
    neuron = rec.layers[0].neuron
    assert torch.allclose(neuron.decay, torch.tensor([-1.4, 1.4]))
    assert (neuron.threshold, neuron.dendrite_reset) == (1.8, 0.5)
    ff = build_model("tclif_ff", preset="gsc", neuron_kwargs={"threshold": 2.0})
    assert ff.layers[0].neuron.threshold == 2.0 and ff.layers[0].neuron.dendrite_reset == 0.6
    assert ff.layers[0].dropout.p == 0.3
    pmsn_column = build_model("scifar_column", neuron="pmsn")
    assert pmsn_column.neurons[0].scale == 0.2  # sCIFAR-column PMSN preset κ = 0.2
