"""From the C2PA reader's manifest store (its JSON) to the answer's `provenance`: the status
rule, the signer, and what the active manifest's actions declare."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from app.provenance.models import DigitalSourceType, Provenance, Signer, Status

# IPTC digital source types that mean the media was made by an algorithm: by a trained model,
# partly (a composite with such media), or purely computationally
AI_SOURCE_TYPES = frozenset(
    {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia"}
)
UNTRUSTED = "signingCredential.untrusted"

Json = Mapping[str, Any]


def status_of(state: str | None, failures: list[str]) -> Status:
    """Trust is judged from the failure codes, not from the state alone: with no trust anchor
    a signature that checks reads `Valid` while `signingCredential.untrusted` is a failure."""
    if state == "Invalid" or set(failures) - {UNTRUSTED}:
        return "invalid"
    return "trusted" if state == "Trusted" and not failures else "valid"


def failures_of(store: Json) -> list[str]:
    """The active manifest's failure codes (its ingredients' own are not this file's)."""
    results = store.get("validation_results") or {}
    return [entry["code"] for entry in (results.get("activeManifest") or {}).get("failure", [])]


def claim_generator(manifest: Json) -> str | None:
    """`claim_generator` (claims v1), or the first `claim_generator_info`'s name and version."""
    if manifest.get("claim_generator"):
        return str(manifest["claim_generator"])
    info = next(iter(manifest.get("claim_generator_info") or []), None)
    if not info:
        return None
    return " ".join(str(info[key]) for key in ("name", "version") if info.get(key))


def signer_of(manifest: Json) -> Signer | None:
    info = manifest.get("signature_info")
    if not info:
        return None
    return Signer(
        issuer=info.get("issuer"), common_name=info.get("common_name"), signing_time=info.get("time")
    )


def declared_sources(manifest: Json) -> Iterator[str]:
    """The digitalSourceType URIs of the manifest's actions (c2pa.actions and .v2), in order."""
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions", []):
                if action.get("digitalSourceType"):
                    yield str(action["digitalSourceType"])


def source_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def provenance_of(store: Json, embedded: bool, remote_url: str | None) -> Provenance:
    """The answer's provenance of a manifest store that the reader found and validated."""
    manifest: Json = store.get("manifests", {}).get(store.get("active_manifest"), {})
    failures = failures_of(store)
    status = status_of(store.get("validation_state"), failures)
    sources = list(declared_sources(manifest))
    declared = DigitalSourceType(uri=sources[0], name=source_name(sources[0])) if sources else None
    return Provenance(
        status=status,
        trusted=status == "trusted",
        failures=failures,
        signer=signer_of(manifest),
        claim_generator=claim_generator(manifest),
        title=manifest.get("title"),
        digital_source_type=declared,
        ai_generated=any(source_name(uri) in AI_SOURCE_TYPES for uri in sources),
        embedded=embedded,
        remote_url=remote_url,
    )
