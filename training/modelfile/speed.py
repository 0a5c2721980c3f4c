"""ONNX Runtime throughput of model files, through the service's own input pipeline.

Every model is timed the same way: uint8 frames (N, H, W, 3) at the card's input size ->
the card's preprocessing -> `session.run` -> calibrated p_synthetic, i.e.
`app.contract.predictor.Predictor.predict` on the CPU provider. Decoding is not included.

On a shared machine absolute times drift, so models compared with each other are timed
side by side: `rounds` rounds, each timing every model in turn for about `seconds`,
and each model's figure is its median over the rounds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.contract.predictor import Predictor

CPU = ["CPUExecutionProvider"]


def load_engine(path: str | Path, threads: int = 2) -> Predictor:
    """The service's engine for `path` on the CPU provider with `threads` intra-op threads."""
    return Predictor.load(Path(path), CPU, intra_op_threads=threads)


def random_frames(engine: Predictor, batch_size: int, seed: int = 0) -> np.ndarray:
    """A seeded batch of uint8 frames at the engine's input size."""
    spec = engine.card.input
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch_size, spec.height, spec.width, 3), dtype=np.uint8)


def compare_speed(
    paths: Sequence[str | Path],
    *,
    batch_size: int = 32,
    threads: int = 2,
    rounds: int = 3,
    seconds: float = 1.0,
) -> list[float]:
    """Frames/s of each model file, timed side by side (see the module docstring)."""
    if batch_size < 1 or threads < 1 or rounds < 1 or seconds <= 0:
        raise ValueError(
            f"need batch_size, threads, rounds >= 1 and seconds > 0, "
            f"got {batch_size}, {threads}, {rounds}, {seconds}"
        )
    engines = [load_engine(p, threads) for p in paths]
    batches = [random_frames(e, batch_size) for e in engines]
    for engine, frames in zip(engines, batches, strict=True):
        engine.predict(frames)  # warm-up: lazy initialisation and memory arenas
    figures = np.empty((rounds, len(engines)))
    for r in range(rounds):
        for i, (engine, frames) in enumerate(zip(engines, batches, strict=True)):
            figures[r, i] = _frames_per_second(engine, frames, seconds)
    return [float(f) for f in np.median(figures, axis=0)]


def frames_per_second(
    path: str | Path, *, batch_size: int = 32, threads: int = 2, rounds: int = 3, seconds: float = 1.0
) -> float:
    """Frames/s of one model file (arguments as for `compare_speed`)."""
    return compare_speed(
        [path], batch_size=batch_size, threads=threads, rounds=rounds, seconds=seconds
    )[0]


def ensemble_frames_per_second(member_fps: Sequence[float]) -> float:
    """Frames/s of running every member on the same frames one after another:
    1 / sum(1 / fps_i), the members' times per frame added up."""
    if not member_fps or min(member_fps) <= 0:
        raise ValueError(f"need positive member frames/s, got {list(member_fps)}")
    return float(1.0 / sum(1.0 / f for f in member_fps))


def _frames_per_second(engine: Predictor, frames: np.ndarray, seconds: float) -> float:
    """Run whole batches for at least `seconds` (and at least once); frames per second."""
    runs, start = 0, time.perf_counter()
    while True:
        engine.predict(frames)
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return runs * len(frames) / elapsed
