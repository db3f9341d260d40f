"""Tutorial 3: variable-length speech. Padded batches give each sequence what it gives alone.

Speech and event recordings (SHD, SSC, GSC) differ in length. pmsn pads them on the right and passes their
``lengths``: readouts average each sequence over its own valid steps, batch norm ignores the padding, and the PSN
family masks the padded steps out of its time mixing (docs/variable_length.md). This script

1. writes a small data set in the real SHD format (HDF5: spikes/times, spikes/units, labels) with recordings of
   different durations — no download needed;
2. reads it with ``variable_length=True`` and batches it with ``pad_collate`` → ``(x, labels, lengths)``;
3. checks, for a PMSN and a PSN network, that garbage in the padded steps changes nothing, that the PMSN
   network gives every recording exactly what it gives alone, and that ignoring ``lengths`` would not;
4. trains on it with ``pmsn.train`` (the same as ``pmsn train --set data.options.variable_length=true``).

Run:  python tutorials/03_variable_length.py [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from pmsn.data import build_dataset
from pmsn.data.collate import pad_collate
from pmsn.data.samples import write_spike_h5
from pmsn.models import build_model
from pmsn.train.config import resolve_config
from pmsn.train.loop import train

STEPS, POOL = 50, 35  # 50 time bins; 700 input channels summed in groups of 35 → 20 features


def write_shd(path: Path, count: int, seed: int) -> None:
    """Recordings of 0.3–1.4 s (SHD's format: ragged spike times in s and unit ids 0..699, one label each)."""
    rng = np.random.RandomState(seed)
    labels = np.arange(count) % 4
    times, units = [], []
    for label in labels:
        duration = rng.uniform(0.3, 1.4)
        spikes = rng.randint(40, 120)
        times.append(np.sort(rng.uniform(0, duration, spikes)).astype(np.float32))
        units.append(((label * 175 + rng.randint(0, 175, spikes)) % 700).astype(np.uint16))  # a class-specific band
    write_spike_h5(path, times, units, labels)


def padding_never_leaks(neuron: str, dataset) -> None:
    """The logits of a padded batch do not depend on what the padding holds; a causal network's equal each
    recording run alone (PSN is built for one T: its top-left-block equality is tested in tests/models)."""
    torch.manual_seed(0)
    model = build_model("pmsn_shd", neuron=neuron, num_classes=4, width=16, input_size=20, pool=4, dropout=0.0,
                        T=STEPS, neuron_kwargs={"threshold": 0.0} if neuron == "psn" else {}).double().eval()
    x, labels, lengths = pad_collate([dataset[i] for i in range(6)])         # x [6, T, 20], lengths [6]
    x = x.double()
    valid = torch.arange(STEPS).unsqueeze(0) < lengths.unsqueeze(1)           # [6, T]
    noisy = torch.where(valid.unsqueeze(-1), x, 5 * torch.randn_like(x))      # garbage in the padded steps
    with torch.no_grad():
        padded, garbage = model(x, lengths=lengths), model(noisy, lengths=lengths)
        ignored = model(noisy)                                                # padding read as signal
    assert torch.equal(padded, garbage)
    message = f"{neuron:5s}: lengths {lengths.tolist()}; garbage in the padding changes nothing"
    if neuron != "psn":
        with torch.no_grad():
            alone = torch.cat([model(x[b:b + 1, :n]) for b, n in enumerate(lengths.tolist())])
        assert torch.allclose(padded, alone, atol=1e-10), (padded - alone).abs().max()
        message += f"; equals each recording alone (max gap {(padded - alone).abs().max():.1e})"
    print(f"{message}; without lengths the logits move by {(padded - ignored).abs().max():.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run (seconds), as the tests run it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_shd(root / "shd_train.h5", 32 if args.smoke else 400, seed=0)
        write_shd(root / "shd_test.h5", 16 if args.smoke else 100, seed=1)
        test = build_dataset("shd", "test", data_dir=root, steps=STEPS, pool=POOL, variable_length=True)
        print(f"SHD-format test set: {len(test)} recordings, lengths {sorted({int(item[2]) for item in test})[:8]}...")
        for neuron in ("pmsn", "psn"):
            padding_never_leaks(neuron, test)

        config = resolve_config(preset_name="shd", flags={"device": "cpu"}, overrides=[
            "data.task=shd", f"data.data_dir={root}", f"data.options.steps={STEPS}", f"data.options.pool={POOL}",
            "data.options.variable_length=true", "model.name=pmsn_shd", "model.options.width=16",
            "model.options.input_size=20", "model.options.pool=4", f"epochs={1 if args.smoke else 10}",
            "batch_size=16", f"out={root / 'runs'}", "name=varlen"])
        result = train(config, quiet=True)
        print(f"trained {result.epochs_done} epoch(s) on padded batches with lengths: test accuracy "
              f"{result.final_test_acc:.1f}% (4 classes, chance 25%)")


if __name__ == "__main__":
    main()
