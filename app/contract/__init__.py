"""The contract between training and the service: the model card (`card`) and the pure
predictor made from an ONNX Runtime session and a card (`predictor`). Training imports
these (and the shared decoder and cropper) from the service, never the reverse; nothing
here reads the service's settings."""
