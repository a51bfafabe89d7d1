"""Rich tables, text and JSON objects for the CLI; the arithmetic lives in the library."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import sympy as sp

from .errors import ParamcalcError
from .files import atomic_write
from .formulas import COMPONENTS, Budget, Derivative
from .presets import Preset
from .spec import HEAD_LAYERS
from .symbols import NAMES, SYMBOLS

if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    from rich.console import Console, Group
    from rich.table import Table

_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


#: the narrowest width drawn; a smaller or unreadable COLUMNS (0, 5, "x") gets this
MIN_WIDTH = 40


def console(stderr: bool = False) -> Console:
    """A console made per call, so that COLUMNS and NO_COLOR are read when it is used."""
    import os

    from rich.console import Console

    width = None
    columns = os.environ.get("COLUMNS", "")
    if columns and (not columns.isdigit() or int(columns) < MIN_WIDTH):
        width = MIN_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def _whole_class() -> type:
    from rich.text import Text

    class Whole(Text):
        """Text whose lines are never wrapped by paramcalc (LaTeX to copy)."""

    return Whole


class _LazyWhole:
    """``Whole``, made on first use so that importing render does not import rich."""

    cls: type | None = None

    def __instancecheck__(self, instance: Any) -> bool:
        return self.cls is not None and isinstance(instance, self.cls)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.cls is None:
            self.cls = _whole_class()
        return self.cls(*args, **kwargs)


Whole: Any = _LazyWhole()

_FIGURE = set("0123456789,.%+-−∞e /()×")


def show(renderable: Any, screen: Console | None = None) -> None:
    """Print a view so that no figure is cut short: columns of figures never wrap or get an
    ellipsis, and a table too wide for the terminal is printed as stacked rows instead."""
    from rich.console import Group
    from rich.table import Table

    screen = screen or console()
    parts = list(renderable.renderables) if isinstance(renderable, Group) else [renderable]
    for part in parts:
        if isinstance(part, Whole):
            screen.print(part, soft_wrap=True)  # long lines stay whole, to be copied
            continue
        if isinstance(part, Table):
            _hold_figures(part)
            wide = screen.options.update_width(10**5)  # rich caps a measure at the width
            if part.__rich_measure__(screen, wide).minimum > screen.width:
                screen.print(_stacked(part), soft_wrap=False)
                continue
        screen.print(part)


def _hold_figures(table: Table) -> None:
    """A column whose cells are all figures keeps each one on one line, whole; any other
    column folds its text onto more lines rather than cutting it with an ellipsis."""
    for column in table.columns:
        cells = [str(cell) for cell in column._cells]
        if cells and all(cell and set(cell) <= _FIGURE for cell in cells):
            column.no_wrap = True  # never cut: too wide a table is stacked instead
            column.min_width = max(column.min_width or 0,
                                   *(len(cell) for cell in [str(column.header), *cells]))
        else:
            column.overflow = "fold"


def _stacked(table: Table) -> Any:
    """A table as one block per row, one "heading: value" line per cell."""
    from rich.text import Text

    lines: list[str] = []
    if table.title:
        lines.append(str(table.title))
    headings = [str(column.header) or "·" for column in table.columns]
    rows = zip(*(column._cells for column in table.columns))
    for row in rows:
        lines.append("")
        for heading, cell in zip(headings, row):
            text = cell.plain if hasattr(cell, "plain") else str(cell)
            if text:
                lines.append(f"  {heading}: {Text.from_markup(text).plain}")
    if table.caption:
        lines += ["", str(table.caption)]
    return Text("\n".join(lines))


def emit_json(obj: Any) -> str:
    """The one JSON object a ``--json`` command prints: UTF-8 text, or ASCII with \\u escapes
    where stdout cannot take UTF-8 (still the same JSON)."""
    import codecs
    import sys

    try:
        utf = codecs.lookup(getattr(sys.stdout, "encoding", None) or "utf-8").name.startswith("utf")
    except LookupError:
        utf = False
    return json.dumps(obj, indent=2, ensure_ascii=not utf)


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


def slope(value: sp.Rational) -> str:
    """A derivative's value: an integer in full with separators, else six significant digits."""
    if value.is_Integer:
        return f"{int(value):,}"
    return f"{float(value):,.6g}"


