"""One time step of a network (or of a single neuron) as a function of flat tensors: what ``pmsn.export.onnx``
traces (docs/onnx.md §2).

    stream = StreamingStep(model)                  # model: a pmsn network or a neuron, in eval mode
    state = stream.fresh_state(batch_size=8)       # tuple in the order of stream.state_names
    logits, step_logits, *state = stream(x_t, *state)      # network; a neuron gives spikes, *state

The network's own ``per_step_logits`` runs on a one-step sequence ``[1, B, ...]`` in a copy of the model whose
neurons are replaced by slots: each slot steps its neuron (``pmsn.export.neuron_step``) with the state handed to
this call, and keeps the new state for the outputs. Layers without a time axis (Linear, Conv, BatchNorm with its
running statistics in eval mode) act on each step alone, so this equals the parallel forward step by step. The
TC-LIF recurrent layer is replaced whole: it adds W_rec·S[t−1], so S[t−1] is state too (docs/neurons.md §3.3).

Readout (docs/onnx.md §4): ``step_logits`` is this step's readout, ``model(x, per_step=True)[t]``; ``logits`` is
their running mean (TC-LIF nets: sum) over the steps so far, so after the last step it equals ``model(x)``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from pmsn.export.neuron_step import StateField, StatefulStep, neuron_step
from pmsn.models.layers import SpikingClassifier
from pmsn.models.pmsn_nets import PMSNPixelCIFARNet, PMSNSequenceNet, PMSNSpeechNet
from pmsn.models.scifar_column import ColumnCIFARNet
from pmsn.models.tclif_nets import RecurrentSpikingLinear, TCLIFNet
from pmsn.neurons.base import Neuron

TIME = "time"  # steps taken so far, an int64 scalar shared by the batch
LOGIT_SUM = "logit_sum"  # Σ of step_logits so far, [B, K]
NEXT = "next."  # output name of the new value of a state input


def step_features(module: nn.Module) -> tuple[int, ...]:
    """The shape of one input time step without the batch axis (``x_t`` is ``[B, *features]``)."""
    if isinstance(module, ColumnCIFARNet):
        return (3, module.rows)  # one image column
    if isinstance(module, (PMSNSequenceNet, PMSNPixelCIFARNet, PMSNSpeechNet, TCLIFNet)):
        return (module.input_size,)
    if isinstance(module, Neuron) and module.channels is not None:
        return (module.channels,)
    if isinstance(module, Neuron):
        raise ValueError(f"{type(module).__name__} has no channel count; pass the shape of one time step "
                         f"[C, *spatial] (features=...)")
    raise ValueError(f"cannot stream {type(module).__name__}: expected a sequence network (pmsn_smnist, "
                     f"pmsn_scifar_pixel, pmsn_shd, scifar_column, tclif_ff, tclif_rec) or a neuron; SEW-ResNet "
                     f"classifies one static image repeated T times (docs/onnx.md §5)")


class RecurrentLayerStep(StatefulStep):
    """A TC-LIF recurrent layer for one step: I[t] = W_in x[t] + b_in + W_rec S[t−1] + b_rec → neuron
    (docs/neurons.md §3.3); its state is the neuron's (under ``neuron.``) and S[t−1] (``output``)."""

    def __init__(self, layer: RecurrentSpikingLinear):
        super().__init__()
        self.linear, self.recurrent, self.neuron = layer.linear, layer.recurrent, neuron_step(layer.neuron)

    def fields(self, x_t: torch.Tensor) -> tuple[StateField, ...]:
        drive = x_t.new_zeros(x_t.shape[0], self.recurrent.out_features)
        inner = tuple(field._replace(name=f"neuron.{field.name}") for field in self.neuron.fields(drive))
        return inner + (StateField("output", tuple(drive.shape), 0.0, x_t.dtype, 0),)

    def forward(self, x_t, state, time):
        *inner, previous = state
        s_t, inner = self.neuron(self.linear(x_t) + self.recurrent(previous), tuple(inner), time)
        return s_t, (*inner, s_t)


class _StateBook:
    """The state of one call, shared by the slots: ``current[path]`` in, ``next[path]`` out; with ``current``
    None the slots start fresh and record their fields (the discovery run)."""

    def __init__(self):
        self.current: dict | None = None
        self.next: dict = {}
        self.fields: dict = {}
        self.time: torch.Tensor | None = None


