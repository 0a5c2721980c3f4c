"""`distilscreen screen` prints the credentials and the assessment under its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import cli
from app.provenance.reader import unreadable


def test_screen_prints_provenance_and_assessment(
    model_path: Path, signed: dict[str, bytes], anchors: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    video = tmp_path / "signed.mp4"
    video.write_bytes(signed["generated"])
    for name, value in {"PROVIDERS": "CPUExecutionProvider", "DECODE_WORKERS": "1",
                        "C2PA_TRUST_ANCHORS": str(anchors)}.items():
        monkeypatch.setenv(f"DISTILSCREEN_{name}", value)
    monkeypatch.setenv("COLUMNS", "300")
    assert cli.main(["screen", str(video), "--model", str(model_path), "--max-frames", "4"]) == 0
    out = capsys.readouterr().out
    assert ("provenance: trusted; signed by distilscreen test generator (distilscreen tests); made with "
            "distilscreen-test-generator 1.0; source trainedAlgorithmicMedia (AI-generated)") in out
    assert "assessment: declared_synthetic" in out


def test_the_line_says_when_credentials_are_off_or_remote() -> None:
    assert cli.provenance_text(None) == "not read (DISTILSCREEN_C2PA off)"
    remote = unreadable("the manifest is remote, and remote manifests are never fetched", "https://x.example/m")
    assert cli.provenance_text(remote) == ("unreadable; remote manifest https://x.example/m (not fetched); "
                                           "the manifest is remote, and remote manifests are never fetched")
