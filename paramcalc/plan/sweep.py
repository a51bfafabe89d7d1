"""sweep and curves: every combination of one or two ranges, vectorized with numpy over
lambdified closed forms; the Pareto front; the curves of a plot and their crossovers."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..defaults import applying, layer_limits
from ..errors import SolveError
from ..formulas import COMPONENTS, budget
from ..pattern import period
from ..spec import HEADS, ModelConfig
from ..symbols import NAMES, SYMBOLS

from .targets import MAX_POINTS, MAX_VALUE, follow, giving, symbol_for


@dataclass(frozen=True)
class Range:
    """start:stop:step over one hyperparameter, stop included."""

    name: str
    start: int
    stop: int
    step: int

    def values(self) -> Any:
        import numpy as np

        return np.arange(self.start, self.stop + 1, self.step, dtype=np.int64)

    def __len__(self) -> int:
        return (self.stop - self.start) // self.step + 1


_RANGE = re.compile(r"^\s*([A-Za-z_-]+)\s*=\s*(-?\d+)\s*:\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?$")


def parse_range(text: str) -> Range:
    """``d_model=16:1024:16`` (step 1 when left out). Never evaluated as code."""
    match = _RANGE.match(text)
    if not match:
        raise SolveError(f"malformed range {text!r}; write NAME=START:STOP[:STEP], "
                         "e.g. d_model=16:1024:16")
    name, start, stop, step = match.groups()
    symbol = symbol_for(name, "--vary")
    start_, stop_, step_ = int(start), int(stop), int(step or 1)
    if step_ == 0:
        raise SolveError(f"range {text!r} has a zero step")
    if step_ < 0:
        raise SolveError(f"range {text!r} has a negative step; write it from low to high")
    if start_ <= 0:
        raise SolveError(f"range {text!r} must start at a positive integer")
    if stop_ < start_:
        raise SolveError(f"range {text!r} is reversed or empty: {stop_} < {start_}")
    if stop_ > MAX_VALUE:
        raise SolveError(f"range {text!r} goes past {MAX_VALUE:,} (2**40), beyond any model; "
                         "narrow it")
    if (stop_ - start_) // step_ + 1 > MAX_POINTS:
        raise SolveError(f"range {text!r} has {(stop_ - start_) // step_ + 1:,} points; at most "
                         f"{MAX_POINTS:,} are evaluated: take a larger step")
    return Range(NAMES[symbol], start_, stop_, step_)


_ARGS = tuple(SYMBOLS.values())


@dataclass
class Grid:
    """Every point of a sweep: the varied values, the counts and the ratio, per head design."""

    names: list[str]  # the varied hyperparameters
    columns: dict[str, Any]  # "design" (index into heads), each name, the components, "total",
    heads: list[str]  # "ratio" (inf where the head owns nothing), "valid"

    def __len__(self) -> int:
        return len(self.columns["total"])

    def front(self) -> Any:
        """Indices of the valid points no other point beats on both fewer parameters and a
        higher ratio, by increasing total. Heads that own nothing (an infinite ratio) are
        ranked apart, among themselves, so that they do not hide every finite point."""
        import numpy as np

        finite = np.isfinite(self.columns["ratio"])
        parts = [self._front(self.columns["valid"] & finite),
                 self._front(self.columns["valid"] & ~finite)]
        return np.concatenate(parts)

    def _front(self, mask: Any) -> Any:
        import numpy as np

        valid = np.flatnonzero(mask)
        if not len(valid):
            return valid
        total, ratio = self.columns["total"][valid], self.columns["ratio"][valid]
        order = np.lexsort((-ratio, total))  # by total, the best ratio first among equals
        best = np.maximum.accumulate(ratio[order])
        keep = np.empty(len(order), dtype=bool)
        keep[:1] = True
        keep[1:] = ratio[order][1:] > best[:-1]
        return valid[order[keep]]


def _evaluators(config: ModelConfig) -> dict[str, tuple[Callable[..., Any],
                                                       Callable[..., Any] | None]]:
    """The numpy functions of a configuration's counts, made once per configuration.

    Equal configurations can still have different formulas: a size the user gave is its own
    symbol, a default one follows what it defaults to (head_dim = d/h). The names given are
    part of the key.
    """
    return _lambdified(config, frozenset(name for name, _ in config.given))


@functools.lru_cache(maxsize=64)
def _lambdified(config: ModelConfig, given: frozenset[str]
                ) -> dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]]:
    """Numerator and denominator of each component's count, as numpy functions.

    A default head width d/h makes a count a fraction; evaluating its integer numerator and
    dividing exactly keeps every count exact in int64, where float division would not be.
    """
    b = budget(config)
    exprs = {name: b.components[name].exact for name in COMPONENTS}
    idle = sp.expand(b.total.exact - b.active.exact)  # the experts a token is not routed to
    if idle != 0:
        exprs["idle"] = idle
    out = {}
    for name, expr in exprs.items():
        numerator, denominator = sp.fraction(sp.together(expr))
        out[name] = (sp.lambdify(_ARGS, numerator, modules="numpy"),
                     None if denominator == 1 else sp.lambdify(_ARGS, denominator, modules="numpy"))
    return out


@functools.lru_cache(maxsize=64)
def _lambdified_quantity(config: ModelConfig, given: frozenset[str], name: str
                         ) -> Callable[..., Any]:
    """A compute or memory quantity (compute.QUANTITIES) as a numpy function, in float64:
    FLOPs outgrow int64 long before parameter counts do; below 2**53 they are exact."""
    from ..compute import compute

    return sp.lambdify(_ARGS, compute(budget(config)).quantity(name).exact, modules="numpy")


def _exact(top: Callable[..., Any], bottom: Callable[..., Any] | None, args: Sequence[Any]) -> Any:
    """numerator // denominator in integers (exact at the valid points, where it divides)."""
    import numpy as np

    numerator = np.asarray(top(*args), dtype=np.int64)
    if bottom is None:
        return numerator
    return numerator // np.maximum(np.asarray(bottom(*args), dtype=np.int64), 1)


