"""``pmsn export onnx|nir``: write a trained network (a run folder, a checkpoint or the shipped one) for deployment.

The network is rebuilt through ``pmsn.train.build.load_run`` (the one way to rebuild a run); the writers live in
``pmsn.export.onnx`` (one time step with its state, docs/onnx.md) and ``pmsn.nir`` (a NIR graph, docs/nir.md).
"""

from __future__ import annotations

FORMATS = {
    "onnx": ("model.onnx", "one time step of the network with its state in and out, for streaming inference "
                           "(onnxruntime; install the `export` extra)"),
    "nir": ("model.nir", "a NIR graph (neuromorphic intermediate representation) for other simulators and chips "
                         "(install the `nir` extra)"),
}


def register(subparsers) -> None:
    export = subparsers.add_parser("export", help="write a trained network as ONNX (streaming) or NIR",
                                   description="Export a trained network for deployment.")
    formats = export.add_subparsers(dest="format", metavar="FORMAT", required=True)
    for name, (default_out, help_text) in FORMATS.items():
        parser = formats.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("source", metavar="RUN_OR_CHECKPOINT", nargs="?",
                            help="a run folder (uses last.pt) or a .pt checkpoint")
        parser.add_argument("--pretrained", action="store_true",
                            help="the shipped PMSN S-MNIST-5k network (pmsn train's main job), offline")
        parser.add_argument("--out", metavar="FILE", default=default_out, help=f"output file (default {default_out})")
        parser.set_defaults(func=_export)


def _export(args) -> int:
    from pmsn.train.build import load_run, pretrained

    if (args.source is None) == (not args.pretrained):
        raise ValueError(f"export {args.format} expects a RUN_OR_CHECKPOINT or --pretrained (one of them)")
    model, config, _ = load_run(pretrained() if args.pretrained else args.source, flags={"device": "cpu"})
    model.eval()
    if args.format == "onnx":
        from pmsn.export.onnx import export_onnx

        written = export_onnx(model, config, args.out)
    else:
        from pmsn.nir import save

        written = save(model, args.out, config=config)
    print(f"wrote {written}")
    return 0
