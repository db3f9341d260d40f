"""``pmsn ablate NAME`` and ``pmsn report RUN_DIR``: thin argument parsing over ``pmsn.experiments``."""

from __future__ import annotations

from pathlib import Path

from pmsn.arguments import int_list, positive_float, positive_int, positive_int_list

ABLATION_NAMES = ("compartments", "reset", "clamp", "global", "soma", "psn_order", "masked_lambda", "tclif_beta",
                  "gradient_norm", "gradient_maps", "firing_rates", "energy_accuracy", "loss_landscape")


def _ablate(args) -> int:
    from pmsn.experiments.ablations import Options, run_ablation

    options = Options(out=Path(args.out or f"ablations/{args.name}"), smoke=args.smoke, task=args.task,
                      epochs=args.epochs, seeds=args.seeds,
                      values=tuple(v.strip() for v in args.values.split(",")) if args.values else None,
                      overrides=tuple(args.overrides), quiet=not args.verbose,
                      lengths=args.lengths, batch=args.batch,
                      channels=args.channels, repeats=args.repeats, train=args.train,
                      checkpoints=tuple(args.checkpoints), pretrained=args.pretrained, span=args.span,
                      resolution=args.resolution, samples=args.samples)
    run_ablation(args.name, options)
    return 0


def _report(args) -> int:
    from pmsn.experiments.report import write_report

    path = write_report(args.run_dir, args.out)
    print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    ablate = subparsers.add_parser(
        "ablate", help="run an ablation of the papers (CSV + PNG + Markdown table)",
        description="Run an ablation: compartments, reset, clamp, global, soma, psn_order, masked_lambda, tclif_beta, "
                    "gradient_norm, gradient_maps, firing_rates, energy_accuracy, loss_landscape. Without --smoke "
                    "and --task it uses the paper's setting (GPU sized). Training runs live under OUT/runs and resume when the command is run again.")
    ablate.add_argument("name", choices=ABLATION_NAMES)
    ablate.add_argument("--out", metavar="DIR", help="output folder (default ablations/NAME)")
    ablate.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (what the tests run)")
    ablate.add_argument("--task", help="train on this task preset instead of the paper's (e.g. smnist5k); "
                        "firing_rates --task scifar10 / scifar100: PSN Fig. 4b's eight neurons, PSN recipe")
    ablate.add_argument("--epochs", type=positive_int)
    ablate.add_argument("--seeds", type=int_list, help="seeds, e.g. '1 2' or 1,2")
    ablate.add_argument("--values", help="comma-separated subset of the sweep (e.g. 2,5,9 for compartments)")
    ablate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="training config override for every run (e.g. model.options.width=16)")
    ablate.add_argument("--lengths", type=positive_int_list, help="soma: sequence lengths T, e.g. 256,1024")
    ablate.add_argument("--batch", type=positive_int, help="soma / gradient_norm: batch size")
    ablate.add_argument("--channels", type=positive_int, help="soma: neurons in the layer (default 256)")
    ablate.add_argument("--repeats", type=positive_int, help="soma: timed repeats (median)")
    ablate.add_argument("--train", action="store_true", help="gradient_norm: also train the 16 Table 7 inits")
    ablate.add_argument("--checkpoint", dest="checkpoints", action="append", default=[], metavar="CKPT",
                        help="loss_landscape, gradient_maps: a trained network (.pt or run folder); repeat for "
                             "several (default: train the paper's networks)")
    ablate.add_argument("--pretrained", action="store_true", help="loss_landscape: the shipped PMSN network")
    ablate.add_argument("--span", type=positive_float, help="loss_landscape: grid over [-SPAN, SPAN]² (default 1)")
    ablate.add_argument("--resolution", type=int, help="loss_landscape: grid points per axis (default 21, smoke 5)")
    ablate.add_argument("--samples", type=positive_int,
                        help="loss_landscape: training samples the loss is measured on (default 1024, smoke 32); "
                             "gradient_maps: test sequences (default 64, smoke 8)")
    ablate.add_argument("--verbose", action="store_true", help="print every epoch of every run")
    ablate.set_defaults(func=_ablate)

    report = subparsers.add_parser(
        "report", help="collect run folders, ablations and energy tables into one Markdown report",
        description="Walk RUN_DIR for training runs (metrics.csv + last.pt), ablation outputs (ablation.json) "
                    "and energy tables (energy.csv) and write report.md with the papers' numbers beside ours.")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--out", metavar="FILE.md", help="report path (default RUN_DIR/report.md)")
    report.set_defaults(func=_report)
