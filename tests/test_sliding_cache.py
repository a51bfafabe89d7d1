"""Sliding-window layers hold the window, not the context: the KV cache per kind of block,
by hand and against the cache transformers fills during a generation longer than the window."""

from __future__ import annotations

import pytest

from paramcalc import ModelConfig, budget, from_name
from paramcalc.compute import Settings, compute


def test_gemma_2_2b_at_8k_by_hand() -> None:
    # per layer and token: keys and values of 4 heads of 256, in bf16: 2·4·256·2 = 4,096 bytes;
    # 13 full layers hold 8,192 tokens, 13 sliding ones the window less the token being made
    memory = compute(budget(from_name("gemma-2-2b").config), Settings(context=8192)).memory
    assert memory["kv_cache_by_kind"] == {"full": 4096 * 13 * 8192, "sliding": 4096 * 13 * 4095}
    assert memory["kv_cache"] == 4096 * 13 * (8192 + 4095)
    # below the window both kinds hold every token
    short = compute(budget(from_name("gemma-2-2b").config), Settings(context=1000)).memory
    assert short["kv_cache"] == 4096 * 26 * 1000



@pytest.mark.parametrize("name, layers, per_token, window", [
    # Mistral 7B v0.1: 8 key/value heads of 128 in bf16, every layer in a 4,096 window
    ("mistral-7b", 32, 2 * 8 * 128 * 2, 4096),
    # Phi-3 mini 4k: 32 key/value heads of 96, every layer in a 2,047 window
    ("phi-3-mini", 32, 2 * 32 * 96 * 2, 2047),
])
def test_presets_whose_every_layer_slides_hold_the_window(name: str, layers: int,
                                                          per_token: int, window: int) -> None:
    """As their published config.json says (sliding_window), and as examples/NAME reads."""
    config = from_name(name).config
    memory = compute(budget(config), Settings(context=config.seq_length)).memory
    assert memory["kv_cache_by_kind"] == {"sliding": layers * per_token * (window - 1)}
    from paramcalc.families import load

    example = load(f"examples/{name}").config
    assert compute(budget(example), Settings(context=config.seq_length)).memory == memory

@pytest.mark.mutation_skip
@pytest.mark.parametrize("family", ["mistral", "gemma2"])
def test_the_cache_transformers_fills_past_the_window(family: str) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    sizes = dict(vocab_size=32, hidden_size=32, intermediate_size=16, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                 sliding_window=3)
    if family == "mistral":  # every layer slides
        hf = transformers.MistralConfig(**sizes)
        pattern: dict = {}
    else:  # Gemma 2: layer 0 slides, layer 1 in full, …
        hf = transformers.Gemma2Config(**sizes, head_dim=8)
        assert hf.layer_types == ["sliding_attention", "full_attention"] * 2
        pattern = {"full_every": 2, "head_dim": 8}
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(0, 32, (1, 7)), max_new_tokens=5, do_sample=False,
                             use_cache=True, return_dict_in_generate=True, pad_token_id=0)
    cache = out.past_key_values
    held = sum(t.numel() * t.element_size() for layer in cache.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    config = ModelConfig(vocab_size=32, seq_length=64, d_model=32, num_blocks=4, n_heads=4,
                         n_kv_heads=2, d_ff=16, block="transformer", sliding_window=3,
                         **pattern)
    memory = compute(budget(config), Settings(dtype="fp32", context=tokens)).memory
    assert memory["kv_cache"] == held


def _windowed() -> list[str]:
    from paramcalc.families import RECORDS

    return [record.model_type for record in RECORDS if record.windows is not None]


@pytest.mark.mutation_skip
@pytest.mark.parametrize("model_type", _windowed(), ids=str)
def test_every_family_with_windows_holds_what_transformers_fills(model_type: str,
                                                                 tmp_path) -> None:
    """For every family that reads a sliding window, its own config class with a window of 3
    (switched on where a flag switches it), saved as save_pretrained writes it, read back by
    paramcalc: the KV cache ``fit`` and ``flops`` count after a generation past the window is
    what transformers' cache holds (fp32 here)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    from test_check_weights import _keys

    from paramcalc.families import load
    from paramcalc.fit import Serving, fit

    keys = {**_keys(model_type), "num_hidden_layers": 4, "max_position_embeddings": 64,
            "sliding_window": 3, "use_sliding_window": True, "max_window_layers": 1}
    if model_type in ("mistral", "mixtral", "phi3", "phimoe", "starcoder2", "ministral",
                      "ministral3", "gpt_oss", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
                      "gemma2", "gemma3_text"):
        keys.pop("layer_types", None)
    if model_type == "gpt_oss":
        keys.update(num_local_experts=2, num_experts_per_tok=1, head_dim=8)
    hf = transformers.AutoConfig.for_model(model_type, **keys)
    hf.save_pretrained(tmp_path)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(1, 32, (1, 7)), max_new_tokens=5, do_sample=False,
                             min_new_tokens=5, use_cache=True, return_dict_in_generate=True,
                             pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    config = load(tmp_path).config
    memory = compute(budget(config), Settings(dtype="fp32", context=tokens)).memory
    assert memory["kv_cache"] == held
    assert held < memory["kv_cache_per_token"] * tokens  # some layer does slide
    served = fit(config, Serving(context=tokens)).memory["kv_cache"]
    assert served * 2 == held  # fit's KV dtype is bf16: half of fp32's bytes
