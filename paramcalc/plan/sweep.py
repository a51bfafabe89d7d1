"""sweep and curves: every combination of one or two ranges, vectorized with numpy over
lambdified closed forms; the Pareto front; the curves of a plot and their crossovers."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..defaults import applying, layer_limits
from ..errors import SolveError
from ..formulas import COMPONENTS, budget
from ..pattern import period
from ..spec import HEADS, ModelConfig
from ..symbols import NAMES, SYMBOLS

from .targets import MAX_POINTS, MAX_VALUE, follow, giving, quoted, symbol_for

#: points evaluated at a time by a streamed sweep: its columns take about 100 bytes a point,
#: and the expressions' intermediate arrays a few times that
CHUNK = 2**17


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
#: a number longer than this is past 2**40 whatever its digits (2**40 has 13)
_DIGITS = 15


def _bounded_int(text: str) -> int:
    """A range's number; one of thousands of digits, which int() would refuse to read, is past
    any bound, and stands as 2**40 + 1 with its sign."""
    if len(text.lstrip("-").lstrip("0")) > _DIGITS:
        return -(MAX_VALUE + 1) if text.startswith("-") else MAX_VALUE + 1
    return int(text)


def _shown_int(text: str, value: int) -> str:
    """A range's number in a message: itself, or how many digits it has."""
    digits = len(text.lstrip("-").lstrip("0"))
    return str(value) if digits <= _DIGITS else f"a number of {digits:,} digits"


def parse_range(text: str) -> Range:
    """``d_model=16:1024:16`` (step 1 when left out). Never evaluated as code."""
    match = _RANGE.match(text)
    shown = quoted(text)
    if not match:
        raise SolveError(f"malformed range {shown}; write NAME=START:STOP[:STEP], "
                         "e.g. d_model=16:1024:16")
    name, start, stop, step = match.groups()
    symbol = symbol_for(name, "--vary")
    texts = (start, stop, step or "1")
    start_, stop_, step_ = (_bounded_int(text) for text in texts)
    if step_ == 0:
        raise SolveError(f"range {shown} has a zero step")
    if step_ < 0:
        raise SolveError(f"range {shown} has a negative step; write it from low to high")
    if start_ <= 0:
        raise SolveError(f"range {shown} must start at a positive integer")
    if stop_ < start_:
        raise SolveError(f"range {shown} is reversed or empty: {_shown_int(stop, stop_)} < "
                         f"{_shown_int(start, start_)}")
    if stop_ > MAX_VALUE or step_ > MAX_VALUE:
        raise SolveError(f"range {shown} goes past {MAX_VALUE:,} (2**40), beyond any model; "
                         "narrow it")
    if (stop_ - start_) // step_ + 1 > MAX_POINTS:
        raise SolveError(f"range {shown} has {(stop_ - start_) // step_ + 1:,} points; at most "
                         f"{MAX_POINTS:,} are evaluated: take a larger step")
    return Range(NAMES[symbol], start_, stop_, step_)


_ARGS = tuple(SYMBOLS.values())


