"""Shared tiny settings: the embedded digits at 7x7 (T = 49), a handful of samples, a 2-block width-8 PMSN net."""

import pytest

TINY = [
    "data.task=smnist5k", "data.options.resolution=7", "data.limit_train=96", "data.limit_test=64",
    "model.name=pmsn_smnist", "model.options.width=8", "model.options.depth=2", "model.options.dropout=0.1",
    "batch_size=32", "epochs=2", "log_every=1", "device=cpu", "threads=1",
]


@pytest.fixture
def tiny(tmp_path):
    """``--set`` overrides of a tiny CPU run writing under ``tmp_path``."""
    return TINY + [f"out={tmp_path / 'runs'}"]
