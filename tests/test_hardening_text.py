"""User text is text, and what the environment hands paramcalc ends in one line: a model name
holding rich markup or control characters, an output that is full or closed early, an absurd
environment variable, an edited checkpoint, a config.json transformers refuses, Ctrl-C at any
moment, and numbers in messages written one way."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]

#: a Llama small enough that check, summary and verify build it in a moment
TINY = {"model_type": "llama", "vocab_size": 257, "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 32,
        "max_position_embeddings": 16}

#: every command that prints a model's name, with what it needs beside the model
COMMANDS = {
    "count": ["count"],
    "ratio": ["ratio"],
    "derive": ["derive"],
    "flops": ["flops"],
    "compare": ["compare"],
    "summary": ["summary"],
    "check": ["check"],
    "sweep": ["sweep", "--vary", "num_blocks=1:3"],
    "solve": ["solve", "--for", "num_blocks", "--total", "100k"],
    "verify": ["verify", "--samples", "8", "--max-epochs", "1", "--length", "1", "--quiet"],
}


def _config(tmp_path: Path, name: str, **keys: Any) -> Path:
    """A folder holding a config.json whose ``_name_or_path`` is ``name``."""
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**TINY, "_name_or_path": name, **keys}))
    return folder


# --- rich markup in a name is printed as it is ----------------------------------------------

@pytest.mark.parametrize("name", ["[/bold]", "[/]", "[/link]", "[link=http://x]a[/link]",
                                  "[bold red]loud"], ids=str)
@pytest.mark.parametrize("command", list(COMMANDS), ids=str)
def test_markup_in_a_name_is_printed_literally(command: str, name: str, tmp_path: Path,
                                               cli: Cli) -> None:
    folder = _config(tmp_path, name)
    result = cli(*COMMANDS[command], "--hf-config", str(folder),
                 code=1 if command == "verify" else 0)  # 1: one epoch memorizes nothing
    assert name in result.stdout, result.stdout[:300]


def test_plot_in_the_terminal_takes_a_markup_name(tmp_path: Path, cli: Cli) -> None:
    out = cli("plot", "--hf-config", str(_config(tmp_path, "[/]")), "--x", "num_blocks=1:4",
              "--terminal").stdout
    assert "num_blocks" in out


# --- control characters in a name or a path are escaped ------------------------------------

EVIL = "evil\x1b[31mred\nline\rcr\x9bz\u202e!\x07"
SHOWN = "evil\\u001b[31mred\\u000aline\\u000dcr\\u009bz\\u202e!\\u0007"


@pytest.mark.parametrize("command", list(COMMANDS), ids=str)
def test_control_characters_in_a_name_never_reach_the_terminal(command: str, tmp_path: Path,
                                                               cli: Cli) -> None:
    result = cli(*COMMANDS[command], "--hf-config", str(_config(tmp_path, EVIL)),
                 code=1 if command == "verify" else 0)
    for raw in ("\x1b", "\r", "\x9b", "\u202e", "\x07"):
        assert raw not in result.stdout + result.stderr
    # the header may wrap: the name is whole once the lines are joined again
    assert SHOWN in "".join(line.strip() for line in result.stdout.splitlines())


def test_json_keeps_the_name_exactly_and_escapes_what_a_terminal_would_act_on(
        tmp_path: Path, cli: Cli) -> None:
    result = cli("count", "--hf-config", str(_config(tmp_path, EVIL)), "--json")
    assert json.loads(result.stdout)["name"] == EVIL
    for raw in ("\x1b", "\r", "\x9b", "\u202e", "\x07"):
        assert raw not in result.stdout


def test_a_path_with_control_characters_is_escaped_in_the_error(tmp_path: Path,
                                                                cli: Cli) -> None:
    path = tmp_path / "bad\x1b[2Jname\nsecond.toml"
    path.write_text("x = [\n")
    line = cli.error("count", "--preset-file", str(path))
    assert "bad\\u001b[2Jname\\u000asecond.toml" in line and "malformed TOML" in line


@pytest.mark.parametrize("args", [["count", "--d-mod\x1b[2Jel", "8"],
                                  ["count", "-p", "id4", "--block", "x\x1b[2J\ny"],
                                  ["compare", "-p", "id4", "--heads", "flatten,x\x1b[2J"]],
                         ids=["unknown option", "bad choice", "bad head"])
def test_usage_errors_escape_what_the_user_typed(args: list[str], cli: Cli) -> None:
    line = cli.error(*args)
    assert "\x1b" not in line and ("\\u001b[2J" in line or "\\x1b[2J" in line), line


# --- an output full or closed ----------------------------------------------------------------

def _closed_pipe_run(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``paramcalc ARGS | head -c 0``, without the race: the pipe's reading end is closed
    before paramcalc starts, so its first write finds no reader."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "paramcalc", *args], stdout=write,
                              stderr=subprocess.PIPE, cwd=ROOT, timeout=120)
    finally:
        os.close(write)


@pytest.mark.mutation_skip
@pytest.mark.parametrize("args", [["count", "-p", "id4"], ["count", "-p", "id4", "--json"],
                                  ["--help"], ["flops", "--help"], ["presets"],
                                  ["sweep", "-p", "id6", "--vary", "d_model=16:256:16"]],
                         ids=" ".join)
def test_a_reader_that_went_away_ends_quietly_with_141(args: list[str]) -> None:
    result = _closed_pipe_run(*args)
    assert result.returncode == 141, result.stderr  # 128 + SIGPIPE, as the shell shows it
    assert result.stderr == b""


@pytest.mark.mutation_skip
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["count", "-p", "deepseek-v3"], ["count", "-p", "id4", "--json"],
                                  ["--help"], ["presets"]], ids=" ".join)
def test_a_full_output_is_one_line_and_exit_2(args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        result = subprocess.run([sys.executable, "-m", "paramcalc", *args], stdout=full,
                                stderr=subprocess.PIPE, cwd=ROOT, timeout=120, text=True)
    assert result.returncode == 2
    assert result.stderr == "Error: cannot write to standard output: No space left on device\n"


@pytest.mark.mutation_skip
def test_a_closed_stdout_is_one_line_and_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "paramcalc", "count", "-p", "id4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                            timeout=120, text=True, preexec_fn=lambda: os.close(1))
    assert result.returncode == 2
    assert result.stderr == "Error: cannot write to standard output: it is closed\n"


# --- what the environment and other programs hand back ---------------------------------------

@pytest.mark.parametrize("value", ["-1", "0", "1e400", "abc", str(10**100), "nan", "5 MB",
                                   "2097153", "٣"])
def test_an_absurd_corpus_bound_is_one_line(value: str, cli: Cli,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAMCALC_MAX_CORPUS_MB", value)
    line = cli.error("verify", "-p", "id4", "--samples", "8", "--max-epochs", "1", "--quiet")
    assert line.startswith("Error: PARAMCALC_MAX_CORPUS_MB must be a whole number of MiB from "
                           "1 to 1,048,576"), line


def test_a_sane_corpus_bound_is_used(cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
    corpus = tmp_path / "big.txt"
    corpus.write_bytes(b"abcdefgh" * (2**20 // 8 + 1))  # just over 1 MiB
    monkeypatch.setenv("PARAMCALC_MAX_CORPUS_MB", "1")
    assert "PARAMCALC_MAX_CORPUS_MB" in cli.error("verify", "-p", "id4", "--data", str(corpus),
                                                  "--quiet")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of id4 after one epoch."""
    path = tmp_path_factory.mktemp("ckpt") / "id4.pt"
    Cli()("verify", "-p", "id4", "--samples", "8", "--max-epochs", "1", "--length", "1",
          "--quiet", "--save", str(path), code=1)
    return path


