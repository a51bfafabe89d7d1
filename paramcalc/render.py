"""Rich tables, text and JSON objects for the CLI; the arithmetic lives in the library."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from typing import TYPE_CHECKING

import sympy as sp

from .formulas import COMPONENTS, Budget, Derivative
from .presets import Preset
from .spec import HEAD_LAYERS
from .symbols import NAMES, SYMBOLS

if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    from rich.console import Console, Group
    from rich.table import Table

_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def console(stderr: bool = False) -> Console:
    """A console made per call, so that COLUMNS and NO_COLOR are read when it is used."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit_json(obj: Any) -> str:
    """The one JSON object a ``--json`` command prints."""
    return json.dumps(obj, indent=2, ensure_ascii=False)


def text(expr: sp.Expr) -> str:
    """A formula as a person writes it: 4·d²·n rather than 4*d**2*n."""
    out = sp.sstr(expr)
    for power in ("10", "9", "8", "7", "6", "5", "4", "3", "2"):
        out = out.replace(f"**{power}", power.translate(_SUPERSCRIPTS))
    return out.replace("*", "·")


def formula(expr: sp.Expr, latex: bool = False) -> str:
    """Text or LaTeX."""
    return sp.latex(expr) if latex else text(expr)


def number(value: int | sp.Rational | float | None) -> str:
    """An integer with separators; a fraction as a decimal and, below 1, as 1/x."""
    if value is None:
        return "∞"
    if isinstance(value, int) or (isinstance(value, sp.Basic) and value.is_Integer):
        return f"{int(value):,}"
    x = float(value)
    if x == 0:
        return "0"
    if 0 < abs(x) < 1:
        return f"{x:.4g} (1/{1 / x:,.4g})"
    return f"{x:,.4g}"


def short(x: float | int) -> str:
    """A large count in words: 82.3G, 491.5M, 137.1k."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:,.4g}{unit}"
    return f"{x:,.4g}"


def _float(value: sp.Expr | None) -> float | None:
    return None if value is None else float(value)


def formulas_json(budget: Budget) -> dict[str, dict[str, str]]:
    """Each component's exact and leading-order formula."""
    rows = {name: budget.components[name] for name in COMPONENTS}
    rows = {**rows, "per_block": budget.per_block, "total": budget.total}
    return {name: {"exact": sp.sstr(c.exact), "approx": sp.sstr(c.approx)}
            for name, c in rows.items()}


def count_json(preset: Preset, budget: Budget) -> dict[str, Any]:
    """The ``count``/``ratio`` object of DESIGN.md's JSON contract."""
    ratio = budget.ratio
    obj: dict[str, Any] = {
        "name": preset.name,
        "config": budget.config.to_dict(),
        "head": budget.config.head,
        "params": budget.params,
        "approx_params": budget.approx_params,
        "formulas": formulas_json(budget),
    }
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
                   "approx_formula": sp.sstr(d.approx_formula), "value": float(d.value),
                   "elasticity": float(d.elasticity)} for name, d in rows.items()}


def _title(preset: Preset, budget: Budget) -> str:
    return f"{preset.name} · {budget.config.head} head · {HEAD_LAYERS[budget.config.head]}"


def count_table(preset: Preset, budget: Budget) -> Table:
    """Per-component counts, exact and leading-order, with each one's share of the total."""
    from rich.table import Table
    
    c = budget.config
    table = Table(title=_title(preset, budget), title_justify="left")
    for heading in ("component", "exact formula", "leading order", "parameters", "share"):
        table.add_column(heading, justify="right" if heading in ("parameters", "share") else "left")
    params, total = budget.params, budget.params["total"]
    for name in COMPONENTS:
        count = budget.components[name]
        label = f"blocks ({c.num_blocks} × {params['per_block']:,})" if name == "blocks" else name
        share = f"{100 * params[name] / total:.2f}%"
        table.add_row(label, text(count.exact), text(count.approx), f"{params[name]:,}", share)
    table.add_section()
    table.add_row("total", text(budget.total.exact), text(budget.total.approx), f"{total:,}",
                  "100.00%", style="bold")
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
        for heading in ("", "formula", "value"):
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
                      formula(d.approx_formula, latex), f"{float(d.value):.6g}",
                      f"{float(d.elasticity):+.4f}")
    return table


