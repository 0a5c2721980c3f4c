"""The predictors: a Ray actor per model replica, holding the service's engine (one ONNX
Runtime session) behind the judge its card asks for (frames, or faces then frames), with
the judge's batchers running on the actor's own event loop.

Each call takes a batch of rows from many videos: its frames are submitted together, so
they share the model's batches, and each is answered as the REST API answers it (a
`FrameScore`, as JSON); a video's closing row passes through. A frame the judge refuses
is answered with the error's code, which fails its video.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np

from app.bulk.decode import FRAME, error_detail, unpack
from app.config import Settings
from app.errors import ScreenError
from app.inference.engine import Engine
from app.judges import make_judge
from app.metrics import Metrics
from app.screening import frame_score
from app.video.conversion import Conversion

OUT_COLUMNS = ("video_id", "kind", "index", "time_s", "detail")


class Predictor:
    """`map_batches` callable class: made once per actor, called with each batch."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        engine = Engine.from_settings(settings)
        self.providers = engine.providers
        self.judge = make_judge(settings, engine, Metrics())
        self.loop.run_until_complete(self.judge.start())
        engine.warm_up(settings.warmup_batches, settings.max_batch_size)
        self._conversions: dict[tuple[int, int], Conversion] = {}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        return self.loop.run_until_complete(self._judge(batch))

    async def _judge(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        rows = range(len(batch["video_id"]))
        frames = [i for i in rows if batch["kind"][i] == FRAME]
        pending = [
            await self.judge.submit(unpack(self._conversion(int(batch["width"][i]), int(batch["height"][i])),
                                           batch["pixels"][i]))
            for i in frames
        ]
        judged = dict(zip(frames, await asyncio.gather(*pending, return_exceptions=True), strict=True))
        out: dict[str, list[Any]] = {c: [batch[c][i] for i in rows] for c in OUT_COLUMNS}
        for i, judgement in judged.items():
            if isinstance(judgement, ScreenError):
                out["detail"][i] = json.dumps({"error": error_detail(judgement)})
            elif isinstance(judgement, BaseException):
                raise judgement
            else:
                out["detail"][i] = frame_score(int(batch["index"][i]), float(batch["time_s"][i]),
                                               judgement).model_dump_json()
        return out

    def close(self) -> None:
        """Stop the judge's batchers and the loop (an actor's end needs nothing: its process goes)."""
        self.loop.run_until_complete(self.judge.stop())
        self.loop.close()

    def _conversion(self, width: int, height: int) -> Conversion:
        if (width, height) not in self._conversions:
            self._conversions[(width, height)] = self.judge.conversions.for_size(width, height)
        return self._conversions[(width, height)]
