"""The mixtures of experts of ``families/moe_more.py`` against transformers' own models.

Cohere 2 MoE: random configurations from its own config class (sizes, experts, shared
experts, the dense prefix by ``first_k_dense_replace`` or by ``mlp_layer_types``, its width,
the two sliding patterns or a listed ``layer_types``, biases, the RMSNorm switch, and the
scalars and selection switches that must not change the count), written as save_pretrained
writes them, in full and by hand, count as transformers' model: the total, the active count,
every component, the size of every block and which blocks hold experts. A small model checks
clean against paramcalc's own modules and transformers; the KV cache after a generation past
the window is what transformers' cache holds; the forward FLOPs are FlopCounterMode's (slow);
and what paramcalc cannot count is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from test_hf import (counts_like_transformers, flops_like_transformers,  # noqa: E402
                     write_three_ways)  # (needs transformers)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut


@st.composite
def cohere2_moe_keys(draw: st.DrawFn, context: int = 512) -> dict[str, Any]:
    """Small random keys for cohere2_moe, every switch drawn."""
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    kv = draw(st.sampled_from([k for k in range(1, heads + 1) if heads % k == 0]))
    layers = draw(st.integers(1, 5))
    routed = draw(st.integers(1, 6))
    flag = st.booleans()
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 300)), hidden_size=heads * 2 * draw(st.integers(2, 6)),
        intermediate_size=draw(st.integers(1, 48)), num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv,
        head_dim=4 * draw(st.integers(1, 6)), max_position_embeddings=draw(st.integers(8, context)),
        tie_word_embeddings=draw(flag), attention_bias=draw(flag), num_experts=routed,
        num_experts_per_tok=draw(st.integers(1, routed)),
        num_shared_experts=draw(st.integers(0, 2)),
        sliding_window=draw(st.integers(1, 64)),
        sliding_window_pattern=draw(st.integers(1, 4)),
        prefix_dense_sliding_window_pattern=draw(st.integers(1, 3)),
        logit_scale=draw(st.sampled_from([1.0, 0.0625])),
        expert_selection_fn=draw(st.sampled_from(["softmax", "sigmoid"])),
        shared_expert_combination_strategy=draw(st.sampled_from(["average", "sum"])))
    if draw(flag):
        keys["num_key_value_heads"] = None  # as many as the query heads
    width = draw(st.none() | st.integers(1, 48))
    if width is not None:
        keys["prefix_dense_intermediate_size"] = width
    if draw(flag):  # an RMSNorm in place of the LayerNorm without a bias: the same weights
        keys["rms_norm_eps"] = 1e-6
    if draw(flag):  # the keyword the config class makes both layer lists from
        keys["first_k_dense_replace"] = draw(st.integers(0, layers))
    if draw(flag):
        keys["layer_types"] = draw(st.lists(st.sampled_from(
            ["full_attention", "sliding_attention"]), min_size=layers, max_size=layers))
    if draw(flag):
        keys["mlp_layer_types"] = draw(st.lists(st.sampled_from(["dense", "sparse"]),
                                                min_size=layers, max_size=layers))
    return keys


def _experts_per_layer(keys: dict[str, Any]) -> int:
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(
            transformers.AutoConfig.for_model("cohere2_moe", **keys))
    return sum(any(type(m).__name__.endswith("Experts") for m in layer.modules())
               for layer in model.model.layers)


def test_random_cohere2_moe_configurations_count_like_transformers(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=30, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(cohere2_moe_keys())
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, "cohere2_moe", tmp_path_factory.mktemp("c"))
        sparse = _experts_per_layer(keys)
        for obj in counted:
            kinds = {kind["kind"]: kind["count"] for kind in obj["block_kinds"]}
            assert sum(n for kind, n in kinds.items() if kind.endswith("moe")) == sparse, keys

    check()


def test_cohere2_moe_s_dense_prefix_by_hand(tmp_path: Path, cli: Cli) -> None:
    """first_k_dense_replace = 2 of 5 layers, the prefix in full (pattern 1), the rest sliding
    but every 2nd: transformers' lists, and paramcalc's kinds of block."""
    keys = dict(vocab_size=40, hidden_size=16, intermediate_size=8, num_hidden_layers=5,
                num_attention_heads=2, num_key_value_heads=1, head_dim=8, num_experts=3,
                num_experts_per_tok=1, num_shared_experts=1, prefix_dense_intermediate_size=24,
                sliding_window=4, sliding_window_pattern=2, first_k_dense_replace=2)
    hf = transformers.AutoConfig.for_model("cohere2_moe", **keys)
    assert hf.mlp_layer_types == ["dense"] * 2 + ["sparse"] * 3
    assert hf.layer_types == ["full_attention"] * 2 + ["sliding_attention", "full_attention",
                                                         "sliding_attention"]
    obj = counts_like_transformers(cli, keys, "cohere2_moe", tmp_path)[2]
    assert {kind["kind"]: kind["count"] for kind in obj["block_kinds"]} == \
        {"full-dense": 2, "sliding-moe": 2, "full-moe": 1}
    # a dense block: one norm (16), attention 16·(16 + 8 + 8) + 16·16, MLP 3·16·24
    dense = next(kind["per_block"] for kind in obj["block_kinds"] if kind["kind"] == "full-dense")
    assert dense == 16 + 16 * 32 + 16 * 16 + 3 * 16 * 24


def _refused(cli: Cli, tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(f'{{"model_type": "cohere2_moe", {text}}}')
    return cli.error("count", "--hf-config", str(path)).removeprefix(f"Error: {path}: ")


def test_what_cohere2_moe_cannot_count_is_refused_in_one_line(tmp_path: Path, cli: Cli) -> None:
    assert _refused(cli, tmp_path, '"sliding_window": null') == (
        "sliding_window = null leaves the sliding_attention layers without a window; paramcalc "
        "cannot count this model")
    assert _refused(cli, tmp_path, '"num_experts": 0') == (
        "num_experts = 0 builds layers of experts with no experts in them (a router and no "
        "feed-forward part); paramcalc cannot count this model")
    assert _refused(cli, tmp_path, '"num_hidden_layers": 2, "mlp_layer_types": ["dense", '
                    '"moe"]') == ("mlp_layer_types must name one of dense or sparse for each "
                                  "of the 2 layers, got ['dense', 'moe']")
    assert _refused(cli, tmp_path, '"first_k_dense_replace": -1') == (
        "first_k_dense_replace must be a whole number (0 or more), got -1")
    # every layer dense: a dense model, as transformers builds it
    path = tmp_path / "dense.json"
    keys = dict(vocab_size=40, hidden_size=16, intermediate_size=8, num_hidden_layers=2,
                num_attention_heads=2, head_dim=8, mlp_layer_types=["dense", "dense"])
    path.write_text(json.dumps({"model_type": "cohere2_moe", **keys}))
    assert _experts_per_layer(keys) == 0
    counts_like_transformers(cli, keys, "cohere2_moe", tmp_path / "d")


SMALL = dict(vocab_size=40, hidden_size=16, intermediate_size=8, num_hidden_layers=4,
             num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=32,
             num_experts=3, num_experts_per_tok=2, num_shared_experts=1,
             prefix_dense_intermediate_size=24, sliding_window=3, sliding_window_pattern=2,
             first_k_dense_replace=1)


def test_a_small_cohere2_moe_checks_clean(tmp_path: Path, cli: Cli) -> None:
    """paramcalc's own modules and transformers' model for the same file: every component,
    the blocks of each kind and the active count agree with the formulas."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "cohere2_moe", **SMALL}))
    assert cli.json("check", "--hf-config", str(path))["ok"]
    rows = cli.json("check", "--hf-config", str(path), "--against", "transformers")["rows"]
    assert all(row["ok"] for row in rows), rows


