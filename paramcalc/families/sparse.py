"""DeepSeek-V3.2 (deepseek_v32) and glm_moe_dsa: DeepSeek-V3's latent attention and experts with the
sparse-attention indexer.

Written from transformers' modeling_deepseek_v32.py (5.24): the attention always has a query
latent (q_lora_rank, read with no fallback); every layer carries the indexer (wq_b from the
query latent, wk with a LayerNorm, weights_proj); which layers hold experts is
``mlp_layer_types`` ("dense" or "sparse"), which the config class fills from
first_k_dense_replace when the file leaves it out. ``index_topk`` picks how many keys a query
keeps: it holds no parameters and changes no count paramcalc makes (the score products are
counted over every key, as transformers' eager path computes them).
"""

from __future__ import annotations

from typing import Any

from ..spec import _shown
from .record import Experts, Family, Reader, size, types
from .records import (_latent, _shared_experts_of_deepseek, as_dense, count,
                      listed_per_layer)


def _layers_of_deepseek_v32(keys: Reader, values: dict[str, Any]) -> None:
    _shared_experts_of_deepseek(keys, values)
    listed = keys["mlp_layer_types"]
    if listed is None:  # as the config class fills it: at most every layer dense
        dense = min(keys["first_k_dense_replace"], values["num_blocks"])
        listed = ["dense"] * dense + ["sparse"] * (values["num_blocks"] - dense)
    elif values.get("num_experts"):
        listed_per_layer(keys, "mlp_layer_types", ("dense", "sparse"), values["num_blocks"])
    if values.get("num_experts"):
        values.pop("first_dense", None)
        dense = [i for i, kind in enumerate(listed) if kind == "dense"]
        values["dense_layers"] = dense or None
        if len(dense) == len(listed):  # no layer holds experts: a dense model
            as_dense(values)


def _indexers_of_glm_moe_dsa(keys: Reader, values: dict[str, Any]) -> None:
    """glm_moe_dsa may let a layer reuse the previous layer's top-k instead of running an indexer of
    its own (indexer_types "shared", or the index_topk_pattern / index_topk_freq and
    index_skip_topk_offset its config class derives them from): such a layer holds no indexer,
    a per-layer difference paramcalc does not express yet, so it is refused by name."""
    from ..errors import ConfigError

    _layers_of_deepseek_v32(keys, values)
    data, n = keys.data, values["num_blocks"]
    listed, where = data.get("indexer_types"), "indexer_types"
    if listed is None and data.get("index_topk_pattern") is not None:
        pattern, where = data["index_topk_pattern"], "index_topk_pattern"
        listed = ([{"F": "full", "S": "shared"}.get(c, c) for c in pattern]
                  if isinstance(pattern, str) else pattern)
    elif listed is None:
        freq, offset = data.get("index_topk_freq", 1), data.get("index_skip_topk_offset", 2)
        if type(freq) is not int or type(offset) is not int:
            raise ConfigError(f"{keys.origin}: index_topk_freq and index_skip_topk_offset must "
                              f"be whole numbers, got {_shown(freq)} and {_shown(offset)}")
        where = "index_topk_freq"
        listed = ["full" if max(i - offset + 1, 0) % max(freq, 1) == 0 else "shared"
                  for i in range(n)]
    if not isinstance(listed, list) or set(map(str, listed)) - {"full", "shared"}:
        raise ConfigError(f"{keys.origin}: {where} must list full or shared for each layer, "
                          f"got {_shown(listed)}")
    if "shared" in listed:
        raise ConfigError(f"{keys.origin}: {where} gives layers that reuse another layer's "
                          "top-k and hold no indexer of their own (cross-layer "
                          "sharing), which paramcalc does not count yet")


#: the query latent is no option here (transformers' field is an int, read with no fallback)
_QUERY_LATENT = {"q_lora_rank": size("q_lora_rank")}

SPARSE: tuple[Family, ...] = (
    Family("deepseek_v32", {**_latent(False), **_QUERY_LATENT, "index_n_heads": size("index_n_heads"),
                            "index_head_dim": size("index_head_dim")},
           aliases={"n_routed_experts": "num_local_experts"},
           experts=Experts("n_routed_experts", "moe_intermediate_size",
                           top_k=size("num_experts_per_tok")),
           hook=_layers_of_deepseek_v32,
           reads=(count("n_shared_experts"), count("first_k_dense_replace"),
                  types("mlp_layer_types"))),
    # glm_moe_dsa: DeepSeek-V3.2's layers (interleaved rotary in the indexer: no parameters)
    Family("glm_moe_dsa", {**_latent(False), **_QUERY_LATENT, "index_n_heads": size("index_n_heads"),
                           "index_head_dim": size("index_head_dim")},
           aliases={"n_routed_experts": "num_local_experts"},
           experts=Experts("n_routed_experts", "moe_intermediate_size",
                           top_k=size("num_experts_per_tok")),
           hook=_indexers_of_glm_moe_dsa,
           reads=(count("n_shared_experts"), count("first_k_dense_replace"),
                  types("mlp_layer_types"))),
)
