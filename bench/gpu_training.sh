#!/usr/bin/env bash
# The training package on a CUDA machine: proof that `device: auto` picks the GPU (with AMP)
# and the smoke and default presets run end to end there, with the wall time of each and
# the default run's report table. Usage: bench/gpu_training.sh [OUT_DIR] [distill --set args]
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
cat "$OUT/default/report.md"
