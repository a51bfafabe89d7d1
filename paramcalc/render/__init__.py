"""Rich tables, text and JSON objects for the CLI; the arithmetic lives in the library.

This package draws; each module one family of commands. Here: the console, the rule that
no figure is cut short, and how formulas and numbers are written.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any

import sympy as sp

from ..formulas import Budget
from ..presets import Preset
from ..spec import HEAD_LAYERS

if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    from rich.console import Console
    from rich.table import Table

_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


#: the narrowest width drawn; a smaller or unreadable COLUMNS (0, 5, "x") gets this
MIN_WIDTH = 40

#: characters a user's string may not bring to the terminal as they are: C0 and C1 controls
#: (ESC starts a sequence, CR and newline break a line), line and paragraph separators, bidi
#: overrides (which reorder what is shown), and lone surrogates (bytes of a name that is not
#: UTF-8, which no encoder writes)
_INERT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                    "\ud800-\udfff]")
_INERT_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    c = ord(match.group())
    return f"\\x{c - 0xDC00:02x}" if 0xDC80 <= c <= 0xDCFF else f"\\u{c:04x}"


def _escape_but_newlines(match: re.Match[str]) -> str:
    return "\n" if match.group() == "\n" else _escape(match)


def literal(text: object, keep_newlines: bool = False) -> str:
    """A string that came from the user (a name, a path, a value in a message) as inert
    text: each control character written as an escape (ESC as \\u001b, a newline as
    \\u000a), the convention of ``printable``. Rich markup needs nothing: paramcalc's consoles
    never read it."""
    return _INERT.sub(_escape_but_newlines if keep_newlines else _escape, str(text))


def label(preset: Preset) -> str:
    """A model's name for a header, as inert text, with what the command line changed in it:
    ``llama-3.1-8b (n_kv_heads 4)``."""
    changes = ", ".join(f"{key} {_setting(value)}" for key, value in preset.changes)
    notes = [f"{preset.part}; {_named(preset.not_counted)} not counted"] if preset.part else []
    notes += [changes] if changes else []
    return literal(preset.name) + (f" ({literal('; '.join(notes))})" if notes else "")


def _named(names: tuple[str, ...]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"


def part_json(preset: Preset) -> dict[str, Any]:
    """What of the model a command's JSON counts: nothing said for a whole model; for a
    multimodal wrapper, ``"part": "language model"`` and the towers ``not_counted``."""
    if not preset.part:
        return {}
    return {"part": preset.part, "not_counted": list(preset.not_counted)}


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(_setting, value)) or "none"
    return str(value)


def console(stderr: bool = False) -> Console:
    """A console made per call, so that COLUMNS and NO_COLOR are read when it is used."""
    import os

    width = None
    columns = os.environ.get("COLUMNS", "")
    readable = columns.isascii() and columns.isdigit() and len(columns) <= 6  # not "²", 10**5000
    if columns and (not readable or int(columns) < MIN_WIDTH):
        width = MIN_WIDTH  # passed on, so that rich does not read COLUMNS itself
    # rich reads COLUMNS again for the height: hand it an environment it can read
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS" or readable}
    return _console_class()(stderr=stderr, highlight=False, soft_wrap=False, width=width,
                            markup=False, _environ=environ)


@functools.cache
def _console_class() -> type[Console]:
    """rich's Console, made safe for text it did not write: no string is read as markup
    (``markup=False``: a name holding ``[/bold]`` is printed as it is), no control character
    reaches the terminal from a cell or a title, and a closed pipe is raised for
    paramcalc.__main__ to end quietly rather than ending the process from inside rich."""
    from rich.console import Console
    from rich.segment import Segment

    class SafeConsole(Console):
        def render(self, renderable: Any, options: Any = None) -> Any:
            for segment in super().render(renderable, options):
                if segment.control or segment.text == "\n" or not _INERT.search(segment.text):
                    yield segment
                else:
                    yield Segment(literal(segment.text, keep_newlines=True), segment.style)

        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return SafeConsole


class Whole:
    """Text printed whole, never wrapped by paramcalc: LaTeX to be copied."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(self.text)


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
                lines.append(f"  {heading}: {text}")
    if table.caption:
        lines += ["", str(table.caption)]
    return Text("\n".join(lines))


def emit_json(obj: Any) -> str:
    """The one JSON object a ``--json`` command prints: UTF-8 text, or ASCII with \\u escapes
    where stdout cannot take UTF-8 (still the same JSON). Characters that could drive a
    terminal (C1 controls, separators, bidi overrides) or that no encoder writes (lone
    surrogates) are escaped too; json escapes the C0 controls itself."""
    import codecs
    import sys

    try:
        utf = codecs.lookup(getattr(sys.stdout, "encoding", None) or "utf-8").name.startswith("utf")
    except LookupError:
        utf = False
    out = json.dumps(obj, indent=2, ensure_ascii=not utf)
    # json.dumps has escaped every C0 control in a string: those left are its own layout
    return _INERT_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", out) if utf else out


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


def _title(preset: Preset, budget: Budget) -> str:
    c = budget.config
    head = c.head or "flatten"
    blocks = f"{c.num_blocks:,} {c.block} block{'s' if c.num_blocks != 1 else ''}"
    return f"{label(preset)} · {blocks} · {head} head · {HEAD_LAYERS[head]}"


# the commands' views, from their modules (imported last: they use the helpers above)
from .counts import (check_json, check_table, compare_table, conventions_table,  # noqa: E402
                     count_json, count_table, derivatives_json, derivatives_table, derive_view,
                     formulas_json, memory_table, presets_table, quantity_view, ratio_view,
                     summary_json,
                     summary_view, weights_json, weights_view)
from .compute import flops_json, flops_view  # noqa: E402
from .images import IMAGE_FORMATS, check_image_format, image_curves, image_training  # noqa: E402
from .planning import (solve_json, solve_view, sweep_columns, sweep_json,  # noqa: E402
                       sweep_table, terminal_plot, write_csv)
from .training import printable, training_progress, verify_json, verify_view  # noqa: E402

__all__ = [
    "IMAGE_FORMATS", "MIN_WIDTH", "Whole", "label", "literal",
    "check_image_format", "check_json", "check_table", "compare_table", "console",
    "conventions_table", "count_json", "count_table", "derivatives_json", "derivatives_table",
    "derive_view", "emit_json", "flops_json", "flops_view", "formula", "formulas_json", "image_curves", "image_training",
    "memory_table", "number", "presets_table", "printable", "quantity_view", "ratio_view", "show", "slope",
    "solve_json", "solve_view", "summary_json", "summary_view", "sweep_columns", "sweep_json",
    "sweep_table", "terminal_plot", "text", "training_progress", "verify_json", "verify_view",
    "write_csv",
]