def _float(value: sp.Expr | None) -> float | None:
    return None if value is None else float(value)


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


def _title(preset: Preset, budget: Budget) -> str:
    c = budget.config
    head = c.head or "flatten"
    blocks = f"{c.num_blocks} {c.block} block{'s' if c.num_blocks != 1 else ''}"
    return f"{preset.name} · {blocks} · {head} head · {HEAD_LAYERS[head]}"


def count_table(preset: Preset, budget: Budget) -> Table:
    """Per-component counts, exact and leading-order, with each one's share of the total."""
    from rich.table import Table

    c = budget.config
    table = Table(title=_title(preset, budget), title_justify="left")
    for heading in ("component", "exact formula", "leading order", "parameters", "share"):
        table.add_column(heading, justify="right" if heading in ("parameters", "share") else "left")
    params, total = budget.params, budget.params["total"]
    kinds = " + ".join(f"{kind['count']} × {kind['per_block']:,}" for kind in budget.kind_params())
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
    notes += [f"{head} skipped: {why}" for head, why in skipped.items()]
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


def check_json(checks: Sequence[Any], all_heads: bool) -> dict[str, Any]:
    """The ``check`` object: ``ok`` and one row per component (and head, with --all-heads)."""
    rows = []
    for result in checks:
        for row in result.rows:
            entry = {"component": row.component, "formula": row.formula,
                     "instantiated": row.instantiated, "ok": row.ok}
            rows.append({"head": result.config.head, **entry} if all_heads else entry)
    return {"ok": all(result.ok for result in checks), "rows": rows}


def check_table(name: str, checks: Sequence[Any], transformers: bool = False) -> Table:
    """Formula against instantiated module, per component, with a mark."""
    from rich.table import Table

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
def training_progress(max_epochs: int, quiet: bool = False, plain: bool = False
                      ) -> Iterator[tuple[Callable[[Any], None], Callable[[], None]]]:
    """Progress on stderr while training; yields the callbacks the trainer calls after each
    epoch and on Ctrl-C. A bar on a terminal; elsewhere (a pipe, a log, or ``plain`` for
    --json) a plain line every few seconds. ``quiet``: nothing."""
    import sys
    import time

    screen = console(stderr=True)

    def stopped() -> None:
        if not quiet:
            screen.print("interrupted: evaluating the model as it is, then the report …")

    if quiet:
        yield (lambda epoch: None), stopped
        return
    if plain or not sys.stderr.isatty():
        last = [time.monotonic()]

        def line(epoch: Any) -> None:
            now = time.monotonic()
            if now - last[0] >= 3 or epoch.epoch in (1, max_epochs):
                last[0] = now
                print(f"training: epoch {epoch.epoch}/{max_epochs}, loss {epoch.loss:.4f}, "
                      f"accuracy {epoch.accuracy:.1%}, {epoch.seconds:.1f} s", file=sys.stderr,
                      flush=True)

        yield line, stopped
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]training"), BarColumn(),
                        TextColumn("epoch {task.completed}/{task.total}"),
                        TextColumn("loss {task.fields[loss]}"),
                        TextColumn("accuracy {task.fields[accuracy]}"), TimeElapsedColumn(),
                        console=screen, transient=False)
    task = progress.add_task("training", total=max_epochs, loss="–", accuracy="–")

    def on_epoch(epoch: Any) -> None:
        progress.update(task, completed=epoch.epoch, loss=f"{epoch.loss:.4f}",
                        accuracy=f"{epoch.accuracy:.1%}")

    with progress:
        yield on_epoch, stopped


def printable(data: bytes) -> str:
    """Bytes as text, one convention for all that is not printable: control characters as
    the log shows them (\\u001c), bytes that are not UTF-8 as \\xff."""
    text = data.decode("utf-8", errors="surrogateescape")
    out = []
    for c in text:
        if 0xDC80 <= ord(c) <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c.isprintable() or c == " ":
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04x}")
    return "".join(out)


