"""More dense attention families: records written from transformers' modeling code (5.24).

What they add over Llama, and where it is held:

- Helium: an output projection hidden_size wide whatever head_dim says (refused where the
  two differ: transformers' forward cannot run it).
- OLMo 3 and EXAONE 4: OLMo 2's norms after each part, and sliding layers (all but every
  4th, or every ``sliding_window_pattern``-th; EXAONE 4's full layers have no rotary).
- VaultGemma: Gemma 2 with two norms a block, before each part.
- OLMo: LayerNorms without any weights (``layernorm_bare``); ``clip_qkv`` clamps values.
- Apertus: an up and a down projection through xIELU, whose two learned scalars each block
  holds (``mlp = xielu``), and RMSNorms of one head's width on queries and keys.
- Cohere and Cohere 2: attention and MLP side by side after one LayerNorm without a bias
  (``norm_placement = shared``, ``layernorm_nobias``); Cohere's optional query and key norms
  hold a scale per head (``qk_norm = per_head``); ``logit_scale`` is a scalar.
- StableLM: LayerNorms, ``use_qkv_bias``, ``use_parallel_residual`` (then one norm), per-head
  query and key norms (``qk_layernorm``), partial rotary.
- Persimmon: a fused query_key_value of 3·d with biases, LayerNorms of one head's width on
  queries and keys, an up and a down projection (ReLU²) with biases.
- Phi, GPT-J, CodeGen: one LayerNorm before attention and MLP side by side, a biased
  fc1/fc2 (fc_in/fc_out), a bias on the output layer; CodeGen fuses Q, K and V.

Partial rotary (StableLM, Persimmon, Phi, GPT-J's rotary_dim) has no parameters.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..spec import MAX_SIZE, _shown
from .record import (Family, Key, Reader, Refusal, Windows, flag, optional, size, text, types,
                     window_fields)
from .records import BIAS, GPT2_ALIASES, TIED, backbone, biased, decoder

_MLP_BIAS = flag("mlp_bias")
#: one norm before attention and feed-forward side by side
_SHARED = {"parallel_residual": True, "norm_placement": "shared"}
_COHERE = decoder(**biased(BIAS), norm="layernorm_nobias", **_SHARED)


def _mlp_of_apertus(keys: Reader, values: dict[str, Any]) -> None:
    # xIELU holds two learned scalars; any other activation none
    values["mlp"] = "xielu" if keys["hidden_act"] == "xielu" else "plain"


def _cohere2(keys: Reader, values: dict[str, Any]) -> None:
    # Cohere2Config sets head_dim to hidden_size / num_attention_heads, and then a file's
    # head_dim over it: no default of its own to generate, so read here, checked as a size
    if "head_dim" in keys.data:
        width = keys.data["head_dim"]
        if type(width) is not int or not 0 < width <= MAX_SIZE:
            raise ConfigError(f"{keys.origin}: head_dim must be a positive integer, got "
                              f"{_shown(width)}")
        values["head_dim"] = width
    # Cohere2Config takes sliding_window_pattern as a keyword (4 when absent), makes
    # layer_types from it and keeps nothing of it: all but every pattern-th layer slide
    if keys.where("sliding_window_pattern") in keys.data and \
            keys["sliding_window_pattern"] is None:
        raise keys.refuse("sliding_window_pattern", "leaves the pattern of sliding layers "
                          "unset (transformers builds no model)")
    period = keys["sliding_window_pattern"] or 4
    values.update(window_fields(Windows(slides="period", period=period, listed=True), keys,
                                values["num_blocks"]))


def _gptj() -> dict[str, Any]:
    """GPT-J and CodeGen (whose Q, K and V are one fused d → 3·d): GPT-2's names, rotary,
    one LayerNorm before the parts side by side, attention without biases, a biased MLP
    n_inner (else 4·d) wide, a biased output layer."""
    return {**backbone("n_embd", "n_layer", "n_head", optional("n_inner"), "n_positions"),
            "positional": "rotary", "norm": "layernorm", "mlp": "plain", "qkv_bias": False,
            "proj_bias": False, "mlp_bias": True, **_SHARED, "head": TIED, "logits_bias": True}


DENSE: tuple[Family, ...] = (
    Family("helium", decoder(qkv_bias=BIAS, mlp_bias=_MLP_BIAS,
                             n_kv_heads=size("num_key_value_heads"), head_dim=size("head_dim")),
           refusals=(Refusal(size("head_dim"), "differs from hidden_size / "
                             "num_attention_heads ({hidden_size} / {num_attention_heads}): "
                             "Helium's output projection stays hidden_size wide",
                             lambda width, keys: width * keys["num_attention_heads"]
                             != keys["hidden_size"]),)),
    # OLMo 2's block; all but every 4th layer slide (or layer_types)
    Family("olmo3", decoder(**biased(BIAS), qk_norm="full", norm_placement="post"),
           windows=Windows(slides="period", period=4, listed=True)),
    # norms of one head's width on queries and keys, a norm after each part
    Family("exaone4", decoder(n_kv_heads=size("num_key_value_heads"), qk_norm="head",
                              norm_placement="post"),
           refusals=(Refusal(Key("sliding_window", "window"), "without layer_types makes "
                             "transformers' pattern 0 (it builds no model)",
                             lambda window, keys: window is None
                             and keys["layer_types"] is None),),
           windows=Windows(slides="period", period="sliding_window_pattern", listed=True)),
    Family("vaultgemma", decoder(**biased(BIAS), n_kv_heads=size("num_key_value_heads"),
                                 head_dim=size("head_dim")),
           windows=Windows(slides="period", period=2, listed=True)),
    Family("olmo", decoder(**biased(BIAS), norm="layernorm_bare")),
    Family("apertus", decoder(**biased(BIAS), mlp="plain", qk_norm="head"),
           hook=_mlp_of_apertus, reads=(text("hidden_act"),)),
    Family("cohere", {**_COHERE, "qk_norm": flag("use_qk_norm", {True: "per_head",
                                                                  False: "none"})}),
    # head_dim: the config class sets hidden_size / num_attention_heads, then a file's own
    Family("cohere2", {**_COHERE, "head_dim": None}, hook=_cohere2,
           reads=(Key("sliding_window", "window"), types("layer_types"),
                  optional("sliding_window_pattern"))),
    Family("stablelm", {**backbone(), "positional": "rotary", "norm": "layernorm",
                        "mlp": "gated", "qkv_bias": flag("use_qkv_bias"), "proj_bias": False,
                        "mlp_bias": False, "n_kv_heads": size("num_key_value_heads"),
                        "qk_norm": flag("qk_layernorm", {True: "per_head", False: "none"}),
                        "parallel_residual": flag("use_parallel_residual"),
                        "norm_placement": flag("use_parallel_residual",
                                               {True: "shared", False: "pre"}),
                        "head": TIED, "logits_bias": False}),
    Family("persimmon", {**backbone(), "positional": "rotary", "norm": "layernorm",
                         "mlp": "plain", "qkv_bias": True, "proj_bias": True, "mlp_bias": True,
                         "qk_norm": flag("qk_layernorm", {True: "head", False: "none"}),
                         "head": TIED, "logits_bias": False}),
    Family("phi", {**backbone(), "positional": "rotary", "norm": "layernorm", "mlp": "plain",
                   "qkv_bias": True, "proj_bias": True, "mlp_bias": True,
                   "n_kv_heads": optional("num_key_value_heads", otherwise="n_heads"),
                   "head_dim": optional("head_dim"),
                   "qk_norm": flag("qk_layernorm", {True: "head", False: "none"}), **_SHARED,
                   "head": TIED, "logits_bias": True},
           refusals=(Refusal(optional("head_dim"), "differs from hidden_size / "
                             "num_attention_heads ({hidden_size} / {num_attention_heads}) with "
                             "qk_layernorm: Phi's query and key norms stay hidden_size / "
                             "num_attention_heads wide",
                             lambda width, keys: keys["qk_layernorm"] and width is not None
                             and width * keys["num_attention_heads"] != keys["hidden_size"]),)),
    Family("gptj", _gptj(), aliases=GPT2_ALIASES),
    Family("codegen", _gptj(), aliases=GPT2_ALIASES),
)
