"""Planning commands: solve, sweep and the terminal plot."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import sympy as sp

from ..files import atomic_write
from ..formulas import COMPONENTS

if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    from rich.console import Group
    from rich.table import Table



_MARKERS = ("dot", "+", "x", "sd", "hd", "*", "o", "#")
#: the most points of one curve drawn: a terminal has a hundred columns, an image 800 pixels
#: across; past this, points evenly spread along the curve (and its extremes) are drawn
DRAWN = 2000
#: the most crossovers listed under a drawing (--json lists them all)
NOTED = 20


def drawn(x: Any, y: Any) -> tuple[Any, Any]:
    """The points of one curve that a drawing shows: those a log axis can place (finite and
    positive), at most ``DRAWN`` of them, the lowest and highest always among them."""
    import numpy as np

    shown = np.flatnonzero(np.isfinite(y) & (y > 0))
    if len(shown) > DRAWN:
        spread = shown[np.linspace(0, len(shown) - 1, DRAWN).round().astype(np.int64)]
        extremes = shown[[int(np.argmin(y[shown])), int(np.argmax(y[shown]))]]
        shown = np.union1d(spread, extremes)
    return x[shown], y[shown]


def crossover_notes(curves: Any, y: bool = True) -> list[str]:
    """A line for each of the first ``NOTED`` crossovers."""
    return [f"{c.heads[0]} × {c.heads[1]} at {curves.x_name} ≈ {c.x:,.1f}"
            + (f" ({curves.y_name} {c.y:.4g})" if y else "") for c in curves.crossovers[:NOTED]]


def more_crossovers(curves: Any) -> list[str]:
    """How many crossovers are not listed, if any."""
    more = len(curves.crossovers) - NOTED
    return [f"… and {more:,} more crossovers (--json lists them all)"] if more > 0 else []


def terminal_plot(curves: Any, width: int = 72, height: int = 20, color: bool = False) -> Group:
    """The curves drawn by plotext: log-scaled y, labelled axes, a legend, crossovers marked."""
    import numpy as np
    import plotext as plt
    from rich.console import Group
    from rich.text import Text

    points = {head: drawn(curves.x, y) for head, y in curves.y.items()}
    if not any(len(ys) for _, ys in points.values()):
        return Group(Text("nothing to draw: every point is infinite or invalid"))
    plt.clear_figure()
    plt.plot_size(width, height)
    plt.theme("pro" if color else "clear")
    plt.yscale("log")
    for marker, (head, (xs, ys)) in zip(_MARKERS, points.items()):
        if len(ys):
            plt.plot(xs.astype(float).tolist(), ys.tolist(), label=head, marker=marker)
    crossings = [c for c in curves.crossovers[:NOTED] if c.y > 0]
    if crossings:
        plt.scatter([c.x for c in crossings], [c.y for c in crossings], label="crossover",
                    marker="X")
    finite = np.concatenate([ys for _, ys in points.values()])
    low, high = float(finite.min()), float(finite.max())
    ticks = [low] if high <= low else [low * (high / low) ** (i / 4) for i in range(5)]
    plt.yticks(ticks, [f"{tick:.3g}" for tick in ticks])
    plt.xlabel(curves.x_name)
    plt.ylabel(f"{curves.y_name} (log scale)")
    chart = plt.build()
    plt.clear_figure()
    unseen = [head for head, (_, ys) in points.items() if not len(ys)]
    notes = [f"{head}: ∞ or invalid everywhere, not drawn" for head in unseen]
    notes += crossover_notes(curves) + more_crossovers(curves)
    return Group(Text.from_ansi(chart), *(Text(n) for n in notes))


def write_plot_json(name: str, curves: Any, image: Path | None, out: IO[str]) -> None:
    """The ``plot --json`` object, streamed: every x value and every curve's value (null where
    a point is invalid or infinite), the crossovers, and the image written, if any."""
    def batches(values: Any, as_text: Callable[[Any], list[str]]) -> Lazy:
        return Lazy(lambda inner: (as_text(values[start:start + ROWS])
                                   for start in range(0, len(values), ROWS)))

    write_json({
        "name": name, "x": curves.x_name, "y": curves.y_name,
        "values": batches(curves.x, lambda chunk: [str(v) for v in chunk.tolist()]),
        "curves": {head: batches(ys, json_floats) for head, ys in curves.y.items()},
        "crossovers": [{"x": c.x, "y": c.y, "heads": list(c.heads)} for c in curves.crossovers],
        "png": None if image is None else str(image)}, out)


def solve_json(name: str, solution: Any) -> dict[str, Any]:
    """The ``solve`` object: the answer (null and ``"unbounded": true`` when every value from
    ``unbounded_from`` on meets the target), what it achieves, and the step past it."""
    counts = not solution.target.startswith("ratio")

    def figure(value: Any) -> Any:
        if value is None:
            return None
        return int(value) if counts else float(value)

    return {
        "name": name,
        "for": solution.name,
        "target": solution.target,
        "value": solution.value,
        "unbounded": solution.value is None,
        "unbounded_from": solution.unbounded_from,
        "at_bound": solution.at_bound,
        "achieved": figure(solution.achieved),
        "achieved_exact": None if solution.achieved is None else str(solution.achieved),
        "neighbour": solution.neighbour,
        "neighbour_achieved": figure(solution.neighbour_achieved),
        "equation": sp.sstr(solution.equation) + " = 0",
        "roots": list(solution.roots),
        "config": solution.config.to_dict(),
    }


def solve_view(name: str, solution: Any) -> Group:
    """The answer in a sentence, and the check by substitution."""
    from rich.console import Group
    from rich.text import Text

    what = solution.target.split(" ≤")[0].split(" ≥")[0]

    def show(value: Any) -> str:
        if what == "training FLOPs":
            return f"{float(value):.4e}"
        return f"{float(value):.4g}" if what == "ratio" else f"{int(value):,}"

    roots = (f"positive root{'s' if len(solution.roots) != 1 else ''} "
             f"{', '.join(f'{r:,.4f}' if r < 1e15 else f'{r:.6e}' for r in solution.roots)}"
             if solution.roots else "no positive root")
    solved = Text(f"sympy solved {sp.sstr(solution.equation)} = 0 for {solution.name}: {roots}")
    if solution.value is None:
        start = solution.unbounded_from
        return Group(Text(f"{name}: {solution.name} is unbounded for {solution.target}: every "
                          f"valid value{f' from {start:,} on' if start else ''} meets it",
                          style="bold"), solved)
    parts = [Text(f"{name}: {solution.name} = {solution.value:,} for {solution.target}",
                  style="bold"), solved,
             Text(f"check by substitution: {solution.name} = {solution.value:,} gives {what} "
                  f"{show(solution.achieved)} ✓")]
    if solution.at_bound:
        parts.append(Text(f"{solution.value:,} is the largest {solution.name} this "
                          "configuration allows; larger values would still meet the target"))
    elif solution.neighbour is not None:
        parts.append(Text(f"                      {solution.name} = {solution.neighbour:,} gives "
                          f"{what} {show(solution.neighbour_achieved)} ✗"))
    return Group(*parts)


def sweep_columns(grid: Any) -> list[tuple[str, str]]:
    """(name in the CSV and JSON, column of the grid) for every point's figures: ``head`` is
    the head design, so the components' counts are ``embedding_params``, …, ``head_params``."""
    return ([(name, name) for name in grid.names]
            + [(f"{name}_params", name) for name in COMPONENTS]
            + [(name, name) for name in ("total", "active", "ratio", *_quantities(grid),
                                         "valid")])


