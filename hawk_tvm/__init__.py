"""hawk-tvm: hardware-aware, knowledge-driven schedule generation for Apache TVM (after Hawk, arXiv 2607.01590).

`import hawk_tvm` registers the Relax pipeline "hawk", so `tvm.compile(mod, target, relax_pipeline="hawk")`
schedules every operator with Hawk; configure it with `hawk_tvm.use_config(...)`.
"""

from .config import Budget, HawkConfig, LLMConfig, current_config, hawk_home, use_config
from .errors import HawkError

__version__ = "0.1.0"

__all__ = ["Budget", "HawkConfig", "HawkError", "LLMConfig", "current_config", "hawk_home", "use_config"]


def _alias_source_tree() -> None:
    """In a source checkout that is not the installed copy (e.g. worker processes started in the repo root),
    `passes/` and `schedules/` sit beside this package instead of inside it: let them resolve as
    `hawk_tvm.passes` / `hawk_tvm.schedules`, the way the installed package lays them out."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    if not os.path.isdir(os.path.join(here, "passes")) and os.path.isfile(os.path.join(root, "passes", "__init__.py")):
        __path__.append(root)


def _register_pipeline() -> None:
    from .passes import register

    register()


_alias_source_tree()
_register_pipeline()
