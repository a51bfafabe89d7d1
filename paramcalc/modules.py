"""torch modules that mirror every component: the model that ``check`` counts and ``train`` fits.

Written from the layer descriptions in DESIGN.md, independently of ``formulas.py``: the
agreement of the two is what ``paramcalc check`` proves. The model's top-level children
carry the formula layer's component names (embedding, positional, blocks, final_norm,
head). A forward pass takes (batch, seq_length) int64 token ids and returns
(batch, vocab_size) next-token logits: one prediction per window, as in the log.

Imported only by the commands that build models: counting never pays for torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .spec import ModelConfig


def embedding_table(rows: int, width: int) -> nn.Embedding:
    """An embedding table; on the meta device it is left uninitialised.

    (torch's normal_ on a meta tensor imports torch._dynamo, a second of start-up.)
    """
    weight = torch.empty(rows, width)  # on the device of the enclosing ``torch.device``
    if weight.device.type != "meta":
        nn.init.normal_(weight)
    return nn.Embedding(rows, width, _weight=weight)


class SinusoidalPositions(nn.Module):
    """Adds the fixed sin/cos position encoding of 'Attention Is All You Need'; owns nothing."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        seq_length = x.shape[1]
        position = torch.arange(seq_length, device=x.device, dtype=x.dtype)[:, None]  # (S, 1)
        rate = torch.exp(torch.arange(0, self.d_model, 2, device=x.device, dtype=x.dtype)
                         * (-math.log(10000.0) / self.d_model))  # (ceil(d/2),)
        angles = position * rate  # (S, ceil(d/2))
        encoding = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)  # (S, 2·ceil(d/2))
        return x + encoding[:, : self.d_model]


class LearnedPositions(nn.Module):
    """Adds a learned position table, GPT-2's wpe: n_positions × d_model."""

    def __init__(self, n_positions: int, d_model: int) -> None:
        super().__init__()
        self.wpe = embedding_table(n_positions, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        positions = torch.arange(x.shape[1], device=x.device)
        return x + self.wpe(positions)


def _split_heads(t: torch.Tensor, n_heads: int) -> torch.Tensor:
    batch, seq_length, width = t.shape
    return t.view(batch, seq_length, n_heads, width // n_heads).transpose(1, 2)  # (B, h, S, d/h)


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    batch, n_heads, seq_length, width = t.shape
    return t.transpose(1, 2).reshape(batch, seq_length, n_heads * width)  # (B, S, d)


class SeedBlock(nn.Module):
    """The log's Keras encoder block: Dense Q, K, V, multi-head attention, one feed-forward
    Dense, two LayerNorms, residuals (post-norm)."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.norm_1 = nn.LayerNorm(d_model)
        self.feed_forward = nn.Linear(d_model, d_model)
        self.norm_2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        q, k, v = (_split_heads(layer(x), self.n_heads) for layer in
                   (self.query, self.key, self.value))
        attended = _merge_heads(F.scaled_dot_product_attention(q, k, v))
        x = self.norm_1(x + attended)
        return self.norm_2(x + F.relu(self.feed_forward(x)))


class CausalSelfAttention(nn.Module):
    """GPT-2's attention: one fused Q, K, V projection and an output projection."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        q, k, v = (_split_heads(t, self.n_heads) for t in self.c_attn(x).chunk(3, dim=-1))
        return self.c_proj(_merge_heads(F.scaled_dot_product_attention(q, k, v, is_causal=True)))


class MLP(nn.Module):
    """GPT-2's feed-forward part: d → d_ff → d with a GELU."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(d_model, d_ff)
        self.c_proj = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class TransformerBlock(nn.Module):
    """A GPT-2 block (pre-norm): ln_1, attention, ln_2, MLP, residuals."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class LastPosition(nn.Module):
    """Keeps the last position's vector: (B, S, d) -> (B, d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


class SameConv1d(nn.Conv1d):
    """Conv1D over the sequence with 'same' padding, on (B, S, channels) tensors."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding="same")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, k)
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class Recurrent(nn.Module):
    """A GRU or LSTM run over the sequence, keeping every step's output."""

    def __init__(self, cell: str, d_model: int, width: int) -> None:
        super().__init__()
        kind = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = kind(d_model, width, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, k)
        return self.rnn(x)[0]


class TiedProjection(nn.Module):
    """Logits from the embedding matrix transposed: x @ wteᵀ (+ an optional logits bias).

    ``weight`` is the embedding's own Parameter, so it is counted once, in the embedding.
    """

    def __init__(self, embedding: nn.Embedding, bias: bool) -> None:
        super().__init__()
        self.weight = embedding.weight
        vocab_size = embedding.weight.shape[0]
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, V)
        return F.linear(x, self.weight, self.bias)


class Head(nn.Sequential):
    """An output head: its layers in order, from the blocks' (B, S, d) to (B, V) logits."""

    def __init__(self, config: ModelConfig, embedding: nn.Embedding) -> None:
        V, S, d = config.vocab_size, config.seq_length, config.d_model
        k, bias = config.head_width or 0, bool(config.logits_bias)
        layers: dict[str, nn.Module]
        if config.head == "flatten":
            layers = {"flatten": nn.Flatten(), "dense": nn.Linear(S * d, V, bias)}
        elif config.head == "bottleneck":
            layers = {"flatten": nn.Flatten(), "bottleneck": nn.Linear(S * d, k),
                      "dense": nn.Linear(k, V, bias)}
        elif config.head == "td-dense":
            layers = {"reduce": nn.Linear(d, k), "flatten": nn.Flatten(),
                      "dense": nn.Linear(S * k, V, bias)}
        elif config.head == "conv":
            layers = {"conv": SameConv1d(d, k, config.kernel_size or 1), "flatten": nn.Flatten(),
                      "dense": nn.Linear(S * k, V, bias)}
        elif config.head == "rnn":
            layers = {"rnn": Recurrent(config.cell or "gru", d, k), "flatten": nn.Flatten(),
                      "dense": nn.Linear(S * k, V, bias)}
        elif config.head == "tied-flatten":
            layers = {"flatten": nn.Flatten(), "dense": nn.Linear(S * d, d),
                      "tied": TiedProjection(embedding, bias)}
        elif config.head == "tied":
            layers = {"last": LastPosition(), "tied": TiedProjection(embedding, bias)}
        elif config.head == "linear":
            layers = {"last": LastPosition(), "dense": nn.Linear(d, V, bias)}
        else:
            raise ConfigError(f"no module for head {config.head!r}")
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)


class LanguageModel(nn.Module):
    """Embedding, positions, blocks, optional final norm and a head: next-token logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.embedding = embedding_table(config.vocab_size, d)
        self.positional: nn.Module = (
            LearnedPositions(config.n_positions or config.seq_length, d)
            if config.positional == "learned" else SinusoidalPositions(d))
        self.blocks = nn.ModuleList(
            SeedBlock(d, config.n_heads or 1) if config.block == "seed"
            else TransformerBlock(d, config.n_heads or 1, config.d_ff or 4 * d)
            for _ in range(config.num_blocks))
        self.final_norm: nn.Module = nn.LayerNorm(d) if config.final_norm else nn.Identity()
        self.head = Head(config, self.embedding)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, S) int64 -> (B, V)
        x = self.positional(self.embedding(tokens))  # (B, S, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))


def build(config: ModelConfig, device: str | torch.device | None = None) -> LanguageModel:
    """The model for a configuration; on ``"meta"`` it holds shapes and no weight memory."""
    with torch.device(device or "cpu"):
        return LanguageModel(config)
