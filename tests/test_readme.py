"""The README's console examples, run as written: their printed output must match the README."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paramcalc.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def examples() -> list[tuple[str, str]]:
    """(command line, expected output) for each `$ paramcalc …` in a console block."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            found.append((command, output))
    return found


def _normal(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


@pytest.mark.parametrize("command, expected", examples(), ids=[c for c, _ in examples()])
def test_readme_example(command: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = shlex.split(command)
    assert argv[0] == "paramcalc"
    monkeypatch.setenv("COLUMNS", "100")
    result = CliRunner().invoke(app, argv[1:])
    if "verify" in argv:  # times and the sampled bytes depend on the machine: check the shape
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("✓ memorized 432 windows of the default corpus in ")
        return
    output = result.stdout + result.stderr
    assert _normal(output) == _normal(expected)
