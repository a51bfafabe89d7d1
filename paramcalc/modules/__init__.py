"""torch modules that mirror every component: the model that ``check`` counts and ``train`` fits.

Written from the layer lists in README.md, independently of ``formulas.py``: the
agreement of the two is what ``paramcalc check`` proves. The model's top-level children
carry the formula layer's component names (embedding, positional, blocks, final_norm,
head). A forward pass takes (batch, seq_length) int64 token ids and returns
(batch, vocab_size) next-token logits: one prediction per window, as in the log. The
transformer block is generalised the way litgpt's is: norm kind, gated MLP, grouped-query
attention, head width, bias switches, qk-norm, norm placement and parallel residual.

Imported only by the commands that build models: counting never pays for torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..pattern import layers
from ..spec import ModelConfig
from .attention import (INDEX_TOPK, Attention, Indexer, LatentAttention, MixtureOfAttention,
                        _merge_heads, _split_heads, alibi_bias, alibi_slopes, allowed_keys,
                        attend, attend_with_sinks, rotary)
from .feed_forward import MLP, Experts, MixtureOfExperts
from .norms import XIELU, PerHeadNorm, RMSNorm, make_norm
from .ssm import GatedDeltaNet, Mamba, Mamba2, StateSpaceBlock

__all__ = ["INDEX_TOPK", "MLP", "XIELU", "Attention", "Experts", "GatedDeltaNet", "Indexer",
           "LanguageModel", "LatentAttention", "Mamba", "Mamba2", "MixtureOfAttention",
           "MixtureOfExperts", "PerHeadNorm", "RMSNorm", "StateSpaceBlock", "alibi_bias",
           "alibi_slopes", "allowed_keys", "attend", "attend_with_sinks", "build", "make_norm",
           "rotary"]


def _table(rows: int, width: int) -> torch.Tensor:
    """An embedding table's weight; on the meta device it is left uninitialised.

    (torch's normal_ on a meta tensor imports torch._dynamo, a second of start-up.)
    """
    weight = torch.empty(rows, width)  # on the device of the enclosing ``torch.device``
    if weight.device.type != "meta":
        nn.init.normal_(weight)
    return weight


def embedding_table(rows: int, width: int) -> nn.Embedding:
    """An embedding table, drawn as ``_table`` draws it."""
    return nn.Embedding(rows, width, _weight=_table(rows, width))


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


class RotaryPositions(nn.Module):
    """Rotary positions are applied to queries and keys inside attention: nothing here."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class AlibiPositions(nn.Module):
    """ALiBi's bias is added to the scores inside attention (``alibi_bias``): nothing here."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class LearnedPositions(nn.Module):
    """Adds a learned position table, GPT-2's wpe: n_positions × d_model."""

    def __init__(self, n_positions: int, d_model: int) -> None:
        super().__init__()
        self.wpe = embedding_table(n_positions, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        positions = torch.arange(x.shape[1], device=x.device)
        return x + self.wpe(positions)


class SeedBlock(nn.Module):
    """The log's Keras encoder block: Dense Q, K, V, multi-head attention, one feed-forward
    Dense, two LayerNorms, residuals (post-norm)."""

    mixer, ffn = "full", "dense"

    def __init__(self, d_model: int, n_heads: int, rotary: bool = False,
                 alibi: bool = False) -> None:
        super().__init__()
        self.n_heads, self.rotary, self.alibi = n_heads, rotary, alibi
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.norm_1 = nn.LayerNorm(d_model)
        self.feed_forward = nn.Linear(d_model, d_model)
        self.norm_2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        q, k, v = (_split_heads(layer(x), self.n_heads) for layer in
                   (self.query, self.key, self.value))
        if self.rotary:
            q, k = rotary(q), rotary(k)
        # the encoder attends both ways: ALiBi's penalty grows with the distance either side
        bias = alibi_bias(self.n_heads, q.shape[-2], q, causal=False) if self.alibi else None
        attended = _merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=bias))
        x = self.norm_1(x + attended)
        return self.norm_2(x + F.relu(self.feed_forward(x)))


