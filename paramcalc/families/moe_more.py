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

- Llama 4's language model (``llama4_text``): Llama's attention (``attention_bias`` on all four
  projections), experts in every ``interleave_moe_layer_step``-th layer or in the layers
  ``moe_layers`` lists, each beside one shared gated MLP as wide as an expert
  (``intermediate_size``), the other layers dense and ``intermediate_size_mlp`` wide. Its
  experts' gate and up projections are one fused (E, d, 2·f_E) tensor, the same parameters;
  its router is d → E without a bias, its sigmoid scores no parameters. The layers that use
  rotary positions (``no_rope_layers``, by default all but every ``no_rope_layer_interval``-th)
  attend within chunks of ``attention_chunk_size`` (``layer_types`` chunked_attention, which a
  file may list itself), the others in full; ``use_qk_norm``'s L2 norm and the NoPE layers'
  attention temperature tuning hold no weights (the norm's inputs are not counted among the
  values saved for the backward pass). transformers runs every expert on every token (the
  unrouted ones scaled by 0): its FlopCounterMode total is paramcalc's forward plus the
  (E − K) experts a token is not routed to. 0 routed experts are refused (transformers builds
  layers of experts with none in them), even where ``moe_layers`` leaves no layer of them.

- MiMo-V2-Flash (``mimo_v2_flash``): attention with biased query, key and value projections
  (``attention_bias``) and an unbiased output one, query/key heads ``head_dim`` wide and value
  heads ``v_head_dim`` wide (the output projection reads h·d_V); ``layer_types`` (by default
  layer 0 and every 6th in full, the rest sliding), its sliding layers with twice the
  key/value heads and a learned sink logit per head (``sliding_kv_heads`` 2·g,
  ``sliding_sinks``), the window ``sliding_window`` (or the keyword ``sliding_window_size`` +
  1, as the config class sets it); DeepSeek-V3's router (d → E, its score-correction bias a
  buffer) and experts ``moe_intermediate_size`` wide without shared experts, dense layers
  ``intermediate_size`` wide where ``mlp_layer_types`` says (by default layer 0). Partial
  rotary and ``attention_value_scale`` hold no parameters; the multi-token-prediction layers
  of the published checkpoint (``model.mtp.``) are not built by transformers, nor counted.

Skipped, as the report says: longcat_flash and deepseek_v4.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..spec import MAX_SIZE, _shown
from .record import (MAX_LISTED, Experts, Family, Key, Reader, Refusal, count, optional, size,
                     types)
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


def _moe_layers_of_llama4(keys: Reader, values: dict[str, Any]) -> None:
    """Which layers hold experts: those ``moe_layers`` lists (layers past the last ignored),
    else every ``interleave_moe_layer_step``-th; each beside one shared expert."""
    values.update(shared_experts=1, shared_d_ff=keys["intermediate_size"])
    if keys.raw("moe_layers") is None:
        return
    n = values["num_blocks"]
    listed = {i for i in keys["moe_layers"] if 0 <= i < n}
    if not listed:  # no layer holds experts: a dense model
        as_dense(values)
        return
    if n > MAX_LISTED:
        raise keys.refuse("moe_layers", f"over {n:,} layers would list every layer's "
                          f"feed-forward part (at most {MAX_LISTED:,} layers)")
    values.update(moe_step=None, dense_layers=[i for i in range(n) if i not in listed])