@pytest.mark.parametrize("edit, words", [
    ({"d_model": 10**400}, "d_model must be at most 2**40"),
    ({"d_model": float("nan")}, "d_model must be an integer"),
    ({"num_blocks": -3}, "num_blocks must be a positive integer"),
    ({"head": "[/bold]\x1b"}, "unknown head '[/bold]\\x1b'"),
    ({"vocab_size": True}, "vocab_size must be an integer"),
    ({"seq_length": 10**13}, "seq_length must be at most"),
], ids=["d_model 10**400", "nan", "negative", "markup head", "a boolean", "long window"])
def test_an_edited_checkpoint_is_one_line(edit: dict[str, Any], words: str, checkpoint: Path,
                                          tmp_path: Path, cli: Cli) -> None:
    import torch

    payload = torch.load(checkpoint, weights_only=True)
    payload["config"] = {**payload["config"], **edit}
    edited = tmp_path / "edited.pt"
    torch.save(payload, edited)
    assert words in cli.error("verify", "--load", str(edited), "--quiet")


@pytest.mark.parametrize("keys", [{"pad_token_id": 500}, {"intermediate_size": None}],
                         ids=["pad id past the vocabulary", "a null width"])
def test_a_config_transformers_refuses_is_one_line(keys: dict[str, Any], tmp_path: Path,
                                                   cli: Cli) -> None:
    folder = _config(tmp_path, "refused", **keys)
    line = cli.error("check", "--hf-config", str(folder), "--against", "transformers")
    if "intermediate_size" in keys:  # paramcalc's own reading refuses it first, by name
        assert line == (f"Error: {folder / 'config.json'}: intermediate_size must be a positive "
                        "integer, got None"), line
        return
    assert line.startswith(f"Error: transformers cannot build {folder / 'config.json'}: "), line


