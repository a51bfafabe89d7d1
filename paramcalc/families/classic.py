"""The dense, Llama-like families: each a record over the switches paramcalc already has.

Each record was written from transformers' modeling code for the family (5.24). What they
add over Llama has no parameters of its own and is named here so that nobody looks for it:
Granite's multipliers, GLM's partial rotary, SmolLM3's layers without rotary, Nemotron's
LayerNorm1P (a LayerNorm, weight and bias, whose scale is read as 1 + weight).
"""

from __future__ import annotations

from .record import Family, Key, Refusal, Windows, flag, optional, size
from .records import BIAS, EVERY_LAYER, biased, decoder

_MLP_BIAS = flag("mlp_bias")
#: HunYuan's and Ministral's attention read head_dim with no fallback to hidden_size /
#: num_attention_heads: a null builds no model
_NEEDS_HEAD_DIM = Refusal(optional("head_dim"), "leaves the attention without a head width "
                          "(transformers reads it with no fallback)",
                          lambda width, keys: width is None)

CLASSIC: tuple[Family, ...] = (
    # which layers slide follows no_rope_layers when use_sliding_window is on: refused;
    # off, every layer attends in full whatever layer_types says
    Family("smollm3", decoder(**biased(BIAS), mlp_bias=_MLP_BIAS),
           refusals=(Refusal(flag("use_sliding_window"), "slides the layers that "
                             "no_rope_layers leaves without rotary, a pattern paramcalc "
                             "does not read", lambda on, keys: on
                             and keys["sliding_window"] is not None),),
           reads=(Key("sliding_window", "window"),)),
    # the output projection's bias has a key of its own
    Family("seed_oss", decoder(qkv_bias=BIAS, proj_bias=flag("attention_out_bias"),
                               mlp_bias=_MLP_BIAS)),
    Family("ernie4_5", decoder(**biased(flag("use_bias")), mlp_bias=flag("use_bias"))),
    # RMSNorms of one head's width on queries and keys
    Family("hunyuan_v1_dense", decoder(**biased(BIAS), qk_norm="head"),
           refusals=(_NEEDS_HEAD_DIM,)),
    # embedding, residual, attention and logits multipliers: scalars, no parameters
    Family("granite", decoder(**biased(BIAS), mlp_bias=_MLP_BIAS)),
    # layer_types, else every layer slides when sliding_window is given
    Family("ministral", decoder(n_kv_heads=size("num_key_value_heads")), refusals=(_NEEDS_HEAD_DIM,), windows=Windows(listed=True)),
    Family("ministral3", decoder(n_kv_heads=size("num_key_value_heads"),
                                  head_dim=size("head_dim")), windows=EVERY_LAYER),
    # biases on the query, key and value projections only; a fused gate_up_proj; half of
    # each head rotary (partial_rotary_factor: no parameters)
    Family("glm", decoder(qkv_bias=BIAS)),
    # GLM's block with a norm after each part too: four RMSNorms
    Family("glm4", decoder(qkv_bias=BIAS, n_kv_heads=size("num_key_value_heads"),
                            head_dim=size("head_dim"), norm_placement="sandwich")),
    # an up and a down projection (ReLU²), no gate
    Family("arcee", decoder(**biased(BIAS), mlp="plain", mlp_bias=_MLP_BIAS)),
    # LayerNorm1P (weight and bias), an up and a down projection (ReLU²), partial rotary
    Family("nemotron", decoder(**biased(BIAS), norm="layernorm", mlp="plain",
                               mlp_bias=_MLP_BIAS)),
)
