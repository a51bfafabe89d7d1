"""One record per model_type: how its config.json maps onto paramcalc's configuration.

Each record was written from transformers' modeling code for the family: which
projections carry biases, which norm and where it sits, which keys the attention reads,
which layers hold experts. Adding a family is one record here (and, where it needs a
sub-layer paramcalc lacks, that sub-layer), then ``python -m paramcalc.families.generate``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .record import (Experts, Family, Key, Reader, Refusal, Windows, count, flag, optional,
                     size)

#: the output layer: tied to the embedding, or a Linear of its own
TIED = flag("tie_word_embeddings", {True: "tied", False: "linear"})
BIAS = flag("attention_bias")  # on the query, key, value and output projections alike
#: GPT-2's, XGLM's and GPT-BigCode's cross-attention, which this count has no layer for
CROSS_ATTENTION = Refusal(flag("add_cross_attention"), "adds a cross-attention layer to every "
                          "block", lambda on, keys: on)
#: GPT-2's and CTRL's names for the sizes that most config classes call otherwise
GPT2_ALIASES = {"n_embd": "hidden_size", "n_layer": "num_hidden_layers",
                "n_head": "num_attention_heads", "n_positions": "max_position_embeddings"}


def backbone(width: str = "hidden_size", layers: str = "num_hidden_layers",
             heads: str = "num_attention_heads", ff: Key = size("intermediate_size"),
             context: str = "max_position_embeddings") -> dict[str, Any]:
    """The sizes every family has, under the names of its config class."""
    return dict(vocab_size=size("vocab_size"), seq_length=size(context), d_model=size(width),
                num_blocks=size(layers), n_heads=size(heads), d_ff=ff, block="transformer",
                final_norm=True)


def decoder(**changes: Any) -> dict[str, Any]:
    """The Llama-like families: rotary positions, RMSNorms before each part, a gated MLP,
    key/value heads, and a head_dim the attention reads from the config when it is there."""
    fields = {**backbone(), "positional": "rotary", "norm": "rmsnorm", "mlp": "gated",
              "qkv_bias": False, "proj_bias": False, "mlp_bias": False, "qk_norm": "none",
              "norm_placement": "pre",
              "n_kv_heads": optional("num_key_value_heads", otherwise="n_heads"),
              "head_dim": optional("head_dim"), "head": TIED, "logits_bias": False}
    fields.update(changes)
    return fields


def biased(key: Key) -> dict[str, Key]:
    """The query, key, value and output projections' biases, all set by one key."""
    return {"qkv_bias": key, "proj_bias": key}


def _positions_of_biogpt(keys: Reader, values: dict[str, Any]) -> None:
    # OPT's learned table has two rows more than its context, and BioGPT's has them too
    values["n_positions"] = values["seq_length"] + 2


def _positions_of_opt(keys: Reader, values: dict[str, Any]) -> None:
    # OPT's two extra rows; without the norm before each part (OPT-350M) there is no final
    # norm either
    _positions_of_biogpt(keys, values)
    values["final_norm"] = keys["do_layer_norm_before"] and not keys["_remove_final_layer_norm"]


def _shared_expert_of_qwen2_moe(keys: Reader, values: dict[str, Any]) -> None:
    # one shared expert of its own width beside the routed ones, behind a sigmoid gate d → 1
    if values.get("num_experts"):
        values.update(shared_experts=1, shared_d_ff=keys["shared_expert_intermediate_size"],
                      shared_expert_gate=True)


def _shared_experts_of_deepseek(keys: Reader, values: dict[str, Any]) -> None:
    # one feed-forward part n_shared_experts × moe_intermediate_size wide beside the routed
    if values.get("num_experts") and keys["n_shared_experts"]:
        values.update(shared_experts=keys["n_shared_experts"],
                      shared_d_ff=keys["moe_intermediate_size"])


#: what a mixture of experts adds to a record's values: gone where no layer holds experts
_EXPERT_VALUES = ("num_experts", "experts_per_token", "expert_d_ff", "shared_experts",
                  "shared_d_ff", "first_dense", "moe_step", "dense_layers")


