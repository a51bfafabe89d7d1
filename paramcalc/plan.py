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

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy as sp

from .errors import ConfigError, SolveError
from .formulas import COMPONENTS, budget
from .spec import HEADS, ModelConfig
from .symbols import NAMES, SYMBOLS, P, S, d, f, lookup

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9, "t": 10**12}
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)(?:[eE]\+?(\d+))?([kKmMgGbBtT]?)$")

#: the largest budget or ratio target: beyond it no model is meant, and exact arithmetic on
#: the number would be slow
MAX_TARGET = 10**100
#: the most points a sweep or a plot evaluates (each head design counts them again)
MAX_POINTS = 20_000_000
#: the largest value a sweep may give a hyperparameter: counts are int64
MAX_VALUE = 2**40


def parse_budget(text: str) -> int:
    """A parameter budget: 250k, 1M, 1.5G, 2e9, 1_000_000 (k, M, G or B, T in either case).
    Never evaluated as code."""
    match = _NUMBER.match(text.strip().replace("_", ""))
    if not match:
        raise SolveError(f"malformed budget {text!r}; write a number with an optional k, M, G "
                         "(or B) or T suffix, e.g. 1M or 1.5G")
    mantissa, exponent, suffix = match.groups()
    if len(exponent or "") > 3 or int(exponent or 0) > 100:
        raise SolveError(f"budget {text!r} is larger than 1e100 parameters; no model is that big")
    value = Fraction(mantissa) * 10 ** int(exponent or 0) * _SUFFIXES[suffix.lower()]
    if value > MAX_TARGET:
        raise SolveError(f"budget {text!r} is larger than 1e100 parameters; no model is that big")
    if value.denominator != 1 or value <= 0:
        raise SolveError(f"budget {text!r} must be a positive whole number of parameters")
    return int(value)


def parse_ratio(text: str) -> Fraction:
    """A ratio target: 1, 0.5, 1/8. Never evaluated as code."""
    cleaned = text.strip()
    exponent = re.search(r"[eE][+-]?(\d+)", cleaned)
    if exponent and int(exponent.group(1)[:4]) > 100:
        raise SolveError(f"ratio target {text!r} is out of range: write one between 1e-100 and "
                         "1e100")
    try:
        value = Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        raise SolveError(f"malformed ratio {text!r}; write a number such as 1, 0.5 or 1/8") from None
    if value <= 0:
        raise SolveError(f"ratio target must be positive, got {text!r}")
    if not Fraction(1, MAX_TARGET) <= value <= MAX_TARGET:
        raise SolveError(f"ratio target {text!r} is out of range: write one between 1e-100 and "
                         "1e100")
    return value


def symbol_for(name: str, option: str) -> sp.Symbol:
    """The symbol for a hyperparameter name or letter; an unknown one lists the known ones."""
    symbol = lookup(name)
    if symbol is None:
        raise SolveError(f"unknown hyperparameter {name!r} in {option}; choose one of: "
                         f"{', '.join(SYMBOLS)} (or their symbols)")
    return symbol


