"""Tutorial 4: take a network out of pmsn, as ONNX for streaming and as a NIR graph.

* ONNX (docs/onnx.md): one time step of the network, the input x_t and the state in, the logits and the new state
  out, in real arithmetic. Stepping it in onnxruntime over a sequence gives pmsn's parallel result.
* NIR (docs/nir.md): LIF / PLIF / IF networks with Linear, Conv and pooling layers as a graph of NIR primitives,
  for other simulators and neuromorphic chips; `pmsn.nir.load` reads such graphs back. PMSN is refused, with the
  reason (its soma has no NIR primitive, docs/nir.md §6).

Needs the extras: pip install 'pmsn[export,nir]'.

Run:  python tutorials/04_export.py [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from pmsn.export.onnx import export_onnx, fresh_state
from pmsn.models import build_model
from pmsn.nir import load, save
from pmsn.train.build import build_datasets, load_run, pretrained


def onnx_streaming(folder: Path, smoke: bool) -> None:
    """Export the shipped network (smoke: a small fresh one) and step it sample by sample in onnxruntime."""
    if smoke:
        torch.manual_seed(0)
        model = build_model("pmsn_smnist", neuron="pmsn", num_classes=10, width=8, depth=2).eval()
        x = torch.rand(2, 49, 1)                                         # [B, T, features], the loader's layout
        path = export_onnx(model, out=folder / "net.onnx", features=(1,))
    else:
        model, config, _ = load_run(pretrained())
        model.eval()
        test = build_datasets(config, splits=("test",))["test"]
        x = torch.stack([test[i][0] for i in range(4)])                  # 4 real digits, [4, 196, 1]
        path = export_onnx(model, config, folder / "smnist.onnx")
    with torch.no_grad():
        expected = model(x)                                              # pmsn's parallel forward

    session = onnxruntime.InferenceSession(str(path))
    state = fresh_state(session, batch_size=len(x))
    outputs = [output.name for output in session.get_outputs()]
    for x_t in x.numpy().astype(np.float32).transpose(1, 0, 2):         # one step at a time, as samples arrive
        result = dict(zip(outputs, session.run(None, {"x": x_t, **state})))
        state = {name: result["next." + name] for name in state}
    gap = np.abs(result["logits"] - expected.numpy()).max()
    assert gap < 1e-4 and (result["logits"].argmax(-1) == expected.argmax(-1).numpy()).all(), gap
    print(f"ONNX: {path.name} ({path.stat().st_size // 1024} KB) stepped {x.shape[1]} times in onnxruntime; "
          f"logits equal pmsn's parallel forward to {gap:.1e}; predictions {result['logits'].argmax(-1).tolist()}")


def nir_round_trip(folder: Path, smoke: bool) -> None:
    """A LIF network (TC-LIF paper's feed-forward net with LIF neurons) to NIR and back: the same spikes."""
    torch.manual_seed(0)
    hidden = [8, 8, 8] if smoke else [64, 256, 256]
    model = build_model("tclif_ff", neuron="lif", num_classes=10, hidden=hidden, input_size=1, T=49).eval()
    path = save(model, folder / "lif.nir")
    imported = load(path)                                                # a SpikingSequential, [T, B, ...] in
    x = torch.rand(49, 3, 1) * 2
    with torch.no_grad():
        ours = model(x.transpose(0, 1), per_step=True)                  # [T, B, classes]
        theirs = imported(x)
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    print(f"NIR: {path.name} with {len(imported)} layers read back; per-step outputs agree "
          f"(max gap {(ours - theirs).abs().max():.1e})")
    try:
        save(load_run(pretrained())[0], folder / "pmsn.nir")
    except ValueError as refusal:                                        # PMSN has no faithful NIR encoding
        print(f"NIR refuses PMSN: {str(refusal)[:160]}...")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small networks (seconds), as the tests run it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        onnx_streaming(Path(folder), args.smoke)
        nir_round_trip(Path(folder), args.smoke)


if __name__ == "__main__":
    main()
