"""Planning commands: solve, sweep and the terminal plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sympy as sp

from ..files import atomic_write
from ..formulas import COMPONENTS

if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    from rich.console import Group
    from rich.table import Table



_MARKERS = "●▲■◆✚◇○△"


def terminal_plot(curves: Any, width: int = 72, height: int = 20) -> Group:
    """The curves drawn with characters: log-scaled y, one marker per head, × at crossovers."""
    import numpy as np
    from rich.console import Group
    from rich.text import Text

    finite = [y[np.isfinite(y) & (y > 0)] for y in curves.y.values()]
    values = np.concatenate(finite) if finite else np.array([])
    lines: list[str] = []
    if not len(values):
        return Group(Text("nothing to draw: every point is infinite or invalid"))
    low, high = math.log10(values.min()), math.log10(values.max())
    high = high if high > low else low + 1
    x0, x1 = float(curves.x[0]), float(curves.x[-1])
    x1 = x1 if x1 > x0 else x0 + 1
    grid = [[" "] * width for _ in range(height)]

    def cell(x: float, y: float) -> tuple[int, int]:
        column = round((x - x0) / (x1 - x0) * (width - 1))
        row = height - 1 - round((math.log10(y) - low) / (high - low) * (height - 1))
        return row, column

    for marker, (head, y) in zip(_MARKERS, curves.y.items()):
        for x, value in zip(curves.x, y):
            if math.isfinite(value) and value > 0:
                row, column = cell(float(x), float(value))
                grid[row][column] = marker
    for c in curves.crossovers:
        if c.y > 0:
            row, column = cell(c.x, c.y)
            grid[row][column] = "×"
    label = curves.y_name
    top, bottom = f"{10 ** high:.3g}", f"{10 ** low:.3g}"
    pad = max(len(top), len(bottom))
    for i, characters in enumerate(grid):
        tick = top if i == 0 else bottom if i == height - 1 else ""
        lines.append(f"{tick:>{pad}} │{''.join(characters)}")
    lines.append(f"{'':>{pad}} └{'─' * width}")
    left, right = f"{x0:,.0f}", f"{x1:,.0f}"
    lines.append(f"{'':>{pad}}  {left}{right:>{width - len(left)}}")
    lines.append(f"{'':>{pad}}  {curves.x_name} →   ({label}, log scale)")
    legend = "   ".join(f"{m} {head}" + ("" if np.isfinite(y).any() else " (∞, not drawn)")
                       for m, (head, y) in zip(_MARKERS, curves.y.items())) + "   × crossover"
    notes = [f"{c.heads[0]} × {c.heads[1]} at {curves.x_name} ≈ {c.x:,.1f} ({label} {c.y:.4g})"
             for c in curves.crossovers]
    return Group(Text("\n".join(lines)), Text(legend), *(Text(n) for n in notes))


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

    what = solution.target.split(" ")[0]

    def show(value: Any) -> str:
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
            + [(name, name) for name in ("total", "active", "ratio", "valid")])


def sweep_json(name: str, grid: Any, front: Any) -> dict[str, Any]:
    """Every point of a sweep (the same columns as the CSV) and the indices of its Pareto
    front; an infinite ratio (a head that owns nothing) is null."""
    columns = grid.columns
    points = []
    for i in range(len(grid)):
        point = {"head": grid.heads[columns["design"][i]]}
        point.update({key: columns[column][i].item() for key, column in sweep_columns(grid)})
        point["ratio"] = None if math.isinf(point["ratio"]) else point["ratio"]
        points.append(point)
    return {"name": name, "vary": grid.names, "heads": grid.heads, "points": points,
            "front": [int(i) for i in front]}


def sweep_table(name: str, grid: Any, front: Any, limit: int = 40) -> Table:
    """The Pareto front of total parameters against ratio."""
    from rich.table import Table

    columns = grid.columns
    table = Table(title=f"{name}: Pareto front of total parameters against blocks ÷ head "
                        f"({len(front):,} of {int(columns['valid'].sum()):,} valid points, "
                        f"{len(grid):,} evaluated)",
                  title_justify="left",
                  caption=(f"showing {limit} of {len(front):,}: --csv or --json writes every point"
                           if len(front) > limit else None), caption_justify="left")
    table.add_column("head")
    for heading in (*grid.names, "total", "ratio"):
        table.add_column(heading, justify="right")
    shown = front if len(front) <= limit else front[:: math.ceil(len(front) / limit)]
    for i in shown:
        ratio = columns["ratio"][i]
        table.add_row(grid.heads[columns["design"][i]],
                      *(f"{int(columns[n][i]):,}" for n in grid.names),
                      f"{int(columns['total'][i]):,}",
                      "∞" if math.isinf(ratio) else f"{ratio:.4g}")
    return table


def write_csv(grid: Any, path: str | Path) -> None:
    """Every point of a sweep as CSV, written atomically."""
    import csv
    import io

    columns = grid.columns
    named = sweep_columns(grid)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["head", *(key for key, _ in named)])
    heads = [grid.heads[i] for i in columns["design"]]
    rows = zip(heads, *(columns[column].tolist() for _, column in named))
    writer.writerows(rows)
    atomic_write(path, lambda f: f.write(buffer.getvalue().encode()))
