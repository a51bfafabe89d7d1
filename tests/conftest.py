"""Shared fixtures: a CLI runner pinned to a fixed width and no colour."""

from __future__ import annotations

import json
import os
from typing import Any

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch thread per worker: two workers each spinning two OpenMP threads on two cores
    # made the training tests 14 times slower (set before any test imports torch)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from typer.testing import CliRunner

from paramcalc.cli import app


@pytest.fixture(autouse=True)
def _fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")


class Cli:
    """Runs ``paramcalc ARGS`` in-process, as a user would type it."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> Any:
        result = self.runner.invoke(app, list(args))
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr,
                                          result.exception)
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        result = self(*args, "--json", code=code)
        return json.loads(result.stdout)

    def error(self, *args: str, code: int = 2) -> str:
        """The one line a bad input gets on stderr."""
        result = self(*args, code=code)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: "), lines
        assert "Traceback" not in result.stdout + result.stderr
        return lines[0]


@pytest.fixture
def cli() -> Cli:
    return Cli()
