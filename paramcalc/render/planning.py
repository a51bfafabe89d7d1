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



_MARKERS = ("dot", "+", "x", "sd", "hd", "*", "o", "#")


def terminal_plot(curves: Any, width: int = 72, height: int = 20, color: bool = False) -> Group:
    """The curves drawn by plotext: log-scaled y, labelled axes, a legend, crossovers marked."""
    import numpy as np
    import plotext as plt
    from rich.console import Group
    from rich.text import Text

    drawn = {head: (np.isfinite(y) & (y > 0)) for head, y in curves.y.items()}
    if not any(mask.any() for mask in drawn.values()):
        return Group(Text("nothing to draw: every point is infinite or invalid"))
    plt.clear_figure()
    plt.plot_size(width, height)
    plt.theme("pro" if color else "clear")
    plt.yscale("log")
    for marker, (head, y) in zip(_MARKERS, curves.y.items()):
        mask = drawn[head]
        if mask.any():
            plt.plot(curves.x[mask].astype(float).tolist(), y[mask].tolist(), label=head,
                     marker=marker)
    crossings = [c for c in curves.crossovers if c.y > 0]
    if crossings:
        plt.scatter([c.x for c in crossings], [c.y for c in crossings], label="crossover",
                    marker="X")
    finite = np.concatenate([y[mask] for y, mask in zip(curves.y.values(), drawn.values())])
    low, high = float(finite.min()), float(finite.max())
    ticks = [low] if high <= low else [low * (high / low) ** (i / 4) for i in range(5)]
    plt.yticks(ticks, [f"{tick:.3g}" for tick in ticks])
    plt.xlabel(curves.x_name)
    plt.ylabel(f"{curves.y_name} (log scale)")
    chart = plt.build()
    plt.clear_figure()
    unseen = [head for head, mask in drawn.items() if not mask.any()]
    notes = [f"{head}: ∞ or invalid everywhere, not drawn" for head in unseen]
    notes += [f"{c.heads[0]} × {c.heads[1]} at {curves.x_name} ≈ {c.x:,.1f} "
              f"({curves.y_name} {c.y:.4g})" for c in curves.crossovers]
    return Group(Text.from_ansi(chart), *(Text(n) for n in notes))


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
    extra = _quantities(grid)
    for heading in (*grid.names, "total", "ratio", *extra):
        table.add_column(heading, justify="right")
    shown = front if len(front) <= limit else front[:: math.ceil(len(front) / limit)]
    for i in shown:
        ratio = columns["ratio"][i]
        table.add_row(grid.heads[columns["design"][i]],
                      *(f"{int(columns[n][i]):,}" for n in grid.names),
                      f"{int(columns['total'][i]):,}",
                      "∞" if math.isinf(ratio) else f"{ratio:.4g}",
                      *(f"{columns[q][i]:.4g}" for q in extra))
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
