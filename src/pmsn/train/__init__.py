"""Training and evaluation: ``pmsn train`` / ``pmsn eval`` and their Python API.

    from pmsn.train import resolve_config, train, evaluate_checkpoint
    config = resolve_config(preset_name="smnist5k", overrides=["epochs=2"])
    result = train(config)                      # RunResult: run_dir, best/final test accuracy, wall time
    evaluate_checkpoint(result.run_dir / "best.pt")
    model, config, checkpoint = load_run(result.run_dir)    # the trained network, rebuilt from its checkpoint
"""

from pmsn.train.build import build_datasets, build_from_config, load_run
from pmsn.train.config import TrainConfig, config_from_dict, config_to_dict, resolve_config
from pmsn.train.loop import RunResult, evaluate_checkpoint, resume_config, train
from pmsn.train.presets import PRESETS

__all__ = ["TrainConfig", "config_from_dict", "config_to_dict", "resolve_config", "train", "evaluate_checkpoint",
           "resume_config", "RunResult", "PRESETS", "build_datasets", "build_from_config", "load_run"]
