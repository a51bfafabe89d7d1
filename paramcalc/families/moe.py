"""More mixtures of experts: records written from transformers' modeling code (5.24).

Each is a Llama-like (or DeepSeek-like) block over the expert machinery paramcalc already has.
What they add without parameters is named here so that nobody looks for it: GLM-4.5's and
dots.llm1's grouped sigmoid routing with its score-correction bias (a buffer, not a
parameter), their routed scaling factors, GLM's partial rotary, Granite's multipliers,
MiniMax-M2's router jitter and partial rotary (``rotary_dim``). ERNIE 4.5's score-correction
bias is a parameter (E a layer, in the router): counted as a bias on the router. GLM-4.5's
multi-token-prediction layers (``num_nextn_predict_layers``) are not built by transformers'
causal-LM class, and not counted. DBRX's fused query/key/value projection (``Wqkv``) holds
what three projections hold, and its ``clip_qkv`` clamps their outputs (no parameters); its
LayerNorms have no bias, a scale per feature as an RMSNorm has: counted as RMSNorms.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .record import (MAX_LISTED, Experts, Family, Key, Reader, Refusal, Windows, count, flag,
                     integer, optional, size, types)
from .records import BIAS, _latent, _shared_experts_of_deepseek, backbone, biased, decoder

#: HunYuan's attention reads head_dim with no fallback to hidden_size / num_attention_heads
_NEEDS_HEAD_DIM = Refusal(optional("head_dim"), "leaves the attention without a head width "
                          "(transformers reads it with no fallback)",
                          lambda width, keys: width is None)

#: dots.llm1's n_shared_experts: a whole number, or null (its default), the check that a
#: window's key has
_COUNT_OR_NULL = Key("n_shared_experts", "window")


def _moe_layers(values: dict[str, Any]) -> bool:
    """Whether any layer holds experts (the first ``first_dense`` layers stay dense)."""
    return bool(values.get("num_experts")) and \
        (values.get("first_dense") or 0) < values["num_blocks"]


def _floor_head_dim(keys: Reader, values: dict[str, Any]) -> None:
    # without head_dim, the attention's heads are hidden_size // num_attention_heads wide,
    # rounded down where the heads do not divide the width
    d, h = values["d_model"], values["n_heads"]
    if values["head_dim"] is None and d % h:
        if d < h:
            raise keys.refuse("num_attention_heads", f"is more than hidden_size ({d}): heads "
                              "of width 0")
        values["head_dim"] = d // h


def _glm4_moe(keys: Reader, values: dict[str, Any]) -> None:
    _floor_head_dim(keys, values)
    _shared_experts_of_deepseek(keys, values)


def _granitemoeshared(keys: Reader, values: dict[str, Any]) -> None:
    _floor_head_dim(keys, values)
    _shared_mlp_of_granite(keys, values)


def _shared_experts_of_dots1(keys: Reader, values: dict[str, Any]) -> None:
    # n_shared_experts × moe_intermediate_size beside the routed experts; null (its default)
    # multiplies nothing in transformers: no model is built
    _floor_head_dim(keys, values)
    if keys["n_shared_experts"] is None and _moe_layers(values):
        raise keys.refuse("n_shared_experts", "leaves the width of the shared experts unset "
                          "(transformers multiplies moe_intermediate_size by it)")
    _shared_experts_of_deepseek(keys, values)


def _shared_mlp_of_hunyuan(keys: Reader, values: dict[str, Any]) -> None:
    # beside the routed experts, one MLP as wide as they are (intermediate_size), no gate
    if values.get("num_experts"):
        values.update(shared_experts=1, shared_d_ff=keys["intermediate_size"])


def _shared_mlp_of_granite(keys: Reader, values: dict[str, Any]) -> None:
    # one gated MLP shared_intermediate_size wide beside the experts; 0 builds none
    if values.get("num_experts") and keys["shared_intermediate_size"]:
        values.update(shared_experts=1, shared_d_ff=keys["shared_intermediate_size"])


def _moe_range_of_ernie(keys: Reader, values: dict[str, Any]) -> None:
    """Layer i holds experts when (i + 1) % moe_layer_interval == 0 and moe_layer_start_index
    ≤ i ≤ moe_layer_end_index (-1: the last layer); its shared experts are
    moe_num_shared_experts × moe_intermediate_size wide, biased as the MLPs are."""
    _floor_head_dim(keys, values)
    if not values.get("num_experts"):
        return
    n, step = values["num_blocks"], values["moe_step"] or 1
    start = max(keys["moe_layer_start_index"], 0)
    end = keys["moe_layer_end_index"]
    end = n - 1 if end == -1 else min(end, n - 1)
    if end < start:  # no layer in the range: every one dense
        start, end = n, n - 1
    if n // step - (end + 1) // step > MAX_LISTED:  # the layers past the range a period
        raise keys.refuse("moe_layer_end_index", "leaves over "  # would make experts
                          f"{MAX_LISTED:,} layers dense after the range, each listed")
    past = [k * step - 1 for k in range((end + 1) // step + 1, n // step + 1)]
    values.update(first_dense=min(start, n) or None, dense_layers=past)
    if keys["moe_num_shared_experts"]:
        values.update(shared_experts=keys["moe_num_shared_experts"],
                      shared_d_ff=keys["moe_intermediate_size"])


def _mlp_layer_types_of_glm4_moe_lite(keys: Reader, values: dict[str, Any]) -> None:
    """mlp_layer_types names each layer's feed-forward part, dense or sparse (experts); by
    default layer 0 is dense and the others sparse."""
    if values.get("num_experts"):
        n, listed = values["num_blocks"], keys["mlp_layer_types"]
        if listed is None:
            values.update(first_dense=min(n, 1))
        else:
            unknown = [kind for kind in listed if kind not in ("dense", "sparse")]
            if unknown:
                raise keys.refuse("mlp_layer_types", f"names {unknown[0]!r}, neither dense nor "
                                  "sparse")
            if len(listed) < n:
                raise ConfigError(f"{keys.origin}: {keys.where('mlp_layer_types')} lists "
                                  f"{len(listed):,} layers, but num_hidden_layers is {n:,}")
            values.update(dense_layers=[i for i in range(n) if listed[i] == "dense"])
    _shared_experts_of_deepseek(keys, values)


def _two_widths_of_dbrx(width: int, keys: Reader) -> bool:
    # hidden_size is an alias of d_model that DBRX's config applies after it has given the
    # experts d_model's own value (ffn_config.hidden_size)
    return "hidden_size" in keys.data and width != keys.data.get("d_model",
                                                                 keys.defaults["d_model"])


MOE: tuple[Family, ...] = (
    # GLM-4.5: grouped-query attention with biases on Q, K and V, a rotary half of each head,
    # RMSNorms of a head's width on queries and keys with use_qk_norm; DeepSeek-V3's experts
    # (sigmoid routing, a score-correction buffer), n_shared_experts shared, the first
    # first_k_dense_replace layers dense
    Family("glm4_moe", decoder(qkv_bias=BIAS, n_kv_heads=size("num_key_value_heads"),
                               qk_norm=flag("use_qk_norm", {True: "head", False: "none"})),
           aliases={"n_routed_experts": "num_local_experts"},
           experts=Experts("n_routed_experts", "moe_intermediate_size",
                           first_dense="first_k_dense_replace"),
           hook=_glm4_moe, reads=(count("n_shared_experts"),)),
    # dots.llm1: Qwen3's attention (attention_bias on Q, K, V and O, RMSNorms of a head's
    # width) and DeepSeek-V3's experts; sliding layers from max_window_layers on
    Family("dots1", decoder(**biased(BIAS), qk_norm="head"),
           aliases={"n_routed_experts": "num_local_experts"},
           experts=Experts("n_routed_experts", "moe_intermediate_size",
                           top_k=optional("num_experts_per_tok"),
                           first_dense="first_k_dense_replace"),
           hook=_shared_experts_of_dots1, reads=(_COUNT_OR_NULL,),
           windows=Windows(slides="from", bound="max_window_layers", listed=True)),
    # HunYuan-A13B: attention_bias on Q, K, V and O, per-head RMSNorms on queries and keys,
    # experts intermediate_size wide in every layer beside one shared MLP as wide
    Family("hunyuan_v1_moe", decoder(**biased(BIAS), qk_norm="head"),
           aliases={"num_experts": "num_local_experts", "moe_topk": "num_experts_per_tok"},
           refusals=(_NEEDS_HEAD_DIM,),
           experts=Experts("num_experts", "intermediate_size", top_k=size("moe_topk")),
           hook=_shared_mlp_of_hunyuan),
    # ERNIE 4.5 MoE: use_bias on attention, MLPs, shared experts and the output layer (tied
    # or not, the bias stays); experts in a range of layers at an interval
    Family("ernie4_5_moe", decoder(**biased(flag("use_bias")), mlp_bias=flag("use_bias"),
                                   logits_bias=flag("use_bias"), router_bias=True),
           aliases={"moe_num_experts": "num_experts", "moe_k": "num_experts_per_tok"},
           experts=Experts("moe_num_experts", "moe_intermediate_size", top_k=optional("moe_k"),
                           step="moe_layer_interval"),
           hook=_moe_range_of_ernie,
           reads=(integer("moe_layer_start_index"), integer("moe_layer_end_index"),
                  count("moe_num_shared_experts"))),
    # Granite-MoE: Granite's multipliers (no parameters), experts intermediate_size wide in
    # every layer, no shared experts
    Family("granitemoe", decoder(**biased(BIAS)),
           experts=Experts("num_local_experts", "intermediate_size",
                           top_k=optional("num_experts_per_tok")), hook=_floor_head_dim),
    # Granite-MoE with a gated MLP shared_intermediate_size wide beside the experts
    Family("granitemoeshared", decoder(**biased(BIAS)),
           experts=Experts("num_local_experts", "intermediate_size",
                           top_k=optional("num_experts_per_tok")),
           hook=_granitemoeshared, reads=(count("shared_intermediate_size"),)),
    # MiniMax-M2: RMSNorms over all query heads and all key heads, experts in every layer
    Family("minimax_m2", decoder(n_kv_heads=size("num_key_value_heads"),
                                 head_dim=size("head_dim"), qk_norm="full"),
           aliases={"num_local_experts": "num_experts"},
           experts=Experts("num_local_experts", "intermediate_size")),
    # GLM-4.7-Flash: DeepSeek-V3's latent attention and experts, with mlp_layer_types
    Family("glm4_moe_lite", _latent(False),
           aliases={"n_routed_experts": "num_local_experts", "qk_rope_head_dim": "head_dim"},
           experts=Experts("n_routed_experts", "moe_intermediate_size"),
           hook=_mlp_layer_types_of_glm4_moe_lite,
           reads=(count("n_shared_experts"), types("mlp_layer_types"))),
    # DBRX: its sizes in two sub-configs (attn_config, ffn_config); grouped-query attention
    # fused into one Wqkv, no biases anywhere, bias-free LayerNorms (the parameters of
    # RMSNorms), experts ffn_hidden_size wide in every layer; never tied (transformers
    # refuses it)
    Family("dbrx", {**backbone("d_model", "n_layers", "n_heads",
                               size("ffn_config.ffn_hidden_size"), "max_seq_len"),
                    "positional": "rotary", "norm": "rmsnorm", "mlp": "gated", "qkv_bias": False,
                    "proj_bias": False, "mlp_bias": False, "qk_norm": "none",
                    "norm_placement": "pre", "n_kv_heads": size("attn_config.kv_n_heads"),
                    "head": "linear", "logits_bias": False},
           aliases={"d_model": "hidden_size", "n_heads": "num_attention_heads",
                    "n_layers": "num_hidden_layers", "max_seq_len": "max_position_embeddings"},
           refusals=(Refusal(flag("tie_word_embeddings"), "is refused by transformers for "
                             "DBRX (its output layer is never tied)", lambda tie, keys: tie),
                     Refusal(size("d_model"), "widens the attention alone: transformers "
                             "builds the experts d_model wide (2,048 where the file leaves it "
                             "out), a model of two widths", _two_widths_of_dbrx)),
           experts=Experts("ffn_config.moe_num_experts", "ffn_config.ffn_hidden_size",
                           top_k=size("ffn_config.moe_top_k"))),
)
