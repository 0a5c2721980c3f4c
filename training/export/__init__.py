"""The model leaves training: the run's RUN/model.onnx (`stage`), a torch checkpoint exported
for serving (`checkpoint`), a card attached to an ONNX file made elsewhere (`attach`)."""
