"""Counting commands: count, ratio, derive, compare, presets, check and summary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sympy as sp

from ..formulas import COMPONENTS, Budget, Derivative
from ..presets import Preset
from ..symbols import NAMES, SYMBOLS

if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    from rich.console import Group
    from rich.table import Table

from . import (Whole, _float, _stacked, _title, formula, literal, number, part_json, slope,
               text)


def formulas_json(budget: Budget) -> dict[str, dict[str, str]]:
    """Each component's exact and leading-order formula."""
    return {name: {"exact": sp.sstr(c.exact), "approx": sp.sstr(c.approx)}
            for name, c, _ in budget.formula_rows()}


def count_json(preset: Preset, budget: Budget, formulas: bool = False) -> dict[str, Any]:
    """The ``count``/``ratio`` object of the JSON contract (README.md, Commands); ``formulas`` adds every
    component's exact and leading-order formula (``count`` and ``derive`` do)."""
    ratio = budget.ratio
    obj: dict[str, Any] = {
        "name": preset.name,
        **part_json(preset),
        "config": budget.config.to_dict(),
        "head": budget.config.head,
        "params": budget.params,
        "approx_params": budget.approx_params,
        "block_kinds": budget.kind_params(),
    }
    if formulas:
        obj["formulas"] = formulas_json(budget)
    if ratio.exact is None:
        obj["ratio"] = None
        obj["ratio_note"] = ratio.note
    else:
        obj["ratio"] = {
            "exact": _float(ratio.value),
            "approx": _float(ratio.approx_value),
            "fraction": sp.sstr(ratio.value),
            "formula": sp.sstr(ratio.exact),
            "approx_formula": sp.sstr(ratio.approx),
        }
    return obj


def derivatives_json(rows: Mapping[str, Derivative]) -> dict[str, dict[str, Any]]:
    """Derivatives keyed by hyperparameter name."""
    return {name: {"symbol": d.symbol.name, "formula": sp.sstr(d.formula),
                   "approx_formula": sp.sstr(d.approx_formula), "latex": sp.latex(d.formula),
                   "value": float(d.value), "elasticity": float(d.elasticity)}
            for name, d in rows.items()}


def count_table(preset: Preset, budget: Budget) -> Table:
    """Per-component counts, exact and leading-order, with each one's share of the total."""
    from rich.table import Table

    table = Table(title=_title(preset, budget), title_justify="left")
    for heading in ("component", "exact formula", "leading order", "parameters", "share"):
        table.add_column(heading, justify="right" if heading in ("parameters", "share") else "left")
    params, total = budget.params, budget.params["total"]
    kinds = " + ".join(f"{kind['count']:,} × {kind['per_block']:,}" for kind in budget.kind_params())
    for name in COMPONENTS:
        count = budget.components[name]
        label = f"blocks ({kinds})" if name == "blocks" else name
        share = f"{100 * params[name] / total:.2f}%"
        table.add_row(label, text(count.exact), text(count.approx), f"{params[name]:,}", share)
    table.add_section()
    table.add_row("total", text(budget.total.exact), text(budget.total.approx), f"{total:,}",
                  "100.00%", style="bold")
    if budget.active is not budget.total:
        table.add_row("active (per token)", text(budget.active.exact), text(budget.active.approx),
                      f"{params['active']:,}", f"{100 * params['active'] / total:.2f}%")
    return table


def ratio_view(preset: Preset, budget: Budget, log_reading: Budget | None = None) -> Group:
    """The blocks ÷ head ratio, exact and leading-order, or why it is infinite."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    ratio, params = budget.ratio, budget.params
    parts: list[Any] = [Text(_title(preset, budget), style="bold")]
    if ratio.exact is None:
        parts.append(Text(f"ratio = blocks ÷ head = {params['blocks']:,} ÷ 0 = ∞: {ratio.note}."))
    else:
        table = Table(title=f"ratio = blocks ÷ head = {params['blocks']:,} ÷ {params['head']:,}",
                      title_justify="left")
        for heading in ("ratio", "formula", "value"):
            table.add_column(heading)
        table.add_row("exact", text(ratio.exact), number(ratio.value))
        table.add_row("leading order", text(ratio.approx), number(ratio.approx_value))
        parts.append(table)
    if log_reading is not None:
        alt = log_reading.ratio
        parts.append(Text(
            f"\nThe log read GPT-2's head as tied-flatten (flatten → Dense(d) → × embedding"
            f" transposed): that head would own {text(log_reading.components['head'].exact)} = "
            f"{log_reading.params['head']:,} parameters, and the ratio would be "
            f"{text(alt.exact)} = {number(alt.value)} "
            f"(leading order {text(alt.approx)} = {number(alt.approx_value)})."))
    return Group(*parts)


def derivatives_table(title: str, rows: Mapping[str, Derivative], latex: bool = False) -> Table:
    """∂y/∂x for each hyperparameter: formula, leading order, value and elasticity."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for heading in ("x", "∂/∂x exact", "∂/∂x leading order", "value", "elasticity"):
        table.add_column(heading, justify="right" if heading in ("value", "elasticity") else "left")
    for name, d in rows.items():
        table.add_row(f"{name} ({d.symbol.name})", formula(d.formula, latex),
                      formula(d.approx_formula, latex), slope(d.value),
                      f"{float(d.elasticity):+.4f}")
    return table


