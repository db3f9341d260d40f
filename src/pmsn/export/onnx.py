"""ONNX export of one time step with its state, for streaming inference (docs/onnx.md).

    from pmsn.export.onnx import export_onnx, fresh_state
    export_onnx(model, config, "model.onnx")      # model: a pmsn network (or a neuron) in eval mode
    session = onnxruntime.InferenceSession("model.onnx")
    state = fresh_state(session, batch_size=8)     # {input name: numpy array}, every state at its start value

The graph is traced from ``pmsn.export.streaming.StreamingStep`` by the torch.export-based exporter
(``dynamo=True``, docs/onnx.md §6), in float32, with a symbolic batch axis. The start value of each state input is
kept in the model's metadata (``pmsn.state_fill``), so ``fresh_state`` needs onnxruntime and numpy only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path

import torch

from pmsn.export.streaming import NEXT, StreamingStep
from pmsn.io import atomic_write_bytes

OPSET = 18  # the exporter's own opset (no version conversion)
IR_VERSION = 8  # the first ONNX IR with opset 18: older runtimes (onnxruntime 1.14-1.17) refuse a newer IR
FILL_KEY = "pmsn.state_fill"  # metadata: {state input name: start value}


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ValueError(f"ONNX export needs the package {module!r}: pip install 'pmsn[export]'") from None


def export_onnx(model: torch.nn.Module, config=None, out: str | Path = "model.onnx",
                features: tuple[int, ...] | None = None) -> Path:
    """Write one time step of ``model`` (a network or a neuron, eval mode) to ``out``; returns the path.

    Inputs ``x`` ``[batch, *features]`` and the state; outputs ``logits``, ``step_logits`` (a network) or
    ``spikes`` (a neuron), then ``next.<state name>`` for every state input (docs/onnx.md §2). ``config`` (a
    TrainConfig) only adds its model, neuron and task names to the metadata. A neuron that cannot stream raises
    one ValueError line before anything is written (docs/onnx.md §5).
    """
    for module in ("onnx", "onnxscript"):
        _require(module)
    stream = StreamingStep(model, features)
    batch = torch.export.Dim("batch", min=1)  # a symbolic batch: example size 2, any size at run time
    example = (torch.zeros((2,) + stream.features), *stream.fresh_state(2))
    axes = tuple(None if field.batch_axis is None else {field.batch_axis: batch} for field in stream.state_fields)
    output_names = list(stream.output_names) + [NEXT + name for name in stream.state_names]
    with torch.no_grad(), warnings.catch_warnings(), _quiet("torch.onnx"):
        warnings.simplefilter("ignore")  # the exporter's deprecation notes of torch internals
        program = torch.onnx.export(stream, example, dynamo=True, input_names=["x", *stream.state_names],
                                    output_names=output_names, dynamic_shapes=({0: batch}, axes),
                                    opset_version=OPSET, verbose=False)
    proto = program.model_proto
    proto.ir_version = min(proto.ir_version, IR_VERSION)  # the graph uses nothing newer (onnx.checker passes)
    metadata = {FILL_KEY: json.dumps({field.name: field.fill for field in stream.state_fields}),
                "pmsn.outputs": ",".join(stream.output_names),
                "pmsn.readout": stream.reduction or "none"}
    if config is not None:
        metadata.update({"pmsn.model": config.model.name, "pmsn.neuron": config.model.neuron,
                         "pmsn.task": config.data.task})
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write_bytes(out, proto.SerializeToString())
    return Path(out)


@contextlib.contextmanager
def _quiet(name: str):
    """Logger ``name`` at ERROR for the duration (the exporter logs its progress and the extras it lacks)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


_NUMPY_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64"}


def fresh_state(session, batch_size: int) -> dict:
    """The state before the first step of an exported model: ``{input name: numpy array}`` for ``batch_size``
    samples, each state input filled with its start value from the metadata (docs/onnx.md §3)."""
    import numpy as np

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    metadata = session.get_modelmeta().custom_metadata_map
    if FILL_KEY not in metadata:
        raise ValueError(f"the model has no {FILL_KEY!r} metadata; expected a file written by pmsn export onnx")
    fills = json.loads(metadata[FILL_KEY])
    state = {}
    for entry in session.get_inputs():
        if entry.name in fills:
            shape = tuple(batch_size if isinstance(d, str) else d for d in entry.shape)
            state[entry.name] = np.full(shape, fills[entry.name], dtype=_NUMPY_TYPES[entry.type])
    return state
