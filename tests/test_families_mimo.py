"""MiMo-V2-Flash (``mimo_v2_flash``) against transformers' own models.

Random configurations from its own config class (sizes, query/key and value head widths, the
biases, the experts and which layers stay dense by ``mlp_layer_types``, which layers slide by
default or by a listed ``layer_types``, the window or the keyword ``sliding_window_size``, and
the scalars that hold no weights), written as save_pretrained writes them, in full and by hand,
count as transformers' model: the total, the active count, every component, the size of every
block, which blocks hold experts and which slide. The defaults are MiMo-V2-Flash's, by hand. A
small model checks clean against paramcalc's own modules and transformers; the KV cache after
a generation past the window is what transformers' cache holds (the sliding layers' twice as
many heads); the forward FLOPs are FlopCounterMode's (slow); and what paramcalc cannot count
is refused in one line.
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
def mimo_keys(draw: st.DrawFn, context: int = 512) -> dict[str, Any]:
    """Small random keys for mimo_v2_flash, every switch drawn; twice the key/value heads
    divide the query heads (its sliding layers have that many)."""
    kv = draw(st.sampled_from([1, 2]))
    heads = 2 * kv * draw(st.integers(1, 2))
    layers = draw(st.integers(1, 7))
    routed = draw(st.integers(2, 6))  # its router takes the best 2 of each group
    flag = st.booleans()
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 300)), hidden_size=heads * 2 * draw(st.integers(1, 6)),
        intermediate_size=draw(st.integers(1, 48)), moe_intermediate_size=draw(st.integers(1, 32)),
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
        head_dim=6 * draw(st.integers(1, 4)),  # its rotary third (0.334) must be even
        v_head_dim=draw(st.integers(1, 16)),
        max_position_embeddings=draw(st.integers(8, context)), tie_word_embeddings=draw(flag),
        attention_bias=draw(flag), n_routed_experts=routed,
        num_experts_per_tok=draw(st.integers(1, routed)),
        sliding_window=draw(st.integers(1, 64)), pad_token_id=None,
        attention_value_scale=draw(st.sampled_from([0.707, 1.0])),
        routed_scaling_factor=draw(st.sampled_from([1.0, 2.5])))
    if draw(flag):
        keys["layer_types"] = draw(st.lists(st.sampled_from(
            ["full_attention", "sliding_attention"]), min_size=layers, max_size=layers))
    if draw(flag):
        keys["mlp_layer_types"] = draw(st.lists(st.sampled_from(["dense", "sparse"]),
                                                min_size=layers, max_size=layers))
    if draw(flag):  # the keyword the class makes the window from, one more
        keys["sliding_window_size"] = draw(st.integers(0, 32))
    return keys


def _layers_of(keys: dict[str, Any]) -> tuple[int, int]:
    """transformers' MoE layers and sliding layers for ``keys``."""
    hf = transformers.AutoConfig.for_model("mimo_v2_flash", **keys)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf)
    moe = sum(any(type(m).__name__.endswith("Experts") for m in layer.modules())
              for layer in model.model.layers)
    return moe, hf.layer_types.count("sliding_attention")


def test_random_mimo_v2_flash_configurations_count_like_transformers(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=30, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(mimo_keys())
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, "mimo_v2_flash",
                                           tmp_path_factory.mktemp("c"))
        moe, sliding = _layers_of(keys)
        for obj in counted:
            kinds = {kind["kind"]: kind["count"] for kind in obj["block_kinds"]}
            assert sum(n for kind, n in kinds.items() if kind.endswith("moe")) == moe, keys
            assert sum(n for kind, n in kinds.items() if kind.startswith("sliding")) == \
                sliding, keys

    check()


def test_the_defaults_are_mimo_v2_flash_s(tmp_path: Path, cli: Cli) -> None:
    """MiMoV2FlashConfig's defaults: 48 layers, layer 0 and every 6th in full (9), the rest
    sliding with 8 key/value heads and 64 sinks; layer 0 dense, the rest 256 experts: by hand,
    and as transformers builds them on the meta device."""
    (tmp_path / "config.json").write_text('{"model_type": "mimo_v2_flash"}')
    obj = cli.json("count", "--hf-config", str(tmp_path))
    d, vocab, heads, a, v = 4096, 152576, 64, 192, 128

    def attention(kv: int) -> int:  # q, k, v (biased? attention_bias false) and o
        return d * heads * a + d * kv * a + d * kv * v + heads * v * d

    dense, moe = 3 * d * 16384, d * 256 + 256 * 3 * d * 2048
    full, sliding = attention(4), attention(8) + heads
    blocks = (full + dense + 2 * d) + 8 * (full + moe + 2 * d) + 39 * (sliding + moe + 2 * d)
    assert obj["params"]["total"] == 2 * vocab * d + blocks + d == 308_778_768_832
    assert obj["params"]["active"] == obj["params"]["total"] - 47 * 248 * 3 * d * 2048 \
        == 15_445_924_288
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers.MiMoV2FlashConfig())
    assert sum(p.numel() for p in model.parameters()) == 308_778_768_832
    kinds = {kind["kind"]: kind["count"] for kind in obj["block_kinds"]}
    assert kinds == {"full-dense": 1, "full-moe": 8, "sliding-moe": 39}
    assert obj["config"]["sliding_window"] == 129 and obj["config"]["sliding_kv_heads"] == 8