def derive_view(preset: Preset, budget: Budget, ratio_rows: Mapping[str, Derivative],
                total_rows: Mapping[str, Derivative], latex: bool = False,
                active_rows: Mapping[str, Derivative] | None = None) -> Group:
    """Every formula of a configuration and the derivatives of its ratio and total."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=_title(preset, budget), title_justify="left")
    for heading in ("quantity", "exact", "leading order", "value"):
        table.add_column(heading, justify="right" if heading == "value" else "left")
    for name, count, value in budget.formula_rows():
        table.add_row(name, formula(count.exact, latex), formula(count.approx, latex),
                      f"{value:,}")
    ratio = budget.ratio
    if ratio.exact is not None and ratio.approx is not None:
        table.add_row("ratio", formula(ratio.exact, latex), formula(ratio.approx, latex),
                      number(ratio.value))
    parts: list[Any] = [table]
    if latex:  # LaTeX whole, one formula a line, to be copied
        parts = [Whole(_stacked(table).plain)]
    if ratio.exact is None:
        parts.append(Text(f"ratio: ∞, {ratio.note}; it has no derivatives."))
    elif ratio_rows:
        parts.append(derivatives_table("∂ratio/∂x  (elasticity: % change of the ratio per 1% of x)",
                                       ratio_rows, latex))
    if total_rows:
        parts.append(derivatives_table("∂total/∂x", total_rows, latex))
    if active_rows:
        parts.append(derivatives_table("∂active/∂x  (parameters a token passes through)",
                                       active_rows, latex))
    if latex:
        parts = [Whole(_stacked(part).plain) if hasattr(part, "columns") else part
                 for part in parts]
    return Group(*parts)


def quantity_view(name: str, meaning: str, count: Any, value: int,
                  rows: Mapping[str, Derivative], latex: bool = False) -> Group:
    """A compute or memory quantity: its formulas, its value and its derivatives."""
    from rich.console import Group
    from rich.table import Table

    table = Table(title=f"{name}: {meaning}", title_justify="left")
    for heading in ("exact", "leading order", "value"):
        table.add_column(heading, justify="right" if heading == "value" else "left")
    table.add_row(formula(count.exact, latex), formula(count.approx, latex), f"{value:,}")
    parts: list[Any] = [table, derivatives_table(f"∂{name}/∂x", rows, latex)]
    if latex:
        parts = [Whole(_stacked(part).plain) for part in parts]
    return Group(*parts)


def compare_table(name: str, budgets: Sequence[Budget], elasticities: Sequence[Mapping[str, Derivative]],
                  skipped: Mapping[str, str], width: int = 120) -> Group:
    """Every head design on one backbone: what it owns, the total, the ratio, its elasticities.

    Numbers are never cut short: where one table would not fit in ``width`` columns, the
    elasticities go to a second table.
    """
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    symbols: list[str] = []
    for rows in elasticities:
        symbols += [s for s in rows if s not in symbols]
    order = list(NAMES.values())
    symbols.sort(key=order.index)
    heads = [b.config.head or "" for b in budgets]
    counts = [[f"{b.params['head']:,}", f"{b.params['total']:,}",
               "∞" if b.ratio.value is None else f"{float(b.ratio.value):.4g}"] for b in budgets]
    slopes = [[f"{float(rows[s].elasticity):+.2f}" if s in rows else "" for s in symbols]
              for rows in elasticities]
    count_headings = ["head params", "total", "ratio"]
    slope_headings = [f"ε {SYMBOLS[s].name}" for s in symbols]

    def table(title: str | None, headings: list[str], cells: list[list[str]]) -> Table:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0),
                  pad_edge=False)
        for i, heading in enumerate(["head", *headings]):
            column = [heads[r] if i == 0 else cells[r][i - 1] for r in range(len(heads))]
            t.add_column(heading, justify="left" if i == 0 else "right", no_wrap=True,
                         min_width=max(len(heading), *map(len, column)) + (0 if i == 0 else 2))
        for head, row in zip(heads, cells):
            t.add_row(head, *row)
        return t

    one = table(f"{name}: head designs on one backbone", count_headings + slope_headings,
                [c + e for c, e in zip(counts, slopes)])
    needed = sum(max(len(h), *(len(row[i]) for row in [[hd, *c, *e] for hd, c, e in
                                                        zip(heads, counts, slopes)])) + 2
                 for i, h in enumerate(["head", *count_headings, *slope_headings]))
    parts: list[Any]
    if needed <= width:
        parts = [one]
    else:
        parts = [table(f"{name}: head designs on one backbone", count_headings, counts),
                 table("elasticities of the ratio", slope_headings, slopes)]
    legend = ", ".join(f"{SYMBOLS[s].name} = {s}" for s in symbols)
    notes = [f"ε x: % change of the ratio per 1% change of x ({legend})"]
    notes += [f"{head} skipped: {literal(why)}" for head, why in skipped.items()]
    return Group(*parts, Text("\n".join(notes)))


def presets_table(rows: Iterable[tuple[Preset, Budget]]) -> Group:
    """The shipped presets with their totals, then where each one's figures come from."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    rows = list(rows)
    table = Table(title="presets", title_justify="left")
    for heading in ("name", "head", "total", "ratio", "description"):
        table.add_column(heading, justify="right" if heading in ("total", "ratio") else "left",
                         no_wrap=heading != "description")
    for preset, budget in rows:
        ratio = budget.ratio.value
        table.add_row(preset.name, budget.config.head, f"{budget.params['total']:,}",
                      "∞" if ratio is None else f"{float(ratio):.4g}", preset.description)
    sources = Text("\n".join(f"{preset.name}: {preset.source}" for preset, _ in rows))
    return Group(table, Text("sources:", style="bold"), sources)


