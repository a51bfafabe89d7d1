"""Planning commands: solve, sweep and plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import render
from ..errors import ParamcalcError
from ..files import check_outputs
from ..presets import Preset

from . import JsonFlag, _head_list, _print, app, default_heads, model_options


_PLAN = "Planning"


@app.command()
@model_options
def solve(
    model: Preset,
    for_: Annotated[str, typer.Option("--for", help="the hyperparameter to solve for "
                                      "(num_blocks or n, d_model or d, …)")],
    ratio: Annotated[str | None, typer.Option(help="the least blocks ÷ head ratio: 1, 0.5, 1/8")] = None,
    total: Annotated[str | None, typer.Option(help="the parameter budget: 250k, 1M, 1.5G")] = None,
    active: Annotated[str | None, typer.Option(
        help="the budget of active parameters per token (mixtures of experts): 3G")] = None,
    flops: Annotated[str | None, typer.Option(
        help="a training run's FLOP budget: 1e21; the largest value whose run fits")] = None,
    tokens: Annotated[str | None, typer.Option(
        help="with --flops: the run's training tokens, 300B [Chinchilla's 20 per "
             "parameter]")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The value of one hyperparameter for a target.

    Solve the configuration's formulas for one hyperparameter against a target, round to a
    valid integer and check the answer by substitution.

    With --ratio it finds the smallest value reaching the ratio (or the largest, for a knob
    that lowers it); with --total or --active the largest value within the budget; with
    --flops the largest value whose training run (exact FLOPs per token × tokens) fits.
    """
    from ..plan import parse_budget, parse_flops, parse_ratio, parse_tokens
    from ..plan import solve as solve_for

    solution = solve_for(model.config, for_,
                         ratio=None if ratio is None else parse_ratio(ratio),
                         total=None if total is None else parse_budget(total),
                         active=None if active is None else parse_budget(active),
                         flops=None if flops is None else parse_flops(flops),
                         tokens=None if tokens is None else parse_tokens(tokens))
    _print(as_json, lambda: render.solve_json(model.name, solution),
           lambda: render.solve_view(render.label(model), solution))


@app.command()
@model_options
def sweep(
    model: Preset,
    vary: Annotated[list[str], typer.Option(help="NAME=START:STOP[:STEP], stop included; "
                                            "give it once or twice")],
    heads: Annotated[str | None, typer.Option(help="comma-separated head designs, or all "
                                              "[the configuration's own]")] = None,
    csv: Annotated[Path | None, typer.Option(help="write every point to this CSV file")] = None,
    also: Annotated[str | None, typer.Option(
        help="comma-separated compute and memory quantities for every point: flops, "
             "flops_per_token, kv_cache, activations")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every combination of one or two ranges.

    Evaluate every combination of one or two ranges for one or more heads (vectorized) and
    print the Pareto front of total parameters against the ratio (with --also, FLOPs and
    memory beside them)."""
    from ..plan import parse_range
    from ..plan import sweep as sweep_grid

    if not 1 <= len(vary) <= 2:
        raise ParamcalcError(f"--vary takes one or two ranges, got {len(vary)}")
    check_outputs({"--csv": csv}, {"the model file": model.path})
    quantities = [q.strip() for q in (also or "").split(",") if q.strip()]
    if also is not None and not quantities:
        raise ParamcalcError("--also is empty; choose from: flops, flops_per_token, kv_cache, "
                             "activations")
    grid = sweep_grid(model.config, [parse_range(v) for v in vary],
                      _head_list(heads) or [model.config.head or "flatten"], quantities)
    if not grid.columns["valid"].any():
        raise ParamcalcError(f"none of the {len(grid):,} points is a valid configuration: "
                             f"{_why_invalid(model.config, grid)}")
    front = grid.front()
    if csv is not None:
        render.write_csv(grid, csv)
    _print(as_json, lambda: render.sweep_json(model.name, grid, front),
           lambda: render.sweep_table(render.label(model), grid, front))


@app.command()
@model_options
def plot(
    model: Preset,
    x: Annotated[str, typer.Option(help="the hyperparameter on the x axis, with its range: "
                                   "d_model=16:512:16")],
    y: Annotated[str, typer.Option(help="ratio, total, active, flops (forward over one "
                                   "sequence), flops_per_token (training), kv_cache (bytes per "
                                   "token, bf16) or activations (bytes per sequence, bf16)")
                 ] = "ratio",
    heads: Annotated[str | None, typer.Option(help="comma-separated head designs, or all "
                                              "[the log's seed blocks: all; any other model: "
                                              "its own]")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="the plot file to write: "
                                             ".png, .pdf or .svg")] = None,
    terminal: Annotated[bool, typer.Option("--terminal", help="draw in the terminal")] = False,
    as_json: JsonFlag = False,
) -> None:
    """One quantity against one hyperparameter.

    Ratio, total or active parameters, FLOPs or memory against one hyperparameter, one
    curve per head, crossovers marked: to a PNG, PDF or SVG file (--out) and/or in the terminal (--terminal)."""
    from ..plan import curves as make_curves
    from ..plan import parse_range

    if out is None and not terminal and not as_json:
        raise ParamcalcError("say where to draw: --out FILE.png, --terminal, or both")
    if out is not None:
        render.check_image_format(out, "--out")
    check_outputs({"--out": out}, {"the model file": model.path})
    chosen = _head_list(heads) or default_heads(model.config)
    result = make_curves(model.config, parse_range(x), y, chosen)
    if not result.drawable():
        raise ParamcalcError(f"nothing to draw: every point of {result.x_name} is invalid or "
                             f"infinite for {', '.join(chosen)} (nothing written)")
    if out is not None:
        render.image_curves(result, out, f"{render.label(model)}: {y} against {result.x_name}")
    if as_json:
        typer.echo(render.emit_json({
            "name": model.name, "x": result.x_name, "y": result.y_name,
            "values": result.x.tolist(),
            "curves": {h: [None if not math.isfinite(v) else v for v in ys.tolist()]
                       for h, ys in result.y.items()},
            "crossovers": [{"x": c.x, "y": c.y, "heads": list(c.heads)}
                           for c in result.crossovers],
            "png": None if out is None else str(out)}))
    elif terminal:
        screen = render.console()
        screen.print(render.terminal_plot(result, width=max(40, min(100, screen.width)),
                                          color=screen.is_terminal and not screen.no_color))
    if out is not None and not as_json:
        typer.echo(f"wrote {render.literal(out)}")


def _why_invalid(config: Any, grid: Any) -> str:
    """What spec.py says of the first point of a sweep."""
    values = {name: int(grid.columns[name][0]) for name in grid.names}
    try:
        config.with_head(grid.heads[0]).replace(**values)
    except ParamcalcError as error:
        return str(error)
    return "every point breaks a constraint"


