"""Webhooks to a loopback receiver the test starts: signed, retried, recorded, never
redirected; the allow-list and signature rules on their own."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.errors import CallbackNotAllowed, InvalidOptions
from app.jobs.webhooks import JOB_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, check_callback, signature
from tests.app.jobs.polls import app_client, finished, submit, wait_for
from tests.helpers import configured

SECRET = "webhook-test-secret"


@dataclass
class Receiver:
    """A loopback HTTP server recording what it is sent; `answer()` gives (status, headers)."""

    answer: Callable[[], tuple[int, dict[str, str]]]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@contextmanager
def receiver(host: str, answer: Callable[[], tuple[int, dict[str, str]]]) -> Iterator[Receiver]:
    state = Receiver(answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status, headers = state.answer()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer((host, 0), Handler)
    state.url = f"http://{host}:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def webhook_client(job_settings: Settings, **updates: object) -> AbstractContextManager[TestClient]:
    policy = {"webhook_allowed_hosts": ["127.0.0.1"], "webhook_secret": SECRET, "webhook_backoff_s": 0.05,
              "webhook_max_attempts": 3}
    return app_client(job_settings, **policy | updates)


def test_a_finished_job_is_delivered_signed(job_settings: Settings, videos: dict[str, Path]) -> None:
    with receiver("127.0.0.1", lambda: (204, {})) as hook, webhook_client(job_settings) as client:
        job_id = submit(client, videos["h264"], callback_url=hook.url, metadata='{"ref": "x"}')
        done = wait_for(client, job_id, lambda j: (j["webhook"] or {}).get("status") == "delivered",
                        "the webhook to be delivered")
    [(headers, body)] = hook.received
    timestamp = headers[TIMESTAMP_HEADER.lower()]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], f"sha256={expected}")
    assert headers[JOB_HEADER.lower()] == job_id and headers["content-type"] == "application/json"
    sent = json.loads(body)
    assert sent["id"] == job_id and sent["status"] == "succeeded" and sent["metadata"] == {"ref": "x"}
    assert sent["result"] == done["result"] and "webhook" not in sent
    [attempt] = done["webhook"]["attempts"]
    assert attempt["status_code"] == 204 and attempt["error"] is None


def test_a_failing_receiver_gets_retries_then_the_job_is_marked_not_delivered(
    job_settings: Settings, videos: dict[str, Path]
) -> None:
    with receiver("127.0.0.1", lambda: (500, {})) as hook, webhook_client(job_settings) as client:
        job_id = submit(client, videos["h264"], callback_url=hook.url)
        done = wait_for(client, job_id, lambda j: (j["webhook"] or {}).get("status") == "failed",
                        "the webhook to be given up")
    assert done["status"] == "succeeded"
    attempts = done["webhook"]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 500, 500] and len(hook.received) == 3
    assert all(a["error"] == "HTTP 500" for a in attempts)
    times = [a["at"] for a in attempts]
    assert times == sorted(times)


def test_redirects_are_not_followed(job_settings: Settings, videos: dict[str, Path]) -> None:
    with (
        receiver("127.0.0.2", lambda: (204, {})) as elsewhere,
        receiver("127.0.0.1", lambda: (307, {"location": elsewhere.url})) as hook,
        webhook_client(job_settings, webhook_max_attempts=1) as client,
    ):
        job_id = submit(client, videos["h264"], callback_url=hook.url)
        done = wait_for(client, job_id, lambda j: (j["webhook"] or {}).get("status") == "failed",
                        "the webhook to be given up")
    assert elsewhere.received == [] and len(hook.received) == 1
    assert "redirect" in done["webhook"]["attempts"][0]["error"]


def test_a_cancelled_job_is_delivered_too(job_settings: Settings, long_video: Path) -> None:
    with receiver("127.0.0.1", lambda: (200, {})) as hook, webhook_client(job_settings) as client:
        job_id = submit(client, long_video, callback_url=hook.url, max_frames=1200)
        client.delete(f"/v1/jobs/{job_id}")
        wait_for(client, job_id, lambda j: (j["webhook"] or {}).get("status") == "delivered",
                 "the webhook to be delivered")
        assert finished(client, job_id)["status"] == "cancelled"
    assert json.loads(hook.received[0][1])["status"] == "cancelled"


@pytest.mark.parametrize(
    ("url", "allowed", "error"),
    [
        ("http://127.0.0.1:9/x", (), CallbackNotAllowed),
        ("http://127.0.0.2/x", ("127.0.0.1",), CallbackNotAllowed),
        ("http://LOCALHOST/x", ("localhost",), None),
        ("https://127.0.0.1:8443/x?y=1", ("127.0.0.1",), None),
        ("ftp://127.0.0.1/x", ("127.0.0.1",), InvalidOptions),
        ("/relative", ("127.0.0.1",), InvalidOptions),
        ("http://user:pw@127.0.0.1/x", ("127.0.0.1",), InvalidOptions),
        ("http://[::1/x", ("127.0.0.1",), InvalidOptions),
    ],
)
def test_the_allow_list_rule(url: str, allowed: tuple[str, ...], error: type[Exception] | None) -> None:
    if error is None:
        assert check_callback(url, allowed) == url
    else:
        with pytest.raises(error):
            check_callback(url, allowed)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    golden = "sha256=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
    assert signature(b"k", 1_700_000_000, b"{}") == golden


def test_allowed_hosts_need_a_secret(settings: Settings) -> None:
    with pytest.raises(ValueError, match="webhook_secret"):
        configured(settings, webhook_allowed_hosts=["127.0.0.1"])
