"""Every quantity in every output, and outputs that stay small under the caps: sweep and plot
make their points a chunk at a time and write them as they come (CSV, JSON), keep only the
Pareto front, and draw a few thousand points of a curve of millions. Streamed or whole, the
output is the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import from_name
from paramcalc.plan import parse_range, sweep

pytestmark = pytest.mark.mutation_skip  # the CLI over every output

QUANTITIES = ["flops", "flops_per_token", "kv_cache", "activations"]
Y = ["ratio", "total", "active", *QUANTITIES]
#: gpt2 at two widths, its own tied head and an untied one
MODEL = ["-p", "gpt2", "--num-blocks", "2"]
X = "d_model=768:1536:768"


def _single(cli: Cli, quantity: str, d_model: int) -> float:
    """What the one-configuration commands say of ``quantity`` at ``d_model`` (another road
    to the figure: sympy's evaluation, not the sweep's lambdified numpy)."""
    args = [*MODEL, "--d-model", str(d_model), "--head", "linear"]
    if quantity in ("ratio", "total", "active"):
        obj = cli.json("count", *args)
        return obj["ratio"]["exact"] if quantity == "ratio" else obj["params"][quantity]
    obj = cli.json("flops", *args)
    return {"flops": obj["flops"]["forward"]["total"],
            "flops_per_token": obj["per_token"]["training"],
            "kv_cache": obj["memory"]["kv_cache_per_token"],
            "activations": obj["memory"]["activations_per_sequence"]}[quantity]


_MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}


@pytest.mark.parametrize("output", [".png", ".pdf", ".svg", "terminal", "json"])
@pytest.mark.parametrize("y", Y)
def test_every_quantity_against_every_plot_output(cli: Cli, tmp_path: Path, y: str,
                                                  output: str) -> None:
    """``plot --y flops --out f.png`` ended in KeyError: 'flops' (the image knew three
    quantities)."""
    args = ["plot", *MODEL, "--x", X, "--y", y, "--heads", "linear,tied"]
    if output == "json":
        obj = cli.json(*args)
        assert obj["y"] == y and obj["values"] == [768, 1536]
        assert obj["curves"]["linear"] == pytest.approx([_single(cli, y, 768),
                                                         _single(cli, y, 1536)], rel=1e-12)
    elif output == "terminal":
        out = cli(*args, "--terminal").stdout
        assert f"{y} (log scale)" in out and "linear" in out
    else:
        image = tmp_path / f"plot{output}"
        assert cli(*args, "--out", str(image)).stdout == f"wrote {image}\n"
        assert image.read_bytes().startswith(_MAGIC[output])


@pytest.mark.parametrize("also", QUANTITIES)
def test_every_also_against_sweep_csv_and_json(cli: Cli, tmp_path: Path, also: str) -> None:
    import csv

    table = tmp_path / "points.csv"
    obj = cli.json("sweep", *MODEL, "--head", "linear", "--vary", X, "--also", also,
                   "--csv", str(table))
    with table.open() as f:
        rows = list(csv.DictReader(f))
    expected = [_single(cli, also, 768), _single(cli, also, 1536)]
    assert [p[also] for p in obj["points"]] == pytest.approx(expected, rel=1e-12)
    assert [float(row[also]) for row in rows] == [p[also] for p in obj["points"]]
    assert list(rows[0]) == ["head", *(key for key in obj["points"][0] if key != "head")]


#: sweeps and plots whose streamed output is checked against the output made whole
COMMANDS = [
    ["sweep", "-p", "id4", "--vary", "d_model=8:64:8", "--vary", "num_blocks=1:3", "--heads",
     "flatten,td-dense,tied"],
    ["sweep", "-p", "id6", "--n-heads", "2", "--vary", "d_model=7:40", "--vary",
     "num_blocks=1:3", "--heads", "flatten,tied,tied-flatten"],
    ["sweep", "-p", "gpt2", "--vary", "d_model=12:240:12", "--also", ",".join(QUANTITIES)],
    ["sweep", "-p", "mixtral-8x7b", "--vary", "num_experts=2:16"],
]
PLOTS = [
    ["plot", "-p", "id4", "--x", "d_model=8:512:8"],
    ["plot", "-p", "id4", "--n-heads", "1", "--x", "d_model=241:273:8"],
    ["plot", "-p", "gpt2", "--x", "d_model=12:600:12", "--y", "flops", "--heads",
     "linear,tied-flatten"],
]


def _sweep_module() -> Any:
    """paramcalc.plan.sweep, the module (the package's ``sweep`` is its function)."""
    import importlib

    return importlib.import_module("paramcalc.plan.sweep")


def _small_chunks(monkeypatch: pytest.MonkeyPatch, chunk: int, rows: int) -> None:
    import paramcalc.render.planning as planning

    monkeypatch.setattr(_sweep_module(), "CHUNK", chunk)
    monkeypatch.setattr(planning, "ROWS", rows)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[1:3] + c[3:5]))
