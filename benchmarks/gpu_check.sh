#!/usr/bin/env bash
# One prepared GPU check (< 8 min on one GPU): install the extras, run the CUDA subset of the tests, then time
# PMSN's Triton (the default choice and both variants, docs/kernels.md §11), FFT and chunked paths against
# SpikingJelly LIF / PSN / SlidingPSN at T = 256 ... 16384 (B = 64, C = 256, train = forward + backward), and the two
# Triton variants at few columns (B = 1, C = 64), with peak CUDA memory. Everything lands in $OUT (default
# gpu_check_out/): tests.log, bench.log, speed.csv, speed.png, env.txt, few_columns/ (bench.log, speed.csv).
#
#   bash benchmarks/gpu_check.sh            # on a machine with an NVIDIA GPU
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_check_out}"
mkdir -p "$OUT"
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$PWD/$OUT/torch_extensions}"

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

python -m pip install --quiet -e '.[dev,gpu]' 2>&1 | tail -3
python -m pip install --quiet --no-deps spikingjelly loguru 2>&1 | tail -3
python -m pip install --quiet cupy-cuda12x 2>&1 | tail -1 || echo "cupy not installable: SpikingJelly runs its torch backend only"

# The CUDA subset: the Triton kernels on the GPU (no interpreter) and every neuron's parallel == serial on CUDA.
timeout 150 python -m pytest -q -x tests/ops/test_triton_pmsn.py tests/ops/test_triton_leaky.py \
    tests/neurons/test_cuda.py 2>&1 | tee "$OUT/tests.log" | tail -15

# Speed and peak memory: ratios to SpikingJelly in one process (pmsn bench speed interleaves the neurons).
timeout 240 pmsn bench speed --device cuda --T 256 1024 4096 16384 --batch 64 --channels 256 --repeats 5 \
    --neurons pmsn pmsn_triton pmsn_triton_columns pmsn_triton_chunks pmsn_fft pmsn_chunked lif tclif sj_lif \
    sj_psn sj_sliding_psn --max-seconds 20 --out "$OUT" 2>&1 | tee "$OUT/bench.log" | tail -40

# The regime of the chunked variant (docs/kernels.md §11.2): one short batch of few channels, long T. Its rows
# show which variant wins where, to check CHUNKS_BELOW_PROGRAMS_PER_SM and CHUNKS_MIN_BLOCKS.
mkdir -p "$OUT/few_columns"
timeout 120 pmsn bench speed --device cuda --T 256 1024 4096 16384 --batch 1 --channels 64 --repeats 5 \
    --neurons pmsn_triton_columns pmsn_triton_chunks sj_lif --max-seconds 20 --out "$OUT/few_columns" 2>&1 \
    | tee "$OUT/few_columns/bench.log" | tail -20
echo "results in $OUT/: env.txt tests.log bench.log speed.csv speed.png few_columns/"
