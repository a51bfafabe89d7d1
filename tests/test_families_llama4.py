"""Llama 4 (``llama4_text`` and the ``llama4`` wrapper) against transformers' own models.

Random configurations from its own config class (sizes, biases, head widths, the experts and
which layers hold them by ``interleave_moe_layer_step`` or ``moe_layers``, the chunked layers
by ``no_rope_layers``, ``no_rope_layer_interval`` or a listed ``layer_types``, and the switches
that hold no weights: ``use_qk_norm``, ``attn_temperature_tuning``), written as save_pretrained
writes them, in full and by hand, count as transformers' model: the total, the active count,
every component, the size of every block, which blocks hold experts and which attend within
chunks. The defaults are Llama 4 Scout's language model, by hand. A small model checks clean
against paramcalc's own modules and transformers; the KV cache after a generation past the
chunk is what transformers' cache holds; the forward FLOPs are FlopCounterMode's less the
experts transformers runs on tokens not routed to them (slow); paramcalc's own chunked
attention sees its chunk and nothing before it; the wrapper counts as its language model,
tied by the text config alone; and what paramcalc cannot count is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import ModelConfig

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from test_hf import counts_like_transformers, write_three_ways  # noqa: E402  (needs transformers)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut


@st.composite
def llama4_text_keys(draw: st.DrawFn, context: int = 512) -> dict[str, Any]:
    """Small random keys for llama4_text, every switch drawn."""
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    kv = draw(st.sampled_from([k for k in range(1, heads + 1) if heads % k == 0]))
    layers = draw(st.integers(1, 5))
    routed = draw(st.integers(1, 6))
    flag = st.booleans()
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(8, 300)), hidden_size=heads * 2 * draw(st.integers(1, 6)),
        intermediate_size=draw(st.integers(1, 32)),
        intermediate_size_mlp=draw(st.integers(1, 48)), num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv,
        max_position_embeddings=draw(st.integers(8, context)), tie_word_embeddings=draw(flag),
        attention_bias=draw(flag), num_local_experts=routed,
        num_experts_per_tok=draw(st.integers(1, routed)),
        interleave_moe_layer_step=draw(st.integers(1, 3)), use_qk_norm=draw(flag),
        attn_temperature_tuning=draw(flag), no_rope_layer_interval=draw(st.integers(1, 4)),
        attention_chunk_size=draw(st.none() | st.integers(1, 16)), pad_token_id=None)
    head_dim = draw(st.none() | st.integers(1, 12).map(lambda x: 2 * x))  # rotary: even
    if head_dim is not None:
        keys["head_dim"] = head_dim
    if draw(flag):  # layers past the last, and negative ones, hold nothing
        keys["moe_layers"] = draw(st.lists(st.integers(-1, layers + 1), unique=True))
    if draw(flag):  # one per layer: the config class makes layer_types of as many
        keys["no_rope_layers"] = draw(st.lists(st.sampled_from([0, 1]), min_size=layers,
                                               max_size=layers))
    if draw(flag):
        keys["attention_chunk_size"] = draw(st.integers(1, 16))
        keys["layer_types"] = draw(st.lists(st.sampled_from(
            ["full_attention", "chunked_attention"]), min_size=layers, max_size=layers))
    return keys


def _layers_of(keys: dict[str, Any]) -> tuple[int, int]:
    """transformers' MoE layers and chunked layers for ``keys``."""
    hf = transformers.AutoConfig.for_model("llama4_text", **keys)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf)
    moe = sum(layer.is_moe_layer for layer in model.model.layers)
    return moe, hf.layer_types.count("chunked_attention")


def test_random_llama4_text_configurations_count_like_transformers(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=30, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(llama4_text_keys())
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, "llama4_text", tmp_path_factory.mktemp("c"))
        moe, chunked = _layers_of(keys)
        for obj in counted:
            kinds = {kind["kind"]: kind["count"] for kind in obj["block_kinds"]}
            assert sum(n for kind, n in kinds.items() if kind.endswith("moe")) == moe, keys
            assert sum(n for kind, n in kinds.items() if kind.startswith("chunked")) == \
                chunked, keys

    check()


