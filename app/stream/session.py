"""One WebSocket stream: receive frames or byte chunks, screen them through the shared
batcher, answer each frame in order, summarise at the end. Protocol: `app.stream.protocol`."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket
from pydantic import TypeAdapter, ValidationError

from app.contract.card import FaceCrop
from app.errors import BadFrame, DecoderCrashed, HeatmapUnavailable, ScreenError, explain
from app.judging import Judgement
from app.screening import Screener, face_scores, heatmap_grid, no_face, summarise
from app.stream.protocol import (
    ClientText,
    EndMessage,
    ErrorMessage,
    FrameMessage,
    StreamClosed,
    StreamConfig,
    SummaryMessage,
)
from app.video.decode import Limits, Sampling
from app.video.decoders import Reader
from app.video.sources import BytePipe

_CLIENT_TEXT: TypeAdapter[StreamConfig | EndMessage] = TypeAdapter(ClientText)
_DEMUXERS = {"h264": "h264", "container": None}


@dataclass
class _Pending:
    """What the sender answers next, in arrival order: a queued frame, or a bad one's error."""

    index: int
    seq: int = -1
    time_s: float | None = None
    arrived: float = 0.0
    future: Awaitable[Judgement] | None = None
    skipped: int = 0  # the stream's frames skipped when this one was admitted
    error: ErrorMessage | None = None


