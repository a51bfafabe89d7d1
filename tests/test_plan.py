"""Budget planning: solve, sweep, plot, counting conventions and memory, checked by hand."""

from __future__ import annotations

import csv
import math
import random
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import ConfigError, HEADS, ModelConfig, SolveError, budget, from_name
from paramcalc.plan import (curves, parse_budget, parse_flops, parse_range, parse_ratio,
                            parse_tokens, solve, sweep)


def test_smallest_num_blocks_for_ratio_1_on_id6_is_8() -> None:
    solution = solve(from_name("id6").config, "num_blocks", ratio=Fraction(1))
    assert solution.value == 8

    def ratio(n: int) -> Fraction:  # id6's tied-flatten head, by hand: n·(4d² + 8d) / (S·d² + d)
        d, S = 64, 32
        return Fraction(n * (4 * d * d + 8 * d), S * d * d + d)

    assert ratio(8) >= 1 > ratio(7)
    assert solution.achieved == ratio(8) and solution.neighbour == 7
    assert solution.neighbour_achieved == ratio(7)


def test_largest_d_model_within_1m_respects_n_heads() -> None:
    solution = solve(from_name("id6").config, "d", total=parse_budget("1M"))

    def total(d: int) -> int:  # V·d + 4 blocks of (4d² + 8d) + (S·d² + d), by hand
        return 257 * d + 4 * (4 * d * d + 8 * d) + 32 * d * d + d

    assert solution.value == 136  # 141 fits, but 8 heads must divide d_model
    assert total(136) <= 1_000_000 < total(144)
    assert solution.achieved == total(136) and solution.neighbour == 144


def test_largest_seq_length_the_flatten_head_can_afford() -> None:
    solution = solve(from_name("id4").config, "seq_length", total=1_000_000)
    assert solution.value == 241  # 4,112 + 1,152 + (S·16·257 + 257) ≤ 1M
    assert 4_112 + 1_152 + 241 * 16 * 257 + 257 <= 1_000_000 < 4_112 + 1_152 + 242 * 16 * 257 + 257


def test_a_knob_that_lowers_the_ratio_gets_its_largest_value() -> None:
    solution = solve(from_name("id4").config, "seq_length", ratio=Fraction(1, 100))
    assert solution.value == 27
    assert solution.achieved >= Fraction(1, 100) > solution.neighbour_achieved


def test_transformer_d_ff_follows_d_model_when_left_to_its_default() -> None:
    solution = solve(from_name("gpt2").config, "d_model", total=350_000_000)
    config = solution.config
    assert config.d_ff == 4 * config.d_model and config.d_model % 12 == 0
    assert budget(config).params["total"] <= 350_000_000
    assert budget(config.replace(d_model=config.d_model + 12)).params["total"] > 350_000_000


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "d_model", "ratio": Fraction(10)}, "no valid d_model meets ratio ≥ 10: the ratio is"),
    ({"name": "num_blocks", "total": 1_000}, "no valid num_blocks meets total ≤ 1,000: even "
                                             "num_blocks = 1 gives a total of 164,480"),
    ({"name": "vocab_size", "ratio": Fraction(1)}, "the ratio of this configuration does not "
                                                   "depend on vocab_size"),
    ({"name": "width", "ratio": Fraction(1)}, "unknown hyperparameter 'width' in --for"),
    ({"name": "num_blocks"}, "give one target"),
])
def test_when_no_value_works_it_says_why(kwargs: dict, message: str) -> None:
    kwargs = dict(kwargs)  # the parameters are shared by every run of the test
    name = kwargs.pop("name")
    with pytest.raises(SolveError) as error:
        solve(from_name("id6").config, name, **kwargs)
    assert str(error.value).startswith(message)


def test_an_infinite_ratio_has_nothing_to_solve() -> None:
    with pytest.raises(SolveError, match="owns no parameters"):
        solve(from_name("gpt2").config, "num_blocks", ratio=Fraction(1))


@pytest.mark.parametrize("text, value", [("1M", 10**6), ("1.5G", 1_500_000_000), ("250k", 250_000),
                                         ("2e9", 2 * 10**9), ("1_000_000", 10**6), ("7", 7)])
def test_budgets(text: str, value: int) -> None:
    assert parse_budget(text) == value


@pytest.mark.parametrize("text", ["1Q", "", "M", "1.5", "-1M", "0", "1e", "__import__('os')"])
def test_malformed_budgets(text: str) -> None:
    with pytest.raises(SolveError):
        parse_budget(text)


def test_ratios() -> None:
    assert parse_ratio("1/8") == Fraction(1, 8) and parse_ratio("0.5") == Fraction(1, 2)
    for bad in ("abc", "1/0", "-2", "0"):
        with pytest.raises(SolveError):
            parse_ratio(bad)


@pytest.mark.parametrize("text, message", [
    ("d_model=64:16", "is reversed or empty"),
    ("d_model=16:64:0", "has a zero step"),
    ("d_model=16:64:-8", "has a negative step"),
    ("width=1:4", "unknown hyperparameter 'width' in --vary"),
    ("d_model=1..4", "malformed range"),
    ("d_model=0:4", "must start at a positive integer"),
])
def test_bad_ranges(text: str, message: str) -> None:
    with pytest.raises(SolveError, match=message):
        parse_range(text)


@pytest.mark.parametrize("name", ["id4", "id6", "gpt2", "ctrl"], ids=str)
def test_sweep_agrees_with_sympy_at_random_points(name: str) -> None:
    config = from_name(name).config
    ranges = [parse_range("d_model=16:256:16"), parse_range("num_blocks=1:6")]
    grid = sweep(config, ranges, HEADS)
    rng = random.Random(name)
    for i in rng.sample(range(len(grid)), 60):
        if not grid.columns["valid"][i]:
            continue
        head = grid.heads[grid.columns["design"][i]]
        point = {"d_model": int(grid.columns["d_model"][i]),
                 "num_blocks": int(grid.columns["num_blocks"][i])}
        given = {k: v for k, v in config.given if k not in ("head_width",)}
        reference = budget(ModelConfig(**{**given, **point, "head": head})).params
        assert int(grid.columns["total"][i]) == reference["total"], (head, point)
        assert int(grid.columns["head"][i]) == reference["head"], (head, point)


def test_sweep_marks_points_that_break_a_constraint_invalid() -> None:
    grid = sweep(from_name("id6").config, [parse_range("d_model=60:68")], ["flatten"])
    valid = dict(zip(grid.columns["d_model"].tolist(), grid.columns["valid"].tolist()))
    assert valid == {60: False, 61: False, 62: False, 63: False, 64: True, 65: False, 66: False,
                     67: False, 68: False}  # 8 heads must divide d_model


def test_pareto_front_is_not_dominated() -> None:
    grid = sweep(from_name("id4").config, [parse_range("d_model=8:64:8"),
                                           parse_range("num_blocks=1:6")], ["flatten", "td-dense"])
    front = set(grid.front().tolist())
    total, ratio, valid = (grid.columns[k] for k in ("total", "ratio", "valid"))
    points = [i for i in range(len(grid)) if valid[i]]
    for i in front:
        assert not any(total[j] <= total[i] and ratio[j] > ratio[i] for j in points)
    for i in set(points) - front:  # everything else is beaten or tied by something
        assert any(total[j] <= total[i] and ratio[j] >= ratio[i] and j != i for j in points)


def test_flatten_and_tied_flatten_cross_where_d_model_equals_vocab_size() -> None:
    # by hand: 4dn(d+2)/(V(Sd+1)) = 4n(d+2)/(Sd+1) exactly when d = V = 257
    result = curves(from_name("id4").config, parse_range("d_model=8:512:8"), "ratio",
                    ["flatten", "tied-flatten"])
    [crossing] = result.crossovers
    assert crossing.heads == ("flatten", "tied-flatten")
    assert crossing.x == pytest.approx(257, abs=0.5)


