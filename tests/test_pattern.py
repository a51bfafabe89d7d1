"""The per-layer pattern: block kinds counted in closed form, against the layers walked one by
one in the test (from the definitions in README.md), and proved by paramcalc's own modules."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import ConfigError, ModelConfig, budget
from paramcalc.pattern import groups


def walked(n: int, experts: bool, first_dense: int, moe_step: int, dense: set[int],
           full_every: int | None, window: bool,
           local: str = "sliding") -> Counter[tuple[str, str]]:
    """Each layer's kind, one by one, as the README defines the keys; ``local`` the kind of
    the layers that do not attend in full (sliding, or chunked as Llama 4's)."""
    kinds: Counter[tuple[str, str]] = Counter()
    for i in range(n):
        if full_every is not None:
            mixer = "full" if (i + 1) % full_every == 0 else local
        else:
            mixer = local if window else "full"
        moe = experts and i >= first_dense and (i + 1) % moe_step == 0 and i not in dense
        kinds[mixer, "moe" if moe else "dense"] += 1
    return kinds


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 60), experts=st.booleans(), first=st.integers(0, 60),
       step=st.integers(1, 7), full_every=st.none() | st.integers(1, 7), window=st.booleans(),
       dense=st.lists(st.integers(0, 59), unique=True, max_size=6), chunked=st.booleans())
def test_closed_form_counts_equal_the_layers_walked(n: int, experts: bool, first: int,
                                                    step: int, full_every: int | None,
                                                    window: bool, dense: list[int],
                                                    chunked: bool) -> None:
    first, dense = min(first, n), [i for i in dense if i < n]
    values: dict = dict(vocab_size=50, seq_length=16, d_model=8, num_blocks=n, n_heads=2,
                        block="transformer")
    if experts:
        values.update(num_experts=4, experts_per_token=2, first_dense=first, moe_step=step,
                      dense_layers=dense)
    if full_every is not None or window:
        values.update({"attention_chunk_size" if chunked else "sliding_window": 4},
                      **({"full_every": full_every} if full_every else {}))
    config = ModelConfig(**values)
    expected = walked(n, experts, first if experts else 0, step, set(dense) if experts else set(),
                      full_every, window or full_every is not None,
                      "chunked" if chunked else "sliding")
    assert {(g.mixer, g.ffn): g.count for g in groups(config)} == +expected


def test_a_billion_layers_count_at_once() -> None:
    # every third of 10⁹ layers a mixture of experts, the first 5 dense, layer 8 listed dense
    config = ModelConfig(vocab_size=100, seq_length=8, d_model=8, num_blocks=10**9, n_heads=2,
                         block="transformer", num_experts=4, experts_per_token=1, moe_step=3,
                         first_dense=5, dense_layers=[8])
    # layers 5 … 10⁹−1 with (i+1) % 3 == 0: i = 5, 8, 11, …: 333,333,332 of them, less layer 8
    assert config.moe_layers == 333_333_331
    assert budget(config).params["total"] > 0


def test_layer_types_are_listed_layer_by_layer() -> None:
    config = ModelConfig(vocab_size=100, seq_length=8, d_model=8, num_blocks=4, n_heads=2,
                         block="transformer", sliding_window=4,
                         layer_types=["sliding_attention", "full_attention"] * 2)
    b = budget(config)
    assert [(kind["kind"], kind["count"]) for kind in b.kind_params()] == [("full", 2),
                                                                          ("sliding", 2)]
    # sliding and full layers hold the same parameters: the total is the dense model's
    dense = budget(ModelConfig(vocab_size=100, seq_length=8, d_model=8, num_blocks=4, n_heads=2,
                               block="transformer"))
    assert b.params["total"] == dense.params["total"]


