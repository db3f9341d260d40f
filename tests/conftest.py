"""Shared test settings: deterministic torch, hypothesis profile sized for a 2-core CI machine, and Triton's
interpreter where there is no GPU."""

import os

import pytest
import torch

# Triton reads TRITON_INTERPRET when triton.language is first imported (torch may import it while other test
# modules are collected), so it is set here, before anything else: without a GPU the Triton kernels' tests
# (tests/ops/test_triton_*.py) run in the interpreter on CPU tensors. An explicit setting wins.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
from hypothesis import HealthCheck, settings

torch.set_num_threads(min(2, os.cpu_count() or 1))
settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _restore_denormals():
    """Training and benchmarks flush denormals process-wide; hypothesis needs them back for its float draws."""
    yield
    torch.set_flush_denormal(False)
