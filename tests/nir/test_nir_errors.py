"""Everything NIR cannot carry exactly is refused in one line naming the layer or node and why, before anything is
written (docs/nir.md §5)."""

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from pmsn.models import build_model  # noqa: E402
from pmsn.neurons import KLIF, LIF, PMSN, TCLIF, build_pmsn  # noqa: E402
from pmsn.nir import SpikingSequential, load, save, to_nir  # noqa: E402


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


EXPORT_REFUSALS = {
    "batch norm": (lambda: SpikingSequential(nn.Linear(3, 4), nn.BatchNorm1d(4), LIF()), None,
                   r"'1' \(BatchNorm1d\) cannot be exported to NIR: batch norm"),
    "max pool": (lambda: SpikingSequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), LIF()), (1, 6, 6),
                 r"'1' \(MaxPool2d\).*no max-pooling"),
    "soft reset": (lambda: nn.Sequential(nn.Linear(3, 4), LIF(reset="soft")), None,
                   r"'1' \(LIF, reset='soft'\).*hard reset"),
    "no reset": (lambda: nn.Sequential(nn.Linear(3, 4), LIF(reset="none")), None, r"reset='none'"),
    "v_reset": (lambda: nn.Sequential(nn.Linear(3, 4), LIF(v_reset=-0.5)), None, r"v_reset must be 0.*got -0.5"),
    "tclif neuron": (lambda: nn.Sequential(nn.Linear(3, 4), TCLIF()), None, r"'1' \(TCLIF\): no NIR neuron"),
    "klif neuron": (lambda: nn.Sequential(nn.Linear(3, 4), KLIF()), None, r"'1' \(KLIF\): no NIR neuron"),
    "pmsn": (lambda: nn.Sequential(nn.Linear(3, 4), PMSN(4)), None, r"'1' \(PMSN\).*soma.*docs/nir.md §6"),
    "pmsn variant": (lambda: nn.Sequential(nn.Linear(3, 4), build_pmsn(4, soma_mode="serial_soft")), None,
                     r"'1' \(SoftResetPMSN, a PMSN ablation variant\).*docs/nir.md §6"),
    "recurrent tclif": (lambda: build_model("tclif_rec", num_classes=3, preset="smnist_small", hidden=(4, 4, 4),
                                            T=8),
                        None, r"'layers.0.neuron' \(TCLIF\): no NIR neuron"),
    "residual net": (lambda: build_model("pmsn_smnist", neuron="lif", num_classes=3, width=8, depth=2, T=8), None,
                     r"BatchNorm1d|not a chain"),
    "conv without input shape": (lambda: SpikingSequential(nn.Conv2d(1, 2, 3), LIF()), None,
                                 r"first layer '0' \(Conv2d\).*pass input_shape"),
    "flatten the batch": (lambda: SpikingSequential(nn.Linear(3, 4), LIF(), nn.Flatten(0)), None,
                          r"Flatten, start_dim=0"),
    "linear on images": (lambda: SpikingSequential(nn.Conv2d(1, 2, 3), LIF(), nn.Linear(4, 3)), (1, 6, 6),
                         r"'2' \(Linear\).*flatten first"),
    "mismatched input": (lambda: SpikingSequential(nn.Conv2d(3, 2, 3), LIF()), (1, 6, 6),
                         r"'0' \(Conv2d\) does not accept per-step input of shape \(1, 6, 6\)"),
    "unknown layer": (lambda: SpikingSequential(nn.Linear(3, 4), nn.GELU()), None,
                      r"'1' \(GELU\).*not a chain"),
}


@pytest.mark.parametrize("case", sorted(EXPORT_REFUSALS))
def test_export_refuses_in_one_line_and_writes_nothing(tmp_path, case):
    builder, shape, message = EXPORT_REFUSALS[case]
    target = tmp_path / "net.nir"
    with pytest.raises(ValueError) as error:
        save(builder(), target, input_shape=shape)
    assert __import__("re").search(message, one_line(error)), one_line(error)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("dt", [0, -1e-3, float("nan"), "1ms"])
def test_export_refuses_a_bad_dt(dt):
    with pytest.raises(ValueError, match="dt must be a finite number > 0"):
        to_nir(nn.Sequential(nn.Linear(3, 4), LIF()), dt=dt)


def test_export_refuses_a_bad_input_shape():
    with pytest.raises(ValueError, match=r"input_shape must be .*got \(3, -1\)"):
        to_nir(nn.Sequential(nn.Linear(3, 4), LIF()), input_shape=(3, -1))


