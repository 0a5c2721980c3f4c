"""The configs the shipped models were trained with stay runnable: each loads and validates
with today's config schema (`distilscreen distill --config models/<name>.config.yaml`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_config

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.config.yaml")), ids=lambda p: p.name)
def test_a_shipped_config_loads(path: Path) -> None:
    config = load_config(path)
    assert config.softlabels.temperature == 4.0