def as_dense(values: dict[str, Any]) -> None:
    """A file whose every layer is dense (``mlp_layer_types`` all "dense"): the dense model
    transformers builds, with no expert values left."""
    for name in _EXPERT_VALUES:
        values.pop(name, None)


def listed_per_layer(keys: Reader, name: str, allowed: tuple[str, ...], n: int) -> list[Any]:
    """A per-layer list (``mlp_layer_types``, ``layer_types``): one of ``allowed`` for each of
    the n layers, else one line naming the key (as the file names it)."""
    listed = keys[name]
    if len(listed) != n or set(listed) - set(allowed):
        raise ConfigError(f"{keys.origin}: {keys.where(name)} must name one of "
                          f"{', '.join(allowed[:-1])} or {allowed[-1]} for "
                          f"each of the {n} layers, got {listed!r:.80}")
    return list(listed)


def _latent(mlp_bias: Any) -> dict[str, Any]:
    """DeepSeek-V2/V3: multi-head latent attention, RMSNorms, gated MLPs."""
    return {**backbone(), "positional": "rotary", "norm": "rmsnorm", "mlp": "gated",
            **biased(BIAS), "mlp_bias": mlp_bias, "q_lora_rank": optional("q_lora_rank"),
            "kv_lora_rank": size("kv_lora_rank"), "qk_rope_head_dim": size("qk_rope_head_dim"),
            "qk_nope_head_dim": size("qk_nope_head_dim"), "v_head_dim": size("v_head_dim"),
            "head": TIED, "logits_bias": False}


_DEEPSEEK_EXPERTS = Experts("n_routed_experts", "moe_intermediate_size",
                            top_k=optional("num_experts_per_tok"),
                            first_dense="first_k_dense_replace")
#: every layer slides when sliding_window is given (it is by default for Mistral)
EVERY_LAYER = Windows()
#: Qwen2/Qwen3: with use_sliding_window, the layers from max_window_layers on
_QWEN_WINDOWS = Windows(switch="use_sliding_window", slides="from", bound="max_window_layers",
                        listed=True)
_QWEN_EXPERTS = dict(width="moe_intermediate_size", zero="dense", step="decoder_sparse_step",
                     dense="mlp_only_layers")
_NO_SHARED_WITH_BIAS = Refusal(
    count("n_shared_experts"), "with mlp_bias = true leaves a shared expert 0 wide that still "
    "has a bias", lambda shared, keys: shared == 0 and keys["mlp_bias"]
    and keys["n_routed_experts"] > 0)

