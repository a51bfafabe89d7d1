"""Numbers of any size: every integer and float that reaches paramcalc (flags, TOML files,
config.json values, solve targets, sweep and plot ranges, PARAMCALC_MAX_CORPUS_MB) is bounded
where it enters. A hundred digits, ten to the 5,000 (past the 4,300 digits Python's int()
reads), 1e-300, the smallest float, inf and nan each get one line and exit code 2, never a
traceback; and a figure derived from them (a run's time) is exact or refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Cli

pytestmark = pytest.mark.mutation_skip  # the CLI over every entry point

BIG = "1" + "0" * 100  # a hundred digits
HUGE = "1" + "0" * 5000  # ten to the 5,000: int() refuses to read it
VALUES = [BIG, HUGE, "1e-300", "5e-324", "inf", "nan"]
NAMES = ["1e100", "1e5000", "1e-300", "5e-324", "inf", "nan"]

#: (what the command line is, the flag that takes the value)
ENTRIES = [
    *((["count", "-p", "gpt2"], flag) for flag in ("--d-model", "--vocab-size", "--num-blocks",
                                                    "--seq-length")),
    (["solve", "-p", "id6", "--for", "num_blocks", "--total", "1G"], "--d-model"),
    (["sweep", "-p", "id4", "--vary", "num_blocks=1:2"], "--vocab-size"),
    *((["flops", "-p", "gpt2"], flag) for flag in ("--batch-size", "--tokens", "--context",
                                                    "--devices", "--peak-tflops", "--mfu",
                                                    "--zero")),
    *((["solve", "-p", "id6", "--for", "d_model"], flag) for flag in ("--ratio", "--total",
                                                                      "--active", "--flops")),
    (["solve", "-p", "id6", "--for", "d_model", "--flops", "1e21"], "--tokens"),
    (["count", "-p", "mixtral-8x7b"], "--dense-layers"),
    *((["verify", "--quiet"], flag) for flag in ("--samples", "--max-epochs", "--lr",
                                                 "--batch-size", "--seed", "--length",
                                                 "--temperature", "--top-k",
                                                 "--min-confidence")),
]


@pytest.mark.parametrize("value", VALUES, ids=NAMES)
@pytest.mark.parametrize("command, flag", ENTRIES,
                         ids=[f"{c[0]} {f}" for c, f in ENTRIES])
def test_every_flag_refuses_numbers_out_of_bounds(cli: Cli, command: list[str], flag: str,
                                                  value: str) -> None:
    if flag == "--min-confidence" and value in ("1e-300", "5e-324"):
        # a probability: any model reaches it at once, so it would train, not be refused
        pytest.skip("a confidence of 1e-300 is a probability, in (0, 1]")
    if command[0] == "solve" and value == BIG and flag in ("--total", "--active", "--flops"):
        # the largest budget there is, within bounds: an answer (the largest size, 2**40)
        cli(*command, flag, value)
        return
    cli.error(*command, flag, value)


@pytest.mark.parametrize("value", VALUES, ids=NAMES)
@pytest.mark.parametrize("place", ["start", "stop", "step"])
def test_sweep_and_plot_ranges_refuse_numbers_out_of_bounds(cli: Cli, place: str,
                                                            value: str) -> None:
    parts = {"start": "1", "stop": "8", "step": "1"} | {place: value}
    text = f"d_model={parts['start']}:{parts['stop']}:{parts['step']}"
    assert len(cli.error("sweep", "-p", "id4", "--vary", text)) < 400
    assert len(cli.error("plot", "-p", "id4", "--x", text, "--json")) < 400


def test_a_range_of_thousands_of_digits_says_it_goes_past_the_bound(cli: Cli) -> None:
    assert cli.error("sweep", "-p", "id4", "--vary", f"d_model=1:{HUGE}").endswith(
        "goes past 1,099,511,627,776 (2**40), beyond any model; narrow it")
    assert cli.error("sweep", "-p", "id4", "--vary", f"d_model={HUGE}:5").endswith(
        "is reversed or empty: 5 < a number of 5,001 digits")


@pytest.mark.parametrize("value", VALUES, ids=NAMES)
def test_toml_values_out_of_bounds(cli: Cli, tmp_path: Path, value: str) -> None:
    """TOML reads nan, inf and floats as floats, and integers of any length: a size is an
    integer of at most 2**40."""
    toml = tmp_path / "model.toml"
    toml.write_text(f"vocab_size = 257\nseq_length = 32\nd_model = {value}\nnum_blocks = 1\n")
    line = cli.error("count", "--preset-file", str(toml))
    assert str(toml) in line and len(line) < 400


_JSON_HUGE = pytest.param(HUGE, id="1e5000")


@pytest.mark.parametrize("value", [BIG, _JSON_HUGE, "1e-300", "5e-324", "Infinity", "NaN"],
                         ids=["1e100", "1e5000", "1e-300", "5e-324", "inf", "nan"])
def test_config_json_values_out_of_bounds(cli: Cli, tmp_path: Path, value: str) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"model_type": "gpt2", "vocab_size": 50257, "n_layer": 2, "n_head": 2, '
                      f'"n_positions": 64, "n_embd": {value}}}')
    line = cli.error("count", "--hf-config", str(config))
    assert str(config) in line and len(line) < 400


def test_a_run_time_is_never_a_float_overflow(cli: Cli) -> None:
    """time = FLOPs / (devices · peak · 1e12 · MFU): with 1e-300 TFLOP/s at 1e-300 MFU it was
    a division by zero. The peak and the MFU have floors, 1e-6 each, where a run's time in
    seconds equals its FLOPs (to rounding: 1e-6 is not exact in binary); just below either is
    refused. At the largest sizes the time is still a finite JSON number."""
    assert "peak-tflops must be at least 1e-06" in cli.error(
        "flops", "-p", "gpt2", "--peak-tflops", "9.9e-7")
    assert "mfu must be at least 1e-06" in cli.error("flops", "-p", "gpt2", "--mfu", "9.9e-7")
    largest = [f"--{name}" for name in ("vocab-size", "seq-length", "d-model", "num-blocks")]
    sizes = [arg for flag in largest for arg in (flag, str(2**40))]
    result = cli("flops", *sizes, "--peak-tflops", "1e-6", "--mfu", "1e-6", "--json")
    run = json.loads(result.stdout)["run"]
    assert run["seconds"] == pytest.approx(run["flops"], rel=1e-9)
    assert 1e50 < run["seconds"] < 1e308


@pytest.mark.parametrize("value", ["²", "abc", "0", "-5", BIG, HUGE, "1048577", "1e3"])
def test_an_absurd_corpus_bound_is_refused_not_ignored(cli: Cli, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       value: str) -> None:
    """PARAMCALC_MAX_CORPUS_MB is a whole number of MiB from 1 to 1,048,576 (1 TiB); anything
    else is one line naming the variable, before any training."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abc" * 1000)
    monkeypatch.setenv("PARAMCALC_MAX_CORPUS_MB", value)
    line = cli.error("verify", "--quiet", "--data", str(corpus))
    assert "PARAMCALC_MAX_CORPUS_MB must be a whole number of MiB from 1 to 1,048,576" in line
    assert len(line) < 400


def test_the_corpus_bound_raised_and_lowered(cli: Cli, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """2 MiB and one byte past the bound of 2 is refused with the figure; at 3 it would be read
    (refused here for another reason: its seq_length windows)."""
    corpus = tmp_path / "corpus.bin"
    corpus.write_bytes(b"x" * (2 * 2**20 + 1))
    monkeypatch.setenv("PARAMCALC_MAX_CORPUS_MB", "2")
    assert "files larger than 2 MiB are refused" in cli.error("verify", "--quiet", "--data",
                                                              str(corpus))
    monkeypatch.setenv("PARAMCALC_MAX_CORPUS_MB", "3")
    line = cli.error("verify", "--quiet", "--data", str(corpus), "--seq-length", "10000000",
                     "-p", "id4")
    assert "MiB" not in line


@pytest.mark.parametrize("columns", ["²", "1" + "0" * 5000, "-3", "x"])
def test_an_unreadable_terminal_width_draws_at_the_narrowest(cli: Cli, columns: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    out = cli("count", "--preset", "id4").stdout
    assert "137,105" in out
