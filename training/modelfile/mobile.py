"""ONNX Runtime's mobile format: a model file as `.ort` (the flatbuffers format that ORT
Mobile and reduced ORT builds load; its card travels in the metadata) and the operator
config a reduced build is compiled with (`--include_ops_by_config`).

Made by ORT's own converter (`onnxruntime.tools.convert_onnx_models_to_ort`), with the
graph optimisations fixed at conversion (`OptimizationStyle.Fixed`: what any build runs,
no runtime optimiser needed on the device).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

CONFIG_SUFFIX = ".required_operators.config"


def export_ort(model: Path) -> tuple[Path, Path]:
    """`NAME.onnx` -> `NAME.ort` and `NAME.required_operators.config` beside it."""
    ort_file, config = model.with_suffix(".ort"), model.with_name(model.stem + CONFIG_SUFFIX)
    with tempfile.TemporaryDirectory() as tmp:  # the converter works on folders
        source = Path(tmp) / "in" / f"{model.stem}.onnx"
        source.parent.mkdir()
        source.write_bytes(model.read_bytes())
        out = Path(tmp) / "out"
        convert_onnx_models_to_ort(source, output_dir=out, optimization_styles=[OptimizationStyle.Fixed])
        made = out / f"{model.stem}.ort"
        made.replace(ort_file)
        # the config names the file it was made from: ours, not the temporary copy
        made_config = (out / f"{model.stem}{CONFIG_SUFFIX}").read_text()
        config.write_text(made_config.replace(str(made), ort_file.name))
    return ort_file, config
