"""The answer's `assessment`: what the credentials declare, where they verify, over what the
detector sees."""

from __future__ import annotations

from app.provenance.models import Assessment, Provenance

# failure codes of a manifest's hash checks: the content is no longer what was signed
HASH_MISMATCHES = frozenset({
    "assertion.dataHash.mismatch",
    "assertion.bmffHash.mismatch",
    "assertion.boxesHash.mismatch",
    "assertion.collectionHash.mismatch",
    "assertion.hashedURI.mismatch",
})


def assess(provenance: Provenance | None, verdict: Assessment) -> Assessment:
    """`declared_synthetic` when credentials that verify (valid or trusted) declare AI-generated
    media; `tampered` when a manifest fails its hash checks; otherwise the detector's verdict."""
    if provenance is None:
        return verdict
    if provenance.status in ("valid", "trusted") and provenance.ai_generated:
        return "declared_synthetic"
    if HASH_MISMATCHES.intersection(provenance.failures):
        return "tampered"
    return verdict
