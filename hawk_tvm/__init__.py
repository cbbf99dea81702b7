"""hawk-tvm: hardware-aware, knowledge-driven schedule generation for Apache TVM (after Hawk, arXiv 2607.01590).

`import hawk_tvm` registers the Relax pipeline "hawk", so `tvm.compile(mod, target, relax_pipeline="hawk")`
schedules every operator with Hawk; configure it with `hawk_tvm.use_config(...)`.
`hawk_tvm.compile(model, example_inputs, target=...)` compiles a PyTorch module / program or an ONNX model and
returns a callable (`hawk_tvm.api`).
"""

from .api import CompiledModel, compile  # hawk_tvm.compile, like tvm.compile / torch.compile
from .config import Budget, HawkConfig, LLMConfig, current_config, hawk_home, use_config
from .errors import HawkError
from .frontend import InputError

__version__ = "0.1.0"

__all__ = ["Budget", "CompiledModel", "HawkConfig", "HawkError", "InputError", "LLMConfig", "compile", "current_config",
           "hawk_home", "use_config"]


def _register_pipeline() -> None:
    from .passes import register

    register()


_register_pipeline()
