"""paramcalc: where a transformer language model's parameters go, exactly.

The library returns values and never prints::

    >>> import paramcalc
    >>> b = paramcalc.budget(paramcalc.from_name("id4").config)
    >>> b.params["total"]
    137105
"""

from __future__ import annotations

from .errors import (CheckpointError, ConfigError, DataError, ParamcalcError, PresetError,
                     SolveError)
from .formulas import COMPONENTS, Budget, Count, Derivative, Ratio, budget
from .presets import Preset, from_file, from_name, names, resolve
from .spec import BLOCKS, CELLS, HEADS, POSITIONALS, ModelConfig

__version__ = "0.1.0"

__all__ = [
    "BLOCKS", "CELLS", "COMPONENTS", "HEADS", "POSITIONALS",
    "Budget", "CheckpointError", "ConfigError", "Count", "DataError", "Derivative",
    "ModelConfig", "ParamcalcError", "Preset", "PresetError", "Ratio", "SolveError",
    "budget", "from_file", "from_name", "names", "resolve",
]