def _chunks_of_llama4(keys: Reader, values: dict[str, Any]) -> None:
    """Which layers attend within chunks: as ``layer_types`` lists them, else, with an
    ``attention_chunk_size``, those that use rotary positions (``no_rope_layers`` truthy, by
    default all but every ``no_rope_layer_interval``-th)."""
    n, chunk = values["num_blocks"], keys["attention_chunk_size"]
    listed, rope = keys["layer_types"], keys["no_rope_layers"]
    # (an empty list is the default's, as the config class reads it); each layer reads its
    # entry, and the class makes layer_types of as many entries as the list has
    if rope and (len(rope) < n or len(rope) != n and listed is None):
        raise ConfigError(f"{keys.origin}: {keys.where('no_rope_layers')} lists "
                          f"{len(rope):,} layers, but num_hidden_layers is {n:,}")
    if listed is not None:
        listed_per_layer(keys, "layer_types", ("full_attention", "chunked_attention"), n)
        values["layer_types"] = listed
        if "chunked_attention" in listed:
            if chunk is None:
                raise keys.refuse("attention_chunk_size", "leaves the chunked_attention layers "
                                  "of layer_types without a chunk")
            values["attention_chunk_size"] = chunk
        return
    if chunk is None:
        return  # every layer attends in full
    if rope:
        kinds = ["chunked_attention" if rope[i] else "full_attention" for i in range(n)]
        if "chunked_attention" in kinds:
            values.update(layer_types=kinds, attention_chunk_size=chunk)
        return
    interval = keys["no_rope_layer_interval"]
    if interval > 1:  # layer i full when (i + 1) % interval == 0, the others chunked
        values.update(full_every=interval, attention_chunk_size=chunk)


def _mimo_v2_flash(keys: Reader, values: dict[str, Any]) -> None:
    n = values["num_blocks"]
    if values.get("num_experts"):  # mlp_layer_types, else layer 0 dense and the rest sparse
        listed = keys["mlp_layer_types"]
        if listed is None:
            values["first_dense"] = min(n, 1)
        else:
            listed_per_layer(keys, "mlp_layer_types", ("dense", "sparse"), n)
            dense = [i for i in range(n) if listed[i] == "dense"]
            if len(dense) == n:
                as_dense(values)
            else:
                values["dense_layers"] = dense
    kinds = keys["layer_types"]
    if kinds is None:  # as the config class makes it: layer 0 and every 6th in full
        if n > MAX_LISTED:
            raise keys.refuse("num_hidden_layers", f"over {MAX_LISTED:,} layers would list "
                              "every layer's attention")
        kinds = ["full_attention" if i == 0 or (i + 1) % 6 == 0 else "sliding_attention"
                 for i in range(n)]
    else:
        listed_per_layer(keys, "layer_types", ("full_attention", "sliding_attention"), n)
    values["layer_types"] = kinds
    if "sliding_attention" not in kinds:
        return
    window = keys["sliding_window"]
    given = keys.data.get("sliding_window_size")  # a keyword the class reads and keeps apart
    if given is not None:
        if type(given) is not int or not 0 <= given < MAX_SIZE:
            raise ConfigError(f"{keys.origin}: sliding_window_size must be a whole number (0 "
                              f"or more), got {_shown(given)}")
        window = given + 1  # the tokens before the query, and the query
    values.update(sliding_window=window, sliding_kv_heads=2 * values["n_kv_heads"],
                  sliding_sinks=True)


def _llama4_text(keys: Reader, values: dict[str, Any]) -> None:
    _moe_layers_of_llama4(keys, values)
    _chunks_of_llama4(keys, values)


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
    Family("llama4_text", decoder(**biased(BIAS), d_ff=size("intermediate_size_mlp"),
                                  n_kv_heads=size("num_key_value_heads"),
                                  head_dim=size("head_dim")),
           experts=Experts("num_local_experts", "intermediate_size",
                           step="interleave_moe_layer_step"),
           hook=_llama4_text,
           reads=(size("intermediate_size"), Key("moe_layers", "layers"),
                  optional("attention_chunk_size"), Key("no_rope_layers", "layers"),
                  size("no_rope_layer_interval"), types("layer_types"))),
    Family("mimo_v2_flash", decoder(qkv_bias=BIAS, n_kv_heads=size("num_key_value_heads"),
                                    head_dim=size("head_dim"), v_head_dim=size("v_head_dim")),
           aliases={"n_routed_experts": "num_local_experts"},
           experts=Experts("n_routed_experts", "moe_intermediate_size"),
           hook=_mimo_v2_flash,
           reads=(types("layer_types"), types("mlp_layer_types"), size("sliding_window"))),
)
