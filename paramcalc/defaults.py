"""The one table of defaults and the one table of constraints, as sympy over the symbols.

``spec.py`` fills in a size the user left out from ``DEFAULTS`` and checks integers against
``CONSTRAINTS``; the formulas write a size through its default where the table says so
(``written``); ``sweep`` makes the defaults follow a varied size and vectorizes the
constraints; ``solve`` takes its bounds from them. Nothing else states a default or a bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sympy as sp

from .pattern import state_space
from .symbols import E, G, H, K, P, S, a, d, d_I, d_P, d_R, d_ix, f, f_E, g, g_W, h, k, n, w

if TYPE_CHECKING:
    from .spec import ModelConfig


@dataclass(frozen=True)
class Default:
    """What a size is when the user leaves it out."""

    value: sp.Expr  # over the symbols of the sizes it follows; floor() where it must be whole
    applies: Callable[[ModelConfig], bool]  # whether the size exists in this configuration
    written: bool = False  # formulas write it as ``value`` (d/h), not as its own symbol


def _transformer(c: ModelConfig) -> bool:
    return c.block == "transformer"


def _experts(c: ModelConfig) -> bool:
    return bool(c.num_experts)


def _latent(c: ModelConfig) -> bool:
    return c.kv_lora_rank is not None


def _ssm(c: ModelConfig) -> bool:
    return state_space(c) is not None


def _mamba(c: ModelConfig) -> bool:
    return state_space(c) == "mamba"


def _mamba2(c: ModelConfig) -> bool:
    """Mamba-2's heads and groups, which gated DeltaNet reads too (value heads d_P wide, key
    heads N wide)."""
    return state_space(c) in ("mamba2", "deltanet")


def _head_uses(option: str) -> Callable[[ModelConfig], bool]:
    def uses(c: ModelConfig) -> bool:
        from .spec import HEAD_OPTIONS

        return option in HEAD_OPTIONS[str(c.head)]
    return uses


#: head_dim's default, d/h, for the sizes that follow it
_HEAD = sp.floor(d / h)

#: the defaults, in the order they are resolved (a default may follow one above it)
DEFAULTS: dict[str, Default] = {
    "n_heads": Default(sp.Integer(1), lambda c: True),
    "d_ff": Default(4 * d, _transformer),
    "n_positions": Default(S, lambda c: c.positional == "learned"),
    "head_dim": Default(_HEAD, _transformer, written=True),
    "n_kv_heads": Default(h, _transformer, written=True),
    "experts_per_token": Default(sp.Integer(1), _experts),
    "expert_d_ff": Default(f, _experts),
    "shared_experts": Default(sp.Integer(0), _experts),
    "shared_d_ff": Default(f_E, lambda c: bool(c.num_experts and c.shared_experts)),
    "qk_rope_head_dim": Default(sp.floor(a / 2), _latent),
    "qk_nope_head_dim": Default(a, _latent),
    # (multi-head attention's values are d_h wide unless given: MiMo-V2-Flash's are narrower)
    "v_head_dim": Default(a, lambda c: _latent(c) or c.v_head_dim is not None),
    "kernel_size": Default(sp.Integer(3), _head_uses("kernel_size")),
    # state-space mixers: Mamba's defaults (state 16, kernel 4, expand 2, dt_rank ⌈d/16⌉);
    # a Mamba-2 head is d_inner / ssm_heads wide unless given
    "d_state": Default(sp.Integer(16), _ssm),
    "d_conv": Default(sp.Integer(4), _ssm),
    "d_inner": Default(2 * d, _ssm, written=True),
    "dt_rank": Default(sp.ceiling(d / 16), _mamba),
    "ssm_groups": Default(sp.Integer(1), _mamba2),
    "ssm_heads": Default(sp.Integer(1), _mamba2),
    "ssm_head_dim": Default(sp.floor(d_I / H), _mamba2, written=True),
}


def head_width_default(head: str) -> sp.Expr:
    """The reducing heads' width: d for the bottleneck, else d/8 (at least 1)."""
    return d if head == "bottleneck" else sp.Max(1, sp.floor(d / 8))


def default_of(config: ModelConfig, name: str) -> sp.Expr:
    """The default of ``name`` for this configuration, as an expression."""
    if name == "head_width":
        return head_width_default(str(config.head))
    return DEFAULTS[name].value


def written(config: ModelConfig, name: str) -> sp.Expr:
    """A size as the formulas write it: its own symbol when given, else its default."""
    from .symbols import SYMBOLS

    if config.is_given(name) or not DEFAULTS[name].written:
        return SYMBOLS[name]
    return DEFAULTS[name].value.replace(sp.floor, lambda x: x)  # d/h: exact where h | d


@dataclass(frozen=True)
class Constraint:
    """``low ≤ high`` (``kind = "le"``) or ``low divides high`` (``"divides"``), where it
    applies, with the sentence that explains a failure."""

    kind: Literal["le", "divides"]
    low: sp.Expr
    high: sp.Expr
    applies: Callable[[ModelConfig], bool]
    message: Callable[[Mapping[str, Any]], str]  # from the sizes' values by name

    def holds(self, values: Mapping[sp.Symbol, sp.Integer]) -> bool:
        """Whether the integers at ``values`` keep it."""
        low, high = self.low.xreplace(values), self.high.xreplace(values)
        return bool(low <= high) if self.kind == "le" else int(high) % int(low) == 0


def _bottleneck(c: ModelConfig) -> bool:
    return c.head == "bottleneck"


def _dense_limit(c: ModelConfig) -> sp.Expr:
    return sp.Integer(max(c.dense_layers or (0,)) + 1)


#: the head sizes of latent attention, which otherwise follow d/h
_LATENT_HEADS = ("qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")

