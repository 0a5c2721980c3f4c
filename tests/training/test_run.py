"""training/run.py: provenance in config.yaml, refusal to overwrite or mix configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from training.config import load_config
from training.run import RunError, load_run_config, pick_device, start_run, write_config


def test_a_run_folder_is_resumed_only_when_asked_and_only_with_its_config(tmp_path: Path) -> None:
    config = load_config("smoke")
    run = start_run(config, tmp_path / "run", resume=False)
    assert write_config(run, "d" * 64)["data_hash"] == "d" * 64
    saved, provenance = load_run_config(tmp_path / "run")
    assert saved == config
    assert provenance["config_hash"] == config.digest() and provenance["data_hash"] == "d" * 64
    assert provenance["git_commit"]
    with pytest.raises(RunError, match="already holds a run; pass --resume"):
        start_run(config, tmp_path / "run", resume=False)
    assert start_run(config, tmp_path / "run", resume=True).dir == tmp_path / "run"
    with pytest.raises(RunError, match="was started with another config"):
        start_run(load_config("smoke", ["seed=1"]), tmp_path / "run", resume=True)
    assert "provenance" in yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())


def test_load_run_config_needs_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="is not a run folder"):
        load_run_config(tmp_path)


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
