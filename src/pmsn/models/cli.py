"""``pmsn models``: list the networks and check their parameter counts against docs/tasks.md §2.8 and the papers.

    pmsn models                      # table: model, task, neuron, configuration, params ours / code / paper
    pmsn models --markdown           # the same as a Markdown table (README)
    pmsn models sew_resnet18 --neuron psn --option T=4
"""

from __future__ import annotations

import argparse
import ast

from pmsn.models.registry import MODELS, build_model, count_parameters


def _parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare string such as preset=gsc


def _format_count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def reference_rows(names: list[str]) -> list[list[str]]:
    """One row per reference configuration: the count of the model as built next to the expected and paper counts."""
    rows = []
    for name in names:
        spec = MODELS[name]
        for ref in spec.references:
            ours = count_parameters(build_model(name, neuron=ref.neuron, **dict(ref.options)))
            status = "ok" if ours == ref.ours else f"MISMATCH (expected {ref.ours:,})"
            paper = _format_count(ref.paper) + ("" if ref.matches_paper else " *")
            rows.append([name, ref.task or spec.task, ref.neuron, ref.label, f"{ours:,}", paper, status])
    return rows


def _print_table(header: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def run(args: argparse.Namespace) -> int:
    if args.name is not None and args.name not in MODELS:
        raise ValueError(f"unknown model {args.name!r}; expected one of {sorted(MODELS)}")
    if args.neuron is not None or args.option:
        if args.name is None:
            raise ValueError("--neuron/--option need a model name")
        try:
            model = build_model(args.name, neuron=args.neuron, **dict(args.option))
        except TypeError as error:  # an option the builder does not take: a usage error, one line
            raise ValueError(str(error)) from None
        print(f"{args.name} ({args.neuron or MODELS[args.name].neuron}): {count_parameters(model):,} parameters")
        return 0
    names = [args.name] if args.name else list(MODELS)
    rows = reference_rows(names)
    _print_table(["model", "task", "neuron", "configuration", "params", "paper", "check"], rows, args.markdown)
    for note in dict.fromkeys(f"* {name}: {ref.note}" for name in names for ref in MODELS[name].references
                              if not ref.matches_paper):
        print(note)
    return 0 if all(row[-1] == "ok" for row in rows) else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the networks and their parameter counts",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help="one model (default: all)")
    parser.add_argument("--neuron", help="count this model built with this neuron")
    parser.add_argument("--option", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                        help="builder option, e.g. width=208, preset=gsc, num_classes=100 (repeatable)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.set_defaults(func=run)
