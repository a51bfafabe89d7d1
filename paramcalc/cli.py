"""The ``paramcalc`` command line: each command loads a configuration, calls the library once
and renders the result. Errors from the library become one ``Error: …`` line and exit code 2.

Commands that only count import neither torch nor anything else they do not need; the
commands that build models import ``check``/``train`` inside their bodies.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from . import presets, render
from .errors import ParamcalcError
from .files import check_outputs
from .formulas import budget, conventions
from .formulas import memory as memory_of
from .presets import Preset
from .spec import (BLOCKS, CELLS, HEAD_LAYERS, HEADS, MLPS, NORM_PLACEMENTS, NORMS, POSITIONALS,
                   QK_NORMS)
from .symbols import NAMES, lookup


class OneLineErrors(TyperGroup):
    """A command group whose errors, usage errors included, are one line on stderr."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except ParamcalcError as error:
            typer.echo(f"Error: {error}", err=True)
            code = 2
        except Exception as error:
            # typer's usage errors (from click, or its vendored copy of click) carry
            # format_message() and exit_code; anything else is a bug and keeps its traceback
            kind = type(error).__name__
            if kind == "NoArgsIsHelpError":
                # the error rendered the help when it was made: typer's rich formatter prints
                # it then and leaves the message empty; plain click leaves it in the message
                message = error.format_message() if hasattr(error, "format_message") else ""
                if message.strip():
                    typer.echo(message)
                code = 0
            elif kind == "Abort":
                typer.echo("Aborted.", err=True)
                code = 1
            elif hasattr(error, "format_message") and hasattr(error, "exit_code"):
                typer.echo(f"Error: {error.format_message()}", err=True)
                code = error.exit_code
            else:
                raise
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"paramcalc {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    help="Where a transformer language model's parameters go: exact counts, the blocks ÷ head "
         "ratio and its derivatives for every output-head design, checked against torch.",
)

@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="print the version and exit")] = False
          ) -> None:
    """Where a transformer language model's parameters go: exact counts, the blocks ÷ head
    ratio and its derivatives for every output-head design, checked against torch."""


Block = Enum("Block", {name: name for name in BLOCKS}, type=str)  # type: ignore[misc]
Positional = Enum("Positional", {name: name for name in POSITIONALS}, type=str)  # type: ignore[misc]
Head = Enum("Head", {name.replace("-", "_"): name for name in HEADS}, type=str)  # type: ignore[misc]
Cell = Enum("Cell", {name: name for name in CELLS}, type=str)  # type: ignore[misc]
Norm = Enum("Norm", {name: name for name in NORMS}, type=str)  # type: ignore[misc]
Mlp = Enum("Mlp", {name: name for name in MLPS}, type=str)  # type: ignore[misc]
QkNorm = Enum("QkNorm", {name: name for name in QK_NORMS}, type=str)  # type: ignore[misc]
Placement = Enum("Placement", {name: name for name in NORM_PLACEMENTS}, type=str)  # type: ignore[misc]

_MODEL = "Model (a preset or file, then overrides)"
_BLOCK = "Transformer block switches (defaults: GPT-2's block)"
_MOE = "Mixture of experts and latent attention"


def _opt(help: str, *names: str, panel: str = _MODEL, metavar: str | None = None) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False,
                        metavar=metavar)


def _switch(help: str, *names: str) -> Any:
    return _opt(help, *names, panel=_BLOCK)


