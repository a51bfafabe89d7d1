"""Exact and leading-order parameter counts per component, the ratio, and its derivatives.

Every count is a sympy expression over the positive-integer symbols of ``symbols.py``,
built with Python operators from the layers each component holds. The leading-order
count keeps the terms of highest total degree: the log's approximations
(4·n·d² for seed blocks, S·d·V for the flatten head).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .pattern import ORDER, Group, group_name, growth, period
from .spec import ModelConfig
from . import layers
from .layers import SubLayer, total
from .symbols import DIMENSIONLESS, NAMES, SYMBOLS, d, n

#: the components of a model, in order; the torch modules carry the same names
COMPONENTS = ("embedding", "positional", "blocks", "final_norm", "head")

_ZERO = sp.Integer(0)


def leading(expr: sp.Expr) -> sp.Expr:
    """The terms of highest total degree in the hyperparameter symbols of an expanded
    expression (a sum of monomials, as ``Count.of`` makes it). Widths, lengths, the vocabulary
    and the number of blocks carry degree 1; counts of heads, key/value groups and experts are
    dimensionless, so h·d_h·d ranks with d² whether head_dim is given or follows d/h."""
    terms = sp.Add.make_args(expr)
    if not terms or expr == 0:
        return _ZERO
    symbols = set(SYMBOLS.values()) - DIMENSIONLESS

    def degree(term: sp.Expr) -> int:
        return sum(int(power) for base, power in term.as_powers_dict().items() if base in symbols)

    top = max(degree(term) for term in terms)
    return sp.Add(*(term for term in terms if degree(term) == top))


def substitutions(config: ModelConfig) -> dict[sp.Symbol, sp.Integer]:
    """Each symbol that applies to the configuration, mapped to its value."""
    return config.values()


@dataclass(frozen=True)
class Count:
    """A parameter count: the exact expression and its leading-order part."""

    exact: sp.Expr
    approx: sp.Expr

    @classmethod
    def of(cls, expr: sp.Expr) -> Count:
        exact = sp.expand(expr)
        return cls(exact, leading(exact))


@dataclass(frozen=True)
class Derivative:
    """∂y/∂x of one count or ratio with respect to one hyperparameter."""

    name: str  # the hyperparameter, e.g. "d_model"
    symbol: sp.Symbol
    formula: sp.Expr  # ∂y/∂x, exact
    approx_formula: sp.Expr  # ∂y/∂x of the leading-order y
    value: sp.Rational  # ∂y/∂x at the configuration
    elasticity: sp.Rational  # ∂ln y/∂ln x = (∂y/∂x)·x/y: the % change of y per % of x


@dataclass(frozen=True)
class Ratio:
    """Parameters in the blocks ÷ parameters the head owns."""

    exact: sp.Expr | None  # None when the head owns nothing: the ratio is infinite
    approx: sp.Expr | None
    value: sp.Rational | None
    approx_value: sp.Rational | None
    note: str | None  # why the ratio is infinite


@dataclass(frozen=True)
class BlockKind:
    """Blocks that are alike: how many, and what one holds."""

    name: str  # "dense" or "moe"
    count: sp.Expr  # n, or n less the dense layers of a mixture-of-experts model
    size: Count  # one block
    idle: sp.Expr  # what one block holds that a token does not pass through: unrouted experts
    mixer: str = "full"  # its attention: "full" or "sliding" (a window of sliding_window tokens)
    layers: tuple[SubLayer, ...] = ()  # its sub-layers: mixer, feed-forward part, norms
    moe: bool = False  # whether its feed-forward part is a mixture of experts


def block_kinds(config: ModelConfig) -> list[BlockKind]:
    """The kinds of block, from the layer pattern: one for most models; dense and MoE blocks
    for DeepSeek's kind, full and sliding-window attention for Gemma 2's.

    Each kind's count is its number of blocks plus its share of the layers past the last
    one: with L = the pattern's period, a kind that the next L layers would add m blocks of
    counts c + m·(n − n₀)/L. So ∂/∂num_blocks adds blocks as the pattern adds them (1 MoE
    block per block for DeepSeek, 1/6 full and 5/6 sliding for Gemma 3), and every count is
    exact at n₀ and, for an interleaved pattern, at n₀ plus a multiple of L.
    """
    groups = config.groups
    added = growth(config) if config.block == "transformer" else {("full", "dense"): 1}
    every = period(config) if config.block == "transformer" else 1
    present = {(g.mixer, g.ffn): g.count for g in groups}
    for key in added:
        present.setdefault(key, 0)
    keys = [key for key in ORDER if key in present]
    named = tuple(Group(m, f, present[m, f]) for m, f in keys)
    kinds = []
    for group in named:
        moe = group.ffn == "moe"
        share = sp.Rational(added.get((group.mixer, group.ffn), 0), every)
        count = sp.Integer(group.count) + share * (n - config.num_blocks)
        parts = layers.block(config, moe=moe, mixer=group.mixer, ffn=group.ffn)
        kinds.append(BlockKind(group_name(group, named), sp.expand(count),
                               Count.of(total(parts, "params")), sp.expand(total(parts, "idle")),
                               group.mixer, parts, moe))
    return kinds


class Budget:
    """Where a configuration's parameters go: formulas per component, and their values."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.values = substitutions(config)
        self.kinds = block_kinds(config)
        #: one block's count when all blocks are alike, else None (see ``kinds``)
        self.per_block: Count | None = self.kinds[0].size if len(self.kinds) == 1 else None
        if self.per_block is not None:
            blocks = Count(sp.expand(n * self.per_block.exact), n * self.per_block.approx)
        else:
            blocks = Count.of(sp.Add(*(kind.count * kind.size.exact for kind in self.kinds)))
        #: the sub-layers of every component but the blocks (``kinds`` holds theirs)
        self.layers = layers.components(config)
        self.components: dict[str, Count] = {
            name: blocks if name == "blocks" else Count.of(total(self.layers[name], "params"))
            for name in COMPONENTS}
        self.total = Count.of(sp.Add(*(c.exact for c in self.components.values())))
        idle = sp.Add(*(kind.count * kind.idle for kind in self.kinds))
        #: parameters a token passes through: the total less the experts it is not routed to
        self.active = self.total if idle == 0 else Count.of(self.total.exact - idle)

    def evaluate(self, expr: sp.Expr) -> sp.Rational:
        """The value of an expression at this configuration."""
        return expr.xreplace(self.values)

    @cached_property
    def params(self) -> dict[str, int]:
        """Exact counts per component, plus ``per_block`` (when all blocks are alike),
        ``total`` and ``active``."""
        counts = {name: int(self.evaluate(c.exact)) for name, c in self.components.items()}
        if self.per_block is not None:
            counts["per_block"] = int(self.evaluate(self.per_block.exact))
        counts["total"] = sum(counts[name] for name in COMPONENTS)
        counts["active"] = int(self.evaluate(self.active.exact))
        return counts

    @cached_property
    def approx_params(self) -> dict[str, int]:
        """Leading-order counts per component, plus ``per_block``, ``total`` and ``active``."""
        counts = {name: int(self.evaluate(c.approx)) for name, c in self.components.items()}
        if self.per_block is not None:
            counts["per_block"] = int(self.evaluate(self.per_block.approx))
        counts["total"] = int(self.evaluate(self.total.approx))
        counts["active"] = int(self.evaluate(self.active.approx))
        return counts

    def formula_rows(self) -> list[tuple[str, Count, int]]:
        """Every formula with its value: the components, one block (of each kind), the total,
        and the active count where it differs from the total."""
        rows = [(name, self.components[name]) for name in COMPONENTS]
        if self.per_block is not None:
            rows.append(("per_block", self.per_block))
        else:
            rows += [(f"per_block[{kind.name}]", kind.size) for kind in self.kinds]
        rows.append(("total", self.total))
        if self.active is not self.total:
            rows.append(("active", self.active))
        return [(name, count, int(self.evaluate(count.exact))) for name, count in rows]

    def kind_params(self) -> list[dict[str, object]]:
        """Each kind of block: its name, how many, one block's count and formula."""
        return [{"kind": kind.name, "count": int(self.evaluate(kind.count)),
                 "per_block": int(self.evaluate(kind.size.exact)),
                 "active_per_block": int(self.evaluate(kind.size.exact - kind.idle))}
                for kind in self.kinds]

    @cached_property
    def ratio(self) -> Ratio:
        """Blocks ÷ head, exact and leading-order, or infinite with a note."""
        blocks, owned = self.components["blocks"], self.components["head"]
        if owned.exact == 0:
            note = (f"the {self.config.head} head owns no parameters (its matrix is the "
                    "embedding's), so blocks ÷ head is infinite")
            return Ratio(None, None, None, None, note)
        exact = tidy_ratio(blocks.exact, owned.exact)
        approx = tidy_ratio(blocks.approx, owned.approx)
        return Ratio(exact, approx, self.evaluate(exact), self.evaluate(approx), None)

    def derivatives(self, of: str, wrt: sp.Symbol | None = None) -> dict[str, Derivative]:
        """Partial derivatives of ``"ratio"``, ``"total"`` or ``"active"`` at this
        configuration."""
        if of == "ratio":
            if self.ratio.exact is None or self.ratio.approx is None:
                return {}
            exact, approx = self.ratio.exact, self.ratio.approx
        elif of == "active":
            exact, approx = self.active.exact, self.active.approx
        else:
            exact, approx = self.total.exact, self.total.approx
        return derivatives_of(Count(exact, approx), self.values, wrt)