def _arguments(config: ModelConfig, grid: dict[str, Any]) -> list[Any]:
    """One array (or scalar) per symbol: varied, fixed, or following a varied one."""
    import numpy as np

    values: dict[str, Any] = {}
    for name in SYMBOLS:
        if name in grid:
            values[name] = grid[name]
        elif getattr(config, name) is not None:
            if getattr(config, name) > MAX_VALUE:
                raise SolveError(f"{name} = {getattr(config, name):,} is past {MAX_VALUE:,} "
                                 "(2**40): sweeps count in int64; give a smaller value")
            values[name] = np.int64(getattr(config, name))
        else:
            values[name] = np.int64(1)  # a symbol this configuration's formulas do not contain
    follow(config, values, set(grid))
    # a varied value (or one following it) is a column; a fixed one stays a scalar, so that
    # nothing is computed a million times over that has one value
    return [np.asarray(values[name], dtype=np.int64) for name in SYMBOLS]


def _validity(config: ModelConfig, args: Sequence[Any]) -> Any:
    """The constraints of ``defaults.CONSTRAINTS`` that hold for the configuration,
    vectorized, and the layer pattern's: n past its listed layers, whole periods."""
    import numpy as np

    valid = np.asarray(True)
    for constraint in applying(config):
        low, high = (sp.lambdify(_ARGS, side, modules="numpy")(*args)
                     for side in (constraint.low, constraint.high))
        valid = valid & ((low <= high) if constraint.kind == "le" else (high % low == 0))
    x = dict(zip(SYMBOLS, args))
    valid = valid & (x["num_blocks"] >= int(layer_limits(config)))
    every = period(config)
    if every > 1:  # an interleaved pattern's formulas hold at whole periods past its blocks
        valid = valid & ((x["num_blocks"] - config.num_blocks) % every == 0)
    return valid


