"""WS /v1/stream against a real uvicorn process with a real WebSocket client."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.processes import Service, start_service, wait_until
from tests.helpers import MODEL_SIZE, direct_probabilities, encode_image, encode_video


def ws_url(service: Service) -> str:
    return service.url.replace("http://", "ws://") + "/v1/stream"


def jpeg(pixels: np.ndarray) -> bytes:
    return encode_image(pixels, "mjpeg")


def decoded_at_model_size(data: bytes, fmt: str | None = None) -> list[np.ndarray]:
    with av.open(io.BytesIO(data), format=fmt) as container:
        return [
            f.to_ndarray(width=MODEL_SIZE, height=MODEL_SIZE, format="rgb24")
            for f in container.decode(video=0)
        ]


def run_stream(ws: ClientConnection, config: dict, messages: list[bytes]) -> tuple[list[dict], dict]:
    """Send config, binary messages and `end`; collect the answers and the summary."""
    ws.send(json.dumps({"type": "config"} | config))
    for message in messages:
        ws.send(message)
    ws.send(json.dumps({"type": "end"}))
    answers = [json.loads(m) for m in ws]  # until the server closes
    assert ws.close_code == 1000, (ws.close_code, answers[-1:])
    return answers[:-1], answers[-1]


def test_jpeg_frames_are_answered_in_order_like_a_direct_run(service: Service, model_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [jpeg(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)) for _ in range(20)]
    with connect(ws_url(service)) as ws:
        answers, summary = run_stream(ws, {"kind": "images", "client_id": "cam-1"}, images)
    assert [a["type"] for a in answers] == ["frame"] * 20
    assert [a["seq"] for a in answers] == list(range(20))
    expected = direct_probabilities([decoded_at_model_size(i)[0] for i in images], model_path)
    np.testing.assert_allclose([a["p_synthetic"] for a in answers], expected, atol=1e-6)
    assert all(a["latency_ms"] >= 0 for a in answers)
    assert summary["type"] == "summary" and summary["client_id"] == "cam-1"
    assert summary["frames_screened"] == 20 and summary["bad_frames"] == 0
    assert summary["mean_p_synthetic"] == pytest.approx(float(np.mean(expected)))


@pytest.mark.parametrize(
    ("kind", "fmt", "name"), [("h264", "h264", "clip.h264"), ("container", "mpegts", "clip.ts")]
)
def test_byte_streams_in_chunks(
    service: Service, model_path: Path, tmp_path: Path, kind: str, fmt: str, name: str
) -> None:
    data = encode_video(tmp_path / name, frames=40).read_bytes()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    with connect(ws_url(service)) as ws:
        answers, summary = run_stream(ws, {"kind": kind, "every_n": 2}, chunks)
    assert [a["index"] for a in answers] == list(range(0, 40, 2))
    assert [a["seq"] for a in answers] == list(range(20))
    expected = direct_probabilities(decoded_at_model_size(data, fmt)[::2], model_path)
    np.testing.assert_allclose([a["p_synthetic"] for a in answers], expected, atol=1e-6)
    assert summary["frames_received"] == 40 and summary["frames_screened"] == 20


def test_fragmented_mp4_stream(service: Service, tmp_path: Path) -> None:
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
    data = encode_video(tmp_path / "frag.mp4", frames=24, container_options=options).read_bytes()
    with connect(ws_url(service)) as ws:
        answers, _ = run_stream(
            ws, {"kind": "container", "fps": 6}, [data[i : i + 8192] for i in range(0, len(data), 8192)]
        )
    assert [a["index"] for a in answers] == [0, 4, 8, 12, 16, 20]


def fatal(ws: ClientConnection) -> dict:
    error = json.loads(ws.recv())
    with pytest.raises(ConnectionClosed):
        ws.recv()
    assert error["type"] == "error" and error["fatal"] is True
    return error


@pytest.mark.parametrize(
    ("first", "code", "close"),
    [
        (b"\x00binary", "binary_before_config", 1003),
        ("{not json", "bad_json", 1007),
        (json.dumps({"type": "config", "kind": "smoke-signals"}), "invalid_config", 1007),
        (json.dumps({"type": "config", "kind": "h264", "every_n": 2, "fps": 3}), "invalid_config", 1007),
        (json.dumps({"type": "end"}), "invalid_config", 1007),
    ],
)
def test_malformed_openings_close_with_a_code(
    service: Service, first: str | bytes, code: str, close: int
) -> None:
    with connect(ws_url(service)) as ws:
        ws.send(first)
        assert fatal(ws)["code"] == code
        assert ws.close_code == close


def test_a_bad_image_is_reported_and_the_stream_goes_on(service: Service) -> None:
    good = jpeg(np.zeros((32, 32, 3), np.uint8))
    with connect(ws_url(service)) as ws:
        answers, summary = run_stream(ws, {"kind": "images"}, [good, b"garbage" * 10, good])
    assert [(a["type"], a.get("index")) for a in answers] == [("frame", 0), ("error", 1), ("frame", 2)]
    assert answers[1]["code"] == "bad_frame" and answers[1]["fatal"] is False
    assert summary["bad_frames"] == 1 and summary["frames_screened"] == 2


def test_a_corrupt_byte_stream_is_fatal(service: Service) -> None:
    with connect(ws_url(service)) as ws:
        ws.send(json.dumps({"type": "config", "kind": "container"}))
        ws.send(os.urandom(200_000))
        ws.send(json.dumps({"type": "end"}))
        assert fatal(ws)["code"] == "corrupt_stream"
        assert ws.close_code == 1007


@pytest.fixture(scope="module")
def tight(model_path: Path) -> Iterator[Service]:
    """A service that serves two requests at once, with short stream timeouts."""
    yield from start_service(
        {
            "DISTILSCREEN_MODEL_PATH": str(model_path),
            "DISTILSCREEN_MAX_ACTIVE_REQUESTS": "2",
            "DISTILSCREEN_STREAM_IDLE_TIMEOUT_S": "2",
            "DISTILSCREEN_MAX_STREAM_MESSAGE_BYTES": "65536",
        }
    )


def metric(service: Service, line_start: str) -> float:
    for line in httpx.get(f"{service.url}/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_overload_is_refused_quickly_and_admitted_clients_finish(
    tight: Service, videos: dict[str, Path]
) -> None:
    image = jpeg(np.zeros((32, 32, 3), np.uint8))
    with connect(ws_url(tight)) as first, connect(ws_url(tight)) as second:
        for ws in (first, second):
            ws.send(json.dumps({"type": "config", "kind": "images"}))
            ws.send(image)
            assert json.loads(ws.recv())["type"] == "frame"  # both admitted and served
        with contextlib.suppress(ConnectionClosed), connect(ws_url(tight)) as third:
            refusal = fatal(third)  # refused on arrival, before any message
        assert refusal["code"] == "overloaded" and third.close_code == 1013
        refused = httpx.post(
            f"{tight.url}/v1/screen",
            content=videos["h264"].read_bytes(),
            headers={"content-type": "video/mp4"},
            timeout=10,
        )
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "overloaded"
        for ws in (first, second):
            ws.send(json.dumps({"type": "end"}))
            assert json.loads(ws.recv())["type"] == "summary"
    assert metric(tight, 'distilscreen_rejected_requests_total{reason="overloaded"}') == 2
    wait_until(
        lambda: metric(tight, 'distilscreen_active_requests{kind="stream"}') == 0, 10, "streams to end"
    )
    ok = httpx.post(
        f"{tight.url}/v1/screen", content=videos["h264"].read_bytes(), headers={"content-type": "video/mp4"}
    )
    assert ok.status_code == 200


def test_idle_and_oversize_streams_are_closed(tight: Service) -> None:
    with connect(ws_url(tight)) as ws:
        ws.send(json.dumps({"type": "config", "kind": "images"}))
        assert fatal(ws)["code"] == "idle_timeout" and ws.close_code == 1008
    with connect(ws_url(tight), max_size=None) as ws:
        ws.send(json.dumps({"type": "config", "kind": "images"}))
        ws.send(os.urandom(100_000))
        with pytest.raises(ConnectionClosed):
            ws.recv()
        assert ws.close_code == 1009


def test_a_client_that_vanishes_mid_stream_leaves_nothing_behind(tight: Service, tmp_path: Path) -> None:
    data = encode_video(tmp_path / "clip.h264", frames=200).read_bytes()
    httpx.get(f"{tight.url}/healthz")
    baseline = tight.open_files()
    with contextlib.suppress(ConnectionClosed, OSError), connect(ws_url(tight)) as ws:
        ws.send(json.dumps({"type": "config", "kind": "h264"}))
        for i in range(0, len(data) // 2, 4096):
            ws.send(data[i : i + 4096])
        ws.socket.close()  # no close handshake: the client just disappears
    active = 'distilscreen_active_requests{kind="stream"}'
    wait_until(lambda: metric(tight, active) == 0, 20, "the stream to end")
    wait_until(lambda: metric(tight, "distilscreen_queue_depth_frames") == 0, 20, "the queue to drain")
    tight.wait_released(baseline, 20, "the socket and decoder to be released")
    assert httpx.get(f"{tight.url}/healthz").status_code == 200


def test_many_uploads_and_streams_at_once_share_batches(service: Service, videos: dict[str, Path]) -> None:
    rng = np.random.default_rng(1)
    images = [jpeg(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(30)]
    h264 = videos["h264"].read_bytes()
    results: dict[str, object] = {}

    def upload(name: str) -> None:
        response = httpx.post(
            f"{service.url}/v1/screen", content=h264, headers={"content-type": "video/mp4"}, timeout=120
        )
        results[name] = (response.status_code, len(response.json().get("frames", [])))

    def stream(name: str) -> None:
        with connect(ws_url(service)) as ws:
            answers, summary = run_stream(ws, {"kind": "images"}, images)
        results[name] = ([a["seq"] for a in answers], summary["frames_screened"])

    batches_before = metric(service, "distilscreen_batch_size_frames_count")
    workers = [threading.Thread(target=upload, args=(f"upload{i}",)) for i in range(4)]
    workers += [threading.Thread(target=stream, args=(f"stream{i}",)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert {results[f"upload{i}"] for i in range(4)} == {(200, 48)}
    assert all(results[f"stream{i}"] == (list(range(30)), 30) for i in range(4))
    frames = 4 * 48 + 4 * 30
    batches = metric(service, "distilscreen_batch_size_frames_count") - batches_before
    assert batches < frames / 2, f"{frames} frames took {batches} batches: no batching"
    text = httpx.get(f"{service.url}/metrics").text
    # /readyz answers 503 until warm-up is done (documented): start_service polls it.
    errors = [line for line in text.splitlines()
              if line.startswith("distilscreen_requests_total") and 'status="5' in line
              and 'route="/readyz"' not in line]
    assert not errors, errors


def test_sigterm_finishes_uploads_and_closes_streams_with_1012(model_path: Path, tmp_path: Path) -> None:
    video = encode_video(tmp_path / "long.mp4", frames=900).read_bytes()
    service = start_service({"DISTILSCREEN_MODEL_PATH": str(model_path), "DISTILSCREEN_MAX_FRAMES": "900"})
    running = next(service)
    outcome: dict[str, object] = {}

    def upload() -> None:
        response = httpx.post(
            f"{running.url}/v1/screen?max_frames=900",
            content=video,
            headers={"content-type": "video/mp4"},
            timeout=60,
        )
        outcome["upload"] = (response.status_code, response.json()["video"]["frames_screened"])

    with connect(ws_url(running)) as ws:
        ws.send(json.dumps({"type": "config", "kind": "images"}))
        worker = threading.Thread(target=upload)
        worker.start()
        wait_until(
            lambda: metric(running, 'distilscreen_active_requests{kind="upload"}') == 1, 20, "the upload"
        )
        running.process.terminate()
        with pytest.raises(ConnectionClosed):
            ws.recv()
        assert ws.close_code == 1012
    worker.join(timeout=60)
    assert outcome["upload"] == (200, 900)
    # uvicorn re-raises SIGTERM once it has shut down gracefully
    assert running.process.wait(timeout=30) in (0, -signal.SIGTERM)
    with contextlib.suppress(StopIteration):
        next(service)


def test_open_byte_streams_do_not_starve_uploads(service: Service, videos: dict[str, Path]) -> None:
    """Each waiting byte stream holds a demuxer thread; ten of them (more than the default
    thread pool of a 2-core machine) must not stop an upload or each other."""
    with contextlib.ExitStack() as stack:
        streams = [stack.enter_context(connect(ws_url(service))) for _ in range(10)]
        for ws in streams:
            ws.send(json.dumps({"type": "config", "kind": "h264"}))
        wait_until(lambda: metric(service, 'distilscreen_active_requests{kind="stream"}') == 10, 10,
                   "ten open streams")
        response = httpx.post(f"{service.url}/v1/screen", content=videos["h264"].read_bytes(),
                              headers={"content-type": "video/mp4"}, timeout=30)
        assert response.status_code == 200 and len(response.json()["frames"]) == 48
        for ws in streams:
            ws.send(json.dumps({"type": "end"}))
        for ws in streams:  # each is still served: an empty byte stream ends as corrupt_stream
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=10)
            assert ws.close_code == 1007
