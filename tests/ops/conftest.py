"""The Triton kernel tests (test_triton_*.py) run the kernels in Triton's interpreter on CPU tensors where there
is no GPU. Triton reads TRITON_INTERPRET when it imports triton.language and when ``@triton.jit`` decorates a
kernel, so it is set here, before any test module of this folder imports triton (an explicit setting wins)."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
