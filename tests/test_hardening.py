"""Abuse: bad input, huge sizes and odd files get one clear line, never a hang, a traceback or a
lost file. One test (or more) for each class of failure the hardening issue names."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Cli

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.mutation_skip  # runs paramcalc in subprocesses


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``paramcalc ARGS`` as a separate process (for encodings, argv bytes and signals)."""
    return subprocess.run([sys.executable, "-m", "paramcalc", *args], capture_output=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)


# --- 1. refuse before spending ------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("flag", ["--preset-file", "--data"])
def test_a_fifo_input_is_refused_at_once(flag: str, tmp_path: Path) -> None:
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    args = [flag, str(fifo)] if flag == "--preset-file" else ["verify", "--quiet", flag, str(fifo)]
    result = run(*(["count", *args] if flag == "--preset-file" else args), timeout=30)
    assert result.returncode == 2 and b"is not a regular file" in result.stderr


def test_device_inputs_are_refused(cli: Cli) -> None:
    assert "is not a regular file" in cli.error("count", "--preset-file", "/dev/zero")
    assert "is not a regular file" in cli.error("verify", "--data", "/dev/urandom")


def test_deeply_nested_toml_is_one_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "malformed TOML" in cli.error("count", "--preset-file", str(path))


@pytest.mark.parametrize("args, words", [
    (["sweep", "-p", "id4", "--vary", "d_model=1:1000000000"], "at most 20,000,000"),
    (["sweep", "-p", "id4", "--vary", "d_model=1:50000", "--vary", "num_blocks=1:1000"],
     "these ranges make 50,000,000 points"),
    (["plot", "-p", "id4", "--x", "d_model=1:100000000000000", "--terminal"], "goes past"),
    (["sweep", "-p", "id4", "--vary", "d_model=1:99999999999999999999999"], "goes past"),
    (["sweep", "-p", "id4", "--d-model", str(10**20), "--vary", "num_blocks=1:3"], "must be at most 2**40"),
    (["solve", "-p", "id6", "--for", "d_model", "--total", "1e1000000"], "larger than 1e100"),
    (["solve", "-p", "id6", "--for", "d_model", "--ratio", "1e400"], "out of range"),
    (["verify", "-p", "id6", "--d-model", "65536", "--quiet"], "training this model needs about"),
    (["verify", "--seed", str(10**20), "--quiet"], "seed must be from 0"),
    (["verify", "--batch-size", str(10**20), "--quiet"], "batch_size must be from 1"),
])
def test_huge_sizes_are_refused_with_a_figure(cli: Cli, args: list[str], words: str) -> None:
    assert words in cli.error(*args)


def test_a_tiny_checkpoint_of_a_huge_model_is_refused_before_building(cli: Cli,
                                                                       tmp_path: Path) -> None:
    import torch

    path = tmp_path / "huge.pt"
    torch.save({"format": "paramcalc-checkpoint", "version": 2, "state_dict": {},
                "config": {"vocab_size": 257, "seq_length": 32, "d_model": 30000,
                           "num_blocks": 40, "n_heads": 4}}, path)
    assert path.stat().st_size < 4096
    assert "training this model needs about" in cli.error("verify", "--load", str(path),
                                                          "--quiet")


# --- 2. never destroy a file --------------------------------------------------------------------

