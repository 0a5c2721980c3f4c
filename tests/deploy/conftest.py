"""The real tools the deployment-file tests run, from the repository root.

`make test` installs them (Debian: docker-compose, promtool; the venv: hadolint), so a
missing tool fails the test instead of skipping it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RunTool = Callable[..., subprocess.CompletedProcess[str]]


def _find(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is neither next to {sys.executable} nor on PATH; run `make test`")
    return found


@pytest.fixture(scope="session")
def run_tool() -> RunTool:
    """`run_tool(name, *args, env=None)`: run a tool in the repository root, fail unless it exits 0."""

    def run(name: str, *args: str, env: dict[str, str] | None = None):
        cmd = [_find(name), *args]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc

    return run