class TransformerBlock(nn.Module):
    """A decoder block: attention and feed-forward with residuals, norms before each part
    (GPT-2, Llama), after it (OLMo 2) or both (Gemma 2's sandwich); the two parts one after
    the other or side by side (GPT-NeoX's parallel residual), with one norm shared by both
    (GPT-J, Phi, Cohere)."""

    def __init__(self, config: ModelConfig, moe: bool = False, mixer: str = "full") -> None:
        super().__init__()
        d, placement = config.d_model, config.norm_placement or "pre"
        self.parallel = bool(config.parallel_residual)
        self.mixer, self.ffn = mixer, "moe" if moe else "dense"
        window = config.sliding_window if mixer == "sliding" else None
        chunk = config.attention_chunk_size if mixer == "chunked" else None
        self.attn: nn.Module = (Mamba(config) if mixer == "mamba"  # a hybrid's state space
                                else Mamba2(config) if mixer == "mamba2"
                                else GatedDeltaNet(config) if mixer == "deltanet"
                                else LatentAttention(config, window) if config.latent
                                else MixtureOfAttention(config, window)
                                if config.attention_experts else Attention(config, window, chunk))
        self.mlp: nn.Module = MixtureOfExperts(config) if moe else MLP(config)
        self.norms = nn.ModuleDict()
        if placement == "shared":  # one norm, its output the input of both parts (GPT-J)
            self.norms["shared_in"] = make_norm(config.norm, d)
        for part in ("attn", "mlp") if placement != "shared" else ():
            if placement in ("pre", "sandwich"):
                self.norms[f"{part}_in"] = make_norm(config.norm, d)
            if placement in ("post", "sandwich"):
                self.norms[f"{part}_out"] = make_norm(config.norm, d)

    def _part(self, name: str, x: torch.Tensor) -> torch.Tensor:
        layer = self.attn if name == "attn" else self.mlp
        if f"{name}_in" in self.norms:
            x = self.norms[f"{name}_in"](x)
        x = layer(x)
        return self.norms[f"{name}_out"](x) if f"{name}_out" in self.norms else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        if "shared_in" in self.norms:
            normed = self.norms["shared_in"](x)
            return x + self.attn(normed) + self.mlp(normed)
        if self.parallel:
            return x + self._part("attn", x) + self._part("mlp", x)
        x = x + self._part("attn", x)
        return x + self._part("mlp", x)


class SinglePartBlock(nn.Module):
    """A block of one part (Nemotron-H's): x + part(norm(x)), the part a mixer (attention or
    Mamba-2) or a feed-forward layer (an MLP or experts), never both."""

    def __init__(self, config: ModelConfig, mixer: str, ffn: str) -> None:
        super().__init__()
        self.mixer, self.ffn = mixer, ffn
        self.norm = make_norm(config.norm, config.d_model)
        if mixer == "none":
            self.mlp: nn.Module = MixtureOfExperts(config) if ffn == "moe" else MLP(config)
        else:
            window = config.sliding_window if mixer == "sliding" else None
            self.attn: nn.Module = (Mamba2(config) if mixer == "mamba2"
                                    else Mamba(config) if mixer == "mamba"
                                    else Attention(config, window))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        part = self.mlp if self.mixer == "none" else self.attn
        return x + part(self.norm(x))


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, V)
        return F.linear(x, self.weight, self.bias)


#: heads applied at every position, as a language model's output layer is: (B, S, d) -> (B, S, V)
PER_POSITION = ("tied", "linear")


class Head(nn.Sequential):
    """An output head: its layers in order, from the blocks' (B, S, d) to (B, V) logits, or
    (B, S, V) for the heads applied at every position."""

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
            layers = {"tied": TiedProjection(embedding, bias)}
        elif config.head == "linear":
            layers = {"dense": nn.Linear(d, V, bias)}
        else:
            raise ConfigError(f"no module for head {config.head!r}")
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)


class NormedEmbedding(nn.Embedding):
    """A token embedding table and a norm on what it looks up (BLOOM's
    word_embeddings_layernorm): the norm's weights belong to the embedding."""

    def __init__(self, rows: int, width: int, norm: str | None) -> None:
        super().__init__(rows, width, _weight=_table(rows, width))
        self.norm = make_norm(norm, width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, S) -> (B, S, d)
        return self.norm(super().forward(tokens))


class LanguageModel(nn.Module):
    """Embedding, positions, blocks, optional final norm and a head: next-token logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.embedding = (NormedEmbedding(config.vocab_size, d, config.norm)
                          if config.embedding_norm else embedding_table(config.vocab_size, d))
        self.positional: nn.Module = (
            LearnedPositions(config.n_positions or config.seq_length, d)
            if config.positional == "learned" else RotaryPositions()
            if config.positional == "rotary" else AlibiPositions()
            if config.positional == "alibi" else SinusoidalPositions(d))
        rotate = config.positional == "rotary"
        self.blocks = nn.ModuleList(
            SeedBlock(d, config.n_heads or 1, rotate, config.positional == "alibi")
            if config.block == "seed"
            else StateSpaceBlock(config, mixer) if config.ssm is not None
            else SinglePartBlock(config, mixer, ffn) if config.single_part
            else TransformerBlock(config, moe=ffn == "moe", mixer=mixer)
            for mixer, ffn in layers(config))
        self.final_norm: nn.Module = (make_norm(config.norm, d) if config.final_norm
                                      else nn.Identity())
        self.head = Head(config, self.embedding)

    def forward(self, tokens: torch.Tensor, every_position: bool = False) -> torch.Tensor:
        """(B, S) int64 -> (B, V) next-token logits after the window; with ``every_position``
        a per-position head gives (B, S, V)."""
        x = self.positional(self.embedding(tokens))  # (B, S, d)
        for block in self.blocks:
            x = block(x)
        x = self.final_norm(x)
        if self.config.head in PER_POSITION and not every_position:
            return self.head(x[:, -1:])[:, 0]  # only the last position predicts: (B, V)
        return self.head(x)


def build(config: ModelConfig, device: str | torch.device | None = None) -> LanguageModel:
    """The model for a configuration; on ``"meta"`` it holds shapes and no weight memory."""
    with torch.device(device or "cpu"):
        return LanguageModel(config)
