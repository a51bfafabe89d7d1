"""The reference figures (README.md; the research log; transformers' own classes), pinned.

The expected numbers come from the log's Keras summaries and from the transformers
library's model classes, never from paramcalc itself.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

import paramcalc
from paramcalc import budget, from_name

# the log's Keras summaries for id4/id6, GPT2LMHeadModel / CTRLLMHeadModel for the rest
TOTALS = {
    "id4": 137_105,
    "id6": 215_168,
    "gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
    "ctrl": 1_637_964_550,
    # transformers' own classes on the meta device (LlamaForCausalLM, MistralForCausalLM, …),
    # shared tensors once: the figures of the issue that asked for these presets
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.2-1b": 1_235_814_400,
    "mistral-7b": 7_241_732_096,
    "qwen2.5-7b": 7_615_616_512,
    "gemma-2-2b": 2_614_341_888,
    "phi-3-mini": 3_821_079_552,
    "olmo-2-7b": 7_298_617_344,
    "gpt-neox-20b": 20_554_567_680,
    "mixtral-8x7b": 46_702_792_704,
    "qwen3-30b-a3b": 30_532_122_624,
    "deepseek-v3": 671_026_404_352,
    # OlmoeForCausalLM for examples/olmoe-1b-7b (transformers 5.24, meta device): run once,
    # written here
    "olmoe-1b-7b": 6_919_161_856,
    "phimoe-3.5": 41_873_153_344,  # PhimoeForCausalLM for examples/phimoe-3.5, likewise
    # LlamaForCausalLM at the published shape (meta device, transformers 5.24)
    "llama-3.1-70b": 70_553_706_496,
    # transformers' GptOssForCausalLM on the meta device: the figures of the issue that asked
    "gpt-oss-120b": 116_829_156_672,
    "gpt-oss-20b": 20_914_757_184,
    # the language model and lm_head of Gemma3ForConditionalGeneration for
    # examples/gemma-3-27b (meta device, transformers 5.24; the vision tower not counted):
    # pinned against transformers below
    "gemma-3-27b": 27_009_346_304,
}

# the active parameters per token: the total less the experts a token is not routed to
# (transformers' counts on the meta device, as the issue that asked for them gives them)
ACTIVE = {
    "mixtral-8x7b": 12_879_925_248,
    "qwen3-30b-a3b": 3_353_032_704,
    "deepseek-v3": 37_552_282_624,
    "olmoe-1b-7b": 1_282_017_280,
    # the total less 32 of 36 (120b) or of 32 (20b) experts in every layer, with their biases
    "gpt-oss-120b": 5_711_982_912,
    "gpt-oss-20b": 4_187_440_704,
    "phimoe-3.5": 6_640_999_744,
}


@pytest.mark.parametrize("name", sorted(TOTALS), ids=str)
def test_active_parameters(name: str) -> None:
    params = budget(from_name(name).config).params
    assert params["active"] == ACTIVE.get(name, TOTALS[name])  # a dense model: all of them


def test_every_shipped_preset_has_a_pinned_total() -> None:
    assert sorted(paramcalc.names()) == sorted(TOTALS)


@pytest.mark.parametrize("name", sorted(TOTALS), ids=str)
def test_preset_total(name: str) -> None:
    assert budget(from_name(name).config).params["total"] == TOTALS[name]


@pytest.mark.parametrize("name", sorted(TOTALS), ids=str)
def test_components_add_up_to_the_total(name: str) -> None:
    b = budget(from_name(name).config)
    params = b.params
    parts = ("embedding", "positional", "blocks", "final_norm", "head")
    assert sum(params[p] for p in parts) == params["total"]
    kinds = b.kind_params()
    assert params["blocks"] == sum(k["count"] * k["per_block"] for k in kinds)  # type: ignore[operator]
    assert sum(k["count"] for k in kinds) == from_name(name).config.num_blocks  # type: ignore[misc]
    if len(kinds) == 1:
        assert params["per_block"] == kinds[0]["per_block"]


def test_id4_matches_the_logs_keras_summary() -> None:
    params = budget(from_name("id4").config).params
    assert params["embedding"] == 4_112
    assert params["positional"] == 0
    assert params["blocks"] == params["per_block"] == 1_152
    assert params["head"] == 131_841


def test_id6_matches_the_logs_keras_summary() -> None:
    params = budget(from_name("id6").config).params
    assert params["embedding"] == 16_448
    assert params["per_block"] == 16_896
    assert params["blocks"] == 4 * 16_896
    assert params["head"] == 131_136


def test_seed_block_counts_at_the_logs_two_widths() -> None:
    for d_model, expected in ((16, 1_152), (64, 16_896)):
        config = paramcalc.ModelConfig(vocab_size=257, seq_length=32, d_model=d_model, num_blocks=1)
        assert budget(config).params["per_block"] == expected


def test_ctrl_head_owns_only_its_logits_bias() -> None:
    params = budget(from_name("ctrl").config).params
    assert params["head"] == 246_534
    assert params["embedding"] == 246_534 * 1_280


def test_gpt2_tied_head_owns_nothing_and_the_ratio_is_infinite() -> None:
    ratio = budget(from_name("gpt2").config).ratio
    assert ratio.exact is None and ratio.value is None
    assert ratio.note is not None and "owns no parameters" in ratio.note


def test_id4_ratio_is_about_one_in_130_as_the_log_says() -> None:
    ratio = budget(from_name("id4").config).ratio
    assert ratio.value == Fraction(1_152, 131_841)
    # the log's leading-order ratio 4·n·d/(S·V) = 64/8224: "ratio = 1/130"
    assert ratio.approx_value == Fraction(4 * 1 * 16, 32 * 257)
    assert 125 < 1 / ratio.approx_value < 135


def test_gpt2_xl_with_the_logs_architecture_gives_its_82g_and_491m() -> None:
    # the log applies its own model (seed blocks, flatten head) to GPT-2 XL's sizes
    config = from_name("gpt2-xl").config.replace(head="flatten", block="seed")
    approx = budget(config).approx_params
    assert approx["head"] == 1_024 * 1_600 * 50_257  # S·d·V ≈ 82G
    assert round(approx["head"] / 1e9) == 82
    assert approx["blocks"] == 4 * 48 * 1_600**2 == 491_520_000  # 4·n·d² ≈ 491M


def test_log_slip_tied_flatten_ratio_at_id4_sizes_is_one_eighth_not_eight() -> None:
    config = from_name("id4").config.with_head("tied-flatten")
    assert budget(config).ratio.approx_value == Fraction(4 * 1, 32)  # 4·n/S = 1/8


def test_leading_order_is_the_logs_approximation() -> None:
    b = budget(from_name("id4").config)
    d, n, S, V = (paramcalc.symbols.SYMBOLS[k] for k in
                  ("d_model", "num_blocks", "seq_length", "vocab_size"))
    assert b.components["blocks"].approx == 4 * n * d**2
    assert b.components["head"].approx == S * d * V
    assert b.ratio.approx == 4 * n * d / (S * V)


def test_gemma_3_27b_is_the_language_model_transformers_builds() -> None:
    # counted on transformers' own wrapper: everything but the vision tower and projector
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "examples" / "gemma-3-27b"
    with torch.device("meta"):
        model = transformers.AutoModelForImageTextToText.from_config(
            transformers.AutoConfig.from_pretrained(folder))
    language = {id(p): p for p in (*model.model.language_model.parameters(),
                                   *model.lm_head.parameters())}
    assert sum(p.numel() for p in language.values()) == TOTALS["gemma-3-27b"]