def verify_json(name: str, config: Any, data: Any, result: Any, prompt: str,
                sample: Any) -> dict[str, Any]:
    """The ``verify`` object of the JSON contract (README.md, Commands)."""
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
        "prompt": printable(prompt.encode("utf-8", "surrogateescape")),
        "sample": printable(sample.data),
        "sample_stopped": sample.stopped,
        "history": [{"epoch": e.epoch, "loss": e.loss, "accuracy": e.accuracy,
                     "seconds": e.seconds} for e in result.history],
    }


def verify_view(name: str, data: Any, result: Any, options: Any, prompt: str, sample: Any,
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
    continuation = Text.assemble(("prompt: ", "bold"),
                                 printable(prompt.encode("utf-8", "surrogateescape")), "\n",
                                 ("output: ", "bold"), printable(sample.data))
    parts: list[Any] = [verdict, conflicts, table, continuation]
    if sample.stopped:
        parts.append(Text(f"(sampling stopped early: {sample.stopped})"))
    return Group(*parts)


def _pyplot(why: str) -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ParamcalcError(f"{why} needs matplotlib: pip install 'paramcalc[plot]'") from None
    return plt


#: the image formats a plot is written in, by file suffix
IMAGE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def check_image_format(path: str | Path, flag: str) -> str:
    """The format a plot file's suffix names; any other suffix is refused before work starts."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise ParamcalcError(f"{flag} {path}: paramcalc writes {', '.join(IMAGE_FORMATS)} files; "
                             f"give one of those suffixes (got {suffix or 'none'!r})")
    return IMAGE_FORMATS[suffix]


def image_training(history: Sequence[Any], path: str | Path, title: str) -> None:
    """A plot of loss and accuracy per epoch, in the format its suffix names, written
    atomically."""
    image_format = check_image_format(path, "--plot")
    plt = _pyplot("--plot")
    epochs = [e.epoch for e in history]
    fig, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
    loss_axis.plot(epochs, [e.loss for e in history], color="tab:red")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("cross-entropy loss", color="tab:red")
    loss_axis.set_yscale("log")
    accuracy_axis = loss_axis.twinx()
    accuracy_axis.plot(epochs, [e.accuracy for e in history], color="tab:blue")
    accuracy_axis.set_ylabel("training accuracy", color="tab:blue")
    accuracy_axis.set_ylim(0, 1.02)
    loss_axis.set_title(title)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format=image_format))
    plt.close(fig)


def image_curves(curves: Any, path: str | Path, title: str) -> None:
    """One curve per head, crossover points marked, log-scaled y; in the format the suffix
    names, written atomically."""
    import numpy as np

    image_format = check_image_format(path, "--out")
    plt = _pyplot("a plot file (use --terminal to draw in the terminal)")
    fig, axis = plt.subplots(figsize=(8, 5), dpi=100)
    for head, y in curves.y.items():
        drawn = bool(np.isfinite(y).any())
        axis.plot(curves.x, y, label=head if drawn else f"{head} (∞, not drawn)", linewidth=1.6)
    notes = []
    for number, c in enumerate(curves.crossovers, start=1):
        axis.plot([c.x], [c.y], marker="x", color="black", markersize=7)
        axis.annotate(str(number), (c.x, c.y), textcoords="offset points", xytext=(3, 5),
                      fontsize=8)
        notes.append(f"{number}: {c.heads[0]} × {c.heads[1]} at {curves.x_name} ≈ {c.x:,.1f}")
    axis.set_yscale("log")
    axis.set_xlabel(curves.x_name)
    axis.set_ylabel({"ratio": "blocks ÷ head", "total": "total parameters",
                     "active": "active parameters per token"}[curves.y_name])
    axis.set_title(title)
    axis.grid(True, which="major", alpha=0.3)
    axis.legend(fontsize=8)
    if notes:
        fig.text(0.01, 0.01, "crossovers — " + ";  ".join(notes), fontsize=7, wrap=True,
                 va="bottom")
        fig.tight_layout(rect=(0, 0.04 * (1 + len(notes) // 3), 1, 1))
    else:
        fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format=image_format))
    plt.close(fig)


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
    table.add_column("")
    table.add_column("bytes", justify="right")
    table.add_column("", justify="right")
    for key, size in sizes.items():
        table.add_row(labels[key], f"{size:,}", _bytes(size))
    return table


def _bytes(size: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.2f} {unit}"
    return f"{size} B"