#: the options every model command takes, by parameter name
MODEL_OPTIONS: dict[str, Any] = {
    "preset": Annotated[str | None, _opt("a shipped preset (paramcalc presets lists them)",
                                         "--preset", "-p")],
    "preset_file": Annotated[Path | None, _opt("a TOML file of hyperparameters", "--preset-file")],
    "hf_config": Annotated[Path | None, _opt("a Hugging Face config.json, or a folder holding "
                                             "one (llama, mistral, qwen2, qwen3, gemma, gemma2, "
                                             "gemma3_text, phi3, olmo2, gpt_neox, opt, "
                                             "starcoder2, gpt2, ctrl)", "--hf-config")],
    "vocab_size": Annotated[int | None, _opt("V: tokens in the vocabulary")],
    "seq_length": Annotated[int | None, _opt("S: tokens the model sees at once")],
    "d_model": Annotated[int | None, _opt("d: embedding and block width")],
    "num_blocks": Annotated[int | None, _opt("n: number of blocks")],
    "n_heads": Annotated[int | None, _opt("h: attention heads (must divide d_model)")],
    "d_ff": Annotated[int | None, _opt("f: feed-forward width of transformer blocks [4·d]")],
    "block": Annotated[Block | None, _opt("block kind")],
    "positional": Annotated[Positional | None, _opt("position encoding")],
    "n_positions": Annotated[int | None, _opt("P: rows of a learned position table [S]")],
    "final_norm": Annotated[bool | None, _opt("a norm after the last block",
                                              "--final-norm/--no-final-norm")],
    "n_kv_heads": Annotated[int | None, _switch("g: key/value heads, grouped-query attention "
                                                "(must divide n_heads) [h]")],
    "head_dim": Annotated[int | None, _switch("d_h: width of one attention head [d/h]")],
    "norm": Annotated[Norm | None, _switch("norm kind: layernorm or rmsnorm (scale only)")],
    "mlp": Annotated[Mlp | None, _switch("feed-forward kind: plain d→f→d or gated (gate, up, "
                                         "down)")],
    "qkv_bias": Annotated[bool | None, _switch("biases on the query, key and value projections",
                                               "--qkv-bias/--no-qkv-bias")],
    "proj_bias": Annotated[bool | None, _switch("a bias on the attention output projection",
                                                "--proj-bias/--no-proj-bias")],
    "mlp_bias": Annotated[bool | None, _switch("biases on the feed-forward layers",
                                               "--mlp-bias/--no-mlp-bias")],
    "qk_norm": Annotated[QkNorm | None, _switch("norms on queries and keys: none, per head, or "
                                                "over the full width")],
    "norm_placement": Annotated[Placement | None, _switch("norms before each part (pre), after "
                                                          "it (post) or both (sandwich)")],
    "parallel_residual": Annotated[bool | None, _switch(
        "attention and feed-forward side by side", "--parallel-residual/--no-parallel-residual")],
    "num_experts": Annotated[int | None, _opt("E: routed experts per MoE layer (0: dense)",
                                              panel=_MOE)],
    "experts_per_token": Annotated[int | None, _opt("K: routed experts a token is sent to [1]",
                                                    panel=_MOE)],
    "expert_d_ff": Annotated[int | None, _opt("f_E: inner width of one expert [d_ff]",
                                              panel=_MOE)],
    "shared_experts": Annotated[int | None, _opt("E_S: experts every token passes through [0]",
                                                 panel=_MOE)],
    "shared_d_ff": Annotated[int | None, _opt("f_S: inner width of one shared expert [f_E]",
                                              panel=_MOE)],
    "shared_expert_gate": Annotated[bool | None, _opt(
        "a sigmoid gate d → 1 on the shared experts (Qwen-MoE)",
        "--shared-expert-gate/--no-shared-expert-gate", panel=_MOE)],
    "dense_layers": Annotated[str | None, _opt("layers (from 0) whose feed-forward stays dense: "
                                               "0,1,2", panel=_MOE)],
    "q_lora_rank": Annotated[int | None, _opt("r_q: latent attention's query rank [none]",
                                              panel=_MOE)],
    "kv_lora_rank": Annotated[int | None, _opt("r_kv: latent attention's key/value rank (turns "
                                               "latent attention on)", panel=_MOE)],
    "qk_rope_head_dim": Annotated[int | None, _opt("d_R: rotary part of a query/key head",
                                                   panel=_MOE)],
    "qk_nope_head_dim": Annotated[int | None, _opt("d_N: the rest of a query/key head",
                                                   panel=_MOE)],
    "v_head_dim": Annotated[int | None, _opt("d_V: width of a value head", panel=_MOE)],
    "head": Annotated[Head | None, _opt(f"the output-head design: {', '.join(HEADS)}",
                                        metavar="HEAD")],
    "head_width": Annotated[int | None, _opt("k: width a reducing head reduces to [d/8; "
                                             "bottleneck: d]")],
    "kernel_size": Annotated[int | None, _opt("w: the conv head's kernel [3]")],
    "cell": Annotated[Cell | None, _opt("the rnn head's cell [gru]")],
    "logits_bias": Annotated[bool | None, _opt("a V-sized bias on the logits",
                                               "--logits-bias/--no-logits-bias")],
}

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object and nothing else")]

