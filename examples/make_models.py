"""Write the example ONNX models (random weights, seeded) into examples/: mlp.onnx and small_convnet.onnx."""

from pathlib import Path

from hawk_tvm.models.zoo import MODELS, save

if __name__ == "__main__":
    here = Path(__file__).parent
    for name in MODELS:
        print("wrote", save(name, here / f"{name}.onnx"))
