"""Leading order that means what the log meant: widths, lengths, the vocabulary and the number
of blocks carry degree 1; counts of heads, key/value groups and experts none. So the leading
order does not depend on whether head_dim and n_kv_heads were given or left to follow."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramcalc import ModelConfig, budget, from_name, names
from paramcalc.compute import compute

#: the log's own presets, whose blocks the log approximates as 4·n·d² (seed blocks)
LOG = ("id4", "id6")


def spelled_out(config: ModelConfig) -> ModelConfig:
    """The same model with head_dim and n_kv_heads given at the values they follow."""
    return config.replace(head_dim=config.head_dim, n_kv_heads=config.n_kv_heads)


def leading_values(config: ModelConfig) -> tuple[dict[str, int], dict[str, int]]:
    b = budget(config)
    c = compute(b)
    flops = {name: int(b.evaluate(count.approx)) for name, count in c.forward.items()}
    return b.approx_params, flops


@pytest.mark.parametrize("preset", [p for p in names() if from_name(p).config.block ==
                                    "transformer"], ids=str)
def test_leading_order_is_the_same_given_or_followed(preset: str) -> None:
    config = from_name(preset).config
    assert leading_values(config) == leading_values(spelled_out(config))


@settings(max_examples=40, deadline=None)
@given(heads=st.sampled_from([1, 2, 4, 8]), width=st.integers(1, 16), groups=st.integers(0, 3),
       experts=st.integers(0, 8), gated=st.booleans(), latent=st.booleans())
def test_leading_order_is_the_same_for_random_configurations(heads: int, width: int, groups: int,
                                                             experts: int, gated: bool,
                                                             latent: bool) -> None:
    kv = max(1, heads >> groups)
    values: dict = dict(vocab_size=1000, seq_length=64, d_model=heads * width * 8, num_blocks=4,
                        n_heads=heads, n_kv_heads=kv, block="transformer",
                        mlp="gated" if gated else "plain", head="linear")
    if experts:
        values.update(num_experts=experts, experts_per_token=max(1, experts // 2))
    if latent:
        values.update(kv_lora_rank=32, qk_rope_head_dim=8)
    config = ModelConfig(**values)
    assert leading_values(config) == leading_values(spelled_out(config))


@pytest.mark.parametrize("preset", [p for p in names() if p not in LOG], ids=str)
def test_leading_order_of_todays_blocks_is_within_five_percent(preset: str) -> None:
    # DeepSeek-V3 is the farthest: its 3 dense blocks count as MoE blocks in n·(…) (+4.9%)
    b = budget(from_name(preset).config)
    assert b.approx_params["blocks"] == pytest.approx(b.params["blocks"], rel=0.05)
    c = compute(b)
    exact = b.evaluate(c.forward["blocks"].exact)
    assert b.evaluate(c.forward["blocks"].approx) == pytest.approx(exact, rel=0.05)


def test_gemma_2_2b_no_longer_loses_its_feed_forward() -> None:
    # before: the terms of d·d_h·h (degree 3 once head_dim was given) outranked 3·d·f, and the
    # leading-order total was 368,050,176 of an exact 2,614,341,888
    b = budget(from_name("gemma-2-2b").config)
    # the blocks by hand: 26 × (attention 2·2304·8·256 + 2·2304·4·256 (+ norms) + MLP 3·2304·9216)
    hand = 26 * (2 * 2304 * 8 * 256 + 2 * 2304 * 4 * 256 + 3 * 2304 * 9216)
    assert b.approx_params["blocks"] == hand
