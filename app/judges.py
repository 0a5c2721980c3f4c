"""The judge a model's card asks for, with its batchers (not yet started): the whole frame
through the classifier (`crop: frame`), or the face stage in front of it (`crop: face`).
Made once by the lifespan (or the `screen` command), shared by every upload and stream."""

from __future__ import annotations

from app.config import Settings
from app.contract.card import FaceCrop
from app.faces.detector import FaceDetector
from app.faces.stage import FaceJudge
from app.inference.batcher import Batcher, stacked, stacked_extra
from app.inference.engine import Engine
from app.judging import FrameJudge, Judge
from app.metrics import Metrics


def make_judge(settings: Settings, engine: Engine, metrics: Metrics) -> Judge:
    """The card's judge in front of `engine`, its batchers sized by the settings (the
    classifier's fetches the attention map only for batches with a frame that asks for a
    heatmap)."""
    spec, crop = engine.card.input, engine.card.crop
    classifier = Batcher(
        stacked(engine.predict),
        (spec.height, spec.width, 3),
        max_batch_size=settings.max_batch_size,
        max_wait_s=settings.max_wait_ms / 1000,
        max_queued=settings.max_queued_frames,
        metrics=metrics.classifier_batches,
        run_extra=stacked_extra(engine.predict_with_attention) if engine.card.output.attention else None,
    )
    if isinstance(crop, FaceCrop):
        return _face_judge(settings, crop, classifier, spec.color, metrics)
    return FrameJudge(classifier, (spec.width, spec.height), spec.color)


def _face_judge(
    settings: Settings, crop: FaceCrop, classifier: Batcher[float], color: str, metrics: Metrics
) -> FaceJudge:
    """The face stage in front of `classifier`: the card's detector behind its own batcher."""
    detector = FaceDetector.load(crop.detector, settings.providers, settings.intra_op_threads,
                                 settings.detectors_dir)
    detections = Batcher(
        detector.detect_each,
        None,
        max_batch_size=settings.face_detector_batch_size,
        max_wait_s=settings.max_wait_ms / 1000,
        max_queued=max(settings.max_queued_frames, settings.face_detector_batch_size),
        metrics=metrics.detector_batches,
    )
    return FaceJudge(detector, detections, classifier, crop, color,
                     max_side=settings.face_detector_max_side,
                     max_in_flight=settings.max_face_frames_in_flight, metrics=metrics)
