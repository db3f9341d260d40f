"""On a CUDA device: every neuron's default parallel path equals its step loop there, and PMSN's Triton sweep
equals its chunked scan. Skipped without CUDA (run by benchmarks/gpu_check.sh)."""

import pytest
import torch

from pmsn.neurons import build_neuron

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

NAMES = ["lif", "plif", "alif", "tclif", "psn", "masked_psn", "sliding_psn", "pmsn"]


@pytest.mark.parametrize("name", NAMES)
def test_parallel_equals_serial_on_cuda(name):
    torch.manual_seed(0)
    steps, channels = 37, 6
    neuron = build_neuron(name, channels, T=steps).cuda().double()
    x = (torch.randn(steps, 3, channels, dtype=torch.float64, device="cuda") * 2).requires_grad_(True)
    spikes = neuron(x)
    (grad_parallel,) = torch.autograd.grad((spikes * torch.linspace(0, 1, channels, device="cuda")).sum(), x)
    reference = neuron.serial(x)
    (grad_serial,) = torch.autograd.grad((reference * torch.linspace(0, 1, channels, device="cuda")).sum(), x)
    assert torch.equal(spikes, reference)
    torch.testing.assert_close(grad_parallel, grad_serial, rtol=1e-6, atol=1e-6 * grad_serial.abs().max().item())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pmsn_triton_equals_chunked_on_cuda(dtype):
    pytest.importorskip("triton")
    torch.manual_seed(0)
    triton_path = build_neuron("pmsn", 16, path="triton").cuda()
    chunked = build_neuron("pmsn", 16, path="chunked").cuda()
    chunked.load_state_dict(triton_path.state_dict())
    x = torch.randn(300, 4, 16, device="cuda", dtype=dtype) * 2
    agree = (triton_path(x) == chunked(x)).float().mean().item()
    assert agree == 1.0 if dtype == torch.float64 else agree > 0.9999
