"""config.json in: every supported model_type against transformers' own model on the meta device.

The expected side is transformers: its config class reads the drawn keys, its model class is
built on the meta device, and its parameters are summed (a tied tensor once). paramcalc reads
the same keys from a file with plain json. Each configuration is written three ways: by
``save_pretrained``, in full by ``to_json_file(use_diff=False)``, and by hand with only the
drawn keys, so that every default of paramcalc's tables is exercised too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import budget, from_name
from paramcalc.families import SUPPORTED, load
from paramcalc.families.hybrid import HYBRID
from paramcalc.families.ssm import SSM

#: the state-space types: their keys and their state are tests/test_families_ssm.py's
SSM_TYPES = tuple(record.model_type for record in SSM)
#: the hybrids: state-space layers beside attention layers
HYBRID_TYPES = tuple(record.model_type for record in HYBRID)

transformers = pytest.importorskip("transformers")
EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "llama-3.1-8b")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut


def reference(hf_config: Any) -> dict[str, Any]:
    """Counts of transformers' own causal-LM class for ``hf_config``, on the meta device: the
    components, the distinct sizes of its blocks, and the active count (the total less, in each
    layer of experts, the share of its experts that a token's top-k routing leaves out)."""
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    embedding = model.get_input_embeddings().weight
    # BLOOM's LayerNorm on the word embeddings is counted with them
    norm = getattr(model.base_model, "word_embeddings_layernorm", None)
    layers = next(m for _, m in model.named_modules() if isinstance(m, torch.nn.ModuleList))
    head = model.get_output_embeddings()
    total = sum(p.numel() for p in model.parameters())
    idle = 0
    # DBRX keeps K in its ffn_config, and its experts' weights as (E·f, d)
    top_k = getattr(hf_config, "num_experts_per_tok", None) or \
        getattr(getattr(hf_config, "ffn_config", None), "moe_top_k", None)
    for module in model.modules():
        if type(module).__name__.endswith("Experts"):  # stacked: each weight is (E, …)
            weights = list(module.parameters())
            routed = getattr(module, "num_experts", None) or weights[0].shape[0]
            idle += sum(w.numel() for w in weights) // routed * (routed - top_k)
    return {
        "total": total,
        "active": total - idle,
        "embedding": embedding.numel() + sum(p.numel() for p in (norm.parameters() if norm
                                                                  else ())),
        "blocks": sum(p.numel() for p in layers.parameters()),
        "head": sum(p.numel() for p in head.parameters() if p is not embedding),
        "block_sizes": sorted({sum(p.numel() for p in layer.parameters()) for layer in layers}),
    }


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


@st.composite
def ssm_keys(draw: st.DrawFn, model_type: str) -> dict[str, Any]:
    """Small random keys for a state-space ``model_type`` (mamba, falcon_mamba, mamba2):
    sizes, biases, the time-step rank, and Mamba's intermediate_size of its own."""
    hidden = draw(st.integers(2, 40))
    expand = draw(st.integers(1, 3))
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 300)), hidden_size=hidden,
        num_hidden_layers=draw(st.integers(1, 3)), state_size=draw(st.integers(1, 16)),
        expand=expand, conv_kernel=draw(st.integers(1, 5)), use_bias=draw(st.booleans()),
        use_conv_bias=draw(st.booleans()), tie_word_embeddings=draw(st.booleans()))
    if model_type == "mamba2":  # expand · hidden_size = num_heads · head_dim, groups | heads
        inner = expand * hidden
        heads = draw(st.sampled_from([h for h in range(1, min(inner, 8) + 1) if inner % h == 0]))
        keys.update(num_heads=heads, head_dim=inner // heads,
                    n_groups=draw(st.sampled_from([g for g in range(1, heads + 1)
                                                   if heads % g == 0])))
    else:
        rank = draw(st.none() | st.just("auto") | st.integers(1, 8))
        if rank is not None:
            keys["time_step_rank"] = rank
        if draw(st.booleans()):  # Mamba's mixer reads it in place of expand · hidden_size
            keys["intermediate_size"] = draw(st.integers(1, 64))
    return keys


def falcon_keys(draw: st.DrawFn, vocab: int, hidden: int, layers: int, heads: int,
                context: int, tie: bool) -> dict[str, Any]:
    """Falcon's keys: the old architecture (one key/value head with multi_query, else one per
    head; attention and MLP side by side after one norm, or one after the other) or the new
    (num_kv_heads, parallel after one or two norms), ALiBi or rotary, biases or none."""
    new = draw(st.booleans())
    keys: dict[str, Any] = {
        "vocab_size": vocab, draw(st.sampled_from(["hidden_size", "n_embed"])): hidden,
        "num_hidden_layers": layers, "num_attention_heads": heads,
        "max_position_embeddings": context, "tie_word_embeddings": tie,
        "new_decoder_architecture": new, "alibi": draw(st.booleans()),
        "bias": draw(st.booleans()), "ffn_hidden_size": draw(st.none() | st.integers(1, 96)),
        "activation": draw(st.sampled_from(["gelu", "relu"]))}
    if new:  # always side by side, after num_ln_in_parallel_attn norms (null: 2)
        keys.update(num_kv_heads=draw(st.none() | st.sampled_from(_divisors(heads))),
                    num_ln_in_parallel_attn=draw(st.sampled_from([None, 1, 2])))
    else:
        keys.update(multi_query=draw(st.booleans()), parallel_attn=draw(st.booleans()),
                    num_ln_in_parallel_attn=draw(st.sampled_from([None, 1])))
        if not keys["multi_query"]:  # one key/value head per head: num_kv_heads may say so
            keys["num_kv_heads"] = draw(st.sampled_from([None, heads]))
    return keys


