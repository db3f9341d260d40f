"""Shared test settings: deterministic torch, hypothesis profile sized for a 2-core CI machine."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(min(2, os.cpu_count() or 1))
settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _restore_denormals():
    """Training and benchmarks flush denormals process-wide; hypothesis needs them back for its float draws."""
    yield
    torch.set_flush_denormal(False)
