"""Whole-process measurements for the benchmarks: wall time and peak resident memory."""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """The median wall time and the largest peak memory over several runs of one command."""

    seconds: float
    peak_mb: float
    stdout: bytes


def paramcalc_command() -> list[str]:
    """The console script beside this interpreter (a venv's bin/), else ``python -m paramcalc``.

    paramcalc's modules are compiled to bytecode first, as installing a wheel does: with
    PYTHONDONTWRITEBYTECODE set (as on some machines) an editable install would otherwise
    compile its source at every start, which torch and transformers, installed from wheels,
    never do.
    """
    spec = importlib.util.find_spec("paramcalc")  # found, not imported: the parent stays small
    if spec is not None and spec.submodule_search_locations:
        subprocess.run([sys.executable, "-m", "compileall", "-q",
                        *spec.submodule_search_locations], check=True)
    script = Path(sys.executable).with_name("paramcalc")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "paramcalc"]


def run_once(command: list[str]) -> tuple[float, float, bytes]:
    """Wall seconds, peak MB (the child's own, from wait4) and stdout of one run."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{err.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024, out


def measure(command: list[str], repeat: int = 7, warmup: int = 1) -> Run:
    """Median wall time and largest peak memory over ``repeat`` runs after ``warmup`` runs."""
    times, peaks, out = [], [], b""
    for i in range(warmup + repeat):
        elapsed, peak, out = run_once(command)
        if i >= warmup:
            times.append(elapsed)
            peaks.append(peak)
    return Run(statistics.median(times), max(peaks), out)


def have(module: str) -> bool:
    """Whether a module can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None