def follow(config: ModelConfig, values: dict[str, Any], varied: set[str],
           symbolic: bool = False) -> None:
    """Let the defaults that follow a varied hyperparameter follow it in ``values``.

    d_ff = 4·d_model, n_positions = seq_length, n_kv_heads = n_heads, expert_d_ff = d_ff and
    shared_d_ff = expert_d_ff when they were not given; a default head_width = d_model/8
    (d_model for the bottleneck) too, except in symbolic use, where the floor would leave
    the polynomials behind.
    """
    given = dict(config.given)
    d_ff_moves = "d_ff" in varied
    if "d_model" in varied and config.block == "transformer" and "d_ff" not in given:
        values["d_ff"] = 4 * values["d_model"]
        d_ff_moves = True
    if "seq_length" in varied and config.positional == "learned" and "n_positions" not in given:
        values["n_positions"] = values["seq_length"]
    if "n_heads" in varied and config.block == "transformer" and "n_kv_heads" not in given:
        values["n_kv_heads"] = values["n_heads"]
    expert_moves = "expert_d_ff" in varied
    if config.num_experts and "expert_d_ff" not in given and d_ff_moves:
        values["expert_d_ff"] = values["d_ff"]  # an expert is d_ff wide unless told otherwise
        expert_moves = True
    if config.shared_experts and "shared_d_ff" not in given and expert_moves:
        values["shared_d_ff"] = values["expert_d_ff"]
    if (not symbolic and "d_model" in varied and config.head_width is not None
            and "head_width" not in given):
        width = values["d_model"]
        values["head_width"] = width if config.head == "bottleneck" else (width // 8).clip(1)


def _linked(config: ModelConfig, x: sp.Symbol) -> dict[sp.Symbol, sp.Expr]:
    """The symbols that follow ``x``, as expressions in ``x``."""
    values: dict[str, Any] = dict(SYMBOLS)
    follow(config, values, {NAMES[x]}, symbolic=True)
    return {SYMBOLS[name]: value for name, value in values.items() if value != SYMBOLS[name]}


@dataclass(frozen=True)
class Solution:
    """The value of one hyperparameter that meets a target, checked by substitution."""

    name: str  # the hyperparameter solved for
    target: str  # "ratio >= 1" or "total <= 1,000,000"
    value: int | None  # None: unbounded, every value from ``unbounded_from`` on meets it
    achieved: Fraction | None  # the ratio or total at ``value``, by substitution
    neighbour: int | None  # the next valid value past the answer, which misses the target
    neighbour_achieved: Fraction | None
    config: ModelConfig
    equation: sp.Expr  # what sympy solved: y(x) - target
    roots: tuple[float, ...]  # its positive real roots
    unbounded_from: int | None = None
    at_bound: bool = False  # the answer is a validity bound: past it the target is still met


def solve(config: ModelConfig, name: str, *, ratio: Fraction | None = None,
          total: int | None = None, active: int | None = None) -> Solution:
    """The best value of ``name`` meeting ``ratio ≥ target``, ``total ≤ target`` or
    ``active ≤ target`` (the parameters a token passes through, for a mixture of experts).

    Best means the smallest value when larger values keep meeting the target (more blocks
    to reach a ratio), else the largest (the widest model within a budget).

    Args:
        config: the configuration whose other hyperparameters stay as they are.
        name: the hyperparameter to solve for (``num_blocks`` or ``n``).
        ratio: the least acceptable blocks ÷ head ratio.
        total: the parameter budget.
        active: the budget of active parameters per token.
    """
    if sum(target is not None for target in (ratio, total, active)) != 1:
        raise SolveError("give one target: --ratio R, --total BUDGET or --active BUDGET")
    budget_of = "total" if active is None else "active"
    total = total if active is None else active
    x = symbol_for(name, "--for")
    name = NAMES[x]
    if getattr(config, name) is None:
        raise SolveError(f"{name} does not apply to this configuration ({config.head} head, "
                         f"{config.block} blocks, {config.positional} positions)")
    b = budget(config)
    if ratio is not None:
        if b.ratio.exact is None:
            raise SolveError(f"every {name} meets ratio ≥ {ratio}: {b.ratio.note}; there is "
                             "nothing to solve")
        expr, target, wanted = b.ratio.exact, sp.Rational(ratio.numerator, ratio.denominator), "ge"
        label = f"ratio ≥ {ratio}"
    else:
        expr = b.total.exact if budget_of == "total" else b.active.exact
        target, wanted = sp.Integer(total or 0), "le"
        label = f"{budget_of} ≤ {total:,}"
    quantity = "ratio" if ratio is not None else budget_of
    if x not in expr.free_symbols:
        raise SolveError(f"the {quantity} of this configuration does not depend on {name}")

    t = sp.Symbol("t", positive=True)
    fixed = {s: v for s, v in b.values.items() if s != x}
    curve = expr.xreplace(_linked(config, x)).xreplace(fixed).xreplace({x: t})

    def meets(value: int) -> bool:
        y = curve.xreplace({t: sp.Integer(value)})
        return bool(y >= target) if wanted == "ge" else bool(y <= target)

    equation = sp.together(curve - target)
    exact_roots = sorted((r for r in sp.Poly(sp.numer(equation), t).real_roots() if r > 0),
                         key=lambda r: r.evalf(30))
    roots = tuple(float(r) for r in exact_roots)

    def valid(value: int) -> bool:
        return _valid(config, name, value)

    # which way the answer lies: the smallest value for a quantity that grows toward the
    # target (more blocks to reach a ratio), the largest for one that grows away from it
    limit = sp.limit(curve, t, sp.oo)
    grows = bool(limit == sp.oo) or bool(limit > curve.xreplace({t: sp.Integer(1)}))
    smallest = grows if wanted == "ge" else not grows
    low, high = _bounds(config, name)
    found = _extremal(_segments(exact_roots), meets, valid, smallest, low, high)
    if found is None:
        raise SolveError(f"no valid {name} meets {label}: "
                         f"{_why_not(curve, t, target, wanted, name, quantity)}")
    if found == "unbounded":
        return Solution(name, label, None, None, None, None, config, equation.xreplace({t: x}),
                        roots, unbounded_from=_first_meeting(_segments(exact_roots), meets,
                                                             valid, low))
    value = int(found)
    outward = -1 if smallest else 1
    neighbour = next((v for v in range(value + outward, value + outward * 1000, outward)
                      if v >= 1 and valid(v)), None)

    def at(v: int) -> Fraction:
        """The check by substitution: the whole budget of the configuration with ``v``."""
        checked = budget(_with(config, name, v))
        if ratio is None:
            return Fraction(checked.params[budget_of])
        y = checked.ratio.value  # finite: a head that owns nothing was turned away above
        return Fraction(int(y.p), int(y.q)) if y is not None else Fraction(0)

    achieved = at(value)
    if not (achieved >= ratio if ratio is not None else achieved <= (total or 0)):
        raise AssertionError(f"{name} = {value} fails {label} on substitution")  # a bug, not input
    bound = value in (low, high) and (neighbour is None or not valid(value + outward))
    return Solution(name, label, value, achieved, neighbour,
                    None if neighbour is None else at(neighbour),
                    _with(config, name, value), equation.xreplace({t: x}), roots,
                    at_bound=bound and meets(value + outward) if value + outward >= 1 else False)


def _with(config: ModelConfig, name: str, value: int) -> ModelConfig:
    """``config`` with ``name`` = ``value``; a default head_width is held, not re-derived."""
    pinned = {"head_width": config.head_width} if name == "d_model" else {}
    return config.replace(**pinned, **{name: value})


def _valid(config: ModelConfig, name: str, value: int) -> bool:
    try:
        _with(config, name, value)
    except ConfigError:
        return False
    return True


def _bounds(config: ModelConfig, name: str) -> tuple[int, int | None]:
    """The range of values of ``name`` that the other hyperparameters allow (spec.py's
    constraints): head_width ≤ the width it reduces, kernel_size ≤ seq_length ≤ a given
    n_positions, experts_per_token ≤ num_experts, n_kv_heads ≤ n_heads, and so on."""
    c, low, high = config, 1, None
    if name == "head_width":
        high = c.seq_length * c.d_model if c.head == "bottleneck" else c.d_model
    elif name == "kernel_size":
        high = c.seq_length
    elif name == "seq_length":
        low = c.kernel_size or 1
        if c.positional == "learned" and c.is_given("n_positions"):
            high = c.n_positions
    elif name == "n_positions":
        low = c.seq_length
    elif name == "d_model" and c.head_width is not None:
        low = -(-c.head_width // c.seq_length) if c.head == "bottleneck" else c.head_width
    elif name == "experts_per_token":
        high = c.num_experts
    elif name == "num_experts":
        low = c.experts_per_token or 1
    elif name == "n_kv_heads":
        high = c.n_heads
    elif name == "n_heads" and c.is_given("n_kv_heads"):
        low = c.n_kv_heads or 1
    elif name == "num_blocks" and c.dense_layers:
        low = max(c.dense_layers) + 1
    return low, high


def _segments(roots: Sequence[sp.Expr]) -> list[tuple[int, int | None]]:
    """Runs of consecutive positive integers on which y − target keeps one sign: split at
    each root's floor, an integer root alone (y meets the target with equality there)."""
    cuts: list[tuple[int, int | None]] = []
    start = 1
    for root in roots:
        floor = int(sp.floor(root))
        if root.is_Integer:
            if start <= floor - 1:
                cuts.append((start, floor - 1))
            if floor >= start:
                cuts.append((floor, floor))
            start = max(start, floor + 1)
        elif floor >= start:
            cuts.append((start, floor))
            start = floor + 1
    cuts.append((start, None))
    return cuts


_SEARCH = 100_000  # values tried inside one run for a valid one before giving up


def _extremal(segments: list[tuple[int, int | None]], meets: Callable[[int], bool],
              valid: Callable[[int], bool], smallest: bool, low: int,
              high: int | None) -> int | str | None:
    """The smallest (or largest) valid integer meeting the target, in exact arithmetic;
    "unbounded" when every value past some point meets it and nothing bounds it above."""
    for first, last in (segments if smallest else reversed(segments)):
        if not meets(first):  # one sign on the whole run: its first value decides
            continue
        first = max(first, low)
        last = high if last is None else (last if high is None else min(last, high))
        if last is None:
            if not smallest:
                return "unbounded"
            last = first + _SEARCH
        if first > last:
            continue
        order = range(first, last + 1) if smallest else range(last, first - 1, -1)
        for count, value in enumerate(order):
            if count > _SEARCH:
                break
            if valid(value):
                return value
    return None


def _first_meeting(segments: list[tuple[int, int | None]], meets: Callable[[int], bool],
                   valid: Callable[[int], bool], low: int) -> int | None:
    """The smallest valid value from which on the target is always met."""
    first, _ = segments[-1]
    for value in range(max(first, low), max(first, low) + _SEARCH):
        if valid(value):
            return value
    return None


def _why_not(curve: sp.Expr, t: sp.Symbol, target: sp.Expr, wanted: str, name: str,
             quantity: str) -> str:
    """A sentence on why no value works: the smallest value already misses, or the limit does."""
    first = curve.xreplace({t: sp.Integer(1)})
    if wanted == "le":
        return f"even {name} = 1 gives a {quantity} of {int(first):,}"
    limit = sp.limit(curve, t, sp.oo)
    limit_text = "grows without bound" if limit == sp.oo else f"approaches {float(limit):.4g}"
    return (f"the {quantity} is {float(first):.4g} at {name} = 1 and {limit_text} as "
            f"{name} grows, never reaching {float(target):.4g}")


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


@functools.lru_cache(maxsize=64)
def _evaluators(config: ModelConfig) -> dict[str, tuple[Callable[..., Any],
                                                       Callable[..., Any] | None]]:
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


def _exact(top: Callable[..., Any], bottom: Callable[..., Any] | None, args: Sequence[Any]) -> Any:
    """numerator // denominator in integers (exact at the valid points, where it divides)."""
    import numpy as np

    numerator = np.asarray(top(*args), dtype=np.int64)
    if bottom is None:
        return numerator
    return numerator // np.maximum(np.asarray(bottom(*args), dtype=np.int64), 1)


def _arguments(config: ModelConfig, grid: dict[str, Any], size: int) -> list[Any]:
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
    """The constraints spec.py checks, vectorized: n_heads | d_model (when the head width is
    the default d/h), n_kv_heads | n_heads, widths, kernels."""
    x = dict(zip(SYMBOLS, args))
    if config.block != "transformer" or not config.is_given("head_dim"):
        valid = x["d_model"] % x["n_heads"] == 0
    else:
        valid = x["d_model"] > 0
    if config.block == "transformer":
        valid &= x["n_heads"] % x["n_kv_heads"] == 0
    if config.positional == "learned":
        valid &= x["n_positions"] >= x["seq_length"]
    if config.head_width is not None:
        reduced = x["seq_length"] * x["d_model"] if config.head == "bottleneck" else x["d_model"]
        valid &= x["head_width"] <= reduced
    if config.kernel_size is not None:
        valid &= x["kernel_size"] <= x["seq_length"]
    if config.num_experts:
        valid &= x["experts_per_token"] <= x["num_experts"]
        if config.dense_layers:
            valid &= max(config.dense_layers) < x["num_blocks"]
    return valid


def sweep(config: ModelConfig, ranges: Sequence[Range], heads: Sequence[str] | None = None) -> Grid:
    """Evaluate every combination of ``ranges`` for each head design, vectorized.

    Args:
        config: the configuration whose other hyperparameters stay as they are.
        ranges: one or two ``Range``s (``parse_range("d_model=64:1024:64")``).
        heads: the head designs to evaluate [the configuration's own].
    """
    import numpy as np

    heads = list(heads) if heads is not None else [config.head or "flatten"]
    names = [r.name for r in ranges]
    if len(set(names)) != len(names):
        raise SolveError(f"--vary names {names} more than once")
    heads = list(heads) if heads is not None else [config.head or "flatten"]
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
                                                       "active", "ratio", "valid")}
    for index, head in enumerate(heads):
        head_config = config.with_head(head)
        args = _arguments(head_config, grid, size)
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
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(counts["head"] > 0,
                             counts["blocks"] / np.maximum(counts["head"], 1), np.inf)
        parts["design"].append(np.full(size, index))
        for name in names:
            parts[name].append(grid[name])
        for name in COMPONENTS:
            parts[name].append(counts[name])
        parts["total"].append(total)
        parts["active"].append(active)
        parts["ratio"].append(ratio)
        parts["valid"].append(np.broadcast_to(_validity(head_config, args), (size,)))
    # one head: its columns as they are; several: one copy into the grid's columns
    columns = {key: value[0] if len(value) == 1 else np.concatenate(value)
               for key, value in parts.items()}
    return Grid(names, columns, list(heads))


def _full(values: Any, size: int) -> Any:
    """An int64 column of ``size``: a computed array as it is, a constant broadcast."""
    import numpy as np

    if values.shape == (size,):
        return values
    return np.full(size, values, dtype=np.int64) if values.ndim == 0 else \
        np.broadcast_to(values, (size,)).copy()


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

    if y_name not in ("ratio", "total", "active"):
        raise SolveError(f"unknown quantity {y_name!r} to plot; choose ratio, total or active")
    grid = sweep(config, [axis], heads)
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
            diff = y[a] - y[b]
            finite = np.isfinite(diff)
            sign = np.sign(diff)
            for j in np.flatnonzero(finite[:-1] & finite[1:] & (sign[:-1] * sign[1:] < 0)):
                share = diff[j] / (diff[j] - diff[j + 1])
                cx = x[j] + share * (x[j + 1] - x[j])
                cy = y[a][j] + share * (y[a][j + 1] - y[a][j])
                crossings.append(Crossover(float(cx), float(cy), (a, b)))
    return Curves(axis.name, y_name, x, y, sorted(crossings, key=lambda c: c.x))
