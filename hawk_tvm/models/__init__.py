"""Real-architecture ONNX models built with onnx.helper (seeded random weights, documented shapes)."""

from .zoo import MODELS, SMALL, SUITE, build, input_shape, save

__all__ = ["MODELS", "SMALL", "SUITE", "build", "input_shape", "save"]
