"""Training's face crops are the service's: the same plan, detector and cropper on the same
decoded frames give the same pixels; frames without a face are skipped, clips without one
dropped; the cache keys on the crop spec."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

from app.contract.card import FaceCrop
from app.faces.crops import cut_face
from app.faces.detector import FaceDetector
from app.faces.plan import DEFAULT_MAX_SIDE, FacePlan
from app.faces.registry import DETECTORS
from training.data import FrameCache, Sample, frame_indices, load_dataset, sample_frames
from training.data.faces import FaceSampler, crop_at, face_crops
from training.data.frameset import load_frames

CROP = FaceCrop(kind="face", detector="blazeface_full_range", size=64)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector.load(CROP.detector, ["CPUExecutionProvider"], intra_op_threads=1)


def decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def service_crops(frames: list[av.VideoFrame], crop: FaceCrop, detector: FaceDetector
                  ) -> list[list[tuple[float, np.ndarray]]]:
    """What the service does with a batch of decoded frames: views, the detector batched
    over the frames at each scale, faces, cuts. Per frame: (score, crop) of each face."""
    source = (frames[0].width, frames[0].height)
    plan = FacePlan.make(source, crop, DETECTORS[crop.detector], DEFAULT_MAX_SIDE)
    views = [plan.convert(frame) for frame in frames]
    per_scale = [detector.detect(np.stack([v.detector_inputs[s] for v in views]))
                 for s in range(len(plan.scales))]
    out = []
    for i, view in enumerate(views):
        faces = plan.faces([detections[i] for detections in per_scale])
        out.append([(f.score, cut_face(view.crop_frame, plan.source, f.box, crop)) for f in faces])
    return out


def test_training_crops_equal_the_services(face_benchmark: Path, detector: FaceDetector) -> None:
    clip = load_dataset(face_benchmark)[0].path
    frames = decoded(clip)
    served = service_crops(frames, CROP, detector)
    source = (frames[0].width, frames[0].height)
    plan = FacePlan.make(source, CROP, DETECTORS[CROP.detector], DEFAULT_MAX_SIDE)
    for frame, expected in zip(frames, served, strict=True):
        ours = face_crops(frame, plan, detector)
        assert [face.score for face, _ in ours] == [score for score, _ in expected]
        for (_, crop), (_, want) in zip(ours, expected, strict=True):
            np.testing.assert_array_equal(crop, want)
    assert sum(len(faces) for faces in served) >= len(frames)  # every frame has its face


def test_sampled_face_crops_are_the_best_service_crop_of_each_seeded_frame(
        face_benchmark: Path, detector: FaceDetector) -> None:
    sampler = FaceSampler(CROP)
    for sample in load_dataset(face_benchmark)[:3]:
        frames = decoded(sample.path)
        for size in (64, 96):
            picked = [frames[i] for i in frame_indices(len(frames), 4, 7)]
            best = [max(faces, key=lambda pair: pair[0])[1]
                    for faces in service_crops(picked, crop_at(CROP, size), detector) if faces]
            ours = sample_frames(sample.path, 4, size, seed=7, faces=sampler)
            assert ours.shape == (len(best), size, size, 3) and len(best) >= 3
            np.testing.assert_array_equal(ours, np.stack(best))


def test_frames_without_a_face_are_skipped_and_such_clips_dropped(
        tmp_path: Path, media, face_benchmark: Path, caplog: pytest.LogCaptureFixture) -> None:
    faceless = media.encode_clip(tmp_path / "grey.mp4", media.index_levels(8))
    sampler = FaceSampler(CROP)
    assert sample_frames(faceless, 4, 64, faces=sampler).shape == (0, 64, 64, 3)
    with pytest.raises(ValueError, match="size must be a positive int"):
        sample_frames(faceless, 4, (64, 48), faces=sampler)
    faces = load_dataset(face_benchmark)[:2]
    samples = [faces[0], Sample(faceless, 0, "train", "grey", "test"), faces[1]]
    with caplog.at_level(logging.INFO):
        loaded = load_frames(samples, FrameCache(tmp_path / "cache", faces=sampler), 4, 64, 0)
    assert "1 of 3 clips dropped" in caplog.text
    assert loaded.samples == (faces[0], faces[1]) and set(loaded.video) == {0, 1}


def test_the_cache_keys_on_the_crop_spec(tmp_path: Path, face_benchmark: Path) -> None:
    clip = load_dataset(face_benchmark)[0].path
    whole = FrameCache(tmp_path)
    entries = {whole.entry(clip, 4, 64, 0)}
    for crop in (CROP, CROP.model_copy(update={"margin": 1.6}), CROP.model_copy(update={"min_face_px": 60})):
        cache = FrameCache(tmp_path, faces=FaceSampler(crop))
        entries.add(cache.entry(clip, 4, 64, 0))
    assert len(entries) == 4
    first = FrameCache(tmp_path, faces=FaceSampler(CROP)).get(clip, 4, 64, 0)
    np.testing.assert_array_equal(first, sample_frames(clip, 4, 64, 0, FaceSampler(CROP)))
    again = FrameCache(tmp_path, faces=FaceSampler(CROP))
    np.testing.assert_array_equal(again.get(clip, 4, 64, 0), first)
    assert (again.hits, again.misses) == (1, 0)