class _Slot(nn.Module):
    """Takes the place of a neuron (or recurrent layer) at ``path``: steps it on a one-step sequence."""

    def __init__(self, path: str, stepper: nn.Module, book: _StateBook):
        super().__init__()
        self.path, self.stepper, self.book = path, stepper, book

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # a layer may be handed the lengths of a padded batch; one step has no padding, so they are always None
        x_t = x[0]  # [1, B, ...] → [B, ...]
        if self.book.current is None:
            self.book.fields[self.path] = self.stepper.fields(x_t)
            state = self.stepper.fresh(x_t)
        else:
            state = self.book.current[self.path]
        s_t, self.book.next[self.path] = self.stepper(x_t, state, self.book.time)
        return s_t.unsqueeze(0)


def _install_slots(root: nn.Module, book: _StateBook) -> nn.Module:
    """``root`` with each neuron (and TC-LIF recurrent layer) replaced by a slot; ``root`` itself may be one."""
    targets = {}
    for path, module in root.named_modules():
        if any(path.startswith(f"{done}.") for done in targets if done):
            continue  # inside a layer replaced whole
        if isinstance(module, RecurrentSpikingLinear):
            targets[path] = RecurrentLayerStep(module)
        elif isinstance(module, Neuron):
            targets[path] = neuron_step(module)
    for path, stepper in targets.items():
        if not path:  # a bare neuron: its state is named "neuron.<field>"
            return _Slot("neuron", stepper, book)
        slot = _Slot(path, stepper, book)
        parent, _, name = path.rpartition(".")
        setattr(root.get_submodule(parent), name, slot)
    return root


class StreamingStep(nn.Module):
    """``forward(x_t, *state) → (*outputs, *next_state)`` for a pmsn network or neuron (docs/onnx.md §2)."""

    def __init__(self, module: nn.Module, features: tuple[int, ...] | None = None):
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"StreamingStep expects a pmsn network or neuron (torch.nn.Module), got "
                            f"{type(module).__name__}")
        if module.training:
            raise ValueError(f"{type(module).__name__} is in training mode; call .eval() first (dropout and batch "
                             f"norm act per step only in eval mode)")
        self.book = _StateBook()
        self.model = _install_slots(copy.deepcopy(module), self.book)  # refuses a neuron that cannot stream
        self.features = tuple(features) if features is not None else step_features(module)
        self.network = isinstance(module, SpikingClassifier)
        self.reduction = module.time_reduction if self.network else None
        example = torch.zeros((1,) + self.features)
        with torch.no_grad():  # discovery run: every slot records its state fields
            self.book.time = torch.zeros((), dtype=torch.long)
            outputs = self._core(example)
        self.output_names = ("logits", "step_logits") if self.network else ("spikes",)
        fields = [StateField(TIME, (), 0.0, torch.long, None)]
        if self.network:
            fields.append(StateField(LOGIT_SUM, tuple(outputs.shape), 0.0, outputs.dtype, 0))
        self._paths = []
        for path, slot_fields in self.book.fields.items():
            self._paths.append((path, len(slot_fields)))
            fields += [field._replace(name=f"{path}.{field.name}") for field in slot_fields]
        self.state_fields = tuple(fields)
        self.state_names = tuple(field.name for field in fields)
        self.book.current = {}

    def _core(self, x_t: torch.Tensor) -> torch.Tensor:
        if self.network:
            return self.model.per_step_logits(x_t.unsqueeze(0))[0]
        return self.model(x_t.unsqueeze(0))[0]

    def fresh_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        """The state before the first step for ``batch_size`` samples, in the order of ``state_names``."""
        def shape(field: StateField) -> tuple[int, ...]:
            if field.batch_axis is None:
                return field.shape
            return field.shape[:field.batch_axis] + (batch_size,) + field.shape[field.batch_axis + 1:]
        return tuple(torch.full(shape(f), f.fill, dtype=f.dtype) for f in self.state_fields)

    def forward(self, x_t: torch.Tensor, *state: torch.Tensor):
        time, rest = state[0], list(state[1:])
        logit_sum = rest.pop(0) if self.network else None
        self.book.time, self.book.current, self.book.next = time, {}, {}
        for path, count in self._paths:
            self.book.current[path], rest = tuple(rest[:count]), rest[count:]
        out = self._core(x_t)
        next_state = [time + 1]
        if self.network:
            logit_sum = logit_sum + out
            logits = logit_sum if self.reduction == "sum" else logit_sum / (time + 1).to(logit_sum.dtype)
            outputs = (logits, out)
            next_state.append(logit_sum)
        else:
            outputs = (out,)
        for path, _ in self._paths:
            next_state += list(self.book.next[path])
        return (*outputs, *next_state)
