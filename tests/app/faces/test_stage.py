"""The face stage's slots: a frame holds one from submission to its answer (cancelled or
not), so frames in flight stay bounded and the classifier's backpressure reaches the
decoders."""

from __future__ import annotations

import asyncio
import threading

import av
import numpy as np
import pytest

from app.contract.card import FaceCrop
from app.faces.detector import FaceDetector
from app.faces.plan import FaceViews
from app.faces.stage import FaceJudge
from app.inference.batcher import Batcher
from app.metrics import Metrics
from tests.helpers import astronaut

pytestmark = pytest.mark.anyio
SIZE = 32


class GatedClassifier:
    """p = 0.5 for every crop, once `release` is set; `entered` when the first batch came."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, crops: list[np.ndarray]) -> list[float]:
        self.entered.set()
        self.release.wait(timeout=30)
        return [0.5] * len(crops)


def judge(classify, max_in_flight: int = 2) -> FaceJudge:
    metrics = Metrics()
    detector = FaceDetector.load("blazeface_full_range", ["CPUExecutionProvider"], intra_op_threads=1)
    detections = Batcher(detector.detect_each, None, max_batch_size=4, max_wait_s=0, max_queued=16,
                         metrics=metrics.detector_batches)
    classifier = Batcher(classify, (SIZE, SIZE, 3), max_batch_size=4, max_wait_s=0, max_queued=16,
                         metrics=metrics.classifier_batches)
    crop = FaceCrop(kind="face", detector="blazeface_full_range", size=SIZE)
    return FaceJudge(detector, detections, classifier, crop, "RGB", max_side=960,
                     max_in_flight=max_in_flight, metrics=metrics)


def views(faces: FaceJudge) -> FaceViews:
    """The face stage's views of skimage's astronaut, as a decoder worker converts them."""
    image = av.VideoFrame.from_ndarray(astronaut(), format="rgb24")
    return faces.conversions.for_size(image.width, image.height).convert(image)


async def test_a_judgement_cancelled_before_it_ran_gives_its_slot_back() -> None:
    faces = judge(lambda crops: [0.5] * len(crops))
    await faces.start()
    converted = views(faces)
    for _ in range(3):  # with 2 slots, a lost one would leave the third submit waiting forever
        (await asyncio.wait_for(faces.submit(converted), 30)).cancel()
    judged = await asyncio.wait_for(await faces.submit(converted), 30)
    await faces.stop()
    assert judged.p_synthetic == 0.5 and len(judged.faces) == 1


async def test_a_frame_keeps_its_slot_until_its_faces_are_answered() -> None:
    gate = GatedClassifier()
    faces = judge(gate, max_in_flight=2)
    await faces.start()
    converted = views(faces)
    first = [await faces.submit(converted) for _ in range(2)]
    await asyncio.to_thread(gate.entered.wait, 30)  # both frames' crops wait on the classifier
    third = asyncio.ensure_future(faces.submit(converted))
    await asyncio.sleep(0.3)
    assert not third.done()  # no slot: the decoder waits for the classifier
    gate.release.set()
    answers = await asyncio.wait_for(asyncio.gather(*first, await third), 30)
    await faces.stop()
    assert [a.p_synthetic for a in answers] == [0.5, 0.5, 0.5]
