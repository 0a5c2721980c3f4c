"""The assessment rule: declared AI generation that verifies, then hash failures, then the
detector's verdict."""

from __future__ import annotations

import pytest

from app.provenance.assessment import assess
from app.provenance.manifest import UNTRUSTED, status_of
from app.provenance.models import Provenance


def provenance(status: str, failures: list[str], ai_generated: bool = False) -> Provenance:
    return Provenance(status=status, trusted=status == "trusted", failures=failures,  # type: ignore[arg-type]
                      ai_generated=ai_generated)


@pytest.mark.parametrize(("credentials", "verdict", "expected"), [
    (None, "authentic", "authentic"),
    (provenance("none", []), "synthetic", "synthetic"),
    (provenance("valid", [UNTRUSTED], ai_generated=True), "authentic", "declared_synthetic"),
    (provenance("trusted", [], ai_generated=True), "not_applicable", "declared_synthetic"),
    (provenance("trusted", []), "authentic", "authentic"),
    (provenance("invalid", ["assertion.bmffHash.mismatch"], ai_generated=True), "authentic", "tampered"),
    (provenance("invalid", ["assertion.dataHash.mismatch"]), "synthetic", "tampered"),
    (provenance("invalid", ["signingCredential.expired"], ai_generated=True), "authentic", "authentic"),
    (provenance("unreadable", []), "synthetic", "synthetic"),
])
def test_assessment(credentials: Provenance | None, verdict: str, expected: str) -> None:
    assert assess(credentials, verdict) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("state", "failures", "expected"), [
    ("Valid", ["signingCredential.untrusted"], "valid"),
    ("Trusted", [], "trusted"),
    ("Trusted", ["signingCredential.untrusted"], "valid"),  # the codes decide, not the state alone
    ("Valid", [], "valid"),  # trust was not verified
    ("Valid", ["signingCredential.untrusted", "assertion.bmffHash.mismatch"], "invalid"),
    ("Invalid", [], "invalid"),
])
def test_status_rule(state: str, failures: list[str], expected: str) -> None:
    assert status_of(state, failures) == expected
