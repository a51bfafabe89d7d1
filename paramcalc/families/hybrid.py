"""The hybrids: state-space layers beside attention layers, every layer with its feed-forward
part. Records written from transformers' modeling code (5.25).

- bamba: a Mamba-2 mixer in every layer but those ``attn_layer_indices`` lists (grouped-query
  attention there), a gated MLP and two RMSNorms in every layer; ``mamba_d_head`` "auto" is
  ``mamba_expand · hidden_size // mamba_n_heads``, as the config class sets it.

- granitemoehybrid (Granite 4): Bamba's Mamba-2 mixer where ``layer_types`` says
  ``linear_attention`` (or its older name ``mamba``; every layer by default), attention where
  it says ``full_attention`` (``attention``); in every layer a gated MLP
  ``shared_intermediate_size`` wide, beside ``num_local_experts`` experts where there are any.

- jamba: Mamba's mixer (with RMSNorms that hold weights on Δ, B and C) in every layer but
  layer i with i % attn_layer_period == attn_layer_offset (attention); experts in layer i
  with i % expert_layer_period == expert_layer_offset when num_experts > 1, a gated MLP in
  the others; two RMSNorms a layer. ``mamba_dt_rank`` "auto" is ⌈hidden_size / 16⌉.

- qwen3_next (Qwen3-Next): gated DeltaNet (``deltanet``: ``linear_num_key_heads`` key heads
  ``linear_key_head_dim`` wide, ``linear_num_value_heads`` value heads ``linear_value_head_dim``
  wide, kernel ``linear_conv_kernel_dim``) where ``layer_types`` says ``linear_attention``,
  else every layer but each ``full_attention_interval``-th (4), which attends: grouped-query
  attention with an output gate (q_proj twice as wide) and head norms; Qwen-MoE's experts
  with a gated shared expert (``decoder_sparse_step``, ``mlp_only_layers``).
- nemotron_h (Nemotron-H, Nemotron 3): single-part blocks, each one RMSNorm and ONE of a
  Mamba-2 mixer (``linear_attention``, pattern "M"), grouped-query attention without
  biases or positions (``full_attention``, "*"), a plain MLP (``mlp``, "-", ReLU² by
  default) or experts beside one shared plain MLP (``moe``, "E"), as ``layers_block_type``
  (or ``layer_types``, or the older ``hybrid_override_pattern``) lists them; the Mamba-2
  mixer mamba_num_heads · mamba_head_dim wide, its projections biased by use_bias. The
  attention owns no position encoding; paramcalc writes it rotary, which owns nothing and
  costs nothing in its counts either. The head is never tied (transformers ties no
  weights, whatever tie_word_embeddings says). A moe_latent_size is refused by name.

A hybrid's layers are listed one by one (``layer_types``: ``full_attention`` or the
state-space mixer), as transformers lists them.
"""

from __future__ import annotations

from typing import Any

from .moe import _floor_head_dim
from .record import (MAX_LISTED, Experts, Family, Reader, Refusal, count, flag, layers,
                     optional, size, types)
from .records import _QWEN_EXPERTS, BIAS, as_dense, biased, decoder, listed_per_layer


def _listed(keys: Reader, name: str, n: int) -> None:
    """A pattern of n layers is listed layer by layer: refuse one too long to list."""
    if n > MAX_LISTED:
        raise keys.refuse(name, f"over {n:,} layers would list every layer's mixer (at most "
                          f"{MAX_LISTED:,} layers)")


def _mamba2_sizes(keys: Reader, values: dict[str, Any], prefix: str = "mamba_") -> None:
    """A Mamba-2 mixer's sizes under the ``mamba_`` names: inner width expand · hidden_size,
    heads, groups, and a head width that "auto" makes inner / heads."""
    inner = keys[f"{prefix}expand"] * keys["hidden_size"]
    head = keys.data.get(keys.where(f"{prefix}d_head"), "auto")  # the config class's default
    if head == "auto":
        head = inner // keys[f"{prefix}n_heads"]
    elif type(head) is not int or head <= 0:
        raise keys.refuse(f"{prefix}d_head", "is neither \"auto\" nor a positive integer")
    values.update(d_inner=inner, ssm_heads=keys[f"{prefix}n_heads"], ssm_head_dim=head,
                  ssm_groups=keys[f"{prefix}n_groups"])