def test_a_streamed_sweep_is_the_sweep_made_whole(cli: Cli, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  command: list[str]) -> None:
    """In chunks of 7 points, formatted 3 rows at a time, the JSON text is what json.dumps
    writes of the whole grid in memory; the CSV and the table are those of one chunk."""
    from paramcalc.cli import _head_list
    from paramcalc.presets import resolve
    from paramcalc.render import emit_json, sweep_json

    whole = {kind: cli(*command, *extra).stdout for kind, extra in
             (("table", []), ("json", ["--json"]))}
    whole["csv"] = (cli(*command, "--csv", str(tmp_path / "whole.csv")) and
                    (tmp_path / "whole.csv").read_text())
    _small_chunks(monkeypatch, 7, 3)
    assert cli(*command).stdout == whole["table"]
    assert cli(*command, "--json").stdout == whole["json"]
    cli(*command, "--csv", str(tmp_path / "chunked.csv"))
    assert (tmp_path / "chunked.csv").read_text() == whole["csv"]
    # the in-memory grid, written by json.dumps
    flags = dict(zip(command[1::2], command[2::2]))
    vary = [command[i + 1] for i, arg in enumerate(command) if arg == "--vary"]
    model = resolve(flags["-p"], overrides={"n_heads": int(flags["--n-heads"])}
                    if "--n-heads" in flags else {})
    also = flags.get("--also", "").split(",") if "--also" in flags else []
    grid = sweep(model.config, [parse_range(v) for v in vary],
                 _head_list(flags.get("--heads")) or [model.config.head], also)
    assert whole["json"] == emit_json(sweep_json(model.name, grid, grid.front())) + "\n"


@pytest.mark.parametrize("command", PLOTS, ids=lambda c: " ".join(c[1:5]))
def test_a_streamed_plot_is_the_plot_made_whole(cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                                command: list[str]) -> None:
    whole = cli(*command, "--json").stdout
    terminal = cli(*command, "--terminal").stdout
    _small_chunks(monkeypatch, 5, 2)
    assert cli(*command, "--json").stdout == whole
    assert cli(*command, "--terminal").stdout == terminal
    obj = json.loads(whole)
    assert set(obj) == {"name", "x", "y", "values", "curves", "crossovers", "png"}
    assert all(len(ys) == len(obj["values"]) for ys in obj["curves"].values())


def _front_by_definition(total: list[int], ratio: list[float], valid: list[bool]) -> list[int]:
    """Sorted by total (the higher ratio first, then the lower index), a valid point is kept
    when its ratio beats every point before it; infinite ratios are ranked apart, after."""
    import math

    kept = []
    for finite in (True, False):
        group = [i for i in range(len(total)) if valid[i] and math.isfinite(ratio[i]) == finite]
        best = -math.inf
        for position, i in enumerate(sorted(group, key=lambda i: (total[i], -ratio[i], i))):
            if position == 0 or ratio[i] > best:
                kept.append(i)
            best = max(best, ratio[i])
    return kept


@settings(max_examples=300, deadline=None)
@given(points=st.lists(st.tuples(st.integers(1, 12), st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0,
                                                                      float("inf")]),
                                 st.booleans()), min_size=1, max_size=60),
       cuts=st.lists(st.integers(1, 9), min_size=1, max_size=20), piece=st.integers(1, 6))