@dataclass
class Grid:
    """Every point of a sweep: the varied values, the counts and the ratio, per head design."""

    names: list[str]  # the varied hyperparameters
    columns: dict[str, Any]  # "design" (index into heads), each name, the components, "total",
    heads: list[str]  # "ratio" (inf where the head owns nothing), "valid"
    offset: int = 0  # the index of the first point in the whole sweep (a chunk's own start)

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

    A size the user gave is its own symbol, a default one follows what it defaults to
    (head_dim = d/h): configurations compare equal only when their formulas do
    (``ModelConfig.follows``), so the configuration alone is the key.
    """
    return _lambdified(config)


@functools.lru_cache(maxsize=64)
def _lambdified(config: ModelConfig) -> dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]]:
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
def _lambdified_quantity(config: ModelConfig, name: str) -> Callable[..., Any]:
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


class Sweep:
    """Every combination of one or two ranges for each head design, evaluated a chunk at a
    time: the points are numbered head by head, the first range varying slowest, so that a
    chunk's columns can be written out and dropped before the next chunk is made."""

    def __init__(self, config: ModelConfig, ranges: Sequence[Range],
                 heads: Sequence[str] | None = None, quantities: Sequence[str] = ()) -> None:
        from ..compute import QUANTITIES

        self.quantities = list(dict.fromkeys(quantities))
        for name in self.quantities:
            if name not in QUANTITIES:
                raise SolveError(f"unknown quantity {name!r}; choose one of: "
                                 f"{', '.join(QUANTITIES)}")
        self.heads = list(heads) if heads is not None else [config.head or "flatten"]
        self.ranges = list(ranges)
        self.names = [r.name for r in self.ranges]
        if len(set(self.names)) != len(self.names):
            raise SolveError(f"--vary names {self.names} more than once")
        for r in self.ranges:
            if all(getattr(config.with_head(h), r.name) is None for h in self.heads):
                raise SolveError(f"{r.name} does not apply to this configuration "
                                 f"({config.block} blocks, {config.positional} positions)")
        #: points per head design
        self.per_head = math.prod(len(r) for r in self.ranges)
        points = self.per_head * len(self.heads)
        if points > MAX_POINTS:
            raise SolveError(f"these ranges make {points:,} points "
                             f"({' × '.join(str(len(r)) for r in self.ranges)} × "
                             f"{len(self.heads)} head design{'s' if len(self.heads) > 1 else ''})"
                             f"; at most {MAX_POINTS:,} are evaluated: take larger steps or "
                             "fewer heads")
        self.configs = [giving(config.with_head(head), self.names) for head in self.heads]
        for head_config in self.configs:
            self._check_int64(head_config)

    def __len__(self) -> int:
        return self.per_head * len(self.heads)

    def _values(self, local: Any) -> dict[str, Any]:
        """The varied values at points ``local`` of one head's grid (the last range fastest)."""
        import numpy as np

        values = {}
        rest = np.asarray(local, dtype=np.int64)
        for r in reversed(self.ranges):
            rest, position = np.divmod(rest, len(r))
            values[r.name] = r.start + position * r.step
        return {name: values[name] for name in self.names}

    def _check_int64(self, head_config: ModelConfig) -> None:
        """Counts have non-negative coefficients and every argument grows with the varied ones,
        so the largest total sits where every argument is largest: check int64 there."""
        import numpy as np

        corner = self._values(np.array([self.per_head - 1]))
        args = [float(np.max(a)) for a in _arguments(head_config, corner)]
        if sum(float(top(*args)) for top, _ in _evaluators(head_config).values()) > 2**62:
            raise SolveError("the total passes 4.6e18 parameters somewhere in these ranges; "
                             "narrow them")  # idle ≤ total: the sum bounds both

    def evaluate(self, design: int, local: Any, offset: int = 0) -> Grid:
        """The points ``local`` of head design ``design``: every column."""
        import numpy as np

        head_config = self.configs[design]
        grid = self._values(local)
        size = len(local)
        args = _arguments(head_config, grid)
        counts = {name: _full(_exact(top, bottom, args), size)
                  for name, (top, bottom) in _evaluators(head_config).items()}
        total = sum(counts[name] for name in COMPONENTS)
        active = total - counts["idle"] if "idle" in counts else total
        owned = counts["head"]  # where the head owns nothing, its ratio is infinite
        ratio = np.divide(counts["blocks"], owned, out=np.full(size, np.inf), where=owned > 0)
        columns: dict[str, Any] = {"design": np.full(size, design, dtype=np.int64)}
        columns.update(grid)
        columns.update({name: counts[name] for name in COMPONENTS})
        columns.update(total=total, active=active, ratio=ratio)
        for name in self.quantities:
            values = _lambdified_quantity(head_config, name)(
                *(a.astype(np.float64) for a in args))
            columns[name] = np.broadcast_to(np.asarray(values, dtype=np.float64),
                                            (size,)).copy()
        columns["valid"] = np.broadcast_to(_validity(head_config, args), (size,)).copy()
        return Grid(self.names, columns, self.heads, offset)

    def valid(self, design: int, local: Any) -> Any:
        """Only the validity of points ``local`` of head design ``design``: cheap."""
        import numpy as np

        head_config = self.configs[design]
        args = _arguments(head_config, self._values(local))
        return np.broadcast_to(_validity(head_config, args), (len(local),))

    def _spans(self, size: int) -> Iterator[tuple[int, Any]]:
        import numpy as np

        for design in range(len(self.heads)):
            for start in range(0, self.per_head, size):
                yield design, np.arange(start, min(start + size, self.per_head), dtype=np.int64)

    def chunks(self, size: int | None = None) -> Iterator[Grid]:
        """The sweep's points in order, ``size`` (``CHUNK``) at a time, never across two head
        designs."""
        for design, local in self._spans(size or CHUNK):
            yield self.evaluate(design, local, design * self.per_head + int(local[0]))

    def any_valid(self) -> bool:
        """Whether any point is a valid configuration, looking no further than the first."""
        return any(bool(self.valid(design, local).any())
                   for design, local in self._spans(CHUNK))

    def at(self, indices: Sequence[int]) -> Grid:
        """The points at ``indices`` of the whole sweep, in that order."""
        import numpy as np

        chosen = np.asarray(indices, dtype=np.int64)
        design, local = np.divmod(chosen, self.per_head)
        parts = [self.evaluate(int(h), local[design == h]) for h in np.unique(design)]
        if not parts:
            return Grid(self.names, {}, self.heads)
        order = np.argsort(np.concatenate([np.flatnonzero(design == h) for h in np.unique(design)]),
                           kind="stable")
        return Grid(self.names, {key: np.concatenate([p.columns[key] for p in parts])[order]
                                 for key in parts[0].columns}, self.heads)

    def grid(self) -> Grid:
        """Every point at once: one evaluation per head design, its columns joined."""
        import numpy as np

        parts = list(self.chunks(max(self.per_head, 1)))
        if len(parts) == 1:
            return parts[0]
        return Grid(self.names, {key: np.concatenate([p.columns[key] for p in parts])
                                 for key in parts[0].columns}, self.heads)


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
    return Sweep(config, ranges, heads, quantities).grid()