@pytest.mark.parametrize("values, message", [
    ({"layer_types": ["full_attention"] * 3}, "layer_types lists 3 layers, but num_blocks is 4"),
    ({"layer_types": ["dense"] * 4}, "layer_types names 'dense'; choose from: full_attention, "
                                     "sliding_attention, chunked_attention, mamba, mamba2, "
                                     "deltanet, mlp, moe"),
    ({"layer_types": ["sliding_attention"] * 4}, "layer_types lists sliding_attention layers: "
                                                 "give sliding_window too"),
    ({"layer_types": ["full_attention"] * 4, "sliding_window": 8},
     "sliding_window (8) is given, but layer_types lists no sliding_attention layer"),
    ({"full_every": 2}, "full_every makes the other layers sliding-window layers: give "
                        "sliding_window too (or attention_chunk_size, for chunked ones)"),
    ({"layer_types": ["chunked_attention"] * 4}, "layer_types lists chunked_attention layers: "
                                                 "give attention_chunk_size too"),
    ({"layer_types": ["full_attention"] * 4, "attention_chunk_size": 8},
     "attention_chunk_size (8) is given, but layer_types lists no chunked_attention layer"),
    ({"sliding_window": 4, "attention_chunk_size": 8},
     "sliding_window and attention_chunk_size are both given: give layer_types too, to say "
     "which layers slide and which are chunked"),
    ({"sliding_kv_heads": 2}, "sliding_kv_heads belongs to the sliding-window layers: give "
                              "sliding_window too"),
    ({"sliding_sinks": True}, "sliding_sinks belongs to the sliding-window layers: give "
                              "sliding_window too"),
    ({"sliding_window": 4, "sliding_kv_heads": 3},
     "sliding_kv_heads (3) must divide n_heads (2): each key/value head serves a whole group of "
     "query heads"),
    ({"attention_chunk_size": 8, "kv_lora_rank": 4},
     "attention_chunk_size chunks multi-head attention (Llama 4's); latent attention "
     "(kv_lora_rank) has no chunked kind: drop one"),
    ({"full_every": 2, "sliding_window": 4, "layer_types": ["full_attention"] * 4},
     "give layer_types or full_every, not both: each says which layers attend in full"),
    ({"moe_step": 2}, "moe_step needs num_experts (the routed experts of a mixture-of-experts "
                      "layer)"),
    ({"num_experts": 4, "first_dense": 5}, "first_dense (5) must not exceed num_blocks (4)"),
])
def test_a_pattern_that_does_not_hold_is_one_line(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        ModelConfig(vocab_size=100, seq_length=8, d_model=8, num_blocks=4, n_heads=2,
                    block="transformer", **values)
    assert str(error.value) == message


def test_check_proves_a_pattern_of_four_kinds(cli: Cli) -> None:
    obj = cli.json("check", "--vocab-size", "64", "--seq-length", "8", "--d-model", "16",
                   "--num-blocks", "7", "--n-heads", "2", "--block", "transformer",
                   "--num-experts", "4", "--experts-per-token", "2", "--moe-step", "2",
                   "--first-dense", "1", "--sliding-window", "4", "--full-every", "3")
    assert obj["ok"]
    names = [row["component"] for row in obj["rows"] if row["component"].startswith("per_block")]
    assert names == ["per_block[full-dense]", "per_block[full-moe]", "per_block[sliding-dense]",
                     "per_block[sliding-moe]"]


def test_a_flag_the_seed_block_does_not_use_is_refused(cli: Cli) -> None:
    line = cli.error("count", "--vocab-size", "257", "--seq-length", "32", "--d-model", "64",
                     "--num-blocks", "2", "--d-ff", "256")
    assert line == ("Error: command line: d_ff belongs to transformer blocks, and this model "
                    "has the log's seed block (the default without a preset), which has none: "
                    "give block = transformer (--block transformer) or drop d_ff")
    line = cli.error("count", "--preset", "id4", "--mlp", "gated")
    assert "mlp belongs to transformer blocks" in line and "(block = seed)" in line


def test_a_head_option_the_head_does_not_use_is_refused(cli: Cli) -> None:
    line = cli.error("count", "--preset", "gpt2", "--head-width", "8")
    assert line == ("Error: head_width is not used by the tied head; it belongs to the "
                    "bottleneck, td-dense, conv, rnn heads")
    line = cli.error("count", "--preset", "id4", "--positional", "sinusoidal",
                     "--n-positions", "64")
    assert "n_positions is the row count of a learned position table" in line
