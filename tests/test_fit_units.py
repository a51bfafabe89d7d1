"""Sizes and contexts as people write them: 24GiB, 80 GB, 128K — parsed, never evaluated."""

from __future__ import annotations

import pytest

from paramcalc.errors import ConfigError
from paramcalc.units import MAX_BYTES, MAX_CONTEXT, parse_context, parse_count, parse_memory


@pytest.mark.parametrize(("text", "size"), [
    ("24GiB", 24 * 1024**3),
    ("80GB", 80 * 1000**3),
    ("80 GB", 80_000_000_000),
    ("80gb", 80_000_000_000),
    ("1.5TiB", 1_649_267_441_664),           # 1.5 × 1024**4
    ("141 GB", 141_000_000_000),
    ("512MiB", 536_870_912),
    ("4096", 4096),                          # plain bytes
    ("4096 B", 4096),
    ("1,024KiB", 1_048_576),
    ("1.3GiB", 1_395_864_371),               # 1,395,864,371.2: the fraction of a byte is dropped
    (24 * 2**30, 25_769_803_776),
])
def test_memory_sizes(text: str | int, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize(("text", "context"), [
    ("128K", 131_072),   # Llama 3.1's max_position_embeddings
    ("32k", 32_768),
    ("1M", 1_048_576),
    ("8192", 8192),
    ("1.5K", 1536),
    ("4_096", 4096),
    (2048, 2048),
])
def test_contexts_count_k_as_1024(text: str | int, context: int) -> None:
    assert parse_context(text) == context


@pytest.mark.parametrize(("text", "message"), [
    ("0GB", "memory must be positive, got '0GB'"),
    ("-1GB", "malformed memory '-1GB'"),
    ("inf", "malformed memory 'inf'"),
    ("nan", "malformed memory 'nan'"),
    ("1e9", "malformed memory '1e9'"),
    ("2**30", "malformed memory '2**30'"),
    ("__import__('os')", "malformed memory"),
    ("24G", "unknown unit 'g' in memory '24G'; say 24GB (powers of 10) or 24GiB (powers of 2)"),
    ("12 parsecs", "unknown unit 'parsecs'"),
    ("2000PiB", "more than 2**60 bytes"),
    ("0.5B", "less than one byte"),
    ("9" * 100, "too long to be a size"),
    (0, "memory must be positive, got 0"),
    (10**1000, "out of range (an integer of 3322 bits)"),
    (True, "must be a number"),
])
def test_bad_memory_is_one_line(text: str | int, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_memory(text)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("text", "message"), [
    ("0", "context must be positive"),
    ("1.3K", "not a whole number of tokens (1,331.2)"),
    ("128KB", "unknown suffix 'kb'"),
    ("1T", "unknown suffix 't'"),
    ("2048000M", "more than 2**40"),
    ("-8", "malformed context '-8'"),
])
def test_bad_context_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_context(text)
    assert message in str(error.value)


def test_bounds_are_inclusive() -> None:
    assert parse_memory(f"{2**60}") == MAX_BYTES == parse_memory("1024PiB")
    assert parse_context("1048576M") == MAX_CONTEXT  # 2**20 × 2**20
    with pytest.raises(ConfigError):
        parse_context(str(MAX_CONTEXT + 1))


def test_counts_are_plain_whole_numbers() -> None:
    assert parse_count("8", "batch size") == 8
    for bad in ("8K", "0", "1.5", "x"):
        with pytest.raises(ConfigError, match="batch size"):
            parse_count(bad, "batch size")
    with pytest.raises(ConfigError, match="more than 1,024"):
        parse_count("2000", "devices", limit=1024)


@pytest.mark.parametrize(("command", "flag", "key"), [
    ("count", "--seq-length", ("config", "seq_length")),
    ("count", "--n-positions", ("config", "n_positions")),
    ("count", "--sliding-window", ("config", "sliding_window")),
    ("flops", "--context", ("memory", "context")),
])
def test_every_length_in_tokens_takes_the_suffixes(command: str, flag: str,
                                                   key: tuple[str, str]) -> None:
    """Contexts are written alike everywhere: a model's lengths, flops' and fit's contexts."""
    import json

    from typer.testing import CliRunner

    from paramcalc.cli import app

    base = ["--preset", "gpt2", "--seq-length", "512"] if flag != "--seq-length" else \
        ["--preset", "llama-3.1-8b"]
    value = "1K" if flag != "--seq-length" else "128K"
    result = CliRunner().invoke(app, [command, *base, flag, value, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out[key[0]][key[1]] == {"1K": 1024, "128K": 131_072}[value]
    bad = CliRunner().invoke(app, [command, *base, flag, "2G"])
    assert bad.exit_code == 2 and "unknown suffix 'g'" in bad.stderr
    assert bad.stderr.count("\n") == 1
