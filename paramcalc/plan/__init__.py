"""Budget planning: solve for one hyperparameter, sweep the design space, curves for plots.

``solve`` lets sympy solve the configuration's own expressions for one symbol, rounds the
root to valid integers (n_heads must divide d_model, and so on) and verifies the answer by
substitution. ``sweep`` evaluates lambdified, vectorized expressions over whole grids with
numpy, never sympy substitution in a loop.

A default that follows another hyperparameter follows it here too: d_ff = 4·d_model when
d_ff was not given, n_positions = seq_length, head_width = d_model/8 (sweeps only; solve
holds head_width at its value).
"""

from __future__ import annotations

from .solve import Solution, solve
from .sweep import Crossover, Curves, Grid, Range, curves, parse_range, sweep
from .targets import (MAX_POINTS, MAX_TARGET, MAX_VALUE, follow, parse_budget, parse_flops,
                      parse_ratio, parse_tokens, symbol_for)

__all__ = ["MAX_POINTS", "MAX_TARGET", "MAX_VALUE", "Crossover", "Curves", "Grid", "Range",
           "Solution", "curves", "follow", "parse_budget", "parse_flops", "parse_range",
           "parse_ratio", "parse_tokens", "solve", "sweep", "symbol_for"]
