"""The predict and evaluation stages: every model's val/test logits (`predictions`), its
calibration and test figures with its ONNX file and speed (`stage`, `onnxfiles`), and the
served student's variants and robustness (`served`, `robustness`)."""
