"""The mixtures of experts of ``families/moe.py`` against transformers' own models on the meta
device.

For every type, random configurations from its own config class (sizes and the switches that
change the count: biases, qk-norms, shared experts and their widths, dense layers by index,
range, interval or list, sliding layers; and rotary fractions and multipliers that must not
change it), written as save_pretrained writes them, in full, and by hand, are counted by
``count --hf-config`` and compared with transformers' model: the total, the active count,
every component and the size of every block; a small model of each checked against
paramcalc's own modules and transformers; dots1's cache past its window; and the values
transformers cannot build or paramcalc cannot count, refused in one line. (DBRX: its sizes in
two sub-configs, read by dotted name.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc.families.moe import MOE

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from test_hf import counts_like_transformers, reference  # noqa: E402  (needs transformers)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

TYPES = [record.model_type for record in MOE]
#: each type's routed experts, experts per token and, where it has one, expert width
EXPERT_KEYS: dict[str, tuple[str, str, str | None]] = {
    "glm4_moe": ("n_routed_experts", "num_experts_per_tok", "moe_intermediate_size"),
    "dots1": ("n_routed_experts", "num_experts_per_tok", "moe_intermediate_size"),
    "hunyuan_v1_moe": ("num_experts", "moe_topk", None),
    "ernie4_5_moe": ("moe_num_experts", "moe_k", "moe_intermediate_size"),
    "granitemoe": ("num_local_experts", "num_experts_per_tok", None),
    "granitemoeshared": ("num_local_experts", "num_experts_per_tok", None),
    "minimax_m2": ("num_local_experts", "num_experts_per_tok", None),
    "glm4_moe_lite": ("n_routed_experts", "num_experts_per_tok", "moe_intermediate_size"),
    "dbrx": ("ffn_config.moe_num_experts", "ffn_config.moe_top_k", None),
}
#: the types whose heads are hidden_size // num_attention_heads wide without a head_dim
FLOOR = ("glm4_moe", "dots1", "ernie4_5_moe", "granitemoe", "granitemoeshared")
#: the types whose attention reads head_dim with no fallback (HunYuan) or declares it
NEEDS_HEAD_DIM = ("hunyuan_v1_moe", "minimax_m2")


def test_every_moe_family_has_its_keys_drawn() -> None:
    assert sorted(EXPERT_KEYS) == sorted(TYPES)


def _layer_kinds(draw: st.DrawFn, kinds: list[str], layers: int) -> list[str]:
    return draw(st.lists(st.sampled_from(kinds), min_size=layers, max_size=layers))


@st.composite
def moe_keys(draw: st.DrawFn, model_type: str) -> dict[str, Any]:
    """Small random keys for ``model_type``: sizes, the experts and the family's switches."""
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    kv = draw(st.sampled_from([k for k in range(1, heads + 1) if heads % k == 0]))
    layers = draw(st.integers(1, 4))
    if model_type == "dbrx":  # its sizes in two sub-configs; its attention needs a rope_theta
        routed = draw(st.integers(1, 6))
        return dict(vocab_size=draw(st.integers(8, 300)),
                    d_model=heads * 2 * draw(st.integers(2, 6)), n_heads=heads, n_layers=layers,
                    max_seq_len=draw(st.integers(8, 512)),
                    attn_config=dict(kv_n_heads=kv, rope_theta=10000.0,
                                     clip_qkv=draw(st.none() | st.sampled_from([8, 0.5]))),
                    ffn_config=dict(ffn_hidden_size=draw(st.integers(1, 48)),
                                    moe_num_experts=routed,
                                    moe_top_k=draw(st.integers(1, routed))))
    routed_key, top_key, width_key = EXPERT_KEYS[model_type]
    routed = draw(st.integers(1, 6))
    flag = st.booleans()
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 300)), hidden_size=heads * 2 * draw(st.integers(2, 6)),
        intermediate_size=draw(st.integers(1, 48)), num_hidden_layers=layers,
        num_attention_heads=heads, max_position_embeddings=draw(st.integers(8, 512)),
        tie_word_embeddings=draw(flag), pad_token_id=None,
        **{routed_key: routed, top_key: draw(st.integers(1, routed))})
    if width_key is not None:
        keys[width_key] = draw(st.integers(1, 32))
    if model_type != "glm4_moe_lite":  # latent attention has no key/value heads of its own
        keys["num_key_value_heads"] = kv
        # a head width of its own, a multiple of 4 so that a rotary fraction stays even
        head_dim = draw(st.integers(1, 6).map(lambda x: 4 * x) if model_type in NEEDS_HEAD_DIM
                        else st.none() | st.integers(1, 6).map(lambda x: 4 * x))
        if head_dim is not None:
            keys["head_dim"] = head_dim
        elif model_type in FLOOR and heads > 1 and draw(flag):  # heads of d // h, rounded down
            keys["hidden_size"] += draw(st.integers(1, heads - 1))
    elif heads > 1:  # latent attention given its head sizes: any width
        keys["hidden_size"] += draw(st.integers(0, heads - 1))
    if model_type in ("glm4_moe", "dots1", "glm4_moe_lite"):  # DeepSeek-V3's experts
        keys.update(n_shared_experts=draw(st.integers(0, 2)), n_group=1, topk_group=1,
                    routed_scaling_factor=draw(st.sampled_from([1.0, 2.5])))
    if model_type in ("glm4_moe", "dots1"):
        keys["first_k_dense_replace"] = draw(st.integers(0, layers))
    if model_type == "glm4_moe":
        keys.update(attention_bias=draw(flag), use_qk_norm=draw(flag),
                    partial_rotary_factor=draw(st.sampled_from([0.5, 1.0])))
    if model_type in ("dots1", "hunyuan_v1_moe", "granitemoe", "granitemoeshared"):
        keys["attention_bias"] = draw(flag)
    if model_type == "dots1":  # sliding layers from max_window_layers on, or listed
        keys.update(sliding_window=draw(st.none() | st.integers(1, 64)),
                    max_window_layers=draw(st.integers(0, layers)))
        if keys["sliding_window"] is not None and draw(flag):
            keys["layer_types"] = _layer_kinds(draw, ["full_attention", "sliding_attention"],
                                               layers)
    if model_type == "ernie4_5_moe":  # experts in a range of layers, at an interval
        keys.update(use_bias=draw(flag), moe_num_shared_experts=draw(st.integers(0, 2)),
                    moe_layer_start_index=draw(st.integers(-1, layers)),
                    moe_layer_end_index=draw(st.integers(-2, layers)),
                    moe_layer_interval=draw(st.integers(1, 3)))
    if model_type in ("granitemoe", "granitemoeshared"):  # scalars: no parameters
        keys.update(embedding_multiplier=draw(st.sampled_from([1.0, 12.0])),
                    residual_multiplier=draw(st.sampled_from([1.0, 0.22])),
                    logits_scaling=draw(st.sampled_from([1.0, 8.0])))
    if model_type == "granitemoeshared":
        keys["shared_intermediate_size"] = draw(st.integers(0, 32))
    if model_type == "glm4_moe_lite":
        keys.update(attention_bias=draw(flag), kv_lora_rank=draw(st.integers(1, 24)),
                    q_lora_rank=draw(st.none() | st.integers(1, 24)),
                    qk_rope_head_dim=2 * draw(st.integers(1, 8)),
                    qk_nope_head_dim=draw(st.integers(1, 16)), v_head_dim=draw(st.integers(1, 16)))
        if draw(flag):
            keys["mlp_layer_types"] = _layer_kinds(draw, ["dense", "sparse"], layers)
    return keys


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_random_configurations_count_like_transformers(model_type: str, tmp_path_factory:
                                                       pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(moe_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, model_type, tmp_path_factory.mktemp("c"))
        # and the blocks of experts are the layers transformers gives experts
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(
                transformers.AutoConfig.for_model(model_type, **keys))
        layers = model.transformer.blocks if model_type == "dbrx" else model.model.layers
        sparse = sum(any(type(m).__name__.endswith("Experts") for m in layer.modules())
                     for layer in layers)
        for obj in counted:
            kinds = {kind["kind"]: kind["count"] for kind in obj["block_kinds"]}
            assert sum(n for kind, n in kinds.items() if kind.endswith("moe")) == sparse, keys

    check()


def test_glm_4_5_s_defaults_round_the_head_width_down(tmp_path: Path, cli: Cli) -> None:
    """GLM-4.5's config class: 96 heads over 4,096 with no head_dim are 42 wide each (its
    published files say 128), and GLM-4.7-Flash's latent attention has 20 heads over 2,048."""
    for model_type in ("glm4_moe", "glm4_moe_lite"):
        hf = transformers.AutoConfig.for_model(model_type)
        expected = reference(hf)
        path = tmp_path / f"{model_type}.json"
        hf.to_json_file(path, use_diff=False)
        assert cli.json("count", "--hf-config", str(path))["params"]["total"] == \
            expected["total"]
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(
            transformers.AutoConfig.for_model("glm4_moe", num_hidden_layers=1))
    assert model.model.layers[0].self_attn.q_proj.out_features == 96 * 42


def test_dots1_s_sliding_layers_are_transformers(tmp_path: Path, cli: Cli) -> None:
    keys = dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=4,
                num_attention_heads=2, num_key_value_heads=1, n_routed_experts=3,
                num_experts_per_tok=1, moe_intermediate_size=8, n_shared_experts=1,
                sliding_window=8, max_window_layers=1)
    hf = transformers.AutoConfig.for_model("dots1", **keys)
    assert hf.layer_types == ["full_attention"] + ["sliding_attention"] * 3
    counted = counts_like_transformers(cli, keys, "dots1", tmp_path)
    assert {kind["kind"]: kind["count"] for kind in counted[0]["block_kinds"]} == \
        {"full-moe": 1, "sliding-moe": 3}


