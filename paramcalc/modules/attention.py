"""paramcalc's own attention modules: multi-head (grouped-query) attention with its masks,
sinks, ALiBi and chunks, latent attention with DeepSeek-V3.2's indexer, and JetMoE's mixture
of attention heads; written from the layer lists independently of ``layers.py``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import ModelConfig
from .norms import PerHeadNorm, make_norm
from .feed_forward import _uniform


def _split_heads(t: torch.Tensor, n_heads: int) -> torch.Tensor:
    batch, seq_length, width = t.shape
    return t.view(batch, seq_length, n_heads, width // n_heads).transpose(1, 2)  # (B, h, S, d/h)


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    batch, n_heads, seq_length, width = t.shape
    return t.transpose(1, 2).reshape(batch, seq_length, n_heads * width)  # (B, S, d)


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
