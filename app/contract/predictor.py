"""The predictor: one ONNX Runtime session and its model card; preprocessing from the card,
calibrated output. The service serves through it (`app.inference.engine`), and training
checks parity and times models through it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import onnxruntime as ort

from app.contract.card import CardError, ModelCard, parse_card

log = logging.getLogger(__name__)


def provider_options(name: str, trt_cache_dir: Path | None) -> dict[str, str]:
    """Options for one execution provider: TensorRT caches its engines when given a dir."""
    if name == "TensorrtExecutionProvider" and trt_cache_dir is not None:
        return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(trt_cache_dir)}
    return {}


def open_session(
    path: Path,
    providers: list[str],
    intra_op_threads: int = 0,
    trt_cache_dir: Path | None = None,
    spinning: bool = False,
) -> tuple[ort.InferenceSession, list[str]]:
    """An ORT session of `path` on the available ones of `providers` (and those chosen)."""
    available = set(ort.get_available_providers())
    chosen = [p for p in providers if p in available]
    if not chosen:
        raise RuntimeError(f"none of the providers {providers} is available ({sorted(available)})")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning intra-op threads busy-wait between runs on the cores the decoders need.
    options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=[(p, provider_options(p, trt_cache_dir)) for p in chosen]
    )
    return session, chosen


@dataclass(frozen=True)
class Predictor:
    """A loaded model: call `predict` with frames already at the card's input size."""

    session: ort.InferenceSession
    card: ModelCard
    path: Path

    @classmethod
    def load(
        cls,
        path: Path,
        providers: list[str],
        intra_op_threads: int = 0,
        trt_cache_dir: Path | None = None,
        spinning: bool = False,
    ) -> Self:
        """Open `path` with the first available of `providers`; refuse a model without a card."""
        if not path.is_file():
            raise CardError(f"{path}: model file not found")
        session, chosen = open_session(path, providers, intra_op_threads, trt_cache_dir, spinning)
        card = parse_card(session.get_modelmeta().custom_metadata_map, str(path))
        check_io(session, card, str(path))
        predictor = cls(session=session, card=card, path=path)
        if chosen[0] not in predictor.providers:  # e.g. onnxruntime-gpu without usable CUDA libraries
            log.warning("asked for %s but the session runs on %s", chosen, predictor.providers)
        log.info(
            "loaded %s %s from %s: input %dx%d %s, providers %s",
            card.name,
            card.version,
            path,
            card.input.width,
            card.input.height,
            card.input.color,
            predictor.providers,
        )
        return predictor

    @property
    def providers(self) -> list[str]:
        """Providers the session really runs on (not merely the ones asked for)."""
        return self.session.get_providers()

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames (N, H, W, 3) in the card's colour order -> the model's input tensor."""
        spec = self.card.input
        if spec.dtype == "uint8":
            return np.ascontiguousarray(frames if spec.layout == "NHWC" else frames.transpose(0, 3, 1, 2))
        std = np.asarray(spec.std, np.float32)
        gain = spec.scale / std
        bias = np.asarray(spec.mean, np.float32) / std
        if spec.layout == "NHWC":
            return frames * gain - bias
        x = np.empty((frames.shape[0], 3, *frames.shape[1:3]), np.float32)
        for c in range(3):  # a plane at a time: 4x faster than a transposing astype (bench/)
            np.multiply(frames[..., c], gain[c], out=x[:, c], casting="unsafe")
            x[:, c] -= bias[c]
        return x

    def logits(self, frames: np.ndarray) -> np.ndarray:
        """The model's raw logits (N, 2) for uint8 frames (N, H, W, 3) at the card's size."""
        spec = self.card
        return self.session.run([spec.output.logits], {spec.input.name: self.preprocess(frames)})[0]

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """p_synthetic for each frame: softmax(logits / T)[synthetic] with the card's T."""
        return self.calibrated(self.logits(frames))

    def predict_with_attention(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p_synthetic and the attention map (N, h, w), in [0, 1], of each frame, from one
        run: for a model whose card names an attention output (the heatmaps)."""
        spec = self.card
        if spec.output.attention is None:
            raise ValueError(f"{self.path}: the model has no attention output (card output.extra)")
        logits, maps = self.session.run(
            [spec.output.logits, spec.output.attention], {spec.input.name: self.preprocess(frames)}
        )
        return self.calibrated(logits), maps

    def calibrated(self, logits: np.ndarray) -> np.ndarray:
        """p_synthetic of logits (N, 2) at the card's temperature."""
        spec = self.card
        logits = logits.astype(np.float64) / spec.calibration.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs[:, spec.output.synthetic_index]

    def warm_up(self, batches: int, batch_size: int) -> None:
        """Run a few batches so the first real request does not pay for lazy initialisation."""
        spec = self.card.input
        frames = np.zeros((batch_size, spec.height, spec.width, 3), np.uint8)
        for _ in range(batches):
            self.predict(frames)


def check_io(session: ort.InferenceSession, card: ModelCard, source: str) -> None:
    """The card must name real tensors, and the input's type and shape must agree with it."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if card.input.name not in inputs:
        raise CardError(f"{source}: input.name {card.input.name!r} is not an input {sorted(inputs)}")
    if card.output.logits not in outputs:
        raise CardError(f"{source}: output.logits {card.output.logits!r} is not an output {sorted(outputs)}")
    for meaning, name in card.output.extra.items():
        if name not in outputs:
            raise CardError(f"{source}: output.extra.{meaning} {name!r} is not an output {sorted(outputs)}")
    if card.output.attention is not None and len(outputs[card.output.attention].shape) != 3:
        shape = outputs[card.output.attention].shape
        raise CardError(f"{source}: the attention output must be (N, h, w), the model's is {shape}")
    tensor = inputs[card.input.name]
    expected_type = "tensor(uint8)" if card.input.dtype == "uint8" else "tensor(float)"
    if tensor.type != expected_type:
        raise CardError(f"{source}: model input is {tensor.type}, the card says {card.input.dtype}")
    expected = list(card.input.shape)
    fixed = [(d, e) for d, e in zip(tensor.shape[1:], expected, strict=False) if isinstance(d, int)]
    if len(tensor.shape) != 4 or any(d != e for d, e in fixed):
        raise CardError(
            f"{source}: model input shape {tensor.shape} does not match the card's [N, {expected}]"
        )