F = TypeVar("F", bound=Callable[..., Any])


def model_options(func: F | None = None, *, optional: bool = False) -> Any:
    """Give a command the model options; it receives the resolved ``model: Preset``.

    With ``optional=True`` a command given no model option at all receives ``model=None``.
    """
    def decorate(func: F) -> F:
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values()
               if p.name != "model"]
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                   default=None) for name, annotation in MODEL_OPTIONS.items()]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in MODEL_OPTIONS}
            if optional and kwargs.get("load") is not None and any(
                    value is not None for value in given.values()):
                raise ParamcalcError("--load restores the checkpoint's own configuration; drop "
                                     "the model options (--preset, --d-model, …)")
            if optional and all(value is None for value in given.values()):
                return func(model=None, **kwargs)
            sources = ("preset", "preset_file", "hf_config")
            overrides = {name: value.value if isinstance(value, Enum) else value
                         for name, value in given.items() if name not in sources}
            if overrides.get("dense_layers") is not None:
                overrides["dense_layers"] = _layer_list(overrides["dense_layers"])
            model = presets.resolve(given["preset"], given["preset_file"], overrides,
                                    hf_config=given["hf_config"])
            return func(model=model, **kwargs)

        parameters = own + extra
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command  # type: ignore[return-value]

    return decorate if func is None else decorate(func)


def _layer_list(text: str) -> list[int]:
    """``0,1,2`` (or empty for none) as layer numbers; never evaluated as code."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not all(item.isdigit() for item in items):
        raise ParamcalcError(f"--dense-layers takes layer numbers separated by commas, e.g. "
                             f"0,1,2; got {text!r}")
    return [int(item) for item in items]


def _print(as_json: bool, obj: Callable[[], Any], view: Callable[[], Any]) -> None:
    if as_json:
        typer.echo(render.emit_json(obj()))
    else:
        render.show(view())


@app.command()
@model_options
def count(
    model: Preset,
    memory: Annotated[bool, typer.Option("--memory", help="bytes in fp32, bf16 and int8, and for "
                                         "fp32 training with Adam")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Parameters per component, exact and leading-order formulas, the total, and the total by
    each counting convention (nanoGPT's, Kaplan et al.'s)."""
    result = budget(model.config)
    usual = conventions(result)
    sizes = memory_of(result) if memory else None

    def obj() -> dict[str, Any]:
        out = render.count_json(model, result, formulas=True)
        out["conventions"] = dataclasses.asdict(usual)
        if sizes is not None:
            out["memory"] = sizes
        return out

    def view() -> Any:
        from rich.console import Group

        parts = [render.count_table(model, result), render.conventions_table(usual)]
        return Group(*parts, *([render.memory_table(sizes)] if sizes is not None else []))

    _print(as_json, obj, view)


@app.command()
@model_options
def ratio(model: Preset, as_json: JsonFlag = False) -> None:
    """The blocks ÷ head ratio, exact and leading-order, with both formulas.

    A head that owns no parameters (GPT-2's tied head) has an infinite ratio; then the
    log's own reading of that head, tied-flatten, is shown too.
    """
    result = budget(model.config)
    log_reading = budget(model.config.with_head("tied-flatten")) if result.ratio.exact is None else None

    def obj() -> dict[str, Any]:
        out = render.count_json(model, result)
        if log_reading is not None:
            out["log_reading"] = render.count_json(model, log_reading)
        return out

    _print(as_json, obj, lambda: render.ratio_view(model, result, log_reading))


