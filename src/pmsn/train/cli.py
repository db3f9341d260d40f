"""``pmsn train``, ``pmsn eval`` and ``pmsn convert-checkpoint``: thin argument parsing over ``pmsn.train``.

Errors (bad settings, missing data, unsafe or foreign checkpoints) propagate as ValueError/OSError/DataError and
are printed as one line by the top-level ``pmsn`` command (``pmsn.cli.main``).
"""

from __future__ import annotations

import json

from pmsn.arguments import non_negative_int, positive_int
from pmsn.train.presets import PRESETS


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a spiking network (default: PMSN on the embedded 5k-digit S-MNIST, CPU, ~3-5 min)",
        description="Train a network. Without arguments: PMSN on sequential MNIST from the 5,000 embedded digits "
                    "(14x14, T=196). Settings resolve as defaults < --task preset < --config YAML < flags < --set. "
                    "Under `torchrun --nproc_per_node=N` the same command trains with DDP.")
    train.add_argument("--task", choices=sorted(PRESETS), help="task preset (model and paper hyperparameters)")
    train.add_argument("--config", metavar="FILE.yaml", help="YAML config (e.g. one of configs/*.yaml)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override any config key, dotted for nested keys (repeatable), e.g. optim.lr=1e-3, "
                            "model.options.width=64")
    _add_common(train)
    train.add_argument("--neuron", help="spiking neuron of the model (pmsn, lif, plif, if, klif, glif, alif, tclif, "
                                        "psn, masked_psn, sliding_psn)")
    train.add_argument("--epochs", type=positive_int)
    train.add_argument("--lr", type=float, help="global learning rate (optim.lr)")
    train.add_argument("--seed", type=non_negative_int)
    train.add_argument("--amp", action="store_true", default=None, help="bf16 autocast on CUDA")
    train.add_argument("--out", metavar="DIR", help="root folder of run folders (default runs/)")
    train.add_argument("--resume", metavar="RUN_DIR_OR_CHECKPOINT",
                       help="continue a run from its last.pt (flags and --set still apply, e.g. more --epochs)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the files of an existing run folder of the same name (else it is refused)")
    train.add_argument("--stop-after", type=positive_int, metavar="EPOCHS",
                       help="stop once this many epochs are done (resume later with --resume)")
    train.add_argument("--smoke", action="store_true",
                       help="the configured run at tiny size: 1 epoch on 8 training / 4 test items, batch 4, into "
                            "OUT/smoke/; without a data directory, on random sample files in the task's format")
    train.add_argument("--quiet", action="store_true", help="no progress bar (one line per epoch, for logs)")
    train.add_argument("--print-config", action="store_true",
                       help="print the resolved config as YAML (a valid --config file) and exit without training")
    train.set_defaults(func=_train)

    evaluate = subparsers.add_parser("eval", help="evaluate a training checkpoint on its task's test split",
                                     description="Evaluate a checkpoint (best.pt / last.pt / run folder).")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT", nargs="?",
                          help="a .pt file or a run folder (uses last.pt)")
    evaluate.add_argument("--pretrained", action="store_true",
                          help="the shipped PMSN S-MNIST-5k network (pmsn train's main job, 96.5 %%), offline")
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"),
                          help="valid: the items the run held out of its training set (data.valid_fraction)")
    evaluate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="override stored config keys (data settings; the model must stay the same)")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_common(evaluate)
    evaluate.set_defaults(func=_eval)

    convert = subparsers.add_parser(
        "convert-checkpoint", help="rewrite a TRUSTED old-format checkpoint in the current, safely loadable format",
        description="Old checkpoints (pmsn-checkpoint-v1) hold pickled objects and are refused by every command. "
                    "Converting unpickles the file fully, which runs any code it contains: convert only files "
                    "you made yourself or otherwise trust. --trust says that you do.")
    convert.add_argument("checkpoint", metavar="CHECKPOINT", help="the old .pt file (or its run folder: last.pt)")
    convert.add_argument("--out", metavar="FILE", help="where to write the converted file (default: in place)")
    convert.add_argument("--trust", action="store_true", help="confirm that the file comes from a trusted source")
    convert.set_defaults(func=_convert)


def _add_common(parser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="data folder (default: $PMSN_DATA)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--workers", type=non_negative_int, help="DataLoader worker processes")


def _flags(args) -> dict:
    """Command-line flags as a partial config (only the ones given)."""
    pairs = {
        ("data", "data_dir"): args.data_dir, ("data", "workers"): args.workers, ("device",): args.device,
        ("batch_size",): args.batch_size,
        ("model", "neuron"): getattr(args, "neuron", None), ("epochs",): getattr(args, "epochs", None),
        ("optim", "lr"): getattr(args, "lr", None), ("seed",): getattr(args, "seed", None),
        ("amp",): getattr(args, "amp", None), ("out",): getattr(args, "out", None),
    }
    flags: dict = {}
    for path, value in pairs.items():
        if value is None:
            continue
        section = flags
        for key in path[:-1]:
            section = section.setdefault(key, {})
        section[path[-1]] = value
    return flags


def _train(args) -> int:
    import yaml

    from pmsn.train.config import config_to_dict, resolve_config
    from pmsn.train.loop import resume_config, train

    if args.resume is not None and (args.task or args.config):
        raise ValueError("--resume continues the stored config; it cannot be combined with --task or "
                         "--config (use flags or --set to change settings)")
    if args.resume is not None and args.smoke:
        raise ValueError("--smoke starts a new tiny run; it cannot be combined with --resume")
    if args.resume is not None and args.overwrite:
        raise ValueError("--resume continues a run and --overwrite replaces one; give only one of them")
    if args.resume is not None:
        config = resume_config(args.resume, args.overrides, _flags(args))
    else:
        config = resolve_config(args.config, args.task, _flags(args), args.overrides)
    if args.print_config:
        from pmsn.train.smoke import smoke_config

        shown = smoke_config(config) if args.smoke else config
        print(yaml.safe_dump(config_to_dict(shown), sort_keys=False), end="")
        return 0
    if args.smoke:
        from pmsn.train.smoke import smoke_run

        with smoke_run(config) as (smoke, line):
            print(line, flush=True)
            train(smoke, quiet=args.quiet, overwrite=args.overwrite)
        return 0
    train(config, resume=args.resume, quiet=args.quiet, stop_after=args.stop_after, overwrite=args.overwrite)
    return 0


def _eval(args) -> int:
    from pmsn.train.loop import evaluate_checkpoint

    from pmsn.train.build import pretrained

    if (args.checkpoint is None) == (not args.pretrained):
        raise ValueError("eval expects a CHECKPOINT or --pretrained (one of them)")
    checkpoint = pretrained() if args.pretrained else args.checkpoint
    result = evaluate_checkpoint(checkpoint, args.overrides, _flags(args), split=args.split)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['checkpoint']} (epoch {result['epoch']}): {result['task']} {result['split']} accuracy "
              f"{result['accuracy']:.2f}% on {result['samples']} samples, loss {result['loss']:.4f}")
        if "selection_summary" in result:
            print(f"training run: {result['selection_summary']}")
    return 0


def _convert(args) -> int:
    from pmsn.train.checkpoint import convert_checkpoint

    if not args.trust:
        raise ValueError(f"converting {args.checkpoint!r} unpickles it, which runs any code "
                         "it contains; add --trust if you made the file or trust its source")
    target = convert_checkpoint(args.checkpoint, args.out)
    print(f"converted {args.checkpoint} -> {target}")
    return 0
