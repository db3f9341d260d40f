"""PMSN and NIR (docs/nir.md §6): the hidden system is expressible (Euler with affine feedback equals pmsn's
zero-order hold), the soma is not: the closest NIR encoding (PMSN eq. 11) equals PMSN only while the clamp and
the mod-θ reset do nothing, and on the shipped network it computes other spikes, so export refuses."""

import pytest
import torch

nir = pytest.importorskip("nir")

from pmsn.neurons import PMSN  # noqa: E402
from pmsn.nir import to_nir  # noqa: E402
from pmsn.nir.pmsn_refusal import MEASURED, encoding_agreement, nir_encodable_twin  # noqa: E402
from pmsn.train import build_datasets, load_run  # noqa: E402
from pmsn.train.build import pretrained  # noqa: E402


def test_the_hidden_system_is_an_euler_integrator_with_affine_feedback():
    """x ← x + (Ā − 1)·x + B̄·u over 2(n − 1) real states, Y = C·x + D·u: pmsn's soma current (to rounding)."""
    torch.manual_seed(0)
    neuron = PMSN(channels=3, compartments=5).double()
    u = torch.randn(40, 2, 3, dtype=torch.float64)
    _, trace = neuron(u, return_states=True)
    decay, gain, readout = neuron.modal_system(torch.float64)  # complex [C, N]
    rotation = torch.stack([torch.stack([decay.real, -decay.imag], -1),
                            torch.stack([decay.imag, decay.real], -1)], -2)  # real 2×2 blocks of Ā
    state = torch.zeros(2, 3, decay.shape[1], 2, dtype=torch.float64)  # (Re x, Im x) per mode
    currents = []
    for u_t in u:
        feedback = (rotation @ state.unsqueeze(-1)).squeeze(-1) - state  # the affine feedback (Ā − 1)·x
        drive = torch.stack([gain.real, gain.imag], -1) * u_t[..., None, None]  # B̄·u
        state = state + feedback + drive  # one Euler step of dx/dt = r·input with r = 1/dt
        currents.append((readout.real * state[..., 0] - readout.imag * state[..., 1]).sum(-1) + neuron.D * u_t)
    torch.testing.assert_close(torch.stack(currents), trace.current, rtol=1e-10, atol=1e-12)


def soma_only(threshold=1.0):
    """A PMSN whose soma current is its input: hidden readout 0, skip D = 1 (so Y = u)."""
    neuron = PMSN(channels=4, compartments=2, threshold=threshold).double()
    with torch.no_grad():
        neuron.CV_real.zero_(), neuron.CV_imag.zero_(), neuron.D.fill_(1.0)
    return neuron


def test_the_encoding_equals_pmsn_while_clamp_and_modulo_do_nothing():
    torch.manual_seed(1)
    neuron = soma_only()
    twin = nir_encodable_twin(neuron).double()
    in_range = torch.rand(60, 3, 4, dtype=torch.float64) * 0.999  # drive in [0, θ): v < 2θ, no clamp
    spikes = neuron(in_range)
    assert 0.1 < spikes.mean() < 0.9
    torch.testing.assert_close(twin(in_range), spikes, rtol=0, atol=0)
    negative = in_range.clone()
    negative[10::7] = -2.0  # the clamp: PMSN ignores negative drive, the integrator keeps it
    assert not torch.equal(twin(negative), neuron(negative))
    large = in_range.clone()
    large[5] = 2.5  # v ≥ 2θ: PMSN drops every whole θ, the integrator one θ per step
    assert not torch.equal(twin(large), neuron(large))


@pytest.fixture(scope="module")
def shipped():
    model, config, _ = load_run(pretrained())
    digits = build_datasets(config, ("test",))["test"]
    return model.eval(), torch.stack([digits[i][0] for i in range(12)])


def test_on_the_shipped_network_the_encoding_computes_other_spikes(shipped):
    model, x = shipped
    agreement = encoding_agreement(model, x)
    layers = agreement["layers"]
    assert sorted(layers) == [f"stage.neurons.{i}" for i in range(4)]
    for name, layer in layers.items():  # docs/nir.md §6.2: 86-93 % equal entries, 10-48 % of PMSN's spikes kept
        assert 0.5 < layer["equal"] < 0.99 and layer["kept"] < 0.8, (name, layer)
        assert layer["encoding_rate"] < layer["pmsn_rate"], (name, layer)  # negative drive silences the encoding
    assert 0.0 <= agreement["predictions"] <= 1.0


def test_export_of_the_shipped_network_is_refused_with_the_measured_gap(shipped):
    model, _ = shipped
    with pytest.raises(ValueError) as error:
        to_nir(model)
    message = str(error.value)
    assert "\n" not in message and message.startswith("layer 'stage.neurons.0' (PMSN) cannot be exported to NIR")
    assert MEASURED in message and "docs/nir.md §6" in message
