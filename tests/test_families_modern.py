"""The modern attention families against transformers' own models on the meta device.

gpt_oss: random configurations from its own config class (sinks, biases and the sliding
pattern drawn), written three ways, counted by ``count --hf-config``; the published shapes
of gpt-oss-120b and gpt-oss-20b as presets, their totals being what transformers builds; and
the KV cache that transformers fills in a generation past the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import ModelConfig, budget, from_name
from paramcalc.compute import Settings, compute

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from test_hf import counts_like_transformers, reference  # noqa: E402  (needs transformers)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@st.composite
def gpt_oss_keys(draw: st.DrawFn) -> dict[str, Any]:
    """Small gpt_oss keys: biases on or off, the pattern by default or listed, head_dim free."""
    heads = draw(st.sampled_from([1, 2, 4, 6]))
    kv = draw(st.sampled_from([k for k in range(1, heads + 1) if heads % k == 0]))
    layers = draw(st.integers(1, 4))
    routed = draw(st.integers(1, 6))
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 300)), hidden_size=heads * 2 * draw(st.integers(1, 8)),
        intermediate_size=draw(st.integers(1, 48)), num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv,
        head_dim=2 * draw(st.integers(1, 12)), max_position_embeddings=draw(st.integers(8, 512)),
        tie_word_embeddings=draw(st.booleans()), attention_bias=draw(st.booleans()),
        num_local_experts=routed, num_experts_per_tok=draw(st.integers(1, routed)),
        sliding_window=draw(st.integers(1, 64)))
    if draw(st.booleans()):  # a pattern of the file's own
        keys["layer_types"] = draw(st.lists(st.sampled_from(["full_attention",
                                                             "sliding_attention"]),
                                            min_size=layers, max_size=layers))
    return keys


def test_random_gpt_oss_configurations_count_like_transformers(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(gpt_oss_keys())
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, "gpt_oss", tmp_path_factory.mktemp("c"))
        sliding = transformers.AutoConfig.for_model("gpt_oss", **keys).layer_types.count(
            "sliding_attention")
        for obj in counted:
            counts = {kind["kind"].split("-")[0]: kind["count"] for kind in obj["block_kinds"]}
            assert counts.get("sliding", 0) == sliding, keys

    check()


@pytest.mark.parametrize("name", ["gpt-oss-120b", "gpt-oss-20b"])
def test_gpt_oss_presets_are_what_transformers_builds(name: str, cli: Cli) -> None:
    expected = reference(transformers.AutoConfig.from_pretrained(EXAMPLES / name))
    preset = budget(from_name(name).config).params
    assert (preset["total"], preset["active"]) == (expected["total"], expected["active"])
    assert cli.json("count", "--hf-config", str(EXAMPLES / name))["params"] == preset
    assert cli.json("check", "--preset", name)["ok"]  # paramcalc's own modules, on meta


def test_gpt_oss_totals_are_the_issue_s_figures() -> None:
    # the figures transformers' GptOssForCausalLM gives on the meta device (issue 19)
    assert budget(from_name("gpt-oss-120b").config).params["total"] == 116_829_156_672
    assert budget(from_name("gpt-oss-20b").config).params["total"] == 20_914_757_184


def test_one_more_expert_of_gpt_oss_120b_by_hand(cli: Cli) -> None:
    # an expert: gate and up 2,880 → 2·2,880 with biases, down 2,880 → 2,880 with a bias,
    # and one more router row with its bias; in each of 36 layers
    per_layer = 2880 * 2 * 2880 + 2 * 2880 + 2880 * 2880 + 2880 + 2880 + 1
    obj = cli.json("derive", "--preset", "gpt-oss-120b", "--wrt", "num_experts")
    assert obj["derivatives"]["total"]["num_experts"]["value"] == 36 * per_layer


def test_sinks_hold_a_logit_per_head_and_cache_nothing(cli: Cli) -> None:
    base = dict(vocab_size=64, seq_length=32, d_model=32, num_blocks=2, n_heads=4,
                block="transformer", positional="rotary")
    with_sinks = budget(ModelConfig(**base, attention_sinks=True))
    without = budget(ModelConfig(**base))
    assert with_sinks.params["total"] - without.params["total"] == 2 * 4
    memory = [compute(b, Settings(context=32)).memory["kv_cache"] for b in (with_sinks, without)]
    assert memory[0] == memory[1]
    assert cli.error("count", "--router-bias", "--block", "transformer", "--vocab-size", "8",
                     "--seq-length", "8", "--d-model", "8", "--num-blocks", "1").startswith(
        "Error: command line: router_bias needs num_experts")


def test_gpt_oss_cache_is_what_transformers_fills_past_the_window() -> None:
    hf = transformers.AutoConfig.for_model(
        "gpt_oss", vocab_size=32, hidden_size=32, intermediate_size=16, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
        sliding_window=3, num_local_experts=2, num_experts_per_tok=1)
    assert hf.layer_types == ["sliding_attention", "full_attention"] * 2
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(0, 32, (1, 7)), max_new_tokens=5, do_sample=False,
                             use_cache=True, return_dict_in_generate=True, pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    config = ModelConfig(vocab_size=32, seq_length=64, d_model=32, num_blocks=4, n_heads=4,
                         n_kv_heads=2, head_dim=8, d_ff=16, block="transformer",
                         sliding_window=3, full_every=2, attention_sinks=True, num_experts=2,
                         router_bias=True, expert_bias=True)
    memory = compute(budget(config), Settings(dtype="fp32", context=tokens)).memory
    assert memory["kv_cache"] == held
    # by hand: 2 full layers keep 11 tokens, 2 sliding ones the window less one (2): keys and
    # values of 2 heads of 8 in fp32
    assert held == 2 * 2 * 8 * 4 * (2 * 11 + 2 * 2)
