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
from .norms import XIELU, PerHeadNorm, RMSNorm, make_norm
from .ssm import GatedDeltaNet, Mamba, Mamba2, StateSpaceBlock


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


def _split_heads(t: torch.Tensor, n_heads: int) -> torch.Tensor:
    batch, seq_length, width = t.shape
    return t.view(batch, seq_length, n_heads, width // n_heads).transpose(1, 2)  # (B, h, S, d/h)


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    batch, n_heads, seq_length, width = t.shape
    return t.transpose(1, 2).reshape(batch, seq_length, n_heads * width)  # (B, S, d)


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


def rotary(t: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) on (B, heads, S, a): rotates pairs of
    features by an angle that grows with the position; owns nothing. An odd last feature
    is left as it is."""
    seq_length, width = t.shape[-2], t.shape[-1]
    half = width // 2
    rate = 10000.0 ** (-torch.arange(half, device=t.device, dtype=t.dtype) / max(half, 1))  # (a/2,)
    angles = torch.arange(seq_length, device=t.device, dtype=t.dtype)[:, None] * rate  # (S, a/2)
    cos, sin = angles.cos(), angles.sin()
    first, second, rest = t[..., :half], t[..., half:2 * half], t[..., 2 * half:]
    return torch.cat((first * cos - second * sin, first * sin + second * cos, rest), dim=-1)


def alibi_slopes(n_heads: int) -> list[float]:
    """ALiBi's slope of each head (Press et al. 2022, section 3): for 2^k heads the geometric
    sequence 2^(-8/2^k), 2^(-16/2^k), …; otherwise those of the largest power of two below,
    then every other slope of twice as many heads."""
    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (i + 1) / n) for i in range(n)]

    power = 1 << (n_heads.bit_length() - 1)  # the largest power of two ≤ n_heads
    if power == n_heads:
        return geometric(n_heads)
    return geometric(power) + geometric(2 * power)[0::2][: n_heads - power]


def alibi_bias(n_heads: int, seq_length: int, like: torch.Tensor, causal: bool = True,
               window: int | None = None) -> torch.Tensor:
    """ALiBi's additive (h, S, S) bias on the scores: −slope·(query − key position), −inf
    where a query may not look (later keys when causal, keys past the window); owns nothing."""
    position = torch.arange(seq_length, device=like.device)
    distance = position[:, None] - position[None, :]  # (S, S): query minus key position
    slopes = torch.tensor(alibi_slopes(n_heads), device=like.device, dtype=like.dtype)
    bias = -slopes[:, None, None] * distance.abs().to(like.dtype)  # (h, S, S)
    allowed = distance >= 0 if causal else torch.ones_like(distance, dtype=torch.bool)
    if window is not None:
        allowed = allowed & (distance < window)
    return bias.masked_fill(~allowed, float("-inf"))


class Attention(nn.Module):
    """Causal self-attention with h query heads and g key/value heads of width a (grouped-query
    attention when g < h), optional norms on queries and keys, and rotary or ALiBi positions."""

    def __init__(self, config: ModelConfig, window: int | None = None,
                 chunk: int | None = None) -> None:
        super().__init__()
        d, h = config.d_model, config.n_heads or 1
        g, a = config.n_kv_heads or h, config.head_dim or d // h
        if window is not None and config.sliding_kv_heads:  # MiMo: a sliding layer's own
            g = config.sliding_kv_heads
        v = config.v_head_dim or a  # a value head's width (MiMo's narrower than a key's)
        self.window, self.chunk = window, chunk
        self.n_heads, self.n_kv_heads, self.rotary = h, g, config.positional == "rotary"
        self.alibi = config.positional == "alibi"
        bias = bool(config.qkv_bias)
        self.q_proj = nn.Linear(d, h * a, bias=bias)
        self.k_proj = nn.Linear(d, g * a, bias=bias)
        self.v_proj = nn.Linear(d, g * v, bias=bias)
        self.o_proj = nn.Linear(h * v, d, bias=bool(config.proj_bias))
        # Qwen3-Next: a sigmoid gate per output feature of the heads, from the input
        self.gate = nn.Linear(d, h * v, bias=bias) if config.attention_gate else None
        self.qk_norm = config.qk_norm
        if config.qk_norm == "head":  # one scale of width a, shared by the heads (Qwen3, Gemma 3)
            self.q_norm, self.k_norm = make_norm(config.norm, a), make_norm(config.norm, a)
        elif config.qk_norm == "full":  # over all heads at once (OLMo 2)
            self.q_norm, self.k_norm = make_norm(config.norm, h * a), make_norm(config.norm, g * a)
        elif config.qk_norm == "per_head":  # a scale of its own per head (Cohere, StableLM)
            self.q_norm = PerHeadNorm(config.norm, h, a)
            self.k_norm = PerHeadNorm(config.norm, g, a)
        self.sinks: nn.Parameter | None = None
        # gpt-oss (every layer), MiMo-V2-Flash (its sliding layers): a learned logit per head
        if config.attention_sinks or (window is not None and config.sliding_sinks):
            self.sinks = nn.Parameter(torch.zeros(h))
        # BitNet: a norm over the heads' joined output, before the output projection
        self.sub_norm = make_norm(config.norm, h * v) if config.sub_norms else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # (B, S, h·a), g·a, g·v
        if self.qk_norm == "full":
            q, k = self.q_norm(q), self.k_norm(k)
        q = _split_heads(q, self.n_heads)  # (B, h, S, a)
        k, v = _split_heads(k, self.n_kv_heads), _split_heads(v, self.n_kv_heads)  # (B, g, S, ·)
        if self.qk_norm in ("head", "per_head"):
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rotary:
            q, k = rotary(q), rotary(k)
        group = self.n_heads // self.n_kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # (B, h, S, ·)
        if self.sinks is not None:
            heads = attend_with_sinks(q, k, v, self.window, self.sinks, self.chunk, self.alibi)
        else:
            heads = attend(q, k, v, self.window, self.chunk, self.alibi)  # (B, h, S, v)
        merged = _merge_heads(heads)
        if self.gate is not None:
            merged = merged * torch.sigmoid(self.gate(x))
        return self.o_proj(self.sub_norm(merged))


def allowed_keys(seq_length: int, window: int | None, chunk: int | None,
                 device: torch.device) -> torch.Tensor:
    """(S, S) booleans, query by key: causal, within the last ``window`` positions (itself
    included) if given, and within the query's own chunk of ``chunk`` positions if given
    (Llama 4's chunked attention: positions 0..C-1 one chunk, C..2C-1 the next, …)."""
    position = torch.arange(seq_length, device=device)
    distance = position[:, None] - position[None, :]  # (S, S): query minus key position
    allowed = distance >= 0
    if window is not None:
        allowed = allowed & (distance < window)
    if chunk is not None:
        allowed = allowed & (position[:, None] // chunk == position[None, :] // chunk)
    return allowed


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
           window: int | None, chunk: int | None = None, alibi: bool = False) -> torch.Tensor:
    """Causal attention, each query seeing the last ``window`` positions (itself included)
    when a window is given, the earlier ones of its chunk when a chunk is, else every
    earlier one; with ALiBi's bias on the scores."""
    if alibi:
        bias = alibi_bias(q.shape[1], q.shape[-2], q, window=window)
        if chunk is not None:
            bias = bias.masked_fill(~allowed_keys(q.shape[-2], window, chunk, q.device),
                                    float("-inf"))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    if window is None and chunk is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    allowed = allowed_keys(q.shape[-2], window, chunk, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


def attend_with_sinks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int | None,
                      sinks: torch.Tensor, chunk: int | None = None,
                      alibi: bool = False) -> torch.Tensor:
    """Causal attention whose softmax per head has one more logit, the head's sink, that
    takes probability mass and contributes no value (gpt-oss)."""
    allowed = allowed_keys(q.shape[-2], window, chunk, q.device)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # (B, h, S, S)
    if alibi:
        scores = scores + alibi_bias(q.shape[1], q.shape[-2], q, window=window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    sink = sinks.view(1, -1, 1, 1).expand(*scores.shape[:-1], 1)  # (B, h, S, 1)
    weights = F.softmax(torch.cat([scores, sink], dim=-1), dim=-1)[..., :-1]
    return weights @ v


#: the keys DeepSeek-V3.2's indexer keeps per query (its config's index_topk default); no
#: parameter depends on it, and below it every earlier key is kept
INDEX_TOPK = 2048


class Indexer(nn.Module):
    """DeepSeek-V3.2's sparse-attention indexer (DSA): h_ix query heads of d_ix from the query
    latent, one d_I-wide key from the block's input through a LayerNorm, and a weight per head;
    a key's score for a query is the weighted sum over heads of ReLU(q·k), and each query
    keeps its INDEX_TOPK best earlier keys. It runs without gradients."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, heads, width = config.d_model, config.index_n_heads or 1, config.index_head_dim or 1
        self.heads, self.width = heads, width
        self.query = nn.Linear(config.q_lora_rank or 1, heads * width, bias=False)
        self.key = nn.Linear(d, width, bias=False)
        self.key_norm = nn.LayerNorm(width)
        self.weights = nn.Linear(d, heads, bias=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The keys each query attends to, (B, 1, S, S) booleans, causal."""
        batch, seq_length, _ = x.shape
        q = self.query(latent).view(batch, seq_length, self.heads, self.width)
        k = self.key_norm(self.key(x))  # (B, S, d_I): one key for every head
        scores = F.relu(q.transpose(1, 2) @ k.transpose(-1, -2)[:, None])  # (B, h_ix, S, S)
        weights = self.weights(x)  # (B, S, h_ix)
        index = (weights[:, :, None, :] @ scores.transpose(1, 2)).squeeze(-2)  # (B, S, S)
        causal = torch.ones(seq_length, seq_length, dtype=torch.bool, device=x.device).tril()
        index = index.masked_fill(~causal, float("-inf"))
        best = index.topk(min(INDEX_TOPK, seq_length), dim=-1).indices
        chosen = torch.zeros_like(index, dtype=torch.bool).scatter_(-1, best, True)
        return (chosen & causal)[:, None]


class LatentAttention(nn.Module):
    """DeepSeek's multi-head latent attention: queries through an optional low-rank latent
    (d → r_q, norm, r_q → h·(d_N + d_R)), keys and values through one (d → r_kv + d_R, norm on
    the r_kv part, r_kv → h·(d_N + d_V)); the d_R-wide rotary part of the keys is shared by
    all heads; output h·d_V → d."""

    def __init__(self, config: ModelConfig, window: int | None = None) -> None:
        super().__init__()
        d, h = config.d_model, config.n_heads or 1
        r_kv, rank_q = config.kv_lora_rank or 1, config.q_lora_rank
        self.window = window
        self.h, self.d_R = h, config.qk_rope_head_dim or 1
        self.d_N, self.d_V = config.qk_nope_head_dim or 1, config.v_head_dim or 1
        bias, head = bool(config.qkv_bias), self.d_N + self.d_R
        self.queries: nn.Module
        if rank_q is not None:
            self.queries = nn.Sequential(nn.Linear(d, rank_q, bias=bias),
                                         make_norm(config.norm, rank_q),
                                         nn.Linear(rank_q, h * head, bias=False))
        else:
            self.queries = nn.Linear(d, h * head, bias=False)
        self.kv_a = nn.Linear(d, r_kv + self.d_R, bias=bias)
        self.kv_norm = make_norm(config.norm, r_kv)
        self.kv_b = nn.Linear(r_kv, h * (self.d_N + self.d_V), bias=False)
        self.o_proj = nn.Linear(h * self.d_V, d, bias=bool(config.proj_bias))
        self.indexer = Indexer(config) if config.index_n_heads is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        chosen = None
        if self.indexer is not None:  # the query latent feeds the indexer too
            assert isinstance(self.queries, nn.Sequential)
            latent = self.queries[1](self.queries[0](x))
            chosen = self.indexer(x, latent)
            q = _split_heads(self.queries[2](latent), self.h)
        else:
            q = _split_heads(self.queries(x), self.h)  # (B, h, S, d_N + d_R)
        q_nope, q_rope = q.split((self.d_N, self.d_R), dim=-1)
        latent, k_rope = self.kv_a(x).split((self.kv_norm_width, self.d_R), dim=-1)
        kv = _split_heads(self.kv_b(self.kv_norm(latent)), self.h)  # (B, h, S, d_N + d_V)
        k_nope, v = kv.split((self.d_N, self.d_V), dim=-1)
        k_rope = rotary(k_rope[:, None]).expand(-1, self.h, -1, -1)  # one for all heads
        q = torch.cat((q_nope, rotary(q_rope)), dim=-1)
        k = torch.cat((k_nope, k_rope), dim=-1)
        if chosen is not None:  # (DeepSeek-V3.2 has no sliding layers)
            return self.o_proj(_merge_heads(F.scaled_dot_product_attention(q, k, v,
                                                                           attn_mask=chosen)))
        return self.o_proj(_merge_heads(attend(q, k, v, self.window)))

    @property
    def kv_norm_width(self) -> int:
        return self.kv_b.in_features


class MLP(nn.Module):
    """The feed-forward part: d → d_ff → d with a GELU (GPT-2), or gated, SiLU(gate)·up → down
    (Llama's SwiGLU)."""

    def __init__(self, config: ModelConfig, width: int | None = None,
                 bias: bool | None = None) -> None:
        super().__init__()
        d = config.d_model
        f = width or config.d_ff or 4 * d
        bias = bool(config.mlp_bias) if bias is None else bias
        self.gated = config.mlp == "gated"
        if self.gated:
            self.gate_proj = nn.Linear(d, f, bias=bias)
        self.up_proj = nn.Linear(d, f, bias=bias)
        self.down_proj = nn.Linear(f, d, bias=bias)
        self.xielu = XIELU() if config.mlp == "xielu" else None
        # BitNet: a norm over the inner width, before the down projection
        self.sub_norm = make_norm(config.norm, f) if config.sub_norms else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        if self.gated:
            inner = F.silu(self.gate_proj(x)) * self.up_proj(x)  # (B, S, f)
        elif self.xielu is not None:
            inner = self.xielu(self.up_proj(x))
        else:
            inner = F.gelu(self.up_proj(x), approximate="tanh")
        return self.down_proj(self.sub_norm(inner))


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    """A weight drawn as nn.Linear draws its own; left empty on the meta device."""
    weight = torch.empty(shape)
    if weight.device.type != "meta":
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(weight, -bound, bound)
    return nn.Parameter(weight)


class Experts(nn.Module):
    """E feed-forward experts side by side, their weights stacked: up (and gate) (E, d, f_E),
    down (E, f_E, d); no biases."""

    def __init__(self, num_experts: int, d_model: int, width: int, gated: bool,
                 bias: bool = False) -> None:
        super().__init__()
        self.gated = gated
        self.up = _uniform((num_experts, d_model, width), d_model)
        if gated:
            self.gate = _uniform((num_experts, d_model, width), d_model)
        self.down = _uniform((num_experts, width, d_model), width)
        self.biased = bias  # gpt-oss: a bias on each expert's gate, up and down projections
        if bias:
            self.up_bias = _uniform((num_experts, width), d_model)
            if gated:
                self.gate_bias = _uniform((num_experts, width), d_model)
            self.down_bias = _uniform((num_experts, d_model), width)

    def expert(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Expert ``index`` on (M, d) tokens -> (M, d)."""
        up = x @ self.up[index]  # (M, f_E)
        if self.biased:
            up = up + self.up_bias[index]
        if self.gated:
            gate = x @ self.gate[index]
            if self.biased:
                gate = gate + self.gate_bias[index]
            hidden = F.silu(gate) * up
        else:
            hidden = F.gelu(up, approximate="tanh")
        out = hidden @ self.down[index]
        return out + self.down_bias[index] if self.biased else out

    def forward(self, x: torch.Tensor, chosen: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(N, d) tokens, the (N, K) experts each is sent to and their (N, K) weights -> (N, d).

        Each expert runs on the tokens sent to it only, as a mixture of experts does: a token
        costs K experts' FLOPs. On the meta device, where routing cannot depend on values, a
        pass gives shapes only and every expert sees every token.
        """
        if x.device.type == "meta":
            return sum((self.expert(e, x) for e in range(self.up.shape[0])),
                       torch.zeros_like(x))
        out = torch.zeros_like(x)
        for index in range(self.up.shape[0]):
            token, slot = torch.where(chosen == index)  # the tokens routed to this expert
            routed = self.expert(index, x[token]) * weights[token, slot, None]
            out = out.index_add(0, token, routed)
        return out


class MixtureOfExperts(nn.Module):
    """A router d → E picks each token's top K experts (softmax scores, renormalised over the
    K), their outputs are mixed by those scores; shared experts see every token, behind an
    optional sigmoid gate d → 1 (Qwen-MoE)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, num = config.d_model, config.num_experts or 1
        self.top_k = config.experts_per_token or 1
        self.router = nn.Linear(d, num, bias=bool(config.router_bias))
        self.experts = Experts(num, d, config.expert_d_ff or config.d_ff or 4 * d,
                               config.mlp == "gated", bias=bool(config.expert_bias))
        self.shared: nn.Module | None = None
        self.shared_gate: nn.Module | None = None
        if config.shared_experts:
            self.shared = MLP(config, width=config.shared_experts * (config.shared_d_ff or 1))
            if config.shared_expert_gate:
                self.shared_gate = nn.Linear(d, 1, bias=False)
        # JetMoE: one bias on the mixed output
        self.bias = nn.Parameter(torch.zeros(d)) if config.moe_output_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        tokens = x.reshape(-1, x.shape[-1])  # (N, d)
        scores = F.softmax(self.router(tokens), dim=-1)  # (N, E)
        top, chosen = scores.topk(self.top_k, dim=-1)  # (N, K)
        out = self.experts(tokens, chosen, top / top.sum(-1, keepdim=True))
        if self.shared is not None:
            shared = self.shared(tokens)
            if self.shared_gate is not None:
                shared = torch.sigmoid(self.shared_gate(tokens)) * shared
            out = out + shared
        if self.bias is not None:
            out = out + self.bias
        return out.view_as(x)


class MixtureOfAttention(nn.Module):
    """JetMoE's mixture of attention heads: a router d → E picks each token's top K experts;
    each expert holds a query projection d → g·a and an output projection g·a → d (stacked,
    no biases). A token's K·g query heads (expert by expert) attend to g key/value heads from
    one shared projection d → 2·g·a, each key/value head serving the same head of every
    expert; the experts' outputs are mixed by the router's renormalised scores, plus a bias."""

    def __init__(self, config: ModelConfig, window: int | None = None) -> None:
        super().__init__()
        d, num = config.d_model, config.num_experts or 1
        g = config.n_kv_heads or 1
        a = config.head_dim or d // (config.n_heads or 1)
        self.g, self.a, self.top_k, self.window = g, a, config.experts_per_token or 1, window
        self.rotary = config.positional == "rotary"
        self.router = nn.Linear(d, num, bias=bool(config.router_bias))
        self.kv_proj = nn.Linear(d, 2 * g * a, bias=False)
        self.query = _uniform((num, d, g * a), d)  # expert e: x @ query[e]
        self.output = _uniform((num, g * a, d), g * a)
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        batch, seq_length, d = x.shape
        tokens = x.reshape(-1, d)  # (N, d)
        scores = F.softmax(self.router(tokens), dim=-1)  # (N, E)
        top, chosen = scores.topk(self.top_k, dim=-1)  # (N, K)
        weights = top / top.sum(-1, keepdim=True)
        routed = self._routes(chosen)
        width = self.g * self.a
        q = tokens.new_zeros(tokens.shape[0], self.top_k, width)  # (N, K, g·a)
        for expert, (token, slot) in routed:
            q = q.index_put((token, slot), tokens[token] @ self.query[expert])
        count = self.top_k * self.g  # a token's query heads
        q = q.view(batch, seq_length, count, self.a).transpose(1, 2)  # (B, K·g, S, a)
        k, v = (_split_heads(t, self.g) for t in self.kv_proj(x).chunk(2, dim=-1))  # (B, g, S, a)
        if self.rotary:
            q, k = rotary(q), rotary(k)
        # query head i·g + j (expert slot i) reads key/value head j
        k, v = k.repeat(1, self.top_k, 1, 1), v.repeat(1, self.top_k, 1, 1)  # (B, K·g, S, a)
        heads = attend(q, k, v, self.window).transpose(1, 2)  # (B, S, K·g, a)
        heads = heads.reshape(-1, self.top_k, width)  # (N, K, g·a)
        out = tokens.new_zeros(tokens.shape)
        for expert, (token, slot) in routed:
            mixed = (heads[token, slot] @ self.output[expert]) * weights[token, slot, None]
            out = out.index_add(0, token, mixed)
        return (out + self.bias).view(batch, seq_length, d)

    def _routes(self, chosen: torch.Tensor) -> list[tuple[int, tuple[torch.Tensor, ...]]]:
        """Each expert with the (token, slot) pairs routed to it. On the meta device, where
        routing cannot depend on values, expert 0 takes every slot (shapes only)."""
        if chosen.device.type == "meta":
            count = chosen.shape[0]
            token = torch.arange(count).repeat_interleave(self.top_k)
            slot = torch.arange(self.top_k).repeat(count)
            return [(0, (token.to("meta"), slot.to("meta")))]
        return [(expert, torch.where(chosen == expert)) for expert in range(self.query.shape[0])]


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
