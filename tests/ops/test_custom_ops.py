"""The fused CPU kernels as ``torch.library`` custom ops (``pmsn::*``; docs/kernels.md §3, §4):
``torch.library.opcheck`` on every op (schema, fake kernel, autograd registration, AOT dispatch), and every
neuron's default CPU path under ``torch.compile(fullgraph=True)`` (no graph break, same spikes and gradients as
eager) and ``torch.export.export`` (same spikes as eager). Tiny shapes: compiling dominates the time."""

import math

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from pmsn.neurons import build_neuron
from pmsn.ops import fused_cpu, fused_leaky
from pmsn.surrogate import ATan, Triangle

pytestmark = pytest.mark.skipif(not (fused_cpu.fused_available() and fused_leaky.fused_leaky_available()),
                                reason="the fused C++ CPU kernels could not be built here")

NEURONS = ["lif", "plif", "if", "klif", "glif", "alif", "tclif", "psn", "masked_psn", "sliding_psn", "pmsn"]
T, B, C = 9, 2, 3


def make_neuron(name: str):
    torch.manual_seed(0)
    neuron = build_neuron(name, C, T=T, **({"order": 4} if name in ("masked_psn", "sliding_psn") else {}))
    return neuron.double()


def make_input(seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, C, 2, generator=generator, dtype=torch.float64) * 1.5 + 0.6


# ------------------------------------------------------------------------------------------------ opcheck
def pmsn_case(requires_grad: bool):
    generator = torch.Generator().manual_seed(0)
    u = torch.randn(5, 2, 3, 2, generator=generator, dtype=torch.float64) + 0.5
    abar_re = 0.9 * torch.rand(3, 2, generator=generator, dtype=torch.float64)
    abar_im = 0.3 * torch.rand(3, 2, generator=generator, dtype=torch.float64)
    residue_re, residue_im = torch.randn(2, 3, 2, generator=generator, dtype=torch.float64)
    skip = torch.randn(3, generator=generator, dtype=torch.float64)
    tensors = [t.requires_grad_(requires_grad) for t in (u, abar_re, abar_im, residue_re, residue_im, skip)]
    return tensors


@pytest.mark.parametrize("training", [True, False], ids=["train", "infer"])
def test_opcheck_pmsn_sweep_forward(training):
    tensors = pmsn_case(training)
    args = (*tensors, 1.0, 1.5, 1.0, False, False, fused_cpu._BLOCK if training else 0)
    torch.library.opcheck(torch.ops.pmsn.pmsn_sweep_forward.default, args)


@pytest.mark.parametrize("need", [(True, True), (True, False), (False, True)], ids=["all", "u", "params"])
def test_opcheck_pmsn_sweep_backward(need):
    tensors = pmsn_case(False)
    _, checkpoints = torch.ops.pmsn.pmsn_sweep_forward(*tensors, 1.0, 1.5, 1.0, False, False, fused_cpu._BLOCK)
    grad = torch.randn(tensors[0].shape, dtype=torch.float64)
    args = (grad, *tensors, checkpoints, 1.0, 1.5, 1.0, True, fused_cpu._BLOCK, *need)
    torch.library.opcheck(torch.ops.pmsn.pmsn_sweep_backward.default, args)


def leaky_settings(surrogate):
    kind, params = fused_leaky.surrogate_code(surrogate)
    return 1.0, "soft", 0.0, 0.0, True, False, False, kind, params


@pytest.mark.parametrize("training", [True, False], ids=["train", "infer"])
def test_opcheck_lif(training):
    x = (torch.randn(70, 2, 3, dtype=torch.float64) + 0.5).requires_grad_(training)
    k = torch.tensor(0.4, dtype=torch.float64, requires_grad=training)
    block = fused_leaky.BLOCK if training else 0
    settings = leaky_settings(ATan())
    torch.library.opcheck(torch.ops.pmsn.lif_forward.default, (x, k, *settings, block))
    _, checkpoints = torch.ops.pmsn.lif_forward(x.detach(), k.detach(), *settings, fused_leaky.BLOCK)
    grad = torch.randn(x.shape, dtype=torch.float64)
    torch.library.opcheck(torch.ops.pmsn.lif_backward.default,
                          (grad, x.detach(), checkpoints, k.detach(), *settings, fused_leaky.BLOCK, True, training))


@pytest.mark.parametrize("training", [True, False], ids=["train", "infer"])
def test_opcheck_tclif(training):
    x = (torch.randn(70, 2, 3, 2, dtype=torch.float64) + 0.5).requires_grad_(training)
    beta1 = torch.tensor([-0.3, -0.2, -0.4], dtype=torch.float64, requires_grad=training)
    beta2 = torch.tensor([0.5, 0.6, 0.4], dtype=torch.float64, requires_grad=training)
    kind, params = fused_leaky.surrogate_code(Triangle())
    settings = (1.0, 0.5, False, False, False, kind, params)
    block = fused_leaky.BLOCK if training else 0
    torch.library.opcheck(torch.ops.pmsn.tclif_forward.default, (x, beta1, beta2, *settings, block))
    plain = [t.detach() for t in (x, beta1, beta2)]
    _, checkpoints = torch.ops.pmsn.tclif_forward(*plain, *settings, fused_leaky.BLOCK)
    grad = torch.randn(x.shape, dtype=torch.float64)
    torch.library.opcheck(torch.ops.pmsn.tclif_backward.default,
                          (grad, plain[0], checkpoints, *plain[1:], *settings, fused_leaky.BLOCK, True, training))


