"""More families in GPT-2's layout: records written from transformers' modeling code (5.25).

- GPT-BigCode (``gpt_bigcode``, StarCoder 1, SantaCoder): GPT-2's block, names and learned
  positions, with multi-query attention by default: one fused ``c_attn`` d → d + 2·d/h (one
  key/value head, ``multi_query``), else d → 3·d; biases everywhere, a head tied to the tokens
  by default. ``add_cross_attention`` is refused by name, as for GPT-2.
- GPT-Neo (``gpt_neo``): GPT-2's names and learned positions; q, k and v projections without
  biases and an output projection with one; ``attention_types`` ([[["global", "local"], 12]]
  by default, expanded as the config class expands it) makes each layer global (full
  attention) or local (a sliding window of ``window_size`` tokens, itself included). The
  window holds no parameters and costs the same FLOPs (the scores are computed over every
  key and masked); it bounds the cache a generation needs. transformers' own cache for
  GPT-Neo keeps every token in every layer (its config has no ``layer_types``), so past the
  window it holds more than paramcalc's figure.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .record import MAX_LISTED, Family, Key, Reader, derived, flag, optional, size
from .records import CROSS_ATTENTION, GPT2_ALIASES, TIED, backbone


#: GPT-Neo's names for its two kinds of layer → transformers' layer_types
_NEO_LAYERS = {"global": "full_attention", "local": "sliding_attention"}


def _layers_of_gpt_neo(keys: Reader, values: dict[str, Any]) -> None:
    # attention_types: [[kinds, repeats], …] expanded kind by kind, as the config class does;
    # transformers builds no model unless they add up to num_layers
    pairs = keys["attention_types"] or derived()["gpt_neo"]["attention_types"]
    n = values["num_blocks"]
    listed = sum(len(kinds) * repeats for kinds, repeats in pairs)
    where = keys.where("attention_types")
    if listed != n:
        raise ConfigError(f"{keys.origin}: {where} gives {listed:,} layers, but "
                          f"{keys.where('num_layers')} is {n:,} (transformers builds no model)")
    unknown = [kind for kinds, _ in pairs for kind in kinds if kind not in _NEO_LAYERS]
    if unknown:
        raise ConfigError(f"{keys.origin}: {where} names {unknown[0]!r}; GPT-Neo's layers are "
                          "global or local")
    if n > MAX_LISTED:
        raise keys.refuse("attention_types", f"over {n:,} layers would list every layer's "
                          f"attention (at most {MAX_LISTED:,} layers)")
    types = [_NEO_LAYERS[kind] for kinds, repeats in pairs for _ in range(repeats)
             for kind in kinds]
    values["layer_types"] = types
    if "sliding_attention" in types:
        values["sliding_window"] = keys["window_size"]


GPT2_LIKE: tuple[Family, ...] = (
    # one key/value head with multi_query (the default), else as many as there are heads
    Family("gpt_bigcode", {**backbone("n_embd", "n_layer", "n_head", optional("n_inner"),
                                      "n_positions"),
                           "positional": "learned", "n_positions": size("n_positions"),
                           "n_kv_heads": flag("multi_query", {True: 1, False: None}),
                           "head": TIED, "logits_bias": False},
           aliases=GPT2_ALIASES, refusals=(CROSS_ATTENTION,)),
    Family("gpt_neo", {**backbone("hidden_size", "num_layers", "num_heads",
                                  optional("intermediate_size")),
                       "positional": "learned", "n_positions": size("max_position_embeddings"),
                       "qkv_bias": False, "proj_bias": True, "head": TIED,
                       "logits_bias": False},
           aliases={"num_layers": "num_hidden_layers", "num_heads": "num_attention_heads"},
           hook=_layers_of_gpt_neo,
           reads=(Key("attention_types", "pairs"), size("window_size"))),
)
