"""Install hawk-tvm: the Hawk schedule-generation pass for Apache TVM."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def _schedule_files() -> list[str]:
    """Seed-knowledge data files under schedules/, relative to it."""
    root = HERE / "schedules"
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".json"}
    )


setup(
    name="hawk-tvm",
    version="0.1.0",
    description="Hardware-aware knowledge-driven schedule generation for NPUs and CPUs, as an Apache TVM pass",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[
        "hawk_tvm",
        "hawk_tvm.analysis",
        "hawk_tvm.hardware",
        "hawk_tvm.sim",
        "hawk_tvm.knowledge",
        "hawk_tvm.llm",
        "hawk_tvm.measure",
        "hawk_tvm.models",
        "hawk_tvm.benchmark",
        "hawk_tvm.proposer",
        "hawk_tvm.sandbox",
        "hawk_tvm.passes",
        "hawk_tvm.schedules",
    ],
    package_dir={"hawk_tvm.passes": "passes", "hawk_tvm.schedules": "schedules"},
    package_data={
        "hawk_tvm.schedules": _schedule_files(),
        "hawk_tvm.hardware": ["profiles/*.json"],
    },
    install_requires=[
        "apache-tvm==0.27.0.post1",
        "apache-tvm-ffi==0.1.14.post1",
        "numpy",
        "psutil",
        "cloudpickle",
        "tornado",
        "scikit-learn",
        "annoy",
        "openai",
        "onnx",
        "pyyaml",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        "test": ["pytest", "onnxruntime", "ruff"],
        # torch.export programs (hawk compile model.pt2, hawk_tvm.compile(nn.Module)); pinned to the release pip
        # installs here from local wheels (the Linux wheel pulls CUDA libraries: it is the wheel users have)
        "torch": ["torch==2.14.1", "torchvision==0.29.1"],
    },
    entry_points={"console_scripts": ["hawk=hawk_tvm.cli:main"]},
)