def test_cohere2_moe_s_cache_is_what_transformers_fills_past_the_window(tmp_path: Path,
                                                                        cli: Cli) -> None:
    keys = {**SMALL, "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 64, "pad_token_id": 0, "bos_token_id": 1,
            "eos_token_id": 2}
    hf = transformers.AutoConfig.for_model("cohere2_moe", **keys)
    assert hf.layer_types == ["full_attention", "sliding_attention", "full_attention",
                              "sliding_attention"]
    hf.save_pretrained(tmp_path)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(3, 40, (1, 7)), max_new_tokens=5, min_new_tokens=5,
                             do_sample=False, use_cache=True, return_dict_in_generate=True,
                             pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    obj = cli.json("flops", "--hf-config", str(tmp_path), "--dtype", "fp32", "--context",
                   str(tokens))
    assert obj["memory"]["kv_cache"] == held
    # by hand: 2 full layers keep 11 tokens, 2 sliding ones the window less one (2): keys and
    # values of 2 heads of 8 in fp32
    assert held == 2 * 2 * 8 * 4 * (2 * 11 + 2 * 2)


@pytest.mark.slow  # transformers' models, built and run under the counter
def test_cohere2_moe_s_forward_flops_equal_transformers_under_the_counter(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=8, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(cohere2_moe_keys(context=48))
    def check(keys: dict[str, Any]) -> None:
        hf_config = transformers.AutoConfig.for_model("cohere2_moe", **keys)
        path = write_three_ways(hf_config, keys, "cohere2_moe", tmp_path_factory.mktemp("c"))[0]
        flops_like_transformers(cli, hf_config, path)

    check()
