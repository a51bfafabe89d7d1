"""An independent implementation: the transformers library's GPT-2 and CTRL, on the meta device."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from paramcalc import ModelConfig, budget, from_name

transformers = pytest.importorskip("transformers")


def _unique(module: torch.nn.Module, seen: set[int]) -> int:
    total = 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def gpt2_counts(config: ModelConfig) -> dict[str, int]:
    hf = transformers.GPT2Config(vocab_size=config.vocab_size, n_positions=config.n_positions,
                                 n_embd=config.d_model, n_layer=config.num_blocks,
                                 n_head=config.n_heads, n_inner=config.d_ff)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(hf)
    seen: set[int] = set()
    t = model.transformer
    return {"embedding": _unique(t.wte, seen), "positional": _unique(t.wpe, seen),
            "blocks": _unique(t.h, seen), "final_norm": _unique(t.ln_f, seen),
            "head": _unique(model.lm_head, seen), "total": _unique(model, set())}


def ctrl_counts(config: ModelConfig) -> dict[str, int]:
    hf = transformers.CTRLConfig(vocab_size=config.vocab_size, n_positions=config.seq_length,
                                 n_embd=config.d_model, dff=config.d_ff, n_layer=config.num_blocks,
                                 n_head=config.n_heads)
    with torch.device("meta"):
        model = transformers.CTRLLMHeadModel(hf)
    seen: set[int] = set()
    t = model.transformer
    return {"embedding": _unique(t.w, seen), "positional": 0, "blocks": _unique(t.h, seen),
            "final_norm": _unique(t.layernorm, seen), "head": _unique(model.lm_head, seen),
            "total": _unique(model, set())}


def _ours(config: ModelConfig) -> dict[str, int]:
    params = budget(config).params
    return {k: params[k] for k in ("embedding", "positional", "blocks", "final_norm", "head",
                                   "total")}


@pytest.mark.parametrize("name", ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"], ids=str)
def test_gpt2_presets_equal_gpt2lmheadmodel(name: str) -> None:
    config = from_name(name).config
    assert _ours(config) == gpt2_counts(config)


def test_ctrl_preset_equals_ctrllmheadmodel() -> None:
    config = from_name("ctrl").config
    assert _ours(config) == ctrl_counts(config)
    assert ctrl_counts(config)["total"] == 1_637_964_550


@st.composite
def shapes(draw: st.DrawFn) -> dict:
    n_heads = draw(st.integers(1, 4))
    return dict(vocab_size=draw(st.integers(2, 500)), seq_length=draw(st.integers(1, 64)),
                d_model=n_heads * draw(st.integers(1, 16)), num_blocks=draw(st.integers(1, 3)),
                n_heads=n_heads, d_ff=draw(st.integers(1, 96)), block="transformer",
                final_norm=True, head="tied")


@settings(max_examples=25, deadline=None, derandomize=True)
@given(shapes())
def test_random_gpt2_shaped_configurations(shape: dict) -> None:
    config = ModelConfig(**shape, positional="learned")
    assert _ours(config) == gpt2_counts(config)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(shapes())
def test_random_ctrl_shaped_configurations(shape: dict) -> None:
    config = ModelConfig(**shape, positional="sinusoidal", logits_bias=True)
    assert _ours(config) == ctrl_counts(config)
