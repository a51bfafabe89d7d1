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

from .errors import (CheckpointError, ConfigError, DataError, ParamcalcError, PresetError,
                     SolveError)
from .formulas import COMPONENTS, Budget, Conventions, Count, Derivative, Ratio, budget, conventions
from .hf import SUPPORTED as HF_MODEL_TYPES
from .hf import HFConfig
from .hf import load as load_hf_config
from .plan import (Curves, Grid, Range, Solution, curves, parse_budget, parse_range, parse_ratio,
                   solve, sweep)
from .presets import Preset, from_file, from_hf_config, from_name, names, resolve
from .spec import (BLOCKS, CELLS, HEADS, MLPS, NORM_PLACEMENTS, NORMS, POSITIONALS, QK_NORMS,
                   ModelConfig)

__version__ = "0.2.0"

__all__ = [
    "BLOCKS", "CELLS", "COMPONENTS", "HEADS", "HF_MODEL_TYPES", "MLPS", "NORMS",
    "NORM_PLACEMENTS", "POSITIONALS", "QK_NORMS",
    "Budget", "CheckpointError", "ConfigError", "Conventions", "Count", "Curves", "DataError",
    "Derivative", "Grid", "HFConfig", "ModelConfig", "ParamcalcError", "Preset", "PresetError",
    "Range", "Ratio", "Solution", "SolveError",
    "budget", "conventions", "curves", "from_file", "from_hf_config", "from_name",
    "load_hf_config", "names", "parse_budget", "parse_range", "parse_ratio", "resolve", "solve",
    "sweep",
]