def test_a_device_is_never_replaced(cli: Cli) -> None:
    line = cli.error("sweep", "-p", "id4", "--vary", "d_model=8:16:8", "--csv", "/dev/full")
    assert "is not a regular file" in line
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_symlink_is_written_through(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "real.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    cli("sweep", "-p", "id4", "--vary", "d_model=8:16:8", "--csv", str(link))
    assert link.is_symlink() and target.read_text().startswith("head,d_model,")


def test_an_output_that_is_an_input_is_refused(cli: Cli, tmp_path: Path) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text("vocab_size = 257\nseq_length = 8\nd_model = 8\nnum_blocks = 1\n")
    before = preset.read_bytes()
    line = cli.error("sweep", "--preset-file", str(preset), "--vary", "d_model=8:16:8", "--csv",
                     str(preset))
    assert "--csv" in line and "would destroy the input" in line
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(b"abcdefgh" * 200)
    assert "would destroy the input" in cli.error("verify", "--data", str(corpus), "--save",
                                                  str(corpus), "--quiet")
    assert preset.read_bytes() == before and corpus.read_bytes() == b"abcdefgh" * 200


def test_an_unwritable_destination_fails_before_training(cli: Cli) -> None:
    # /proc takes no new file, even from root: refused before any epoch is trained
    result = cli("verify", "-p", "id4", "--samples", "64", "--save", "/proc/version", code=2)
    assert "cannot write /proc/version" in result.stderr and "epoch" not in result.stderr


def test_file_modes_follow_the_umask_and_are_kept(cli: Cli, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.csv"
        cli("sweep", "-p", "id4", "--vary", "d_model=8:16:8", "--csv", str(fresh))
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.csv"
        kept.write_text("x")
        kept.chmod(0o640)
        cli("sweep", "-p", "id4", "--vary", "d_model=8:16:8", "--csv", str(kept))
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    finally:
        os.umask(old)


# --- 4. no traceback ----------------------------------------------------------------------------

def test_an_ascii_terminal_gets_output_not_a_traceback() -> None:
    result = run("ratio", "--preset", "gpt2", env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0 and b"Traceback" not in result.stderr
    assert b"gpt2" in result.stdout
    result = run("count", "--preset", "gpt2", "--json", env={"PYTHONIOENCODING": "ascii"})
    assert json.loads(result.stdout)["params"]["total"] == 124_439_808


def test_a_prompt_that_is_not_utf8(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "paramcalc", "verify", "-p", "id4",
                             "--samples", "64", "--max-epochs", "1", "--quiet", "--length", "5",
                             "--prompt", b"\xff\xfeabc"], capture_output=True, timeout=120,
                            cwd=ROOT)
    assert result.returncode == 1 and b"Traceback" not in result.stderr  # 1: not memorized
    assert b"prompt: \\xff\\xfeabc" in result.stdout


def test_a_diverging_loss_ends_with_a_verdict_and_sampling_stops(cli: Cli) -> None:
    result = cli("verify", "-p", "id4", "--samples", "64", "--max-epochs", "3", "--lr", "1e30",
                 "--quiet", "--length", "20", code=1)
    assert "loss diverged" in result.stdout


def test_a_checkpoint_with_nan_weights_reports_and_exits_1(cli: Cli, tmp_path: Path) -> None:
    import torch

    ckpt = tmp_path / "m.pt"
    cli("verify", "-p", "id4", "--samples", "64", "--max-epochs", "1", "--quiet", "--save",
        str(ckpt), code=1)
    payload = torch.load(ckpt, weights_only=True)
    for tensor in payload["state_dict"].values():
        tensor.fill_(float("nan"))
    torch.save(payload, ckpt)
    result = cli("verify", "--load", str(ckpt), "--samples", "64", "--length", "10", code=1)
    assert "sampling stopped early: the model's outputs are not finite numbers" in result.stdout


# --- 5. exit codes ------------------------------------------------------------------------------

def test_verify_exit_codes(cli: Cli) -> None:
    cli("verify", "-p", "id4", "--samples", "64", "--max-epochs", "1", "--quiet", code=1)
    cli("verify", "-p", "id6", "--samples", "64", "--quiet", "--length", "5", code=0)
    cli("verify", "--samples", "0", code=2)


# --- 6. numbers are never cut short -------------------------------------------------------------

@pytest.mark.parametrize("columns", ["0", "20", "45", "60", "80"])
def test_no_figure_is_cut_at_any_width(columns: str, monkeypatch: pytest.MonkeyPatch,
                                       cli: Cli) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    out = cli("count", "--preset", "ctrl").stdout
    assert "…" not in out
    for figure in ("315,563,520", "1,322,151,936", "1,637,964,550", "27,544,832"):
        assert figure in out, (columns, figure)


def test_compare_keeps_every_head_and_every_column(cli: Cli,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("compare", "--preset", "id4", "--d-model", str(2**40)).stdout
    for head in ("flatten", "bottleneck", "td-dense", "conv", "rnn", "tied-flatten", "linear"):
        assert head in out
    for columns in ("100", "102", "104", "105"):
        monkeypatch.setenv("COLUMNS", columns)
        out = cli("compare", "--preset", "id4").stdout
        assert "ε w" in out and "w = kernel_size" in out


# --- 7. small things ----------------------------------------------------------------------------

def test_bare_paramcalc_prints_the_help_once() -> None:
    result = run()
    assert result.returncode == 0 and result.stdout.count(b"Usage:") == 1


def test_version(cli: Cli) -> None:
    import paramcalc

    assert cli("--version").stdout.strip() == f"paramcalc {paramcalc.__version__}"


def test_help_keeps_head_names_whole(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("count", "--help").stdout
    assert "td-dense" in out and "tied-flatten" in out


def test_the_header_says_the_block_kind(cli: Cli) -> None:
    out = cli("count", "--vocab-size", "257", "--seq-length", "8", "--d-model", "8",
              "--num-blocks", "2").stdout
    assert out.startswith("custom · 2 seed blocks · flatten head")


def test_derive_latex_is_printed_whole(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    out = cli("derive", "--preset", "id4", "--latex").stdout
    assert "  exact: \\frac{4 d n \\left(d + 2\\right)}{V \\left(S d + 1\\right)}\n" in out
    assert "  ∂/∂x exact: - \\frac{4 d n \\left(d + 2\\right)}{V^{2} \\left(S d + 1\\right)}" in out


def test_a_sweep_with_no_valid_point_says_why(cli: Cli) -> None:
    assert cli.error("sweep", "--preset", "id6", "--vary", "d_model=1:7") == (
        "Error: none of the 7 points is a valid configuration: n_heads (8) must divide "
        "d_model (1)")


def test_a_plot_with_nothing_to_draw_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    assert "nothing to draw" in cli.error("plot", "-p", "gpt2", "--x", "d_model=768:1536:768",
                                          "--heads", "tied", "--out", str(out))
    assert not out.exists()
    assert "paramcalc writes .png, .pdf, .svg" in cli.error(
        "plot", "-p", "id4", "--x", "d_model=8:64:8", "--out", str(tmp_path / "x.jpg"))


# --- 8. one vocabulary --------------------------------------------------------------------------

def test_names_as_the_flags_spell_them_and_budget_suffixes(cli: Cli) -> None:
    a = cli.json("solve", "-p", "id6", "--for", "d-model", "--total", "1.5m")
    b = cli.json("solve", "-p", "id6", "--for", "d_model", "--total", "1.5M")
    assert a["value"] == b["value"] and isinstance(a["achieved"], int)
    assert cli.json("derive", "-p", "id4", "--wrt", "d-model")["derivatives"]["total"]
    assert cli.json("sweep", "-p", "id4", "--vary", "d-model=8:16:8")["vary"] == ["d_model"]
    assert cli.json("solve", "-p", "gpt2", "--for", "num_blocks", "--total", "1g")["value"] == \
        cli.json("solve", "-p", "gpt2", "--for", "num_blocks", "--total", "1B")["value"]


def test_sweep_json_and_csv_carry_the_same_columns(cli: Cli, tmp_path: Path) -> None:
    import csv

    out = tmp_path / "s.csv"
    obj = cli.json("sweep", "-p", "id4", "--vary", "d_model=8:16:8", "--csv", str(out))
    header = next(csv.reader(out.open()))
    assert list(obj["points"][0]) == header
    assert header[:2] == ["head", "d_model"] and "head_params" in header


def test_varying_a_head_option_applies_to_the_listed_heads(cli: Cli) -> None:
    obj = cli.json("sweep", "-p", "gpt2", "--heads", "conv,tied", "--vary", "kernel_size=1:3",
                   "--seq-length", "8", "--n-positions", "1024")
    conv = [p for p in obj["points"] if p["head"] == "conv"]
    assert [p["kernel_size"] for p in conv] == [1, 2, 3]
    assert len({p["total"] for p in conv}) == 3  # the kernel changes the conv head's count
    # the tied head owns nothing (an infinite ratio): it is ranked apart, not over every point
    front = [obj["points"][i]["head"] for i in obj["front"]]
    assert "conv" in front and "tied" in front


# --- 9. checkpoints remember their data ---------------------------------------------------------

def test_a_checkpoint_evaluates_on_its_own_corpus(cli: Cli, tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(bytes(range(256)) * 8)
    ckpt = tmp_path / "m.pt"
    cli.json("verify", "-p", "id4", "--data", str(corpus), "--samples", "64", "--save",
             str(ckpt), "--length", "4")
    loaded = cli.json("verify", "--load", str(ckpt), "--samples", "64", "--length", "4")
    assert loaded["memorized"] and loaded["train"]["accuracy"] == 1.0
    corpus.write_bytes(b"x" * 2048)
    assert "has changed since" in cli.error("verify", "--load", str(ckpt), "--samples", "64")
    corpus.unlink()
    assert "cannot be read now" in cli.error("verify", "--load", str(ckpt), "--samples", "64")
    assert cli.error("verify", "--load", str(ckpt), "--d-model", "32") == (
        "Error: --load restores the checkpoint's own configuration; drop the model options "
        "(--preset, --d-model, …)")


def test_progress_shows_when_stderr_is_not_a_terminal(cli: Cli) -> None:
    result = cli("verify", "-p", "id4", "--samples", "64", "--max-epochs", "2", "--json",
                 code=1)
    assert "training: epoch 1/2" in result.stderr
    json.loads(result.stdout)  # stdout stays one JSON object
