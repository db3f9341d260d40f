"""ONNX streaming export (docs/onnx.md): onnxruntime stepping over a sequence equals the neuron's ``step`` loop and
the parallel forward, for every causal neuron and for the shipped network; non-causal neurons are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pmsn.cli import main
from pmsn.export.onnx import export_onnx, fresh_state
from pmsn.export.streaming import NEXT, StreamingStep
from pmsn.models import build_model
from pmsn.models.layers import SpikingClassifier
from pmsn.neurons import ALIF, LIF, PLIF, TCLIF, MaskedPSN, SlidingPSN, build_neuron
from pmsn.train.build import build_datasets, load_run, pretrained

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

CHANNELS, STEPS = 6, 16


def _neurons() -> dict[str, nn.Module]:
    """Every causal neuron, with settings that exercise the state (a full sliding window, a non-zero V_reset)."""
    torch.manual_seed(0)
    return {"pmsn": build_neuron("pmsn", CHANNELS),
            "pmsn_soft_reset": build_neuron("pmsn", CHANNELS, soma_mode="serial_soft"),
            "lif": LIF(), "lif_v_reset": LIF(v_reset=-0.3, surrogate="triangle"), "plif": PLIF(tau_init=3.0),
            "alif": ALIF(CHANNELS), "tclif": TCLIF(CHANNELS, beta_sharing="channel"),
            "sliding_psn": SlidingPSN(order=5, exp_init=False),
            "masked_psn": MaskedPSN(T=STEPS, order=5, threshold=0.0)}


class NeuronBank(SpikingClassifier):
    """The neurons side by side on the same input; the 'logits' of a step are their spikes, concatenated."""

    def __init__(self, neurons: dict[str, nn.Module]):
        super().__init__()
        self.bank = nn.ModuleDict(neurons)

    def per_step_logits(self, x, lengths=None):
        return torch.cat([neuron(x) for neuron in self.bank.values()], dim=-1)


def _run_session(session, x: np.ndarray) -> list[dict]:
    """Step an exported model over ``x`` ``[T, B, ...]`` from its fresh state; the outputs of every step."""
    state = fresh_state(session, x.shape[1])
    names = [entry.name for entry in session.get_outputs()]
    steps = []
    for x_t in x:
        outputs = dict(zip(names, session.run(None, {"x": x_t, **state})))
        state = {name: outputs[NEXT + name] for name in state}
        steps.append(outputs)
    return steps


@pytest.fixture(scope="module")
def bank_session(tmp_path_factory):
    bank = NeuronBank(_neurons()).eval()
    path = export_onnx(bank, None, tmp_path_factory.mktemp("bank") / "bank.onnx", features=(CHANNELS,))
    return bank, ort.InferenceSession(str(path))


def test_every_causal_neuron_streams_in_onnxruntime_as_step_and_parallel(bank_session):
    bank, session = bank_session
    torch.manual_seed(1)
    x = torch.randn(STEPS, 3, CHANNELS) * 1.5 + 0.4  # batch 3: the graph was traced at batch 2
    steps = _run_session(session, x.numpy())
    streamed = torch.from_numpy(np.stack([step["step_logits"] for step in steps])).split(CHANNELS, dim=-1)
    with torch.no_grad():
        for (name, neuron), spikes in zip(bank.bank.items(), streamed):
            state, serial = None, []
            for x_t in x:
                s_t, state = neuron.step(x_t, state)
                serial.append(s_t)
            assert 0.05 < float(spikes.mean()) < 0.95, (name, float(spikes.mean()))  # the comparison sees spikes and silence
            assert torch.equal(spikes, torch.stack(serial)), name
            assert torch.equal(spikes, neuron(x)), name
    assert int(steps[-1][NEXT + "time"]) == STEPS


def test_state_inputs_are_declared_in_order_with_their_start_values(bank_session):
    bank, session = bank_session
    stream = StreamingStep(bank, (CHANNELS,))
    assert [entry.name for entry in session.get_inputs()] == ["x", *stream.state_names]
    assert [entry.name for entry in session.get_outputs()] == ["logits", "step_logits",
                                                              *(NEXT + name for name in stream.state_names)]
    state = fresh_state(session, 4)
    for name, value in zip(stream.state_names, stream.fresh_state(4)):
        np.testing.assert_array_equal(state[name], value.numpy(), err_msg=name)
    assert state["bank.lif_v_reset.membrane"].min() == np.float32(-0.3)  # not every state starts at 0
    assert state["bank.alif.adaptation"].min() == np.float32(0.01)
    assert state["bank.pmsn.hidden_real"].shape == (4, CHANNELS, 4)  # the complex modes as (real, imaginary)
    assert state["bank.sliding_psn.history"].shape == (4, 4, CHANNELS)  # the last k − 1 inputs


def test_a_bare_neuron_exports_its_spikes(tmp_path):
    torch.manual_seed(2)
    neuron = build_neuron("pmsn", CHANNELS, compartments=3).eval()
    session = ort.InferenceSession(str(export_onnx(neuron, None, tmp_path / "pmsn.onnx")))
    assert [entry.name for entry in session.get_inputs()] == ["x", "time", "neuron.hidden_real",
                                                              "neuron.hidden_imag", "neuron.soma"]
    x = torch.randn(STEPS, 2, CHANNELS) * 2
    spikes = np.stack([step["spikes"] for step in _run_session(session, x.numpy())])
    with torch.no_grad():
        expected = neuron(x).numpy()
    assert 0 < expected.mean() < 1
    np.testing.assert_array_equal(spikes, expected)


def _random_batch_norms(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics, so that a per-step batch norm that ignored them would show."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("name, neuron, options, shape", [
    ("tclif_rec", "tclif", dict(preset="smnist_small", hidden=(8, 8, 8), T=20), (3, 20, 1)),
    ("tclif_rec", "alif", dict(preset="shd", hidden=(8, 8), T=20), (3, 20, 700)),
    ("tclif_ff", "sliding_psn", dict(preset="gsc", hidden=(8, 8), T=20), (3, 20, 40)),
    ("scifar_column", "pmsn", dict(width=8, T=12, rows=8, neuron_kwargs={"scale": 1.0}), (3, 12, 3, 8)),
    ("scifar_column", "lif", dict(width=8, T=6, rows=8), (3, 6, 3, 8)),
    ("pmsn_shd", "masked_psn", dict(width=8, T=20), (3, 20, 700)),
    ("pmsn_scifar_pixel", "pmsn", dict(width=8, T=20, depth=2), (3, 20, 3)),
    ("pmsn_smnist", "plif", dict(width=8, T=20, depth=2), (3, 20, 1)),
])
def test_the_step_of_every_sequence_network_equals_its_forward(name, neuron, options, shape):
    torch.manual_seed(3)
    model = _random_batch_norms(build_model(name, neuron=neuron, **options))
    x = torch.rand(shape) * 8
    stream = StreamingStep(model)
    state, per_step = stream.fresh_state(shape[0]), []
    with torch.no_grad():
        for x_t in x.transpose(0, 1):
            logits, step_logits, *state = stream(x_t, *state)
            per_step.append(step_logits)
        expected_per_step, expected = model(x, per_step=True), model(x)
    assert expected_per_step.std() > 0  # the readout depends on the input
    torch.testing.assert_close(torch.stack(per_step), expected_per_step, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)  # running mean (TC-LIF: sum)


@pytest.fixture(scope="module")
def pretrained_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model.onnx"
    return out, main(["export", "onnx", "--pretrained", "--out", str(out)])


def test_cli_exports_the_shipped_network(pretrained_export):
    out, status = pretrained_export
    assert status == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)  # valid at the IR and opset it declares
    assert (proto.ir_version, proto.opset_import[0].version) == (8, 18)
    session = ort.InferenceSession(str(out))
    metadata = session.get_modelmeta().custom_metadata_map
    assert (metadata["pmsn.model"], metadata["pmsn.neuron"], metadata["pmsn.readout"]) == ("pmsn_smnist", "pmsn",
                                                                                            "mean")


def test_the_shipped_network_streams_in_onnxruntime_as_its_forward(pretrained_export):
    out, _ = pretrained_export
    model, config, _ = load_run(pretrained(), flags={"device": "cpu"})
    model.eval()
    test_set = build_datasets(config, splits=("test",))["test"]
    x = torch.stack([test_set[i][0] for i in range(8)]).float()  # [B, T, 1]: 8 real digits
    steps = _run_session(ort.InferenceSession(str(out)), x.transpose(0, 1).numpy())
    with torch.no_grad():
        expected_per_step, expected = model(x, per_step=True), model(x)
    per_step = torch.from_numpy(np.stack([step["step_logits"] for step in steps]))
    logits = torch.from_numpy(steps[-1]["logits"])
    torch.testing.assert_close(per_step, expected_per_step, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(logits.argmax(-1), expected.argmax(-1))


@pytest.mark.parametrize("make, message", [
    (lambda: build_model("pmsn_smnist", neuron="psn", T=8, width=8, depth=1), "cannot stream PSN"),
    (lambda: MaskedPSN(T=8, order=4, mask_lambda=0.5), "mask_lambda = 0.5 < 1"),
    (lambda: build_neuron("pmsn", 4, global_mode="sum"), "cannot stream GlobalPMSN"),
    (lambda: build_model("sew_resnet18", neuron="lif", width_divisor=16, num_classes=10, T=2),
     "cannot stream SEWResNet"),
])
def test_non_causal_networks_are_refused_before_anything_is_written(make, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        export_onnx(make().eval(), None, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_a_network_in_training_mode_is_refused():
    with pytest.raises(ValueError, match="training mode"):
        StreamingStep(build_model("pmsn_smnist", width=8, depth=1, T=8))


def test_cli_bad_source_is_one_error_line(tmp_path, capsys):
    assert main(["export", "onnx", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert main(["export", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2  # neither a source nor --pretrained
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("pmsn export: error: ") for line in errors)
    assert not (tmp_path / "m.onnx").exists()


def test_fresh_state_wants_a_positive_batch(bank_session):
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        fresh_state(bank_session[1], 0)
