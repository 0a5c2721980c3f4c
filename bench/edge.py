"""Edge benchmark: the student where users are, against the teacher ensemble.

In one run on this machine:
- native ONNX Runtime at edge settings (1 thread, batch 1): per-frame latency p50 / p99
  and the peak memory of a fresh process that loads the model(s) and screens, for the
  student and the teacher ensemble (its three members one after the other), FP32 and INT8;
- ONNX Runtime Web 1.30 (WebAssembly) in Debian's Chromium, on the review page (which is
  cross-origin isolated, so WASM may use threads), frames/s at batch 1 with 1 and 4
  threads, beside native ORT with as many threads.

The models: the `default` preset's architectures at 160 px (PatchNet-S student;
MobileNetV2, EfficientNet-Lite0 and the SRM ResNet teachers) with their initial weights
(speed and memory do not depend on the values), exported as training exports them, INT8
by the same static quantisation; and the shipped student (INT8) as it is.

    python bench/edge.py [--runs 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, machine, start_service

SIZE = 160
STUDENT = "patchnet_s"
TEACHERS = ("mobilenetv2_100", "efficientnet_lite0", "srm_resnet")
SHIPPED = ROOT / "models" / "distilscreen-student.onnx"
CHROMIUM = "/usr/bin/chromium"

# The page's ONNX Runtime Web, timing `runs` batch-1 frames of a model served at `url`.
BROWSER_RUN = """async ([url, threads, runs, size]) => {
  const ort = await import("/page/ort/ort.min.mjs");  // the page's build; WebAssembly here
  ort.env.wasm.wasmPaths = "/page/ort/";
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(await (await fetch(url)).arrayBuffer(),
                                                    { executionProviders: ["wasm"] });
  const input = session.inputNames[0];
  const data = new Uint8Array(size * size * 3).map(() => Math.floor(Math.random() * 256));
  const feed = { [input]: new ort.Tensor("uint8", data, [1, size, size, 3]) };
  for (let i = 0; i < 10; i++) await session.run(feed);
  const started = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feed);
  return { fps: runs / ((performance.now() - started) / 1000), isolated: self.crossOriginIsolated };
}"""


def build_models(out: Path) -> dict[str, list[Path]]:
    """FP32 and INT8 files of the student and of each teacher (initial weights), and the
    shipped student, by name: one file, or the ensemble's three."""
    import torch

    from training.modelfile.exporter import export_student
    from training.modelfile.variants import build_variant
    from training.nets.base import NETS

    torch.manual_seed(0)
    frames = np.random.default_rng(0).integers(0, 256, (16, SIZE, SIZE, 3), dtype=np.uint8)
    files: dict[str, list[Path]] = {}
    for name in (STUDENT, *TEACHERS):
        fp32, int8 = out / f"{name}.fp32.onnx", out / f"{name}.int8.onnx"
        export_student(NETS.build(name).eval(), fp32, name=name, version="bench", frames=frames)
        build_variant(fp32, int8, "int8", frames)
        files[f"{name} fp32"], files[f"{name} int8"] = [fp32], [int8]
    for precision in ("fp32", "int8"):
        files[f"ensemble {precision}"] = [out / f"{t}.{precision}.onnx" for t in TEACHERS]
    files["shipped student (int8)"] = [SHIPPED]
    return files


def measure(paths: list[Path], runs: int) -> dict[str, float]:
    """In this (fresh) process: per-frame latency of the models one after the other, at 1
    thread and batch 1, and the peak memory, above the interpreter with ORT imported."""
    import onnxruntime as ort

    base = peak_memory_mb()
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sessions = [ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in paths]
    frame = np.random.default_rng(0).integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)
    feeds = [{s.get_inputs()[0].name: frame} for s in sessions]
    latencies = []
    for i in range(runs + 20):
        started = time.perf_counter()
        for session, feed in zip(sessions, feeds, strict=True):
            session.run(None, feed)
        if i >= 20:  # after a warm-up
            latencies.append(time.perf_counter() - started)
    peak = peak_memory_mb()
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return {"p50_ms": p50, "p99_ms": p99, "peak_mb": peak, "model_mb": peak - base}


def peak_memory_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike getrusage's, not inherited across exec)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024


def native_fps(path: Path, threads: int, runs: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).integers(0, 256, (1, SIZE, SIZE, 3),
                                                                            dtype=np.uint8)}
    for _ in range(10):
        session.run(None, feed)
    started = time.perf_counter()
    for _ in range(runs):
        session.run(None, feed)
    return runs / (time.perf_counter() - started)


def browser_fps(files: dict[str, list[Path]], runs: int) -> dict[tuple[str, int], tuple[float, bool]]:
    """Frames/s of each single model in ONNX Runtime Web, 1 and 4 threads (a fresh page each:
    the thread count is fixed at the first session)."""
    from playwright.sync_api import sync_playwright

    port = 19000 + os.getpid() % 1000
    service = start_service(port, model=SHIPPED)
    results = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for name, paths in files.items():
                if len(paths) != 1:
                    continue
                for threads in (1, 4):
                    page = browser.new_page()
                    body = paths[0].read_bytes()
                    page.route("**/bench/model.onnx", lambda route, _, body=body: route.fulfill(body=body))
                    page.goto(f"http://127.0.0.1:{port}/")
                    done = page.evaluate(BROWSER_RUN, ["/bench/model.onnx", threads, runs, SIZE])
                    results[name, threads] = (done["fps"], done["isolated"])
                    page.close()
            browser.close()
    finally:
        service.terminate()
        service.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="frames timed per model and setting")
    parser.add_argument("--measure", nargs="+", type=Path, help=argparse.SUPPRESS)  # the fresh process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.runs)))
        return

    files = build_models(Path(tempfile.mkdtemp()))
    print(f"machine: {machine()}")
    print("native ONNX Runtime, 1 thread, batch 1 (a fresh process each):")
    print(f"{'model':<28} {'p50 ms':>8} {'p99 ms':>8} {'peak MB':>8} {'models MB':>9} {'file KB':>8}")
    for name, paths in files.items():
        command = [sys.executable, __file__, "--runs", str(args.runs), "--measure", *map(str, paths)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        m = json.loads(out.strip().splitlines()[-1])
        size = sum(p.stat().st_size for p in paths) / 1024
        print(f"{name:<28} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} {m['peak_mb']:>8.0f} "
              f"{m['model_mb']:>9.0f} {size:>8.0f}")
    from training.modelfile.speed import ensemble_frames_per_second

    single = {name: paths for name, paths in files.items() if len(paths) == 1}
    web = browser_fps(single, args.runs)
    print("\nframes/s at batch 1: ONNX Runtime Web (WASM) in Chromium vs native ONNX Runtime, same threads:")
    print(f"{'model':<28} {'threads':>7} {'web':>8} {'native':>8} {'web/native':>10}")
    for (name, threads), (fps, isolated) in web.items():
        native = native_fps(single[name][0], threads, args.runs)
        note = "" if isolated or threads == 1 else " (page not isolated: 1 thread)"
        print(f"{name:<28} {threads:>7} {fps:>8.0f} {native:>8.0f} {fps / native:>10.2f}{note}")
    for precision in ("fp32", "int8"):  # the ensemble runs its members one after the other
        for threads in (1, 4):
            member_fps = [web[f"{t} {precision}", threads][0] for t in TEACHERS]
            ensemble = ensemble_frames_per_second(member_fps)
            print(f"{'ensemble ' + precision:<28} {threads:>7} {ensemble:>8.0f}")
    print(f"\n(this machine has {os.cpu_count()} cores: 4 threads share them)")


if __name__ == "__main__":
    main()