SMALL = dict(vocab_size=40, hidden_size=16, intermediate_size=24, moe_intermediate_size=8,
             num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=1, head_dim=6,
             v_head_dim=4, max_position_embeddings=32, n_routed_experts=3,
             num_experts_per_tok=2, sliding_window=3, attention_bias=True, pad_token_id=None)


def test_a_small_mimo_v2_flash_checks_clean(tmp_path: Path, cli: Cli) -> None:
    """paramcalc's own modules and transformers' model for the same file: every component,
    the blocks of each kind and the active count agree with the formulas."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "mimo_v2_flash", **SMALL}))
    assert cli.json("check", "--hf-config", str(path))["ok"]
    rows = cli.json("check", "--hf-config", str(path), "--against", "transformers")["rows"]
    assert all(row["ok"] for row in rows), rows
    kinds = {kind["kind"]: kind["count"] for kind in cli.json(
        "count", "--hf-config", str(path))["block_kinds"]}
    assert kinds == {"full-dense": 1, "full-moe": 1, "sliding-moe": 4}


def test_mimo_v2_flash_s_cache_is_what_transformers_fills_past_the_window(tmp_path: Path,
                                                                          cli: Cli) -> None:
    keys = {**SMALL, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    hf = transformers.AutoConfig.for_model("mimo_v2_flash", **keys)
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
    # by hand: 2 full layers keep 11 tokens of 1 key/value head, 4 sliding ones the window
    # less one (2) of 2 heads; a key 6 wide and a value 4, in fp32
    assert held == 4 * (6 + 4) * (2 * 11 * 1 + 4 * 2 * 2)


@pytest.mark.slow  # transformers' models, built and run under the counter
def test_mimo_v2_flash_s_forward_flops_equal_transformers_under_the_counter(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=8, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(mimo_keys(context=48))
    def check(keys: dict[str, Any]) -> None:
        hf_config = transformers.AutoConfig.for_model("mimo_v2_flash", **keys)
        path = write_three_ways(hf_config, keys, "mimo_v2_flash",
                                tmp_path_factory.mktemp("c"))[0]
        flops_like_transformers(cli, hf_config, path)

    check()


def _refused(cli: Cli, tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(f'{{"model_type": "mimo_v2_flash", {text}}}')
    return cli.error("count", "--hf-config", str(path)).removeprefix(f"Error: {path}: ")


def test_what_mimo_v2_flash_cannot_count_is_refused_in_one_line(tmp_path: Path,
                                                                 cli: Cli) -> None:
    assert _refused(cli, tmp_path, '"num_hidden_layers": 2, "layer_types": ["full_attention", '
                    '"chunked_attention"]') == (
        "layer_types must name one of full_attention or sliding_attention for each of the 2 "
        "layers, got ['full_attention', 'chunked_attention']")
    assert _refused(cli, tmp_path, '"num_hidden_layers": 2, "mlp_layer_types": ["dense", '
                    '"moe"]') == ("mlp_layer_types must name one of dense or sparse for each "
                                  "of the 2 layers, got ['dense', 'moe']")
    assert _refused(cli, tmp_path, '"num_hidden_layers": 3, "mlp_layer_types": ["dense"]') \
        == "mlp_layer_types must name one of dense or sparse for each of the 3 layers, got " \
        "['dense']"
    assert _refused(cli, tmp_path, '"sliding_window_size": -1') == (
        "sliding_window_size must be a whole number (0 or more), got -1")
    assert _refused(cli, tmp_path, '"n_routed_experts": 0') == (
        "n_routed_experts = 0 builds layers of experts with no experts in them (a router and "
        "no feed-forward part); paramcalc cannot count this model")
    # twice the key/value heads of a sliding layer must divide the query heads
    assert _refused(cli, tmp_path, '"num_attention_heads": 6, "num_key_value_heads": 2') == (
        "sliding_kv_heads (4) must divide n_heads (6): each key/value head serves a whole group "
        "of query heads (read from its mimo_v2_flash keys)")


def test_every_layer_in_full_has_no_window_and_no_sinks(tmp_path: Path, cli: Cli) -> None:
    keys = {**SMALL, "num_hidden_layers": 2, "layer_types": ["full_attention"] * 2,
            "mlp_layer_types": ["dense", "dense"]}
    obj = counts_like_transformers(cli, keys, "mimo_v2_flash", tmp_path)[2]
    assert {kind["kind"]: kind["count"] for kind in obj["block_kinds"]} == {"dense": 2}
    assert "sliding_window" not in obj["config"] and "sliding_sinks" not in obj["config"]


def test_lora_on_modules_of_uneven_widths_is_refused(tmp_path: Path, cli: Cli) -> None:
    """Values narrower than keys, sliding layers with heads of their own: v, k and o adapters
    are refused in one line; q and the feed-forward modules are counted."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "mimo_v2_flash", **SMALL,
                                "mlp_layer_types": ["dense"] * 6}))
    for module in ("k", "v", "o"):
        assert cli.error("flops", "--hf-config", str(path), "--lora-rank", "4",
                         "--lora-modules", module) == (
            f"Error: --lora-modules {module}: its width differs from the keys' or from layer to "
            "layer in this model (v_head_dim, sliding_kv_heads), which paramcalc's adapters do "
            "not count: target the other modules")
    obj = cli.json("flops", "--hf-config", str(path), "--lora-rank", "4", "--lora-modules",
                   "q,up")
    # q: 16 → 4·6 and up: 16 → 24 in each of 6 layers, A (d_in × r) and B (r × d_out)
    assert obj["lora"]["trainable"] == 6 * 4 * ((16 + 24) + (16 + 24))