def check_json(checks: Sequence[Any], all_heads: bool,
               preset: Preset | None = None) -> dict[str, Any]:
    """The ``check`` object: ``ok`` and one row per component (and head, with --all-heads);
    of a wrapper, the part checked."""
    rows = []
    for result in checks:
        for row in result.rows:
            entry = {"component": row.component, "formula": row.formula,
                     "instantiated": row.instantiated, "ok": row.ok}
            rows.append({"head": result.config.head, **entry} if all_heads else entry)
    return {"ok": all(result.ok for result in checks),
            **(part_json(preset) if preset is not None else {}), "rows": rows}


def check_table(name: str, checks: Sequence[Any], transformers: bool = False) -> Table:
    """Formula against instantiated module, per component (one row per kind of block where
    there are several: per_block[dense], per_block[moe]), with a mark."""
    from rich.table import Table
    from rich.text import Text

    heads = len(checks) > 1
    built = ("transformers' own model class" if transformers else "modules")
    table = Table(title=f"{name}: formula vs. torch module", title_justify="left",
                  caption=f"{built} built on the meta device: shapes, no weight memory",
                  caption_justify="left")
    if heads:
        table.add_column("head")
    table.add_column("component")
    table.add_column("formula", justify="right")
    table.add_column("instantiated", justify="right")
    table.add_column("ok", justify="center")
    for result in checks:
        for row in result.rows:
            mark = Text("✓", style="green") if row.ok else Text("✗", style="bold red")
            cells = [row.component, f"{row.formula:,}", f"{row.instantiated:,}", mark]
            table.add_row(*([result.config.head] if heads else []), *cells)
        if heads:
            table.add_section()
    return table


def summary_json(name: str, layers: Sequence[Any]) -> dict[str, Any]:
    """The ``summary`` object: layers with output shapes and counts, then the totals."""
    return {"name": name,
            "layers": [{"name": layer.name, "type": layer.kind,
                        "output_shape": list(layer.output_shape), "params": layer.params}
                       for layer in layers],
            "total": sum(layer.params for layer in layers),
            "trainable": sum(layer.trainable for layer in layers)}


