"""The model file: a net exported to ONNX with its card (`exporter`), read and written cards
(`cardfile`), FP16/INT8 variants (`variants`) and timing in ONNX Runtime (`speed`)."""