def sweep(config: ModelConfig, ranges: Sequence[Range], heads: Sequence[str] | None = None,
          quantities: Sequence[str] = ()) -> Grid:
    """Evaluate every combination of ``ranges`` for each head design, vectorized.

    Args:
        config: the configuration whose other hyperparameters stay as they are.
        ranges: one or two ``Range``s (``parse_range("d_model=64:1024:64")``).
        heads: the head designs to evaluate [the configuration's own].
        quantities: compute and memory quantities to add to every point (``flops``,
            ``flops_per_token``, ``kv_cache``, ``activations``: compute.QUANTITIES), float64.
    """
    import numpy as np

    from ..compute import QUANTITIES

    quantities = list(dict.fromkeys(quantities))
    for name in quantities:
        if name not in QUANTITIES:
            raise SolveError(f"unknown quantity {name!r}; choose one of: {', '.join(QUANTITIES)}")

    heads = list(heads) if heads is not None else [config.head or "flatten"]
    names = [r.name for r in ranges]
    if len(set(names)) != len(names):
        raise SolveError(f"--vary names {names} more than once")
    for r in ranges:
        if all(getattr(config.with_head(h), r.name) is None for h in heads):
            raise SolveError(f"{r.name} does not apply to this configuration "
                             f"({config.block} blocks, {config.positional} positions)")
    points = math.prod(len(r) for r in ranges) * len(heads)
    if points > MAX_POINTS:
        raise SolveError(f"these ranges make {points:,} points ({' × '.join(str(len(r)) for r in ranges)}"
                         f" × {len(heads)} head design{'s' if len(heads) > 1 else ''}); at most "
                         f"{MAX_POINTS:,} are evaluated: take larger steps or fewer heads")
    mesh = np.meshgrid(*(r.values() for r in ranges), indexing="ij")
    grid = {name: axis.ravel() for name, axis in zip(names, mesh)}
    size = len(next(iter(grid.values())))
    parts: dict[str, list[Any]] = {key: [] for key in ("design", *names, *COMPONENTS, "total",
                                                       "active", "ratio", *quantities, "valid")}
    for index, head in enumerate(heads):
        head_config = giving(config.with_head(head), names)
        args = _arguments(head_config, grid)
        evaluators = _evaluators(head_config)
        # counts have non-negative coefficients and every argument grows with the varied
        # ones, so the largest total sits where every argument is largest: check int64 there
        corner = [float(np.max(a)) for a in args]
        if sum(float(top(*corner)) for top, _ in evaluators.values()) > 2**62:  # idle ≤ total
            raise SolveError("the total passes 4.6e18 parameters somewhere in these ranges; "
                             "narrow them")
        counts = {name: _full(_exact(top, bottom, args), size)
                  for name, (top, bottom) in evaluators.items()}
        total = sum(counts[name] for name in COMPONENTS)
        active = total - counts["idle"] if "idle" in counts else total
        owned = counts["head"]  # where the head owns nothing, its ratio is infinite
        ratio = np.divide(counts["blocks"], owned, out=np.full(size, np.inf), where=owned > 0)
        parts["design"].append(np.broadcast_to(np.int64(index), (size,)))
        for name in names:
            parts[name].append(grid[name])
        for name in COMPONENTS:
            parts[name].append(counts[name])
        parts["total"].append(total)
        parts["active"].append(active)
        parts["ratio"].append(ratio)
        given = frozenset(name for name, _ in head_config.given)
        for name in quantities:
            values = _lambdified_quantity(head_config, given, name)(
                *(a.astype(np.float64) for a in args))
            parts[name].append(np.broadcast_to(np.asarray(values, dtype=np.float64),
                                               (size,)).copy())
        parts["valid"].append(np.broadcast_to(_validity(head_config, args), (size,)))
    # one head: its columns as they are; several: one copy into the grid's columns
    columns = {key: value[0] if len(value) == 1 else np.concatenate(value)
               for key, value in parts.items()}
    return Grid(names, columns, list(heads))


def _full(values: Any, size: int) -> Any:
    """An int64 column of ``size``: a computed array as it is, a constant repeated (every
    argument is a whole column or one value, so a count is one or the other)."""
    import numpy as np

    return values if values.shape == (size,) else np.full(size, values, dtype=np.int64)


@dataclass(frozen=True)
class Crossover:
    """Where two heads' curves cross, between two grid points."""

    x: float
    y: float
    heads: tuple[str, str]


@dataclass
class Curves:
    """y (ratio or total) against one hyperparameter, one curve per head."""

    x_name: str
    y_name: str
    x: Any
    y: dict[str, Any]
    crossovers: list[Crossover]

    def drawable(self) -> bool:
        """Whether any curve has a finite, positive point (the y axis is logarithmic)."""
        import numpy as np

        return any(bool((np.isfinite(y) & (y > 0)).any()) for y in self.y.values())


def curves(config: ModelConfig, axis: Range, y_name: str, heads: Sequence[str] = HEADS) -> Curves:
    """The curves of a plot and their crossover points (linear interpolation between points)."""
    import numpy as np

    from ..compute import QUANTITIES

    if y_name not in ("ratio", "total", "active", *QUANTITIES):
        raise SolveError(f"unknown quantity {y_name!r} to plot; choose one of: ratio, total, "
                         f"active, {', '.join(QUANTITIES)}")
    grid = sweep(config, [axis], heads, quantities=[y_name] if y_name in QUANTITIES else [])
    x = axis.values()
    y = {}
    for index, head in enumerate(heads):
        rows = grid.columns["design"] == index
        values = grid.columns[y_name][rows].astype(np.float64)
        values[~grid.columns["valid"][rows]] = np.nan
        y[head] = values
    crossings = []
    for i, a in enumerate(heads):
        for b in heads[i + 1:]:
            diff = y[a] - y[b]  # NaN where a point is invalid or a ratio infinite
            sign = np.sign(diff)  # NaN signs never compare below 0: no crossing there
            for j in np.flatnonzero(sign[:-1] * sign[1:] < 0):
                share = diff[j] / (diff[j] - diff[j + 1])
                cx = x[j] + share * (x[j + 1] - x[j])
                cy = y[a][j] + share * (y[a][j + 1] - y[a][j])
                crossings.append(Crossover(float(cx), float(cy), (a, b)))
            # the curves meet exactly at a grid point (not along a run of equal points)
            equal = diff == 0
            alone = equal & ~np.concatenate(([False], equal[:-1])) & \
                ~np.concatenate((equal[1:], [False]))
            for j in np.flatnonzero(alone):
                crossings.append(Crossover(float(x[j]), float(y[a][j]), (a, b)))
    return Curves(axis.name, y_name, x, y, sorted(crossings, key=lambda c: c.x))

