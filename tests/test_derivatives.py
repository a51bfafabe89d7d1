"""Derivatives and elasticities, checked against hand-derived formulas in exact fractions."""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from paramcalc import budget, from_name
from paramcalc.symbols import SYMBOLS

d, n, S, V = (SYMBOLS[k] for k in ("d_model", "num_blocks", "seq_length", "vocab_size"))


def _id4() -> tuple[int, int, int, int]:
    c = from_name("id4").config
    return c.d_model, c.num_blocks, c.seq_length, c.vocab_size


def test_ratio_derivatives_of_the_flatten_head_by_hand() -> None:
    dd, nn, ss, vv = _id4()
    blocks = nn * (4 * dd * dd + 8 * dd)  # the log's block: 3·d(d+1) + d(d+1) + two LayerNorms
    head = ss * dd * vv + vv
    rows = budget(from_name("id4").config).derivatives("ratio")
    # quotient rule, by hand
    assert rows["seq_length"].value == Fraction(-blocks * dd * vv, head**2)
    assert rows["vocab_size"].value == Fraction(-blocks * (ss * dd + 1), head**2)
    assert rows["num_blocks"].value == Fraction(4 * dd * dd + 8 * dd, head)
    d_blocks = nn * (8 * dd + 8)
    assert rows["d_model"].value == Fraction(d_blocks * head - blocks * ss * vv, head**2)


def test_elasticities_that_are_exact_by_structure() -> None:
    rows = budget(from_name("id4").config).derivatives("ratio")
    assert rows["num_blocks"].elasticity == 1  # ratio ∝ n
    assert rows["vocab_size"].elasticity == -1  # ratio ∝ 1/V for the flatten head


def test_log_slip_total_derivative_in_d_model_keeps_its_factor_of_d() -> None:
    # the log writes ∂total/∂d_model = 8·num_blocks + seq_length·vocab_size
    rows = budget(from_name("id4").config).derivatives("total")
    assert sp.expand(rows["d_model"].approx_formula - (8 * n * d + S * V)) == 0


def test_log_slip_ratio_derivative_in_vocab_size_is_not_the_seq_length_one() -> None:
    rows = budget(from_name("id4").config).derivatives("ratio")
    assert sp.simplify(rows["vocab_size"].approx_formula + 4 * n * d / (S * V**2)) == 0
    assert sp.simplify(rows["seq_length"].approx_formula + 4 * n * d / (V * S**2)) == 0
    assert sp.simplify(rows["num_blocks"].approx_formula - 4 * d / (S * V)) == 0
    assert sp.simplify(rows["d_model"].approx_formula - 4 * n / (S * V)) == 0


def test_derivatives_only_for_symbols_the_expression_has() -> None:
    rows = budget(from_name("id6").config).derivatives("ratio")
    assert set(rows) == {"seq_length", "d_model", "num_blocks"}  # a tied-flatten ratio has no V
    assert budget(from_name("gpt2").config).derivatives("ratio") == {}
    assert "d_ff" in budget(from_name("gpt2").config).derivatives("total")


def test_wrt_restricts_to_one_symbol() -> None:
    rows = budget(from_name("id4").config).derivatives("total", S)
    assert list(rows) == ["seq_length"]
    assert rows["seq_length"].value == 257 * 16  # ∂(S·d·V)/∂S = d·V


def test_each_derivative_names_its_hyperparameter() -> None:
    from paramcalc import budget, from_name

    rows = budget(from_name("id4").config).derivatives("total")
    assert all(name == d.name and d.symbol.name in ("V", "S", "d", "n") for name, d in rows.items())


def test_count_json_formulas_name_every_row() -> None:
    from typer.testing import CliRunner

    from paramcalc.cli import app

    def formulas(*args: str) -> list[str]:
        import json
        return list(json.loads(CliRunner().invoke(app, ["count", *args, "--json"]).stdout)
                    ["formulas"])

    components = ["embedding", "positional", "blocks", "final_norm", "head"]
    assert formulas("--preset", "id4") == [*components, "per_block", "total"]
    assert formulas("--preset", "deepseek-v3") == [*components, "per_block[dense]",
                                                   "per_block[moe]", "total", "active"]
