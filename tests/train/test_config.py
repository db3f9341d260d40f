"""Config resolution: defaults, presets, YAML, flags, --set, and the errors for unknown keys and bad values."""

import pytest
import yaml

from pmsn.train.config import (TrainConfig, config_from_dict, config_to_dict, parse_override, preset,
                               resolve_config)
from pmsn.train.presets import PRESETS


def test_defaults_are_the_main_job():
    config = resolve_config()
    # all but the held-out share: the smnist5k preset sets it; the default 0.0 keeps stored configs without the key
    # and the paper presets choosing on test (docs/training.md §1.1)
    assert config.data.valid_fraction == 0.1 and TrainConfig().data.valid_fraction == 0.0
    config.data.valid_fraction = 0.0
    assert config == TrainConfig()
    assert (config.data.task, config.model.name, config.model.neuron) == ("smnist5k", "pmsn_smnist", "pmsn")
    assert config.data.options == {"resolution": 14}  # 14x14 → T = 196
    assert config.optim.name == "adamw" and config.schedule.name == "cosine"


def test_precedence_defaults_preset_yaml_flags_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"preset": "psmnist", "optim": {"lr": "1e-3"}, "epochs": 5,
                                    "model": {"options": {"width": 208}}}))
    config = resolve_config(str(path), flags={"epochs": 7}, overrides=["model.options.dropout=0.05", "seed=3"])
    assert config.preset == config.data.task == "psmnist"
    assert config.optim.lr == pytest.approx(1e-3)  # YAML 1.1 string "1e-3" coerced to float
    assert config.optim.weight_decay == pytest.approx(1e-2)  # from the psmnist preset (docs/training.md §4.1)
    assert config.epochs == 7  # flag beats YAML
    assert config.model.options == {"width": 208, "dropout": 0.05}  # YAML merged into preset, --set into that
    assert config.seed == 3


def test_task_flag_selects_preset():
    config = resolve_config(preset_name="shd")
    assert config.model.name == "pmsn_shd" and config.batch_size == 40 and config.epochs == 150
    assert config.model.options == {"width": 256, "dropout": 0.4}
    pixel = resolve_config(preset_name="scifar10_pixel")
    assert (pixel.preset, pixel.data.task, pixel.data.options) == ("scifar10_pixel", "scifar10", {"mode": "pixel"})
    tclif = resolve_config(preset_name="gsc")
    assert tclif.schedule.name == "multistep" and tclif.schedule.milestones == [60, 90, 120]


@pytest.mark.parametrize("task", sorted(PRESETS))
def test_every_preset_is_a_valid_config(task):
    config = config_from_dict(preset(task))
    assert config_from_dict(config_to_dict(config)) == config  # round trip


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ValueError, match=r"unknown config key.*'optim\.lrr'.*valid keys.*'optim\.lr'"):
        resolve_config(overrides=["optim.lrr=0.1"])
    with pytest.raises(ValueError, match=r"unknown config key.*'epoch'.*'epochs'"):
        resolve_config(overrides=["epoch=3"])


@pytest.mark.parametrize("override, message", [
    ("optim.name=rmsprop", r"'optim\.name' must be one of \['adamw', 'adam', 'sgd'\]"),
    ("schedule.name=linear", r"'schedule\.name' must be one of"),
    ("epochs=abc", r"'epochs' expects an integer"),
    ("epochs=2.5", r"'epochs' expects an integer"),
    ("optim.lr=fast", r"'optim\.lr' expects a number"),
    ("amp=maybe", r"'amp' expects true/false"),
    ("schedule.milestones=5", r"'schedule\.milestones' expects a list"),
    ("model=3", r"section 'model' must be a mapping"),
    ("model.options=3", r"'model\.options' expects a mapping"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(overrides=[override])


def test_unknown_task_lists_presets():
    with pytest.raises(ValueError, match=r"unknown task 'mnist'.*'smnist5k'"):
        resolve_config(preset_name="mnist")


def test_parse_override():
    assert parse_override("optim.lr=1e-3") == {"optim": {"lr": 1e-3}}
    assert parse_override("schedule.milestones=[60, 80]") == {"schedule": {"milestones": [60, 80]}}
    assert parse_override("data.data_dir=null") == {"data": {"data_dir": None}}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_override("optim.lr")
    with pytest.raises(ValueError, match="empty key"):
        parse_override("optim..lr=1")


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        resolve_config(str(tmp_path / "nope.yaml"))


def test_old_task_key_still_works_with_a_warning(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("task: shd\nepochs: 3\n")
    with pytest.warns(FutureWarning, match="'task' is now 'preset'"):
        config = resolve_config(str(path))
    assert config.preset == "shd" and config.data.task == "shd" and config.epochs == 3
    with pytest.warns(FutureWarning, match="--set task=gsc"):
        assert resolve_config(overrides=["task=gsc"]).preset == "gsc"
