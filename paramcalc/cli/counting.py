"""Counting commands: count, ratio, derive, compare, check, summary and presets."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Annotated, Any

import sympy as sp
import typer

from .. import presets, render
from ..errors import ParamcalcError
from ..compute import QUANTITIES
from ..formulas import budget, conventions
from ..formulas import memory as memory_of
from ..presets import Preset
from ..spec import (HEADS)
from ..symbols import NAMES, lookup

from . import JsonFlag, _head_list, _print, app, model_options


@app.command()
@model_options
def count(
    model: Preset,
    memory: Annotated[bool, typer.Option("--memory", help="bytes in fp32, bf16 and int8, and for "
                                         "fp32 training with Adam")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Parameters per component: formulas and counts.

    Each component's exact and leading-order formula and count, the total, and the total by
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
    """The blocks ÷ head ratio, exact and leading order.

    The ratio, exact and leading-order, with both formulas. A head that owns no parameters (GPT-2's tied head) has an infinite ratio; then the
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
    of: Annotated[list[str] | None, typer.Option(
        "--of", help="also a compute or memory quantity: flops (forward over one sequence), "
                     "flops_per_token (training), kv_cache (bytes per token, bf16), "
                     "activations (bytes per sequence, bf16), state (recurrent-state bytes "
                     "per sequence: Mamba's, DeltaNet's); give it more than once")] = None,
    latex: Annotated[bool, typer.Option("--latex", help="formulas as LaTeX")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Every formula and its partial derivatives.

    Every formula, and the partial derivatives of the ratio and the total (and, with --of, of
    FLOPs, KV cache, activations or recurrent state). Each derivative is given symbolically, at the configuration, and as an elasticity
    (∂ln y/∂ln x), so that knobs of different sizes can be compared.
    """
    result = budget(model.config)
    symbol = None
    if wrt is not None:
        symbol = lookup(wrt)
        if symbol is None:
            raise ParamcalcError(f"unknown hyperparameter {wrt!r} for --wrt; choose one of: "
                                 f"{', '.join(NAMES.values())} (or their symbols)")
    quantities = list(dict.fromkeys(of or []))
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown:
        raise ParamcalcError(f"unknown quantity {unknown[0]!r} for --of; choose one of: "
                             f"{', '.join(QUANTITIES)}")
    ratio_rows = result.derivatives("ratio", symbol)
    total_rows = result.derivatives("total", symbol)
    active_rows = result.derivatives("active", symbol)
    extra: dict[str, Any] = {}
    if quantities:
        from ..compute import compute

        budgets = compute(result)
        extra = {q: (budgets.quantity(q), budgets.derivatives(q, symbol)) for q in quantities}
    if symbol is not None and not ratio_rows and not total_rows and not active_rows and \
            not any(rows for _, rows in extra.values()):
        raise ParamcalcError(f"neither the ratio nor the total of {model.name} depends on "
                             f"{NAMES[symbol]}")

    def obj() -> dict[str, Any]:
        out = render.count_json(model, result, formulas=True)
        out["derivatives"] = {"ratio": render.derivatives_json(ratio_rows),
                              "total": render.derivatives_json(total_rows),
                              "active": render.derivatives_json(active_rows)}
        for q, (count, rows) in extra.items():
            out["formulas"][q] = {"exact": sp.sstr(count.exact), "approx": sp.sstr(count.approx),
                                  "value": budgets.evaluate(count.exact)}
            out["derivatives"][q] = render.derivatives_json(rows)
        return out

    moe = result.active is not result.total

    def view() -> Any:
        from rich.console import Group

        parts = list(render.derive_view(model, result, ratio_rows, total_rows, latex,
                                        active_rows if moe else None).renderables)
        for q, (count, rows) in extra.items():  # one flat group: show() fits each table
            parts += render.quantity_view(q, QUANTITIES[q], count, budgets.evaluate(count.exact),
                                          rows, latex).renderables
        return Group(*parts)

    _print(as_json, obj, view)


@app.command()
@model_options
def compare(
    model: Preset,
    heads: Annotated[str | None, typer.Option(
        help=f"comma-separated head designs, or all [all: {', '.join(HEADS)}]")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every head design on one backbone, side by side.

    For each head design: its parameters, the total, the ratio and the ratio's
    elasticities."""
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
        out: dict[str, Any] = {"name": model.name, **render.part_json(model),
                               "heads": [render.count_json(model, b) for b in budgets]}
        for entry, rows in zip(out["heads"], elasticities):
            entry["ratio_elasticities"] = {name: float(d.elasticity) for name, d in rows.items()}
        if skipped:
            out["skipped"] = skipped
        return out

    _print(as_json, obj, lambda: render.compare_table(render.label(model), budgets, elasticities,
                                                      skipped, render.console().width))




Against = Enum("Against", {"transformers": "transformers"}, type=str)  # type: ignore[misc]


@app.command()
@model_options(optional=True)
def check(
    model: Preset | None,
    all_heads: Annotated[bool, typer.Option("--all-heads",
                                            help="check every head design on this backbone")] = False,
    against: Annotated[Against | None, typer.Option(
        help="build the model with this library instead of paramcalc's own modules "
             "(needs --hf-config and transformers installed)")] = None,
    weights: Annotated[str | None, typer.Option(
        "--weights", help="compare with a checkpoint's tensors instead: a .safetensors or "
                          ".gguf file, a folder (sharded: with model.safetensors.index.json) or "
                          "a Hub name ORG/NAME[@REVISION] (headers only)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Prove the formulas against torch modules.

    Build the model in torch on the meta device (no weight memory) and compare each
    component's parameters with its formula. With --weights, place every tensor of a
    checkpoint in its component and block and compare those instead (no torch); the model is
    the one the options give, else the config.json beside the weights or a GGUF file's own
    metadata. Exit code 1 on any mismatch or unplaced tensor."""
    if weights is not None:
        if against is not None or all_heads:
            raise ParamcalcError("--weights compares the checkpoint with the model's own head; "
                                 "drop --against and --all-heads")
        _check_weights(model, weights, as_json)
        return
    if model is None:
        model = presets.resolve()  # the error that says how to name a model
    from ..check import check as check_config

    if against is not None:
        if model.hf_config is None or model.changes:
            raise ParamcalcError("--against transformers builds the model from its config.json "
                                 "as the file stands: give --hf-config PATH and no overrides")
        if all_heads:
            raise ParamcalcError("--against transformers checks the model's own head; drop "
                                 "--all-heads")
        from ..check import check_transformers

        checks = [check_transformers(model.config, model.hf_config)]
    else:
        configs = [model.config.with_head(h) for h in HEADS] if all_heads else [model.config]
        checks = [check_config(config) for config in configs]
    title = render.label(model) + (" (transformers)" if against is not None else "")
    _print(as_json, lambda: render.check_json(checks, all_heads, model),
           lambda: render.check_table(title, checks, against is not None))
    if not all(result.ok for result in checks):
        raise typer.Exit(1)


def _check_weights(model: Preset | None, weights: str, as_json: bool) -> None:
    """``check --weights``: the checkpoint against the formulas, exit 1 on any difference."""
    from ..placing import check_weights, model_for

    model, model_type, checkpoint = model_for(model, weights)
    result = check_weights(model.config, checkpoint, model_type)
    _print(as_json, lambda: {**render.weights_json(result), **render.part_json(model)},
           lambda: render.weights_view(render.label(model), result))
    if not result.ok:
        raise typer.Exit(1)


@app.command()
@model_options
def summary(model: Preset, as_json: JsonFlag = False) -> None:
    """A Keras-like table of layers and their shapes.

    Layer, output shape and parameters, from a forward pass on meta tensors, with total and
    trainable counts."""
    from ..check import summary as layer_summary

    layers = layer_summary(model.config)
    _print(as_json, lambda: {**render.summary_json(model.name, layers),
                             **render.part_json(model)},
           lambda: render.summary_view(render.label(model), layers))



@app.command(name="presets")
def list_presets(as_json: JsonFlag = False) -> None:
    """The shipped presets, with totals and sources."""
    rows = [(p, budget(p.config)) for p in map(presets.from_name, presets.names())]
    _print(as_json,
           lambda: {"presets": [{"name": p.name, **render.part_json(p),
                                 "description": p.description, "source": p.source,
                                 "config": p.config.to_dict(), "total": b.params["total"]}
                                for p, b in rows]},
           lambda: render.presets_table(rows))