@st.composite
def mamba2_keys(draw: st.DrawFn, hidden: int, prefix: str = "mamba_") -> dict[str, Any]:
    """A hybrid's Mamba-2 sizes under its ``mamba_`` names: expand · hidden_size split into
    heads (their width "auto" or written), groups that divide the heads, biases."""
    expand = draw(st.integers(1, 3))
    inner = expand * hidden
    heads = draw(st.sampled_from([h for h in range(1, min(inner, 8) + 1) if inner % h == 0]))
    keys = {f"{prefix}expand": expand, f"{prefix}n_heads": heads,
            f"{prefix}n_groups": draw(st.sampled_from(_divisors(heads))),
            f"{prefix}d_state": draw(st.integers(1, 16)),
            f"{prefix}d_conv": draw(st.integers(1, 5)),
            f"{prefix}conv_bias": draw(st.booleans()), f"{prefix}proj_bias": draw(st.booleans())}
    if draw(st.booleans()):
        keys[f"{prefix}d_head"] = draw(st.sampled_from(["auto", inner // heads]))
    return keys


@st.composite
def hybrid_keys(draw: st.DrawFn, model_type: str) -> dict[str, Any]:
    """Small random keys for a hybrid ``model_type``: attention's sizes, the state-space
    mixer's, and which layers attend (an index past the last layer included: transformers
    passes over it)."""
    heads = draw(st.sampled_from([1, 2, 4]))
    hidden = heads * 2 * draw(st.integers(1, 6))
    layers = draw(st.integers(1, 4))
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 300)), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=draw(st.sampled_from(_divisors(heads))),
        intermediate_size=draw(st.integers(1, 64)), tie_word_embeddings=draw(st.booleans()),
        max_position_embeddings=draw(st.integers(8, 64)), attention_bias=draw(st.booleans()),
        mlp_bias=draw(st.booleans()),
        **draw(mamba2_keys(hidden)))
    if model_type == "bamba":
        keys["attn_layer_indices"] = draw(st.none() | st.lists(st.integers(0, layers),
                                                               max_size=3))
    if model_type == "jamba":  # Mamba's sizes; attention and experts each at an offset
        del keys["attention_bias"], keys["mlp_bias"]
        for name in [k for k in keys if k.startswith("mamba_")]:
            del keys[name]
        experts = draw(st.integers(0, 4))
        attend, expert = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        keys.update(mamba_expand=draw(st.integers(1, 3)), mamba_d_state=draw(st.integers(1, 8)),
                    mamba_d_conv=draw(st.integers(1, 4)), mamba_conv_bias=draw(st.booleans()),
                    mamba_proj_bias=draw(st.booleans()),
                    mamba_dt_rank=draw(st.sampled_from(["auto", 1, 3])),
                    attn_layer_period=attend, attn_layer_offset=draw(st.integers(0, attend - 1)),
                    expert_layer_period=expert,
                    expert_layer_offset=draw(st.integers(0, expert - 1)), num_experts=experts,
                    num_experts_per_tok=draw(st.integers(1, max(experts, 1))))
    if model_type == "granitemoehybrid":  # layer_types by either name; experts or none
        keys["layer_types"] = draw(st.none() | st.lists(st.sampled_from(
            ["linear_attention", "mamba", "full_attention", "attention"]),
            min_size=layers, max_size=layers))
        experts = draw(st.integers(0, 4))
        keys.update(num_local_experts=experts,
                    num_experts_per_tok=draw(st.integers(1, max(experts, 1))),
                    shared_intermediate_size=draw(st.integers(0 if experts else 1, 32)))
        del keys["mlp_bias"]
    if model_type in ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text"):
        keys.update(draw(deltanet_keys(model_type, layers)))
        del keys["mlp_bias"]
        for name in [k for k in keys if k.startswith("mamba_")]:
            del keys[name]
        if model_type == "qwen3_5_moe_text":  # experts in every layer: no dense width
            del keys["intermediate_size"]
    if model_type == "nemotron_h":  # its own names (some older ones), each layer one part
        return draw(nemotron_h_keys(keys))
    return keys


