"""DeepSeek-V3.2 (deepseek_v32) and glm_moe_dsa against transformers: latent
attention with the sparse-attention indexer, and DeepSeek-V3's experts by mlp_layer_types.

Random configurations from its own config class, written three ways, counted by ``count
--hf-config`` against transformers' model on the meta device; the cache transformers fills
(the latent, the rotary key and the indexer's key per token); the forward FLOPs under
FlopCounterMode on transformers' model (slow); and paramcalc's own module, whose indexer runs
without gradients as transformers' does, against the backward the formulas count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import ModelConfig, budget
from paramcalc.compute import Settings, compute

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

from test_compute import torch_flops  # noqa: E402  (needs torch)
from test_hf import (counts_like_transformers, flops_like_transformers,  # noqa: E402
                     write_three_ways)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

TYPES = ["deepseek_v32", "glm_moe_dsa"]


@st.composite
def v32_keys(draw: st.DrawFn) -> dict[str, Any]:
    heads = draw(st.sampled_from([1, 2, 4]))
    layers = draw(st.integers(1, 4))
    routed = draw(st.integers(2, 6))  # its router takes the best 2 of each group
    rope = 2 * draw(st.integers(1, 3))
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 200)), hidden_size=draw(st.integers(4, 48)),
        intermediate_size=draw(st.integers(1, 48)), moe_intermediate_size=draw(st.integers(1, 24)),
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        n_routed_experts=routed, num_experts_per_tok=draw(st.integers(1, routed)),
        n_shared_experts=draw(st.integers(0, 2)), first_k_dense_replace=draw(st.integers(0, 2)),
        q_lora_rank=draw(st.integers(1, 24)), kv_lora_rank=draw(st.integers(1, 16)),
        qk_rope_head_dim=rope, qk_nope_head_dim=draw(st.integers(1, 8)),
        v_head_dim=draw(st.integers(1, 8)), n_group=1, topk_group=1,
        index_n_heads=draw(st.integers(1, 6)), index_head_dim=rope + draw(st.integers(0, 8)),
        max_position_embeddings=draw(st.integers(8, 256)),
        tie_word_embeddings=draw(st.booleans()), attention_bias=draw(st.booleans()))
    if draw(st.booleans()):  # the file lists which layers hold experts
        keys["mlp_layer_types"] = draw(st.lists(st.sampled_from(["dense", "sparse"]),
                                                min_size=layers, max_size=layers))
    return keys


@pytest.mark.parametrize("model_type", TYPES)
def test_random_configurations_count_like_transformers(
        model_type: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(v32_keys())
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, model_type, tmp_path_factory.mktemp("c"))
        sparse = transformers.AutoConfig.for_model(model_type, **keys).mlp_layer_types
        for obj in counted:
            moe = sum(kind["count"] for kind in obj["block_kinds"] if "moe" in kind["kind"])
            assert moe == sparse.count("sparse"), keys

    check()


def _small(model_type: str = "deepseek_v32", **changes: Any) -> Any:
    keys = dict(vocab_size=64, hidden_size=32, intermediate_size=48, moe_intermediate_size=16,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1,
                first_k_dense_replace=1, q_lora_rank=12, kv_lora_rank=8, qk_rope_head_dim=4,
                qk_nope_head_dim=6, v_head_dim=5, n_group=1, topk_group=1, index_n_heads=3,
                index_head_dim=8, max_position_embeddings=32)
    keys.update(changes)
    return transformers.AutoConfig.for_model(model_type, **keys)


@pytest.mark.parametrize("model_type", TYPES)
def test_the_cache_transformers_fills(model_type: str, tmp_path: Path) -> None:
    """transformers' DynamicIndexedLayer keeps, per token and layer, the r_kv-wide latent, the
    d_R-wide rotary key and the indexer's d_I-wide key: 8 + 4 + 8 here."""
    hf = _small(model_type, index_topk=4)
    hf.save_pretrained(tmp_path)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(1, 64, (1, 7)), max_new_tokens=5, min_new_tokens=5,
                             do_sample=False, use_cache=True, return_dict_in_generate=True,
                             pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in vars(layer).values() if isinstance(t, torch.Tensor))
    tokens = 7 + 5 - 1
    assert held == 2 * (8 + 4 + 8) * 4 * tokens  # by hand: 2 layers, fp32
    flops = Cli().json("flops", "--hf-config", str(tmp_path), "--dtype", "fp32",
                       "--context", str(tokens))
    assert flops["memory"]["kv_cache"] == held


def test_the_indexer_has_no_backward() -> None:
    """paramcalc's module runs the indexer without gradients; FlopCounterMode's forward and
    backward of it equal the formulas' (the backward twice the forward less the indexer's)."""
    config = ModelConfig(vocab_size=40, seq_length=12, d_model=16, num_blocks=2, n_heads=2,
                         d_ff=24, block="transformer", positional="rotary", norm="rmsnorm",
                         mlp="gated", q_lora_rank=6, kv_lora_rank=5, qk_rope_head_dim=2,
                         qk_nope_head_dim=3, v_head_dim=4, index_n_heads=3, index_head_dim=4)
    result = compute(budget(config), Settings())
    forward, backward = torch_flops(config)
    assert forward["total"] == result.flops["forward"]["total"]
    assert backward == result.flops["backward"]["total"]
    assert backward < 2 * forward["total"]  # the indexer's work is not repeated


@pytest.mark.parametrize(("model_type", "change", "words"), [
    ("deepseek_v32", {"q_lora_rank": None}, "q_lora_rank must be a positive integer, got None"),
    ("deepseek_v32", {"mlp_layer_types": ["dense"]}, "mlp_layer_types must name"),
    ("glm_moe_dsa", {"indexer_types": ["full", "shared"]},
     "indexer_types gives layers that reuse another layer's top-k"),
    ("glm_moe_dsa", {"indexer_types": None, "index_topk_freq": 2, "index_skip_topk_offset": 0},
     "index_topk_freq gives layers that reuse"),
    ("glm_moe_dsa", {"indexer_types": None, "index_topk_pattern": "FS"},
     "index_topk_pattern gives layers that reuse"),
])
def test_refusals_are_one_line(model_type: str, change: dict[str, Any], words: str,
                               tmp_path: Path, cli: Cli) -> None:
    keys = json.loads(_small(model_type).to_json_string())
    (tmp_path / "config.json").write_text(json.dumps({**keys, **change}))
    error = cli.error("count", "--hf-config", str(tmp_path))
    assert words in error  # (cli.error holds it to one line)


@pytest.mark.slow  # transformers' model under the counter
@pytest.mark.parametrize("model_type", TYPES)
def test_forward_flops_equal_transformers_under_the_counter(
        model_type: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=5, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(v32_keys())
    def check(keys: dict[str, Any]) -> None:
        keys = {**keys, "max_position_embeddings": min(keys["max_position_embeddings"], 32)}
        hf_config = transformers.AutoConfig.for_model(model_type, **keys)
        path = write_three_ways(hf_config, keys, model_type, tmp_path_factory.mktemp("c"))[2]
        flops_like_transformers(cli, hf_config, path)

    check()
