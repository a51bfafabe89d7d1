"""JetMoE (families/moe_more.py) and its mixture of attention heads, against transformers and
paramcalc's own modules.

JetMoE's random configurations are tests/test_hf.py's (``family_keys``: experts, K, key/value
heads and kv_channels drawn), counted against transformers' model on the meta device (the
total, every component, each block and the active count), under the counter and through
save_pretrained checkpoints like every family. Here: the defaults by hand, a derivative by
hand, ``check`` on both sides, and the new switches (``attention_experts``,
``moe_output_bias``) on paramcalc's own modules: parameters, active parameters and FLOPs
forward and backward.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import ConfigError, ModelConfig, budget
from paramcalc.check import check
from paramcalc.compute import Settings, compute
from paramcalc.formulas import COMPONENTS

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from test_compute import torch_flops  # noqa: E402  (needs torch)
from test_hf import reference  # noqa: E402  (needs transformers)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

SMALL = dict(vocab_size=40, hidden_size=20, intermediate_size=12, num_hidden_layers=2,
             num_key_value_heads=2, kv_channels=6, max_position_embeddings=16,
             num_local_experts=4, num_experts_per_tok=2)


def _write(folder: Path, **keys: Any) -> str:
    path = folder / "config.json"
    path.write_text(json.dumps({"model_type": "jetmoe", **keys}))
    return str(path)


def test_jetmoe_defaults_by_hand(tmp_path: Path, cli: Cli) -> None:
    # JetMoeConfig's defaults: V 32,000, d 2,048, 12 layers, 8 experts and 2 a token for both
    # mixtures, 16 key/value heads of 128 (g·c = 2,048), experts 5,632 wide, a tied head
    V, d, n, E, K, gc, f = 32_000, 2048, 12, 8, 2, 16 * 128, 5632
    attention_expert = d * gc + gc * d  # a query projection and an output projection
    ffn_expert = d * 2 * f + f * d  # input_linear (gate and up), output_linear
    attention = d * 2 * gc + d * E + E * attention_expert + d  # kv_proj, router, experts, bias
    mlp = d * E + E * ffn_expert + d
    block = attention + mlp + 2 * d
    obj = cli.json("count", "--hf-config", _write(tmp_path))
    assert obj["params"]["per_block"] == block
    assert obj["params"]["total"] == V * d + n * block + d == 4_293_888_000
    idle = n * (E - K) * (attention_expert + ffn_expert)
    assert obj["params"]["active"] == 4_293_888_000 - idle == 1_198_491_648
    expected = reference(transformers.AutoConfig.for_model("jetmoe"))
    assert (obj["params"]["total"], obj["params"]["active"]) == (expected["total"],
                                                                 expected["active"])
    assert obj["config"]["n_heads"] == 16 * 2  # g·K, as the config class sets it


def test_one_more_expert_of_jetmoe_by_hand(tmp_path: Path, cli: Cli) -> None:
    # per layer: an attention expert (2·d·g·c) and its router row, a feed-forward expert
    # (3·d·f) and its router row, in each of 12 layers
    d, gc, f = 2048, 16 * 128, 5632
    obj = cli.json("derive", "--hf-config", _write(tmp_path), "--wrt", "num_experts")
    assert obj["derivatives"]["total"]["num_experts"]["value"] == \
        12 * (2 * d * gc + d + 3 * d * f + d)


def test_a_small_jetmoe_checks_clean_on_both_sides(tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, **SMALL)
    assert cli.json("check", "--hf-config", path)["ok"]  # paramcalc's own modules
    rows = cli.json("check", "--hf-config", path, "--against", "transformers")["rows"]
    assert all(row["ok"] for row in rows), rows
    assert {row["component"] for row in rows} >= {"total", "active"}


def test_jetmoe_s_query_heads_are_k_times_its_key_value_heads(tmp_path: Path) -> None:
    """A file's num_attention_heads is kept by the config class and read by no module: a
    token's query heads are its K experts' g each, as transformers' attention weights show."""
    from paramcalc.families import load

    keys = {**SMALL, "num_attention_heads": 7}
    path = _write(tmp_path, **keys)
    config = load(Path(path).parent).config
    assert config.n_heads == 2 * 2
    hf = transformers.AutoConfig.for_model("jetmoe", **keys)
    hf._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model(input_ids=torch.zeros((1, 5), dtype=torch.long), output_attentions=True)
    assert out.attentions[0].shape == (1, 2 * 2, 5, 5)  # (B, K·g, S, S)
    assert budget(config).params["total"] == reference(hf)["total"]