@st.composite
def deltanet_keys(draw: st.DrawFn, model_type: str, layers: int) -> dict[str, Any]:
    """Qwen3-Next's (Qwen3.5's) own keys: gated DeltaNet's sizes (value heads a multiple of
    the key heads), which layers attend (listed by either name, or by an interval), and
    experts (Qwen3-Next: Qwen-MoE's, or none; Qwen3.5 MoE: in every layer)."""
    key_heads = draw(st.integers(1, 3))
    keys: dict[str, Any] = dict(
        head_dim=draw(st.integers(1, 8)), linear_num_key_heads=key_heads,
        linear_num_value_heads=key_heads * draw(st.integers(1, 3)),
        linear_key_head_dim=draw(st.integers(1, 8)),
        linear_value_head_dim=draw(st.integers(1, 8)),
        linear_conv_kernel_dim=draw(st.integers(1, 5)))
    if model_type != "qwen3_5_text":
        experts = draw(st.integers(0 if model_type == "qwen3_next" else 1, 4))
        keys.update(num_experts=experts,
                    num_experts_per_tok=draw(st.integers(1, max(experts, 1))),
                    moe_intermediate_size=draw(st.integers(1, 16)),
                    shared_expert_intermediate_size=draw(st.integers(1, 16)))
    if model_type == "qwen3_next":
        keys.update(decoder_sparse_step=draw(st.integers(1, 2)),
                    mlp_only_layers=draw(st.lists(st.integers(0, layers - 1), max_size=2)))
    listed = draw(st.none() | st.lists(st.sampled_from(
        ["linear_attention", "mamba", "full_attention", "attention"]),
        min_size=layers, max_size=layers))
    if listed is not None:
        keys["layer_types"] = listed
    elif draw(st.booleans()):  # the config class's default by its interval
        keys["full_attention_interval"] = draw(st.integers(1, 3))
    return keys


_NEMOTRON_KINDS = {"M": ["linear_attention", "mamba"], "*": ["full_attention", "attention"],
                   "-": ["mlp"], "E": ["moe"]}


@st.composite
def nemotron_h_keys(draw: st.DrawFn, common: dict[str, Any]) -> dict[str, Any]:
    """Nemotron-H's keys: the layers by layers_block_type (new or legacy names), layer_types
    or hybrid_override_pattern; Mamba-2 heads of their own width; experts beside a shared MLP
    (0 wide: intermediate_size); every bias switch."""
    keys = {name: common[name] for name in (
        "vocab_size", "hidden_size", "num_attention_heads", "num_key_value_heads",
        "intermediate_size", "tie_word_embeddings", "max_position_embeddings", "mlp_bias")}
    pattern = "".join(draw(st.lists(st.sampled_from("M*-E"), min_size=1, max_size=5)))
    way = draw(st.sampled_from(["layers_block_type", "layer_types", "hybrid_override_pattern"]))
    keys[way] = pattern if way == "hybrid_override_pattern" else [
        draw(st.sampled_from(_NEMOTRON_KINDS[char])) for char in pattern]
    heads = draw(st.integers(1, 6))
    legacy = draw(st.booleans())  # mamba_n_groups, mamba_d_conv and mamba_conv_bias
    experts = draw(st.integers(1, 4))
    keys.update(mamba_num_heads=heads, mamba_head_dim=draw(st.integers(1, 8)),
                ssm_state_size=draw(st.integers(1, 16)),
                **{"mamba_n_groups" if legacy else "n_groups":
                   draw(st.sampled_from(_divisors(heads))),
                   "mamba_d_conv" if legacy else "conv_kernel": draw(st.integers(1, 5)),
                   "mamba_conv_bias" if legacy else "use_conv_bias": draw(st.booleans())},
                use_bias=draw(st.booleans()), attention_bias=draw(st.booleans()),
                head_dim=draw(st.sampled_from([2, 4, 6])),
                n_routed_experts=experts,
                num_experts_per_tok=draw(st.integers(1, experts)),
                moe_intermediate_size=draw(st.integers(1, 32)),
                moe_shared_expert_intermediate_size=draw(st.integers(0, 32)))
    return keys