def lif(n, **overrides):
    fields = dict(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    fields.update(overrides)
    return nir.LIF(**fields)


def chain(*nodes, metadata=None):
    named = {"in": nir.Input(input_type=np.array([3])), **{f"n{i}": node for i, node in enumerate(nodes)},
             "out": nir.Output(output_type=np.array([4]))}
    names = list(named)
    return nir.NIRGraph(nodes=named, edges=list(zip(names, names[1:])), metadata=metadata or {"dt": 1e-3},
                        type_check=False)


AFFINE = nir.Affine(weight=np.ones((4, 3)), bias=np.zeros(4))

def looped(feed):
    """Input(4) → feed → LIF with a recurrent Affine loop → Output."""
    nodes = {"in": nir.Input(input_type=np.array([4])), "feed": feed, "lif": lif(4),
             "loop": nir.Affine(weight=np.eye(4), bias=np.zeros(4)), "out": nir.Output(output_type=np.array([4]))}
    edges = [("in", "feed"), ("feed", "lif"), ("lif", "loop"), ("loop", "lif"), ("lif", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3}, type_check=False)


IMPORT_REFUSALS = {
    "loop after a scale": (lambda: looped(nir.Scale(scale=np.ones(4))),
                           r"'lif' \(LIF\) has a recurrent loop through 'loop'; pmsn imports one only around a "
                           r"neuron fed straight by an Affine"),
    "cycle without an affine": (lambda: nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([4])), "a": nir.Affine(weight=np.eye(4), bias=np.zeros(4)),
               "b": nir.Scale(scale=np.ones(4)), "out": nir.Output(output_type=np.array([4]))},
        edges=[("in", "a"), ("a", "b"), ("b", "a"), ("b", "out")], type_check=False),
        r"edge \('b', 'out'\) branches|reached twice"),
    "unsupported node": (lambda: chain(AFFINE, nir.CubaLIF(tau_syn=np.ones(4), tau_mem=np.ones(4), r=np.ones(4),
                                                           v_leak=np.zeros(4), v_threshold=np.ones(4))),
                         r"'n1' \(CubaLIF\) has no pmsn import"),
    "LI node": (lambda: chain(AFFINE, nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4))),
                r"'n1' \(LI\) has no pmsn"),
    "IF threshold per neuron": (lambda: chain(AFFINE, nir.IF(r=np.ones(4), v_threshold=np.arange(1.0, 5.0))),
                                r"'n1' \(IF\): pmsn neurons share v_threshold over a layer, got 4 different"),
    "tau per neuron": (lambda: chain(AFFINE, lif(4, tau=np.array([2e-3, 2e-3, 3e-3, 2e-3]))),
                       r"'n1' \(LIF\): pmsn neurons share tau over a layer, got 2 different values"),
    "v_reset": (lambda: chain(AFFINE, lif(4, v_reset=np.full(4, -0.2))), r"'n1' \(LIF\).*v_reset = 0.*got -0.2"),
    "tau below dt": (lambda: chain(AFFINE, lif(4, tau=np.full(4, 5e-4))), r"tau/dt must be >= 1.*tau=0.0005"),
    "no dt": (lambda: chain(AFFINE, lif(4), metadata={"source": "elsewhere"}), r"stores no dt.*pass dt="),
    "bad stored dt": (lambda: chain(AFFINE, lif(4), metadata={"dt": "fast"}),
                      r"dt must be a finite number > 0, got 'fast'"),
    "branch": (lambda: nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([3])), "a": AFFINE,
                                           "b": nir.Affine(weight=np.ones((4, 3)), bias=np.zeros(4)),
                                           "out": nir.Output(output_type=np.array([4]))},
                                    edges=[("in", "a"), ("in", "b"), ("a", "out"), ("b", "out")],
                                    type_check=False),
               r"one chain of nodes .*; edge \('in', 'b'\) branches"),
    "two inputs": (lambda: nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([3])),
                                               "in2": nir.Input(input_type=np.array([3])), "a": AFFINE,
                                               "out": nir.Output(output_type=np.array([4]))},
                                        edges=[("in", "a"), ("a", "out")], type_check=False),
                   r"one Input and one Output"),
    "stray node": (lambda: nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([3])), "a": AFFINE,
                                               "x": nir.Affine(weight=np.ones((4, 4)), bias=np.zeros(4)),
                                               "out": nir.Output(output_type=np.array([4]))},
                                        edges=[("in", "a"), ("a", "out")], type_check=False),
                   r"the chain has 1 of the 2 other nodes"),
}


@pytest.mark.parametrize("case", sorted(IMPORT_REFUSALS))
def test_import_refuses_in_one_line(case):
    builder, message = IMPORT_REFUSALS[case]
    with pytest.raises(ValueError) as error:
        load(builder())
    assert __import__("re").search(message, one_line(error)), one_line(error)


def test_import_of_a_file_that_is_not_nir(tmp_path):
    text = tmp_path / "notes.nir"
    text.write_text("not an HDF5 file")
    with pytest.raises(ValueError, match=r"notes.nir is not a readable NIR graph") as error:
        load(text)
    one_line(error)
    checkpoint = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, checkpoint)
    with pytest.raises(ValueError, match=r"model.pt is not a readable NIR graph"):
        load(checkpoint)
    with pytest.raises(FileNotFoundError, match=r"no NIR file at .*missing.nir"):
        load(tmp_path / "missing.nir")
    with pytest.raises(TypeError, match=r"expects a NIR file path or a nir.NIRGraph, got dict"):
        load({"nodes": {}})