@app.command()
@model_options
def derive(
    model: Preset,
    wrt: Annotated[str | None, typer.Option(
        help="only the derivative with respect to this hyperparameter (d_model or d)")] = None,
    latex: Annotated[bool, typer.Option("--latex", help="formulas as LaTeX")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every formula, and the partial derivatives of the ratio and the total.

    Each derivative is given symbolically, at the configuration, and as an elasticity
    (∂ln y/∂ln x), so that knobs of different sizes can be compared.
    """
    result = budget(model.config)
    symbol = None
    if wrt is not None:
        symbol = lookup(wrt)
        if symbol is None:
            raise ParamcalcError(f"unknown hyperparameter {wrt!r} for --wrt; choose one of: "
                                 f"{', '.join(NAMES.values())} (or their symbols)")
    ratio_rows = result.derivatives("ratio", symbol)
    total_rows = result.derivatives("total", symbol)
    active_rows = result.derivatives("active", symbol)
    if symbol is not None and not ratio_rows and not total_rows and not active_rows:
        raise ParamcalcError(f"neither the ratio nor the total of {model.name} depends on "
                             f"{NAMES[symbol]}")

    def obj() -> dict[str, Any]:
        out = render.count_json(model, result, formulas=True)
        out["derivatives"] = {"ratio": render.derivatives_json(ratio_rows),
                              "total": render.derivatives_json(total_rows),
                              "active": render.derivatives_json(active_rows)}
        return out

    moe = result.active is not result.total
    _print(as_json, obj, lambda: render.derive_view(model, result, ratio_rows, total_rows, latex,
                                                    active_rows if moe else None))


@app.command()
@model_options
def compare(
    model: Preset,
    heads: Annotated[str | None, typer.Option(
        help=f"comma-separated head designs [all: {','.join(HEADS)}]")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every head design on one backbone, side by side: head parameters, total, ratio and the
    ratio's elasticities."""
    chosen = _head_list(heads)
    budgets, skipped = [], {}
    for head in chosen or HEADS:
        try:
            budgets.append(budget(model.config.with_head(head)))
        except ParamcalcError as error:
            if chosen:
                raise
            skipped[head] = str(error)
    elasticities = [b.derivatives("ratio") for b in budgets]

    def obj() -> dict[str, Any]:
        out: dict[str, Any] = {"name": model.name,
                               "heads": [render.count_json(model, b) for b in budgets]}
        for entry, rows in zip(out["heads"], elasticities):
            entry["ratio_elasticities"] = {name: float(d.elasticity) for name, d in rows.items()}
        if skipped:
            out["skipped"] = skipped
        return out

    _print(as_json, obj, lambda: render.compare_table(model.name, budgets, elasticities, skipped,
                                                      render.console().width))


def _head_list(heads: str | None) -> list[str]:
    if heads is None:
        return []
    chosen = [h.strip() for h in heads.split(",") if h.strip()]
    for head in chosen:
        if head not in HEAD_LAYERS:
            raise ParamcalcError(f"unknown head {head!r} in --heads; choose from: {', '.join(HEADS)}")
    if not chosen:
        raise ParamcalcError(f"--heads is empty; choose from: {', '.join(HEADS)}")
    return list(dict.fromkeys(chosen))


Against = Enum("Against", {"transformers": "transformers"}, type=str)  # type: ignore[misc]


@app.command()
@model_options
def check(
    model: Preset,
    all_heads: Annotated[bool, typer.Option("--all-heads",
                                            help="check every head design on this backbone")] = False,
    against: Annotated[Against | None, typer.Option(
        help="build the model with this library instead of paramcalc's own modules "
             "(needs --hf-config and transformers installed)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Prove every formula: build the model in torch on the meta device (no weight memory) and
    compare each component's parameters with its formula. Exit code 1 on any mismatch."""
    from .check import check as check_config

    if against is not None:
        if model.hf_config is None:
            raise ParamcalcError("--against transformers builds the model from its config.json "
                                 "as the file stands: give --hf-config PATH and no overrides")
        if all_heads:
            raise ParamcalcError("--against transformers checks the model's own head; drop "
                                 "--all-heads")
        from .check import check_transformers

        checks = [check_transformers(model.config, model.hf_config)]
    else:
        configs = [model.config.with_head(h) for h in HEADS] if all_heads else [model.config]
        checks = [check_config(config) for config in configs]
    title = model.name + (" (transformers)" if against is not None else "")
    _print(as_json, lambda: render.check_json(checks, all_heads),
           lambda: render.check_table(title, checks, against is not None))
    if not all(result.ok for result in checks):
        raise typer.Exit(1)


@app.command()
@model_options
def summary(model: Preset, as_json: JsonFlag = False) -> None:
    """A Keras-like layer table (layer, output shape, parameters) from a forward pass on meta
    tensors, with total and trainable counts."""
    from .check import summary as layer_summary

    layers = layer_summary(model.config)
    _print(as_json, lambda: render.summary_json(model.name, layers),
           lambda: render.summary_view(model.name, layers))


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
    as_json: JsonFlag = False,
) -> None:
    """Solve the configuration's formulas for one hyperparameter against a target, round to a
    valid integer and check the answer by substitution.

    With --ratio it finds the smallest value reaching the ratio (or the largest, for a knob
    that lowers it); with --total or --active the largest value within the budget.
    """
    from .plan import parse_budget, parse_ratio
    from .plan import solve as solve_for

    solution = solve_for(model.config, for_,
                         ratio=None if ratio is None else parse_ratio(ratio),
                         total=None if total is None else parse_budget(total),
                         active=None if active is None else parse_budget(active))
    _print(as_json, lambda: render.solve_json(model.name, solution),
           lambda: render.solve_view(model.name, solution))


@app.command()
@model_options
def sweep(
    model: Preset,
    vary: Annotated[list[str], typer.Option(help="NAME=START:STOP[:STEP], stop included; "
                                            "give it once or twice")],
    heads: Annotated[str | None, typer.Option(help="comma-separated head designs [the "
                                              "configuration's own]")] = None,
    csv: Annotated[Path | None, typer.Option(help="write every point to this CSV file")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate every combination of one or two ranges for one or more heads (vectorized) and
    print the Pareto front of total parameters against the ratio."""
    from .plan import parse_range
    from .plan import sweep as sweep_grid

    if not 1 <= len(vary) <= 2:
        raise ParamcalcError(f"--vary takes one or two ranges, got {len(vary)}")
    check_outputs({"--csv": csv}, {"the model file": model.path})
    grid = sweep_grid(model.config, [parse_range(v) for v in vary],
                      _head_list(heads) or [model.config.head or "flatten"])
    if not grid.columns["valid"].any():
        raise ParamcalcError(f"none of the {len(grid):,} points is a valid configuration: "
                             f"{_why_invalid(model.config, grid)}")
    front = grid.front()
    if csv is not None:
        render.write_csv(grid, csv)
    _print(as_json, lambda: render.sweep_json(model.name, grid, front),
           lambda: render.sweep_table(model.name, grid, front))


@app.command()
@model_options
def plot(
    model: Preset,
    x: Annotated[str, typer.Option(help="the hyperparameter on the x axis, with its range: "
                                   "d_model=16:512:16")],
    y: Annotated[str, typer.Option(help="ratio, total or active")] = "ratio",
    heads: Annotated[str | None, typer.Option(help="comma-separated head designs [all]")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="the plot file to write: "
                                             ".png, .pdf or .svg")] = None,
    terminal: Annotated[bool, typer.Option("--terminal", help="draw in the terminal")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ratio, total or active parameters against one hyperparameter, one curve per head,
    crossovers marked: to a PNG, PDF or SVG file (--out) and/or in the terminal (--terminal)."""
    from .plan import curves as make_curves
    from .plan import parse_range

    if out is None and not terminal and not as_json:
        raise ParamcalcError("say where to draw: --out FILE.png, --terminal, or both")
    if out is not None:
        render.check_image_format(out, "--out")
    check_outputs({"--out": out}, {"the model file": model.path})
    chosen = _head_list(heads) or [h for h in HEADS if _builds(model.config, h)]
    result = make_curves(model.config, parse_range(x), y, chosen)
    if not result.drawable():
        raise ParamcalcError(f"nothing to draw: every point of {result.x_name} is invalid or "
                             f"infinite for {', '.join(chosen)} (nothing written)")
    if out is not None:
        render.image_curves(result, out, f"{model.name}: {y} against {result.x_name}")
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
        screen.print(render.terminal_plot(result, width=max(20, min(100, screen.width - 14))))
    if out is not None and not as_json:
        typer.echo(f"wrote {out}")


def _why_invalid(config: Any, grid: Any) -> str:
    """What spec.py says of the first point of a sweep."""
    values = {name: int(grid.columns[name][0]) for name in grid.names}
    try:
        config.with_head(grid.heads[0]).replace(**values)
    except ParamcalcError as error:
        return str(error)
    return "every point breaks a constraint"


def _builds(config: Any, head: str) -> bool:
    try:
        config.with_head(head)
    except ParamcalcError:
        return False
    return True


Device = Enum("Device", {name: name for name in ("auto", "cpu", "cuda")}, type=str)  # type: ignore[misc]
_TRAIN = "Training"
_SAMPLE = "Sampling"


@app.command()
@model_options(optional=True)
def verify(
    model: Preset | None,
    data: Annotated[Path | None, typer.Option(
        help="corpus file, text or binary [the corpus shipped with paramcalc]",
        rich_help_panel=_TRAIN)] = None,
    samples: Annotated[int, typer.Option(help="training windows: the corpus's first N",
                                         rich_help_panel=_TRAIN)] = 432,
    max_epochs: Annotated[int, typer.Option(help="epoch budget", rich_help_panel=_TRAIN)] = 200,
    min_confidence: Annotated[float, typer.Option(
        help="stop once every learnable training window has p(next byte) at least this",
        rich_help_panel=_TRAIN)] = 0.97,
    lr: Annotated[float, typer.Option(help="Adam's learning rate", rich_help_panel=_TRAIN)] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="windows per step", rich_help_panel=_TRAIN)] = 64,
    seed: Annotated[int, typer.Option(help="same seed and device, same numbers",
                                      rich_help_panel=_TRAIN)] = 0,
    device: Annotated[Device, typer.Option(help="where to train", rich_help_panel=_TRAIN)] = "auto",  # type: ignore[assignment]
    prompt: Annotated[str, typer.Option(help="text to continue after training",
                                        rich_help_panel=_SAMPLE)] = "Il y a bien longtemps, dans un pays lointain, ",
    length: Annotated[int, typer.Option(help="bytes to sample", rich_help_panel=_SAMPLE)] = 200,
    temperature: Annotated[float, typer.Option(help="sampling temperature",
                                               rich_help_panel=_SAMPLE)] = 1.0,
    top_k: Annotated[int, typer.Option(help="sample among the k likeliest bytes (0: all)",
                                       rich_help_panel=_SAMPLE)] = 0,
    save: Annotated[Path | None, typer.Option(help="write a checkpoint (configuration and "
                                              "weights) here", rich_help_panel=_TRAIN)] = None,
    load: Annotated[Path | None, typer.Option(help="restore a checkpoint and report on it "
                                              "without training", rich_help_panel=_TRAIN)] = None,
    plot: Annotated[Path | None, typer.Option(help="write a PNG of loss and accuracy per epoch",
                                              rich_help_panel=_TRAIN)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Validate a configuration by overfitting: train on a small byte-level data set until the
    model knows it by heart, then report epochs, time, and the train/test confidence
    statistics of the research log. Without a model option it trains id6.

    Exit codes: 0 memorized, 1 not memorized, 2 bad input, 130 interrupted (after the report).
    """
    from . import train as trainer

    if samples <= 0:
        raise ParamcalcError(f"--samples must be a positive integer, got {samples}")
    trainer.check_sampling(temperature, top_k)
    if not 0 <= length <= trainer.MAX_SAMPLE:
        raise ParamcalcError(f"--length must be from 0 to {trainer.MAX_SAMPLE:,}, got {length}")
    if plot is not None:
        render.check_image_format(plot, "--plot")
    check_outputs({"--save": save, "--plot": plot},
                  {"--data": data, "--load": load,
                   "the model file": model.path if model is not None else None})
    options = trainer.TrainOptions(max_epochs=max_epochs, min_confidence=min_confidence, lr=lr,
                                   batch_size=batch_size, seed=seed,
                                   device=device.value if isinstance(device, Enum) else device)
    where = trainer.resolve_device(options.device)
    checkpoint = trainer.read_checkpoint(load) if load is not None else None
    if checkpoint is not None:
        config, name = checkpoint.config, load.stem  # type: ignore[union-attr]
    else:
        model = model or presets.from_name("id6")
        config, name = model.config, model.name
    if checkpoint is not None and data is None:
        corpus, source = trainer.corpus_of(checkpoint)
    else:
        corpus, source = trainer.load_corpus(data)
    dataset = trainer.make_dataset(corpus, config.seq_length, samples, source=source)
    trainer.check_fits(config, min(batch_size, samples), where)
    if checkpoint is not None:
        net = trainer.load_checkpoint(checkpoint, where, load or "")
        result = trainer.assess(net, dataset, min_confidence)
    else:
        net = trainer.new_model(config, seed, where)
        with render.training_progress(options.max_epochs, quiet, as_json) as (on_epoch, on_stop):
            result = trainer.train(net, dataset, options, on_epoch, on_stop)
    interrupted = result.reason.startswith("interrupted")
    sample = trainer.generate(net, prompt.encode("utf-8", "surrogateescape"), length,
                              temperature, top_k, seed)
    if save is not None:
        trainer.save_checkpoint(net, save, data if data is not None else
                                (checkpoint.data_path if checkpoint else None), corpus, samples)
    if plot is not None and result.history:
        render.image_training(result.history, plot, f"{name}: memorizing {samples:,} windows")
    _print(as_json, lambda: render.verify_json(name, net.config, dataset, result, prompt, sample),
           lambda: render.verify_view(name, dataset, result, options, prompt, sample, where.type))
    if plot is not None and not result.history:
        raise ParamcalcError("--plot has nothing to draw: no epoch was trained (nothing written)")
    if interrupted or sample.stopped == "interrupted (Ctrl-C)":
        raise typer.Exit(130)
    if not result.memorized:
        raise typer.Exit(1)


@app.command(name="presets")
def list_presets(as_json: JsonFlag = False) -> None:
    """The shipped presets, with their totals and sources."""
    rows = [(p, budget(p.config)) for p in map(presets.from_name, presets.names())]
    _print(as_json,
           lambda: {"presets": [{"name": p.name, "description": p.description, "source": p.source,
                                 "config": p.config.to_dict(), "total": b.params["total"]}
                                for p, b in rows]},
           lambda: render.presets_table(rows))


def _legible_streams() -> None:
    """On a terminal that cannot show UTF-8 (PYTHONIOENCODING=ascii, a C locale), characters
    it cannot encode are written as escapes rather than ending the program."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            utf = codecs.lookup(encoding).name.startswith("utf")
        except LookupError:
            utf = False
        if not utf and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    """The console script."""
    _legible_streams()
    app()
