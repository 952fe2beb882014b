#!/usr/bin/env bash
# The serving benchmark on one CUDA GPU, every configuration in one call.
#
# From the repository root, on the device machine:
#     bash benchmarks/gpu/run.sh
# About 3-6 minutes on an H100/H200. The models are built from the config.json
# and tokenizer files next to this script with random weights (timings are
# those of the real architectures; predictions are meaningless), the inputs are
# the 4,608 movie snippets in movie_snippets.json.gz: nothing is downloaded.
# Results: benchmarks/results/serving/cuda*.{json,md,txt}, copied to $OUT when
# that is set (the device tool brings $OUT back).
set -uo pipefail
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
$PY - <<'PY' || exit 1
import sklearn, torch, transformers
print("torch", torch.__version__, "transformers", transformers.__version__,
      "scikit-learn", sklearn.__version__, "cuda", torch.cuda.is_available())
assert torch.cuda.is_available(), "no CUDA device visible"
import elang_sk  # fails here if a dependency is missing: carry it as a wheel
PY
bench() { $PY benchmarks/bench_serving.py --device cuda --random-weights --offline "$@"; }
# 1. Every dtype (fp32, fp16, bf16 when supported), 4,096 snippets, the default
#    batch size of TransformerClassifier (32), latency 1/8/64/1024, profile.
bench --n-inputs 4096 --repeats 5 --profile --label cuda
# 2. Batch size sized for the device: fp16 at 128 and 512 inputs per batch.
for bs in 128 512; do
    bench --n-inputs 4096 --repeats 5 --dtypes float16 --latency-sizes 1 \
        --batch-size "$bs" --label "cuda_float16_batch$bs"
done
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT/serving" && cp benchmarks/results/serving/cuda* "$OUT/serving/"
fi