def _quantities(grid: Any) -> list[str]:
    """The compute and memory quantities the sweep added (``--also``)."""
    from ..compute import QUANTITIES

    return [name for name in QUANTITIES if name in grid.columns]


def sweep_json(name: str, grid: Any, front: Any) -> dict[str, Any]:
    """Every point of a sweep (the same columns as the CSV) and the indices of its Pareto
    front, all in memory (``write_sweep_json`` streams the same text); an infinite ratio (a
    head that owns nothing) is null."""
    columns = grid.columns
    points = []
    for i in range(len(grid)):
        point = {"head": grid.heads[columns["design"][i]]}
        point.update({key: columns[column][i].item() for key, column in sweep_columns(grid)})
        point["ratio"] = None if math.isinf(point["ratio"]) else point["ratio"]
        points.append(point)
    return {"name": name, "vary": grid.names, "heads": grid.heads, "points": points,
            "front": [int(i) for i in front]}


class Lazy:
    """A JSON list too long to hold as objects: its items' texts, a batch at a time. Each
    batch is made when it is written, given the indentation its items' inner lines take."""

    def __init__(self, batches: Callable[[str], Iterable[list[str]]]) -> None:
        self.batches = batches


def write_json(obj: dict[str, Any], out: IO[str]) -> None:
    """Write ``obj`` as ``emit_json`` would, with each ``Lazy`` list streamed in place: the
    same text, never all of it in memory."""
    import re
    import uuid

    from . import emit_json

    token = uuid.uuid4().hex  # stands for each lazy list in the encoded skeleton
    lazies: dict[str, Lazy] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Lazy):
            key = f"{token}-{len(lazies)}"
            lazies[key] = value
            return key
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    text = emit_json(swap(obj))
    at = 0
    for match in re.finditer(f'"({token}-\\d+)"', text):
        out.write(text[at:match.start()])
        line = text[text.rfind("\n", 0, match.start()) + 1:match.start()]
        indent = " " * (len(line) - len(line.lstrip(" ")))
        inner = indent + "  "
        empty = True
        for batch in lazies[match.group(1)].batches(inner + "  "):
            if batch:
                out.write(("[\n" if empty else ",\n") + inner + f",\n{inner}".join(batch))
                empty = False
        out.write("[]" if empty else f"\n{indent}]")
        at = match.end()
    out.write(text[at:] + "\n")


