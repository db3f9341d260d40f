"""``pmsn bench memory``: PSN Supp. Table 4, the training memory of VGG-11 with IF neurons, PSNs or no neuron.

For each cell (T, N = batch size) of the paper's grid and each network, a fresh process builds ``vgg11``
(``pmsn.models.build_model``), runs one training step (forward, cross-entropy, backward) as a warm-up, drops the
gradients and measures the peak memory of a second step (``pmsn.bench.memory.PeakMemory``: the RSS high-water mark
on CPU, ``max_memory_allocated`` on CUDA, above what the process held before the step, so weights and library code
are out and gradients and activations in; on CPU with glibc's mmap threshold fixed, so that RSS follows the live
tensors and repeated runs agree). The networks: NO (every neuron replaced by an identity), PSN, and IF
twice: pmsn's fused sweep, whose backward keeps only its input and checkpoints (docs/kernels.md §4.3), and the
IF's step loop, where autograd keeps each step's H and V as the paper assumes. Δ_IF−NO = M_IF − M_NO and
Δ_PSN−NO = M_PSN − M_NO estimate the neurons' hidden states (PSN §6.5: IF keeps H and V per neuron and step, the
PSN only H), so the paper expects their ratio near 2 and (Δ_IF−NO − Δ_PSN−NO) / (T·N) near constant. The paper's
table is printed beside ours: its ratios compare, its absolute numbers (MB of a GPU, 224 × 224 images) do not.
docs/tasks.md §7.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import sys
from pathlib import Path

import torch
from torch import nn

from pmsn.arguments import positive_int
from pmsn.bench.memory import PeakMemory, run_json_subprocess
from pmsn.io import atomic_write_text
from pmsn.models import build_model
from pmsn.neurons import Neuron
from pmsn.papers import psn_table4_memory
from pmsn.tables import format_value, markdown_table, write_csv

CELLS = ((16, 16), (8, 16), (16, 8))  # (T, N = batch size), PSN Supp. Table 4
SMOKE_CELLS = ((2, 2), (1, 2), (2, 1))
# "no": the neurons replaced by identities; "if_loop": IF run by its step loop (autograd keeps H and V per step)
NETWORKS = ("no", "if", "if_loop", "psn")
IF_KINDS = {"if": "fused sweep", "if_loop": "step loop"}
COLUMNS = ("T", "N", "IF", "M_NO", "M_IF", "M_PSN", "delta_IF_NO", "delta_PSN_NO", "ratio", "saving_per_TN")
HEADERS = {"delta_IF_NO": "Δ_IF−NO", "delta_PSN_NO": "Δ_PSN−NO", "ratio": "Δ_IF−NO / Δ_PSN−NO",
           "saving_per_TN": "(Δ_IF−NO − Δ_PSN−NO) / (T·N)"}


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, kept fixed


def fix_mmap_threshold() -> bool:
    """Serve every block of at least ``MMAP_THRESHOLD`` by mmap and unmap it when freed (glibc otherwise raises the
    threshold after large frees and keeps later blocks in its heap), so the RSS follows the live tensors and
    repeated measurements of a cell agree to 0.1 MiB; False where it cannot be set (not glibc)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return bool(libc is not None and hasattr(libc, "mallopt") and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


class StepLoop(nn.Module):
    """A neuron run by its serial definition, step by step (``Neuron.serial``), instead of its fused sweep."""

    def __init__(self, neuron: Neuron):
        super().__init__()
        self.neuron = neuron

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron.serial(x)


def replace_neurons(model: nn.Module, replacement) -> nn.Module:
    """``model`` with every spiking neuron ``n`` replaced by ``replacement(n)``."""
    found = [name for name, module in model.named_modules() if isinstance(module, Neuron)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no spiking neuron to replace")
    for name in found:
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, replacement(model.get_submodule(name)))
    return model


def build_network(network: str, steps: int, num_classes: int, width_divisor: int) -> nn.Module:
    """VGG-11 with IF neurons (fused sweep or step loop), PSNs, or no neuron (identities in place of the IFs)."""
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; expected one of {list(NETWORKS)}")
    model = build_model("vgg11", neuron="psn" if network == "psn" else "if", num_classes=num_classes, T=steps,
                        width_divisor=width_divisor)
    if network == "no":
        return replace_neurons(model, lambda neuron: nn.Identity())
    return replace_neurons(model, StepLoop) if network == "if_loop" else model


def train_step_peak(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float | None, str]:
    """(MiB, method): the peak memory of one forward + backward after a warm-up step, gradients dropped between."""
    model.train()
    nn.functional.cross_entropy(model(images), labels).backward()  # warm-up: lazy allocations are not the step's
    model.zero_grad(set_to_none=True)
    with PeakMemory(images.device) as peak:
        nn.functional.cross_entropy(model(images), labels).backward()
    return peak.mib, peak.method


def _child() -> None:
    """Entry of the fresh process: one network and one (T, N) cell given as JSON on stdin; prints JSON."""
    cell = json.loads(sys.stdin.read())
    fixed = fix_mmap_threshold()
    torch.set_num_threads(cell["threads"])
    torch.set_flush_denormal(True)
    torch.manual_seed(cell["seed"])
    device = torch.device(cell["device"])
    model = build_network(cell["network"], cell["T"], cell["num_classes"], cell["width_divisor"]).to(device)
    size = cell["image_size"]
    images = torch.randn(cell["N"], 3, size, size, device=device)
    labels = torch.randint(cell["num_classes"], (cell["N"],), device=device)
    mib, method = train_step_peak(model, images, labels)
    print(json.dumps({"mib": mib, "method": f"{method}, mmap >= 128 KiB" if fixed and method != "cuda-max-allocated"
                      else method}))


def measure_table(cells, image_size: int, width_divisor: int, num_classes: int, device: str, threads: int,
                  seed: int = 0, log=print) -> tuple[list[dict], str]:
    """Our rows (``COLUMNS``, MiB; one per cell and IF kind) and the measuring method: one fresh process per
    network and cell."""
    rows, methods = [], set()
    for steps, batch in cells:
        memory = {}
        for network in NETWORKS:
            payload = {"network": network, "T": steps, "N": batch, "image_size": image_size,
                       "width_divisor": width_divisor, "num_classes": num_classes, "device": device,
                       "threads": threads, "seed": seed}
            result = run_json_subprocess("pmsn.bench.memory_table", payload, timeout=1800)
            memory[network] = result["mib"]
            methods.add(result["method"])
            log(f"T = {steps}, N = {batch}, {network}: {format_value(result['mib'], 1)} MiB ({result['method']})")
        rows += [table_row(steps, batch, kind, memory["no"], memory[network], memory["psn"])
                 for network, kind in IF_KINDS.items()]
    return rows, ", ".join(sorted(methods))


def table_row(steps: int, batch: int, if_kind: str, m_no: float | None, m_if: float | None,
              m_psn: float | None) -> dict:
    """One row of the table from the three memories (None where one could not be measured)."""
    known = None not in (m_no, m_if, m_psn)
    delta_if, delta_psn = (m_if - m_no, m_psn - m_no) if known else (None, None)
    return {"T": steps, "N": batch, "IF": if_kind, "M_NO": m_no, "M_IF": m_if, "M_PSN": m_psn,
            "delta_IF_NO": delta_if, "delta_PSN_NO": delta_psn,
            "ratio": delta_if / delta_psn if known and delta_psn > 0 else None,
            "saving_per_TN": (delta_if - delta_psn) / (steps * batch) if known else None}


def paper_rows() -> list[dict]:
    return [dict(zip(COLUMNS, (r.steps, r.batch, "SpikingJelly", *r[2:]))) for r in psn_table4_memory()]


def report(rows: list[dict], title: str) -> str:
    ours = [{key: format_value(row[key], 1) if isinstance(row[key], float) else row[key] for key in COLUMNS}
            for row in rows]
    paper = [{key: format_value(row[key], 1) if isinstance(row[key], float) else row[key] for key in COLUMNS}
             for row in paper_rows()]
    return (f"{title}\n\nOurs (MiB):\n\n{markdown_table(ours, COLUMNS, HEADERS)}\n"
            f"PSN Supp. Table 4 (VGG-11, 224 × 224, GPU; units not stated, MB by their size):\n\n"
            f"{markdown_table(paper, COLUMNS, HEADERS)}")


def _run(args: argparse.Namespace) -> int:
    cells = SMOKE_CELLS if args.smoke else CELLS
    width_divisor = 16 if args.smoke and args.width_divisor is None else (args.width_divisor or 1)
    rows, method = measure_table(cells, args.image_size, width_divisor, args.classes, args.device, args.threads)
    title = (f"PSN Supp. Table 4, measured: VGG-11 (width ÷ {width_divisor}, {args.classes} classes), "
             f"{args.image_size} × {args.image_size} random images, one training step, {args.device} "
             f"({method}), {args.threads} threads, torch {torch.__version__}")
    text = report(rows, title)
    print(text)
    out = Path(args.out)
    write_csv(out / "memory_table.csv", [{"source": "ours (MiB)", **row} for row in rows]
              + [{"source": "paper", **row} for row in paper_rows()], ("source",) + COLUMNS)
    atomic_write_text(out / "memory_table.md", text)
    print(f"wrote {out / 'memory_table.csv'} and {out / 'memory_table.md'}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "memory", help="PSN Supp. Table 4: training memory of VGG-11 with IF, PSN or no neuron",
        description="Measure the peak memory of one VGG-11 training step with no neuron, IF neurons (fused sweep "
                    "and step loop) and PSNs for (T, N) in (16, 16), (8, 16), (16, 8), each in a fresh process, and "
                    "print it beside the PSN paper's Supp. Table 4 (docs/tasks.md §7).")
    parser.add_argument("--image-size", type=positive_int, default=32,
                        help="square input images (default 32; the paper: 224, about 70 GB with IF at T = N = 16)")
    parser.add_argument("--width-divisor", type=positive_int, default=None,
                        help="divide every channel count (default 1; 16 with --smoke)")
    parser.add_argument("--classes", type=positive_int, default=1000, help="classifier outputs (default 1000)")
    parser.add_argument("--device", default="cpu", help="cpu (peak RSS) or cuda (peak allocated)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--smoke", action="store_true", help="tiny cells (T, N ≤ 2) and width ÷ 16, as the tests")
    parser.add_argument("--out", default="bench_out/memory_table", metavar="DIR")
    parser.set_defaults(func=_run)


if __name__ == "__main__":
    _child()