#: a state-space mixer's fields: gone where every layer attends
_SSM_VALUES = ("d_state", "d_conv", "d_inner", "dt_rank", "ssm_groups", "ssm_heads",
               "ssm_head_dim", "conv_bias", "ssm_bias", "ssm_norms")


def _mixers(values: dict[str, Any], listed: list[str]) -> None:
    """Each layer's mixer as listed; where every layer attends, the attention-only model that
    transformers then builds, with no state-space values left."""
    values["layer_types"] = listed
    if all(kind == "full_attention" for kind in listed):
        for name in _SSM_VALUES:
            values.pop(name, None)


def _bamba(keys: Reader, values: dict[str, Any]) -> None:
    n = values["num_blocks"]
    _listed(keys, "num_hidden_layers", n)
    _mamba2_sizes(keys, values)
    attention = set(keys["attn_layer_indices"])
    _mixers(values, ["full_attention" if i in attention else "mamba2" for i in range(n)])


#: transformers' names for a hybrid's layers, the older ones included (it renames them as it
#: reads a file: configuration_utils' _LEGACY_LAYER_TYPE_REMAP)
_GRANITE_LAYERS = {"linear_attention": "mamba2", "mamba": "mamba2",
                   "full_attention": "full_attention", "attention": "full_attention"}


def _granitemoehybrid(keys: Reader, values: dict[str, Any]) -> None:
    _floor_head_dim(keys, values)
    n = values["num_blocks"]
    _listed(keys, "num_hidden_layers", n)
    _mamba2_sizes(keys, values)
    shared = keys["shared_intermediate_size"]
    if values.get("num_experts"):  # experts and, beside them, the shared MLP if it is wide
        if shared:
            values.update(shared_experts=1, shared_d_ff=shared)
    elif shared:  # no experts: the shared MLP is the whole feed-forward part
        values["d_ff"] = shared
    else:
        raise keys.refuse("shared_intermediate_size", "with no experts leaves every layer "
                          "without a feed-forward part")
    listed = (["linear_attention"] * n  # the config class's default: every layer Mamba-2
              if keys["layer_types"] is None
              else listed_per_layer(keys, "layer_types", tuple(_GRANITE_LAYERS), n))
    _mixers(values, [_GRANITE_LAYERS[kind] for kind in listed])


def _every(keys: Reader, period: str, offset: str, n: int) -> list[int]:
    """The layers i < n with i % period == offset, the offset below the period (as the
    config class requires)."""
    if keys[offset] >= keys[period]:
        raise keys.refuse(offset, f"is not smaller than {keys.where(period)} "
                          f"({keys[period]}): transformers refuses it")
    return list(range(keys[offset], n, keys[period]))


