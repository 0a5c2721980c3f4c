"""Webhooks: a finished job is POSTed to its callback_url, signed, retried with exponential
backoff, each attempt recorded on the job. Only allow-listed hosts are ever called, and
redirects are never followed (a 3xx is a failed attempt).

The signature is HMAC-SHA256, keyed with DISTILSCREEN_WEBHOOK_SECRET, over
`{timestamp}.{body}`, sent as `X-Distilscreen-Signature: sha256=<hex>` beside
`X-Distilscreen-Timestamp: <unix seconds>` and `X-Distilscreen-Job: <id>`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.errors import CallbackNotAllowed, InvalidOptions
from app.jobs.polling import poll
from app.jobs.store import Job, JobStore

SIGNATURE_HEADER = "X-Distilscreen-Signature"
TIMESTAMP_HEADER = "X-Distilscreen-Timestamp"
JOB_HEADER = "X-Distilscreen-Job"


def check_callback(url: str, allowed_hosts: Collection[str]) -> str:
    """`url` if it is an http(s) URL to an allowed host; else 422 naming the rule."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidOptions(f"callback_url is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidOptions("callback_url must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidOptions("callback_url must not carry credentials")
    if host.lower() not in {h.lower() for h in allowed_hosts}:
        allowed = ", ".join(allowed_hosts) or "none: it is empty, so no callback is allowed"
        raise CallbackNotAllowed(
            f"callback_url host {host!r} is not in DISTILSCREEN_WEBHOOK_ALLOWED_HOSTS (allowed: {allowed})"
        )
    return url


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value: `sha256=` and the HMAC of `{timestamp}.{body}`."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookPolicy:
    allowed_hosts: tuple[str, ...]
    secret: bytes
    max_attempts: int
    backoff_s: float
    timeout_s: float

    def retry_at(self, now: float, attempts: int) -> float | None:
        """When to try again after `attempts` failed ones; None: give up."""
        return None if attempts >= self.max_attempts else now + self.backoff_s * 2 ** (attempts - 1)


class WebhookSender:
    """Delivers due webhooks, one at a time per replica; `render(job)` is the body sent."""

    def __init__(self, store: JobStore, policy: WebhookPolicy, render: Callable[[Job], bytes],
                 interval_s: float) -> None:
        self.store, self.policy, self.render, self.interval_s = store, policy, render, interval_s
        self.wake = asyncio.Event()  # a job with a callback finished here

    async def run(self) -> None:
        """Deliver until cancelled."""
        # no redirects followed; no proxies from the environment (the allow-list is the route)
        async with httpx.AsyncClient(timeout=self.policy.timeout_s, follow_redirects=False,
                                     trust_env=False) as client:

            async def deliver_next() -> bool:
                lease_s = self.policy.timeout_s + self.interval_s
                job = await asyncio.to_thread(self.store.due_webhook, time.time(), lease_s)
                if job is None:
                    return False
                await self._deliver(client, job)
                return True

            await poll(deliver_next, self.interval_s, self.wake)

    async def _deliver(self, client: httpx.AsyncClient, job: Job) -> None:
        attempt: dict[str, Any] = {"at": time.time(), "status_code": None, "error": None}
        try:
            url = check_callback(str(job.callback_url), self.policy.allowed_hosts)
            body, timestamp = self.render(job), int(time.time())
            headers = {"content-type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                       SIGNATURE_HEADER: signature(self.policy.secret, timestamp, body), JOB_HEADER: job.id}
            # the answer's status is all that counts: its body is never read
            async with client.stream("POST", url, content=body, headers=headers) as response:
                attempt["status_code"] = response.status_code
            if response.is_redirect:
                attempt["error"] = f"redirect ({response.status_code}) not followed"
            elif not response.is_success:
                attempt["error"] = f"HTTP {response.status_code}"
        except (httpx.HTTPError, CallbackNotAllowed, InvalidOptions) as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
        attempts = [*(job.webhook_attempts or []), attempt]
        if attempt["error"] is None:
            status, next_at = "delivered", None
        else:
            next_at = self.policy.retry_at(time.time(), len(attempts))
            status = "pending" if next_at is not None else "failed"
        await asyncio.to_thread(self.store.record_delivery, job, attempts, status, next_at)
