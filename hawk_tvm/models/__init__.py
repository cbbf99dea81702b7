"""Small real ONNX models built with onnx's helper (random weights, documented shapes) for examples and tests."""
