"""The sympy symbols, made once with their assumptions, and their hyperparameter names."""

from __future__ import annotations

import sympy as sp

_assume = {"positive": True, "integer": True}

V = sp.Symbol("V", **_assume)  # vocab_size
S = sp.Symbol("S", **_assume)  # seq_length
d = sp.Symbol("d", **_assume)  # d_model
n = sp.Symbol("n", **_assume)  # num_blocks
f = sp.Symbol("f", **_assume)  # d_ff
P = sp.Symbol("P", **_assume)  # n_positions
k = sp.Symbol("k", **_assume)  # head_width
w = sp.Symbol("w", **_assume)  # kernel_size
h = sp.Symbol("h", **_assume)  # n_heads
g = sp.Symbol("g", **_assume)  # n_kv_heads: key/value heads (grouped-query attention)
a = sp.Symbol("d_h", **_assume)  # head_dim: the width of one attention head

#: hyperparameter name -> symbol, in the order tables show them
SYMBOLS: dict[str, sp.Symbol] = {
    "vocab_size": V,
    "seq_length": S,
    "d_model": d,
    "num_blocks": n,
    "d_ff": f,
    "n_positions": P,
    "head_width": k,
    "kernel_size": w,
    "n_heads": h,
    "n_kv_heads": g,
    "head_dim": a,
}

NAMES: dict[sp.Symbol, str] = {symbol: name for name, symbol in SYMBOLS.items()}


def lookup(name: str) -> sp.Symbol | None:
    """The symbol for a hyperparameter name (``d_model``) or a symbol letter (``d``)."""
    if name in SYMBOLS:
        return SYMBOLS[name]
    for symbol in SYMBOLS.values():
        if symbol.name == name:
            return symbol
    return None