@st.composite
def neo_attention_types(draw: st.DrawFn, layers: int) -> list[list[Any]]:
    """GPT-Neo's attention_types for ``layers`` layers: a pattern of global and local layers
    repeated, or the layers pair by pair."""
    period = draw(st.sampled_from(_divisors(layers)))
    kinds = draw(st.lists(st.sampled_from(["global", "local"]), min_size=period,
                          max_size=period))
    if draw(st.booleans()):
        return [[kinds, layers // period]]
    return [[[kind], 1] for kind in kinds * (layers // period)]


@st.composite
def family_keys(draw: st.DrawFn, model_type: str) -> dict[str, Any]:
    """Small random keys for ``model_type``, count-changing switches included."""
    if model_type in SSM_TYPES:
        return draw(ssm_keys(model_type))
    if model_type in HYBRID_TYPES:
        return draw(hybrid_keys(model_type))
    heads = draw(st.sampled_from([1, 2, 3, 4, 6]))
    hidden = heads * draw(st.integers(2, 8)) * 2
    vocab, layers = draw(st.integers(8, 300)), draw(st.integers(1, 3))
    context, tie = draw(st.integers(8, 512)), draw(st.booleans())
    kv = draw(st.sampled_from(_divisors(heads)))
    head_dim = draw(st.none() | st.integers(1, 12).map(lambda x: 2 * x))  # rotary needs even
    ff = draw(st.integers(1, 96))
    flag = st.booleans()
    if model_type == "gpt2":
        return dict(vocab_size=vocab, n_positions=context, n_embd=hidden, n_layer=layers,
                    n_head=heads, n_inner=draw(st.none() | st.integers(1, 96)),
                    tie_word_embeddings=tie)
    if model_type == "openai-gpt":  # GPT-2's names; the feed-forward is always 4·n_embd
        return dict(vocab_size=vocab, n_positions=context, n_embd=hidden, n_layer=layers,
                    n_head=heads, tie_word_embeddings=tie)
    if model_type == "ctrl":
        return dict(vocab_size=vocab, n_positions=context, n_embd=hidden, dff=ff, n_layer=layers,
                    n_head=heads, tie_word_embeddings=tie)
    if model_type == "gpt_bigcode":  # GPT-2's names; one key/value head with multi_query
        return dict(vocab_size=vocab, n_positions=context, n_embd=hidden, n_layer=layers,
                    n_head=heads, n_inner=draw(st.none() | st.integers(1, 96)),
                    multi_query=draw(flag), tie_word_embeddings=tie)
    if model_type == "gpt_neo":  # global and local layers, as attention_types repeats them
        return dict(vocab_size=vocab, max_position_embeddings=context, hidden_size=hidden,
                    num_layers=layers, num_heads=heads,
                    intermediate_size=draw(st.none() | st.integers(1, 96)),
                    attention_types=draw(neo_attention_types(layers)),
                    window_size=draw(st.integers(1, 64)), tie_word_embeddings=tie)
    if model_type in ("gptj", "codegen"):  # CodeGen splits Q, K, V into 4 groups of heads
        heads = 4 if model_type == "codegen" else heads
        return dict(vocab_size=vocab, n_positions=context, n_embd=heads * 2 * draw(
            st.integers(1, 4)), n_layer=layers, n_head=heads,
            n_inner=draw(st.none() | st.integers(1, 96)), rotary_dim=2,  # even, within a head
            tie_word_embeddings=tie)
    if model_type == "gpt_neox":
        # a quarter of each head is rotary, and that quarter must be even
        return dict(vocab_size=vocab, hidden_size=heads * 8 * draw(st.integers(1, 3)),
                    intermediate_size=ff,
                    num_hidden_layers=layers, num_attention_heads=heads,
                    max_position_embeddings=context, attention_bias=draw(flag),
                    use_parallel_residual=draw(flag), tie_word_embeddings=tie)
    if model_type in ("deepseek_v2", "deepseek_v3"):
        routed = draw(st.integers(1, 6))
        keys = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=ff,
                    num_hidden_layers=layers, num_attention_heads=heads,
                    max_position_embeddings=context, tie_word_embeddings=tie,
                    n_routed_experts=routed, num_experts_per_tok=draw(st.integers(1, routed)),
                    moe_intermediate_size=draw(st.integers(1, 32)),
                    n_shared_experts=draw(st.integers(0, 2)),
                    first_k_dense_replace=draw(st.integers(0, layers)),
                    q_lora_rank=draw(st.none() | st.integers(1, 24)),
                    kv_lora_rank=draw(st.integers(1, 24)),
                    qk_rope_head_dim=2 * draw(st.integers(1, 8)),  # rotary needs even
                    qk_nope_head_dim=draw(st.integers(1, 16)), v_head_dim=draw(st.integers(1, 16)),
                    attention_bias=draw(flag), n_group=1, topk_group=1)
        if model_type == "deepseek_v2":  # (no shared expert with biases: refused, tested below)
            keys["mlp_bias"] = draw(flag) and keys["n_shared_experts"] > 0
        return keys
    if model_type in ("deepseek_v32", "glm_moe_dsa"):  # the query latent and the indexer
        from test_families_sparse import v32_keys

        return draw(v32_keys())
    if model_type == "llama4_text":  # its experts, shared expert, dense width and chunks
        from test_families_llama4 import llama4_text_keys

        return draw(llama4_text_keys())
    if model_type == "mimo_v2_flash":  # value heads of their own width, sliding layers' heads
        from test_families_mimo import mimo_keys

        return draw(mimo_keys())
    if model_type == "dbrx":  # its sizes in two sub-configs; its attention needs a rope_theta
        routed = draw(st.integers(1, 6))
        return dict(vocab_size=vocab, d_model=hidden, n_heads=heads, n_layers=layers,
                    max_seq_len=context, attn_config=dict(kv_n_heads=kv, rope_theta=10000.0),
                    ffn_config=dict(ffn_hidden_size=ff, moe_num_experts=routed,
                                    moe_top_k=draw(st.integers(1, routed))))
    if model_type == "xglm":  # its own names; scale_embedding a scalar (no parameters)
        return dict(vocab_size=vocab, d_model=hidden, ffn_dim=ff, num_layers=layers,
                    attention_heads=heads, max_position_embeddings=context,
                    scale_embedding=draw(flag), tie_word_embeddings=tie, pad_token_id=None)
    if model_type == "biogpt":  # learned positions with two extra rows, a scalar embed scale
        return dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=ff,
                    num_hidden_layers=layers, num_attention_heads=heads,
                    max_position_embeddings=context, scale_embedding=draw(flag),
                    tie_word_embeddings=tie, pad_token_id=None)
    if model_type == "bloom":  # hidden_size or its older name n_embed; an MLP always 4·d
        return {"vocab_size": vocab, draw(st.sampled_from(["hidden_size", "n_embed"])): hidden,
                "n_layer": layers, "n_head": heads, "tie_word_embeddings": tie,
                "apply_residual_connection_post_layernorm": draw(flag)}
    if model_type == "mpt":  # its own names; switches transformers' MPT builds nothing for
        return dict(vocab_size=vocab, d_model=hidden, n_layers=layers, n_heads=heads,
                    max_seq_len=context, tie_word_embeddings=tie, learned_pos_emb=draw(flag),
                    norm_type=draw(st.sampled_from(["low_precision_layernorm", "layernorm"])),
                    attn_config=dict(clip_qkv=draw(st.none() | st.just(8.0)),
                                     alibi_bias_max=draw(st.integers(1, 8))))
    if model_type == "falcon":
        return falcon_keys(draw, vocab, hidden, layers, heads, context, tie)
    if model_type == "jetmoe":  # attention and feed-forward experts, K of E for both
        routed = draw(st.integers(1, 6))
        return dict(vocab_size=vocab, hidden_size=draw(st.integers(2, 48)),
                    intermediate_size=ff, num_hidden_layers=layers, num_key_value_heads=kv,
                    kv_channels=2 * draw(st.integers(1, 8)), max_position_embeddings=context,
                    num_local_experts=routed, num_experts_per_tok=draw(st.integers(1, routed)),
                    tie_word_embeddings=tie)
    if model_type == "opt":
        return dict(vocab_size=vocab, hidden_size=hidden, ffn_dim=ff, num_hidden_layers=layers,
                    num_attention_heads=heads, max_position_embeddings=context,
                    enable_bias=draw(flag), do_layer_norm_before=draw(flag),
                    _remove_final_layer_norm=draw(flag), tie_word_embeddings=tie)
    keys: dict[str, Any] = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=ff,
                                num_hidden_layers=layers, num_attention_heads=heads,
                                num_key_value_heads=kv, max_position_embeddings=context,
                                tie_word_embeddings=tie)
    if head_dim is not None:  # a declared field, or (qwen2, phi3, olmo2, starcoder2) an extra
        keys["head_dim"] = head_dim  # key that the attention still reads
    if model_type in ("llama", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo2", "bitnet"):
        keys["attention_bias"] = draw(flag)
    if model_type == "llama":
        keys["mlp_bias"] = draw(flag)
    if model_type == "starcoder2":
        keys["use_bias"] = draw(flag)
    if model_type == "phi3":
        keys["pad_token_id"] = None  # its default, 32000, must lie inside the vocabulary
    if model_type in ("smollm3", "glm", "glm4", "ministral3"):  # default pad_token_id past V
        keys["pad_token_id"] = None
    if model_type in ("hunyuan_v1_dense", "ministral", "hunyuan_v1_moe"):  # head_dim read
        keys["head_dim"] = head_dim or 8  # with no fallback
    if model_type == "dots1":  # its experts have no defaults: transformers builds no model
        routed = draw(st.integers(1, 6))
        keys.update(n_routed_experts=routed, num_experts_per_tok=draw(st.integers(1, routed)),
                    n_shared_experts=draw(st.integers(0, 2)))
    if model_type in ("hunyuan_v1_dense", "ministral"):  # head_dim read with no fallback
        keys["head_dim"] = head_dim or 8
    if model_type in ("helium", "bitnet"):  # an output projection (Helium) or a sub-norm
        keys["head_dim"] = hidden // heads  # (BitNet) hidden_size wide: head_dim is d/h
    if model_type in ("stablelm", "persimmon", "phi"):  # the whole head rotary: an even part
        keys["partial_rotary_factor"] = 1.0
    if model_type == "phimoe":
        keys.update(attention_bias=draw(flag), lm_head_bias=draw(flag))
    if model_type in ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "phimoe"):
        routed = draw(st.integers(0 if model_type in ("qwen2_moe", "qwen3_moe") else 1, 6))
        keys["num_local_experts" if model_type in ("mixtral", "phimoe") else "num_experts"] = routed
        keys["num_experts_per_tok"] = draw(st.integers(1, max(routed, 1)))
    if model_type == "phimoe":  # its router sends each token to 2 experts: no other K is read
        keys.update(num_local_experts=max(keys["num_local_experts"], 2), num_experts_per_tok=2)
    if model_type == "olmoe":  # its query norm is hidden_size wide: head_dim must be d/h
        keys.update(attention_bias=draw(flag))
        if "head_dim" in keys:
            keys["head_dim"] = hidden // heads
    if model_type in ("qwen2_moe", "qwen3_moe"):
        keys.update(moe_intermediate_size=draw(st.integers(1, 32)),
                    decoder_sparse_step=draw(st.integers(1, 3)),
                    mlp_only_layers=draw(st.lists(st.integers(0, layers - 1), unique=True)))
    if model_type == "qwen2_moe":
        keys.update(shared_expert_intermediate_size=draw(st.integers(1, 32)), qkv_bias=draw(flag))
    if model_type == "qwen3_moe":
        keys["attention_bias"] = draw(flag)
    return keys


def write_three_ways(hf_config: Any, keys: dict[str, Any], model_type: str,
                     folder: Path) -> list[Path]:
    """The same configuration as save_pretrained writes it, in full, and by hand."""
    saved, full, minimal = folder / "saved", folder / "full", folder / "minimal"
    hf_config.save_pretrained(saved)
    full.mkdir()
    hf_config.to_json_file(full / "config.json", use_diff=False)
    minimal.mkdir()
    hand = {"model_type": model_type, **keys}  # a null stays: q_lora_rank null is no latent
    (minimal / "config.json").write_text(json.dumps(hand, indent=2))
    return [saved, full, minimal]


def counts_like_transformers(cli: Cli, keys: dict[str, Any], model_type: str,
                             folder: Path) -> list[dict[str, Any]]:
    """``keys`` written three ways count as transformers' model for them: the total, every
    component, the active count and the size of every kind of block. The three counts."""
    hf_config = transformers.AutoConfig.for_model(model_type, **keys)
    expected = reference(hf_config)
    counted = []
    for path in write_three_ways(hf_config, keys, model_type, folder):
        obj = cli.json("count", "--hf-config", str(path))
        got: dict[str, Any] = {name: obj["params"][name] for name in expected
                               if name != "block_sizes"}
        got["block_sizes"] = sorted({kind["per_block"] for kind in obj["block_kinds"]
                                     if kind["count"]})
        assert got == expected, (path.name, keys)
        counted.append(obj)
    return counted


def flops_like_transformers(cli: Cli, hf_config: Any, path: Path, *options: str) -> None:
    """``flops --hf-config path``'s forward total equals FlopCounterMode on transformers' model
    for ``hf_config`` over one sequence of the file's seq_length (or of ``options``'
    ``--seq-length``): attention and experts eager
    (the products over the scores, and each expert on its tokens, as matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    from test_compute import countable

    obj = cli.json("flops", "--hf-config", str(path), *options)
    hf_config._attn_implementation = "eager"
    hf_config._experts_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf_config).eval()
    # no parameter needs a gradient: under no_grad a view of one still says it does, and the
    # counter's module tracker then hooks a tensor with no graph (the kernels package runs
    # Mamba's conv as a module, and hands it conv1d.weight.squeeze(1))
    model.requires_grad_(False)
    tokens = torch.randint(0, hf_config.vocab_size, (1, obj["config"]["seq_length"]))
    with countable(), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(input_ids=tokens, use_cache=False)
    assert obj["flops"]["forward"]["total"] == counter.get_total_flops(), path


@pytest.mark.parametrize("model_type", SUPPORTED, ids=str)
def test_random_configurations_count_like_transformers(model_type: str, tmp_path_factory:
                                                       pytest.TempPathFactory) -> None:
    cli = Cli()

    # 15 configurations a type, each written three ways: sized to CI's budget
    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(family_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        counts_like_transformers(cli, keys, model_type, tmp_path_factory.mktemp("c"))

    check()


# examples/NAME/config.json holds the keys of each preset's published config.json that set its
# size (Llama 3.1 8B's file whole), written independently of presets/NAME.toml: each file must
# count as its preset does and as transformers' own class for it does.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PRESETS_WITH_A_FILE = sorted(path.parent.name for path in EXAMPLES.glob("*/config.json"))


def test_every_preset_of_todays_models_has_its_config_json() -> None:
    assert PRESETS_WITH_A_FILE == ["deepseek-v3", "gemma-2-2b", "gemma-3-27b", "gpt-neox-20b",
                                   "gpt-oss-120b",
                                   "gpt-oss-20b", "llama-3.1-8b",
                                   "llama-3.2-1b", "mistral-7b", "mixtral-8x7b", "olmo-2-7b",
                                   "olmoe-1b-7b", "phi-3-mini", "phimoe-3.5", "qwen2.5-7b",
                                   "qwen3-30b-a3b"]


@pytest.mark.parametrize("name", PRESETS_WITH_A_FILE, ids=str)
def test_preset_equals_its_published_config_and_transformers(name: str, cli: Cli) -> None:
    path = EXAMPLES / name / "config.json"
    from_file = load(path)
    assert from_file.name == name
    preset = from_name(name).config
    assert budget(from_file.config).params == budget(preset).params
    obj = cli.json("check", "--hf-config", str(path), "--against", "transformers")
    assert obj["ok"] and {r["component"]: r["instantiated"] for r in obj["rows"]}["total"] == \
        budget(preset).params["total"]
    assert cli.json("check", "--preset", name)["ok"]  # and against paramcalc's own modules


def test_the_readme_example_file_is_llama_3_1_8b(cli: Cli) -> None:
    obj = cli.json("count", "--hf-config", EXAMPLE)
    assert obj["name"] == "llama-3.1-8b"
    assert obj["params"]["total"] == 8_030_261_248
    assert obj["params"] == budget(from_name("llama-3.1-8b").config).params


def test_one_more_key_value_head_of_llama_3_1_8b(cli: Cli) -> None:
    # by hand: k_proj and v_proj gain 128 output rows over 4,096 inputs, in each of 32 blocks
    obj = cli.json("derive", "--hf-config", EXAMPLE, "--wrt", "n_kv_heads")
    assert obj["derivatives"]["total"]["n_kv_heads"]["value"] == 2 * 128 * 4096 * 32
    assert obj["derivatives"]["total"]["n_kv_heads"]["formula"] == "2*d**2*n/h"


def test_head_dim_is_a_symbol_with_derivatives(cli: Cli) -> None:
    obj = cli.json("derive", "--preset", "gemma-2-2b", "--head", "linear", "--wrt", "head_dim")
    # q, k, v, o: (8 + 4 + 4 + 8) rows or columns of 2,304 per unit of head width, 26 blocks
    assert obj["derivatives"]["total"]["head_dim"]["value"] == (8 + 4 + 4 + 8) * 2304 * 26
    assert "head_dim" in obj["derivatives"]["ratio"]


def test_flags_after_hf_config_override_it(cli: Cli) -> None:
    obj = cli.json("count", "--hf-config", EXAMPLE, "--num-blocks", "1",
                   "--head", "flatten", "--seq-length", "8")
    assert obj["config"]["num_blocks"] == 1 and obj["head"] == "flatten"
    assert obj["params"]["blocks"] == 218_112_000
    # the file's output layer has no bias, and the flatten head keeps that
    assert obj["params"]["head"] == 8 * 4096 * 128256


def test_the_name_is_name_or_path_else_the_folder(tmp_path: Path, cli: Cli) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama", "num_hidden_layers": 1}')
    assert cli.json("count", "--hf-config", str(folder))["name"] == "my-model"
    (folder / "config.json").write_text('{"model_type": "llama", "_name_or_path": "org/llm"}')
    assert cli.json("count", "--hf-config", str(folder / "config.json"))["name"] == "org/llm"


def test_every_head_design_on_a_today_backbone(cli: Cli) -> None:
    obj = cli.json("compare", "--preset", "llama-3.2-1b", "--seq-length", "64")
    assert [h["head"] for h in obj["heads"]] == ["flatten", "bottleneck", "td-dense", "conv",
                                                 "rnn", "tied-flatten", "tied", "linear"]
    flatten = obj["heads"][0]["params"]
    assert flatten["head"] == 64 * 2048 * 128256 + 128256
    assert cli.json("check", "--preset", "llama-3.2-1b", "--seq-length", "64", "--all-heads")["ok"]


def test_solve_and_sweep_on_a_gqa_backbone(cli: Cli) -> None:
    obj = cli.json("solve", "--preset", "llama-3.1-8b", "--for", "n_kv_heads", "--total", "8.1G")
    # 8,030,261,248 + 33,554,432 per key/value head; n_kv_heads must divide 32: 8 → 16 is too many
    assert obj["value"] == 8
    obj = cli.json("sweep", "--preset", "llama-3.1-8b", "--vary", "n_kv_heads=1:32")
    valid = [p for p in obj["points"] if p["valid"]]
    assert [p["n_kv_heads"] for p in valid] == [1, 2, 4, 8, 16, 32]
    assert [p["total"] for p in valid] == [8_030_261_248 + (g - 8) * 33_554_432
                                           for g in (1, 2, 4, 8, 16, 32)]


def test_summary_shows_per_position_heads_at_every_position(cli: Cli) -> None:
    obj = cli.json("summary", "--preset", "gpt2", "--num-blocks", "1", "--seq-length", "16",
                   "--n-positions", "16")
    assert obj["layers"][-1] == {"name": "head.tied", "type": "TiedProjection",
                                 "output_shape": [None, 16, 50257], "params": 0}
    obj = cli.json("summary", "--preset", "llama-3.2-1b", "--num-blocks", "1", "--seq-length",
                   "4", "--head", "linear")
    assert obj["layers"][-1]["output_shape"] == [None, 4, 128256]


# --- bad input: one line, exit 2 ---------------------------------------------------------------

def _file(tmp_path: Path, text: str, name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_malformed_json_names_the_file_and_line(tmp_path: Path, cli: Cli) -> None:
    path = _file(tmp_path, '{\n  "model_type": "llama",\n  "hidden_size": 4096,,\n}')
    assert cli.error("count", "--hf-config", path).startswith(
        f"Error: {path}:3:23: malformed JSON: ")


@pytest.mark.parametrize("text, message", [
    ('[1, 2]', "the JSON is a list, not an object of config keys"),
    ('{"hidden_size": 64}', "no model_type key; a config.json names its family (gpt2, ctrl, "
                            "llama,"),
    ('{"model_type": "bert"}', "model_type 'bert' is not supported; supported: gpt2, ctrl, "
                               "llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text, phi3, "
                               "olmo2, gpt_neox, opt, mixtral, qwen2_moe, qwen3_moe, "
                               "deepseek_v2, deepseek_v3, olmoe, phimoe, starcoder2"),
    ('{"model_type": "llama", "hidden_size": "4096"}', "hidden_size must be a positive integer, "
                                                       "got '4096'"),
    ('{"model_type": "llama", "hidden_size": 4096.0}', "hidden_size must be a positive integer"),
    ('{"model_type": "llama", "tie_word_embeddings": 1}', "tie_word_embeddings must be true or "
                                                          "false, got 1"),
    ('{"model_type": "llama", "num_key_value_heads": 5}', "n_kv_heads (5) must divide n_heads "
                                                          "(32)"),
    ('{"model_type": "gpt2", "add_cross_attention": true}', "add_cross_attention = true adds a "
                                                            "cross-attention layer to every block; "
                                                            "paramcalc cannot count this model"),
    ('{"model_type": "opt", "word_embed_proj_dim": 512}', "word_embed_proj_dim = 512 differs "
                                                          "from hidden_size (768)"),
    ('{"model_type": "deepseek_v2", "num_experts_per_tok": 6, "n_shared_experts": 0, '
     '"mlp_bias": true}', "n_shared_experts = 0 with mlp_bias = true leaves a shared expert 0 "
                          "wide that still has a bias"),
    ('{"model_type": "deepseek_v2"}', "num_experts_per_tok = null leaves the experts per token "
                                      "unset"),
    ('{"model_type": "qwen3_moe", "mlp_only_layers": [1, "2"]}', "mlp_only_layers must be a list "
                                                                  "of layer numbers"),
    ('{"model_type": "deepseek_v3", "first_k_dense_replace": 70}', "first_k_dense_replace (70) is "
                                                                   "more than the 61 layers"),
    ('{"model_type": "mixtral", "num_experts_per_tok": 9}', "experts_per_token (9) must not "
                                                            "exceed num_experts (8)"),
    ('{"model_type": "deepseek_v3", "kv_lora_rank": 0}', "kv_lora_rank must be a positive "
                                                         "integer, got 0"),
    ('{"model_type": "opt", "layer_norm_elementwise_affine": false}',
     "layer_norm_elementwise_affine = false leaves the LayerNorms without weights"),
    ('{"model_type": "phimoe", "num_experts_per_tok": 1}', "num_experts_per_tok = 1 is not "
                                                           "what PhiMoE's router does: it sends "
                                                           "every token to 2 experts"),
    ('{"model_type": "olmoe", "head_dim": 64}', "head_dim = 64 differs from hidden_size / "
                                               "num_attention_heads (2048 / 16): OLMoE's query "
                                               "norm stays hidden_size wide"),
])
def test_bad_config_files(tmp_path: Path, cli: Cli, text: str, message: str) -> None:
    path = _file(tmp_path, text)
    assert cli.error("count", "--hf-config", path) .startswith(f"Error: {path}: {message}")


def test_bad_paths(tmp_path: Path, cli: Cli) -> None:
    assert cli.error("count", "--hf-config", str(tmp_path)) == (
        f"Error: folder {str(tmp_path)!r} has no config.json")
    missing = str(tmp_path / "nope.json")
    assert cli.error("count", "--hf-config", missing) == (
        f"Error: config file {missing!r} does not exist")
    big = tmp_path / "big.json"
    big.write_text('{"model_type": "llama", "pad": "' + "x" * (5 * 2**20) + '"}')
    assert "files larger than 4 MiB are refused" in cli.error("count", "--hf-config", str(big))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    assert "not UTF-8 text" in cli.error("count", "--hf-config", str(binary))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_not_read(tmp_path: Path, cli: Cli) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    assert cli.error("count", "--hf-config", str(fifo)) == (
        f"Error: config file {str(fifo)!r} is not a regular file")


def test_deeply_nested_json_is_one_line(tmp_path: Path, cli: Cli) -> None:
    path = _file(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in cli.error("count", "--hf-config", path)


def test_a_json_file_given_as_toml_says_what_to_use(cli: Cli) -> None:
    line = cli.error("count", "--preset-file", EXAMPLE + "/config.json")
    assert line.endswith("for a Hugging Face config.json use --hf-config")


def test_against_transformers_needs_the_file_as_it_stands(cli: Cli) -> None:
    assert cli.error("check", "--preset", "gpt2", "--against", "transformers") == (
        "Error: --against transformers builds the model from its config.json as the file "
        "stands: give --hf-config PATH and no overrides")
    assert "no overrides" in cli.error("check", "--hf-config", EXAMPLE,
                                       "--num-blocks", "2", "--against", "transformers")


def test_against_transformers_without_transformers(cli: Cli,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers fails
    assert cli.error("check", "--hf-config", EXAMPLE, "--against",
                     "transformers") == ("Error: --against transformers needs the transformers "
                                         "library: pip install transformers")


def test_counting_a_config_json_imports_neither_torch_nor_transformers() -> None:
    import subprocess
    import sys

    code = ("import sys; from paramcalc.cli import main; sys.argv = ['paramcalc', 'count', "
            "'--hf-config', " + repr(EXAMPLE) + ", '--json']\ntry:\n    main()\n"
            "except SystemExit:\n    pass\n"
            "print('torch' in sys.modules, 'transformers' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stderr.strip().splitlines()[-1] == "False False"
