"""Ray stays out of the service: nothing `serve` runs imports it, and neither the `serve` and
`gpu` extras nor the images install it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_service_and_its_cli_import_no_ray() -> None:
    code = ("import sys, app.main, app.cli; app.cli.build_parser(['serve']); "
            "print(sorted(m for m in ('ray', 'pyarrow', 'app.bulk.pipeline') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_only_the_bulk_extra_brings_ray() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("ray[data]") for d in extras["bulk"])
    for name in ("serve", "gpu"):
        assert not [d for d in extras[name] if d.startswith(("ray", "pyarrow"))], name
    for dockerfile in ("docker/Dockerfile", "docker/Dockerfile.gpu"):
        assert "bulk" not in (ROOT / dockerfile).read_text(), dockerfile