RECORDS: tuple[Family, ...] = (
    Family("gpt2", {**backbone("n_embd", "n_layer", "n_head", optional("n_inner"), "n_positions"),
                    "positional": "learned", "n_positions": size("n_positions"), "head": TIED,
                    "logits_bias": False},
           aliases=GPT2_ALIASES,
           refusals=(CROSS_ATTENTION,)),
    Family("ctrl", {**backbone("n_embd", "n_layer", "n_head", size("dff"), "n_positions"),
                    "positional": "sinusoidal", "head": TIED, "logits_bias": True},
           aliases=GPT2_ALIASES),
    Family("llama", decoder(**biased(BIAS), mlp_bias=flag("mlp_bias"))),
    Family("mistral", decoder(n_kv_heads=size("num_key_value_heads")), windows=EVERY_LAYER),
    Family("qwen2", decoder(qkv_bias=True), windows=_QWEN_WINDOWS),
    Family("qwen3", decoder(**biased(BIAS), head_dim=size("head_dim"), qk_norm="head"),
           windows=_QWEN_WINDOWS),
    Family("gemma", decoder(**biased(BIAS), n_kv_heads=size("num_key_value_heads"),
                            head_dim=size("head_dim"))),
    Family("gemma2", decoder(**biased(BIAS), n_kv_heads=size("num_key_value_heads"),
                             head_dim=size("head_dim"), norm_placement="sandwich"),
           windows=Windows(slides="period", period=2, listed=True)),  # layer 0 slides, 1 not, …
    Family("gemma3_text", decoder(**biased(BIAS), n_kv_heads=size("num_key_value_heads"),
                                  head_dim=size("head_dim"), qk_norm="head",
                                  norm_placement="sandwich"),
           windows=Windows(slides="period", period="sliding_window_pattern", listed=True,
                           halved="use_bidirectional_attention")),
    Family("phi3", decoder(), windows=EVERY_LAYER),
    Family("olmo2", decoder(**biased(BIAS), qk_norm="full", norm_placement="post")),
    # one fused query_key_value of 3·d whatever head_dim says; LayerNorms; a biased MLP
    Family("gpt_neox", {**backbone(), "positional": "rotary", "norm": "layernorm",
                        "mlp": "plain", **biased(BIAS), "mlp_bias": True,
                        "parallel_residual": flag("use_parallel_residual"), "head": TIED,
                        "logits_bias": False}),
    Family("opt", {**backbone(ff=size("ffn_dim")), "positional": "learned", "norm": "layernorm",
                   "mlp": "plain", **biased(flag("enable_bias")), "mlp_bias": flag("enable_bias"),
                   "norm_placement": flag("do_layer_norm_before", {True: "pre", False: "post"}),
                   "head": TIED, "logits_bias": False},
           refusals=(Refusal(optional("word_embed_proj_dim"), "differs from hidden_size "
                             "({hidden_size}): the embedding is projected in and out",
                             lambda width, keys: width not in (None, keys["hidden_size"])),
                     Refusal(flag("layer_norm_elementwise_affine"), "leaves the LayerNorms "
                             "without weights", lambda affine, keys: not affine)),
           hook=_positions_of_opt, reads=(flag("_remove_final_layer_norm"),)),
    Family("mixtral", decoder(n_kv_heads=size("num_key_value_heads")),
           aliases={"num_local_experts": "num_experts"},
           experts=Experts("num_local_experts", "intermediate_size"), windows=EVERY_LAYER),
    Family("qwen2_moe", decoder(qkv_bias=flag("qkv_bias")),
           experts=Experts("num_experts", **_QWEN_EXPERTS),  # type: ignore[arg-type]
           hook=_shared_expert_of_qwen2_moe, reads=(size("shared_expert_intermediate_size"),),
           # with use_sliding_window, every other layer (0, 2, …) below max_window_layers
           windows=Windows(switch="use_sliding_window", slides="period", period=2,
                           bound="max_window_layers", listed=True)),
    Family("qwen3_moe", decoder(**biased(BIAS), n_kv_heads=size("num_key_value_heads"),
                                qk_norm="head"),
           aliases={"num_experts": "num_local_experts"},
           experts=Experts("num_experts", **_QWEN_EXPERTS),  # type: ignore[arg-type]
           windows=Windows(switch="use_sliding_window")),
    Family("deepseek_v2", _latent(flag("mlp_bias")), aliases={"n_routed_experts": "num_experts"},
           refusals=(_NO_SHARED_WITH_BIAS,), experts=_DEEPSEEK_EXPERTS,
           hook=_shared_experts_of_deepseek, reads=(count("n_shared_experts"),)),
    Family("deepseek_v3", _latent(False), aliases={"n_routed_experts": "num_local_experts"},
           experts=_DEEPSEEK_EXPERTS, hook=_shared_experts_of_deepseek,
           reads=(count("n_shared_experts"),)),
    # RMSNorms on queries and keys over the whole projection, then 64 narrow experts a layer
    Family("olmoe", decoder(**biased(BIAS), qk_norm="full"),
           aliases={"num_experts": "num_local_experts"},
           refusals=(Refusal(optional("head_dim"), "differs from hidden_size / "
                             "num_attention_heads ({hidden_size} / {num_attention_heads}): "
                             "OLMoE's query norm stays hidden_size wide",
                             lambda width, keys: width is not None and width
                             * keys["num_attention_heads"] != keys["hidden_size"]),),
           experts=Experts("num_experts", "intermediate_size")),
    # LayerNorms (weight and bias) around every part and at the end, biased attention, 16
    # experts a layer, and a bias on the output layer (lm_head_bias), tied or not; its router
    # (sparsemixer) takes the best expert and then the best of the others: always 2
    Family("phimoe", decoder(**biased(BIAS), n_kv_heads=size("num_key_value_heads"),
                             norm="layernorm", logits_bias=flag("lm_head_bias")),
           refusals=(Refusal(size("num_experts_per_tok"), "is not what PhiMoE's router does: "
                             "it sends every token to 2 experts, whatever this key says",
                             lambda top_k, keys: top_k != 2),),
           experts=Experts("num_local_experts", "intermediate_size"), windows=EVERY_LAYER),
    Family("starcoder2", decoder(**biased(flag("use_bias")), mlp_bias=flag("use_bias"),
                                 n_kv_heads=size("num_key_value_heads"), norm="layernorm",
                                 mlp="plain"), windows=EVERY_LAYER),
    # GPT-1: GPT-2's layout with a LayerNorm after each part (no final norm), a feed-forward
    # of 4·n_embd always (the config has no width key), a head tied to the tokens
    Family("openai-gpt", {**backbone("n_embd", "n_layer", "n_head", context="n_positions"),
                          "d_ff": None, "positional": "learned",
                          "n_positions": size("n_positions"), "norm_placement": "post",
                          "final_norm": False, "head": TIED, "logits_bias": False},
           aliases=GPT2_ALIASES),
    # XGLM: OPT's names under model., sinusoidal positions (a buffer, not saved), a LayerNorm
    # before each part and after the last block, biases everywhere, a head tied to the tokens
    Family("xglm", {**backbone("d_model", "num_layers", "attention_heads", size("ffn_dim")),
                    "positional": "sinusoidal", "head": TIED, "logits_bias": False},
           aliases={"d_model": "hidden_size", "num_layers": "num_hidden_layers",
                    "attention_heads": "num_attention_heads"},
           refusals=(CROSS_ATTENTION,)),
    # BioGPT: XGLM's block under biogpt., learned positions with OPT's two extra rows, a head
    # (output_projection) tied to the tokens; scale_embedding a scalar
    Family("biogpt", {**backbone(), "positional": "learned", "head": TIED, "logits_bias": False},
           hook=_positions_of_biogpt),
)

