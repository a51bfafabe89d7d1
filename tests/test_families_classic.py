"""The dense, Llama-like families of ``families/classic.py`` against transformers.

For every type, random configurations from its own config class (sizes and the switches that
change the count: biases, head widths, norms, windows, multipliers and rotary fractions that
must not change it), written as save_pretrained writes them, in full, and by hand, are counted
by ``count --hf-config`` and compared with transformers' model on the meta device: the total,
every component and the size of every block; and a few of each, run under FlopCounterMode,
for the forward FLOPs (slow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc.families.classic import CLASSIC
from test_hf import counts_like_transformers, flops_like_transformers, write_three_ways

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

TYPES = [record.model_type for record in CLASSIC]
#: the switches each family reads beside the sizes
BIASES: dict[str, tuple[str, ...]] = {
    "smollm3": ("attention_bias", "mlp_bias"),
    "seed_oss": ("attention_bias", "attention_out_bias", "mlp_bias"),
    "ernie4_5": ("use_bias",),
    "hunyuan_v1_dense": ("attention_bias",),
    "granite": ("attention_bias", "mlp_bias"),
    "ministral": (),
    "ministral3": (),
    "glm": ("attention_bias",),
    "glm4": ("attention_bias",),
    "arcee": ("attention_bias", "mlp_bias"),
    "nemotron": ("attention_bias", "mlp_bias"),
}


#: the types whose attention reads head_dim with no fallback (a null is refused)
NEEDS_HEAD_DIM = ("hunyuan_v1_dense", "ministral")


def test_every_classic_family_has_its_switches_drawn() -> None:
    assert sorted(BIASES) == sorted(TYPES)


@st.composite
def classic_keys(draw: st.DrawFn, model_type: str) -> dict[str, Any]:
    """Small random keys for ``model_type``: sizes, biases and the family's own switches."""
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    kv = draw(st.sampled_from([k for k in range(1, heads + 1) if heads % k == 0]))
    layers = draw(st.integers(1, 3))
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 300)), hidden_size=heads * 2 * draw(st.integers(2, 6)),
        intermediate_size=draw(st.integers(1, 64)), num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv,
        max_position_embeddings=draw(st.integers(8, 512)),
        tie_word_embeddings=draw(st.booleans()),
        pad_token_id=None)  # the defaults (GLM's 151329, …) lie past a small vocabulary
    # a head width of its own, a multiple of 4 so that any rotary fraction below stays even;
    # HunYuan's and Ministral's attention read head_dim with no fallback: they always have one
    head_dim = draw(st.integers(1, 6).map(lambda x: 4 * x) if model_type in NEEDS_HEAD_DIM
                    else st.none() | st.integers(1, 6).map(lambda x: 4 * x))
    if head_dim is not None:
        keys["head_dim"] = head_dim
    for name in BIASES[model_type]:
        keys[name] = draw(st.booleans())
    if model_type == "smollm3":  # no_rope_layers and a window that is never switched on
        keys["no_rope_layer_interval"] = draw(st.integers(1, 4))
        keys["sliding_window"] = draw(st.none() | st.integers(1, 64))
    if model_type == "granite":  # scalars: no parameters
        keys.update(embedding_multiplier=draw(st.sampled_from([1.0, 12.0])),
                    residual_multiplier=draw(st.sampled_from([1.0, 0.22])),
                    logits_scaling=draw(st.sampled_from([1.0, 8.0])))
    if model_type in ("ministral", "ministral3"):
        keys["sliding_window"] = draw(st.none() | st.integers(1, 64))
    if model_type == "ministral" and keys["sliding_window"] is not None and draw(st.booleans()):
        keys["layer_types"] = draw(st.lists(st.sampled_from(["full_attention",
                                                             "sliding_attention"]),
                                            min_size=layers, max_size=layers))
    if model_type in ("glm", "nemotron"):  # a rotary part of each head: no parameters
        keys["partial_rotary_factor"] = draw(st.sampled_from([0.5, 1.0]))
    return keys


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_random_configurations_count_like_transformers(model_type: str, tmp_path_factory:
                                                       pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(classic_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        counts_like_transformers(cli, keys, model_type, tmp_path_factory.mktemp("c"))

    check()


def test_smollm3_s_sliding_window_is_refused_by_name(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "smollm3", "use_sliding_window": true, '
                    '"sliding_window": 16}')
    assert cli.error("count", "--hf-config", str(path)) == (
        f"Error: {path}: use_sliding_window = true slides the layers that no_rope_layers "
        "leaves without rotary, a pattern paramcalc does not read; paramcalc cannot count "
        "this model")


def test_ministral_s_sliding_layers_cache_the_window(tmp_path: Path, cli: Cli) -> None:
    """Two layers of four slide over 8 tokens: at a context of 100 they hold the window less
    the token being made, 7 keys and values, the full layers 100 (hand arithmetic: g·d_h =
    2·8 = 16 values each, 4 bytes in fp32)."""
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "ministral", "vocab_size": 40, "hidden_size": 32, '
                    '"intermediate_size": 16, "num_hidden_layers": 4, "num_attention_heads": 4, '
                    '"num_key_value_heads": 2, "head_dim": 8, "sliding_window": 8, "layer_types": '
                    '["sliding_attention", "full_attention", "sliding_attention", '
                    '"full_attention"]}')
    obj = cli.json("flops", "--hf-config", str(path), "--dtype", "fp32", "--context", "100")
    assert obj["memory"]["kv_cache"] == 2 * 4 * 16 * (7 + 100) * 2


@pytest.mark.parametrize("model_type", NEEDS_HEAD_DIM, ids=str)
def test_no_head_width_is_refused_where_transformers_builds_nothing(
        model_type: str, tmp_path: Path, cli: Cli) -> None:
    with pytest.raises(TypeError), torch.device("meta"):  # transformers' own model for it
        transformers.AutoModelForCausalLM.from_config(
            transformers.AutoConfig.for_model(model_type, head_dim=None))
    path = tmp_path / "config.json"
    path.write_text(f'{{"model_type": "{model_type}", "head_dim": null}}')
    assert cli.error("count", "--hf-config", str(path)) == (
        f"Error: {path}: head_dim = null leaves the attention without a head width "
        "(transformers reads it with no fallback); paramcalc cannot count this model")


@pytest.mark.slow  # transformers' models, built and run under the counter
@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_forward_flops_equal_transformers_under_the_counter(
        model_type: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=5, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(classic_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        keys = {**keys, "max_position_embeddings": min(keys["max_position_embeddings"], 64)}
        if model_type == "ministral" and keys["sliding_window"] is None:  # its forward asks
            keys["sliding_window"] = 64  # for a window even where no layer slides
        folder = tmp_path_factory.mktemp("c")
        hf_config = transformers.AutoConfig.for_model(model_type, **keys)
        path = write_three_ways(hf_config, keys, model_type, folder)[2]
        flops_like_transformers(cli, hf_config, path)

    check()
