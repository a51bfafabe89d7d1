"""paramcalc: where a transformer language model's parameters go, exactly.

The library returns values and never prints::

    >>> import paramcalc
    >>> b = paramcalc.budget(paramcalc.from_name("id4").config)
    >>> b.params["total"]
    137105
    >>> paramcalc.budget(paramcalc.load_hf_config("examples/llama-3.1-8b").config).params["total"]
    8030261248
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from .errors import (CheckpointError, ConfigError, DataError, ParamcalcError, PresetError,
                     SolveError)

if _TYPE_CHECKING:
    from .formulas import (COMPONENTS, Budget, Conventions, Count, Derivative, Ratio, budget,
                           conventions)
    from .presets import Preset, from_file, from_hf_config, from_name, names, resolve
    from .spec import (BLOCKS, CELLS, HEADS, MLPS, NORM_PLACEMENTS, NORMS, POSITIONALS,
                       QK_NORMS, ModelConfig)
    from .families import SUPPORTED as HF_MODEL_TYPES
    from .families import HFConfig
    from .families import load as load_hf_config
    from .compute import QUANTITIES, Compute, Settings, chinchilla, compute_budget
    from .plan import (Curves, Grid, Range, Solution, curves, parse_budget, parse_flops,
                       parse_range, parse_ratio, parse_tokens, solve, sweep)

#: names imported when first used: importing paramcalc costs nothing (no sympy), so that the
#: program can take charge of Ctrl-C before its first heavy import (paramcalc/__main__.py), and
#: a command that only counts does not pay for planning or config.json reading
_LAZY = {
    **{name: ("formulas", name) for name in ("COMPONENTS", "Budget", "Conventions", "Count",
                                             "Derivative", "Ratio", "budget", "conventions")},
    **{name: ("presets", name) for name in ("Preset", "from_file", "from_hf_config",
                                            "from_name", "names", "resolve")},
    **{name: ("spec", name) for name in ("BLOCKS", "CELLS", "HEADS", "MLPS", "NORM_PLACEMENTS",
                                         "NORMS", "POSITIONALS", "QK_NORMS", "ModelConfig")},
    "HF_MODEL_TYPES": ("families", "SUPPORTED"), "HFConfig": ("families", "HFConfig"),
    "load_hf_config": ("families", "load"),
    **{name: ("plan", name) for name in ("Curves", "Grid", "Range", "Solution", "curves",
                                         "parse_budget", "parse_flops", "parse_range",
                                         "parse_ratio", "parse_tokens", "solve", "sweep")},
    **{name: ("compute", name) for name in ("QUANTITIES", "Compute", "Settings", "chinchilla",
                                            "compute_budget")},
}


_SUBMODULES = {"check", "compute", "errors", "families", "files", "formulas", "hf", "modules",
               "plan", "presets", "render", "spec", "symbols", "train", "cli"}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    if name in _SUBMODULES:  # paramcalc.symbols.SYMBOLS after a bare ``import paramcalc``
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.2.0"

__all__ = [
    "BLOCKS", "CELLS", "COMPONENTS", "HEADS", "HF_MODEL_TYPES", "MLPS", "NORMS",
    "NORM_PLACEMENTS", "POSITIONALS", "QK_NORMS", "QUANTITIES",
    "Budget", "CheckpointError", "Compute", "ConfigError", "Conventions", "Count", "Curves",
    "DataError", "Settings",
    "Derivative", "Grid", "HFConfig", "ModelConfig", "ParamcalcError", "Preset", "PresetError",
    "Range", "Ratio", "Solution", "SolveError",
    "budget", "chinchilla", "compute_budget", "conventions", "curves", "from_file", "from_hf_config",
    "from_name", "load_hf_config", "names", "parse_budget", "parse_flops", "parse_range",
    "parse_ratio", "parse_tokens", "resolve", "solve", "sweep",
]
