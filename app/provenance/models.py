"""What an answer says about an upload's content credentials, and the assessment that
combines them with the detector's verdict (both are part of the OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["none", "valid", "trusted", "invalid", "unreadable"]
Assessment = Literal["declared_synthetic", "tampered", "authentic", "synthetic", "not_applicable"]


class Signer(BaseModel):
    """Who signed the active manifest, from its signing certificate."""

    issuer: str | None = Field(description="who issued the claim: the signing certificate's organisation")
    common_name: str | None = Field(description="the certificate's common name")
    signing_time: str | None = Field(
        description="when it was signed, from a time-stamp authority's token; null without one"
    )


class DigitalSourceType(BaseModel):
    """How the media was made, as the IPTC digital source type vocabulary names it."""

    uri: str = Field(description="e.g. http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia")
    name: str = Field(description="the URI's last segment, e.g. trainedAlgorithmicMedia")


class Provenance(BaseModel):
    """The upload's C2PA content credentials, as read offline (a remote manifest is never fetched).

    `status`: `none` (no manifest), `valid` (signature and hashes check; the signer is not
    chained to a configured trust anchor), `trusted` (also chained to one), `invalid` (other
    failure codes, such as a hash mismatch), `unreadable` (the reader could not read it:
    `error` says why)."""

    status: Status
    trusted: bool = Field(description="the signer chains to a trust anchor (DISTILSCREEN_C2PA_TRUST_ANCHORS)")
    failures: list[str] = Field(
        default_factory=list,
        description="the active manifest's failure codes, e.g. signingCredential.untrusted"
    )
    signer: Signer | None = None
    claim_generator: str | None = Field(None, description="the tool that made the manifest (name version)")
    title: str | None = None
    digital_source_type: DigitalSourceType | None = Field(
        None, description="the first digitalSourceType the active manifest's actions declare"
    )
    ai_generated: bool = Field(
        False, description="an action declares trainedAlgorithmicMedia, compositeWithTrainedAlgorithmicMedia "
        "or algorithmicMedia"
    )
    embedded: bool = Field(False, description="the manifest is inside the file")
    remote_url: str | None = Field(None, description="where a remote manifest is (never fetched)")
    error: str | None = Field(None, description="why it is unreadable")
