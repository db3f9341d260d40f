"""Tutorial 2: train a network from Python, evaluate it, rebuild it from its checkpoint.

The same job as ``pmsn train`` (PMSN on sequential MNIST from the 5,000 embedded digits, docs/tasks.md §1),
driven from Python: settings resolve as defaults < preset < YAML < flags < overrides (docs/training.md §1),
``train`` writes a run folder (config.yaml, metrics.csv, last.pt, best.pt), and ``load_run`` is the one way
to rebuild the trained network from it. Then the shipped pretrained network is evaluated the same way.

Run:  python tutorials/02_train.py [--smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from pmsn.train.build import build_datasets, load_run, pretrained
from pmsn.train.config import resolve_config
from pmsn.train.loop import evaluate_checkpoint, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run (seconds), as the tests run it")
    parser.add_argument("--out", help="root of the run folder (default: a temporary folder)")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="pmsn-tutorial-")

    # 1. Settings: the main job's preset, changed by dotted overrides (the same as `pmsn train --set ...`).
    overrides = [f"out={out}", "name=tutorial", "epochs=1" if args.smoke else "epochs=3"]
    if args.smoke:
        overrides += ["data.limit_train=256", "data.limit_test=128", "model.options.width=16"]
    config = resolve_config(flags={"device": "cpu"}, overrides=overrides)
    print(f"training {config.model.name} with {config.model.neuron} neurons on {config.data.task}, "
          f"{config.epochs} epoch(s)")

    # 2. Train: one call; the run folder holds everything needed to resume, evaluate or rebuild it.
    result = train(config, quiet=True)
    print(f"run folder {result.run_dir}: best test accuracy {result.best_test_acc:.2f}% "
          f"(epoch {result.best_epoch}; selected on the test split, docs/training.md §1)")

    # 3. Rebuild the trained network from its run folder and use it directly on a batch.
    model, config, checkpoint = load_run(result.run_dir)
    model.eval()
    test = build_datasets(config, splits=("test",))["test"]
    images, labels = zip(*(test[i] for i in range(0, len(test), len(test) // 8)))
    with torch.no_grad():
        logits = model(torch.stack(images))           # a loader's batch [B, T, features]; logits [B, classes]
    print(f"rebuilt from epoch {checkpoint['epoch']}: predictions {logits.argmax(1).tolist()}, "
          f"labels {list(labels)}")

    # 4. The shipped network (pmsn train's main job, trained 40 epochs): no training needed.
    if not args.smoke:
        shipped = evaluate_checkpoint(pretrained())
        print(f"pretrained: {shipped['accuracy']:.2f}% on {shipped['samples']} test digits")


if __name__ == "__main__":
    main()