@dataclass
class StreamSession:
    """State of one stream; `run` drives it until the client ends it or it fails."""

    websocket: WebSocket
    screener: Screener
    max_in_flight: int
    idle_timeout_s: float
    max_lag_s: float = 0.1  # with on_overload skip
    config: StreamConfig | None = None
    received: int = 0
    skipped: int = 0
    bad_frames: int = 0
    screened: int = 0
    probabilities: list[float] = field(default_factory=list)
    _admitted: int = 0
    _late: int = 0  # decoded, but skipped: its bytes had waited too long (on_overload skip)
    _pending: asyncio.Queue[_Pending | None] = field(default_factory=asyncio.Queue)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.max_in_flight)

    async def run(self) -> None:
        """Config, then frames, then the summary. Raises StreamClosed on a fatal error."""
        self.config = await self._receive_config()
        sender = asyncio.create_task(self._send_results())
        try:
            if self.config.kind == "images":
                await self._receive_images()
            else:
                await self._receive_byte_stream(_DEMUXERS[self.config.kind] or self.config.container_format)
            await self._pending.put(None)
            await sender
        finally:
            self._stop()
            sender.cancel()
            self._cancel_pending()
        await self.websocket.send_text(self._summary().model_dump_json())

    def _stop(self) -> None:
        """Stop decoding, and wake every producer waiting for a slot so it can see that."""
        self._stopped.set()
        for _ in range(self.max_in_flight):
            self._slots.release()

    async def _receive(self) -> dict:
        try:
            return await asyncio.wait_for(self.websocket.receive(), self.idle_timeout_s)
        except TimeoutError:
            raise StreamClosed("idle_timeout", f"nothing received for {self.idle_timeout_s} s") from None

    async def _receive_config(self) -> StreamConfig:
        message = await self._receive()
        _raise_if_disconnected(message)
        if message.get("text") is None:
            raise StreamClosed("binary_before_config", "the first message must be the config")
        parsed = self._parse_text(message["text"])
        if not isinstance(parsed, StreamConfig):
            raise StreamClosed("invalid_config", "the first message must be a config")
        try:
            self.screener.check_heatmap(parsed.heatmap)
        except HeatmapUnavailable as exc:
            raise StreamClosed(exc.code, exc.message) from exc
        return parsed

    def _parse_text(self, text: str) -> StreamConfig | EndMessage:
        try:
            return _CLIENT_TEXT.validate_json(text)
        except ValidationError as exc:
            code = "bad_json" if any(e["type"] == "json_invalid" for e in exc.errors()) else "invalid_config"
            raise StreamClosed(code, explain(exc.errors())) from exc

    async def _next_binary(self) -> bytes | None:
        """The next binary message, or None once the client sent `end`."""
        message = await self._receive()
        _raise_if_disconnected(message)
        if message.get("bytes") is not None:
            return message["bytes"]
        if isinstance(self._parse_text(message["text"]), EndMessage):
            return None
        raise StreamClosed("unexpected_config", "the config was already given")

    async def _next_binary_unless(self, decoding: asyncio.Future) -> bytes | None:
        """The next binary message, or None once the client sent `end` or `decoding` ended
        (a broken stream is answered at once, not at the client's next message)."""
        receiving = asyncio.ensure_future(self._next_binary())
        await asyncio.wait((receiving, decoding), return_when=asyncio.FIRST_COMPLETED)
        if not receiving.done():
            receiving.cancel()
            await asyncio.gather(receiving, return_exceptions=True)
            return None
        return receiving.result()

    async def _receive_images(self) -> None:
        while (data := await self._next_binary()) is not None:
            arrived, index = time.monotonic(), self.received
            self.received += 1
            try:
                pixels = await asyncio.to_thread(
                    self.screener.decoder.image, data, self.screener.judge.conversions,
                    self.screener.limits.max_pixels,
                )
            except (BadFrame, DecoderCrashed) as exc:  # one bad image costs its frame
                await self._report_bad_frame(exc, index)
                continue
            if self.config.every_n is None or index % self.config.every_n == 0:
                await self._admit(pixels, index, None, arrived)

    async def _receive_byte_stream(self, demuxer: str | None) -> None:
        pipe = BytePipe()
        loop = asyncio.get_running_loop()
        decoding = asyncio.create_task(asyncio.to_thread(self._decode_stream, pipe, demuxer, loop))
        try:
            while (chunk := await self._next_binary_unless(decoding)) is not None:
                await asyncio.to_thread(pipe.feed, chunk, time.monotonic())
        except BaseException:
            self._stop()
            pipe.finish()
            await asyncio.gather(decoding, return_exceptions=True)  # the thread ends; no leak
            raise
        pipe.finish()
        try:
            await decoding
        except ScreenError as exc:
            code = exc.code if isinstance(exc, DecoderCrashed) else "corrupt_stream"
            raise StreamClosed(code, exc.message) from exc

    def _decode_stream(self, pipe: BytePipe, demuxer: str | None, loop: asyncio.AbstractEventLoop) -> None:
        """A thread: the byte stream demuxed and decoded as it arrives; admit sampled frames."""
        screener = self.screener
        limits = Limits(screener.limits.max_pixels, math.inf, math.inf, screener.limits.allowed_codecs)
        config = self.config
        max_lag = self.max_lag_s if config.on_overload == "skip" else None
        sampling = Sampling(max_frames=2**62, every_n=config.every_n, fps=config.fps,
                            keyframes=config.keyframes, max_lag_s=max_lag)
        try:
            with screener.decoder.open(pipe, limits, screener.decode_threads, format=demuxer) as reader:
                frames = reader.converted(sampling, screener.judge.conversions, self._stopped.is_set,
                                          check_complete=False)
                for frame in frames:
                    self._count(reader)
                    admit = self._admit(frame.pixels, frame.index, frame.time_s, frame.arrived)
                    asyncio.run_coroutine_threadsafe(admit, loop).result()
                self._count(reader)
        finally:
            pipe.close_reader()

    def _count(self, reader: Reader) -> None:
        """Frames received so far: decoded, or skipped undecoded (or decoded too late)."""
        skipped = reader.frames_skipped + self._late
        self.screener.metrics.stream_frames_skipped.inc(skipped - self.skipped)
        self.received = reader.frames_decoded + reader.frames_skipped
        self.skipped = skipped

    async def _admit(self, pixels: Any, index: int, time_s: float | None, arrived: float | None) -> None:
        """Wait for an in-flight slot (this pauses reading), then submit the converted frame;
        a skipping stream skips a frame whose bytes arrived longer ago than its lag bound
        (`arrived` None: not known, now)."""
        arrived = time.monotonic() if arrived is None else arrived
        await self._slots.acquire()
        if self._stopped.is_set() or self._too_late(arrived):
            self._slots.release()
            return
        future = await self.screener.judge.submit(pixels, self.config.heatmap)
        await self._pending.put(_Pending(index, self._admitted, time_s, arrived, future, self.skipped))
        self._admitted += 1

    def _too_late(self, arrived: float) -> bool:
        late = self.config.on_overload == "skip" and time.monotonic() - arrived > self.max_lag_s
        self._late += late
        return late

    async def _send_results(self) -> None:
        """Answer frames in order, each as soon as its batch is done."""
        while (item := await self._pending.get()) is not None:
            if item.error is not None:
                await self._send(item.error)
                continue
            try:
                result = await item.future
            except Exception as exc:  # its batch failed: this frame only
                await self._send(
                    ErrorMessage(code="inference_failed", message=str(exc), fatal=False, index=item.index)
                )
                continue
            finally:
                self._slots.release()
            latency = time.monotonic() - item.arrived
            self.screener.metrics.stream_latency.observe(latency)
            self.screened += 1
            if result.p_synthetic is not None:
                self.probabilities.append(result.p_synthetic)
            await self._send(
                FrameMessage(
                    seq=item.seq,
                    index=item.index,
                    time_s=item.time_s,
                    p_synthetic=result.p_synthetic,
                    faces=face_scores(result),
                    reason=no_face(result),
                    heatmap=heatmap_grid(result.heatmap),
                    latency_ms=latency * 1000,
                    frames_skipped=item.skipped,
                )
            )

    async def _report_bad_frame(self, exc: ScreenError, index: int) -> None:
        self.bad_frames += 1
        self.screener.metrics.errors.labels(exc.code).inc()
        error = ErrorMessage(code=exc.code, message=exc.message, fatal=False, index=index)
        await self._pending.put(_Pending(index, error=error))

    async def _send(self, message: FrameMessage | ErrorMessage) -> None:
        await self.websocket.send_text(message.model_dump_json())

    def _cancel_pending(self) -> None:
        while not self._pending.empty():
            item = self._pending.get_nowait()
            if item is not None and item.future is not None:
                item.future.cancel()

    def _summary(self) -> SummaryMessage:
        face_model = isinstance(self.screener.card.crop, FaceCrop)
        summary = summarise(self.probabilities, face_model, self.screener.card.calibration.threshold)
        return SummaryMessage(
            client_id=self.config.client_id if self.config else None,
            frames_received=self.received,
            frames_screened=self.screened,
            frames_skipped=self.skipped,
            bad_frames=self.bad_frames,
            frames_with_faces=summary.frames_with_faces,
            mean_p_synthetic=summary.mean_p_synthetic,
            max_p_synthetic=summary.max_p_synthetic,
            threshold=summary.threshold,
            verdict=summary.verdict if self.screened else None,
            reason=summary.reason if self.screened else None,
        )

class ClientGone(Exception):
    """The client closed the connection."""


def _raise_if_disconnected(message: dict) -> None:
    if message["type"] == "websocket.disconnect":
        raise ClientGone()
