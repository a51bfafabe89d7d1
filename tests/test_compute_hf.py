"""FLOPs and KV cache of config.json models against transformers' own classes under torch.

For every supported model_type, random configurations (the same drawer as test_hf.py) are
counted by ``paramcalc flops --hf-config`` and compared with ``FlopCounterMode`` on
transformers' model for that file, run on CPU with eager attention over one sequence of
seq_length tokens; the KV cache with the cache transformers fills in a forward pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from conftest import Cli
from paramcalc.hf import SUPPORTED
from test_hf import HYBRID_TYPES, SSM_TYPES, family_keys, flops_like_transformers

#: the attention families: a state-space layer has no keys and values to cache (its state, and
#: a hybrid's cache and state, are tests/test_families_ssm.py's and test_families_hybrid.py's),
#: and its scan runs as chunked matrix products (Mamba-2's SSD)
#: and its convolution over a padded sequence, which the counter counts otherwise
ATTENTION_TYPES = tuple(t for t in SUPPORTED if t not in SSM_TYPES + HYBRID_TYPES)
#: those whose forward transformers runs as the model computes it: its Llama 4 runs every
#: expert on every token (tests/test_families_llama4.py counts the difference)
COUNTED_TYPES = tuple(t for t in ATTENTION_TYPES if t != "llama4_text")

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut


def hf_config_of(keys: dict[str, Any], model_type: str) -> Any:
    """transformers' config for the keys, attention and experts eager."""
    if model_type in ("deepseek_v3", "glm4_moe_lite", "deepseek_v32", "glm_moe_dsa"):
        # their eager attention repeats keys
        # num_heads / num_kv_heads times (by default 128 and 20)
        keys = {**keys, "num_key_value_heads": keys["num_attention_heads"]}
    hf_config = transformers.AutoConfig.for_model(model_type, **keys)
    hf_config._attn_implementation = "eager"  # the products over the scores, in the open
    hf_config._experts_implementation = "eager"  # each expert on its tokens, as matmuls
    return hf_config


def hf_model(keys: dict[str, Any], model_type: str) -> Any:
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(hf_config_of(keys, model_type)).eval()


def write(keys: dict[str, Any], model_type: str, folder: Path) -> str:
    path = folder / "config.json"
    path.write_text(json.dumps({"model_type": model_type, **keys}))
    return str(path)


