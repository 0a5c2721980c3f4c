#!/usr/bin/env bash
# The GPU path, checked and measured on a machine with an NVIDIA GPU and driver:
# a fresh venv with onnxruntime-gpu (CUDA and cuDNN from pip unless the system has them),
# proof that the CUDA (and, when installed, TensorRT) providers really run the shipped
# model, then the service benchmark on the GPU. Usage: bench/gpu.sh [pipeline.py args]
# Env: VENV (default .cache/venv-gpu), PYTHON (default python3), TENSORRT (a pip specifier such
# as 'tensorrt-cu13-libs>=10.13,<11' to add TensorRT; onnxruntime-gpu loads libnvinfer.so.10).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.cache/venv-gpu}
export DISTILSCREEN_MODEL_PATH=${DISTILSCREEN_MODEL_PATH:-models/distilscreen-student.onnx}
export DISTILSCREEN_PROVIDERS=${DISTILSCREEN_PROVIDERS:-'["TensorrtExecutionProvider","CUDAExecutionProvider","CPUExecutionProvider"]'}
export DISTILSCREEN_TRT_CACHE_DIR=${DISTILSCREEN_TRT_CACHE_DIR:-.cache/trt}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e '.[gpu,dev]' 'onnxruntime-gpu[cuda,cudnn]' ${TENSORRT:+"$TENSORRT"}
if "$VENV/bin/pip" show -q onnxruntime 2>/dev/null; then
    echo "the CPU onnxruntime is installed beside onnxruntime-gpu: they are the same module" >&2
    exit 1
fi

# The pip-installed CUDA, cuDNN and TensorRT libraries, for the loader of every process below.
LD_LIBRARY_PATH=$("$VENV/bin/python" -c 'import glob, os, sysconfig
site = sysconfig.get_paths()["purelib"]
dirs = glob.glob(f"{site}/nvidia/*/lib") + glob.glob(f"{site}/tensorrt_libs")
print(":".join(d for d in dirs + os.environ.get("LD_LIBRARY_PATH", "").split(":") if d))')
export LD_LIBRARY_PATH

mkdir -p "$DISTILSCREEN_TRT_CACHE_DIR"
"$VENV/bin/python" - <<'PY'
import ctypes
import sys

import onnxruntime as ort

from app.config import Settings
from app.inference.engine import Engine

try:
    ctypes.CDLL("libnvinfer.so.10")
    trt_present = True
except OSError:
    trt_present = False
settings = Settings()
engine = Engine.from_settings(settings)  # the service's own loading path
engine.warm_up(1, settings.max_batch_size)
print(f"onnxruntime {ort.__version__}, available {ort.get_available_providers()}")
print(f"in use {engine.providers}; TensorRT libraries {'present' if trt_present else 'absent'}")
required = ["CUDAExecutionProvider"] + ["TensorrtExecutionProvider"] * trt_present
missing = [p for p in required if p in settings.providers and p not in engine.providers]
sys.exit(f"requested but not in use: {missing}" if missing else 0)
PY

"$VENV/bin/python" bench/pipeline.py "$@"
