"""PMSN dynamics figures: inputs, the per-mode responses against the kernel, files written and valid."""

import pytest
import torch

from pmsn.neurons import PMSN
from pmsn.plot import layer_response, make_input, modal_eigenvalues, mode_impulse_responses, plot_dynamics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_inputs():
    step = make_input("step", steps=20, gain=2.0)
    assert step[:2].sum() == 0 and torch.all(step[2:] == 2.0)
    impulse = make_input("impulse", steps=10)
    assert impulse[0] == 1 and impulse[1:].abs().sum() == 0
    sine = make_input("sine", steps=100, period=25)
    assert sine.min() >= 0 and sine.max() <= 1 and torch.isclose(sine[0], sine[25], atol=1e-5)
    digit = make_input("digit", resolution=7)
    assert digit.shape == (49,) and 0 <= digit.min() and digit.max() <= 1
    with pytest.raises(ValueError, match="input must be one of"):
        make_input("noise")
    with pytest.raises(ValueError, match="digit_index"):
        make_input("digit", digit_index=10**6)


def test_mode_responses_sum_to_the_kernel_and_eigenvalues():
    torch.manual_seed(0)
    neuron = PMSN(channels=3, compartments=5)
    responses = mode_impulse_responses(neuron, 30)
    assert responses.shape == (30, 3, 4)
    assert torch.allclose(responses.sum(-1), neuron.kernel(30, torch.float64), atol=1e-10)
    eigen = modal_eigenvalues(neuron)
    dt = torch.exp(neuron.log_dt.double()).unsqueeze(-1)
    assert torch.allclose(eigen.real, -0.5 * dt, atol=1e-6)  # Re λ = −0.5 at init (docs/pmsn.md §2.1)
    omega = sorted(neuron.A_imag[0].tolist())
    assert omega == pytest.approx([-18.251408, -4.109272, 4.109272, 18.251408], abs=1e-4)


def test_layer_response_traces_agree_with_the_neuron():
    torch.manual_seed(0)
    neuron = PMSN(channels=4)
    current = make_input("step", steps=40, gain=3.0)
    response = layer_response(neuron, current)
    spikes = neuron(current.view(40, 1, 1).expand(40, 1, 4).contiguous().double())
    assert torch.equal(response.spikes, spikes[:, 0].float())
    assert response.hidden.shape == (40, 4, 4)
    with pytest.raises(ValueError, match="current must be"):
        layer_response(neuron, torch.zeros(40, 3))


def _valid(path):
    data = path.read_bytes()
    return data.startswith(PNG_MAGIC) if path.suffix == ".png" else b"<svg" in data[:2000]


def test_plot_dynamics_fresh_layer_writes_png_and_svg(tmp_path):
    paths = plot_dynamics(tmp_path, input_kind="sine", channels=4, steps=60)
    assert sorted(p.name for p in paths) == ["dynamics.png", "dynamics.svg", "modes.png", "modes.svg"]
    assert all(p.stat().st_size > 1000 and _valid(p) for p in paths)


def test_plot_dynamics_from_a_checkpoint_with_a_digit(tmp_path):
    from pmsn.cli import main

    runs = tmp_path / "runs"
    assert main(["train", "--quiet", "--set", "data.options.resolution=7", "--set", "data.limit_train=32",
                 "--set", "data.limit_test=16", "--set", "model.options.width=4", "--set", "model.options.depth=2",
                 "--set", "epochs=1", "--set", "batch_size=16", "--set", "device=cpu", "--set", f"out={runs}",
                 "--set", "name=tiny"]) == 0
    out = tmp_path / "figures"
    assert main(["plot", "dynamics", "--checkpoint", str(runs / "tiny"), "--layer", "1", "--input", "digit",
                 "--resolution", "7", "--formats", "png", "--out", str(out)]) == 0
    assert _valid(out / "dynamics.png") and _valid(out / "modes.png") and _valid(out / "layers.png")
    svg = plot_dynamics(tmp_path / "svg", checkpoint=runs / "tiny", steps=20, formats=("svg",))[-1]
    assert svg.name == "layers.svg" and "layer 2" in svg.read_text()  # PMSN Fig. 7: one row per PMSN layer
    assert "layer 3" not in svg.read_text()
    with pytest.raises(ValueError, match="layer must be in"):
        plot_dynamics(out, checkpoint=runs / "tiny", layer=5)


def test_plot_dynamics_command_impulse_input(tmp_path):
    from pmsn.cli import main

    assert main(["plot", "dynamics", "--input", "impulse", "--steps", "40", "--channels", "4", "--out",
                 str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["dynamics.png", "dynamics.svg", "modes.png", "modes.svg"]  # no checkpoint: no layers figure
    assert all(_valid(tmp_path / name) and (tmp_path / name).stat().st_size > 1000 for name in written)
    assert "impulse input" in (tmp_path / "dynamics.svg").read_text()


def test_plot_dynamics_command_pretrained_network(tmp_path):
    from pmsn.cli import main
    from pmsn.train.build import load_run, pretrained

    model, _, _ = load_run(pretrained())
    layers = sum(isinstance(module, PMSN) for module in model.modules())
    assert main(["plot", "dynamics", "--pretrained", "--input", "digit", "--resolution", "7", "--formats", "svg",
                 "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dynamics.svg", "layers.svg", "modes.svg"]
    assert all(_valid(tmp_path / name) for name in ("dynamics.svg", "layers.svg", "modes.svg"))
    layers_svg = (tmp_path / "layers.svg").read_text()  # one row per PMSN layer of the shipped net (PMSN Fig. 7)
    assert layers >= 2 and f"layer {layers}" in layers_svg and f"layer {layers + 1}" not in layers_svg
    assert main(["plot", "dynamics", "--pretrained", "--checkpoint", str(pretrained()), "--out",
                 str(tmp_path / "both")]) == 2
