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
g_W = sp.Symbol("g_W", **_assume)  # sliding_kv_heads: key/value heads of a sliding layer
a = sp.Symbol("d_h", **_assume)  # head_dim: the width of one attention head
E = sp.Symbol("E", **_assume)  # num_experts: routed experts of a mixture-of-experts layer
K = sp.Symbol("K", **_assume)  # experts_per_token: routed experts a token is sent to
f_E = sp.Symbol("f_E", **_assume)  # expert_d_ff: inner width of one expert
E_S = sp.Symbol("E_S", **_assume)  # shared_experts: experts every token passes through
f_S = sp.Symbol("f_S", **_assume)  # shared_d_ff: inner width of one shared expert
r_q = sp.Symbol("r_q", **_assume)  # q_lora_rank: latent attention's query rank
r_kv = sp.Symbol("r_kv", **_assume)  # kv_lora_rank: latent attention's key/value rank
d_R = sp.Symbol("d_R", **_assume)  # qk_rope_head_dim: the rotary part of a query/key head
d_N = sp.Symbol("d_N", **_assume)  # qk_nope_head_dim: the rest of a query/key head
d_V = sp.Symbol("d_V", **_assume)  # v_head_dim: width of a value head
W = sp.Symbol("W", **_assume)  # sliding_window: tokens a sliding-window layer attends to
W_C = sp.Symbol("W_C", **_assume)  # attention_chunk_size: the chunks a chunked layer attends in
h_ix = sp.Symbol("h_ix", **_assume)  # index_n_heads: heads of DeepSeek-V3.2's sparse-attention indexer
d_ix = sp.Symbol("d_ix", **_assume)  # index_head_dim: width of one indexer head (and its one key)
# -- state-space mixers (Mamba, Mamba-2) --
N = sp.Symbol("N", **_assume)  # d_state: the state per channel (Mamba) or per head width (Mamba-2)
d_c = sp.Symbol("d_c", **_assume)  # d_conv: the depthwise convolution's kernel
d_I = sp.Symbol("d_I", **_assume)  # d_inner: the mixer's inner width (expand · d_model)
R = sp.Symbol("R", **_assume)  # dt_rank: Mamba's time-step rank
G = sp.Symbol("G", **_assume)  # ssm_groups: Mamba-2's groups of B and C
H = sp.Symbol("H", **_assume)  # ssm_heads: Mamba-2's heads
d_P = sp.Symbol("d_P", **_assume)  # ssm_head_dim: the width of one Mamba-2 head

#: LoRA's rank r: not a size of the model but of the adapters on it (lora.py)
LORA_RANK = sp.Symbol("r", **_assume)

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
    "sliding_kv_heads": g_W,
    "head_dim": a,
    "num_experts": E,
    "experts_per_token": K,
    "expert_d_ff": f_E,
    "shared_experts": E_S,
    "shared_d_ff": f_S,
    "q_lora_rank": r_q,
    "kv_lora_rank": r_kv,
    "qk_rope_head_dim": d_R,
    "qk_nope_head_dim": d_N,
    "v_head_dim": d_V,
    "sliding_window": W,
    "attention_chunk_size": W_C,
    "index_n_heads": h_ix,
    "index_head_dim": d_ix,
    "d_state": N,
    "d_conv": d_c,
    "d_inner": d_I,
    "dt_rank": R,
    "ssm_groups": G,
    "ssm_heads": H,
    "ssm_head_dim": d_P,
}

#: counts of things rather than widths or lengths: they carry no degree in the leading order
#: (h·d_h·d ranks with d², E·d·f_E with d·f)
DIMENSIONLESS = frozenset({h, g, g_W, E, K, E_S, h_ix, G, H})

NAMES: dict[sp.Symbol, str] = {symbol: name for name, symbol in SYMBOLS.items()}


def lookup(name: str) -> sp.Symbol | None:
    """The symbol for a hyperparameter name (``d_model``, or ``d-model`` as the flags spell
    it) or a symbol letter (``d``)."""
    if name.replace("-", "_") in SYMBOLS:
        return SYMBOLS[name.replace("-", "_")]
    if name in SYMBOLS:
        return SYMBOLS[name]
    for symbol in SYMBOLS.values():
        if symbol.name == name:
            return symbol
    return None
