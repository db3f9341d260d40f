"""The ``pmsn`` command: files a user opens cannot run code, bad settings stop before anything is written,
and every failure is one line ``pmsn COMMAND: error: ...`` naming the file or key (exit status 2)."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from pmsn.cli import main
from pmsn.train.checkpoint import FORMAT


class Payload:
    """Unpickling this runs ``touch MARKER`` (what an attacker's checkpoint or data file would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def malicious_checkpoint(path, marker):
    """A file that looks like a pmsn checkpoint but carries a code-running object."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "model": {"w": torch.zeros(2)}, "epoch": 1, "extra": Payload(marker)}, path)
    return path


def one_error_line(capsys, command, path):
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pmsn {command}: error: ") and "\n" not in err, err
    assert str(path) in err, err
    return err


@pytest.mark.parametrize("command, arguments", [
    ("eval", lambda ckpt, out: ["eval", str(ckpt)]),
    ("train", lambda ckpt, out: ["train", "--resume", str(ckpt), "--quiet"]),
    ("bench", lambda ckpt, out: ["bench", "energy", str(ckpt)]),
    ("plot", lambda ckpt, out: ["plot", "dynamics", "--checkpoint", str(ckpt), "--out", str(out)]),
])
def test_malicious_checkpoint_does_not_run(tmp_path, capsys, command, arguments):
    marker = tmp_path / "pwned"
    ckpt = malicious_checkpoint(tmp_path / "run" / "last.pt", marker)
    assert main(arguments(ckpt, tmp_path / "figures")) == 2
    assert not marker.exists()
    err = one_error_line(capsys, command, ckpt)
    assert "could run code" in err and "posix.system" in err
    assert not (tmp_path / "figures").exists()


def test_malicious_last_pt_in_ablation_folder_does_not_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    ckpt = malicious_checkpoint(tmp_path / "ablation" / "runs" / "n=2-seed0" / "last.pt", marker)
    assert main(["ablate", "compartments", "--smoke", "--values", "2", "--out", str(tmp_path / "ablation")]) == 2
    assert not marker.exists()
    one_error_line(capsys, "ablate", ckpt)


def test_malicious_cifar_batch_does_not_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    images = np.zeros((2, 3072), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": images, b"labels": [0, 1], b"x": Payload(marker)}))
    out = tmp_path / "runs"
    assert main(["train", "--task", "scifar10", "--data-dir", str(tmp_path), "--out", str(out), "--quiet"]) == 2
    assert not marker.exists()
    err = one_error_line(capsys, "train", folder / "data_batch_1")
    assert "posix.system" in err
    assert not out.exists() or not any(out.rglob("*.pt"))


def test_old_format_checkpoint_is_refused_with_the_convert_command(tmp_path, capsys):
    old = tmp_path / "old.pt"
    torch.save({"format": "pmsn-checkpoint-v1", "rng": [{"numpy": np.random.get_state()}]}, old)
    assert main(["eval", str(old)]) == 2
    err = one_error_line(capsys, "eval", old)
    assert f"pmsn convert-checkpoint {old} --trust" in err


def test_convert_checkpoint_needs_trust(tmp_path, capsys):
    marker = tmp_path / "pwned"
    ckpt = malicious_checkpoint(tmp_path / "last.pt", marker)
    assert main(["convert-checkpoint", str(ckpt)]) == 2
    assert not marker.exists()
    assert "--trust" in one_error_line(capsys, "convert-checkpoint", ckpt)


# Each bad setting is refused when the config is resolved: exit 2, one line naming the key, nothing written.
BAD_SETTINGS = [
    ("grad_clip=-1", "'grad_clip' expects a number > 0 or null, got -1.0"),
    ("grad_clip=0", "'grad_clip' expects a number > 0 or null, got 0.0"),
    ("epochs=0", "'epochs' expects a number >= 1, got 0"),
    ("log_every=0", "'log_every' expects a number >= 1, got 0"),
    ("batch_size=0", "'batch_size' expects a number >= 1, got 0"),
    ("optim.lr=-0.1", "'optim.lr' expects a number > 0, got -0.1"),
    ("optim.lr=nan", "'optim.lr' expects a finite number, got nan"),
    ("threads=0", "'threads' expects a number >= 1 or null, got 0"),
    ("mask_speed=-1", "'mask_speed' expects a number >= 0 or null, got -1.0"),
    ("optim.betas=[0.9,1.5]", "'optim.betas' expects numbers in [0, 1) in every element, got 1.5"),
    ("label_smoothing=1", "'label_smoothing' expects a number in [0, 1), got 1.0"),
    ("name=../escape", "'name' must be a plain folder name inside 'out'"),
    ("name=/tmp/escape", "'name' must be a plain folder name inside 'out'"),
    ("device=gpu", "'device' expects auto, cpu, cuda or cuda:N, got 'gpu'"),
]


@pytest.mark.parametrize("setting, message", BAD_SETTINGS, ids=[s for s, _ in BAD_SETTINGS])
def test_bad_setting_stops_before_anything_is_written(tmp_path, capsys, setting, message):
    out = tmp_path / "runs"
    assert main(["train", "--out", str(out), "--set", setting, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pmsn train: error: config key ") and message in err and "\n" not in err, err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["train", "--smoke", "--quiet"], ["build"]])
def test_bad_cpu_isa_stops_every_command_before_anything_is_written(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("PMSN_CPU_ISA", "avx9")
    out = tmp_path / "runs"
    assert main(command + (["--out", str(out)] if command[0] == "train" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"pmsn {command[0]}: error: PMSN_CPU_ISA must be one of native, avx2, got 'avx9'", err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_bad_flags_are_one_line(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--stop-after", "0"]) == 2
    assert "argument --stop-after: expected an integer >= 1, got '0'" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--overwrite"]) == 2
    assert "give only one of them" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.pt")]) == 2
    one_error_line(capsys, "eval", tmp_path / "missing.pt")
    assert list(tmp_path.iterdir()) == []


def test_python_dash_m_pmsn():
    result = subprocess.run([sys.executable, "-m", "pmsn", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "train" in result.stdout and "convert-checkpoint" in result.stdout


@pytest.mark.parametrize("arguments, message", [
    (["bench", "speed", "--threads", "0"], "argument --threads: expected an integer >= 1, got '0'"),
    (["bench", "speed", "--T", "16", "-5"], "argument --T: expected an integer >= 1, got '-5'"),
    (["bench", "energy", "smnist5k", "--batches", "0"], "argument --batches: expected an integer >= 1, got '0'"),
    (["plot", "dynamics", "--steps", "0"], "argument --steps: expected an integer >= 1, got '0'"),
    (["plot", "dynamics", "--period", "nan"], "argument --period: expected a finite number > 0, got 'nan'"),
    (["ablate", "compartments", "--smoke", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
    (["ablate", "compartments", "--smoke", "--seeds", "x"], "argument --seeds: expected integers >= 0"),
    (["demo", "--steps", "0"], "argument --steps: expected an integer >= 1, got '0'"),
    (["train", "--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got '0'"),
])
def test_bad_numbers_are_refused_by_every_command(tmp_path, capsys, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_broken_yaml_names_file_and_line(tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("epochs: 3\noptim: {lr: [1\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "runs")]) == 2
    err = one_error_line(capsys, "train", config)
    assert "is not valid YAML at line" in err
    assert main(["train", "--set", "optim.lr=[1", "--out", str(tmp_path / "runs")]) == 2
    assert "--set optim.lr= expects a YAML value" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_print_config_is_a_config_file_and_trains_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--task", "shd", "--set", "optim.lr=3e-3", "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "printed.yaml").write_text(printed)
    from pmsn.train import resolve_config

    assert resolve_config(str(tmp_path / "printed.yaml")) == resolve_config(preset_name="shd",
                                                                            overrides=["optim.lr=3e-3"])