def test_ernie_s_range_of_expert_layers_by_hand(tmp_path: Path, cli: Cli) -> None:
    """Layers 1 to 6 of 8 at an interval of 2 hold experts: 1, 3 and 5 (i + 1 even)."""
    keys = dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=8,
                num_attention_heads=2, num_key_value_heads=1, moe_num_experts=3, moe_k=1,
                moe_intermediate_size=8, moe_layer_start_index=1, moe_layer_end_index=6,
                moe_layer_interval=2)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(
            transformers.AutoConfig.for_model("ernie4_5_moe", **keys))
    assert [i for i, layer in enumerate(model.model.layers)
            if type(layer.mlp).__name__.endswith("SparseMoeBlock")] == [1, 3, 5]
    obj = counts_like_transformers(cli, keys, "ernie4_5_moe", tmp_path)[0]
    assert {kind["kind"]: kind["count"] for kind in obj["block_kinds"]} == {"dense": 5, "moe": 3}
    # the score-correction bias is a parameter: E = 3 a layer of experts, beside the router
    layer = model.model.layers[1].mlp.gate
    assert sum(p.numel() for p in layer.parameters()) == 3 * 16 + 3


def _refused(cli: Cli, tmp_path: Path, model_type: str, text: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(f'{{"model_type": "{model_type}", {text}}}')
    return cli.error("count", "--hf-config", str(path)).removeprefix(f"Error: {path}: ")


def test_what_transformers_cannot_build_is_refused_by_name(tmp_path: Path, cli: Cli) -> None:
    with pytest.raises(TypeError), torch.device("meta"):  # transformers' own model for it
        transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(
            "dots1", n_routed_experts=2, num_experts_per_tok=1))
    assert _refused(cli, tmp_path, "dots1", '"n_routed_experts": 2, "num_experts_per_tok": 1') \
        == ("n_shared_experts = null leaves the width of the shared experts unset (transformers "
            "multiplies moe_intermediate_size by it); paramcalc cannot count this model")
    with pytest.raises(TypeError), torch.device("meta"):
        transformers.AutoModelForCausalLM.from_config(
            transformers.AutoConfig.for_model("hunyuan_v1_moe", head_dim=None))
    assert _refused(cli, tmp_path, "hunyuan_v1_moe", '"head_dim": null') == (
        "head_dim = null leaves the attention without a head width (transformers reads it "
        "with no fallback); paramcalc cannot count this model")
    assert _refused(cli, tmp_path, "glm4_moe_lite", '"num_hidden_layers": 2, '
                    '"mlp_layer_types": ["dense", "moe"]') == (
        'mlp_layer_types = ["dense", "moe"] names \'moe\', neither dense nor sparse; paramcalc '
        "cannot count this model")
    assert _refused(cli, tmp_path, "glm4_moe_lite", '"num_hidden_layers": 3, '
                    '"mlp_layer_types": ["dense", "sparse"]') == (
        "mlp_layer_types lists 2 layers, but num_hidden_layers is 3")