def derive_view(preset: Preset, budget: Budget, ratio_rows: Mapping[str, Derivative],
                total_rows: Mapping[str, Derivative], latex: bool = False) -> Group:
    """Every formula of a configuration and the derivatives of its ratio and total."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    
    table = Table(title=_title(preset, budget), title_justify="left")
    for heading in ("quantity", "exact", "leading order", "value"):
        table.add_column(heading, justify="right" if heading == "value" else "left")
    rows = [(name, budget.components[name]) for name in COMPONENTS]
    rows += [("per_block", budget.per_block), ("total", budget.total)]
    for name, count in rows:
        table.add_row(name, formula(count.exact, latex), formula(count.approx, latex),
                      f"{budget.params[name]:,}")
    ratio = budget.ratio
    if ratio.exact is not None and ratio.approx is not None:
        table.add_row("ratio", formula(ratio.exact, latex), formula(ratio.approx, latex),
                      number(ratio.value))
    parts: list[Any] = [table]
    if ratio.exact is None:
        parts.append(Text(f"ratio: ∞, {ratio.note}; it has no derivatives."))
    elif ratio_rows:
        parts.append(derivatives_table("∂ratio/∂x  (elasticity: % change of the ratio per 1% of x)",
                                       ratio_rows, latex))
    if total_rows:
        parts.append(derivatives_table("∂total/∂x", total_rows, latex))
    return Group(*parts)


def compare_table(name: str, budgets: Sequence[Budget], elasticities: Sequence[Mapping[str, Derivative]],
                  skipped: Mapping[str, str]) -> Table:
    """Every head design on one backbone: what it owns, the total, the ratio, its elasticities."""
    from rich import box
    from rich.table import Table
    
    symbols: list[str] = []
    for rows in elasticities:
        symbols += [s for s in rows if s not in symbols]
    order = list(NAMES.values())
    symbols.sort(key=order.index)
    legend = ", ".join(f"{SYMBOLS[s].name} = {s}" for s in symbols)
    notes = [f"ε x: % change of the ratio per 1% change of x ({legend})"]
    notes += [f"{head} skipped: {why}" for head, why in skipped.items()]
    table = Table(title=f"{name}: head designs on one backbone", title_justify="left",
                  caption="\n".join(notes), caption_justify="left", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    table.add_column("head", no_wrap=True)
    for heading in ("head params", "total", "ratio", *(f"ε {SYMBOLS[s].name}" for s in symbols)):
        table.add_column(heading, justify="right", no_wrap=True)
    for budget, rows in zip(budgets, elasticities):
        cells = [f"{float(rows[s].elasticity):+.2f}" if s in rows else "" for s in symbols]
        ratio = budget.ratio.value
        table.add_row(budget.config.head, f"{budget.params['head']:,}",
                      f"{budget.params['total']:,}",
                      "∞" if ratio is None else f"{float(ratio):.4g}", *cells)
    return table


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


def check_json(checks: Sequence[Any], all_heads: bool) -> dict[str, Any]:
    """The ``check`` object: ``ok`` and one row per component (and head, with --all-heads)."""
    rows = []
    for result in checks:
        for row in result.rows:
            entry = {"component": row.component, "formula": row.formula,
                     "instantiated": row.instantiated, "ok": row.ok}
            rows.append({"head": result.config.head, **entry} if all_heads else entry)
    return {"ok": all(result.ok for result in checks), "rows": rows}


def check_table(name: str, checks: Sequence[Any]) -> Table:
    """Formula against instantiated module, per component, with a mark."""
    from rich.table import Table

    heads = len(checks) > 1
    table = Table(title=f"{name}: formulas against torch modules on the meta device",
                  title_justify="left")
    if heads:
        table.add_column("head")
    table.add_column("component")
    table.add_column("formula", justify="right")
    table.add_column("instantiated", justify="right")
    table.add_column("", justify="center")
    for result in checks:
        for row in result.rows:
            mark = "[green]✓[/]" if row.ok else "[bold red]✗[/]"
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


@contextmanager
def training_progress(max_epochs: int) -> Iterator[Callable[[Any], None]]:
    """A progress bar on stderr; yields the callback the trainer calls after each epoch."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]training"), BarColumn(),
                        TextColumn("epoch {task.completed}/{task.total}"),
                        TextColumn("loss {task.fields[loss]}"),
                        TextColumn("accuracy {task.fields[accuracy]}"), TimeElapsedColumn(),
                        console=console(stderr=True), transient=False)
    task = progress.add_task("training", total=max_epochs, loss="–", accuracy="–")

    def on_epoch(epoch: Any) -> None:
        progress.update(task, completed=epoch.epoch, loss=f"{epoch.loss:.4f}",
                        accuracy=f"{epoch.accuracy:.1%}")

    with progress:
        yield on_epoch


