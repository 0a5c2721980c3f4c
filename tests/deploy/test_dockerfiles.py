"""The two Dockerfiles: hadolint-clean, unprivileged, healthy on /readyz, real settings only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ["docker/Dockerfile", "docker/Dockerfile.gpu"]
SETTINGS_ENV = {f"DISTILSCREEN_{name.upper()}" for name in Settings.model_fields}


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_passes(dockerfile: str, run_tool) -> None:
    run_tool("hadolint", "--no-color", dockerfile)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_runs_unprivileged_and_checks_readiness(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}, f"{dockerfile} runs as {users}"
    healthcheck = re.search(r"^HEALTHCHECK(?:.*\\\n)*.*$", text, re.MULTILINE)
    assert healthcheck and "/readyz" in healthcheck.group(0), f"{dockerfile}: no /readyz check"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_sets_only_known_settings(dockerfile: str) -> None:
    names = set(re.findall(r"DISTILSCREEN_[A-Z_]+", (ROOT / dockerfile).read_text()))
    assert names, f"{dockerfile} sets no DISTILSCREEN_* variable"
    assert names <= SETTINGS_ENV, f"not fields of app.config.Settings: {names - SETTINGS_ENV}"
