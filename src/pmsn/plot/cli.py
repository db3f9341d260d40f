"""``pmsn plot dynamics`` (PMSN compartment dynamics next to LIF / TC-LIF, impulse responses, eigenvalues) and
``pmsn plot curves`` (learning curves of several runs: overlays, mean ± std over seeds, moving average)."""

from __future__ import annotations

from pmsn.arguments import non_negative_int, positive_float, positive_int
from pmsn.plot.curves import METRICS
from pmsn.plot.dynamics import INPUTS


def _dynamics(args) -> int:
    from pmsn.plot.dynamics import plot_dynamics
    from pmsn.train.build import pretrained

    if args.pretrained and args.checkpoint is not None:
        raise ValueError("plot dynamics takes --checkpoint or --pretrained, not both")
    checkpoint = pretrained() if args.pretrained else args.checkpoint
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    paths = plot_dynamics(args.out, args.input, checkpoint, args.layer, args.channels, args.compartments,
                          args.steps, args.gain, args.period, args.digit_index, args.resolution, args.channel,
                          args.seed, formats)
    for path in paths:
        print(f"wrote {path}")
    return 0


def _curves(args) -> int:
    from pmsn.plot.curves import plot_curves

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    for path in plot_curves(args.runs, args.out, args.metric, args.smooth, formats, args.title):
        print(f"wrote {path}")
    return 0


def _psn_family(args) -> int:
    from pmsn.plot.psn_family import plot_psn_family

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    for path in plot_psn_family(args.out, args.max_T, args.order, args.mask_T, formats):
        print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("plot", help="figures: PMSN dynamics (paper Fig. 4/7), learning curves, "
                                                   "PSN family (PSN Fig. 2)")
    figures = parser.add_subparsers(dest="figure", metavar="FIGURE")
    dynamics = figures.add_parser(
        "dynamics", help="PMSN hidden compartments, soma, spikes vs LIF/TC-LIF; impulse responses; eigenvalues",
        description="Drive a fresh (seeded) or trained PMSN layer with an input and write dynamics.{png,svg} "
                    "(hidden modes, soma potential with threshold/reset marks, spike raster, LIF and TC-LIF on "
                    "the same current) and modes.{png,svg} (impulse response per mode, λΔ in the complex plane, "
                    "histograms of Im/Re λΔ); with a checkpoint also layers.{png,svg}, every PMSN layer at once "
                    "(PMSN Fig. 7).")
    dynamics.add_argument("--input", choices=INPUTS, default="digit",
                          help="digit: embedded S-MNIST test digit; step; sine; impulse (default digit)")
    dynamics.add_argument("--checkpoint", metavar="CKPT", help="a training checkpoint (.pt or run folder) with PMSN")
    dynamics.add_argument("--pretrained", action="store_true",
                          help="the shipped PMSN S-MNIST-5k network (pmsn train's main job), offline")
    dynamics.add_argument("--layer", type=non_negative_int, default=0, help="which PMSN layer of the checkpoint (0-based)")
    dynamics.add_argument("--channels", type=positive_int, default=16, help="channels of a fresh layer")
    dynamics.add_argument("--compartments", type=positive_int, default=5, help="n of a fresh layer (n − 1 hidden + soma)")
    dynamics.add_argument("--steps", type=positive_int, default=200, help="T of step/sine/impulse inputs")
    dynamics.add_argument("--gain", type=float, default=1.0, help="input amplitude")
    dynamics.add_argument("--period", type=positive_float, default=50.0, help="sine period in steps")
    dynamics.add_argument("--digit-index", type=non_negative_int, default=0, help="index of the embedded test digit")
    dynamics.add_argument("--resolution", type=int, default=14, choices=(7, 14, 28), help="digit resolution (T = r²)")
    dynamics.add_argument("--channel", type=non_negative_int, help="channel to trace (default: the most active)")
    dynamics.add_argument("--seed", type=non_negative_int, default=0)
    dynamics.add_argument("--formats", default="png,svg", help="comma-separated: png, svg, pdf")
    dynamics.add_argument("--out", default="figures", metavar="DIR", help="output folder (default figures/)")
    dynamics.set_defaults(func=_dynamics)

    curves = figures.add_parser(
        "curves", help="learning curves of runs: overlays, mean ± std over seeds, moving average",
        description="Plot a metric per epoch for run folders of `pmsn train`. Runs whose configs differ only in "
                    "the seed are one group (mean line, ±1 std band); groups are labelled by the settings that "
                    "differ. PSN Fig. 4a: --smooth 8; TC-LIF Fig. 4: several seeds per neuron.")
    curves.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (metrics.csv + config.yaml)")
    curves.add_argument("--metric", default="test_acc", choices=METRICS, help="column of metrics.csv (default test_acc)")
    curves.add_argument("--smooth", type=positive_int, default=1, metavar="EPOCHS",
                        help="trailing moving-average window in epochs (default 1: none)")
    curves.add_argument("--title", help="figure title (default: the metric)")
    curves.add_argument("--formats", default="png,svg", help="comma-separated: png, svg, pdf")
    curves.add_argument("--out", default="figures/curves", metavar="STEM",
                        help="output path without extension (default figures/curves)")
    curves.set_defaults(func=_curves)

    family = figures.add_parser("psn-family", help="PSN paper Fig. 2: parameter counts and time masks of the PSN family",
                                description="Parameter counts vs T (counted from the modules) and which inputs "
                                            "reach each hidden state, for PSN, masked PSN and sliding PSN.")
    family.add_argument("--order", type=positive_int, default=4, help="k of masked and sliding PSN (default 4)")
    family.add_argument("--mask-T", dest="mask_T", type=positive_int, default=8, help="T of the mask panels")
    family.add_argument("--max-T", dest="max_T", type=positive_int, default=64, help="largest T of the count panel")
    family.add_argument("--formats", default="png,svg", help="comma-separated: png, svg, pdf")
    family.add_argument("--out", default="figures/psn_family", metavar="STEM", help="default figures/psn_family")
    family.set_defaults(func=_psn_family)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