def printable(data: bytes) -> str:
    """Bytes as text, control characters escaped the way the log shows them (\\u001c)."""
    text = data.decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text)


def verify_json(name: str, config: Any, data: Any, result: Any, prompt: str,
                sample: bytes) -> dict[str, Any]:
    """The ``verify`` object of DESIGN.md's JSON contract."""
    return {
        "name": name,
        "config": config.to_dict(),
        "memorized": result.memorized,
        "reason": result.reason,
        "epochs": result.epochs,
        "seconds": result.seconds,
        "samples": len(data.train),
        "conflicting": data.conflicting,
        "achievable_accuracy": data.achievable_accuracy,
        "min_learnable_confidence": result.min_learnable_confidence,
        "train": result.train.to_dict(),
        "test": result.test.to_dict(),
        "prompt": prompt,
        "sample": sample.decode("utf-8", errors="replace"),
        "history": [{"epoch": e.epoch, "loss": e.loss, "accuracy": e.accuracy,
                     "seconds": e.seconds} for e in result.history],
    }


def verify_view(name: str, data: Any, result: Any, options: Any, prompt: str, sample: bytes,
                device: str) -> Group:
    """The verdict, the log's statistics on train and test windows, and a sampled continuation."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    windows = len(data.train)
    if result.memorized:
        how = (f"in {result.epochs} epochs, {result.seconds:.1f} s on {device}"
               if result.epochs else "(a loaded checkpoint, not trained here)")
        verdict = Text(f"✓ memorized {windows:,} windows of {data.source} {how}: every learnable "
                       f"window has p(next byte) ≥ {options.min_confidence:g}", style="bold green")
    else:
        verdict = Text(f"✗ not memorized after {result.epochs} epochs, {result.seconds:.1f} s on "
                       f"{device}: {result.reason}; the least sure learnable window has p(next "
                       f"byte) = {result.min_learnable_confidence:.3f} < {options.min_confidence:g}",
                       style="bold red")
    conflicts = Text(f"{data.conflicting:,} of {windows:,} training windows share their context "
                     f"with a different next byte; the achievable training accuracy is "
                     f"{data.achievable_accuracy:.1%}")
    table = Table(title=f"{name}: confidence = the highest next-byte probability",
                  title_justify="left")
    for heading in ("set", "windows", "accuracy", "loss", "confidence mean", "min", "max"):
        table.add_column(heading, justify="left" if heading == "set" else "right")
    for label, stats in (("train", result.train), ("test", result.test)):
        table.add_row(label, f"{stats.windows:,}", f"{stats.accuracy:.1%}", f"{stats.loss:.4f}",
                      f"{stats.confidence_mean:.3f}", f"{stats.confidence_min:.3f}",
                      f"{stats.confidence_max:.3f}")
    continuation = Text.assemble(("prompt: ", "bold"), printable(prompt.encode()), "\n",
                                 ("output: ", "bold"), printable(sample))
    return Group(verdict, conflicts, table, continuation)
