"""Every bad input gets a 4xx JSON error with a stable code, and the service keeps answering."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.helpers import configured, png_bytes, running_client, wav_bytes

VIDEO = {"content-type": "video/mp4"}


@pytest.fixture
def strict(settings: Settings) -> Iterator[TestClient]:
    """A service with small limits, so each one can be hit by a small file."""
    limited = configured(
        settings, max_upload_bytes=200_000, max_pixels=200 * 200, max_duration_s=10.0, max_frames=100
    )
    yield from running_client(create_app(limited))


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def still_serving(client: TestClient, video: Path) -> None:
    assert client.get("/healthz").status_code == 200
    assert (
        client.post("/v1/screen?max_frames=2", content=video.read_bytes(), headers=VIDEO).status_code == 200
    )


def truncated(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


CASES = {
    "empty body": (lambda v: b"", 400, "empty_body"),
    "random bytes": (lambda v: np.random.default_rng(0).bytes(5000), 415, "not_a_video"),
    "text file": (lambda v: b"hello, this is not a video\n" * 40, 415, "not_a_video"),
    "png image": (lambda v: png_bytes(), 415, "not_a_video"),
    "truncated mp4": (lambda v: truncated(v["h264"]), 422, "corrupt_video"),
    "truncated webm": (lambda v: truncated(v["vp9"]), 422, "corrupt_video"),
    "audio only": (lambda v: wav_bytes(), 422, "no_video_stream"),
    # a damaged sample entry: FFmpeg finds no decoder, the stream no codec context
    "unknown fourcc": (lambda v: v["h264"].read_bytes().replace(b"avc1", b"zzzz"), 415, "unsupported_codec"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_uploads(strict: TestClient, videos: dict[str, Path], case: str) -> None:
    make_body, status, code = CASES[case]
    assert_error(strict.post("/v1/screen", content=make_body(videos), headers=VIDEO), status, code)
    still_serving(strict, videos["h264"])


def test_limits(strict: TestClient, videos: dict[str, Path], make_video) -> None:
    big = make_video("big.mp4", size=(320, 240), frames=4)
    assert_error(strict.post("/v1/screen", content=big.read_bytes(), headers=VIDEO), 422, "too_many_pixels")
    long = make_video("long.mp4", frames=300, fps=24, size=(32, 32))
    assert_error(strict.post("/v1/screen", content=long.read_bytes(), headers=VIDEO), 422, "video_too_long")
    raw = make_video("raw.nut", codec="rawvideo", frames=2, size=(16, 16))
    assert_error(strict.post("/v1/screen", content=raw.read_bytes(), headers=VIDEO), 415, "unsupported_codec")
    still_serving(strict, videos["h264"])


def test_too_large_is_refused_while_reading_without_a_content_length(
    strict: TestClient, videos: dict[str, Path]
) -> None:
    def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to trust
        for _ in range(100):
            yield os.urandom(10_000)

    assert_error(strict.post("/v1/screen", content=chunks(), headers=VIDEO), 413, "upload_too_large")
    big = {"content-type": "multipart/form-data; boundary=x"}
    assert_error(strict.post("/v1/screen", content=chunks(), headers=big), 413, "upload_too_large")
    still_serving(strict, videos["h264"])


def test_a_declared_length_over_the_limit_is_refused_up_front(strict: TestClient) -> None:
    headers = VIDEO | {"content-length": "999999999"}
    assert_error(strict.post("/v1/screen", content=b"x" * 10, headers=headers), 413, "upload_too_large")


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("every_n=0", "every_n"),
        ("fps=-1", "fps"),
        ("every_n=2&fps=3", "not every_n and fps"),
        ("fps=2&frames=8", "not fps and frames"),
        ("keyframes=true&every_n=2", "without every_n"),
        ("keyframes=true&frames=4", "without frames"),
        ("frames=101", "exceeds the limit"),
        ("start_s=2&end_s=1", "greater than start_s"),
        ("max_frames=101", "exceeds the limit"),
        ("start_s=30", "past the video's end"),
        ("bogus=1", "bogus"),
    ],
)
def test_bad_options(strict: TestClient, videos: dict[str, Path], query: str, fragment: str) -> None:
    response = strict.post(f"/v1/screen?{query}", content=videos["h264"].read_bytes(), headers=VIDEO)
    assert_error(response, 422, "invalid_options")
    assert fragment in response.json()["error"]["message"]


def test_bad_form_option(strict: TestClient, videos: dict[str, Path]) -> None:
    files = {"file": ("clip.mp4", videos["h264"].read_bytes(), "video/mp4")}
    assert_error(strict.post("/v1/screen", files=files, data={"every_n": "zero"}), 422, "invalid_options")


def test_multipart_without_a_file_part(strict: TestClient) -> None:
    assert_error(
        strict.post("/v1/screen", data={"every_n": "2"}, files={"x": ("a", b"b")}), 422, "missing_file"
    )


def test_unsupported_content_type(strict: TestClient) -> None:
    response = strict.post("/v1/screen", content=b"{}", headers={"content-type": "application/json"})
    assert_error(response, 415, "unsupported_media_type")


def test_unknown_route_and_method(strict: TestClient) -> None:
    assert_error(strict.get("/v1/nope"), 404, "not_found")
    assert_error(strict.get("/v1/screen"), 405, "method_not_allowed")


def test_errors_are_counted_by_code(strict: TestClient) -> None:
    strict.post("/v1/screen", content=b"", headers=VIDEO)
    assert 'distilscreen_errors_total{code="empty_body"} 1.0' in strict.get("/metrics").text
