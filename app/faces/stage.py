"""The face stage of the service: detector batcher -> faces -> crops -> classifier batcher.

Each sampled frame is decoded straight to the detector's scales and to the frame faces are
cut from (`FacePlan.convert`, in a decoder worker). Its detector inputs join the shared
detector batcher; once they are answered, its faces are chosen and cut by the one cropper
(`app.faces.crops`, the same code training cuts with) and join the shared classifier
batcher. At most `max_in_flight` frames, over all clients, are between decoding and their
answer: that bounds the memory their full-size crop frames and their crops take, and
carries the classifier's backpressure back to the decoders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import numpy as np

from app.contract.card import FaceCrop
from app.faces.crops import combine, crop_region, cut_face
from app.faces.detector import FaceDetector
from app.faces.plan import Face, FacePlanner, FaceViews
from app.inference.batcher import Batcher
from app.judging import Judgement, ScoredFace
from app.metrics import Metrics


class FaceJudge:
    """Judges frames by their faces; `p_synthetic` is the card's `combine` over them."""

    def __init__(
        self,
        detector: FaceDetector,
        detections: Batcher[np.ndarray],
        classifier: Batcher[float],
        crop: FaceCrop,
        color: str,
        *,
        max_side: int,
        max_in_flight: int,
        metrics: Metrics,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.detector = detector
        self.detections = detections
        self.classifier = classifier
        self.crop = crop
        self.bgr = color == "BGR"  # crops are cut in RGB
        self.conversions = FacePlanner(crop, detector.spec, max_side)
        self.metrics = metrics
        self._slots = asyncio.Semaphore(max_in_flight)

    @property
    def has_heatmap(self) -> bool:
        return self.classifier.has_extra

    async def submit(self, views: FaceViews, heatmap: bool = False) -> Awaitable[Judgement]:
        """Take a slot, queue the frame's detector inputs, and return its judgement's task;
        the slot is the task's until it is done (answered, failed or cancelled, even before
        it first ran), so frames in flight and their crops stay bounded. With `heatmap`,
        each face is answered with the heatmap of its crop."""
        await self._slots.acquire()
        futures: list[asyncio.Future] = []
        try:
            for x in views.detector_inputs:
                futures.append(await self.detections.enqueue(x))
        except BaseException:
            _cancel(futures)
            self._slots.release()
            raise
        task = asyncio.ensure_future(self._judge(views, futures, heatmap))
        task.add_done_callback(lambda done: self._finished(done, futures))
        return task

    def _finished(self, task: asyncio.Future[Judgement], futures: list[asyncio.Future]) -> None:
        if task.cancelled():
            _cancel(futures)
        self._slots.release()

    async def _judge(self, views: FaceViews, futures: list[asyncio.Future], heatmap: bool) -> Judgement:
        found = await asyncio.gather(*futures)
        faces = views.plan.faces([r.value for r in found])
        # cutting copies regions of a full-size frame: off the event loop
        crops = await asyncio.to_thread(self._cut, views, faces)
        del views  # the crop frame is no longer needed
        batches = {("detector", r.batch_id): r.inference_s for r in found}
        wait = max(r.queue_wait_s for r in found)
        if not faces:
            self.metrics.frames_without_face.inc()
            return Judgement(None, (), wait, batches)
        self.metrics.faces.inc(len(faces))
        queued: list[asyncio.Future] = []
        try:
            for crop in crops:
                queued.append(await self.classifier.enqueue(crop, extra=heatmap))
            scored = await asyncio.gather(*queued)
        except BaseException:
            _cancel(queued)
            raise
        batches |= {("classifier", r.batch_id): r.inference_s for r in scored}
        wait += max(r.queue_wait_s for r in scored)
        judged = tuple(
            ScoredFace(f.box, f.score, r.value, r.extra, crop_region(f.box, self.crop) if heatmap else None)
            for f, r in zip(faces, scored, strict=True)
        )
        return Judgement(combine([f.p_synthetic for f in judged], self.crop.combine), judged, wait, batches)

    def _cut(self, views: FaceViews, faces: list[Face]) -> list[np.ndarray]:
        """The faces' crops, in the model's colour order."""
        crops = [cut_face(views.crop_frame, views.plan.source, f.box, self.crop) for f in faces]
        return [np.ascontiguousarray(c[..., ::-1]) for c in crops] if self.bgr else crops

    async def start(self) -> None:
        await self.detections.start()
        await self.classifier.start()

    async def stop(self) -> None:
        await self.detections.stop()
        await self.classifier.stop()

    def warm_up(self, batches: int) -> None:
        """Run the detector on blank frames at its base scale."""
        side = self.detector.spec.base
        for _ in range(batches):
            self.detector.detect(np.zeros((1, side, side, 3), np.uint8))


def _cancel(futures: list[asyncio.Future]) -> None:
    for future in futures:
        future.cancel()