def test_the_front_kept_chunk_by_chunk_is_the_front(points: list[tuple[int, float, bool]],
                                                    cuts: list[int], piece: int) -> None:
    """Points with many ties, cut into chunks of any sizes, the front kept in pieces of any
    size: the same front as the definition's, and the count of valid points."""
    import numpy as np

    from paramcalc.plan.sweep import Front, Grid

    module = _sweep_module()
    total, ratio, valid = (list(column) for column in zip(*points))
    columns = {"total": np.array(total), "ratio": np.array(ratio), "valid": np.array(valid)}
    saved, module.CHUNK = module.CHUNK, piece
    try:
        front, start, cut = Front(), 0, 0
        while start < len(total):
            size = cuts[cut % len(cuts)]
            front.add(Grid(["d_model"], {k: v[start:start + size] for k, v in columns.items()},
                           ["linear"], start))
            start, cut = start + size, cut + 1
    finally:
        module.CHUNK = saved
    assert front.indices().tolist() == _front_by_definition(total, ratio, valid)
    assert front.valid == sum(valid) and len(front) == len(front.indices())


def test_a_drawing_shows_a_few_thousand_points_with_its_extremes() -> None:
    """A curve of a million points, every third invalid: the drawing goes through at most
    DRAWN of its valid points, evenly spread, its lowest and highest among them."""
    import numpy as np

    from paramcalc.render.planning import DRAWN, drawn

    x = np.arange(1_000_000)
    y = np.sin(x / 5000.0) + 2.0
    y[::3] = np.nan
    y[500_001] = 0.5  # a dip between two drawn points
    xs, ys = drawn(x, y)
    assert len(xs) <= DRAWN + 2 and np.isfinite(ys).all()
    assert 500_001 in xs.tolist() and ys.min() == 0.5 and ys.max() == np.nanmax(y)
    assert (np.diff(xs) > 0).all() and np.diff(xs).max() < 1_000_000 / DRAWN * 2
    few = np.array([np.nan, 1.0, 2.0])
    assert drawn(np.arange(3), few)[0].tolist() == [1, 2]  # all of them when they are few


def test_many_crossovers_are_counted_not_all_listed(cli: Cli) -> None:
    """Two curves that cross at every step: the terminal lists the first 20 and says how
    many more there are; --json lists them all."""
    import numpy as np

    from paramcalc.plan.sweep import Crossover, Curves
    from paramcalc.render import console, terminal_plot

    x = np.arange(1, 101)
    crossings = [Crossover(float(i) + 0.5, 1.5, ("flatten", "linear")) for i in range(1, 100)]
    curves = Curves("d_model", "ratio", x, {"flatten": 1.0 + (x % 2), "linear": 2.0 - (x % 2)},
                    crossings)
    screen = console()
    with screen.capture() as captured:
        screen.print(terminal_plot(curves))
    lines = [line.rstrip() for line in captured.get().splitlines()]
    assert sum("flatten × linear at d_model ≈" in line for line in lines) == 20
    assert lines[-1] == "… and 79 more crossovers (--json lists them all)"


def _grid_sizes(grid: Any) -> dict[str, int]:
    return {key: len(value) for key, value in grid.columns.items()}


def test_the_library_sweep_still_returns_every_column_at_once() -> None:
    """paramcalc.sweep (the Python API) keeps its whole grid; Sweep.at evaluates chosen points
    alone, in the order asked, the same as the whole grid has them."""
    import numpy as np

    from paramcalc.plan.sweep import Sweep

    config = from_name("id4").config
    ranges = [parse_range("d_model=8:64:8"), parse_range("num_blocks=1:3")]
    grid = sweep(config, ranges, ["flatten", "td-dense"])
    assert set(_grid_sizes(grid).values()) == {48}
    picked = Sweep(config, ranges, ["flatten", "td-dense"]).at([47, 0, 30, 5])
    for key, column in picked.columns.items():
        assert np.array_equal(column, grid.columns[key][[47, 0, 30, 5]]), key