def derivatives_of(count: Count, values: dict[sp.Symbol, sp.Integer],
                   wrt: sp.Symbol | None = None) -> dict[str, Derivative]:
    """∂y/∂x of a count for every hyperparameter it depends on (or only ``wrt``)."""
    value = count.exact.xreplace(values)
    result = {}
    for symbol in SYMBOLS.values():
        if symbol not in count.exact.free_symbols or wrt not in (None, symbol):
            continue
        formula = sp.factor(sp.diff(count.exact, symbol))
        slope = formula.xreplace(values)
        result[NAMES[symbol]] = Derivative(
            name=NAMES[symbol], symbol=symbol, formula=formula,
            approx_formula=sp.factor(sp.diff(count.approx, symbol)), value=slope,
            elasticity=slope * values[symbol] / value if value else sp.Integer(0))
    return result


def tidy_ratio(numerator: sp.Expr, denominator: sp.Expr) -> sp.Expr:
    """numerator / denominator with each side's common factors pulled out: 4·d·n·(d + 2)/…"""
    return sp.factor_terms(numerator) / sp.factor_terms(denominator)


def budget(config: ModelConfig) -> Budget:
    """Analyse a configuration."""
    return Budget(config)


@dataclass(frozen=True)
class Conventions:
    """The total by the conventions people quote, and Kaplan et al.'s approximation."""

    total: int  # every parameter, a shared tensor once
    active: int  # what one token passes through: the total less the experts it is not sent to
    without_positions: int  # nanoGPT's get_num_params(): the position table left out
    non_embedding: int  # Kaplan et al.: token and position tables left out
    kaplan: int  # 12·n·d², Kaplan et al.'s approximation of the non-embedding count
    kaplan_relative_error: float  # (12·n·d² − non_embedding) / non_embedding


def conventions(b: Budget) -> Conventions:
    """Count ``b`` by each convention; the relative error shows where 12·n·d² misleads."""
    params = b.params
    non_embedding = params["total"] - params["embedding"] - params["positional"]
    kaplan = int(b.evaluate(KAPLAN))
    return Conventions(params["total"], params["active"], params["total"] - params["positional"],
                       non_embedding, kaplan, (kaplan - non_embedding) / non_embedding)


#: Kaplan et al. (2020): N ≈ 2·d·n·(2·d_attn + d_ff) = 12·n·d² with d_attn = d and d_ff = 4·d
KAPLAN = 12 * n * d**2

#: bytes per parameter for weights, and for Adam training in fp32: weights, gradients, 2 moments
BYTES_PER_PARAM = {"fp32": 4, "bf16": 2, "int8": 1, "adam_fp32_training": 16}


def memory(b: Budget) -> dict[str, int]:
    """Bytes of the parameters in each format, and of fp32 training with Adam."""
    return {kind: size * b.params["total"] for kind, size in BYTES_PER_PARAM.items()}
