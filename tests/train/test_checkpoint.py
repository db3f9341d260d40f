"""Atomic writes and checkpoint loading errors."""

import pytest
import torch

from pmsn import io as pmsn_io
from pmsn.train import checkpoint as ckpt


def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.atomic_torch_save({"weights": torch.arange(4)}, path)

    real_save = torch.save

    def failing_save(obj, handle):  # write part of the payload, then die as a full disk would
        real_save(obj, handle)
        handle.truncate(10)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.atomic_torch_save({"weights": torch.zeros(1000)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path)["weights"], torch.arange(4))  # the previous checkpoint survives intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temp file left behind


def test_atomic_text_interrupted_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    monkeypatch.setattr(pmsn_io.os, "replace", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        ckpt.atomic_write_text(path, "a,b\n1,2\n")
    assert list(tmp_path.iterdir()) == []


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="last.pt"):
        ckpt.load_checkpoint(tmp_path)  # a folder without last.pt
    other = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="not a pmsn training checkpoint"):
        ckpt.load_checkpoint(other)


def test_architecture_mismatch_names_both():
    stored = {"model": "pmsn_smnist", "neuron": "pmsn", "options": {"width": 128}}
    wanted = {"model": "tclif_ff", "neuron": "tclif", "options": {"preset": "smnist_small"}}
    with pytest.raises(ValueError, match=r"pmsn_smnist\(neuron='pmsn', width=128\).*tclif_ff\(neuron='tclif', "
                                         r"preset='smnist_small'\)"):
        ckpt.check_architecture({"architecture": stored, "path": "x.pt"}, wanted)
    ckpt.check_architecture({"architecture": stored}, dict(stored))  # equal: no error


def test_rng_state_round_trip():
    state = ckpt.rng_state()
    first = torch.rand(3)
    ckpt.set_rng_state(state)
    assert torch.equal(torch.rand(3), first)


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def test_code_in_a_checkpoint_is_never_run(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "best.pt"
    torch.save({"format": ckpt.FORMAT, "model": {}, "hook": _RunsCode(marker)}, path)
    with pytest.raises(ckpt.CheckpointError, match=rf"{path}.*holds (builtins\.)?exec.*could run code"):
        ckpt.load_checkpoint(path)
    assert not marker.exists()


def test_truncated_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"format": ckpt.FORMAT, "weights": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ckpt.CheckpointError, match=rf"{path}.*corrupt or truncated"):
        ckpt.load_checkpoint(path)


def test_checkpoint_missing_keys_is_named(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"format": ckpt.FORMAT, "model": {}}, path)
    with pytest.raises(ckpt.CheckpointError, match=rf"{path}.*lacks the key"):
        ckpt.load_checkpoint(path)