def json_floats(values: Any) -> list[str]:
    """Floats as JSON writes them; a value that is not finite is null."""
    return [repr(v) if math.isfinite(v) else "null" for v in values.tolist()]


def _point_texts(grid: Any, inner: str) -> list[str]:
    """Each point of a chunk as its JSON object, ``inner`` the indentation of its keys."""
    import json

    import numpy as np

    named = sweep_columns(grid)
    keys = ["head", *(key for key, _ in named)]
    template = "{\n" + ",\n".join(f"{inner}{json.dumps(key)}: %s" for key in keys) + \
        "\n" + inner[:-2] + "}"
    heads = [json.dumps(head) for head in grid.heads]
    cells: list[list[str]] = [[heads[i] for i in grid.columns["design"].tolist()]]
    for _, column in named:
        values = grid.columns[column]
        if values.dtype == bool:
            cells.append(np.where(values, "true", "false").tolist())
        elif values.dtype.kind == "f":
            cells.append(json_floats(values))
        else:
            cells.append([str(v) for v in values.tolist()])
    return [template % row for row in zip(*cells)]


#: rows formatted at a time when a chunk is written out (as Python objects they take about
#: 40 bytes a cell)
ROWS = 2**14


def _rows(grids: Iterable[Any]) -> Iterator[Any]:
    """The chunks of a sweep cut to at most ``ROWS`` points each, for formatting."""
    for grid in grids:
        if len(grid) <= ROWS:
            yield grid
            continue
        for start in range(0, len(grid), ROWS):
            yield type(grid)(grid.names, {key: value[start:start + ROWS]
                                          for key, value in grid.columns.items()},
                             grid.heads, grid.offset + start)


def write_sweep_json(name: str, grids: Iterable[Any], front: Any, out: IO[str]) -> None:
    """The ``sweep --json`` object, streamed: the points as ``grids`` makes them (in order),
    then ``front()``, the indices of the Pareto front once every point has been seen."""
    grids = iter(grids)
    first = next(grids)

    def points(inner: str) -> Iterator[list[str]]:
        for grid in _rows(itertools.chain([first], grids)):
            yield _point_texts(grid, inner)

    def indices(inner: str) -> Iterator[list[str]]:
        for piece in front().pieces():
            for start in range(0, len(piece), ROWS):
                yield [str(i) for i in piece[start:start + ROWS].tolist()]

    write_json({"name": name, "vary": first.names, "heads": first.heads, "points": Lazy(points),
                "front": Lazy(indices)}, out)


def sweep_table(name: str, shown: Any, front: Any, evaluated: int, limit: int = 40) -> Table:
    """The Pareto front of total parameters against ratio: ``shown`` holds the points of the
    front drawn (``front_rows`` picks them), ``front`` the whole front."""
    from rich.table import Table

    columns = shown.columns
    table = Table(title=f"{name}: Pareto front of total parameters against blocks ÷ head "
                        f"({len(front):,} of {front.valid:,} valid points, "
                        f"{evaluated:,} evaluated)",
                  title_justify="left",
                  caption=(f"showing {limit} of {len(front):,}: --csv or --json writes every point"
                           if len(front) > limit else None), caption_justify="left")
    table.add_column("head")
    extra = _quantities(shown)
    for heading in (*shown.names, "total", "ratio", *extra):
        table.add_column(heading, justify="right")
    for i in range(len(columns.get("total", ()))):
        ratio = columns["ratio"][i]
        table.add_row(shown.heads[columns["design"][i]],
                      *(f"{int(columns[n][i]):,}" for n in shown.names),
                      f"{int(columns['total'][i]):,}",
                      "∞" if math.isinf(ratio) else f"{ratio:.4g}",
                      *(f"{columns[q][i]:.4g}" for q in extra))
    return table


def front_rows(front: Any, limit: int = 40) -> Any:
    """The indices of the front's points a table shows: all of them, or ``limit`` spread
    evenly along it."""
    size = len(front)
    step = 1 if size <= limit else math.ceil(size / limit)
    return front.pick(range(0, size, step))


def write_csv(grids: Iterable[Any], path: str | Path) -> None:
    """Every point of a sweep as CSV, written atomically as ``grids`` makes its chunks."""
    import csv
    import io

    def write(f: IO[bytes]) -> None:
        header = False
        for grid in _rows(grids):
            named = sweep_columns(grid)
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if not header:
                writer.writerow(["head", *(key for key, _ in named)])
                header = True
            heads = [grid.heads[i] for i in grid.columns["design"].tolist()]
            writer.writerows(zip(heads, *(grid.columns[column].tolist() for _, column in named)))
            f.write(buffer.getvalue().encode())

    atomic_write(path, write)
