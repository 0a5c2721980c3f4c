"""Where the models that ship with distilscreen are: `models/` of the source tree (a checkout,
or an editable install), else the copy a wheel installs under `<prefix>/share/distilscreen/`."""

from __future__ import annotations

import sysconfig
from pathlib import Path

SOURCE_MODELS = Path(__file__).resolve().parent.parent / "models"
INSTALLED_MODELS = Path(sysconfig.get_path("data")) / "share" / "distilscreen" / "models"
STUDENT = "distilscreen-student.onnx"

MODELS_DIR = SOURCE_MODELS if (SOURCE_MODELS / STUDENT).is_file() else INSTALLED_MODELS
