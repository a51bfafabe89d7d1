"""The dense families of ``families/dense.py`` against transformers.

For every type, random configurations from its own config class (sizes and the switches that
change the count: biases, head widths, query and key norms, parallel blocks, windows, the
activation; and rotary fractions and scalars that must not change it), written as
save_pretrained writes them, in full, and by hand, are counted by ``count --hf-config`` and
compared with transformers' model on the meta device: the total, every component and the size
of every block. The new switches (weightless and bias-free LayerNorms, per-head query and key
norms, one norm before parts side by side, xIELU) are proved on paramcalc's own modules too,
and a few configurations of each type, run under FlopCounterMode, for the forward FLOPs
(slow).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import ConfigError, ModelConfig, budget
from paramcalc.check import check
from paramcalc.compute import compute
from paramcalc.families.dense import DENSE
from paramcalc.formulas import COMPONENTS
from test_compute import torch_flops
from test_hf import counts_like_transformers, flops_like_transformers, write_three_ways

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

TYPES = [record.model_type for record in DENSE]
#: the switches each family reads beside the sizes
SWITCHES: dict[str, tuple[str, ...]] = {
    "helium": ("attention_bias", "mlp_bias"),
    "olmo3": ("attention_bias",),
    "exaone4": (),
    "vaultgemma": ("attention_bias",),
    "olmo": ("attention_bias",),
    "apertus": ("attention_bias",),
    "cohere": ("attention_bias", "use_qk_norm"),
    "cohere2": ("attention_bias",),
    "stablelm": ("use_qkv_bias", "qk_layernorm", "use_parallel_residual"),
    "persimmon": ("qk_layernorm",),
    "phi": ("qk_layernorm",),
    "gptj": (),
    "codegen": (),
}
#: GPT-2's names for the sizes
GPT2_NAMES = ("gptj", "codegen")
#: the types whose heads are always hidden_size / num_attention_heads wide
FIXED_HEADS = ("stablelm", "persimmon", "gptj", "codegen")
#: the types without key/value heads of their own
NO_KV_HEADS = ("persimmon", "gptj", "codegen")
SLIDING = ("olmo3", "exaone4", "vaultgemma", "cohere2")
LAYER_TYPES = st.sampled_from(["full_attention", "sliding_attention"])


def test_every_dense_family_has_its_switches_drawn() -> None:
    assert sorted(SWITCHES) == sorted(TYPES)


@st.composite
def dense_keys(draw: st.DrawFn, model_type: str) -> dict[str, Any]:
    """Small random keys for ``model_type``: sizes, biases and the family's own switches."""
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    kv = draw(st.sampled_from([k for k in range(1, heads + 1) if heads % k == 0]))
    layers = draw(st.integers(1, 4))
    # a multiple of 4 per head, so that any rotary fraction below stays even
    hidden = heads * 4 * draw(st.integers(1, 4))
    vocab, context = draw(st.integers(8, 300)), draw(st.integers(8, 512))
    tie = draw(st.booleans())
    if model_type in GPT2_NAMES:
        # rotary_dim: at most a head's width, even; CodeGen splits Q, K, V in 4 groups of heads
        if model_type == "codegen":
            heads = draw(st.sampled_from([4, 8]))
            hidden = heads * 4 * draw(st.integers(1, 3))
        return dict(vocab_size=vocab, n_positions=context, n_embd=hidden,
                    n_layer=layers, n_head=heads, n_inner=draw(st.none() | st.integers(1, 64)),
                    rotary_dim=2 * draw(st.integers(1, hidden // heads // 2)),
                    tie_word_embeddings=tie)
    keys: dict[str, Any] = dict(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=draw(st.integers(1, 64)),
        num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=context,
        tie_word_embeddings=tie, pad_token_id=None)  # defaults may lie past a small vocabulary
    if model_type not in NO_KV_HEADS:
        keys["num_key_value_heads"] = kv
    if model_type == "helium":  # its output projection is hidden_size wide: head_dim is d/h
        keys["head_dim"] = hidden // heads
    elif model_type == "vaultgemma":
        keys["head_dim"] = 4 * draw(st.integers(1, 6))
    elif model_type not in FIXED_HEADS:
        head_dim = draw(st.none() | st.integers(1, 6).map(lambda x: 4 * x))
        if head_dim is not None:
            keys["head_dim"] = head_dim
    for name in SWITCHES[model_type]:
        keys[name] = draw(st.booleans())
    if model_type == "phi" and keys["qk_layernorm"] and "head_dim" in keys:
        keys["head_dim"] = hidden // heads  # its query and key norms are d/h wide
    if model_type in SLIDING:
        keys["sliding_window"] = draw(st.integers(1, 64))
        if draw(st.booleans()):  # a pattern of the file's own
            keys["layer_types"] = draw(st.lists(LAYER_TYPES, min_size=layers, max_size=layers))
    if model_type == "exaone4" and "layer_types" not in keys:
        keys["sliding_window_pattern"] = draw(st.integers(1, 5))
    if model_type == "cohere2" and "layer_types" not in keys and draw(st.booleans()):
        keys["sliding_window_pattern"] = draw(st.integers(1, 5))
    if model_type == "apertus":  # xIELU's two scalars, or an activation without any
        keys["hidden_act"] = draw(st.sampled_from(["xielu", "silu", "relu2"]))
    if model_type == "olmo":  # a clamp: no parameters
        keys["clip_qkv"] = draw(st.none() | st.just(8.0))
    if model_type in ("cohere", "cohere2"):  # a scalar on the logits: no parameters
        keys["logit_scale"] = draw(st.sampled_from([0.0625, 1.0]))
    if model_type in ("stablelm", "persimmon", "phi"):  # a rotary part of each head
        keys["partial_rotary_factor"] = draw(st.sampled_from([0.5, 1.0]))  # even parts
    return keys


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_random_configurations_count_like_transformers(model_type: str, tmp_path_factory:
                                                       pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(dense_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, model_type, tmp_path_factory.mktemp("c"))
        if model_type in SLIDING:  # the sliding layers are the config class's own
            sliding = transformers.AutoConfig.for_model(model_type, **keys).layer_types.count(
                "sliding_attention")
            for obj in counted:
                kinds = {kind["kind"].split("-")[0]: kind["count"]
                         for kind in obj["block_kinds"]}
                assert kinds.get("sliding", 0) == sliding, keys

    check()


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(text)
    return str(path)


def test_helium_s_other_head_width_is_refused_by_name(tmp_path: Path, cli: Cli) -> None:
    path = _file(tmp_path, '{"model_type": "helium", "hidden_size": 64, '
                           '"num_attention_heads": 4, "head_dim": 8}')
    assert cli.error("count", "--hf-config", path) == (
        f"Error: {path}: head_dim = 8 differs from hidden_size / num_attention_heads (64 / 4): "
        "Helium's output projection stays hidden_size wide; paramcalc cannot count this model")


def test_phi_s_head_norms_with_another_head_width_are_refused(tmp_path: Path,
                                                              cli: Cli) -> None:
    path = _file(tmp_path, '{"model_type": "phi", "hidden_size": 64, "num_attention_heads": 4, '
                           '"head_dim": 8, "qk_layernorm": true}')
    assert cli.error("count", "--hf-config", path).startswith(
        f"Error: {path}: head_dim = 8 differs from hidden_size / num_attention_heads (64 / 4) "
        "with qk_layernorm")


def test_exaone4_without_a_window_or_a_list_is_refused(tmp_path: Path, cli: Cli) -> None:
    with pytest.raises(ZeroDivisionError):  # transformers' own config class for it
        transformers.AutoConfig.for_model("exaone4", sliding_window=None)
    path = _file(tmp_path, '{"model_type": "exaone4", "sliding_window": null}')
    assert cli.error("count", "--hf-config", path) == (
        f"Error: {path}: sliding_window = null without layer_types makes transformers' "
        "pattern 0 (it builds no model); paramcalc cannot count this model")


def test_olmo_s_norms_hold_nothing_by_hand(tmp_path: Path, cli: Cli) -> None:
    """OLMo-1B's shape, from its config.json: 16 blocks of d = 2,048, f = 8,192, a vocabulary
    of 50,304 tied; the LayerNorms hold no weights, so the count is the matrices alone (and
    transformers' OlmoForCausalLM for it holds as many)."""
    path = _file(tmp_path, '{"model_type": "olmo", "vocab_size": 50304, "hidden_size": 2048, '
                           '"intermediate_size": 8192, "num_hidden_layers": 16, '
                           '"num_attention_heads": 16, "tie_word_embeddings": true}')
    params = cli.json("count", "--hf-config", path)["params"]
    d, f = 2048, 8192
    assert params["final_norm"] == 0
    assert params["total"] == 50304 * d + 16 * (4 * d * d + 3 * d * f) == 1_176_764_416


def test_gpt_j_6b_by_hand(tmp_path: Path, cli: Cli) -> None:
    """GPT-J-6B: 28 blocks of d = 4,096, each four d × d projections without biases, one
    LayerNorm and a biased MLP 4·d wide; a final LayerNorm and an untied output layer with a
    bias over 50,400 tokens (transformers' GPTJForCausalLM for it holds as many)."""
    path = _file(tmp_path, '{"model_type": "gptj"}')  # its defaults are GPT-J-6B's
    d, V = 4096, 50400
    block = 4 * d * d + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * d
    params = cli.json("count", "--hf-config", path)["params"]
    assert params["total"] == V * d + 28 * block + 2 * d + (d * V + V) == 6_050_882_784


def _sliding(keys: dict[str, Any], model_type: str) -> list[str]:
    return list(transformers.AutoConfig.for_model(model_type, **keys).layer_types)


@pytest.mark.parametrize("model_type", SLIDING, ids=str)
def test_sliding_layers_cache_the_window_as_transformers_fills_it(model_type: str,
                                                                   tmp_path: Path,
                                                                   cli: Cli) -> None:
    """A generation past a 3-token window: a sliding layer holds the window less the token
    being made, a full one every token; against the bytes of transformers' own cache."""
    keys = dict(vocab_size=32, hidden_size=32, intermediate_size=16, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                sliding_window=3, pad_token_id=0)
    if model_type == "vaultgemma":
        keys["head_dim"] = 8
    hf = transformers.AutoConfig.for_model(model_type, **keys)
    assert "sliding_attention" in hf.layer_types and "full_attention" in hf.layer_types
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(0, 32, (1, 7)), max_new_tokens=5, do_sample=False,
                             use_cache=True, return_dict_in_generate=True, pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    path = _file(tmp_path, json.dumps({"model_type": model_type, **keys}))
    obj = cli.json("flops", "--hf-config", path, "--dtype", "fp32", "--context", str(tokens))
    assert obj["memory"]["kv_cache"] == held
    full = hf.layer_types.count("full_attention")
    assert held == 2 * 2 * 8 * 4 * (full * tokens + (4 - full) * 2)  # by hand: keys and values


# --- the new switches on paramcalc's own modules --------------------------------------------

@st.composite
def switched(draw: st.DrawFn) -> ModelConfig:
    """Small configurations with the switches the dense families brought."""
    heads = draw(st.sampled_from([1, 2, 4]))
    parallel = draw(st.booleans())
    mlp = draw(st.sampled_from(["plain", "gated", "xielu"]))
    return ModelConfig(
        vocab_size=draw(st.integers(2, 40)), seq_length=draw(st.integers(2, 12)),
        d_model=heads * 2 * draw(st.integers(1, 4)), num_blocks=draw(st.integers(1, 3)),
        n_heads=heads, block="transformer", positional="rotary", final_norm=draw(st.booleans()),
        d_ff=draw(st.integers(1, 24)), head_dim=draw(st.none() | st.integers(1, 4).map(
            lambda x: 2 * x)), n_kv_heads=draw(st.sampled_from([k for k in (1, 2, 4)
                                                               if heads % k == 0])),
        norm=draw(st.sampled_from(["layernorm", "rmsnorm", "layernorm_nobias",
                                   "layernorm_bare"])),
        mlp=mlp, qk_norm=draw(st.sampled_from(["none", "head", "full", "per_head"])),
        parallel_residual=parallel,
        norm_placement=draw(st.sampled_from(["pre", "shared"] if parallel else ["pre", "post"])),
        qkv_bias=draw(st.booleans()), proj_bias=draw(st.booleans()),
        mlp_bias=draw(st.booleans()), head=draw(st.sampled_from(["tied", "linear"])),
        logits_bias=draw(st.booleans()))


def test_the_new_switches_count_as_paramcalc_s_own_modules() -> None:
    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(switched())
    def formula_equals_module(config: ModelConfig) -> None:
        result = check(config)
        assert result.ok, [(r.component, r.formula, r.instantiated) for r in result.rows]

    formula_equals_module()


def test_the_new_switches_cost_the_flops_torch_counts() -> None:
    """FlopCounterMode on paramcalc's own modules, forward and backward, per component."""
    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(switched())
    def flops_equal(config: ModelConfig) -> None:
        forward, backward = torch_flops(config)
        flops = compute(budget(config)).flops
        assert {c: flops["forward"][c] for c in (*COMPONENTS, "total")} == forward, config
        assert flops["backward"]["total"] == backward, config

    flops_equal()


def test_one_shared_norm_needs_the_parts_side_by_side() -> None:
    with pytest.raises(ConfigError, match="norm_placement = shared is one norm before "
                       "attention and feed-forward side by side: give parallel_residual"):
        ModelConfig(vocab_size=8, seq_length=8, d_model=8, num_blocks=1, block="transformer",
                    norm_placement="shared")
    with pytest.raises(ConfigError, match="mlp = xielu is a dense feed-forward part"):
        ModelConfig(vocab_size=8, seq_length=8, d_model=8, num_blocks=1, block="transformer",
                    mlp="xielu", num_experts=2)


def test_the_new_switches_by_hand() -> None:
    base = dict(vocab_size=10, seq_length=4, d_model=8, num_blocks=1, n_heads=2, n_kv_heads=1,
                d_ff=4, block="transformer", positional="rotary", qkv_bias=False,
                proj_bias=False, mlp_bias=False, head="tied")

    def per_block(**changes: Any) -> int:
        return int(budget(ModelConfig(**{**base, **changes})).params["blocks"])

    # attention 8·8 + 2·8·4 + 8·8 = 192; MLP 8·4 + 4·8 = 64; two LayerNorms 2·16
    assert per_block() == 192 + 64 + 32
    assert per_block(norm="layernorm_bare") == 192 + 64
    assert per_block(norm="layernorm_nobias") == 192 + 64 + 16
    assert per_block(parallel_residual=True, norm_placement="shared") == 192 + 64 + 16
    assert per_block(qk_norm="per_head", norm="rmsnorm") == 192 + (2 + 1) * 4 + 64 + 16
    assert per_block(mlp="xielu") == 192 + 64 + 2 + 32


@pytest.mark.slow  # transformers' models, built and run under the counter
@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_forward_flops_equal_transformers_under_the_counter(
        model_type: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=5, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(dense_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        length = "n_positions" if model_type in GPT2_NAMES else "max_position_embeddings"
        keys = {**keys, length: min(keys[length], 64)}
        if model_type == "phi":  # its rotary part is cut from d/h, whatever head_dim says
            keys.pop("head_dim", None)
        folder = tmp_path_factory.mktemp("c")
        hf_config = transformers.AutoConfig.for_model(model_type, **keys)
        path = write_three_ways(hf_config, keys, model_type, folder)[2]
        flops_like_transformers(cli, hf_config, path)

    check()