def test_a_billion_ernie_layers_at_an_interval_count_at_once(tmp_path: Path, cli: Cli) -> None:
    """Every 10**8-th layer of 10**9 holds experts (10 of them); the sizes of a dense and of a
    sparse block come from transformers' model of ten layers (layer 9 sparse)."""
    keys = dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=10,
                num_attention_heads=2, num_key_value_heads=1, moe_num_experts=3, moe_k=1,
                moe_intermediate_size=8, moe_layer_start_index=0, moe_layer_interval=10)
    small = reference(transformers.AutoConfig.for_model("ernie4_5_moe", **keys))
    dense, sparse = small["block_sizes"]
    outside = small["total"] - 9 * dense - sparse
    n = 10**9
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "ernie4_5_moe", **keys, "num_hidden_layers": n,
                                "moe_layer_interval": 10**8}))
    obj = cli.json("count", "--hf-config", str(path))
    assert {kind["kind"]: kind["count"] for kind in obj["block_kinds"]} == \
        {"dense": n - 10, "moe": 10}
    assert obj["params"]["total"] == outside + (n - 10) * dense + 10 * sparse
    # a range that ends early leaves the layers past it that the interval names dense, each
    # listed: 10**8 - 1 of them are refused
    path.write_text(json.dumps({"model_type": "ernie4_5_moe", **keys, "num_hidden_layers": n,
                                "moe_layer_end_index": 9}))
    assert cli.error("count", "--hf-config", str(path)) == (
        f"Error: {path}: moe_layer_end_index = 9 leaves over 65,536 layers dense after the "
        "range, each listed; paramcalc cannot count this model")