def summary_view(name: str, layers: Sequence[Any]) -> Group:
    """A Keras-like summary: layer (type), output shape, parameters; total and trainable."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{name}", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("Layer (type)")
    table.add_column("Output Shape")
    table.add_column("Param #", justify="right")
    for layer in layers:
        shape = "(" + ", ".join("None" if s is None else str(s) for s in layer.output_shape) + ")"
        table.add_row(f"{layer.name} ({layer.kind})", shape, f"{layer.params:,}")
    total = sum(layer.params for layer in layers)
    trainable = sum(layer.trainable for layer in layers)
    return Group(table, Text(f"Total params: {total:,}\nTrainable params: {trainable:,}\n"
                             f"Non-trainable params: {total - trainable:,}"))


def conventions_table(conventions: Any) -> Table:
    """The total by each counting convention, and Kaplan's 12·n·d² against the exact count."""
    from rich.table import Table

    table = Table(title="counting conventions", title_justify="left")
    table.add_column("convention")
    table.add_column("parameters", justify="right")
    table.add_row("total (every parameter, shared tensors once)", f"{conventions.total:,}")
    table.add_row("active per token (the total less the experts a token is not sent to)",
                  f"{conventions.active:,}")
    table.add_row("without position embeddings (nanoGPT)", f"{conventions.without_positions:,}")
    table.add_row("non-embedding (Kaplan et al.)", f"{conventions.non_embedding:,}")
    table.add_row(f"12·n·d² (Kaplan's approximation), {conventions.kaplan_relative_error:+.2%} "
                  "off the non-embedding count", f"{conventions.kaplan:,}")
    return table


def memory_table(sizes: Mapping[str, int]) -> Table:
    """Bytes of the parameters per format, and of fp32 Adam training."""
    from rich.table import Table

    labels = {"fp32": "weights, fp32", "bf16": "weights, bf16", "int8": "weights, int8",
              "adam_fp32_training": "training, fp32 Adam (weights + gradients + 2 moments)"}
    table = Table(title="memory", title_justify="left")
    table.add_column("held")
    table.add_column("bytes", justify="right")
    table.add_column("size", justify="right")
    for key, size in sizes.items():
        table.add_row(labels[key], f"{size:,}", _bytes(size))
    return table


def _bytes(size: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.2f} {unit}"
    return f"{size:,} B"


def weights_json(result: Any) -> dict[str, Any]:
    """``check --weights``: check's object plus ``weights``: the checkpoint's tensors,
    elements, bytes, bits per weight, the unplaced tensors, and the same per component."""
    checkpoint = result.checkpoint
    out = check_json([result], False)
    out["weights"] = {
        "source": checkpoint.source, "format": checkpoint.format,
        "tensors": len(checkpoint.tensors), "params": checkpoint.params,
        "bytes": checkpoint.nbytes, "bits_per_weight": float(checkpoint.bits_per_weight),
        "unplaced": list(result.unplaced),
        "components": {part.component: {"tensors": part.tensors, "params": part.params,
                                        "bytes": part.nbytes,
                                        "bits_per_weight": float(part.bits_per_weight)}
                       for part in result.parts}}
    return out


def weights_view(name: str, result: Any) -> Group:
    """The check's rows against the checkpoint, then its bytes per component, then any tensor
    that could not be placed."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    checkpoint = result.checkpoint
    rows = Table(title=f"{name}: formula vs. checkpoint {literal(checkpoint.source)}",
                 title_justify="left", caption=f"{len(checkpoint.tensors):,} tensors "
                 f"({checkpoint.format} headers), each placed by its name", caption_justify="left")
    for heading in ("component", "formula", "checkpoint", "ok"):
        rows.add_column(heading, justify="left" if heading == "component" else "right")
    for row in result.rows:
        mark = Text("✓", style="green") if row.ok else Text("✗", style="bold red")
        rows.add_row(row.component, f"{row.formula:,}", f"{row.instantiated:,}", mark)
    sizes = Table(title="bytes per component", title_justify="left")
    for heading in ("component", "tensors", "elements", "bytes", "bits per weight"):
        sizes.add_column(heading, justify="left" if heading == "component" else "right")
    for part in result.parts:
        sizes.add_row(part.component, f"{part.tensors:,}", f"{part.params:,}",
                      f"{part.nbytes:,}", f"{float(part.bits_per_weight):.2f}")
    sizes.add_section()
    sizes.add_row("total", f"{len(checkpoint.tensors):,}", f"{checkpoint.params:,}",
                  f"{checkpoint.nbytes:,}", f"{float(checkpoint.bits_per_weight):.2f}",
                  style="bold")
    parts: list[Any] = [rows, sizes]
    if result.unplaced:
        parts.append(Text("not placed: " + ", ".join(map(literal, result.unplaced)), style="bold red"))
    return Group(*parts)
