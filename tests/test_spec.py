"""The configuration object: defaults, head swaps, and every validation message."""

from __future__ import annotations

import pytest

from paramcalc import ConfigError, ModelConfig, from_name

BASE = dict(vocab_size=257, seq_length=32, d_model=16, num_blocks=1)


def test_defaults_follow_design() -> None:
    c = ModelConfig(**BASE)
    assert (c.block, c.positional, c.head, c.n_heads, c.final_norm) == ("seed", "sinusoidal",
                                                                        "flatten", 1, False)
    assert c.d_ff is None and c.n_positions is None and c.logits_bias is True
    t = ModelConfig(**BASE, block="transformer", positional="learned")
    assert t.d_ff == 64 and t.n_positions == 32


def test_head_defaults_are_per_head() -> None:
    assert ModelConfig(**BASE, head="td-dense").head_width == 2  # d_model / 8, as the log suggests
    assert ModelConfig(**BASE, head="bottleneck").head_width == 16
    assert ModelConfig(**BASE, head="conv").kernel_size == 3
    assert ModelConfig(**BASE, head="rnn").cell == "gru"
    assert ModelConfig(**BASE, head="tied").logits_bias is False
    assert ModelConfig(**BASE, head="flatten").head_width is None  # not used by that head


def test_with_head_rederives_the_new_heads_defaults() -> None:
    tied = from_name("gpt2").config
    assert tied.logits_bias is False
    assert tied.with_head("linear").logits_bias is True
    ctrl = from_name("ctrl").config
    assert ctrl.with_head("flatten").logits_bias is True  # given in the preset: kept


def test_frozen() -> None:
    c = ModelConfig(**BASE)
    with pytest.raises(AttributeError):
        c.d_model = 32  # type: ignore[misc]


@pytest.mark.parametrize("changes, message", [
    ({"d_model": 0}, "d_model must be a positive integer, got 0"),
    ({"num_blocks": -2}, "num_blocks must be a positive integer, got -2"),
    ({"seq_length": 3.5}, "seq_length must be a positive integer, got 3.5"),
    ({"vocab_size": True}, "vocab_size must be a positive integer, got True"),
    ({"n_heads": 3}, "n_heads (3) must divide d_model (16)"),
    ({"head": "td-dense", "head_width": 17},
     "head_width (17) must not exceed the width the td-dense head reduces, d_model = 16"),
    ({"head": "bottleneck", "head_width": 513},
     "head_width (513) must not exceed the width the bottleneck head reduces, "
     "seq_length × d_model = 512"),
    ({"head": "conv", "kernel_size": 33}, "kernel_size (33) must not exceed seq_length (32)"),
    ({"head": "nope"}, "unknown head 'nope'; choose one of: flatten, bottleneck, td-dense, conv, "
                       "rnn, tied-flatten, tied, linear"),
    ({"block": "lstm"}, "unknown block 'lstm'; choose one of: seed, transformer"),
    ({"positional": "rope"}, "unknown positional 'rope'; choose one of: sinusoidal, learned, "
                             "rotary, alibi"),
    ({"head": "rnn", "cell": "rnn"}, "unknown cell 'rnn'; choose one of: gru, lstm"),
    ({"positional": "learned", "n_positions": 16}, "n_positions (16) must be at least seq_length (32)"),
    ({"final_norm": 1}, "final_norm must be true or false, got 1"),
])
def test_validation_names_the_field_and_the_value(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        ModelConfig(**{**BASE, **changes})
    assert str(error.value) == message


def test_from_mapping_rejects_unknown_and_mistyped_keys() -> None:
    with pytest.raises(ConfigError, match="x.toml: unknown key 'dmodel'; known keys: vocab_size"):
        ModelConfig.from_mapping({**BASE, "dmodel": 3}, origin="x.toml")
    with pytest.raises(ConfigError, match="x.toml: d_model must be an integer, got '16'"):
        ModelConfig.from_mapping({**BASE, "d_model": "16"}, origin="x.toml")
    with pytest.raises(ConfigError, match="x.toml: missing num_blocks"):
        ModelConfig.from_mapping({k: v for k, v in BASE.items() if k != "num_blocks"},
                                 origin="x.toml")