@pytest.mark.parametrize("keys", [
    {"model_type": "mixtral", "num_local_experts": 0, "num_experts_per_tok": 2},
    {"model_type": "deepseek_v3", "n_routed_experts": 0, "num_experts_per_tok": 2,
     "moe_intermediate_size": 16, "kv_lora_rank": 8, "q_lora_rank": 8, "qk_rope_head_dim": 4,
     "qk_nope_head_dim": 4, "v_head_dim": 4, "first_k_dense_replace": 1},
], ids=["mixtral", "deepseek_v3"])
def test_zero_experts_against_transformers_never_end_in_a_traceback(keys: dict[str, Any],
                                                                    tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from paramcalc.cli import app

    folder = _config(tmp_path, "no experts", **keys)
    result = CliRunner().invoke(app, ["check", "--hf-config", str(folder), "--against",
                                      "transformers"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 2:  # refused: one line
        assert len(result.stderr.strip().splitlines()) == 1
    else:  # built and compared, row by row
        assert result.exit_code in (0, 1) and "formula vs. torch module" in " ".join(
            result.stdout.split())


# --- Ctrl-C at any moment --------------------------------------------------------------------

#: paramcalc run as ``python -m paramcalc`` does, after one import has been made to stop and
#: say so: the test interrupts it then, at a moment it knows, never after a clock
_STOP_AT_IMPORT = """
import runpy, signal, sys

class StopAt:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            print("importing", name, file=sys.stderr, flush=True)
            signal.pause()  # until the test's SIGINT
        return None

sys.meta_path.insert(0, StopAt())
sys.argv = ["paramcalc", *{args!r}]
runpy.run_module("paramcalc", run_name="__main__", alter_sys=True)
"""


@pytest.mark.mutation_skip
@pytest.mark.parametrize("module, args", [
    ("typer", ["count", "-p", "id4"]),        # start-up: the command line library
    ("sympy", ["count", "-p", "id4"]),        # start-up: the formulas
    ("rich.table", ["count", "-p", "id4"]),   # the command's body, drawing its table
    ("torch", ["check", "-p", "id4"]),        # the command's body, building the model
    ("paramcalc.plan", ["sweep", "-p", "id6", "--vary", "d_model=16:64:16"]),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(module: str, args: list[str]) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _STOP_AT_IMPORT.format(module=module,
                                                                          args=args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None
    assert proc.stderr.readline() == f"importing {module}\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, err, out) == (130, "Aborted.\n", "")


# --- numbers in messages are written one way -------------------------------------------------

@pytest.mark.parametrize("args", [
    ["verify", "-p", "id4", "--seq-length", "131072", "--quiet"],
    ["verify", "-p", "id4", "--samples", "100000000", "--quiet"],
    ["verify", "-p", "id4", "--length", "1000000000", "--quiet"],
    ["verify", "-p", "id4", "--max-epochs", "5000000", "--quiet"],
    ["verify", "-p", "id4", "--vocab-size", "100", "--quiet"],
], ids=lambda a: " ".join(a[3:5]))
def test_every_number_in_a_message_has_separators(args: list[str], cli: Cli) -> None:
    line = cli.error(*args)
    bare = re.findall(r"(?<![\w.,*])\d{4,}(?![\w.,])", line)
    assert not bare, (bare, line)
