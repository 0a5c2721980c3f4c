"""The credential reader on real signatures: the status rule, the signer, what is declared."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from app.provenance.reader import CredentialReader
from tests.app.provenance.signing import GENERATOR, IPTC, ORGANISATION, SIGNER, Chain


def read(data: bytes, anchors: Path | None = None) -> dict:
    reader = CredentialReader.from_settings(True, anchors)
    assert reader is not None
    return reader.read(io.BytesIO(data)).model_dump()


def test_a_generator_signed_clip_is_valid_untrusted_and_declares_ai(signed: dict[str, bytes]) -> None:
    answer = read(signed["generated"])
    assert answer["status"] == "valid" and answer["trusted"] is False
    assert answer["failures"] == ["signingCredential.untrusted"]
    assert answer["signer"] == {"issuer": ORGANISATION, "common_name": SIGNER, "signing_time": None}
    assert answer["claim_generator"] == " ".join(GENERATOR)
    assert answer["title"] == "signed.mp4"
    assert answer["digital_source_type"] == {"uri": IPTC + "trainedAlgorithmicMedia",
                                             "name": "trainedAlgorithmicMedia"}
    assert answer["ai_generated"] is True
    assert answer["embedded"] is True and answer["remote_url"] is None and answer["error"] is None


def test_the_root_as_trust_anchor_makes_it_trusted(signed: dict[str, bytes], anchors: Path) -> None:
    answer = read(signed["generated"], anchors)
    assert answer["status"] == "trusted" and answer["trusted"] is True and answer["failures"] == []


def test_another_root_as_anchor_trusts_nothing(signed: dict[str, bytes], tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(Chain.make().root_pem)
    answer = read(signed["generated"], other)
    assert answer["status"] == "valid" and answer["failures"] == ["signingCredential.untrusted"]


def test_a_camera_source_is_not_ai_generated(signed: dict[str, bytes]) -> None:
    answer = read(signed["captured"])
    assert answer["status"] == "valid"
    assert answer["digital_source_type"]["name"] == "digitalCapture" and answer["ai_generated"] is False


def test_an_unsigned_clip_has_none(signed: dict[str, bytes]) -> None:
    assert read(signed["unsigned"]) == {
        "status": "none", "trusted": False, "failures": [], "signer": None, "claim_generator": None,
        "title": None, "digital_source_type": None, "ai_generated": False, "embedded": False,
        "remote_url": None, "error": None,
    }


@pytest.mark.parametrize("kind", ["tampered", "truncated"])
def test_changed_media_data_fails_the_hash_check(signed: dict[str, bytes], kind: str) -> None:
    answer = read(signed[kind])
    assert answer["status"] == "invalid" and answer["trusted"] is False
    assert "assertion.bmffHash.mismatch" in answer["failures"]
    assert answer["ai_generated"] is True  # what it declares, though it no longer verifies


def test_a_remote_manifest_is_named_and_never_fetched(signed: dict[str, bytes]) -> None:
    answer = read(signed["remote"])
    assert answer["status"] == "unreadable" and answer["embedded"] is False
    assert answer["remote_url"] == "https://credentials.example/clip.c2pa"
    assert "never fetched" in answer["error"]


@pytest.mark.parametrize("data", [b"", bytes(range(256)) * 16], ids=["empty", "garbage"])
def test_bytes_the_reader_cannot_parse_are_unreadable(data: bytes) -> None:
    answer = read(data)
    assert answer["status"] == "unreadable" and answer["error"] == "not a format the C2PA reader reads"


def test_a_signed_jpeg_reads_too(signed: dict[str, bytes]) -> None:
    assert read(signed["jpeg"])["status"] == "valid"


def test_off_means_no_reader() -> None:
    assert CredentialReader.from_settings(False, None) is None


@pytest.mark.parametrize("content", [None, b"not a certificate\n"], ids=["missing", "no-pem"])
def test_a_bad_trust_anchor_file_stops_the_start(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "anchors.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="DISTILSCREEN_C2PA_TRUST_ANCHORS"):
        CredentialReader.from_settings(True, path)


@pytest.mark.anyio
async def test_a_source_with_neither_descriptor_nor_buffer_is_unreadable(signed: dict[str, bytes]) -> None:
    reader = CredentialReader.from_settings(True, None)
    assert reader is not None
    wrapped = io.BufferedReader(io.BytesIO(signed["generated"]))  # type: ignore[arg-type]
    answer = await asyncio.wait_for(reader.reading(wrapped), timeout=10)
    assert answer.status == "unreadable" and "beside its decoding" in (answer.error or "")


@pytest.mark.anyio
async def test_reading_beside_decoding_reads_a_file(signed: dict[str, bytes], tmp_path: Path) -> None:
    reader = CredentialReader.from_settings(True, None)
    assert reader is not None
    path = tmp_path / "signed.mp4"
    path.write_bytes(signed["generated"])
    with path.open("rb") as source:
        answer = await asyncio.wait_for(reader.reading(source), timeout=10)
        assert source.tell() == 0
    assert answer.status == "valid"