@st.composite
def with_attention_experts(draw: st.DrawFn) -> ModelConfig:
    """Small configurations with a mixture of attention heads (and the output bias of the
    experts) in every block, dense layers among them, sliding windows, any positions."""
    kv, top_k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    experts = draw(st.integers(top_k, 4))
    blocks = draw(st.integers(1, 3))
    window = draw(st.none() | st.integers(1, 6))
    return ModelConfig(
        vocab_size=draw(st.integers(2, 40)), seq_length=draw(st.integers(2, 10)),
        d_model=draw(st.integers(2, 16)), num_blocks=blocks, n_heads=kv * top_k,
        n_kv_heads=kv, head_dim=2 * draw(st.integers(1, 3)), block="transformer",
        positional=draw(st.sampled_from(["rotary", "learned", "sinusoidal"])),
        final_norm=draw(st.booleans()), norm=draw(st.sampled_from(["rmsnorm", "layernorm"])),
        mlp=draw(st.sampled_from(["plain", "gated"])), qkv_bias=False, proj_bias=False,
        mlp_bias=draw(st.booleans()), num_experts=experts, experts_per_token=top_k,
        expert_d_ff=draw(st.integers(1, 12)), d_ff=draw(st.integers(1, 12)),
        dense_layers=draw(st.lists(st.integers(0, blocks - 1), unique=True, max_size=1)),
        router_bias=draw(st.booleans()), attention_experts=True,
        moe_output_bias=draw(st.booleans()), sliding_window=window,
        head=draw(st.sampled_from(["tied", "linear"])))


def test_attention_experts_count_as_paramcalc_s_own_modules() -> None:
    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(with_attention_experts())
    def formula_equals_module(config: ModelConfig) -> None:
        result = check(config)  # the rows include the active count
        assert result.ok, [(r.component, r.formula, r.instantiated) for r in result.rows]

    formula_equals_module()


def test_attention_experts_cost_the_flops_torch_counts() -> None:
    """FlopCounterMode on paramcalc's own modules, forward and backward, per component: each
    expert on the tokens routed to it, the K·g query heads over the shared keys."""
    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(with_attention_experts())
    def flops_equal(config: ModelConfig) -> None:
        forward, backward = torch_flops(config)
        flops = compute(budget(config)).flops
        assert {c: flops["forward"][c] for c in (*COMPONENTS, "total")} == forward, config
        assert flops["backward"]["total"] == backward, config

    flops_equal()


def test_attention_experts_by_hand() -> None:
    base = dict(vocab_size=10, seq_length=4, d_model=8, num_blocks=1, n_heads=4, n_kv_heads=2,
                head_dim=3, block="transformer", positional="rotary", qkv_bias=False,
                proj_bias=False, mlp_bias=False, head="tied", norm="rmsnorm", mlp="gated",
                num_experts=3, experts_per_token=2, expert_d_ff=5)
    plain = budget(ModelConfig(**base))
    moa = budget(ModelConfig(**base, attention_experts=True, moe_output_bias=True))
    # attention: q 8·12, k and v 8·6 each, o 12·8 = 288; the mixture: kv_proj 8·12, a router
    # 8·3, three experts of 8·6 + 6·8, a bias of 8 = 416; the experts' output bias: 8 more
    assert moa.params["total"] - plain.params["total"] == 416 - 288 + 8
    # a token passes 2 of the 3 attention experts: 96 idle, beside one feed-forward expert
    assert plain.params["total"] - plain.params["active"] == 3 * 8 * 5
    assert moa.params["total"] - moa.params["active"] == 3 * 8 * 5 + 96
    cache = [compute(b, Settings(context=4)).memory["kv_cache"] for b in (plain, moa)]
    assert cache[0] == cache[1]  # the same g key/value heads a token


@pytest.mark.parametrize("changes, message", [
    (dict(attention_experts=True), "attention_experts needs num_experts"),
    (dict(moe_output_bias=True), "moe_output_bias needs num_experts"),
    (dict(attention_experts=True, num_experts=2, n_heads=2, n_kv_heads=1, qkv_bias=False,
          proj_bias=False), "n_heads (2) must be experts_per_token × n_kv_heads (1 × 1)"),
    (dict(attention_experts=True, num_experts=2, n_heads=1, n_kv_heads=1),
     "attention_experts is JetMoE's mixture of attention heads, which has no qkv_bias: give "
     "qkv_bias = false"),
    (dict(attention_experts=True, num_experts=2, n_heads=1, n_kv_heads=1, qkv_bias=False,
          proj_bias=False, qk_norm="head"), "which has no qk_norm: give qk_norm = none"),
])
def test_attention_experts_where_they_cannot_be_are_refused(changes: dict[str, Any],
                                                            message: str) -> None:
    keys = {**dict(vocab_size=8, seq_length=8, d_model=8, num_blocks=1, block="transformer"),
            **changes}
    with pytest.raises(ConfigError) as error:
        ModelConfig(**keys)
    assert message in str(error.value)


def test_no_experts_is_refused_as_transformers_refuses_it(tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, **{**SMALL, "num_local_experts": 0})
    assert cli.error("count", "--hf-config", path) == (
        f"Error: {path}: num_local_experts = 0 leaves no experts for the num_experts_per_tok "
        "(2) a token is sent to (transformers builds no model); paramcalc cannot count this "
        "model")
    with pytest.raises(Exception, match="num_experts_per_tok"):
        transformers.AutoConfig.for_model("jetmoe", **{**SMALL, "num_local_experts": 0})
