"""StreamSession driven through an in-memory transport, against a real screener (the ONNX
test model, decoder worker processes): frames answered in order, summaries, bad frames,
byte streams, and the fatal errors that close a stream."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest

from app.config import Settings
from app.inference.engine import Engine
from app.metrics import Metrics
from app.screening import Screener, running_screener
from app.stream.protocol import CloseCode, StreamClosed, StreamConfig
from app.stream.session import ClientGone, StreamSession
from tests.helpers import (
    MODEL_SIZE,
    configured,
    direct_probabilities,
    direct_run,
    encode_frames,
    encode_image,
    encode_video,
)

pytestmark = pytest.mark.anyio
TIMEOUT_S = 60  # only ever reached when something is broken: a failure, not a hang


class QueueSocket:
    """The session's side of a WebSocket: what the client sent waits in `incoming` (ASGI
    receive events), and every text the session sends lands in `sent`, parsed."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict] = asyncio.Queue()
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        return await self.incoming.get()

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    def text(self, message: dict | str) -> None:
        """The client sends a text message (a dict is sent as its JSON)."""
        data = message if isinstance(message, str) else json.dumps(message)
        self.incoming.put_nowait({"type": "websocket.receive", "text": data})

    def binary(self, data: bytes) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "bytes": data})

    def disconnect(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})


@pytest.fixture
async def screener(settings: Settings) -> AsyncIterator[Screener]:
    """A started screener with one decoder worker; stopped after the test."""
    settings = configured(settings, decode_workers=1)
    async with running_screener(settings, Engine.from_settings(settings), Metrics()) as screener:
        yield screener


def session(
    socket: QueueSocket, screener: Screener, idle_timeout_s: float = TIMEOUT_S, max_lag_s: float = 0.1
) -> StreamSession:
    return StreamSession(socket, screener, 4, idle_timeout_s, max_lag_s)  # type: ignore[arg-type]


async def streamed(
    screener: Screener, config: dict, messages: list[bytes], idle_timeout_s: float = TIMEOUT_S,
    max_lag_s: float = 0.1,
) -> tuple[list[dict], dict]:
    """Send config, binary messages and `end`; run the session; its answers and summary."""
    socket = QueueSocket()
    socket.text({"type": "config"} | config)
    for message in messages:
        socket.binary(message)
    socket.text({"type": "end"})
    await asyncio.wait_for(session(socket, screener, idle_timeout_s, max_lag_s).run(), TIMEOUT_S)
    assert socket.sent and socket.sent[-1]["type"] == "summary", socket.sent[-1:]
    return socket.sent[:-1], socket.sent[-1]


def png(pixels: np.ndarray) -> bytes:
    return encode_image(pixels, "png")


def images(count: int) -> list[np.ndarray]:
    """Distinct noisy RGB frames at the model's input size (so no resizing is involved)."""
    rng = np.random.default_rng(0)
    return [
        np.clip(rng.integers(-30, 31, (MODEL_SIZE, MODEL_SIZE, 3)) + 20 * i, 0, 255).astype(np.uint8)
        for i in range(count)
    ]


async def test_images_are_answered_in_order_then_summarised(screener: Screener, model_path: Path) -> None:
    frames = images(10)
    config = {"kind": "images", "client_id": "cam-1"}
    answers, summary = await streamed(screener, config, [png(f) for f in frames])
    assert [(a["type"], a["seq"], a["index"]) for a in answers] == [("frame", i, i) for i in range(10)]
    expected = direct_probabilities(frames, model_path)
    np.testing.assert_allclose([a["p_synthetic"] for a in answers], expected, atol=1e-6)
    assert all(a["time_s"] is None and a["latency_ms"] >= 0 for a in answers)
    threshold = screener.card.calibration.threshold
    assert summary["client_id"] == "cam-1" and summary["threshold"] == threshold
    assert (summary["frames_received"], summary["frames_screened"], summary["bad_frames"]) == (10, 10, 0)
    assert summary["mean_p_synthetic"] == pytest.approx(float(expected.mean()))
    assert summary["max_p_synthetic"] == pytest.approx(float(expected.max()))
    assert summary["verdict"] == ("synthetic" if expected.mean() >= threshold else "authentic")