def test_the_defaults_are_llama_4_scout_s_language_model(tmp_path: Path, cli: Cli) -> None:
    """Llama4TextConfig's defaults (Scout: 48 layers, each with 16 experts and a shared one):
    by hand, and as transformers builds them on the meta device."""
    (tmp_path / "config.json").write_text('{"model_type": "llama4_text"}')
    obj = cli.json("count", "--hf-config", str(tmp_path))
    d, vocab, layers, experts, width = 5120, 202048, 48, 16, 8192
    attention = d * 40 * 128 * 2 + 2 * d * 8 * 128  # q and o, k and v
    moe = d * experts + experts * 3 * d * width + 3 * d * width  # router, experts, shared
    block = attention + moe + 2 * d
    assert obj["params"]["total"] == 2 * vocab * d + layers * block + d == 107_769_861_120
    assert obj["params"]["active"] == obj["params"]["total"] - layers * 15 * 3 * d * width \
        == 17_172_894_720
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(transformers.Llama4TextConfig())
    assert sum(p.numel() for p in model.parameters()) == 107_769_861_120
    # every layer but each fourth attends within chunks of 8,192
    kinds = {kind["kind"]: kind["count"] for kind in obj["block_kinds"]}
    assert kinds == {"full-moe": 12, "chunked-moe": 36}
    assert obj["config"]["attention_chunk_size"] == 8192


SMALL = dict(vocab_size=40, hidden_size=16, intermediate_size=8, intermediate_size_mlp=24,
             num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
             max_position_embeddings=32, num_local_experts=3, num_experts_per_tok=2,
             interleave_moe_layer_step=2, attention_chunk_size=4, pad_token_id=None)


def test_a_small_llama4_text_checks_clean(tmp_path: Path, cli: Cli) -> None:
    """paramcalc's own modules and transformers' model for the same file: every component,
    the blocks of each kind and the active count agree with the formulas."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama4_text", **SMALL}))
    assert cli.json("check", "--hf-config", str(path))["ok"]
    rows = cli.json("check", "--hf-config", str(path), "--against", "transformers")["rows"]
    assert all(row["ok"] for row in rows), rows
    kinds = {kind["kind"]: kind["count"] for kind in cli.json(
        "count", "--hf-config", str(path))["block_kinds"]}
    assert kinds == {"full-moe": 1, "chunked-dense": 2, "chunked-moe": 1}


def test_llama4_text_s_cache_is_what_transformers_fills_past_the_chunk(tmp_path: Path,
                                                                       cli: Cli) -> None:
    keys = {**SMALL, "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 64, "pad_token_id": 0, "bos_token_id": 1,
            "eos_token_id": 2}
    hf = transformers.AutoConfig.for_model("llama4_text", **keys)
    assert hf.layer_types == ["chunked_attention"] * 3 + ["full_attention"]
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
    # by hand: the full layer keeps 11 tokens, the 3 chunked ones the chunk less one (3): keys
    # and values of 2 heads of 8 in fp32
    assert held == 2 * 2 * 8 * 4 * (11 + 3 * 3)


def test_a_chunked_layer_of_paramcalc_s_modules_sees_its_chunk_alone() -> None:
    """One block attending within chunks of 3: a token of an earlier chunk changes no output
    of a later one, while a token of a position's own chunk, before it, does."""
    from paramcalc.modules import build

    config = ModelConfig(vocab_size=20, seq_length=8, d_model=8, num_blocks=1, n_heads=2,
                         block="transformer", positional="rotary", norm="rmsnorm",
                         mlp="gated", head="linear", attention_chunk_size=3)
    torch.manual_seed(0)
    model = build(config).eval()
    tokens = torch.randint(0, 20, (1, 8))
    changed = tokens.clone()
    changed[0, 1] = (tokens[0, 1] + 1) % 20  # position 1, in the first chunk (0, 1, 2)
    with torch.no_grad():
        before, after = model(tokens, every_position=True), model(changed, every_position=True)
    assert torch.equal(before[0, 3:], after[0, 3:])  # chunks (3, 4, 5) and (6, 7)
    assert not torch.allclose(before[0, 2], after[0, 2])  # its own chunk, later
    changed = tokens.clone()
    changed[0, 3] = (tokens[0, 3] + 1) % 20
    with torch.no_grad():
        after = model(changed, every_position=True)
    assert not torch.allclose(before[0, 5], after[0, 5])
    assert torch.equal(before[0, 6:], after[0, 6:])


