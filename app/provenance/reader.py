"""Read an upload's C2PA content credentials offline (c2pa-python), beside its decoding.

One reader context, made at start from the settings, serves every read: the trust anchors,
trust verification on, and no network (remote manifests and OCSP are never fetched). A read
never raises: whatever goes wrong is an `unreadable` status with the reason."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import BinaryIO

import c2pa

from app.provenance.manifest import provenance_of
from app.provenance.models import Provenance
from app.provenance.source import independent_view

log = logging.getLogger(__name__)

_REMOTE = re.compile(r"remote manifests from url (\S+)")


def reader_context(trust_anchors: Path | None) -> c2pa.Context:
    """The reader's settings: trust verified (against `trust_anchors`, a PEM file of CA
    certificates, when given), nothing fetched."""
    settings: dict = {"verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors is not None:
        try:
            pem = trust_anchors.read_text()
        except OSError as exc:
            raise ValueError(f"DISTILSCREEN_C2PA_TRUST_ANCHORS: cannot read {trust_anchors}: {exc}") from exc
        if "-----BEGIN CERTIFICATE-----" not in pem:
            raise ValueError(f"DISTILSCREEN_C2PA_TRUST_ANCHORS: {trust_anchors} holds no PEM certificate")
        settings["trust"] = {"user_anchors": pem}
    try:
        return c2pa.Context.from_dict(settings)
    except c2pa.C2paError as exc:
        raise ValueError(f"DISTILSCREEN_C2PA_TRUST_ANCHORS: {trust_anchors}: {exc}") from exc


def unreadable(error: str, remote_url: str | None = None) -> Provenance:
    return Provenance(status="unreadable", trusted=False, remote_url=remote_url, error=error)


def _from_error(exc: Exception) -> Provenance:
    """A reader error as an answer; a manifest that is only remote is named, never fetched."""
    remote = _REMOTE.search(str(exc))
    if remote:
        return unreadable("the manifest is remote, and remote manifests are never fetched", remote.group(1))
    if isinstance(exc, c2pa.C2paError.NotSupported):
        return unreadable("not a format the C2PA reader reads")
    return unreadable(str(exc) or type(exc).__name__)


class CredentialReader:
    """Reads manifest stores with one shared context."""

    def __init__(self, context: c2pa.Context) -> None:
        self._context = context

    @classmethod
    def from_settings(cls, enabled: bool, trust_anchors: Path | None) -> CredentialReader | None:
        """The reader, or None when credentials are not read (DISTILSCREEN_C2PA off)."""
        return cls(reader_context(trust_anchors)) if enabled else None

    def read(self, source: BinaryIO) -> Provenance:
        """The credentials in `source` (closed after); `none` when it has no manifest."""
        try:
            with source:
                reader = c2pa.Reader.try_create(None, source, None, self._context)
                if reader is None:
                    return Provenance(status="none", trusted=False)
                with reader:
                    store = json.loads(reader.json())
                    return provenance_of(store, reader.is_embedded(), reader.get_remote_url())
        except c2pa.C2paError as exc:
            return _from_error(exc)
        except Exception as exc:  # the reader must never fail the upload it reads
            log.warning("content credentials: unexpected reader error", exc_info=True)
            return _from_error(exc)

    def reading(self, source: BinaryIO) -> asyncio.Future[Provenance]:
        """Start reading `source`'s credentials in a thread, beside its decoding: the view with
        its own position is taken now, before the decoder reads. The future never fails."""
        try:
            view = independent_view(source)
        except (AttributeError, OSError) as exc:
            done: asyncio.Future[Provenance] = asyncio.get_running_loop().create_future()
            done.set_result(unreadable(f"the upload cannot be read beside its decoding: {exc}"))
            return done
        return asyncio.ensure_future(asyncio.to_thread(self.read, view))