def test_count_shows_every_convention(cli: Cli) -> None:
    gpt2 = cli.json("count", "--preset", "gpt2")["conventions"]
    assert gpt2["total"] == 124_439_808
    assert gpt2["without_positions"] == 124_439_808 - 1024 * 768  # nanoGPT's 123.65M
    assert gpt2["non_embedding"] == 124_439_808 - 1024 * 768 - 50_257 * 768
    assert gpt2["kaplan"] == 12 * 12 * 768**2
    ctrl = cli.json("count", "--preset", "ctrl")["conventions"]
    non_embedding = 1_637_964_550 - 246_534 * 1_280
    assert ctrl["non_embedding"] == non_embedding
    assert ctrl["kaplan_relative_error"] == pytest.approx((12 * 48 * 1_280**2 - non_embedding)
                                                          / non_embedding)
    assert ctrl["kaplan_relative_error"] < -0.28  # its d_ff is 6.4·d, not 4·d
    out = cli("count", "--preset", "ctrl").stdout
    assert "Kaplan" in out and "-28.64%" in out


def test_count_memory(cli: Cli) -> None:
    memory = cli.json("count", "--preset", "gpt2", "--memory")["memory"]
    assert memory == {"fp32": 4 * 124_439_808, "bf16": 2 * 124_439_808, "int8": 124_439_808,
                      "adam_fp32_training": 16 * 124_439_808}
    assert "GiB" in cli("count", "--preset", "gpt2-xl", "--memory").stdout


def test_solve_command(cli: Cli) -> None:
    out = cli("solve", "--preset", "id6", "--for", "num_blocks", "--ratio", "1").stdout
    assert "num_blocks = 8 for ratio ≥ 1" in out and "✓" in out and "✗" in out
    obj = cli.json("solve", "--preset", "id6", "--for", "d_model", "--total", "1M")
    assert obj["value"] == 136 and obj["achieved"] == 927_248 and obj["config"]["d_model"] == 136


