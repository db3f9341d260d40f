"""``pmsn bench energy CHECKPOINT|CONFIG|TASK``: the per-layer energy table of a network on test batches.

SOURCE is a checkpoint (``.pt`` or run folder; trained weights), a YAML config or a task name (fresh weights).
Prints the per-layer firing rates, operation counts and energy (``pmsn.bench.energy``) and, with ``--out``,
writes ``energy.csv`` and ``energy.md`` (with the TC-LIF Table 2 check). ``--paper-table`` prints only TC-LIF
Table 2 recomputed from its published firing rates (``pmsn.bench.energy_model``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from pmsn.arguments import non_negative_int, positive_int
from pmsn.bench.energy import COLUMNS, energy_rows, measure_energy
from pmsn.bench.energy_model import E_AC_PJ, E_MAC_PJ, table2_markdown
from pmsn.tables import markdown_table, write_csv


def load_model_and_data(source: str, overrides: list[str], split: str = "test"):
    """(model, dataset, config) from a checkpoint/run folder (trained weights), a YAML config or a task name
    (fresh weights)."""
    from pmsn.train.build import build_datasets, build_from_config, load_run
    from pmsn.train.config import resolve_config
    from pmsn.train.presets import PRESETS

    path = Path(source)
    if path.suffix == ".pt" or path.is_dir():
        model, config, _ = load_run(path, overrides)
        return model, build_datasets(config, splits=(split,))[split], config
    if path.suffix in (".yaml", ".yml"):
        config = resolve_config(config_file=str(path), overrides=overrides)
    elif source in PRESETS:
        config = resolve_config(preset_name=source, overrides=overrides)
    else:
        raise FileNotFoundError(f"expected a checkpoint (.pt or run folder), a YAML config or a task name "
                                f"({', '.join(sorted(PRESETS))}); got {source!r}")
    dataset = build_datasets(config, splits=(split,))[split]
    return build_from_config(config, dataset=dataset), dataset, config


def _run(args) -> int:
    from pmsn.io import atomic_write_text

    if args.paper_table:
        print(table2_markdown(), end="")
        return 0
    if args.source is None:
        raise ValueError("bench energy expects a CHECKPOINT, CONFIG or TASK (or --paper-table), got none")
    torch.manual_seed(args.seed)
    model, dataset, config = load_model_and_data(args.source, args.overrides)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=False)
    batches = [batch for _, batch in zip(range(args.batches), loader)]
    result = measure_energy(model, batches, device=args.device)
    rows = energy_rows(result)
    title = (f"Energy of {config.model.name} ({config.model.neuron}) on {config.data.task}: {result['samples']} "
             f"samples, T = {result['steps']}; E_AC = {E_AC_PJ} pJ, E_MAC = {E_MAC_PJ} pJ; counts per step per "
             f"sample, energy per step (pJ) and per sample (nJ).")
    table = markdown_table(rows, COLUMNS)
    print(title)
    print(table, end="")
    if args.out:
        out = Path(args.out)
        write_csv(out / "energy.csv", rows, COLUMNS)
        atomic_write_text(out / "energy.md", f"{title}\n\n{table}\nTC-LIF Table 2 check:\n\n{table2_markdown()}")
        print(f"wrote {out / 'energy.csv'} and {out / 'energy.md'}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "energy", help="firing rates, AC/MAC counts and energy per layer (0.9 pJ/AC, 4.6 pJ/MAC)",
        description="Measure per-layer firing rates on data and estimate synaptic/neuronal operations and energy "
                    "(TC-LIF / PMSN counting, docs/training.md §6). SOURCE: a checkpoint (.pt or run folder), a "
                    "YAML config or a task name (fresh weights).")
    parser.add_argument("source", nargs="?", metavar="CHECKPOINT|CONFIG|TASK")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override (e.g. data.options.resolution=7)")
    parser.add_argument("--batches", type=positive_int, default=1, help="number of test batches to measure (default 1)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--out", metavar="DIR", help="write energy.csv and energy.md here")
    parser.add_argument("--paper-table", action="store_true",
                        help="only print TC-LIF Table 2 recomputed from its published firing rates")
    parser.set_defaults(func=_run)