def test_causal_flops_of_a_chunked_layer_count_each_chunk_s_triangle() -> None:
    """The causal convention over chunks of 4 in 10 tokens: the pairs each query multiplies,
    walked one query at a time (positions 0–3, 4–7 and 8–9), times 2·h·d_h twice."""
    from paramcalc import budget
    from paramcalc.papers import layer_flops

    config = ModelConfig(vocab_size=20, seq_length=10, d_model=8, num_blocks=1, n_heads=2,
                         block="transformer", attention_chunk_size=4)
    result = budget(config)
    (kind,) = result.kinds
    attention = kind.layers[0]
    assert attention.kind == "chunked_attention"
    pairs = sum(i % 4 + 1 for i in range(10))
    assert pairs == 10 + 10 + 3
    values = config.values()
    causal = layer_flops([attention], "causal", values).xreplace(values)
    full = layer_flops([attention], "full", values).xreplace(values)
    assert full - causal == 2 * 2 * 2 * 4 * (10 * 10 - pairs)  # q·kᵀ and scores·v per head


@pytest.mark.slow  # transformers' models, built and run under the counter
def test_llama4_text_s_forward_flops_are_transformers_less_the_unrouted_experts(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """transformers' Llama 4 runs every expert on every token and scales the unrouted ones by
    0: FlopCounterMode counts E experts a token where paramcalc counts the K it is routed to,
    so the counter's total less (E − K) experts' 6·d·f_E per token and MoE layer is
    paramcalc's forward."""
    from torch.utils.flop_counter import FlopCounterMode

    from test_compute import countable

    cli = Cli()

    @settings(max_examples=8, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(llama4_text_keys(context=48))
    def check(keys: dict[str, Any]) -> None:
        hf_config = transformers.AutoConfig.for_model("llama4_text", **keys)
        path = write_three_ways(hf_config, keys, "llama4_text", tmp_path_factory.mktemp("c"))[0]
        obj = cli.json("flops", "--hf-config", str(path))
        hf_config._attn_implementation = "eager"
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(hf_config).eval()
        model.requires_grad_(False)
        length = obj["config"]["seq_length"]
        tokens = torch.randint(0, hf_config.vocab_size, (1, length))
        with countable(), torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(input_ids=tokens, use_cache=False)
        moe = sum(layer.is_moe_layer for layer in model.model.layers)
        unrouted = keys["num_local_experts"] - keys["num_experts_per_tok"]
        extra = moe * unrouted * length * 6 * keys["hidden_size"] * keys["intermediate_size"]
        assert obj["flops"]["forward"]["total"] == counter.get_total_flops() - extra, keys

    check()


def _refused(cli: Cli, tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(f'{{"model_type": "llama4_text", {text}}}')
    return cli.error("count", "--hf-config", str(path)).removeprefix(f"Error: {path}: ")


def test_what_llama4_text_cannot_count_is_refused_in_one_line(tmp_path: Path, cli: Cli) -> None:
    assert _refused(cli, tmp_path, '"num_hidden_layers": 2, "layer_types": ["full_attention", '
                    '"sliding_attention"]') == (
        "layer_types must name one of full_attention or chunked_attention for each of the 2 "
        "layers, got ['full_attention', 'sliding_attention']")
    assert _refused(cli, tmp_path, '"num_hidden_layers": 2, "attention_chunk_size": null, '
                    '"layer_types": ["full_attention", "chunked_attention"]') == (
        "attention_chunk_size = null leaves the chunked_attention layers of layer_types "
        "without a chunk; paramcalc cannot count this model")
    assert _refused(cli, tmp_path, '"num_hidden_layers": 3, "no_rope_layers": [1, 0]') == (
        "no_rope_layers lists 2 layers, but num_hidden_layers is 3")
    assert _refused(cli, tmp_path, '"num_hidden_layers": 1, "no_rope_layers": [1, 0]') == (
        "no_rope_layers lists 2 layers, but num_hidden_layers is 1")
    assert _refused(cli, tmp_path, '"num_local_experts": 0') == (
        "num_local_experts = 0 builds layers of experts with no experts in them (a router and "
        "no feed-forward part); paramcalc cannot count this model")
    assert _refused(cli, tmp_path, '"attention_chunk_size": 0') == (
        "attention_chunk_size must be a positive integer or null, got 0")


def test_moe_layers_and_no_rope_layers_count_as_transformers_builds_them(tmp_path: Path,
                                                                         cli: Cli) -> None:
    """moe_layers [0, 2] of 4 overrides the step; no_rope_layers [0, 1, 0, 1] makes layers 1
    and 3 chunked; moe_layers [] leaves a dense model."""
    keys = {**SMALL, "moe_layers": [0, 2], "no_rope_layers": [0, 1, 0, 1]}
    obj = counts_like_transformers(cli, keys, "llama4_text", tmp_path / "a")[2]
    assert {kind["kind"]: kind["count"] for kind in obj["block_kinds"]} == \
        {"full-moe": 2, "chunked-dense": 2}
    obj = counts_like_transformers(cli, {**SMALL, "moe_layers": []}, "llama4_text",
                                   tmp_path / "b")[2]
    assert obj["params"]["active"] == obj["params"]["total"]
    assert not any(kind["kind"].endswith("moe") for kind in obj["block_kinds"])


# -- the llama4 wrapper: a causal LM inside, its output layer its own -----------------------

_VISION = dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
               image_size=28, patch_size=14, vision_output_dim=16, projector_input_dim=16,
               projector_output_dim=16)


def _language_model(hf_config: Any) -> tuple[Any, int]:
    """transformers' wrapper for ``hf_config`` on meta, and its language model's count (the
    causal LM it holds, output layer included, a tied tensor once)."""
    with torch.device("meta"):
        model = transformers.AutoModelForImageTextToText.from_config(hf_config)
    assert {name for name, _ in model.named_children()} == \
        {"vision_model", "multi_modal_projector", "language_model"}
    return model, sum(p.numel() for p in model.language_model.parameters())


@pytest.mark.parametrize("wrapper_tie", [None, False, True], ids=str)
@pytest.mark.parametrize("text_tie", [None, False, True], ids=str)
def test_the_llama4_wrapper_counts_its_language_model_tied_by_its_text_config(
        wrapper_tie: bool | None, text_tie: bool | None, tmp_path: Path, cli: Cli) -> None:
    text = dict(SMALL) if text_tie is None else {**SMALL, "tie_word_embeddings": text_tie}
    own = {} if wrapper_tie is None else {"tie_word_embeddings": wrapper_tie}
    hf_config = transformers.AutoConfig.for_model("llama4", text_config=text,
                                                  vision_config=_VISION, **own)
    model, expected = _language_model(hf_config)
    language = model.language_model
    assert (language.lm_head.weight is language.model.embed_tokens.weight) == bool(text_tie)
    hf_config.save_pretrained(tmp_path / "saved")
    (tmp_path / "hand").mkdir()
    (tmp_path / "hand" / "config.json").write_text(json.dumps(
        {"model_type": "llama4", **own, "text_config": text}))
    for folder in ("saved", "hand"):
        obj = cli.json("count", "--hf-config", str(tmp_path / folder))
        assert obj["params"]["total"] == expected, folder
        assert obj["part"] == "language model"
        assert obj["not_counted"] == ["vision tower", "multimodal projector"]


def test_the_llama4_wrapper_s_default_is_scout_s_language_model(tmp_path: Path,
                                                                cli: Cli) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama4"}')
    _, expected = _language_model(transformers.Llama4Config())
    assert cli.json("count", "--hf-config", str(tmp_path))["params"]["total"] == expected \
        == 107_769_861_120


def test_the_llama4_wrapper_checks_against_transformers_and_its_checkpoint(
        tmp_path: Path, cli: Cli) -> None:
    hf_config = transformers.AutoConfig.for_model("llama4", text_config=SMALL,
                                                  vision_config=_VISION)
    hf_config.save_pretrained(tmp_path / "config")
    obj = cli.json("check", "--hf-config", str(tmp_path / "config"), "--against",
                   "transformers")
    assert obj["ok"], [row for row in obj["rows"] if not row["ok"]]
    model = transformers.AutoModelForImageTextToText.from_config(hf_config)  # real tensors
    model.save_pretrained(tmp_path / "weights")
    obj = cli.json("check", "--weights", str(tmp_path / "weights"))
    assert obj["ok"] and obj["weights"]["unplaced"] == []
    expected = sum(p.numel() for p in model.language_model.parameters())
    total = next(row for row in obj["rows"] if row["component"] == "total")
    assert total["instantiated"] == expected
    towers = obj["weights"]["components"]["not_counted"]["params"]
    assert towers == sum(p.numel() for p in model.parameters()) - expected
