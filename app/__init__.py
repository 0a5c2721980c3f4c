"""distilscreen service: screen video frames for synthetic content with an ONNX student."""