def test_dbrx_s_fused_projection_and_bias_free_norms_by_hand(tmp_path: Path, cli: Cli) -> None:
    """d = 24, 4 heads of 6, 2 key/value heads: Wqkv 24 → 24 + 2·2·6, out 24 → 24; two
    LayerNorms of 24 scales; a router 24 → 3 and 3 experts of three 8 × 24 matrices."""
    keys = dict(vocab_size=40, d_model=24, n_heads=4, n_layers=1, max_seq_len=64,
                attn_config=dict(kv_n_heads=2, rope_theta=10000.0, clip_qkv=8),
                ffn_config=dict(ffn_hidden_size=8, moe_num_experts=3, moe_top_k=2))
    block = 24 * (24 + 24) + 24 * 24 + 2 * 24 + 24 * 3 + 3 * 3 * 8 * 24
    obj = counts_like_transformers(cli, keys, "dbrx", tmp_path)[0]
    assert obj["params"]["blocks"] == block
    assert obj["params"]["total"] - obj["params"]["active"] == 1 * 3 * 8 * 24  # one expert idle


def test_what_dbrx_s_transformers_cannot_build_alike_is_refused(tmp_path: Path,
                                                                cli: Cli) -> None:
    with pytest.raises(Exception, match="tie_word_embeddings is not supported"):
        transformers.AutoConfig.for_model("dbrx", tie_word_embeddings=True)
    assert _refused(cli, tmp_path, "dbrx", '"tie_word_embeddings": true') == (
        "tie_word_embeddings = true is refused by transformers for DBRX (its output layer is "
        "never tied); paramcalc cannot count this model")
    # hidden_size, DBRX's alias of d_model, widens the attention and leaves the experts as
    # wide as d_model was (2,048 by default)
    hf = transformers.AutoConfig.for_model("dbrx", hidden_size=16,
                                           attn_config=dict(rope_theta=10000.0))
    assert (hf.d_model, hf.ffn_config.hidden_size) == (16, 2048)
    assert _refused(cli, tmp_path, "dbrx", '"hidden_size": 16') == (
        "hidden_size = 16 widens the attention alone: transformers builds the experts d_model "
        "wide (2,048 where the file leaves it out), a model of two widths; paramcalc cannot "
        "count this model")
    # the same width under both names is one model
    path = tmp_path / "same.json"
    path.write_text('{"model_type": "dbrx", "d_model": 16, "hidden_size": 16, "n_heads": 2}')
    assert cli.json("count", "--hf-config", str(path))["config"]["d_model"] == 16


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_a_small_model_of_each_checks_clean(model_type: str, tmp_path: Path, cli: Cli) -> None:
    """paramcalc's own modules (on meta) and transformers' model for the same file: every
    component, the blocks of each kind and the active count agree with the formulas."""
    from test_families import SMALL

    keys = {**SMALL[model_type], "num_hidden_layers": 3} if model_type != "dbrx" else \
        {**SMALL["dbrx"], "n_layers": 3}
    if model_type == "ernie4_5_moe":  # the shared experts and the biases, layers 1 and 2
        keys.update(moe_num_shared_experts=1, use_bias=True, moe_layer_end_index=2)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": model_type, **keys}))
    assert cli.json("check", "--hf-config", str(path))["ok"]
    rows = cli.json("check", "--hf-config", str(path), "--against", "transformers")["rows"]
    assert all(row["ok"] for row in rows), rows


def test_dots1_s_cache_is_what_transformers_fills_past_the_window(tmp_path: Path,
                                                                  cli: Cli) -> None:
    keys = dict(vocab_size=32, hidden_size=32, intermediate_size=16, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                n_routed_experts=2, num_experts_per_tok=1, moe_intermediate_size=8,
                n_shared_experts=1, sliding_window=3, max_window_layers=2)
    hf = transformers.AutoConfig.for_model("dots1", **keys)
    assert hf.layer_types == ["full_attention"] * 2 + ["sliding_attention"] * 2
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(0, 32, (1, 7)), max_new_tokens=5, do_sample=False,
                             use_cache=True, return_dict_in_generate=True, pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "dots1", **keys}))
    obj = cli.json("flops", "--hf-config", str(path), "--dtype", "fp32", "--context",
                   str(tokens))
    assert obj["memory"]["kv_cache"] == held
    # by hand: 2 full layers keep 11 tokens, 2 sliding ones the window less one (2): keys and
    # values of 2 heads of 8 in fp32
    assert held == 2 * 2 * 8 * 4 * (2 * 11 + 2 * 2)
