"""hawk-tvm: hardware-aware, knowledge-driven schedule generation for Apache TVM (after Hawk, arXiv 2607.01590).

`import hawk_tvm` registers the Relax pipeline "hawk", so `tvm.compile(mod, target, relax_pipeline="hawk")`
schedules every operator with Hawk; configure it with `hawk_tvm.use_config(...)`.
"""

from .config import Budget, HawkConfig, LLMConfig, current_config, hawk_home, use_config
from .errors import HawkError

__version__ = "0.1.0"

__all__ = ["Budget", "HawkConfig", "HawkError", "LLMConfig", "current_config", "hawk_home", "use_config"]


def _register_pipeline() -> None:
    from .passes import register

    register()


_register_pipeline()