def _full(values: Any, size: int) -> Any:
    """An int64 column of ``size``: a computed array as it is, a constant repeated (every
    argument is a whole column or one value, so a count is one or the other)."""
    import numpy as np

    return values if values.shape == (size,) else np.full(size, values, dtype=np.int64)


class _Staircase:
    """A Pareto front as it grows: by increasing total, each point with a higher ratio than
    the one before (so totals and ratios both strictly increase). It is kept in pieces of at
    most ``CHUNK`` points, so that new points touch only the pieces their totals reach, and
    points that only extend it are never copied."""

    def __init__(self) -> None:
        self.pieces: list[tuple[Any, Any, Any]] = []  # (total, ratio, index) arrays

    def __len__(self) -> int:
        return sum(len(piece[0]) for piece in self.pieces)

    def merge(self, total: Any, ratio: Any, index: Any) -> None:
        """Add a staircase of later points (higher indices: an equal point already here wins).

        The front of all the points is the front of the fronts of its parts (a point beaten
        within its part is beaten by a point of its part's front), so each side is checked
        against the other's front only; and only the pieces between the new totals' first
        and the first piece past both the new totals and the new best ratio can change.
        """
        import numpy as np

        if not len(total):
            return
        pieces = self.pieces
        if not pieces or total[0] > pieces[-1][0][-1]:
            # past the front: they beat none of it, and the front's best ratio beats a prefix
            keep = ratio > pieces[-1][1][-1] if pieces else np.ones(len(total), dtype=bool)
            if keep.any():
                pieces.append((total[keep], ratio[keep], index[keep]))
            return
        first = next(k for k, piece in enumerate(pieces) if piece[0][-1] >= total[0])
        first = max(first - 1, 0)  # the piece before holds the best point below the new ones
        last = first
        while last + 1 < len(pieces) and not (pieces[last + 1][0][0] > total[-1]
                                              and pieces[last + 1][1][0] > ratio[-1]):
            last += 1
        old_total, old_ratio, old_index = (np.concatenate(column) for column in
                                           zip(*pieces[first:last + 1]))
        merged = _merged(old_total, old_ratio, old_index, total, ratio, index)
        size = len(merged[0])
        pieces[first:last + 1] = [tuple(column[at:at + CHUNK].copy() for column in merged)
                                  for at in range(0, size, CHUNK)]

    def indices(self) -> Iterator[Any]:
        """The indices of the front's points by increasing total, a piece at a time."""
        return (piece[2] for piece in self.pieces)


