"""Output a reader can trust, at 60, 80 and 120 columns: the help whole (no option name cut,
no line broken inside a word), headers that say what the command line changed and what the
sequence length is, every table column named, each kind of block named in `check`, and the
heads sweep and plot draw by default."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from conftest import Cli
from paramcalc.cli import app

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = ["60", "80", "120"]
GROUP: typer.core.TyperGroup = typer.main.get_command(app)  # type: ignore[assignment]
COMMANDS = sorted(GROUP.list_commands(None))  # type: ignore[arg-type]
BUILT = {name: GROUP.get_command(None, name) for name in COMMANDS}  # type: ignore[arg-type]


def _flat(text: str) -> str:
    return " ".join(text.split())


# --- the help --------------------------------------------------------------------------------

def _help(*args: str, columns: str) -> str:
    """``paramcalc ARGS --help`` in a terminal of ``columns`` (a process of its own: click's
    test runner pins the help to 80 columns)."""
    result = subprocess.run([sys.executable, "-m", "paramcalc", *args, "--help"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env={**os.environ, "COLUMNS": columns})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= int(columns), max(lines, key=len)
    assert not [line for line in lines[1:] if line.rstrip().endswith("...")]  # click's cut
    return result.stdout


@pytest.mark.mutation_skip
@pytest.mark.parametrize("columns", WIDTHS)
def test_the_command_list_is_whole(columns: str) -> None:
    out = _help(columns=columns)
    listed = _flat(out[out.index("Commands:"):])
    for name in COMMANDS:
        command = BUILT[name]
        summary = command.help.split("\n\n")[0]  # the docstring's first line
        assert "\n" not in summary.strip() and len(summary) <= 50, (name, summary)
        assert f"{name} {summary}" in listed, (name, columns)


@pytest.mark.mutation_skip
@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_and_its_help_is_whole(name: str, columns: str) -> None:
    out = _help(name, columns=columns)
    flat = _flat(out)
    command = BUILT[name]
    for param in command.params:
        for option in (*param.opts, *param.secondary_opts):
            # whole: not followed by more of a name (a cut one would end in "…" or mid-word)
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", out), (option, columns)
        if param.help:
            # the words of the help, in order, wrapped only between words
            assert _flat(param.help) in flat, (param.name, columns)
    for paragraph in command.help.split("\n\n"):  # the description, rewrapped, whole
        assert _flat(paragraph) in flat, (paragraph[:40], columns)


# --- headers -------------------------------------------------------------------------------

@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("args", [
    ["count"], ["ratio"], ["derive"], ["compare"], ["flops"], ["check"], ["summary"],
    ["sweep", "--vary", "num_blocks=16:32:16"], ["solve", "--for", "num_blocks", "--total", "7G"],
], ids=lambda a: a[0])
def test_the_header_says_what_the_command_line_changed(args: list[str], columns: str, cli: Cli,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    out = cli(*args, "--preset", "llama-3.1-8b", "--n-kv-heads", "4").stdout
    assert _flat(out).startswith("llama-3.1-8b (n_kv_heads 4)"), out[:200]


def test_the_header_lists_every_change_and_only_changes(cli: Cli) -> None:
    out = cli("count", "--preset", "id4", "--d-model", "32", "--head", "td-dense",
              "--num-blocks", "1", "--seq-length", "2048").stdout  # num_blocks is id4's own
    assert out.startswith("id4 (seq_length 2,048, d_model 32, head td-dense) · 1 seed block")
    assert cli("count", "--preset", "id4").stdout.startswith("id4 · 1 seed block")
    obj = cli.json("count", "--preset", "id4", "--d-model", "32")
    assert obj["name"] == "id4" and obj["config"]["d_model"] == 32  # JSON: the name and the config


@pytest.mark.parametrize("columns", WIDTHS)
def test_flops_says_the_context_it_runs_at(columns: str, cli: Cli,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    head = _flat(cli("flops", "--preset", "llama-3.1-8b").stdout)
    assert head.startswith("llama-3.1-8b: FLOPs over one sequence of 131,072 tokens (batch 1), "
                           "the model's full context window; --seq-length N sets a training "
                           "length (--context N the KV cache's)")
    head = _flat(cli("flops", "--preset", "llama-3.1-8b", "--seq-length", "8192").stdout)
    assert head.startswith("llama-3.1-8b (seq_length 8,192): FLOPs over one sequence of 8,192 "
                           "tokens (batch 1) ")
    head = _flat(cli("flops", "--hf-config", str(ROOT / "examples" / "llama-3.2-1b")).stdout)
    assert "131,072 tokens (batch 1), the model's full context window; --seq-length N" in head
    first = cli("flops", "--preset", "id4").stdout.splitlines()[0]
    assert first.rstrip() == "id4: FLOPs over one sequence of 32 tokens (batch 1)"  # its window


# --- tables -------------------------------------------------------------------------------

def _headings(out: str) -> list[list[str]]:
    """The header row of every box-drawn table: ┃ a ┃ b ┃."""
    return [[cell.strip() for cell in line.split("┃")[1:-1]]
            for line in out.splitlines() if line.startswith("┃")]


@pytest.mark.parametrize("args", [
    ["flops", "--preset", "llama-3.1-8b", "--tokens", "15T", "--gpu", "h100"],
    ["count", "--preset", "id4", "--memory"], ["ratio", "--preset", "id4"],
    ["check", "--preset", "id4"], ["derive", "--preset", "id4"],
    ["verify", "--preset", "id4", "--samples", "8", "--max-epochs", "1", "--quiet"],
], ids=lambda a: a[0])
def test_every_table_column_has_a_heading(args: list[str], cli: Cli) -> None:
    result = cli(*args, code=1 if args[0] == "verify" else 0)
    rows = _headings(result.stdout)
    assert rows and all(all(rows_cell for rows_cell in row) for row in rows), rows


def test_the_training_run_and_memory_tables_name_their_columns(cli: Cli) -> None:
    rows = _headings(cli("flops", "--preset", "id4").stdout)
    assert ["rule", "FLOPs", "vs exact"] in rows
    assert ["quantity", "value"] in rows
    assert ["held", "bytes", "size"] in rows


DEEPSEEK_V2_LITE = {  # DeepSeek-V2-Lite's published config.json, the keys that set its size
    "model_type": "deepseek_v2", "vocab_size": 102400, "hidden_size": 2048,
    "intermediate_size": 10944, "moe_intermediate_size": 1408, "num_hidden_layers": 27,
    "num_attention_heads": 16, "num_key_value_heads": 16, "n_shared_experts": 2,
    "n_routed_experts": 64, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
    "moe_layer_freq": 1, "kv_lora_rank": 512, "q_lora_rank": None, "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128, "v_head_dim": 128, "max_position_embeddings": 163840,
    "tie_word_embeddings": False,
}


def test_check_names_each_kind_of_block(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(DEEPSEEK_V2_LITE))
    out = cli("check", "--hf-config", str(path)).stdout
    components = [line.split("│")[1].strip() for line in out.splitlines()
                  if line.startswith("│")]
    # one dense block first, then 26 of experts: each kind its own row, by name
    assert components[2:4] == ["per_block[dense]", "per_block[moe]"], components


# --- the heads sweep and plot draw ------------------------------------------------------------

EVERY = ["flatten", "bottleneck", "td-dense", "conv", "rnn", "tied-flatten", "tied", "linear"]


def _plot_heads(cli: Cli, *args: str) -> list[str]:
    return list(cli.json("plot", "--y", "total", *args)["curves"])


def _sweep_heads(cli: Cli, *args: str) -> list[str]:
    return list(cli.json("sweep", *args)["heads"])


@pytest.mark.parametrize("heads", [_plot_heads, _sweep_heads], ids=["plot", "sweep"])
def test_todays_models_draw_their_own_head(heads: Any, cli: Cli) -> None:
    flag = "--x" if heads is _plot_heads else "--vary"
    assert heads(cli, "-p", "mixtral-8x7b", flag, "num_experts=2:16:2") == ["linear"]
    assert heads(cli, "-p", "gpt2", flag, "num_blocks=6:12:6") == ["tied"]
    assert heads(cli, "-p", "llama-3.2-1b", "--seq-length", "64", flag, "num_blocks=1:2",
                 "--heads", "all") == EVERY


def test_plot_draws_every_head_for_the_logs_models(cli: Cli) -> None:
    assert _plot_heads(cli, "-p", "id4", "--x", "d_model=16:32:16") == EVERY
    assert _plot_heads(cli, "-p", "id6", "--x", "d_model=16:32:16", "--heads",
                       "td-dense") == ["td-dense"]


def test_sweep_keeps_to_the_configurations_own_head(cli: Cli) -> None:
    """Each head multiplies a sweep's points: it sweeps its own unless told (all: every one)."""
    assert _sweep_heads(cli, "-p", "id4", "--vary", "d_model=16:32:16") == ["flatten"]
    assert _sweep_heads(cli, "-p", "id4", "--vary", "d_model=16:32:16", "--heads",
                        "all") == EVERY