def _jamba(keys: Reader, values: dict[str, Any]) -> None:
    n = values["num_blocks"]
    _listed(keys, "num_hidden_layers", n)
    values["d_inner"] = keys["mamba_expand"] * keys["hidden_size"]
    rank = keys.data.get(keys.where("mamba_dt_rank"), "auto")  # the config class's default
    if rank == "auto":
        rank = -(-keys["hidden_size"] // 16)  # math.ceil(hidden_size / 16)
    elif type(rank) is not int or rank <= 0:
        raise keys.refuse("mamba_dt_rank", "is neither \"auto\" nor a positive integer")
    values["dt_rank"] = rank
    attending = set(_every(keys, "attn_layer_period", "attn_layer_offset", n))
    _mixers(values, ["full_attention" if i in attending else "mamba" for i in range(n)])
    experts = set(_every(keys, "expert_layer_period", "expert_layer_offset", n))
    if values.get("num_experts", 0) <= 1 or not experts:  # one expert: the dense MLP
        as_dense(values)
    else:
        values["dense_layers"] = [i for i in range(n) if i not in experts]


#: Qwen3-Next's names for its layers, the older ones included
_QWEN3_NEXT_LAYERS = {"linear_attention": "deltanet", "mamba": "deltanet",
                      "full_attention": "full_attention", "attention": "full_attention"}


def _deltanet_layers(keys: Reader, values: dict[str, Any]) -> None:
    """Qwen3-Next's and Qwen3.5's layers: gated DeltaNet's sizes, and which layers attend."""
    n = values["num_blocks"]
    _listed(keys, "num_hidden_layers", n)
    key_heads, value_heads = keys["linear_num_key_heads"], keys["linear_num_value_heads"]
    if value_heads % key_heads:
        raise keys.refuse("linear_num_value_heads", f"is not a multiple of "
                          f"{keys.where('linear_num_key_heads')} ({key_heads}): each key head "
                          "serves a whole number of value heads")
    width = keys["linear_value_head_dim"]
    values.update(ssm_groups=key_heads, d_state=keys["linear_key_head_dim"],
                  ssm_heads=value_heads, ssm_head_dim=width, d_inner=value_heads * width,
                  conv_bias=False)
    if keys["layer_types"] is None:  # the config class's default, by full_attention_interval
        interval = keys.data.get(keys.where("full_attention_interval"), 4)
        if type(interval) is not int or interval <= 0:
            raise keys.refuse("full_attention_interval", "is not a positive integer")
        listed = ["linear_attention" if (i + 1) % interval else "full_attention"
                  for i in range(n)]
    else:
        listed = listed_per_layer(keys, "layer_types", tuple(_QWEN3_NEXT_LAYERS), n)
    _mixers(values, [_QWEN3_NEXT_LAYERS[kind] for kind in listed])


def _qwen3_next(keys: Reader, values: dict[str, Any]) -> None:
    _deltanet_layers(keys, values)
    if values.get("num_experts"):  # one shared expert beside the routed ones, gated
        values.update(shared_experts=1, shared_d_ff=keys["shared_expert_intermediate_size"],
                      shared_expert_gate=True)


#: Nemotron-H's layer kinds -> paramcalc's layer_types (single_part), and the pattern letters
_NEMOTRON_LAYERS = {"linear_attention": "mamba2", "mamba": "mamba2",
                    "full_attention": "full_attention", "attention": "full_attention",
                    "mlp": "mlp", "moe": "moe"}
_NEMOTRON_PATTERN = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}


def _nemotron_h(keys: Reader, values: dict[str, Any]) -> None:
    given = keys.data.get(keys.where("layers_block_type"))
    pattern = keys.data.get("hybrid_override_pattern")
    if given is None and isinstance(pattern, str):  # the older name, read as the class does
        wrong = [char for char in pattern if char not in _NEMOTRON_PATTERN]
        if wrong or not pattern:
            raise keys.refuse("hybrid_override_pattern", "is not a string of M, E, * and - "
                              "(one letter a layer)")
        n = len(pattern)
        _listed(keys, "hybrid_override_pattern", n)
        listed = [_NEMOTRON_PATTERN[char] for char in pattern]
    elif pattern is not None and not isinstance(pattern, str) and given is None:
        raise keys.refuse("hybrid_override_pattern", "is not a string of M, E, * and -")
    else:
        default = ["linear_attention", "moe", "full_attention", "mlp"]  # the class's default
        n = len(given) if isinstance(given, list) else len(default)
        _listed(keys, "layers_block_type", n)
        listed = (default if given is None
                  else listed_per_layer(keys, "layers_block_type", tuple(_NEMOTRON_LAYERS), n))
    values["num_blocks"] = n  # the list's length: num_hidden_layers is derived from it
    for name in ("dense_layers", "moe_step", "first_dense"):  # the list says which are moe
        values.pop(name, None)
    kinds = [_NEMOTRON_LAYERS[kind] for kind in listed]
    values.update(layer_types=kinds, single_part=True,
                  d_inner=keys["mamba_num_heads"] * keys["mamba_head_dim"],
                  ssm_heads=keys["mamba_num_heads"], ssm_head_dim=keys["mamba_head_dim"])
    if "mamba2" not in kinds:
        for name in _SSM_VALUES:
            values.pop(name, None)
    if "full_attention" not in kinds:  # no attention layer: its sizes stay unread
        for name in ("n_kv_heads", "head_dim"):
            values.pop(name, None)
    if "moe" not in kinds:
        as_dense(values)
    else:  # one shared MLP beside the experts, intermediate_size wide where its own is 0
        shared = keys["moe_shared_expert_intermediate_size"] or keys["intermediate_size"]
        values.update(shared_experts=1, shared_d_ff=shared)


#: a Mamba-2 mixer's sizes under Bamba's (and Granite 4's) names
_MAMBA2_KEYS = (size("mamba_expand"), size("mamba_n_heads"), size("mamba_n_groups"))

