"""Training reaches the service only through the contract (card, predictor), the decoder
and the cropper (with where the shipped detector is): never its settings, routes, batchers
or engine."""

from __future__ import annotations

import json
import subprocess
import sys

SHARED = ("app.contract", "app.errors", "app.video", "app.faces", "app.shipped")


def test_training_imports_only_the_contract_the_decoder_and_the_cropper() -> None:
    program = (
        "import importlib, json, pkgutil, sys, training\n"
        "for m in pkgutil.walk_packages(training.__path__, 'training.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'app' or m.startswith('app.'))))"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    imported = json.loads(done.stdout.splitlines()[-1])
    assert "app.contract.predictor" in imported
    assert [m for m in imported if m != "app" and not m.startswith(SHARED)] == []
