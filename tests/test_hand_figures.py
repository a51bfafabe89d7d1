"""Every head design at two sizes, worked out by hand from the layer lists in README.md.

Each figure is arithmetic a reader can follow: a Dense(a → b) with bias holds a·b + b, a
GRU cell of width k over inputs of width d holds 3 gates × (d·k + k·k + 2·k) in torch (an
input and a recurrent bias per gate), an LSTM 4 gates. They are compared with the formulas
and with the torch modules, neither of which they come from.
"""

from __future__ import annotations

import pytest

from paramcalc import ModelConfig, budget
from paramcalc.check import build_meta, module_counts

# Size A: the log's id 4 — V 257, S 32, d 16, one seed block; k = ⌊16/8⌋ = 2, w = 3
A = dict(vocab_size=257, seq_length=32, d_model=16, num_blocks=1, n_heads=4)
A_EMBEDDING = 257 * 16  # 4,112
A_BLOCK = 4 * (16 * 16 + 16) + 2 * (2 * 16)  # Dense Q, K, V and feed-forward; two LayerNorms
A_HEADS = {
    "flatten": 32 * 16 * 257 + 257,  # Dense(S·d → V)
    "bottleneck": (32 * 16 * 16 + 16) + (16 * 257 + 257),  # Dense(S·d → k=d), Dense(k → V)
    "td-dense": (16 * 2 + 2) + (32 * 2 * 257 + 257),  # Dense(d → k) per position, Dense(S·k → V)
    "conv": (3 * 16 * 2 + 2) + (32 * 2 * 257 + 257),  # Conv1D(d → k, w 3), Dense(S·k → V)
    "rnn-gru": 3 * (16 * 2 + 2 * 2 + 2 * 2) + (32 * 2 * 257 + 257),
    "rnn-lstm": 4 * (16 * 2 + 2 * 2 + 2 * 2) + (32 * 2 * 257 + 257),
    "tied-flatten": 32 * 16 * 16 + 16,  # Dense(S·d → d); the V × d matrix is the embedding's
    "tied": 0,
    "linear": 16 * 257 + 257,  # Dense(d → V)
}

# Size B: a GPT-2-style model — V 100, S 10, d 24, 2 transformer blocks (f 40), learned
# positions (P = S = 10), a final LayerNorm; k = ⌊24/8⌋ = 3, w = 3
B = dict(vocab_size=100, seq_length=10, d_model=24, num_blocks=2, n_heads=4, d_ff=40,
         block="transformer", positional="learned", final_norm=True)
B_EMBEDDING = 100 * 24
B_POSITIONAL = 10 * 24
B_BLOCK = 4 * (24 * 24 + 24) + (24 * 40 + 40) + (40 * 24 + 24) + 2 * (2 * 24)  # 4,480
B_FINAL_NORM = 2 * 24
B_HEADS = {
    "flatten": 10 * 24 * 100 + 100,
    "bottleneck": (10 * 24 * 24 + 24) + (24 * 100 + 100),
    "td-dense": (24 * 3 + 3) + (10 * 3 * 100 + 100),
    "conv": (3 * 24 * 3 + 3) + (10 * 3 * 100 + 100),
    "rnn-gru": 3 * (24 * 3 + 3 * 3 + 2 * 3) + (10 * 3 * 100 + 100),
    "rnn-lstm": 4 * (24 * 3 + 3 * 3 + 2 * 3) + (10 * 3 * 100 + 100),
    "tied-flatten": 10 * 24 * 24 + 24,
    "tied": 0,
    "linear": 24 * 100 + 100,
}


def _config(size: dict, design: str) -> ModelConfig:
    head, _, cell = design.partition("-")
    if design in ("td-dense", "tied-flatten"):
        head, cell = design, ""
    return ModelConfig(**size, head=head, cell=cell or None)


SIZES = {
    "A": (A, {"embedding": A_EMBEDDING, "positional": 0, "blocks": A_BLOCK, "final_norm": 0},
          A_HEADS),
    "B": (B, {"embedding": B_EMBEDDING, "positional": B_POSITIONAL, "blocks": 2 * B_BLOCK,
              "final_norm": B_FINAL_NORM}, B_HEADS),
}


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("design", sorted(A_HEADS), ids=str)
def test_every_head_design_by_hand(size: str, design: str) -> None:
    shape, backbone, heads = SIZES[size]
    config = _config(shape, design)
    expected = {**backbone, "head": heads[design]}
    expected["total"] = sum(expected.values())
    formula = budget(config).params
    built = module_counts(build_meta(config))
    for name, value in expected.items():
        assert formula[name] == value, (design, name)
        assert built[name] == value, (design, name)


def test_the_log_figures_are_among_them() -> None:
    assert A_EMBEDDING + A_BLOCK + A_HEADS["flatten"] == 137_105  # id 4's Keras summary
    assert A_HEADS["tied-flatten"] == 8_208 and B_BLOCK == 4_480