from .classic import CLASSIC  # noqa: E402  (its records build on the helpers above)

RECORDS += CLASSIC

from .modern import MODERN  # noqa: E402  (the modern families build on the helpers above)

RECORDS += MODERN

from .moe import MOE  # noqa: E402  (more mixtures of experts, on the helpers above)

RECORDS += MOE

from .sparse import SPARSE  # noqa: E402  (DeepSeek-V3.2 builds on the helpers above)

RECORDS += SPARSE

from .dense import DENSE  # noqa: E402  (more dense families, on the helpers above)

RECORDS += DENSE

from .ssm import SSM  # noqa: E402  (the state-space families: Mamba, Falcon-Mamba, Mamba-2)

RECORDS += SSM

from .moe_more import MOE_MORE  # noqa: E402  (Cohere 2 MoE and more, on the helpers above)

RECORDS += MOE_MORE

from .hybrid import HYBRID  # noqa: E402  (state-space layers beside attention: Bamba and more)

RECORDS += HYBRID

from .alibi import ALIBI  # noqa: E402  (BLOOM, MPT and Falcon, on the helpers above)

RECORDS += ALIBI

from .gpt2_like import GPT2_LIKE  # noqa: E402  (GPT-BigCode and GPT-Neo, on the helpers above)

RECORDS += GPT2_LIKE

from .llama_like import LLAMA_LIKE  # noqa: E402  (BitNet's sub-norms, on the helpers above)

RECORDS += LLAMA_LIKE