def test_fake_kernels_give_checkpoint_shapes():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        u, *params = (torch.empty(130, 2, 3, 5), torch.empty(3, 4), torch.empty(3, 4), torch.empty(3, 4),
                      torch.empty(3, 4), torch.empty(3))
        spikes, checkpoints = torch.ops.pmsn.pmsn_sweep_forward(u, *params, 1.0, 1.0, 1.0, False, False, 64)
        assert spikes.shape == u.shape and checkpoints.shape == (3, 9, 30)
        _, checkpoints = torch.ops.pmsn.lif_forward(u, torch.empty(()), *leaky_settings(ATan()), 64)
        assert checkpoints.shape == (3, 30)
        _, checkpoints = torch.ops.pmsn.tclif_forward(u, torch.empty(()), torch.empty(()), 1.0, 0.5, False, False,
                                                      False, 0, [1.0], 0)
        assert checkpoints.shape == (0, 3, 30)


# ------------------------------------------------------------------------------------------------ torch.compile
def eager_and_compiled(neuron, x, backend="aot_eager"):
    """(spikes, input grad, parameter grads) of a training step, eager then compiled, and the graph breaks."""
    results = []
    torch._dynamo.reset()
    counters.clear()
    for function in (neuron, torch.compile(neuron, backend=backend, fullgraph=True)):
        neuron.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        weight = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype).reshape(x.shape)
        spikes = function(xi)
        (spikes * weight).sum().backward()
        results.append((spikes.detach(), xi.grad, [p.grad for p in neuron.parameters()]))
    return results, sum(counters["graph_break"].values())


@pytest.mark.slow
@pytest.mark.parametrize("name", NEURONS)
def test_compile_fullgraph_training_and_inference_match_eager(name):
    neuron, x = make_neuron(name), make_input()
    (eager, compiled), breaks = eager_and_compiled(neuron, x)
    assert breaks == 0
    assert torch.equal(compiled[0], eager[0])
    assert eager[0].sum() > 0  # some spikes: the comparison means something
    torch.testing.assert_close(compiled[1], eager[1])
    for a, b in zip(compiled[2], eager[2]):
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        compiled_spikes = torch.compile(neuron, backend="aot_eager", fullgraph=True)(x)
    assert torch.equal(compiled_spikes, neuron(x))
    assert sum(counters["graph_break"].values()) == 0


@pytest.mark.slow
def test_compile_with_inductor_on_a_fused_kernel():
    """The default backend too (it compiles C++ for the code around the op): PLIF, a fused sweep plus autograd
    through σ(w)."""
    neuron, x = make_neuron("plif"), make_input()
    (eager, compiled), breaks = eager_and_compiled(neuron, x, backend="inductor")
    assert breaks == 0
    assert torch.equal(compiled[0], eager[0])
    torch.testing.assert_close(compiled[1], eager[1])
    torch.testing.assert_close(compiled[2], eager[2])


def test_fused_paths_are_the_default_and_resolved_without_tracing():
    """What the compile tests compile is the fused sweep: the availability checks are constants under tracing."""
    x = make_input()
    assert make_neuron("pmsn").chosen_path(x) == "fused"
    assert fused_leaky.fused_leaky_supports(x, make_neuron("lif").surrogate, 0.5)
    from pmsn.ops import cpp_build

    assert {fused_cpu._EXTENSION_NAME, fused_leaky._EXTENSION_NAME} <= set(cpp_build._modules)  # now dict reads


# ------------------------------------------------------------------------------------------------ torch.export
@pytest.mark.parametrize("name", NEURONS)
def test_export_matches_eager(name):
    neuron, x = make_neuron(name), make_input()
    with torch.no_grad():
        program = torch.export.export(neuron, (x,))
        assert torch.equal(program.module()(x), neuron(x))
        other = make_input(seed=2)  # the program is a graph, not a replay of one input
        assert torch.equal(program.module()(other), neuron(other))
    # every graph, nested ones included (PMSN's autocast-disabled region is a submodule of the program)
    targets = {str(node.target) for module in program.graph_module.modules() if isinstance(module, torch.fx.GraphModule)
               for node in module.graph.nodes if node.op == "call_function"}
    fused = {"lif": "pmsn.lif_forward", "plif": "pmsn.lif_forward", "if": "pmsn.lif_forward",
             "tclif": "pmsn.tclif_forward", "pmsn": "pmsn.pmsn_sweep_forward"}
    if name in fused:
        assert any(fused[name] in target for target in targets), targets


def test_double_backward_through_the_op_is_refused_clearly():
    x = make_input().requires_grad_(True)
    neuron = make_neuron("pmsn")
    with pytest.raises(RuntimeError, match=r"double backward.*fused C\+\+ kernel.*neuron\.serial\(x\)"):
        (grad,) = torch.autograd.grad(neuron(x).sum(), x, create_graph=True)
        grad.sum().backward()
    with torch.no_grad():
        assert math.isfinite(float(neuron(x).sum()))