def _moa_heads(v: Mapping[str, Any]) -> str:
    return (f"n_heads ({v['n_heads']}) must be experts_per_token × n_kv_heads "
            f"({v['experts_per_token']} × {v['n_kv_heads']}): with attention_experts each of a "
            "token's K experts gives it n_kv_heads query heads")


#: every relation between sizes that a configuration must keep
CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint("divides", h, d,  # (latent attention given its head sizes has no d/h)
               lambda c: c.block == "seed" or not c.is_given("head_dim")
               and not (c.latent and all(c.is_given(name) for name in _LATENT_HEADS)),
               lambda v: f"n_heads ({v['n_heads']}) must divide d_model ({v['d_model']})"),
    Constraint("divides", g, h, _transformer,
               lambda v: f"n_kv_heads ({v['n_kv_heads']}) must divide n_heads ({v['n_heads']}): "
                         "each key/value head serves a whole group of query heads"),
    Constraint("divides", g_W, h, lambda c: c.sliding_kv_heads is not None,
               lambda v: f"sliding_kv_heads ({v['sliding_kv_heads']}) must divide n_heads "
                         f"({v['n_heads']}): each key/value head serves a whole group of "
                         "query heads"),
    Constraint("le", S, P, lambda c: c.positional == "learned",
               lambda v: f"n_positions ({v['n_positions']}) must be at least seq_length "
                         f"({v['seq_length']})"),
    Constraint("le", K, E, _experts,
               lambda v: f"experts_per_token ({v['experts_per_token']}) must not exceed "
                         f"num_experts ({v['num_experts']})"),
    Constraint("le", k, S * d, lambda c: c.head_width is not None and _bottleneck(c),
               lambda v: f"head_width ({v['head_width']}) must not exceed the width the "
                         f"bottleneck head reduces, seq_length × d_model = "
                         f"{v['seq_length'] * v['d_model']}"),
    Constraint("le", k, d, lambda c: c.head_width is not None and not _bottleneck(c),
               lambda v: f"head_width ({v['head_width']}) must not exceed the width the "
                         f"{v['head']} head reduces, d_model = {v['d_model']}"),
    Constraint("le", d_R, d_ix, lambda c: c.index_n_heads is not None,
               lambda v: f"index_head_dim ({v['index_head_dim']}) must be at least "
                         f"qk_rope_head_dim ({v['qk_rope_head_dim']}): an indexer head holds "
                         "the rotary part and the rest"),
    Constraint("divides", H, d_I, lambda c: _mamba2(c) and not c.is_given("ssm_head_dim"),
               lambda v: f"ssm_heads ({v['ssm_heads']}) must divide d_inner ({v['d_inner']})"),
    Constraint("divides", H * d_P, d_I, lambda c: _mamba2(c) and c.is_given("ssm_head_dim"),
               lambda v: f"ssm_heads × ssm_head_dim ({v['ssm_heads']} × {v['ssm_head_dim']}) "
                         f"must equal d_inner ({v['d_inner']})"),
    Constraint("le", d_I, H * d_P, lambda c: _mamba2(c) and c.is_given("ssm_head_dim"),
               lambda v: f"ssm_heads × ssm_head_dim ({v['ssm_heads']} × {v['ssm_head_dim']}) "
                         f"must equal d_inner ({v['d_inner']})"),
    Constraint("divides", G, H, _mamba2,
               lambda v: f"ssm_groups ({v['ssm_groups']}) must divide ssm_heads "
                         f"({v['ssm_heads']}): each group's B and C serve a whole group of "
                         "heads"),
    # a mixture of attention heads: each token's query heads are its K experts' g heads each
    Constraint("divides", K * g, h, lambda c: bool(c.attention_experts), _moa_heads),
    Constraint("le", h, K * g, lambda c: bool(c.attention_experts), _moa_heads),
    Constraint("le", w, S, lambda c: c.kernel_size is not None,
               lambda v: f"kernel_size ({v['kernel_size']}) must not exceed seq_length "
                         f"({v['seq_length']})"),
)


def layer_limits(config: ModelConfig) -> sp.Expr:
    """The fewest blocks the layer pattern names: past the last listed dense layer and the
    first dense ones (a constraint on n, checked apart since its bound is the data's)."""
    return sp.Max(_dense_limit(config), sp.Integer(config.first_dense or 1)) \
        if (config.dense_layers or config.first_dense) else sp.Integer(1)


def applying(config: ModelConfig) -> tuple[Constraint, ...]:
    """The constraints that hold for this configuration."""
    return tuple(c for c in CONSTRAINTS if c.applies(config))


def bounds_for(config: ModelConfig, symbol: sp.Symbol,
               values: Mapping[sp.Symbol, sp.Integer]) -> tuple[int, int | None]:
    """The range of ``symbol`` that the constraints allow with the other sizes at ``values``
    (a side holding a size not in ``values``, one that moves with ``symbol``, bounds
    nothing), and, for n, the layer pattern. ``a | b`` bounds like ``a ≤ b``."""
    low, high = 1, None
    for c in applying(config):
        if not (c.low.free_symbols | c.high.free_symbols) - {symbol} <= set(values):
            continue
        if c.high.has(symbol) and not c.low.has(symbol):
            # low ≤ high(symbol), high a product of positive sizes: symbol ≥ low / (high / symbol)
            rest = sp.cancel(c.high / symbol).xreplace(values)
            low = max(low, int(sp.ceiling(c.low.xreplace(values) / rest)))
        elif c.low.has(symbol) and not c.high.has(symbol):
            limit = int(c.high.xreplace(values) / sp.cancel(c.low / symbol).xreplace(values))
            high = limit if high is None else min(high, limit)
    if symbol == n:
        low = max(low, int(layer_limits(config)))
    return low, high