@pytest.fixture
async def looking_screener(settings: Settings, attention_model_path: Path) -> AsyncIterator[Screener]:
    """A started screener of a model with an attention output."""
    settings = configured(settings, decode_workers=1, model_path=attention_model_path)
    async with running_screener(settings, Engine.from_settings(settings), Metrics()) as screener:
        yield screener


@pytest.mark.parametrize("kind", ["images", "container"])
async def test_a_stream_that_asks_for_heatmaps_gets_one_per_frame(
    looking_screener: Screener, attention_model_path: Path, kind: str, tmp_path: Path
) -> None:
    frames = images(6)
    if kind == "images":
        messages = [png(f) for f in frames]
    else:  # near-lossless H.264 in MPEG-TS, one chunk
        messages = [encode_frames(tmp_path / "clip.ts", frames, crf=0).read_bytes()]
    answers, _ = await streamed(looking_screener, {"kind": kind, "heatmap": True}, messages)
    grids = np.array([a["heatmap"] for a in answers])
    assert grids.shape == (6, MODEL_SIZE // 16, MODEL_SIZE // 16)
    assert grids.min() >= 0 and np.all(grids.max(axis=(1, 2)) == 1)
    if kind == "images":  # lossless: the very pixels
        expected = direct_run(frames, attention_model_path, "attention")
        np.testing.assert_allclose(grids, expected, atol=5e-4 + 1e-6)  # the answers' 3 decimals
    plain, _ = await streamed(looking_screener, {"kind": kind}, messages)
    assert [a["heatmap"] for a in plain] == [None] * 6
    assert [a["p_synthetic"] for a in plain] == [a["p_synthetic"] for a in answers]


async def test_every_nth_image_is_screened_and_every_one_counted(screener: Screener) -> None:
    answers, summary = await streamed(screener, {"kind": "images", "every_n": 3}, [png(f) for f in images(7)])
    assert [(a["seq"], a["index"]) for a in answers] == [(0, 0), (1, 3), (2, 6)]
    assert (summary["frames_received"], summary["frames_screened"]) == (7, 3)


async def test_a_bad_image_is_a_bad_frame_and_the_stream_goes_on(screener: Screener) -> None:
    good = png(images(1)[0])
    answers, summary = await streamed(screener, {"kind": "images"}, [good, b"garbage" * 10, good])
    assert [(a["type"], a["index"]) for a in answers] == [("frame", 0), ("error", 1), ("frame", 2)]
    assert (answers[1]["code"], answers[1]["fatal"]) == ("bad_frame", False)
    assert [answers[0]["seq"], answers[2]["seq"]] == [0, 1]
    assert answers[0]["p_synthetic"] == pytest.approx(answers[2]["p_synthetic"])
    assert (summary["frames_received"], summary["frames_screened"], summary["bad_frames"]) == (3, 2, 1)
    assert screener.metrics.registry.get_sample_value("distilscreen_errors_total", {"code": "bad_frame"}) == 1


async def test_a_byte_stream_answers_every_frame(
    screener: Screener, model_path: Path, tmp_path: Path
) -> None:
    data = encode_video(tmp_path / "clip.ts", frames=30).read_bytes()  # MPEG-TS, probed
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    answers, summary = await streamed(screener, {"kind": "container"}, chunks)
    assert [(a["type"], a["seq"], a["index"]) for a in answers] == [("frame", i, i) for i in range(30)]
    times = [a["time_s"] for a in answers]
    assert times == sorted(times) and len(set(times)) == 30
    assert times[1] - times[0] == pytest.approx(1 / 24, abs=1e-3)
    with av.open(io.BytesIO(data), format="mpegts") as container:
        decoded = [f.to_ndarray(width=MODEL_SIZE, height=MODEL_SIZE, format="rgb24")
                   for f in container.decode(video=0)]
    expected = direct_probabilities(decoded, model_path)
    np.testing.assert_allclose([a["p_synthetic"] for a in answers], expected, atol=1e-6)
    assert (summary["frames_received"], summary["frames_screened"], summary["bad_frames"]) == (30, 30, 0)


async def test_a_keyframes_stream_screens_its_keyframes_and_counts_the_rest(
    screener: Screener, tmp_path: Path
) -> None:
    data = encode_video(tmp_path / "gop.ts", frames=48, options={"g": "12", "keyint_min": "12"}).read_bytes()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    answers, summary = await streamed(screener, {"kind": "container", "keyframes": True}, chunks)
    with av.open(io.BytesIO(data), format="mpegts") as container:
        keys = [i for i, f in enumerate(container.decode(video=0)) if f.key_frame]
    assert keys == [0, 12, 24, 36] and [a["index"] for a in answers] == keys
    counts = ("frames_received", "frames_screened", "frames_skipped", "bad_frames")
    assert tuple(summary[k] for k in counts) == (48, 4, 44, 0)  # received = screened + skipped + bad


async def test_a_sampled_stream_decodes_only_what_it_screens(screener: Screener, tmp_path: Path) -> None:
    """fps=1 on a stream without B-frames: the frames of the slot rule; the packets no
    wanted frame needs are not decoded, and answers and summary count them."""
    options = {"g": "12", "keyint_min": "12", "bf": "0"}
    data = encode_video(tmp_path / "gop.ts", frames=96, options=options).read_bytes()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    answers, summary = await streamed(screener, {"kind": "container", "fps": 1}, chunks)
    assert [a["index"] for a in answers] == [0, 24, 48, 72]
    skipped = [a["frames_skipped"] for a in answers]
    assert skipped == sorted(skipped) and summary["frames_skipped"] >= skipped[-1] > 0
    assert summary["frames_received"] == 96 and summary["frames_screened"] == 4
    total = screener.metrics.registry.get_sample_value("distilscreen_stream_frames_skipped_total")
    assert total == summary["frames_skipped"]


@pytest.mark.parametrize("policy", ["pause", "skip"])
async def test_a_stream_skips_on_overload_only_when_it_asks_to(
    screener: Screener, policy: str, tmp_path: Path
) -> None:
    """With a lag bound no byte can meet (a microsecond), a skipping stream skips every frame
    and counts them; a pausing one screens them all."""
    data = encode_video(tmp_path / "clip.ts", frames=24).read_bytes()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    config = {"kind": "container", "on_overload": policy}
    answers, summary = await streamed(screener, config, chunks, max_lag_s=1e-6)
    counts = ("frames_received", "frames_screened", "frames_skipped")
    assert tuple(summary[k] for k in counts) == ((24, 0, 24) if policy == "skip" else (24, 24, 0))
    assert len(answers) == summary["frames_screened"]


@pytest.mark.parametrize(("policy", "admitted"), [("skip", [1]), ("pause", [0, 1])])
async def test_a_frame_whose_bytes_waited_too_long_is_skipped_when_the_stream_skips(
    screener: Screener, policy: str, admitted: list[int]
) -> None:
    """Decoded in time is not enough: a frame still waiting for a slot past the lag bound
    (answers backed up) is skipped, and counted, rather than answered late."""
    stream = session(QueueSocket(), screener, max_lag_s=0.1)
    stream.config = StreamConfig(type="config", kind="h264", on_overload=policy)
    pixels = np.zeros((MODEL_SIZE, MODEL_SIZE, 3), np.uint8)
    await stream._admit(pixels, 0, 0.0, time.monotonic() - 1.0)  # its bytes came a second ago
    await stream._admit(pixels, 1, 0.04, time.monotonic())
    queued = [stream._pending.get_nowait() for _ in range(stream._pending.qsize())]
    assert [item.index for item in queued] == admitted
    await asyncio.gather(*(item.future for item in queued))
    assert stream._late == (policy == "skip")


async def test_a_corrupt_byte_stream_closes_the_stream(screener: Screener) -> None:
    socket = QueueSocket()
    socket.text({"type": "config", "kind": "container"})
    socket.binary(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    socket.text({"type": "end"})
    with pytest.raises(StreamClosed) as closed:
        await asyncio.wait_for(session(socket, screener).run(), TIMEOUT_S)
    assert (closed.value.code, closed.value.error.code) == (CloseCode.INVALID_PAYLOAD, "corrupt_stream")
    assert closed.value.error.fatal is True


INVALID = CloseCode.INVALID_PAYLOAD


@pytest.mark.parametrize(
    ("first", "close", "code"),
    [
        (b"\x00binary", CloseCode.UNSUPPORTED_DATA, "binary_before_config"),
        ("{not json", INVALID, "bad_json"),
        (json.dumps({"type": "config", "kind": "smoke-signals"}), INVALID, "invalid_config"),
        (json.dumps({"type": "config", "kind": "images", "fps": 5}), INVALID, "invalid_config"),
        (json.dumps({"type": "config", "kind": "images", "keyframes": True}), INVALID, "invalid_config"),
        (json.dumps({"type": "config", "kind": "h264", "on_overload": "drop"}), INVALID, "invalid_config"),
        (json.dumps({"type": "config", "kind": "images", "on_overload": "skip"}), INVALID, "invalid_config"),
        (json.dumps({"type": "config", "kind": "h264", "keyframes": True, "fps": 1}), INVALID,
         "invalid_config"),
        (json.dumps({"type": "end"}), INVALID, "invalid_config"),
        (json.dumps({"type": "config", "kind": "images", "heatmap": True}), INVALID, "heatmap_unavailable"),
    ],
)
async def test_an_invalid_first_message_closes_the_stream(
    screener: Screener, first: str | bytes, close: CloseCode, code: str
) -> None:
    socket = QueueSocket()
    if isinstance(first, bytes):
        socket.binary(first)
    else:
        socket.text(first)
    with pytest.raises(StreamClosed) as closed:
        await asyncio.wait_for(session(socket, screener).run(), TIMEOUT_S)
    assert (closed.value.code, closed.value.error.code, closed.value.error.fatal) == (close, code, True)
    assert socket.sent == []  # the route tells the client, then closes with the code


async def test_a_second_config_closes_the_stream(screener: Screener) -> None:
    socket = QueueSocket()
    socket.text({"type": "config", "kind": "images"})
    socket.text({"type": "config", "kind": "images"})
    with pytest.raises(StreamClosed) as closed:
        await asyncio.wait_for(session(socket, screener).run(), TIMEOUT_S)
    assert (closed.value.code, closed.value.error.code) == (CloseCode.UNSUPPORTED_DATA, "unexpected_config")


async def test_an_idle_client_is_closed_after_the_idle_timeout(screener: Screener) -> None:
    socket = QueueSocket()
    socket.text({"type": "config", "kind": "images"})
    with pytest.raises(StreamClosed) as closed:  # nothing more arrives
        await asyncio.wait_for(session(socket, screener, idle_timeout_s=0.05).run(), TIMEOUT_S)
    assert (closed.value.code, closed.value.error.code) == (CloseCode.POLICY_VIOLATION, "idle_timeout")


async def test_a_client_that_goes_away_ends_the_session(screener: Screener) -> None:
    socket = QueueSocket()
    socket.text({"type": "config", "kind": "images"})
    socket.binary(png(images(1)[0]))
    socket.disconnect()
    with pytest.raises(ClientGone):
        await asyncio.wait_for(session(socket, screener).run(), TIMEOUT_S)
    assert all(m["type"] != "summary" for m in socket.sent)
