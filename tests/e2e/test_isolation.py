"""Decoder workers against the live service: a worker killed (SIGKILL, from here) in the middle
of an upload or a stream costs that request only. The service answers it with its code, is
healthy, counts the death, replaces the worker, and holds no more than before."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.processes import Service, start_service, wait_until
from tests.e2e.test_stream import metric, ws_url
from tests.helpers import encode_video

KILLED = 'distilscreen_decoder_deaths_total{cause="sigkill"}'


@pytest.fixture(scope="module")
def one_worker(model_path: Path) -> Iterator[Service]:
    """The service with one decoder worker kept ready: while one request decodes, the
    service's only child process is that request's worker."""
    yield from start_service(
        {"DISTILSCREEN_MODEL_PATH": str(model_path), "DISTILSCREEN_INTRA_OP_THREADS": "1",
         "DISTILSCREEN_DECODE_WORKERS": "1"}
    )


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_video(tmp_path_factory.mktemp("long") / "long.ts", frames=900, size=(320, 240))


def kill_the_worker_once_busy(service: Service, started: threading.Event) -> int:
    """SIGKILL the service's one worker once a request holds it (its CPU time moves)."""
    started.wait(30)
    [worker] = service.children()
    stat = Path(f"/proc/{worker}/stat")
    cpu = int(stat.read_text().split()[13])
    wait_until(lambda: int(stat.read_text().split()[13]) > cpu + 5, 30, "the worker to decode")
    os.kill(worker, signal.SIGKILL)
    return worker


def assert_recovered(service: Service, killed: int, fds: list[str], deaths: float, clip: Path) -> None:
    assert httpx.get(f"{service.url}/healthz").status_code == 200
    wait_until(lambda: len(service.children()) == 1 and killed not in service.children(), 30,
               "the worker to be replaced")
    assert metric(service, KILLED) == deaths + 1
    response = httpx.post(f"{service.url}/v1/screen?max_frames=30", content=clip.read_bytes(),
                          headers={"content-type": "video/mp2t"}, timeout=60)
    assert response.status_code == 200 and response.json()["video"]["frames_screened"] == 30
    service.wait_released(fds, 30, "the service to close what the request held")


def test_a_killed_worker_costs_one_upload(one_worker: Service, long_clip: Path) -> None:
    httpx.get(f"{one_worker.url}/healthz")
    fds, deaths = one_worker.open_files(), metric(one_worker, KILLED)
    started, answer = threading.Event(), {}

    def upload() -> None:
        started.set()
        answer["response"] = httpx.post(f"{one_worker.url}/v1/screen?max_frames=900",
                                        content=long_clip.read_bytes(),
                                        headers={"content-type": "video/mp2t"}, timeout=60)

    uploading = threading.Thread(target=upload)
    uploading.start()
    killed = kill_the_worker_once_busy(one_worker, started)
    uploading.join(60)
    response = answer["response"]
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "decoder_crashed"
    assert "sigkill" in response.json()["error"]["message"]
    assert_recovered(one_worker, killed, fds, deaths, long_clip)


def test_a_killed_worker_closes_its_stream_with_a_code(one_worker: Service, long_clip: Path) -> None:
    httpx.get(f"{one_worker.url}/healthz")
    fds, deaths = one_worker.open_files(), metric(one_worker, KILLED)
    data = long_clip.read_bytes()
    started = threading.Event()
    with connect(ws_url(one_worker)) as ws:
        ws.send(json.dumps({"type": "config", "kind": "container"}))
        ws.send(data[: len(data) // 2])
        started.set()
        killed = kill_the_worker_once_busy(one_worker, started)
        messages = []
        error = None
        while error is None:
            message = json.loads(ws.recv(timeout=30))
            if message["type"] == "error":
                error = message
            messages.append(message)
        assert error["code"] == "decoder_crashed" and error["fatal"] is True, messages[-3:]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
        assert ws.close_code == 1007
    assert_recovered(one_worker, killed, fds, deaths, long_clip)
