"""Planning commands: solve, sweep and plot."""

from __future__ import annotations

import sys
from collections.abc import Iterator
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
    law: Annotated[str, typer.Option(
        help="with --flops: the compute-optimal law whose tokens the run takes: "
             "chinchilla-20 (20 per parameter), hoffmann-approach3, besiroglu-2024 (D_opt "
             "of the budget)")] = "chinchilla-20",
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
                         tokens=None if tokens is None else parse_tokens(tokens),
                         law=_law(law))
    _print(as_json, lambda: {**render.solve_json(model.name, solution),
                             **render.part_json(model)},
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
             "flops_per_token, kv_cache, activations, state")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every combination of one or two ranges.

    Evaluate every combination of one or two ranges for one or more heads (vectorized) and
    print the Pareto front of total parameters against the ratio (with --also, FLOPs and
    memory beside them)."""
    from ..plan import parse_range
    from ..plan.sweep import Front, Sweep
    from ..render.planning import front_rows, write_sweep_json

    if not 1 <= len(vary) <= 2:
        raise ParamcalcError(f"--vary takes one or two ranges, got {len(vary)}")
    check_outputs({"--csv": csv}, {"the model file": model.path})
    from ..compute import QUANTITIES

    quantities = [q.strip() for q in (also or "").split(",") if q.strip()]
    if also is not None and not quantities:
        raise ParamcalcError(f"--also is empty; choose from: {', '.join(QUANTITIES)}")
    points = Sweep(model.config, [parse_range(v) for v in vary],
                   _head_list(heads) or [model.config.head or "flatten"], quantities)
    if not points.any_valid():
        raise ParamcalcError(f"none of the {len(points):,} points is a valid configuration: "
                             f"{_why_invalid(model.config, points)}")
    # the points are made a chunk at a time and written out as they come; the front is kept
    # as they pass, so that only it, never the grid, is held whole
    front = Front()
    if csv is not None:
        render.write_csv(_passing(points.chunks(), front), csv)
    if as_json:
        chunks = points.chunks() if front.seen else _passing(points.chunks(), front)
        write_sweep_json(model.name, chunks, lambda: front, sys.stdout)
        return
    if not front.seen:
        for chunk in points.chunks():
            front.add(chunk)
    render.show(render.sweep_table(render.label(model), points.at(front_rows(front)), front, len(points)))


def _passing(chunks: Iterator[Any], front: Any) -> Iterator[Any]:
    """The chunks of a sweep, each added to its front on the way."""
    for chunk in chunks:
        front.add(chunk)
        yield chunk


@app.command()
@model_options
def plot(
    model: Preset,
    x: Annotated[str, typer.Option(help="the hyperparameter on the x axis, with its range: "
                                   "d_model=16:512:16")],
    y: Annotated[str, typer.Option(help="ratio, total, active, flops (forward over one "
                                   "sequence), flops_per_token (training), kv_cache (bytes per "
                                   "token, bf16), activations (bytes per sequence, bf16) or "
                                   "state (recurrent-state bytes per sequence)")
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
    from ..render.planning import write_plot_json

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
        write_plot_json(model.name, result, out, sys.stdout)
    elif terminal:
        screen = render.console()
        screen.print(render.terminal_plot(result, width=max(40, min(100, screen.width)),
                                          color=screen.is_terminal and not screen.no_color))
    if out is not None and not as_json:
        typer.echo(f"wrote {render.literal(out)}")


def _why_invalid(config: Any, points: Any) -> str:
    """What spec.py says of the first point of a sweep."""
    values = {name: int(column[0]) for name, column in points.at([0]).columns.items()
              if name in points.names}
    try:
        config.with_head(points.heads[0]).replace(**values)
    except ParamcalcError as error:
        return str(error)
    return "every point breaks a constraint"




def _law(name: str) -> str:
    """--law checked against the laws (plan/laws.py)."""
    from ..plan.laws import LAWS

    if name not in LAWS:
        raise ParamcalcError(f"unknown law {name!r}; choose one of: {', '.join(LAWS)}")
    return name
