"""More mixtures of experts: records written from transformers' modeling code (5.24).

- Cohere 2 MoE (``cohere2_moe``): Cohere 2's block (attention and feed-forward part side by
  side after one norm: a LayerNorm without a bias, or an RMSNorm when the file gives
  ``rms_norm_eps``, the same d weights), experts ``intermediate_size`` wide beside
  ``num_shared_experts`` × ``intermediate_size`` of shared gated MLP (no gate), dense layers
  ``prefix_dense_intermediate_size`` wide (else ``intermediate_size``) where
  ``mlp_layer_types`` says ``dense``. The config class makes ``layer_types`` and
  ``mlp_layer_types`` from the keyword ``first_k_dense_replace`` (kept nowhere): the first k
  layers dense, sliding but every ``prefix_dense_sliding_window_pattern``-th, the rest sliding
  but every ``sliding_window_pattern``-th. ``logit_scale``, the router's selection function
  and the shared experts' combination strategy hold no parameters.

- JetMoE (``jetmoe``): a mixture of attention heads (paramcalc's ``attention_experts``) and
  a mixture of experts in every layer, both over ``num_local_experts`` experts with
  ``num_experts_per_tok`` per token, each with its own router (no bias). An attention expert
  is a query projection d → g·c and an output projection g·c → d (g =
  ``num_key_value_heads``, c = ``kv_channels``); one key/value projection d → 2·g·c serves
  them all, and the config class sets num_attention_heads = g·K. A feed-forward expert is
  gated, ``intermediate_size`` wide, in one fused input_linear. Each mixture adds a d-wide
  bias (``moe_output_bias``); no other biases; RMSNorms; rotary.

Skipped, as the report says: mimo_v2_flash, longcat_flash and deepseek_v4.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..spec import MAX_SIZE, _shown
from .record import Experts, Family, Key, Reader, Refusal, count, optional, size, types
from .records import BIAS, as_dense, biased, decoder, listed_per_layer

#: Cohere 2's block: one norm before attention and the feed-forward part side by side
_COHERE2 = decoder(**biased(BIAS), norm="layernorm_nobias", parallel_residual=True,
                   norm_placement="shared", n_kv_heads=optional("num_key_value_heads",
                                                                otherwise="n_heads"),
                   head_dim=size("head_dim"))


def _first_dense(keys: Reader) -> int:
    """The keyword ``first_k_dense_replace`` (0 when absent), which the config class reads
    into its two layer lists and keeps nowhere."""
    first = keys.data.get("first_k_dense_replace", 0)
    if type(first) is not int or not 0 <= first <= MAX_SIZE:
        raise ConfigError(f"{keys.origin}: first_k_dense_replace must be a whole number (0 or "
                          f"more), got {_shown(first)}")
    return first


def _cohere2_moe(keys: Reader, values: dict[str, Any]) -> None:
    n = values["num_blocks"]
    if keys.data.get("rms_norm_eps") is not None:  # the same d weights, an RMSNorm's
        values["norm"] = "rmsnorm"
    values["d_ff"] = keys["prefix_dense_intermediate_size"] or keys["intermediate_size"]
    first = None if keys["layer_types"] is not None and keys["mlp_layer_types"] is not None \
        else _first_dense(keys)
    layer_types = keys["layer_types"]
    if layer_types is None:  # as the config class makes it
        prefix, rest = keys["prefix_dense_sliding_window_pattern"], keys["sliding_window_pattern"]
        k = min(first or 0, n)
        layer_types = [*("sliding_attention" if (i + 1) % prefix else "full_attention"
                         for i in range(k)),
                       *("sliding_attention" if (i + 1) % rest else "full_attention"
                         for i in range(n - k))]
    else:
        listed_per_layer(keys, "layer_types", ("full_attention", "sliding_attention"), n)
    values["layer_types"] = layer_types
    if "sliding_attention" in layer_types:
        window = keys["sliding_window"]
        if not window:
            raise keys.refuse("sliding_window", "leaves the sliding_attention layers without a "
                              "window")
        values["sliding_window"] = window
    mlp_types = keys["mlp_layer_types"]
    if mlp_types is None:
        mlp_types = ["dense" if i < (first or 0) else "sparse" for i in range(n)]
    else:
        listed_per_layer(keys, "mlp_layer_types", ("dense", "sparse"), n)
    dense = [i for i, kind in enumerate(mlp_types) if kind == "dense"]
    if len(dense) == n:  # no layer holds experts: a dense model
        as_dense(values)
        return
    values["dense_layers"] = dense
    if keys["num_shared_experts"]:
        values.update(shared_experts=keys["num_shared_experts"],
                      shared_d_ff=keys["intermediate_size"])


def _heads_of_jetmoe(keys: Reader, values: dict[str, Any]) -> None:
    # JetMoeConfig sets num_attention_heads to num_key_value_heads × num_experts_per_tok,
    # whatever the file says: a token's K attention experts, g query heads each
    values["n_heads"] = values["n_kv_heads"] * values["experts_per_token"]


MOE_MORE: tuple[Family, ...] = (
    Family("cohere2_moe", _COHERE2,
           experts=Experts("num_experts", "intermediate_size"),
           hook=_cohere2_moe,
           reads=(Key("sliding_window", "window"), types("layer_types"),
                  types("mlp_layer_types"), size("sliding_window_pattern"),
                  size("prefix_dense_sliding_window_pattern"),
                  optional("prefix_dense_intermediate_size"), count("num_shared_experts"))),
    Family("jetmoe", decoder(n_heads=None, n_kv_heads=size("num_key_value_heads"),
                             head_dim=size("kv_channels"), attention_experts=True,
                             moe_output_bias=True),
           aliases={"kv_channels": "head_dim"},
           refusals=(Refusal(count("num_local_experts"), "leaves no experts for the "
                             "num_experts_per_tok ({num_experts_per_tok}) a token is sent to "
                             "(transformers builds no model)", lambda routed, keys: not routed),),
           experts=Experts("num_local_experts", "intermediate_size"), hook=_heads_of_jetmoe),
)