def _merged(old_total: Any, old_ratio: Any, old_index: Any, total: Any, ratio: Any,
            index: Any) -> tuple[Any, Any, Any]:
    """The front of two staircases, the old one's points coming first among equals."""
    import numpy as np

    # a new point is beaten by the last old point of no larger total, if that one's ratio is
    # no lower (an equal old point came first)
    before = np.searchsorted(old_total, total, side="right") - 1
    keep_new = (before < 0) | (old_ratio[np.maximum(before, 0)] < ratio)
    # an old point is beaten by the last new point of a smaller total if its ratio is no
    # lower, or by a new point of an equal total and a higher ratio
    below = np.searchsorted(total, old_total, side="left")
    beaten = (below > 0) & (ratio[np.maximum(below - 1, 0)] >= old_ratio)
    same = np.minimum(below, len(total) - 1)
    beaten |= (total[same] == old_total) & (ratio[same] > old_ratio)
    kept = ~beaten
    # no two survivors share a total (of two such points one beats the other): the new ones
    # go where their totals go
    where = np.searchsorted(old_total[kept], total[keep_new])
    return tuple(np.insert(old[kept], where, new[keep_new]) for old, new in  # type: ignore[return-value]
                 ((old_total, total), (old_ratio, ratio), (old_index, index)))


class Front:
    """The Pareto front of a sweep, kept as its chunks come: the valid points no other point
    beats on both fewer parameters and a higher ratio, by increasing total. Heads that own
    nothing (an infinite ratio) are ranked apart, among themselves, so that they do not hide
    every finite point."""

    def __init__(self) -> None:
        self.parts = (_Staircase(), _Staircase())  # finite ratios, then infinite ones
        self.valid = 0  # valid points seen
        self.seen = 0  # points seen

    def add(self, grid: Grid) -> None:
        """Take in a chunk's points (``grid.offset`` numbers its first)."""
        import numpy as np

        valid, ratio, total = (grid.columns[key] for key in ("valid", "ratio", "total"))
        self.valid += int(np.count_nonzero(valid))
        self.seen += len(total)
        finite = np.isfinite(ratio)
        for part, mask in zip(self.parts, (valid & finite, valid & ~finite)):
            local = grid._front(mask)
            part.merge(total[local], ratio[local], local.astype(np.int64) + grid.offset)

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def pieces(self) -> Iterator[Any]:
        """The front's indices in order, a piece at a time (finite ratios first)."""
        for part in self.parts:
            yield from part.indices()

    def indices(self) -> Any:
        """The front's indices in order, in one array."""
        import numpy as np

        return np.concatenate([np.zeros(0, dtype=np.int64), *self.pieces()])

    def pick(self, positions: Sequence[int]) -> Any:
        """The indices at ``positions`` (increasing) along the front."""
        import numpy as np

        out, start = [], 0
        wanted = np.asarray(positions, dtype=np.int64)
        for piece in self.pieces():
            inside = wanted[(wanted >= start) & (wanted < start + len(piece))]
            out.append(piece[inside - start])
            start += len(piece)
        return np.concatenate([np.zeros(0, dtype=np.int64), *out])


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
    heads = list(heads)
    points = Sweep(config, [axis], heads, quantities=[y_name] if y_name in QUANTITIES else [])
    x = axis.values()
    y = {head: np.empty(len(axis)) for head in heads}
    for chunk in points.chunks():  # only the plotted column of each chunk is kept
        design = int(chunk.columns["design"][0])
        start = chunk.offset - design * points.per_head
        values = chunk.columns[y_name].astype(np.float64)
        values[~chunk.columns["valid"]] = np.nan
        y[heads[design]][start:start + len(values)] = values
    crossings = []
    for i, a in enumerate(heads):
        for b in heads[i + 1:]:
            crossings += _crossings(x, y[a], y[b], (a, b))
    return Curves(axis.name, y_name, x, y, sorted(crossings, key=lambda c: c.x))


def _crossings(x: Any, a: Any, b: Any, heads: tuple[str, str]) -> list[Crossover]:
    """Where curve ``a`` crosses curve ``b``: between two grid points where their difference
    changes sign, and at a grid point where they meet (not along a run of equal points)."""
    import numpy as np

    diff = a - b  # NaN where a point is invalid or a ratio infinite: never a crossing there
    above, below = diff > 0, diff < 0
    j = np.flatnonzero((above[:-1] & below[1:]) | (below[:-1] & above[1:]))
    del above, below
    share = diff[j] / (diff[j] - diff[j + 1])
    cx = x[j] + share * (x[j + 1] - x[j])
    cy = a[j] + share * (a[j + 1] - a[j])
    found = [Crossover(u, v, heads) for u, v in zip(cx.tolist(), cy.tolist())]
    equal = diff == 0
    alone = equal & ~np.concatenate(([False], equal[:-1])) & \
        ~np.concatenate((equal[1:], [False]))
    at = np.flatnonzero(alone)
    found += [Crossover(u, v, heads) for u, v in zip(x[at].astype(np.float64).tolist(),
                                                     a[at].tolist())]
    return found
