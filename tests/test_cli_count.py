"""The counting commands as a user types them: count, ratio, derive, compare, presets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Cli

PARAM_KEYS = {"embedding", "positional", "blocks", "per_block", "final_norm", "head", "total",
              "active"}


def test_count_table_shows_the_logs_id4_figures(cli: Cli) -> None:
    out = cli("count", "--preset", "id4").stdout
    for figure in ("4,112", "1,152", "131,841", "137,105", "96.16%"):
        assert figure in out
    assert "S·V·d + V" in out  # the head's exact formula


def test_count_json_contract(cli: Cli) -> None:
    obj = cli.json("count", "--preset", "id6")
    assert set(obj) >= {"name", "config", "head", "params", "ratio"}
    assert obj["name"] == "id6" and obj["head"] == "tied-flatten"
    assert set(obj["params"]) == PARAM_KEYS
    assert obj["params"]["total"] == 215_168
    assert all(isinstance(v, int) for v in obj["params"].values())
    assert set(obj["ratio"]) >= {"exact", "approx", "formula", "approx_formula"}
    assert obj["ratio"]["formula"] == "4*n*(d + 2)/(S*d + 1)"
    assert obj["ratio"]["approx_formula"] == "4*n/S"
    assert obj["config"]["d_model"] == 64


def test_ratio_of_gpt2_is_infinite_and_shows_the_logs_reading(cli: Cli) -> None:
    out = cli("ratio", "--preset", "gpt2").stdout
    assert "∞" in out and "owns no parameters" in out
    assert "tied-flatten" in out and "603,980,544" in out  # S·d² + d at GPT-2's sizes
    obj = cli.json("ratio", "--preset", "gpt2")
    assert obj["ratio"] is None and "owns no parameters" in obj["ratio_note"]
    assert obj["log_reading"]["head"] == "tied-flatten"
    assert obj["log_reading"]["params"]["head"] == 1024 * 768 * 768 + 768


def test_ratio_with_overrides(cli: Cli) -> None:
    obj = cli.json("ratio", "-p", "id4", "--d-model", "128", "--head", "td-dense",
                   "--head-width", "8")
    assert obj["config"]["head_width"] == 8
    # td-dense: Dense(d→k) + Dense(S·k→V)
    assert obj["params"]["head"] == (128 * 8 + 8) + (32 * 8 * 257 + 257)


def test_ratio_text_shows_both_formulas(cli: Cli) -> None:
    out = cli("ratio", "--preset", "id4").stdout
    assert "4·d·n·(d + 2)/(V·(S·d + 1))" in out
    assert "4·d·n/(S·V)" in out
    assert "1/114.4" in out and "1/128.5" in out


def test_derive_json_and_latex(cli: Cli) -> None:
    obj = cli.json("derive", "--preset", "id4")
    ratio = obj["derivatives"]["ratio"]
    assert set(ratio) == {"vocab_size", "seq_length", "d_model", "num_blocks"}
    assert set(ratio["num_blocks"]) >= {"formula", "value", "elasticity", "latex"}
    assert ratio["seq_length"]["latex"].startswith("- \\frac")
    assert ratio["num_blocks"]["elasticity"] == pytest.approx(1.0)
    assert obj["derivatives"]["total"]["d_model"]["approx_formula"] == "S*V + 8*d*n"
    latex = cli("derive", "--preset", "id4", "--wrt", "d", "--latex").stdout
    assert "\\frac" in latex
    only = cli.json("derive", "--preset", "id4", "--wrt", "seq_length")
    assert list(only["derivatives"]["ratio"]) == ["seq_length"]


def test_compare_every_head_on_one_backbone(cli: Cli) -> None:
    obj = cli.json("compare", "--preset", "id4")
    heads = [h["head"] for h in obj["heads"]]
    assert heads == ["flatten", "bottleneck", "td-dense", "conv", "rnn", "tied-flatten", "tied",
                     "linear"]
    by_head = {h["head"]: h for h in obj["heads"]}
    assert by_head["flatten"]["params"]["total"] == 137_105
    assert by_head["tied"]["ratio"] is None
    assert by_head["flatten"]["ratio_elasticities"]["vocab_size"] == pytest.approx(-1.0)
    out = cli("compare", "--preset", "id4", "--heads", "flatten,td-dense").stdout
    assert "flatten" in out and "td-dense" in out and "bottleneck" not in out


def test_presets_lists_totals_and_sources(cli: Cli) -> None:
    obj = cli.json("presets")
    totals = {p["name"]: p["total"] for p in obj["presets"]}
    assert totals["gpt2-xl"] == 1_557_611_200 and totals["id4"] == 137_105
    out = cli("presets").stdout
    assert "1,637,964,550" in out and "Radford" in out


@pytest.mark.parametrize("args, message", [
    (["count", "--preset", "gpt3"], "Error: unknown preset 'gpt3'; known presets: ctrl, "
                                    "deepseek-v3, gemma-2-2b, gemma-3-27b, gpt-neox-20b, gpt-oss-120b, "
                                    "gpt-oss-20b, gpt2, gpt2-large, gpt2-medium, gpt2-xl, id4, "
                                    "id6, llama-3.1-70b, llama-3.1-8b, llama-3.2-1b, "
                                    "mistral-7b, mixtral-8x7b, olmo-2-7b, olmoe-1b-7b, "
                                    "phi-3-mini, phimoe-3.5, qwen2.5-7b, qwen3-30b-a3b"),
    (["count", "-p", "id4", "--d-model", "0"], "Error: d_model must be a positive integer, got 0"),
    (["count", "-p", "id4", "--num-blocks", "-1"],
     "Error: num_blocks must be a positive integer, got -1"),
    (["count", "-p", "id4", "--d-model", "1.5"], "Error: Invalid value for '--d-model'"),
    (["count", "-p", "id4", "--n-heads", "3"], "Error: n_heads (3) must divide d_model (16)"),
    (["count", "-p", "id4", "--head", "td-dense", "--head-width", "32"],
     "Error: head_width (32) must not exceed the width the td-dense head reduces, d_model = 16"),
    (["count", "-p", "id4", "--head", "conv", "--kernel-size", "40"],
     "Error: kernel_size (40) must not exceed seq_length (32)"),
    (["count", "-p", "id4", "--head", "softmax"], "Error: Invalid value for '--head'"),
    (["compare", "-p", "id4", "--heads", "flatten,moe"], "Error: unknown head 'moe' in --heads"),
    (["derive", "-p", "id4", "--wrt", "width"], "Error: unknown hyperparameter 'width' for --wrt"),
    (["count", "--preset-file", "no/such.toml"], "Error: preset file 'no/such.toml' does not exist"),
    (["count"], "Error: no model given: use --preset NAME (ctrl, deepseek-v3, gemma-2-2b, gemma-3-27b, "
                "gpt-neox-20b, gpt-oss-120b, gpt-oss-20b, gpt2, gpt2-large, gpt2-medium, "
                "gpt2-xl, id4, id6, llama-3.1-70b, llama-3.1-8b, llama-3.2-1b, mistral-7b, mixtral-8x7b, olmo-2-7b, olmoe-1b-7b, phi-3-mini, "
                "phimoe-3.5, qwen2.5-7b, qwen3-30b-a3b), --preset-file PATH, --hf-config "
                "config.json, "
                "or --vocab-size"),
    (["count", "--d-model", "16"], "Error: command line: missing vocab_size, seq_length, "
                                   "num_blocks"),
    (["count", "-p", "id4", "--nope"], "Error: No such option: --nope"),
])
def test_bad_input_is_one_line_and_exit_2(cli: Cli, args: list[str], message: str) -> None:
    assert cli.error(*args).startswith(message)


def test_head_choice_error_lists_the_heads(cli: Cli) -> None:
    line = cli.error("count", "-p", "id4", "--head", "softmax")
    assert "td-dense" in line and "tied-flatten" in line


def test_bad_toml_file_on_the_command_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("vocab_size = 257\nd_model = [\n")
    assert cli.error("count", "--preset-file", str(path)).startswith(
        f"Error: {path}: malformed TOML:")
    path.write_text("vocab_size = 257\nseq_length = 8\nd_model = 8\nnum_blocks = 1\nheads = 2\n")
    assert "unknown key 'heads'" in cli.error("count", "--preset-file", str(path))


def test_no_user_string_is_evaluated(cli: Cli) -> None:
    line = cli.error("derive", "-p", "id4", "--wrt", "__import__('os').system('echo hi')")
    assert "unknown hyperparameter" in line


@pytest.mark.parametrize("args", [
    ["count", "--preset", "gpt2-xl", "--memory"], ["ratio", "--preset", "gpt2-xl"],
    ["derive", "--preset", "ctrl"], ["compare", "--preset", "gpt2-xl"], ["presets"],
    ["solve", "--preset", "id6", "--for", "num_blocks", "--ratio", "1"],
], ids=lambda args: args[0])
@pytest.mark.mutation_skip
def test_counting_commands_never_import_torch(args: list[str]) -> None:
    code = ("import sys; from paramcalc.cli import app; from typer.testing import CliRunner; "
            f"r = CliRunner().invoke(app, {args + ['--json']!r}); "
            "assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.mutation_skip
def test_python_dash_m_and_help(cli: Cli) -> None:
    out = subprocess.run([sys.executable, "-m", "paramcalc", "count", "-p", "id4", "--json"],
                         capture_output=True, text=True, check=True)
    assert '"total": 137105' in out.stdout
    help_text = cli("count", "--help").stdout
    assert "--preset" in help_text and "--head-width" in help_text


@pytest.mark.parametrize("args", [["compare", "--preset", "gpt2"], ["count", "--preset", "gpt2-xl",
                                  "--memory"], ["derive", "--preset", "ctrl"], ["presets"]],
                         ids=lambda args: args[0])
def test_no_number_is_cut_short_at_80_columns(cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                              args: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = cli(*args).stdout
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80


COMMANDS = ["count", "ratio", "derive", "compare", "presets", "check", "summary", "verify",
            "sweep", "plot", "solve", "flops", "fit"]


@pytest.mark.parametrize("args", [
    *([name, "--help"] for name in COMMANDS),
    ["count", "--preset", "id4"], ["ratio", "--preset", "gpt2", "--json"],
    ["count", "--d-model", "x"], ["count", "--bogus"], ["count"], ["presets"],
    ["derive", "--preset", "id6", "--json"], ["flops", "--preset", "gpt2", "--json"],
    ["cont", "--preset", "id4"], ["--version"], ["--help"], [],
], ids=lambda args: " ".join(args) or "nothing")
@pytest.mark.mutation_skip
def test_a_run_builds_only_the_command_it_names(args: list[str]) -> None:
    """click's lazy-loading group: a run imports the module of the command it names and makes
    that command's options alone; --help lists every command (and so builds each)."""
    code = ("import sys; from typer.testing import CliRunner; from paramcalc import cli; "
            "built = []; make = cli._built; "
            "cli._built = lambda name: (built.append(name), make(name))[1]; "
            f"r = CliRunner().invoke(cli.app, {args!r}); print(sorted(built)); "
            "print(sorted(m.rsplit('.')[-1] for m in sys.modules "
            "if m.startswith('paramcalc.cli.')))")
    built, modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.splitlines()
    module_of = {"flops": "computing", "verify": "training", "sweep": "planning",
                 "plot": "planning", "solve": "planning", "fit": "fit"}
    if args and args[0] in COMMANDS:
        assert built == repr([args[0]])
        assert modules == repr([module_of.get(args[0], "counting")])
    elif args in ([], ["--help"]):  # the help lists every command with its first line
        assert built == repr(sorted(COMMANDS))
    else:  # --version, and a typo (its suggestions come from the names alone)
        assert (built, modules) == ("[]", "[]")


def test_every_command_is_in_the_list_above() -> None:
    from typer.main import get_command

    from paramcalc.cli import app

    group = get_command(app)
    assert sorted(group.list_commands(None)) == sorted(COMMANDS)  # type: ignore[attr-defined]
    assert all(group.get_command(None, name) is not None  # type: ignore[attr-defined]
               for name in COMMANDS)


def test_a_typo_is_answered_with_the_nearest_commands(cli: Cli) -> None:
    result = cli("cont", "--preset", "id4", code=2)
    assert result.stderr.strip() == "Error: No such command 'cont'. Did you mean 'count'?"
