"""Peak memory of `paramcalc sweep` and `paramcalc plot` at the cap, 20,000,000 points, for
every output: the table, CSV, JSON, the terminal plot, plot JSON and a PNG. Each command runs
in a child process; its peak resident memory is the kernel's (wait4's ru_maxrss), and its
output is counted as it streams, never held.

The sweeps use id4 with one attention head, so that every point is valid and every point is
on the Pareto front (total and ratio both grow with d_model): the largest front there can be.
One sweep has two head designs whose fronts interleave, so that the front is rebuilt as the
chunks come.

Run: python benchmarks/bench_sweep_memory.py [--points 20000000] [--only sweep-json,...]
Target: every output's peak at most BOUND_MB (README.md, "Errors, bounds and exit codes").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import paramcalc_command  # noqa: E402

#: the peak memory README.md states for any sweep or plot output at the cap, in MiB
BOUND_MB = 1024
#: the cap: the most points a sweep or a plot evaluates (paramcalc.plan.MAX_POINTS)
CAP = 20_000_000
MODEL = ["-p", "id4", "--n-heads", "1"]


def cases(points: int, folder: Path) -> dict[str, list[str]]:
    """Each output at ``points`` points (the two-head sweep and the eight-head plots split
    them among their heads)."""
    one = f"d_model=1:{points}"
    two = f"d_model=1:{points // 2}"
    eight = f"d_model=1:{points // 8}"
    return {
        "sweep-table": ["sweep", *MODEL, "--vary", one],
        "sweep-table-2-heads": ["sweep", *MODEL, "--vary", two, "--heads", "flatten,td-dense"],
        "sweep-csv": ["sweep", *MODEL, "--vary", one, "--csv", str(folder / "points.csv")],
        "sweep-json": ["sweep", *MODEL, "--vary", one, "--json"],
        "plot-terminal": ["plot", *MODEL, "--x", eight, "--terminal"],
        "plot-json": ["plot", *MODEL, "--x", one, "--heads", "flatten", "--json"],
        "plot-json-8-heads": ["plot", *MODEL, "--x", eight, "--json"],
        "plot-png": ["plot", *MODEL, "--x", eight, "--out", str(folder / "plot.png")],
    }


def measure(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak MiB (the child's own) and bytes written to stdout, read as they
    come in blocks (a sweep's JSON at the cap is gigabytes)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err,
                                env={**os.environ, "COLUMNS": "100"})
        assert proc.stdout is not None
        written = 0
        while block := proc.stdout.read(2**20):
            written += len(block)
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code:
            err.seek(0)
            sys.exit(f"{' '.join(command)} failed ({code}):\n{err.read().decode()[-2000:]}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=CAP)
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    paramcalc = paramcalc_command()
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        chosen = cases(args.points, Path(folder))
        names = [n for n in args.only.split(",") if n] or list(chosen)
        print(f"peak memory at {args.points:,} points; stated bound {BOUND_MB:,} MiB")
        for name in names:
            seconds, peak, written = measure([*paramcalc, *chosen[name]])
            files = sum(p.stat().st_size for p in Path(folder).iterdir())
            for p in Path(folder).iterdir():
                p.unlink()
            worst = max(worst, peak)
            print(f"{name:20} peak {peak:8,.0f} MiB = {peak / BOUND_MB:5.2f} of the bound   "
                  f"{seconds:7.1f} s   stdout {written / 2**20:9,.1f} MiB   "
                  f"files {files / 2**20:9,.1f} MiB", flush=True)
    print(f"worst peak {worst:,.0f} MiB = {worst / BOUND_MB:.2f} of the stated {BOUND_MB:,} MiB: "
          f"{'met' if worst <= BOUND_MB else 'NOT met'}")


if __name__ == "__main__":
    main()