@pytest.mark.slow  # a thousand of transformers' models, built and run: sized to CI's budget
@pytest.mark.parametrize("model_type", COUNTED_TYPES, ids=str)
def test_forward_flops_equal_transformers_under_the_counter(
        model_type: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=10, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(family_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        if model_type == "deepseek_v2":  # its rotary views pairs as complex numbers: the
            for key in ("qk_nope_head_dim", "kv_lora_rank"):  # rotary part must start even
                keys[key] += keys[key] % 2
        if model_type in ("deepseek_v3", "dots1", "deepseek_v32", "glm_moe_dsa"):
            # the router takes the top 2 of each group
            keys["n_routed_experts"] = max(keys["n_routed_experts"], 2)
        if model_type == "dbrx":  # its forward clamps q, k, v and needs a bound (no FLOPs
            keys["attn_config"] = {**keys["attn_config"], "clip_qkv": 8.0}  # the counter sees)
        if model_type in ("phi", "stablelm", "persimmon"):  # attention d/h wide, whatever
            keys.pop("head_dim", None)  # head_dim says, and the rotary part cut from head_dim
        flops_like_transformers(cli, hf_config_of(keys, model_type),
                                Path(write(keys, model_type, tmp_path_factory.mktemp("c"))))

    check()


@pytest.mark.parametrize("model_type", ATTENTION_TYPES, ids=str)
def test_kv_cache_equals_the_cache_transformers_fills(model_type: str, tmp_path: Path,
                                                     cli: Cli) -> None:
    """A short generation with transformers' model: the bytes of its cache's keys and values
    against ``kv_cache_per_token`` × the tokens it holds (fp32, as the model is built)."""
    if model_type == "openai-gpt":  # GPT-1's attention takes no past keys and values
        pytest.skip("transformers' OpenAIGPTModel keeps no cache: nothing to compare")
    keys = dict(vocab_size=32, num_hidden_layers=3, num_attention_heads=4,
                max_position_embeddings=64)
    if model_type in ("gpt2", "openai-gpt", "ctrl", "gpt_bigcode"):
        keys = dict(vocab_size=32, n_layer=3, n_head=4, n_embd=32, n_positions=64)
    elif model_type == "gpt_neox":
        keys.update(hidden_size=32, intermediate_size=16)
    elif model_type in ("opt", "xglm"):
        keys.update(hidden_size=32, ffn_dim=16)
    else:
        keys.update(hidden_size=32, intermediate_size=16)
    if model_type == "gpt_neo":  # its three layers global, local, global (a window of 256)
        keys["attention_types"] = [[["global", "local", "global"], 1]]
    if model_type not in ("gpt2", "ctrl", "gpt_bigcode", "gpt_neo", "gpt_neox", "opt", "xglm",
                          "deepseek_v2", "deepseek_v3", "glm4_moe_lite", "deepseek_v32",
                          "glm_moe_dsa", "bloom", "mpt", "falcon"):
        keys["num_key_value_heads"] = 2  # grouped-query attention: half the key/value heads
    if model_type in ("deepseek_v2", "deepseek_v3", "glm4_moe_lite"):
        keys.update(kv_lora_rank=8, q_lora_rank=None, qk_rope_head_dim=4, qk_nope_head_dim=6,
                    v_head_dim=5, n_routed_experts=2, num_experts_per_tok=1,
                    moe_intermediate_size=8, n_group=1, topk_group=1)
    if model_type in ("deepseek_v32", "glm_moe_dsa"):  # a query latent, and the indexer
        keys.update(kv_lora_rank=8, q_lora_rank=12, qk_rope_head_dim=4, qk_nope_head_dim=6,
                    v_head_dim=5, n_routed_experts=2, num_experts_per_tok=1,
                    moe_intermediate_size=8, n_group=1, topk_group=1, index_n_heads=2,
                    index_head_dim=8, index_topk=4)
    if model_type == "phi3":
        keys["pad_token_id"] = None
    if model_type in ("smollm3", "glm", "glm4", "ministral3"):  # default pad_token_id past V
        keys["pad_token_id"] = None
    if model_type in ("hunyuan_v1_dense", "ministral", "hunyuan_v1_moe", "helium"):  # head_dim
        keys["head_dim"] = 8  # read with no fallback; Helium's must be d/h
    if model_type == "dots1":  # its experts have no defaults
        keys.update(n_routed_experts=2, num_experts_per_tok=1, n_shared_experts=1)
    if model_type == "dbrx":  # its own names (hidden_size would widen its attention alone),
        # its sub-configs, the rope_theta its attention reads and a clip_qkv its forward needs
        keys = dict(vocab_size=32, d_model=32, n_layers=3, n_heads=4, max_seq_len=64)
        keys.update(attn_config=dict(kv_n_heads=2, rope_theta=10000.0, clip_qkv=8.0),
                    ffn_config=dict(ffn_hidden_size=16, moe_num_experts=2, moe_top_k=1))
    if model_type in ("gptj", "codegen"):
        keys["rotary_dim"] = 4  # at most a head's width
    if model_type == "llama4_text":  # dense layers 16,384 wide and 16 experts by default
        keys.update(intermediate_size_mlp=16, num_local_experts=2, head_dim=8,
                    eos_token_id=None)  # (its end of text, 2, would end the generation early)
    if model_type == "mimo_v2_flash":  # 256 experts 2,048 wide and heads of 192 by default
        keys.update(n_routed_experts=2, num_experts_per_tok=1, moe_intermediate_size=8,
                    head_dim=6, v_head_dim=4)
    if model_type in ("phi", "bloom", "falcon"):  # an end-of-text token (2, 11) would end
        keys["eos_token_id"] = None  # the generation early
    if model_type == "falcon":  # the new architecture: two key/value heads for four
        keys.update(new_decoder_architecture=True, num_kv_heads=2)
    model = hf_model(keys, model_type)
    prompt = torch.randint(0, 32, (1, 7))
    with torch.no_grad():
        out = model.generate(prompt, max_new_tokens=4, do_sample=False, use_cache=True,
                             return_dict_in_generate=True, pad_token_id=0)
    cache = out.past_key_values
    tokens = cache.get_seq_length()  # the prompt and every generated token but the last
    assert tokens == 7 + 4 - 1
    held = sum(t.numel() * t.element_size() for layer in cache.layers
               for t in (layer.keys, layer.values, getattr(layer, "indexer_keys", None))
               if t is not None)  # (DeepSeek-V3.2's indexer caches a key of its own)
    obj = cli.json("flops", "--hf-config", write(keys, model_type, tmp_path), "--dtype", "fp32",
                   "--context", str(tokens))
    assert obj["memory"]["kv_cache"] == held
    assert obj["memory"]["kv_cache_per_token"] * tokens == held
