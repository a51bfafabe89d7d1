"""The README as a user reads it: its two set-up commands are the ones CI runs, each whole in
a fresh shell; every console example prints what the README shows; and every other command
it gives (in a sentence or a bash block) runs, as written, whole."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paramcalc.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")


def examples() -> list[tuple[str, str]]:
    """(command line, expected output) for each `$ paramcalc …` in a console block."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", TEXT, re.S):
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


# --- the two set-up commands ----------------------------------------------------------------

def _setup() -> list[str]:
    """The README's first block: the install-and-run line and the test line."""
    return re.search(r"```bash\n(.*?)```", TEXT, re.S).group(1).splitlines()  # type: ignore[union-attr]


def test_the_two_commands_work_in_a_fresh_shell() -> None:
    install, tests = _setup()
    for command in (install, tests):
        steps = [shlex.split(step) for step in command.split("&&")]
        for step in steps:  # nothing relies on an activated environment or on the PATH
            assert step[0] in ("python3", ".venv/bin/pip", ".venv/bin/python",
                               ".venv/bin/paramcalc"), (step, command)
    assert install.startswith("python3 -m venv .venv && ")
    assert tests == ".venv/bin/python -m pytest -q -n auto"


def test_ci_runs_the_readmes_commands_as_written() -> None:
    install, tests = _setup()
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci[-1] == tests  # the test command, character for character
    for package in ("torch==2.13.0", '-e ".[test,plot]"'):  # the same installs, in that order
        assert package in install and any(package in line for line in ci[:-1])
    assert install.index("torch==2.13.0") < install.index('-e ".[test,plot]"')


def test_the_readme_says_how_to_get_the_cpu_build_of_torch() -> None:
    assert ("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
            in TEXT)


# --- every other command, as written ----------------------------------------------------------

def commands() -> list[str]:
    """Each whole `paramcalc …` command in the prose (a code span with an option in it; the
    Commands table's syntax, with its […] and |, is a summary, not a command) and each
    `paramcalc` line of a bash block."""
    prose = re.sub(r"```.*?```", "", TEXT, flags=re.S)
    found = [" ".join(span.split()) for span in re.findall(r"`(paramcalc [^`]*)`", prose)]
    found = [c for c in found if " --" in c and not set(c) & set("…[]|()")]
    for block in re.findall(r"```bash\n(.*?)```", TEXT, re.S)[1:]:
        found += [line for line in block.splitlines() if line.startswith("paramcalc ")]
    return list(dict.fromkeys(found))


#: what the README says such a command ends with, beside its exit code
OUTCOMES = {
    "paramcalc verify --preset id4 --head bottleneck --head-width 2 --max-epochs 60":
        (1, "✗ not memorized after 60 epochs"),
    "paramcalc plot --preset id4 --n-heads 1 --x d_model=241:273:8 --heads flatten,tied-flatten "
    "--terminal": (0, "flatten × tied-flatten at d_model ≈ 257.0"),
}


@pytest.mark.parametrize("command", commands())
def test_every_command_in_the_readme_runs_as_written(command: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    argv = shlex.split(command, comments=True)
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # its paths, from the top folder
    (tmp_path / "docs").mkdir()  # where the plot example writes (not over the shipped figure)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, argv[1:])
    code, words = OUTCOMES.get(command, (0, ""))
    assert result.exit_code == code, (result.output[-500:], result.exception)
    assert words in result.stdout, result.stdout[-500:]


def test_an_example_that_ends_with_a_block_ends_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    found = re.findall(r"`(paramcalc [^`]*)` ends with\s*\n\n```\n(.*?)```", TEXT, re.S)
    assert found
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.chdir(ROOT)
    for command, tail in found:
        result = CliRunner().invoke(app, shlex.split(" ".join(command.split()))[1:])
        assert result.exit_code == 0
        expected = _normal(tail)
        assert _normal(result.stdout)[-len(expected):] == expected, command


def test_the_crossover_sentence_gives_its_whole_command() -> None:
    assert "`paramcalc plot --preset id4 --n-heads 1 --x d_model=241:273:8 --heads " \
           "flatten,tied-flatten --terminal`" in " ".join(TEXT.split())
