#!/usr/bin/env bash
# The training package on a CUDA machine: proof that `device: auto` picks the GPU (with AMP)
# and the smoke and default presets run end to end there, with the wall time of each and
# the default run's report table; on 2 GPUs or more, the smoke preset again under torchrun
# (DDP, NCCL, one GPU a rank) and bench/ddp.py's epochs on 1 GPU vs all (untested: no
# multi-GPU machine has run it yet). Usage: bench/gpu_training.sh [OUT_DIR] [distill --set args]
# Needs torch with CUDA and the `train` extra importable by PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu}
shift || true
PY=${PYTHON:-python3}
mkdir -p "$OUT"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nproc
"$PY" - <<'PY'
import av, onnxruntime, torch

from training.run import pick_device

device = pick_device("auto")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device {device} "
      f"({torch.cuda.get_device_name() if device.type == 'cuda' else 'no GPU'}); "
      f"PyAV {av.__version__}; onnxruntime {onnxruntime.__version__}")
if device.type != "cuda":
    raise SystemExit("device auto did not pick CUDA")
PY

for preset in smoke default; do
    start=$(date +%s)
    "$PY" -m training.cli distill "$preset" --out "$OUT/$preset" "$@" 2>&1 \
        | grep --line-buffered -v -E '^\s*[0-9]+%|it/s]' >"$OUT/$preset.log" || {
        tail -40 "$OUT/$preset.log"; exit 1; }
    echo "$preset preset: $(( $(date +%s) - start )) s wall"
done
GPUS=$(nvidia-smi -L | wc -l)
if [ "$GPUS" -ge 2 ]; then
    start=$(date +%s)
    batch=$((16 * GPUS))  # 16 a GPU: any number of GPUs divides it
    "$PY" -m torch.distributed.run --standalone --nproc-per-node "$GPUS" -m training.cli distill smoke \
        --out "$OUT/smoke-ddp" --set teachers.batch_size=$batch --set students.batch_size=$batch "$@" 2>&1 | grep --line-buffered -v -E '^\s*[0-9]+%|it/s]' >"$OUT/smoke-ddp.log" || {
        tail -40 "$OUT/smoke-ddp.log"; exit 1; }
    echo "smoke preset on $GPUS GPUs (DDP, NCCL): $(( $(date +%s) - start )) s wall"
    grep -E '^  (world_size|device):' "$OUT/smoke-ddp/config.yaml"
    "$PY" bench/ddp.py --nproc "$GPUS" --device cuda --batch $((32 * GPUS))
else
    echo "$GPUS GPU: no DDP run (it needs 2 or more)"
fi
cat "$OUT/default/report.md"