def test_sweep_command_with_csv(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    out = cli("sweep", "-p", "id6", "--vary", "d_model=16:128:16", "--vary", "num_blocks=1:8",
              "--heads", "tied-flatten,td-dense", "--csv", str(path)).stdout
    assert "Pareto front" in out
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 8 * 8 * 2
    assert rows[0]["head"] == "tied-flatten" and rows[0]["total"] == "13472"
    assert [p.name for p in tmp_path.iterdir()] == ["points.csv"]
    obj = cli.json("sweep", "-p", "id6", "--vary", "num_blocks=1:4")
    assert [p["total"] for p in obj["points"]] == [budget(from_name("id6").config.replace(
        num_blocks=k)).params["total"] for k in range(1, 5)]


def test_plot_command(cli: Cli, tmp_path: Path) -> None:
    png = tmp_path / "ratio.png"
    out = cli("plot", "-p", "id4", "--x", "d_model=8:512:8", "--heads", "flatten,tied-flatten",
              "--out", str(png), "--terminal").stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "flatten × tied-flatten at d_model ≈ 257" in out
    assert "•• flatten" in out and "d_model" in out and "ratio (log scale)" in out  # the legend
    obj = cli.json("plot", "-p", "id4", "--x", "num_blocks=1:4", "--y", "total")
    assert obj["curves"]["tied"] == [budget(from_name("id4").config.replace(
        head="tied", num_blocks=k)).params["total"] for k in range(1, 5)]


@pytest.mark.parametrize("args, message", [
    (["solve", "-p", "id6", "--for", "d_model", "--total", "1Q"], "Error: malformed budget '1Q'"),
    (["solve", "-p", "id6", "--for", "width", "--ratio", "1"],
     "Error: unknown hyperparameter 'width' in --for"),
    (["solve", "-p", "id6", "--for", "num_blocks", "--total", "1k"],
     "Error: no valid num_blocks meets total ≤ 1,000"),
    (["sweep", "-p", "id6", "--vary", "d_model=64:16"], "Error: range 'd_model=64:16' is reversed"),
    (["sweep", "-p", "id6", "--vary", "d_model=16:64:0"], "Error: range 'd_model=16:64:0' has a "
                                                          "zero step"),
    (["sweep", "-p", "id6", "--vary", "depth=1:4"], "Error: unknown hyperparameter 'depth'"),
    (["sweep", "-p", "id6", "--vary", "d=8:16", "--vary", "n=1:2", "--vary", "S=8:16"],
     "Error: --vary takes one or two ranges, got 3"),
    (["plot", "-p", "id4", "--x", "d_model=8:64"], "Error: say where to draw"),
    (["sweep", "-p", "id4", "--vary", "d_model=1:100000000000:100000000"],
     "Error: the total passes 4.6e18 parameters somewhere in these ranges"),
    (["plot", "-p", "id4", "--x", "d_model=8:64", "--y", "cost", "--terminal"],
     "Error: unknown quantity 'cost'"),
])
def test_planning_bad_input_is_one_line(cli: Cli, args: list[str], message: str) -> None:
    assert cli.error(*args).startswith(message)


def test_plot_png_without_matplotlib(cli: Cli, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    line = cli.error("plot", "-p", "id4", "--x", "d_model=8:64:8", "--out", str(tmp_path / "x.png"))
    assert "needs matplotlib: pip install 'paramcalc[plot]'" in line
    assert cli("plot", "-p", "id4", "--x", "d_model=8:64:8", "--terminal").exit_code == 0


# --- solve against brute force ------------------------------------------------------------------
# (preset, overrides, hyperparameter, brute-force range, the range's end is a validity bound)
SOLVE_CASES = [
    ("id4", {}, "d_model", 200, False),
    ("id6", {}, "d_model", 200, False),  # n_heads = 8 must divide it
    ("id4", {"head": "td-dense"}, "head_width", 16, True),  # head_width ≤ d_model
    ("id4", {"head": "conv"}, "kernel_size", 32, True),  # kernel_size ≤ seq_length
    ("gpt2", {"head": "flatten", "num_blocks": 1}, "seq_length", 1024, True),  # ≤ n_positions
    ("llama-3.2-1b", {"num_blocks": 2}, "n_kv_heads", 32, True),  # must divide n_heads = 32
    ("mixtral-8x7b", {"num_blocks": 2}, "num_experts", 64, False),
    ("id4", {"positional": "learned"}, "seq_length", 300, False),  # n_positions follows S
    ("id4", {"positional": "learned", "n_positions": 64}, "n_positions", 300, False),  # ≥ S
    ("llama-3.2-1b", {"num_blocks": 1, "n_kv_heads": 4, "seq_length": 8}, "n_heads", 64,
     False),  # at least n_kv_heads, a multiple of it
    ("deepseek-v3", {"num_blocks": 4, "seq_length": 8}, "num_blocks", 12, False),  # > the
    # last dense layer (2)
]


def _brute(preset: str, overrides: dict, name: str, end: int, key: str) -> dict[int, int]:
    """``key`` ("total" or "active") at every valid value 1..end, config by config."""
    from paramcalc import ConfigError

    base = from_name(preset).config.replace(**overrides)
    out = {}
    for value in range(1, end + 1):
        try:
            config = base.replace(**{name: value})
        except ConfigError:
            continue
        out[value] = budget(config).params[key]
    return out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=st.sampled_from(SOLVE_CASES), pick=st.integers(0, 10**6), shift=st.integers(-1, 1),
       beyond=st.booleans())
def test_solve_for_a_budget_matches_brute_force(case: tuple, pick: int, shift: int,
                                                 beyond: bool) -> None:
    preset, overrides, name, end, bounded = case
    values = _brute(preset, overrides, name, end, "total")
    totals = sorted(values.values())
    if beyond and bounded:
        target = totals[-1] * 3  # past the bound: the answer is the bound itself
    else:
        target = totals[pick % len(totals)] + shift  # at a value, one below, one above
    meeting = [v for v, total in values.items() if total <= target]
    config = from_name(preset).config.replace(**overrides)
    if not meeting:
        with pytest.raises(SolveError, match="no valid"):
            solve(config, name, total=target)
        return
    answer = solve(config, name, total=target)
    assert answer.value == max(meeting), (case, target)
    assert answer.achieved == values[max(meeting)]


def test_solve_for_a_ratio_matches_brute_force() -> None:
    config = from_name("id6").config
    ratios = {n: budget(config.replace(num_blocks=n)).ratio.value for n in range(1, 300)}
    for target in (Fraction(1, 3), Fraction(1), Fraction(2), Fraction(5, 2), ratios[37]):
        expected = min(n for n, r in ratios.items() if r >= target)
        assert solve(config, "num_blocks", ratio=target).value == expected


def test_solve_is_exact_far_beyond_float_precision() -> None:
    # 48·d² + 290·d ≤ 10²⁵ for id6 (d a multiple of 8), checked in integers here
    answer = solve(from_name("id6").config, "d_model", total=10**25)
    d = math.isqrt(10**25 // 48) // 8 * 8 + 8
    while 48 * d * d + 290 * d > 10**25:  # the largest multiple of 8 within the budget
        d -= 8
    assert answer.value == d == 456_435_464_584
    assert answer.achieved == 48 * d * d + 290 * d
    assert budget(from_name("id6").config.replace(d_model=d + 8)).params["total"] > 10**25
    assert solve(from_name("id6").config, "num_blocks", ratio=Fraction(10**9)).value == \
        -(-10**9 * 683 // 88)  # ratio = 88·n/683 exactly: the smallest n past 10⁹·683/88


def test_solve_stops_at_the_largest_size_a_configuration_takes() -> None:
    # 10³⁶ parameters would take d_model ≈ 1.4e17, past the 2**40 any size may be: the answer
    # is that bound (a multiple of n_heads = 8), said as a bound
    answer = solve(from_name("id6").config, "d_model", total=10**36)
    assert answer.value == 2**40 and answer.at_bound


def test_solve_says_unbounded_when_every_value_meets_the_target(cli: Cli) -> None:
    obj = cli.json("solve", "--preset", "id6", "--for", "d_model", "--ratio", "0.5")
    assert obj["unbounded"] is True and obj["value"] is None and obj["unbounded_from"] == 8
    assert "unbounded" in cli("solve", "--preset", "id6", "--for", "d_model", "--ratio",
                              "0.5").stdout


@pytest.mark.parametrize("args, value", [
    (["--preset", "id4", "--head", "td-dense", "--for", "head_width", "--total", "1G"], 16),
    (["--preset", "id4", "--head", "conv", "--for", "kernel_size", "--total", "1G"], 32),
    (["--preset", "gpt2", "--head", "flatten", "--for", "seq_length", "--total", "1e15"], 1024),
])
def test_a_root_beyond_a_bound_answers_the_bound(cli: Cli, args: list[str], value: int) -> None:
    obj = cli.json("solve", *args)
    assert obj["value"] == value and obj["at_bound"] is True
    assert isinstance(obj["achieved"], int)  # counts are integers in JSON


# --- linked defaults, against totals by hand -------------------------------------------------------

def _id4_td_dense_by_hand(d: int) -> int:
    """id4 (V 257, S 32, one seed block) with a td-dense head of the default width ⌊d/8⌋."""
    k = d // 8
    return 257 * d + (4 * (d * d + d) + 4 * d) + (d * k + k) + (32 * k * 257 + 257)


def _id4_learned_by_hand(s: int) -> int:
    """id4 with learned positions (P follows S) and its flatten head."""
    return 257 * 16 + s * 16 + 1_152 + (s * 16 * 257 + 257)


def test_sweep_default_head_width_is_the_floor_of_d_over_8(cli: Cli) -> None:
    obj = cli.json("sweep", "-p", "id4", "--head", "td-dense", "--vary", "d_model=20:28:4")
    assert {p["d_model"]: p["total"] for p in obj["points"]} == {
        d: _id4_td_dense_by_hand(d) for d in (20, 24, 28)}  # 20 and 28: ⌊d/8⌋ ≠ ⌈d/8⌉


def test_plot_default_head_width_is_the_floor_of_d_over_8(cli: Cli) -> None:
    obj = cli.json("plot", "-p", "id4", "--heads", "td-dense", "--x", "d_model=20:28:4",
                   "--y", "total")
    assert obj["curves"]["td-dense"] == [_id4_td_dense_by_hand(d) for d in (20, 24, 28)]


def test_n_positions_follows_seq_length_in_sweep_plot_and_solve(cli: Cli) -> None:
    args = ("-p", "id4", "--positional", "learned")
    obj = cli.json("sweep", *args, "--vary", "seq_length=16:40:8")
    assert {p["seq_length"]: p["total"] for p in obj["points"]} == {
        s: _id4_learned_by_hand(s) for s in (16, 24, 32, 40)}
    obj = cli.json("plot", *args, "--heads", "flatten", "--x", "seq_length=16:40:8", "--y",
                   "total")
    assert obj["curves"]["flatten"] == [_id4_learned_by_hand(s) for s in (16, 24, 32, 40)]
    obj = cli.json("solve", *args, "--for", "seq_length", "--total", "300k")
    per_position = 16 + 16 * 257  # a position row and the head's inputs for one more position
    assert obj["value"] == (300_000 - 4_112 - 1_152 - 257) // per_position
    assert obj["achieved"] == _id4_learned_by_hand(obj["value"])


def test_a_given_size_and_its_default_sweep_differently() -> None:
    # equal configurations, different formulas: head_dim given is held, a default follows d/h
    base = dict(vocab_size=100, seq_length=8, d_model=32, num_blocks=1, n_heads=4,
                block="transformer", head="tied")
    ranges = [parse_range("d_model=32:64:32")]
    follows = sweep(ModelConfig(**base), ranges).columns["total"].tolist()
    held = sweep(ModelConfig(**base, head_dim=8), ranges).columns["total"].tolist()

    def by_hand(d: int, width: int) -> int:  # q, k, v d → width, o width → d, all biased
        attention = 3 * (d * width + width) + (width * d + d)
        return 100 * d + attention + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * 2 * d

    assert follows == [by_hand(32, 32), by_hand(64, 64)]
    assert held == [by_hand(32, 32), by_hand(64, 32)]


_SUFFIX_HINT = "write a positive number with an optional k, M, G (or B) or T suffix, e.g. 1M, 1.5G or 3e23"


@pytest.mark.parametrize("parse, text, message", [
    (parse_budget, "1Q", f"malformed budget '1Q'; {_SUFFIX_HINT}"),
    (parse_budget, "1e101", "budget '1e101' is larger than 1e100 parameters; nothing is that big"),
    (parse_budget, "1e1000", "budget '1e1000' is larger than 1e100 parameters; nothing is that big"),
    (parse_budget, "2e100T", "budget '2e100T' is larger than 1e100 parameters; nothing is that big"),
    (parse_budget, "1.5", "budget '1.5' must be a positive whole number of parameters"),
    (parse_budget, "0", "budget '0' must be a positive whole number of parameters"),
    (parse_flops, "-1", f"malformed FLOP budget '-1'; {_SUFFIX_HINT}"),
    (parse_flops, "0.5", "FLOP budget '0.5' must be a positive whole number of FLOPs"),
    (parse_tokens, "1e200", "token count '1e200' is larger than 1e100 tokens; nothing is that big"),
    (parse_ratio, "abc", "malformed ratio 'abc'; write a number such as 1, 0.5 or 1/8"),
    (parse_ratio, "1/0", "malformed ratio '1/0'; write a number such as 1, 0.5 or 1/8"),
    (parse_ratio, "-2", "ratio target must be positive, got '-2'"),
    (parse_ratio, "0", "ratio target must be positive, got '0'"),
    (parse_ratio, "1e101", "ratio target '1e101' is out of range: write one between 1e-100 and 1e100"),
    (parse_ratio, "1e-101", "ratio target '1e-101' is out of range: write one between 1e-100 and "
                            "1e100"),
    (parse_ratio, "1e-99999", "ratio target '1e-99999' is out of range: write one between 1e-100 "
                              "and 1e100"),
    (parse_range, "d_model=64:16", "range 'd_model=64:16' is reversed or empty: 16 < 64"),
    (parse_range, "d_model=16:64:0", "range 'd_model=16:64:0' has a zero step"),
    (parse_range, "d_model=16:64:-8", "range 'd_model=16:64:-8' has a negative step; write it "
                                      "from low to high"),
    (parse_range, "d_model=1..4", "malformed range 'd_model=1..4'; write NAME=START:STOP[:STEP], "
                                  "e.g. d_model=16:1024:16"),
    (parse_range, "d_model=0:4", "range 'd_model=0:4' must start at a positive integer"),
    (parse_range, "d_model=1:2000000000000", "range 'd_model=1:2000000000000' goes past "
                                             "1,099,511,627,776 (2**40), beyond any model; narrow it"),
    (parse_range, "d_model=1:30000000", "range 'd_model=1:30000000' has 30,000,000 points; at most "
                                        "20,000,000 are evaluated: take a larger step"),
])
def test_parser_messages_in_full(parse: Any, text: str, message: str) -> None:
    """Each parser's one line, word for word: what the user reads."""
    with pytest.raises(SolveError) as error:
        parse(text)
    assert str(error.value) == message


@pytest.mark.parametrize("text, value", [
    ("250K", 250_000), ("3m", 3 * 10**6), ("1.5g", 1_500_000_000), ("2B", 2 * 10**9),
    ("1t", 10**12), ("1e100", 10**100), ("2.5e3", 2_500), ("1E+3", 1_000), (".5k", 500),
    (" 12 ", 12)])
def test_every_suffix_and_exponent(text: str, value: int) -> None:
    assert parse_budget(text) == value


def test_ratio_forms() -> None:
    assert parse_ratio(" 3/4 ") == Fraction(3, 4)
    assert parse_ratio("1e100") == 10**100 and parse_ratio("1e-100") == Fraction(1, 10**100)
    assert parse_ratio("2.5") == Fraction(5, 2)


def test_range_forms() -> None:
    r = parse_range(" d-model = 16 : 64 : 16 ")
    assert (r.name, r.start, r.stop, r.step, len(r)) == ("d_model", 16, 64, 16, 4)
    assert parse_range("S=8:10").values().tolist() == [8, 9, 10]
    assert parse_range("d=1:1099511627776:1099511627775").stop == 2**40  # at the bound: allowed
    assert len(parse_range("d=1:20000000")) == 20_000_000  # at the most points: allowed


def test_the_front_point_by_point_with_invalid_and_infinite_points() -> None:
    """The front, by its definition, checked point by point: sorted by total (the higher
    ratio first among equal totals), a point is kept when its ratio beats every point
    before it. Invalid points (n_heads = 2 not dividing an odd d_model) never count, and the
    tied head's infinite ratios are ranked among themselves."""
    import numpy as np

    config = from_name("id6").config.replace(n_heads=2)
    grid = sweep(config, [parse_range("d_model=7:40:1"), parse_range("num_blocks=1:3")],
                 ["flatten", "tied", "tied-flatten"])
    total, ratio, valid = (grid.columns[k] for k in ("total", "ratio", "valid"))
    assert not valid.all() and bool(np.isinf(ratio).any()) and bool(np.isfinite(ratio).any())
    expected = []
    for finite in (True, False):
        group = [i for i in range(len(grid)) if valid[i] and math.isfinite(ratio[i]) == finite]
        order = sorted(group, key=lambda i: (total[i], -ratio[i], i))
        best = -math.inf
        for position, i in enumerate(order):
            if position == 0 or ratio[i] > best:
                expected.append(i)
            best = max(best, ratio[i])
    assert grid.front().tolist() == expected


def test_sweep_divides_exactly_where_the_denominator_is_1() -> None:
    """Given key/value heads and a default head width, keys are g·d/h wide: at n_heads = 1 the
    denominator is 1, and every total must still equal the budget of that configuration."""
    config = from_name("llama-3.2-1b").config.replace(num_blocks=1, n_kv_heads=1, seq_length=8)
    grid = sweep(config, [parse_range("n_heads=1:4")])
    for i, heads in enumerate(grid.columns["n_heads"].tolist()):
        if grid.columns["valid"][i]:
            assert grid.columns["total"][i] == budget(config.replace(n_heads=heads)).params["total"]


def test_crossovers_lie_on_both_curves() -> None:
    """Each crossover, interpolated linearly between grid points, is a point of both curves."""
    import numpy as np

    result = curves(from_name("id4").config, parse_range("d_model=8:64:8"), "ratio",
                    ["flatten", "bottleneck", "td-dense", "tied-flatten", "linear"])
    assert result.crossovers
    for c in result.crossovers:
        a, b = (np.interp(c.x, result.x, result.y[head]) for head in c.heads)
        assert c.y == pytest.approx(a, rel=1e-9) and c.y == pytest.approx(b, rel=1e-9)
        j = np.searchsorted(result.x, c.x) - 1
        assert result.x[j] < c.x < result.x[j + 1]  # strictly between two grid points
        before, after = (result.y[c.heads[0]][k] - result.y[c.heads[1]][k] for k in (j, j + 1))
        assert before * after < 0


def test_curves_meeting_at_a_grid_point_are_a_crossover() -> None:
    """flatten and tied-flatten meet exactly at d_model = V = 257 (by hand, see above): with 257
    on the grid (one head, so that 257 is a valid width) the meeting point itself is the
    crossover."""
    result = curves(from_name("id4").config.replace(n_heads=1), parse_range("d_model=241:273:8"),
                    "ratio",
                    ["flatten", "tied-flatten"])
    [crossing] = result.crossovers
    assert crossing.x == 257 and crossing.heads == ("flatten", "tied-flatten")


# every point of a sweep against the configuration spec.py builds for it: the constraints
# (valid or not) and the counts, the compute columns and the ratio
_SWEEP_CASES = [
    # (preset, overrides, head, knobs that may vary)
    ("id4", {}, "flatten", ["d_model", "n_heads", "seq_length", "num_blocks"]),
    ("id4", {"positional": "learned", "n_positions": 40}, "bottleneck",
     ["seq_length", "head_width", "d_model", "n_positions"]),
    ("id4", {}, "conv", ["kernel_size", "seq_length", "head_width", "d_model"]),
    ("id4", {}, "td-dense", ["head_width", "d_model"]),
    ("id4", {"block": "transformer", "head_dim": 6}, "linear", ["n_heads", "d_model", "d_ff"]),
    ("llama-3.2-1b", {"num_blocks": 3, "seq_length": 16, "n_kv_heads": 2}, "tied",
     ["n_heads", "n_kv_heads", "d_model", "num_blocks"]),
    ("mixtral-8x7b", {"num_blocks": 3, "seq_length": 16, "d_model": 64, "n_heads": 4,
                      "n_kv_heads": 2, "dense_layers": [1]}, "linear",
     ["num_experts", "experts_per_token", "num_blocks", "expert_d_ff"]),
    # defaults that follow a varied size, varied themselves too: each keeps its own value
    ("id4", {"block": "transformer", "positional": "learned"}, "bottleneck",
     ["d_model", "d_ff", "seq_length", "n_positions", "n_heads", "n_kv_heads", "head_width"]),
    ("id4", {"block": "transformer", "mlp": "gated", "num_experts": 4, "experts_per_token": 2,
             "shared_experts": 1}, "linear",
     ["d_model", "d_ff", "expert_d_ff", "shared_d_ff", "n_heads", "n_kv_heads"]),
]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(case=st.sampled_from(_SWEEP_CASES), data=st.data())
def test_sweep_point_by_point_against_the_configuration(case: tuple, data: Any) -> None:
    from paramcalc import ConfigError
    from paramcalc.compute import compute

    preset, overrides, head, knobs = case
    config = from_name(preset).config.replace(**overrides).with_head(head)
    names = data.draw(st.lists(st.sampled_from(knobs), min_size=1, max_size=2, unique=True))
    ranges = []
    for name in names:
        start = data.draw(st.integers(1, 12))
        ranges.append(parse_range(f"{name}={start}:{start + data.draw(st.integers(0, 5))}"))
    grid = sweep(config, ranges, [head], quantities=["flops", "kv_cache"])
    for i in range(len(grid)):
        point = {name: int(grid.columns[name][i]) for name in names}
        try:
            expected = config.replace(**point)
        except ConfigError:
            assert not grid.columns["valid"][i], point
            continue
        assert grid.columns["valid"][i], point
        b = budget(expected)
        for key in ("total", "active", "embedding", "blocks", "head"):
            assert grid.columns[key][i] == b.params[key], (point, key)
        ratio = b.ratio.value
        assert grid.columns["ratio"][i] == (math.inf if ratio is None else float(ratio))
        c = compute(b)
        assert grid.columns["flops"][i] == float(c.flops["forward"]["total"])
        assert grid.columns["kv_cache"][i] == float(c.memory["kv_cache_per_token"])


@pytest.mark.parametrize("call, message", [
    (lambda c: sweep(c, [parse_range("d=8:16"), parse_range("d_model=8:9")]),
     "--vary names ['d_model', 'd_model'] more than once"),
    (lambda c: sweep(c, [parse_range("d_ff=8:16")]),
     "d_ff does not apply to this configuration (seed blocks, sinusoidal positions)"),
    (lambda c: sweep(c, [parse_range("d=1:4")], ["flatten"], ["latency"]),
     "unknown quantity 'latency'; choose one of: flops, flops_per_token, kv_cache, "
     "activations, state"),
    (lambda c: sweep(c, [parse_range("d=1:4000"), parse_range("n=1:4000")], ["flatten", "conv"]),
     "these ranges make 32,000,000 points (4000 × 4000 × 2 head designs); at most 20,000,000 "
     "are evaluated: take larger steps or fewer heads"),
    (lambda c: sweep(c, [parse_range("d=1:5000"), parse_range("n=1:5000")]),
     "these ranges make 25,000,000 points (5000 × 5000 × 1 head design); at most 20,000,000 are "
     "evaluated: take larger steps or fewer heads"),
    (lambda c: sweep(c, [parse_range("d=1000000:1000001"), parse_range("V=1000000000000:1000000000001")]),
     "the total passes 4.6e18 parameters somewhere in these ranges; narrow them"),
    (lambda c: curves(c, parse_range("d=8:16"), "cost", ["flatten"]),
     "unknown quantity 'cost' to plot; choose one of: ratio, total, active, flops, "
     "flops_per_token, kv_cache, activations, state"),
])
def test_sweep_errors_word_for_word(call: Any, message: str) -> None:
    with pytest.raises(SolveError) as error:
        call(from_name("id4").config)
    assert str(error.value) == message


def test_exactly_the_most_points_is_allowed() -> None:
    grid = sweep(from_name("id4").config, [parse_range("n=1:4000"), parse_range("d=1:5000")])
    assert len(grid) == 20_000_000


@pytest.mark.parametrize("name, target, message", [
    ("d_model", {"ratio": Fraction(10)}, "no valid d_model meets ratio ≥ 10: the ratio is 1.455 "
     "at d_model = 1 and approaches 0.5 as d_model grows, never reaching 10"),
    ("num_blocks", {"total": 1_000}, "no valid num_blocks meets total ≤ 1,000: even "
     "num_blocks = 1 gives a total of 164,480"),
    ("seq_length", {"total": 10}, "no valid seq_length meets total ≤ 10: even seq_length = 1 "
     "gives a total of 88,192"),
])
def test_why_no_value_works_word_for_word(name: str, target: dict, message: str) -> None:
    """id6 by hand: 16,448 + 4·16,896 = 84,032 outside the head; its head is S·d·d + d, at
    S = 1 64·64 + 64 = 4,160 more: 88,192. With one block, 16,448 + 16,896 + 131,136. The
    ratio tends to 4·n·d² / (S·d²) = 16/32 = 0.5 as d grows."""
    with pytest.raises(SolveError) as error:
        solve(from_name("id6").config, name, **target)
    assert str(error.value) == message


@pytest.mark.parametrize("preset, overrides, head, ranges", [
    ("id4", {}, "td-dense", ["head_width=1:12", "d_model=4:12:4"]),  # head_width ≤ d
    ("id4", {"seq_length": 1}, "bottleneck", ["seq_length=1:3", "head_width=2:40:2",
                                              "d_model=4:12:4"]),  # head_width ≤ S·d
    ("id4", {}, "conv", ["kernel_size=1:6", "seq_length=1:6"]),  # kernel ≤ S
    ("id4", {"n_heads": 2}, "flatten", ["n_heads=1:4", "d_model=4:8"]),  # h | d (seed)
    ("id4", {"block": "transformer", "head_dim": 3, "n_kv_heads": 1}, "linear",
     ["d_model=5:7", "n_heads=1:5", "n_kv_heads=1:2"]),  # h need not divide d; g | h
    ("id4", {"block": "transformer", "n_kv_heads": 2}, "linear", ["n_heads=1:8", "n_kv_heads=1:3"]),
    ("id4", {"positional": "learned", "seq_length": 4, "n_positions": 4}, "linear",
     ["seq_length=2:6", "n_positions=2:6"]),  # n_positions ≥ seq_length
    ("id4", {"block": "transformer", "num_blocks": 3, "num_experts": 2, "dense_layers": [1]},
     "linear",
     ["num_blocks=1:3", "num_experts=1:4"]),
    ("id4", {"block": "transformer", "num_experts": 4}, "linear",
     ["experts_per_token=1:4", "num_experts=1:4"]),
])
def test_validity_on_both_sides_of_every_constraint(preset: str, overrides: dict, head: str,
                                                    ranges: list[str]) -> None:
    """Grids that straddle each constraint spec.py checks: the valid column is exactly where
    spec.py builds the configuration (two ranges at a time, the third held)."""
    from paramcalc import ConfigError

    config = from_name(preset).config.replace(**overrides).with_head(head)
    outcomes = set()
    for pair in ([ranges[0], ranges[1]], [ranges[-2], ranges[-1]]):
        grid = sweep(config, [parse_range(r) for r in pair], [head])
        for i in range(len(grid)):
            point = {name: int(grid.columns[name][i]) for name in grid.names}
            try:
                config.replace(**point)
                ok = True
            except ConfigError:
                ok = False
            assert bool(grid.columns["valid"][i]) == ok, point
            outcomes.add(ok)
    assert outcomes == {True, False}  # the grids really straddle the constraint


def test_the_first_range_varies_slowest() -> None:
    grid = sweep(from_name("id6").config, [parse_range("d_model=8:16:8"),
                                           parse_range("num_blocks=1:3")])
    assert list(zip(grid.columns["d_model"].tolist(), grid.columns["num_blocks"].tolist())) == \
        [(8, 1), (8, 2), (8, 3), (16, 1), (16, 2), (16, 3)]


def test_a_knob_of_another_head_design_can_be_swept() -> None:
    """id4's flatten head has no head_width, td-dense has: sweeping it for td-dense works."""
    grid = sweep(from_name("id4").config, [parse_range("head_width=1:4")], ["td-dense"])
    assert grid.columns["total"].tolist() == [
        budget(from_name("id4").config.with_head("td-dense").replace(head_width=k)).params["total"]
        for k in range(1, 5)]
    with pytest.raises(SolveError, match="head_width does not apply"):
        sweep(from_name("id4").config, [parse_range("head_width=1:4")], ["flatten", "tied"])


def test_compute_columns_tell_a_given_size_from_its_default() -> None:
    """The FLOPs of equal configurations, one with head_dim given (held when d_model moves),
    one left to follow d/h: the cache of compiled forms must not mix them up."""
    base = dict(vocab_size=100, seq_length=8, d_model=32, num_blocks=1, n_heads=4,
                block="transformer", head="tied")
    ranges = [parse_range("d_model=32:64:32")]
    follows = sweep(ModelConfig(**base), ranges, quantities=["flops"]).columns["flops"]
    held = sweep(ModelConfig(**base, head_dim=8), ranges, quantities=["flops"]).columns["flops"]
    assert follows[0] == held[0] and follows[1] != held[1]


def test_fixed_sizes_up_to_2_to_the_40() -> None:
    from paramcalc.plan import MAX_VALUE

    assert MAX_VALUE == 2**40
    config = from_name("id4").config
    sweep(config.replace(vocab_size=2**40), [parse_range("num_blocks=1:2")])
    with pytest.raises(ConfigError) as error:
        config.replace(vocab_size=2**40 + 1)
    assert str(error.value) == ("vocab_size must be at most 2**40 (1,099,511,627,776), got "
                                "1099511627777")


@pytest.mark.parametrize("axis", ["d_model=257:273:8", "d_model=241:257:8"])
def test_curves_meeting_at_the_first_or_last_grid_point(axis: str) -> None:
    config = from_name("id4").config.replace(n_heads=1)
    result = curves(config, parse_range(axis), "ratio", ["flatten", "tied-flatten"])
    [crossing] = result.crossovers
    expected = float(budget(config.replace(d_model=257)).ratio.value)
    assert (crossing.x, crossing.heads) == (257, ("flatten", "tied-flatten"))
    assert crossing.y == pytest.approx(expected, rel=1e-12)


def test_nothing_to_draw_when_every_curve_is_infinite(cli: Cli) -> None:
    result = cli("plot", "-p", "gpt2", "--x", "num_blocks=1:4", "--heads", "tied", "--terminal",
                 code=2)
    assert result.stderr.strip() == ("Error: nothing to draw: every point of num_blocks is "
                                     "invalid or infinite for tied (nothing written)")


@pytest.mark.parametrize("preset, overrides, name, bounds", [
    ("id4", {"head": "td-dense", "head_width": 5}, "head_width", (1, 16)),  # ≤ d
    ("id4", {"head": "bottleneck", "head_width": 5}, "head_width", (1, 32 * 16)),  # ≤ S·d
    ("id4", {"head": "conv"}, "kernel_size", (1, 32)),  # ≤ S
    ("id4", {"head": "conv", "kernel_size": 5}, "seq_length", (5, None)),  # S ≥ the kernel
    ("id4", {"positional": "learned", "n_positions": 40}, "seq_length", (1, 40)),  # ≤ P given
    ("id4", {"positional": "learned"}, "seq_length", (1, None)),  # P follows S
    ("id4", {"positional": "learned", "n_positions": 40}, "n_positions", (32, None)),  # P ≥ S
    ("id4", {"head": "td-dense", "head_width": 5}, "d_model", (5, None)),  # d ≥ head_width
    ("id4", {"head": "bottleneck", "head_width": 65}, "d_model", (4, None)),  # S·d ≥ 65: d ≥ 3;
    # and n_heads = 4 divides d: d ≥ 4
    ("id4", {"n_heads": 1, "head": "bottleneck", "head_width": 65}, "d_model", (3, None)),
    ("id4", {}, "d_model", (4, None)),  # n_heads = 4 divides d
    ("mixtral-8x7b", {}, "experts_per_token", (1, 8)),  # K ≤ E
    ("mixtral-8x7b", {}, "num_experts", (2, None)),  # E ≥ K = 2
    ("llama-3.2-1b", {}, "n_kv_heads", (1, 32)),  # g ≤ h
    ("llama-3.2-1b", {}, "n_heads", (8, None)),  # h ≥ the given g = 8
    ("gpt2", {}, "n_heads", (1, 768)),  # g follows h; h divides d = 768
    ("deepseek-v3", {}, "num_blocks", (3, None)),  # past the dense layers 0, 1, 2
    ("gpt2", {}, "num_blocks", (1, None)),
])
def test_the_bounds_each_constraint_sets(preset: str, overrides: dict, name: str,
                                         bounds: tuple) -> None:
    from paramcalc.plan.solve import _bounds

    assert _bounds(from_name(preset).config.replace(**overrides), name) == bounds


def test_solve_for_flops_at_20_tokens_a_parameter() -> None:
    """Without --tokens the run is Chinchilla's: D = 20·N. Brute force over num_blocks."""
    from paramcalc.compute import compute

    base = ModelConfig(vocab_size=1000, seq_length=64, d_model=64, num_blocks=2, n_heads=4,
                       block="transformer", head="linear")

    def spent(blocks: int) -> float:
        b = budget(base.replace(num_blocks=blocks))
        return compute(b).per_token_values["training"] * 20 * b.params["total"]

    spends = {v: spent(v) for v in range(1, 80)}
    for limit in (1e13, 1e14, 2e15):
        best = max(v for v, flops in spends.items() if flops <= limit)
        answer = solve(base, "num_blocks", flops=int(limit))
        assert answer.value == best and answer.target.endswith("on 20 tokens per parameter")


def test_solving_for_d_model_holds_a_default_head_width() -> None:
    """td-dense's head_width defaults to d/8 = 2 at id4's d = 16; solving for d_model holds
    it at 2 (the answer's configuration says so), as the brute force does."""
    config = from_name("id4").config.with_head("td-dense")
    assert config.head_width == 2
    answer = solve(config, "d_model", total=500_000)
    totals = {d: budget(config.replace(head_width=2, d_model=d)).params["total"]
              for d in range(4, 400, 4)}
    assert answer.value == max(d for d, t in totals.items() if t <= 500_000)
    assert answer.config.head_width == 2


def test_budget_and_range_edges() -> None:
    assert parse_budget("1") == 1
    parse_range("d=2:40000001:2")  # 20,000,000 points exactly
    with pytest.raises(SolveError, match="has 20,000,001 points"):
        parse_range("d=1:20000001")


def test_a_ratio_out_of_range_without_an_exponent() -> None:
    """1/10¹⁰¹ written out: no exponent for the quick check, the range check still says it."""
    text = "1/1" + "0" * 101
    with pytest.raises(SolveError) as error:
        parse_ratio(text)
    assert str(error.value) == (f"ratio target {text!r} is out of range: write one between "
                                "1e-100 and 1e100")


def test_why_not_for_a_quantity_that_grows_without_bound() -> None:
    """A ratio that grows without bound can still miss a target where the valid values stop
    (a bound): the reason says how it grows."""
    import sympy as sp

    from paramcalc.plan.solve import _why_not

    t = sp.Symbol("t", positive=True)
    assert _why_not(t**2 / 4, t, sp.Integer(100), "ge", "kernel_size", "ratio") == (
        "the ratio is 0.25 at kernel_size = 1 and grows without bound as kernel_size grows, "
        "never reaching 100")
    assert _why_not(1 + 1 / t, t, sp.Integer(3), "ge", "d_model", "ratio") == (
        "the ratio is 2 at d_model = 1 and approaches 1 as d_model grows, never reaching 3")


@pytest.mark.parametrize("case", _SWEEP_CASES, ids=lambda c: f"{c[0]}-{c[2]}")
def test_each_knob_alone_against_the_configuration(case: tuple) -> None:
    """Every knob of every case swept alone over small values (below 8 too, where a default
    head_width d/8 would reach 0): the defaults that follow it follow as spec.py has them."""
    from paramcalc import ConfigError

    preset, overrides, head, knobs = case
    config = from_name(preset).config.replace(**overrides).with_head(head)
    for name in knobs:
        grid = sweep(config, [parse_range(f"{name}=1:9")], [head])
        for i, value in enumerate(grid.columns[name].tolist()):
            try:
                expected = budget(config.replace(**{name: value})).params
            except ConfigError:
                assert not grid.columns["valid"][i], (name, value)
                continue
            assert grid.columns["valid"][i], (name, value)
            assert (grid.columns["total"][i], grid.columns["active"][i]) == \
                (expected["total"], expected["active"]), (name, value)


def test_an_ordinary_answer_is_not_at_a_bound() -> None:
    answer = solve(from_name("id6").config, "num_blocks", total=1_000_000)
    assert answer.at_bound is False and answer.value is not None
    assert answer.neighbour == answer.value + 1


def test_an_unbounded_answer_keeps_its_name_and_equation() -> None:
    answer = solve(from_name("id6").config, "d_model", ratio=Fraction(1, 2))
    assert (answer.name, answer.value, answer.unbounded_from) == ("d_model", None, 8)
    assert str(answer.equation) != "None" and "d" in str(answer.equation)


def test_nothing_to_solve_word_for_word() -> None:
    with pytest.raises(SolveError) as error:
        solve(from_name("gpt2").config, "num_blocks", ratio=Fraction(1))
    assert str(error.value) == ("every num_blocks meets ratio ≥ 1: the tied head owns no "
                                "parameters (its matrix is the embedding's), so blocks ÷ head is "
                                "infinite; there is nothing to solve")
    with pytest.raises(SolveError) as error:
        solve(from_name("id4").config, "n_kv_heads", total=10**6)
    assert str(error.value) == ("n_kv_heads does not apply to this configuration (flatten head, "
                                "seed blocks, sinusoidal positions)")


def test_the_flops_target_is_named() -> None:
    base = ModelConfig(vocab_size=1000, seq_length=64, d_model=64, num_blocks=2, n_heads=4,
                       block="transformer", head="linear")
    assert solve(base, "num_blocks", flops=10**16, tokens=10**9).target == \
        "training FLOPs ≤ 1e+16 on 1,000,000,000 tokens"


def test_a_default_size_can_be_solved_for_and_swept() -> None:
    """n_kv_heads and head_dim left to their defaults are written through n_heads and d/h; solved
    for or swept they are their own sizes (against spec.py's configuration at each value)."""
    config = from_name("id4").config.replace(block="transformer", n_heads=8, d_model=32)
    assert not config.is_given("n_kv_heads") and not config.is_given("head_dim")
    totals = {g: budget(config.replace(n_kv_heads=g)).params["total"] for g in (1, 2, 4, 8)}
    target = totals[2] + 1
    assert solve(config, "n_kv_heads", total=target).value == 2
    grid = sweep(config, [parse_range("head_dim=1:6")])
    assert grid.columns["total"].tolist() == [
        budget(config.replace(head_dim=a)).params["total"] for a in range(1, 7)]


def test_given_expert_widths_stay_when_d_model_moves() -> None:
    config = from_name("id4").config.replace(block="transformer", num_experts=4,
                                             experts_per_token=2, expert_d_ff=24,
                                             shared_experts=1, shared_d_ff=12)
    grid = sweep(config, [parse_range("d_model=4:16:4")])
    assert grid.columns["total"].tolist() == [
        budget(config.replace(d_model=d)).params["total"] for d in (4, 8, 12, 16)]
    # the experts follow d_ff = 4·d_model; the shared expert, given 12 wide, stays 12
    config = from_name("id4").config.replace(block="transformer", num_experts=4,
                                             experts_per_token=2, shared_experts=1,
                                             shared_d_ff=12)
    grid = sweep(config, [parse_range("d_model=4:16:4")])
    assert grid.columns["total"].tolist() == [
        budget(config.replace(d_model=d)).params["total"] for d in (4, 8, 12, 16)]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give one target: --ratio R, --total BUDGET, --active BUDGET or --flops BUDGET"),
    ({"total": 10**6, "tokens": 10**9},
     "--tokens goes with --flops (the tokens of the run that spends it)"),
    ({"flops": 10, "tokens": 10},
     "no valid num_blocks meets training FLOPs ≤ 10 on 10 tokens: even num_blocks = 1 gives a "
     "training FLOPs of 48,172,800"),
])
def test_solve_target_messages(kwargs: dict, message: str) -> None:
    """The last by hand: id6's window head predicts once per sequence, so a token costs the
    whole training step; at one block 3 × (2·32·4·64² + 4·32²·64 + 2·(32·64)·64 + 2·64·257)
    = 3 × 1,605,760 = 4,817,280 FLOPs, times 10 tokens."""
    with pytest.raises(SolveError) as error:
        solve(from_name("id6").config, "num_blocks", **kwargs)
    assert str(error.value) == message


def test_a_flops_answer_is_checked_on_the_tokens_given() -> None:
    """id6 (V 257, S 32, d 64, seed blocks, tied-flatten head), 2·M·K·N per product, training
    = 3 × forward, one prediction per window. Per block: Q, K, V and the feed-forward Dense,
    4 · 2·S·d² = 1,048,576, scores and values 2 · 2·S²·d = 262,144; the head: flatten S·d → d,
    2·S·d² = 262,144, logits d → V through the shared table, 2·d·V = 32,896."""
    def per_window(blocks: int) -> int:
        return 3 * (blocks * (1_048_576 + 262_144) + 262_144 + 32_896)

    answer = solve(from_name("id6").config, "num_blocks", flops=2 * 10**16, tokens=10**9)
    assert answer.value == 4  # 3·(1,310,720·n + 295,040)·10⁹ ≤ 2·10¹⁶: n ≤ 4.86
    assert answer.achieved == 10**9 * per_window(4) == 16_613_760 * 10**9
    assert answer.neighbour == 5 and answer.neighbour_achieved == 10**9 * per_window(5)


# Llama 3.2 1B (V 128,256, d 2,048, 16 blocks, 32 heads of 64, d_ff 8,192, tied) with 32
# key/value heads: per block Q and O 2·2048², K and V 2·2048·(32·64), the gated MLP 3·2048·8192,
# two RMSNorms 2·2048; then the table 128256·2048 and the final norm 2048
LLAMA_1B_32_KV = (16 * (2 * 2048**2 + 2 * 2048 * 32 * 64 + 3 * 2048 * 8192 + 2 * 2048)
                  + 128256 * 2048 + 2048)


@pytest.mark.parametrize("preset, name, target, value, neighbour, at_bound", [
    # the smallest n reaching 150/683 (ratio 88·n/683) is 2; n = 1 is the valid one below
    ("id6", "num_blocks", {"ratio": Fraction(150, 683)}, 2, 1, False),
    # d_ff = 1 already meets a tiny ratio; d_ff = 0 would too, but it is not a size at all
    ("llama-3.1-8b", "d_ff", {"ratio": Fraction(1, 10**6)}, 1, None, False),
    # two experts per token: num_experts cannot go below 2, where a tiny ratio is still met
    ("mixtral-8x7b", "num_experts", {"ratio": Fraction(1, 10**6)}, 2, None, True),
    # exactly the budget of 32 key/value heads: the budget binds as much as n_heads = 32
    ("llama-3.2-1b", "n_kv_heads", {"total": LLAMA_1B_32_KV}, 32, None, False),
    # twice that: a 33rd would fit, but n_kv_heads ≤ n_heads
    ("llama-3.2-1b", "n_kv_heads", {"total": 2 * LLAMA_1B_32_KV}, 32, None, True),
])
def test_an_answer_at_the_edge_of_the_valid_range(preset: str, name: str, target: dict,
                                                  value: int, neighbour: int | None,
                                                  at_bound: bool) -> None:
    answer = solve(from_name(preset).config, name, **target)
    assert (answer.value, answer.neighbour, answer.at_bound) == (value, neighbour, at_bound)
    if neighbour is None:  # nothing valid past the answer: nothing achieved there either
        assert answer.neighbour_achieved is None
    else:  # id6: blocks ÷ head = 88·n/683
        assert answer.neighbour_achieved == Fraction(88 * neighbour, 683)


def test_a_sweep_counts_up_to_the_int64_guard_and_refuses_past_it() -> None:
    """id6 at width d: the table 257·d, four blocks of four Dense d → d and two LayerNorms,
    4·(4·(d² + d) + 4·d), the tied-flatten head's S·d → d Dense, 32·d² + d: 48·d² + 290·d.
    The guard refuses a grid whose largest count passes 2⁶² (int64 ends at 2⁶³)."""
    config = from_name("id6").config
    d = 300_000_000  # 48·d² ≈ 0.94 · 2⁶²
    grid = sweep(config, [parse_range(f"d_model={d}:{d}")])
    assert grid.columns["total"].tolist() == [48 * d**2 + 290 * d]
    d = 350_000_000  # ≈ 1.28 · 2⁶²: it would still fit in int64, but not with room to spare
    with pytest.raises(SolveError, match="^the total passes 4.6e18 parameters somewhere in "
                                         "these ranges; narrow them$"):
        sweep(config, [parse_range(f"d_model={d}:{d}")])


def test_an_unknown_name_lists_every_name_word_for_word() -> None:
    from paramcalc.plan.targets import symbol_for

    with pytest.raises(SolveError) as error:
        symbol_for("width", "--for")
    assert str(error.value) == (
        "unknown hyperparameter 'width' in --for; choose one of: vocab_size, seq_length, "
        "d_model, num_blocks, d_ff, n_positions, head_width, kernel_size, n_heads, n_kv_heads, "
        "sliding_kv_heads, head_dim, num_experts, experts_per_token, expert_d_ff, "
        "shared_experts, shared_d_ff, q_lora_rank, kv_lora_rank, qk_rope_head_dim, "
        "qk_nope_head_dim, v_head_dim, sliding_window, attention_chunk_size, index_n_heads, "
        "index_head_dim, d_state, d_conv, d_inner, dt_rank, ssm_groups, ssm_heads, "
        "ssm_head_dim (or their symbols)")


def test_sweeping_n_heads_from_one_where_a_width_is_divided_by_it() -> None:
    """One key/value head given; a head is d/h wide by default, so K and V are g·(d/h) wide,
    a quotient by the varied n_heads, and at h = 1 a quotient by 1."""
    config = ModelConfig(vocab_size=50, seq_length=8, d_model=12, num_blocks=2, n_heads=3,
                         n_kv_heads=1, block="transformer", head="linear")
    grid = sweep(config, [parse_range("n_heads=1:4")])

    def by_hand(h: int) -> int:
        # d = 12, d_ff 48; per block Q and O 2·(12·12 + 12), K and V 2·(12·w + w) with
        # w = 12/h, the MLP 12·48 + 48 + 48·12 + 12, two LayerNorms 2·24; the table 50·12 and
        # the head 12·50 with its logits bias 50 (no final norm here)
        w = 12 // h
        per_block = 2 * (144 + 12) + 2 * (12 * w + w) + (576 + 48 + 576 + 12) + 48
        return 2 * per_block + 600 + 600 + 50

    assert grid.columns["valid"].tolist() == [True, True, True, True]
    assert grid.columns["total"].tolist() == [by_hand(h) for h in (1, 2, 3, 4)]


@pytest.mark.parametrize("segments, meets, valid, smallest, low, high, expected", [
    # no bound above: the largest of an open run is "unbounded"; a bound above takes its place
    ([(1, None)], lambda v: True, lambda v: True, False, 1, None, "unbounded"),
    ([(1, None)], lambda v: True, lambda v: True, False, 1, 5, 5),
    ([(1, None)], lambda v: True, lambda v: True, True, 3, 5, 3),
    # the run that meets lies past the bound: on to the next run that meets, below it
    ([(1, 2), (3, 4), (5, None)], lambda v: v <= 2 or v >= 5, lambda v: True, False, 1, 4, 2),
    # no valid value in the meeting run: never a value of the next run, which does not meet
    ([(1, 3), (4, None)], lambda v: v <= 3, lambda v: v >= 4, True, 1, None, None),
    ([(1, 3), (4, 6)], lambda v: v >= 4, lambda v: v <= 3, False, 1, None, None),
    # one search exhausted in a run without valid values goes on to the next run
    ([(1, 200_001), (200_002, None)], lambda v: True, lambda v: v == 200_002 or v == 7,
     True, 8, None, 200_002),
])
def test_extremal_on_crafted_runs(segments: list, meets: Any, valid: Any, smallest: bool,
                                  low: int, high: int | None, expected: Any) -> None:
    from paramcalc.plan.solve import _extremal

    assert _extremal(segments, meets, valid, smallest, low, high) == expected


def test_first_meeting_starts_at_the_last_run() -> None:
    from paramcalc.plan.solve import _first_meeting

    assert _first_meeting([(1, 3), (4, None)], lambda v: True, 1) == 4
    assert _first_meeting([(1, 3), (4, None)], lambda v: True, 6) == 6
    assert _first_meeting([(1, 3), (4, None)], lambda v: v % 5 == 0, 1) == 5


def test_a_curve_of_zeros_cannot_be_drawn_on_a_log_axis() -> None:
    import numpy as np

    from paramcalc.plan.sweep import Curves

    zeros = Curves("d_model", "total", np.arange(3), {"tied": np.zeros(3)}, [])
    assert not zeros.drawable()
    assert Curves("d_model", "total", np.arange(3), {"tied": np.array([0.0, 2.0, np.inf])},
                  []).drawable()


def test_the_front_keeps_the_best_ratio_among_equal_totals() -> None:
    """Crafted points: two of equal total; the one with the higher ratio is on the front, the
    other is beaten by it (same parameters, lower ratio)."""
    import numpy as np

    from paramcalc.plan.sweep import Grid

    grid = Grid(names=["d_model"], heads=["linear"], columns={
        "total": np.array([100, 100, 200, 300]), "ratio": np.array([1.0, 2.0, 1.5, 3.0]),
        "valid": np.array([True, True, True, True])})
    assert grid.front().tolist() == [1, 3]  # 100 at ratio 2, then 300 at ratio 3