_MAMBA2_FIELDS = dict(d_state=size("mamba_d_state"), d_conv=size("mamba_d_conv"),
                      conv_bias=flag("mamba_conv_bias"), ssm_bias=flag("mamba_proj_bias"))

#: Qwen3-Next's (and Qwen3.5's) attention: grouped-query, head norms, an output gate
_QWEN3_NEXT_FIELDS = {**decoder(**biased(BIAS), n_kv_heads=size("num_key_value_heads"),
                                head_dim=size("head_dim"), qk_norm="head"),
                      "attention_gate": True, "d_conv": size("linear_conv_kernel_dim")}
#: gated DeltaNet's sizes under Qwen3-Next's names, and its layers
_DELTANET_KEYS = (size("linear_num_key_heads"), size("linear_key_head_dim"),
                  size("linear_num_value_heads"), size("linear_value_head_dim"),
                  types("layer_types"))

HYBRID: tuple[Family, ...] = (
    Family("bamba", decoder(**biased(BIAS), mlp_bias=flag("mlp_bias"), **_MAMBA2_FIELDS),
           hook=_bamba, reads=(*_MAMBA2_KEYS, layers("attn_layer_indices"))),
    Family("granitemoehybrid", {**_MAMBA2_FIELDS, **decoder(**biased(BIAS))},
           aliases={"layer_types": "layers_block_type"},
           experts=Experts("num_local_experts", "intermediate_size", zero="dense",
                           top_k=optional("num_experts_per_tok")),
           hook=_granitemoehybrid,
           reads=(*_MAMBA2_KEYS, count("shared_intermediate_size"), types("layer_types"))),
    Family("jamba", {**decoder(n_kv_heads=size("num_key_value_heads")), **_MAMBA2_FIELDS,
                     "ssm_norms": True},
           aliases={"num_experts": "num_local_experts"},
           experts=Experts("num_experts", "intermediate_size", zero="dense"), hook=_jamba,
           reads=(size("mamba_expand"), size("attn_layer_period"), count("attn_layer_offset"),
                  size("expert_layer_period"), count("expert_layer_offset"))),
    Family("qwen3_next", _QWEN3_NEXT_FIELDS,
           experts=Experts("num_experts", **_QWEN_EXPERTS),  # type: ignore[arg-type]
           hook=_qwen3_next,
           reads=(*_DELTANET_KEYS, size("shared_expert_intermediate_size"))),
    # Qwen3.5: Qwen3-Next's layers (its DeltaNet's in-projections split four ways, the same
    # weights), a dense MLP in every layer; its MoE: experts in every layer
    Family("qwen3_5_text", _QWEN3_NEXT_FIELDS, hook=_deltanet_layers, reads=_DELTANET_KEYS),
    Family("qwen3_5_moe_text", {**_QWEN3_NEXT_FIELDS, "d_ff": None},
           experts=Experts("num_experts", "moe_intermediate_size"), hook=_qwen3_next,
           reads=(*_DELTANET_KEYS, size("shared_expert_intermediate_size"))),
    # num_hidden_layers is the layer list's length (the hook's), never read from the file
    Family("nemotron_h", decoder(mlp="plain", mlp_bias=flag("mlp_bias"), head="linear",
                                 num_blocks=1, ssm_groups=size("n_groups"),
                                 n_kv_heads=size("num_key_value_heads"), head_dim=size("head_dim"),
                                 d_state=size("ssm_state_size"), d_conv=size("conv_kernel"),
                                 conv_bias=flag("use_conv_bias"), ssm_bias=flag("use_bias")),
           aliases={"layers_block_type": "layer_types", "n_routed_experts": "num_local_experts",
                    "n_groups": "mamba_n_groups", "conv_kernel": "mamba_d_conv",
                    "use_conv_bias": "mamba_conv_bias"},
           experts=Experts("n_routed_experts", "moe_intermediate_size"),
           refusals=(Refusal(optional("moe_latent_size"), "is set: the experts' latent "
                             "projections (fc1_latent_proj, fc2_latent_proj) are not counted",
                             lambda latent, keys: latent is not None),),
           hook=_nemotron_h,
           reads=(size("mamba_num_heads"), size("mamba_head_dim"),
                  count("moe_shared_expert_intermediate_size"), types("layers_block_type"))),
)
