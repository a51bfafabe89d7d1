"""The sub-layers: one registry of the kinds a model is built from, each stating in one place,
as sympy expressions over the symbols of ``symbols.py``, what it holds and what it costs.

For every kind: its **parameters**; its **forward FLOPs** over one sequence of S tokens
(2·M·K·N per matrix product and nothing else, torch's FlopCounterMode's convention, see
``compute.py``); the **values it saves** for the backward pass per sequence (Korthikanti et
al. 2022, section 4.1, without dropout: the inputs of its matrix products and norms, and for
attention what the kernel keeps over the scores); the **values it caches** per token (keys
and values) and with which window; and the parameters a token does **not** pass through
(experts it is not routed to). ``formulas.py`` (counts), ``compute.py`` (FLOPs and memory),
``check``'s rows, ``summary`` and the sweep's columns are sums of these over the model's
layers. torchinfo's ``LayerInfo`` keeps parameters, MACs and bytes together per layer for the
same reason: the quantities of one layer cannot drift apart.

A size left to its default is written through what it follows (``defaults.py``): GPT-2's
attention stays 4·d², a Llama's keys are g·d/h wide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .defaults import written
from .spec import ModelConfig
from .symbols import (E_S, G, H, K, N, P, R, S, V, W, W_C, E, a, d, d_N, d_R, d_V, d_c, d_ix, f,
                      f_E, f_S, g, g_W, h, h_ix, k, r_kv, r_q, w)

_ZERO = sp.Integer(0)


@dataclass(frozen=True)
class SubLayer:
    """One sub-layer: what it holds and costs, each a sympy expression."""

    kind: str  # its entry in REGISTRY, e.g. "attention", "gated_mlp", "head.flatten"
    params: sp.Expr
    flops: sp.Expr = _ZERO  # forward, one sequence of S tokens
    saved: sp.Expr = _ZERO  # values saved for backward per sequence, beside the scores
    score_heads: sp.Expr = _ZERO  # heads whose scores the attention keeps (h·S·S or h·S)
    cache: sp.Expr = _ZERO  # values cached per token of context: keys and values
    window: sp.Expr | None = None  # tokens the cache holds at most (a sliding window, a chunk)
    chunked: bool = False  # the window is a chunk: a query attends to its chunk's tokens
    idle: sp.Expr = _ZERO  # parameters a token does not pass through: unrouted experts
    skipped: sp.Expr = _ZERO  # backward FLOPs that a constant input spares (an RNN's h₀)
    state: sp.Expr = _ZERO  # values held per sequence whatever the context, in the dtype
    scan_state: sp.Expr = _ZERO  # and those held in fp32: a selective scan's state


#: bytes per value of a scan's state: fp32, as transformers' cache (and the Mamba kernels'
#: last state) keeps it whatever the model's dtype
SCAN_STATE_BYTES = 4


def state_bytes(layers: tuple[SubLayer, ...], dtype_bytes: sp.Expr | int) -> sp.Expr:
    """Bytes of recurrent state per sequence over some sub-layers: the convolutions' last
    inputs in the dtype, the scans' states in fp32."""
    return sp.Add(*(layer.state * dtype_bytes + layer.scan_state * SCAN_STATE_BYTES
                    for layer in layers))


def dense(inputs: sp.Expr, outputs: sp.Expr, bias: bool = True) -> sp.Expr:
    """A fully connected layer's parameters: a weight matrix and, usually, a bias."""
    return inputs * outputs + (outputs if bias else 0)


def matmul(rows: sp.Expr, inputs: sp.Expr, outputs: sp.Expr) -> sp.Expr:
    """FLOPs of (rows × inputs) @ (inputs × outputs): one multiply and one add per term."""
    return 2 * rows * inputs * outputs


def linear(inputs: sp.Expr, outputs: sp.Expr) -> sp.Expr:
    """A dense layer's FLOPs at every position of one sequence."""
    return matmul(S, inputs, outputs)


#: the weights per feature of each norm kind: a LayerNorm's scale and shift, a scale alone
#: (RMSNorm, Cohere's LayerNorm without a bias), none (OLMo's LayerNorm without weights)
_NORM_WEIGHTS = {"layernorm": 2, "rmsnorm": 1, "layernorm_nobias": 1, "layernorm_bare": 0}


def norm_params(config: ModelConfig, width: sp.Expr) -> sp.Expr:
    """A norm's weights over ``width`` features, as its kind has them."""
    return _NORM_WEIGHTS[str(config.norm or "layernorm")] * width


# -- what each kind is --------------------------------------------------------------------


def token_embedding(config: ModelConfig) -> SubLayer:
    """The token embedding table, V × d (a lookup: no FLOPs)."""
    return SubLayer("token_embedding", V * d)


def embedding_norm(config: ModelConfig) -> SubLayer:
    """A norm on the token embeddings before the first block (BLOOM's
    word_embeddings_layernorm), of the model's norm kind; counted with the embedding."""
    return SubLayer("embedding_norm", norm_params(config, d) if config.embedding_norm
                    else _ZERO)


def position_table(config: ModelConfig) -> SubLayer:
    """A learned position table, P × d; sinusoidal, rotary and ALiBi encodings own nothing
    (ALiBi's bias on the scores is elementwise: no FLOPs)."""
    return SubLayer("position_table", P * d if config.positional == "learned" else _ZERO)


def seed_attention(config: ModelConfig) -> SubLayer:
    """The log's Keras block's attention: Dense Q, K, V (d → d, biased), no output projection.
    Saved: the input of Q/K/V, q, k, v and the attention's output; cached: keys and values."""
    return SubLayer("seed_attention", 3 * dense(d, d), flops=3 * linear(d, d) + 2 * matmul(S, d, S),
                    saved=S * (d + 3 * d + d), score_heads=h, cache=2 * d)


def seed_feed_forward(config: ModelConfig) -> SubLayer:
    """The log's block's one feed-forward Dense (d → d, biased); saved: its input and ReLU."""
    return SubLayer("seed_feed_forward", dense(d, d), flops=linear(d, d), saved=S * 2 * d)


def attention_widths(config: ModelConfig) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """The widths of one head, of all query heads and of all key/value heads, each written
    through the sizes it follows where it was left to its default."""
    head_width = written(config, "head_dim")
    queries = h * a if config.is_given("head_dim") else d
    keys = written(config, "n_kv_heads") * head_width
    return head_width, queries, sp.expand(keys)


def attention(config: ModelConfig, sliding: bool = False, chunked: bool = False) -> SubLayer:
    """Multi-head (grouped-query) attention: Q, K, V and output projections, norms on queries
    and keys if any; a sliding-window layer holds the same weights and caches only W tokens.
    A chunked layer (Llama 4's) too: a query attends to the tokens of its chunk of W_C up to
    itself, so at most W_C, and its cache holds the last W_C − 1 as a window's does
    (transformers keeps both in one kind of cache layer). Its scores are computed over the
    whole square and masked, as the window's are: the same FLOPs.

    MiMo-V2-Flash's: values d_V wide per head where v_head_dim is given (the output projection
    reads h·d_V), and sliding layers with g_W key/value heads of their own and sinks."""
    head_width, queries, keys = attention_widths(config)
    kv_heads = written(config, "n_kv_heads")
    if sliding and config.sliding_kv_heads is not None:
        kv_heads = g_W
        keys = sp.expand(g_W * head_width)
    if config.v_head_dim is not None:  # values narrower (or wider) than keys
        values, outputs, value_width = sp.expand(kv_heads * d_V), h * d_V, d_V
    else:
        values, outputs, value_width = keys, queries, head_width
    bias = bool(config.qkv_bias)
    params = (dense(d, queries, bias) + dense(d, keys, bias) + dense(d, values, bias)
              + dense(outputs, d, bool(config.proj_bias)))
    if config.qk_norm == "head":  # one scale of a head's width, shared by every head
        params += 2 * norm_params(config, head_width)
    elif config.qk_norm == "full":  # one scale over all query heads, one over all key heads
        params += norm_params(config, queries) + norm_params(config, keys)
    elif config.qk_norm == "per_head":  # every head a scale of its own, no shift (Cohere)
        params += queries + keys
    if config.attention_sinks or (sliding and config.sliding_sinks):
        params += h  # gpt-oss (MiMo's sliding layers): a learned sink logit per head, no FLOPs
    if config.sub_norms:  # BitNet's attn_sub_norm: on the heads' output, before o_proj
        params += norm_params(config, outputs)
    flops = linear(d, queries) + linear(d, keys) + linear(d, values) + linear(outputs, d) + \
        h * matmul(S, head_width, S) + h * matmul(S, S, value_width)
    gate = _ZERO
    if config.attention_gate:  # Qwen3-Next: q_proj twice as wide, the half a sigmoid gate
        params += dense(d, outputs, bias)  # on the heads' output (elementwise: no FLOPs)
        flops += linear(d, outputs)
        gate = outputs  # saved: the gate, and the heads' output before it
    # saved: the projections' input (and the norms' inputs), q, k, v, the attention's output
    # and the output projection's input (a sub-norm's output, beside its input, if any)
    inputs = d + ((queries + keys) if config.qk_norm != "none" else 0)
    saved = S * (inputs + queries + keys + values + (3 if config.sub_norms else 2) * outputs
                 + 2 * gate)
    kind = "chunked_attention" if chunked else "sliding_attention" if sliding else "attention"
    window = W_C if chunked else W if sliding else None
    return SubLayer(kind, params, flops=flops, saved=saved, score_heads=h, cache=keys + values,
                    window=window, chunked=chunked)


def mixture_of_attention(config: ModelConfig, sliding: bool = False) -> SubLayer:
    """JetMoE's mixture of attention heads (MoA; Shen et al. 2024): one key/value projection
    d → 2·g·d_h for every token; E experts, each a query projection d → g·d_h and an output
    projection g·d_h → d (no biases); a router d → E sends each token to K experts, whose
    K·g query heads attend to the g key/value heads (each serving K of them), and whose
    outputs are mixed by the router's weights, plus a d-wide bias. A token does not pass
    the other E − K experts' projections. Cached: the keys and values, as attention's."""
    head_width, _, keys = attention_widths(config)
    heads = K * written(config, "n_kv_heads")  # the query heads of one token, K·g
    one = dense(d, keys, False) + dense(keys, d, False)  # an expert: query in, output out
    params = dense(d, 2 * keys, False) + dense(d, E, bool(config.router_bias)) + E * one + d
    flops = (linear(d, 2 * keys) + linear(d, E) + K * (linear(d, keys) + linear(keys, d))
             + 2 * heads * matmul(S, head_width, S))
    # saved: the input, the router's scores, the K experts' queries, the keys and values,
    # the heads' output and the output projections' inputs (K each)
    saved = S * (d + E + K * keys + 2 * keys + 2 * K * keys)
    return SubLayer("sliding_mixture_of_attention" if sliding else "mixture_of_attention",
                    params, flops=flops, saved=sp.expand(saved), score_heads=heads,
                    cache=2 * keys, window=W if sliding else None, idle=(E - K) * one)


def latent_attention(config: ModelConfig, sliding: bool = False) -> SubLayer:
    """DeepSeek's multi-head latent attention: queries (optionally) and keys/values through
    low-rank latents with norms; a query/key head is d_N wide plus a d_R-wide rotary part that
    the keys share across heads; values are d_V wide. The cache holds the r_kv-wide latent and
    the shared rotary key (DeepSeek-V2, section 2.1; transformers caches the same)."""
    bias = bool(config.qkv_bias)
    head = d_N + d_R
    if config.q_lora_rank is not None:
        queries = dense(d, r_q, bias) + norm_params(config, r_q) + dense(r_q, h * head, False)
        query_flops = linear(d, r_q) + linear(r_q, h * head)
        latent = 2 * r_kv + d_R + 2 * r_q
    else:
        queries = dense(d, h * head, False)
        query_flops = linear(d, h * head)
        latent = 2 * r_kv + d_R
    keys_values = (dense(d, r_kv + d_R, bias) + norm_params(config, r_kv)
                   + dense(r_kv, h * (d_N + d_V), False))
    params = queries + keys_values + dense(h * d_V, d, bool(config.proj_bias))
    flops = (query_flops + linear(d, r_kv + d_R) + linear(r_kv, h * (d_N + d_V))
             + linear(h * d_V, d) + h * matmul(S, head, S) + h * matmul(S, S, d_V))
    # the projections' inputs (the block's, the latents' and their norms'), queries, keys,
    # values, the attention's output and the output projection's input
    saved = S * ((d + latent) + h * head + h * head + h * d_V + 2 * h * d_V)
    cache: sp.Expr = r_kv + d_R
    skipped: sp.Expr = _ZERO
    if config.index_n_heads is not None:
        # DeepSeek-V3.2's indexer (DSA): h_ix query heads from the query latent, one key d → d_ix
        # with a LayerNorm (weight and bias) of its own, per-head weights d → h_ix; its scores
        # ReLU(q·k) summed over the heads with those weights pick the keys each query attends
        # to. It runs without gradients (transformers' torch.no_grad; DeepSeek trains it apart),
        # so it has no backward pass and saves nothing; it caches its d_ix-wide key per token.
        params += (dense(r_q, h_ix * d_ix, False) + dense(d, d_ix, False) + 2 * d_ix
                   + dense(d, h_ix, False))
        indexer = (linear(r_q, h_ix * d_ix) + linear(d, d_ix) + linear(d, h_ix)
                   + h_ix * matmul(S, d_ix, S) + matmul(S, h_ix, S))
        flops += indexer
        skipped = 2 * indexer
        cache += d_ix
    return SubLayer("sliding_latent_attention" if sliding else "latent_attention", params,
                    flops=flops, saved=saved, score_heads=h, cache=cache,
                    window=W if sliding else None, skipped=skipped)


# -- state-space mixers ---------------------------------------------------------------------
#
# FLOPs: 2 per multiply-add for the projections and the depthwise convolution (its S kept
# outputs, d_c taps per channel). The selective scan is counted as its one contraction, the
# read-out y_t = C_t · h_t over the state (2·S·channels·N); the state update
# h_t = exp(Δ·A)·h_{t-1} + Δ·B_t·x_t is elementwise and, as norms and activations, costs
# nothing in FlopCounterMode's convention. The state per sequence: the convolution's last
# d_c inputs per channel (in the dtype) and the scan's state (in fp32), as transformers'
# cache holds them (LinearAttentionLayer's conv_states and recurrent_states).


def _conv(config: ModelConfig, channels: sp.Expr) -> sp.Expr:
    """A depthwise Conv1d over ``channels``, kernel d_c, with its bias if any."""
    return channels * d_c + (channels if config.conv_bias else 0)


def conv_flops(channels: sp.Expr) -> sp.Expr:
    """A causal depthwise conv's forward FLOPs as torch computes it: padded by d_c − 1 on both
    sides, S + d_c − 1 outputs of which the last d_c − 1 are dropped (the Mamba reference's
    ``causal_conv1d_ref`` and transformers' slow path), 2·d_c per output and channel."""
    return 2 * (S + d_c - 1) * channels * d_c


def mamba(config: ModelConfig) -> SubLayer:
    """Mamba's selective scan (Gu and Dao 2023): in_proj d → 2·d_I (x and the gate z), a
    depthwise conv over x, x_proj d_I → R + 2·N (Δ, B, C), dt_proj R → d_I (biased), A_log
    (d_I × N), D (d_I) and out_proj d_I → d. Falcon-Mamba's RMSNorms on Δ, B and C hold no
    weights; Jamba's (``ssm_norms``) hold R, N and N."""
    inner = written(config, "d_inner")
    bias = bool(config.ssm_bias)
    params = (dense(d, 2 * inner, bias) + _conv(config, inner) + dense(inner, R + 2 * N, False)
              + dense(R, inner) + inner * N + inner + dense(inner, d, bias))
    flops = (linear(d, 2 * inner) + conv_flops(inner) + linear(inner, R + 2 * N)
             + linear(R, inner) + linear(inner, d) + 2 * S * inner * N)
    # saved: the in-projection's input, x before and after the conv, Δ's low-rank input, Δ, B,
    # C, the gate z, the scan's output and the out-projection's input
    saved = S * (d + 2 * inner + R + inner + 2 * N + inner + 2 * inner)
    if config.ssm_norms:  # Jamba's RMSNorms on Δ, B and C: their weights, and their inputs
        params += R + 2 * N
        saved += S * (R + 2 * N)
    return SubLayer("mamba", params, flops=flops, saved=sp.expand(saved),
                    state=inner * d_c, scan_state=inner * N)


def mamba2(config: ModelConfig) -> SubLayer:
    """Mamba-2's state-space duality layer (Dao and Gu 2024): one in_proj d → 2·d_I + 2·G·N + H
    (z, x, B, C and Δ), a depthwise conv over x, B and C, per head dt_bias, A_log and D, a
    gated RMSNorm of d_I and out_proj d_I → d."""
    inner = written(config, "d_inner")
    head = written(config, "ssm_head_dim")
    conv = inner + 2 * G * N
    bias = bool(config.ssm_bias)
    params = (dense(d, inner + conv + H, bias) + _conv(config, conv) + 3 * H + inner
              + dense(inner, d, bias))
    flops = (linear(d, inner + conv + H) + conv_flops(conv) + linear(inner, d)
             + 2 * S * H * head * N)
    # saved: the in-projection's input, x/B/C before and after the conv, Δ, the gate z, the
    # norm's input and the out-projection's input
    saved = S * (d + 2 * conv + H + 3 * inner)
    return SubLayer("mamba2", params, flops=flops, saved=sp.expand(saved),
                    state=sp.expand(conv * d_c), scan_state=sp.expand(H * head * N))


def deltanet(config: ModelConfig) -> SubLayer:
    """Gated DeltaNet (Yang et al. 2024; Qwen3-Next's linear attention), on Mamba-2's sizes: G
    key heads N wide (queries and keys), H value heads d_P wide (values, their width
    d_I = H·d_P). in_proj_qkvz d → 2·G·N + 2·d_I (q, k, v and the gate z), in_proj_ba
    d → 2·H (the delta rule's β and the decay's input), a depthwise conv over q, k and v,
    per value head dt_bias and A_log, a gated RMSNorm of one value head's width (its d_P
    weights shared by the heads) and out_proj d_I → d.

    FLOPs: the projections and the conv as above; the delta rule per token and value head
    reads the N × d_P state twice, once against the key (the value it predicts) and once
    against the query (the output), 2·N·d_P each; its rank-one update is elementwise. That
    is the recurrent form; transformers' prefill runs a chunked form (chunks of 64, with a
    triangular solve) whose products the counter counts otherwise, so this is not compared
    under FlopCounterMode. The state per sequence: the conv's last d_c inputs per channel and
    the fp32 H × N × d_P state, what transformers' cache holds."""
    inner = written(config, "d_inner")
    head = written(config, "ssm_head_dim")
    conv = 2 * G * N + inner
    bias = bool(config.ssm_bias)
    params = (dense(d, conv + inner, bias) + dense(d, 2 * H, bias) + _conv(config, conv)
              + 2 * H + head + dense(inner, d, bias))
    flops = (linear(d, conv + inner) + linear(d, 2 * H) + conv_flops(conv) + linear(inner, d)
             + 4 * S * H * N * head)
    # saved: the in-projections' input, q/k/v before and after the conv, z, β's and the
    # decay's inputs, the norm's input and the out-projection's input
    saved = S * (d + 2 * conv + inner + 2 * H + 2 * inner)
    return SubLayer("deltanet", params, flops=flops, saved=sp.expand(saved),
                    state=sp.expand(conv * d_c), scan_state=sp.expand(H * N * head))


SSM_MIXERS: dict[str, Callable[[ModelConfig], SubLayer]] = {"mamba": mamba, "mamba2": mamba2,
                                                            "deltanet": deltanet}


def _mlp(config: ModelConfig, width: sp.Expr, bias: bool) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """d → width → d: parameters, FLOPs and saved values per position (plain: the input, the
    pre-activation and the activation; gated: the input, the gate, its activation, the up
    projection and their product)."""
    inputs = 2 if config.mlp == "gated" else 1
    params = inputs * dense(d, width, bias) + dense(width, d, bias)
    flops = inputs * linear(d, width) + linear(width, d)
    return params, flops, d + (4 if config.mlp == "gated" else 2) * width


def feed_forward(config: ModelConfig) -> SubLayer:
    """The block's feed-forward part, f wide: plain d → f → d or gated (gate and up, down)."""
    params, flops, saved = _mlp(config, f, bool(config.mlp_bias))
    if config.mlp == "xielu":  # Apertus's activation: two learned scalars, alpha_p and alpha_n
        params += 2
    if config.sub_norms:  # BitNet's ffn_sub_norm, f wide before down_proj: its output saved
        params += norm_params(config, f)
        saved += f
    return SubLayer("gated_mlp" if config.mlp == "gated" else "mlp", params, flops=flops,
                    saved=S * saved)


def expert(config: ModelConfig) -> sp.Expr:
    """One routed expert's parameters: a feed-forward part f_E wide, without biases."""
    return _mlp(config, f_E, False)[0]


def mixture_of_experts(config: ModelConfig) -> SubLayer:
    """A router (d → E), E routed experts of which a token passes K, and the shared experts
    every token passes through: one feed-forward part E_S·f_S wide, with Qwen-MoE's sigmoid
    gate d → 1."""
    one, one_flops, one_saved = _mlp(config, f_E, False)
    if config.expert_bias:  # gpt-oss: each expert's gate/up and down projections biased
        one += (2 if config.mlp == "gated" else 1) * f_E + d
    params = dense(d, E, bool(config.router_bias)) + E * one
    if config.moe_output_bias:  # JetMoE: one d-wide bias on the mixed output
        params += d
    flops = linear(d, E) + K * one_flops
    saved = d + E + K * (one_saved - d)  # the router's input and scores, each routed expert
    if config.shared_experts:
        shared, shared_flops, shared_saved = _mlp(config, E_S * f_S, bool(config.mlp_bias))
        params += shared
        flops += shared_flops
        saved += shared_saved - d
        if config.shared_expert_gate:
            params += dense(d, 1, False)
            flops += linear(d, 1)
    return SubLayer("mixture_of_experts", params, flops=flops, saved=S * saved,
                    idle=(E - K) * one)


def block_norms(config: ModelConfig) -> SubLayer:
    """Two norms per block (before or after each part), four in Gemma 2's sandwich, one before
    both parts side by side (GPT-J's shared); the seed block's two LayerNorms. Saved: each
    norm's input."""
    if config.block == "seed":
        return SubLayer("block_norms", 2 * 2 * d, saved=S * 2 * d)
    if config.ssm is not None or config.single_part:  # one norm before the block's one part
        return SubLayer("block_norms", norm_params(config, d), saved=S * d)
    count = {"sandwich": 4, "shared": 1}.get(str(config.norm_placement), 2)
    return SubLayer("block_norms", count * norm_params(config, d), saved=S * count * d)


def final_norm(config: ModelConfig) -> SubLayer:
    """The norm after the last block, if there is one (a seed model's is a LayerNorm)."""
    return SubLayer("final_norm", norm_params(config, d) if config.final_norm else _ZERO)


# -- the heads: what turns the last block's (S, d) output into logits --------------------


def _head(kind: str, params: sp.Expr, flops: sp.Expr, skipped: sp.Expr = _ZERO) -> SubLayer:
    return SubLayer(f"head.{kind}", params, flops=flops, skipped=skipped)


def _logits_bias(config: ModelConfig) -> bool:
    return bool(config.logits_bias)


def _gates(config: ModelConfig) -> int:
    """An RNN cell's gates: three for a GRU, four for an LSTM."""
    return 3 if config.cell == "gru" else 4


HEADS: dict[str, Callable[[ModelConfig], SubLayer]] = {
    # window heads predict once per sequence, per-position heads (tied, linear) S times
    "flatten": lambda c: _head("flatten", dense(S * d, V, _logits_bias(c)), matmul(1, S * d, V)),
    "bottleneck": lambda c: _head("bottleneck", dense(S * d, k) + dense(k, V, _logits_bias(c)),
                                  matmul(1, S * d, k) + matmul(1, k, V)),
    "td-dense": lambda c: _head("td-dense", dense(d, k) + dense(S * k, V, _logits_bias(c)),
                                matmul(S, d, k) + matmul(1, S * k, V)),
    "conv": lambda c: _head("conv", dense(w * d, k) + dense(S * k, V, _logits_bias(c)),
                            matmul(S, w * d, k) + matmul(1, S * k, V)),
    # torch's GRU/LSTM: input and recurrent weights and two bias vectors per gate; every step
    # the input and the previous state pass each gate; the first step's state is a constant
    # zero, so the backward pass computes only its weight's gradient
    "rnn": lambda c: _head("rnn", _gates(c) * (dense(d, k) + dense(k, k))
                           + dense(S * k, V, _logits_bias(c)),
                           matmul(S, d, _gates(c) * k) + matmul(S, k, _gates(c) * k)
                           + matmul(1, S * k, V), skipped=matmul(1, k, _gates(c) * k)),
    "tied-flatten": lambda c: _head("tied-flatten",
                                    dense(S * d, d) + (V if _logits_bias(c) else _ZERO),
                                    matmul(1, S * d, d) + matmul(1, d, V)),
    "tied": lambda c: _head("tied", V if _logits_bias(c) else _ZERO, matmul(S, d, V)),
    "linear": lambda c: _head("linear", dense(d, V, _logits_bias(c)), matmul(S, d, V)),
}

#: every sub-layer kind, by name: what a model is built from
REGISTRY: dict[str, Callable[[ModelConfig], SubLayer]] = {
    "token_embedding": token_embedding,
    "embedding_norm": embedding_norm,
    "position_table": position_table,
    "seed_attention": seed_attention,
    "seed_feed_forward": seed_feed_forward,
    "attention": attention,
    "sliding_attention": lambda c: attention(c, sliding=True),
    "chunked_attention": lambda c: attention(c, chunked=True),
    "latent_attention": latent_attention,
    "sliding_latent_attention": lambda c: latent_attention(c, sliding=True),
    "mixture_of_attention": mixture_of_attention,
    "sliding_mixture_of_attention": lambda c: mixture_of_attention(c, sliding=True),
    "mlp": feed_forward,
    "gated_mlp": feed_forward,
    "mixture_of_experts": mixture_of_experts,
    "mamba": mamba,
    "mamba2": mamba2,
    "deltanet": deltanet,
    "block_norms": block_norms,
    "final_norm": final_norm,
    **{f"head.{name}": build for name, build in HEADS.items()},
}


def block(config: ModelConfig, moe: bool = False, mixer: str = "full",
          ffn: str | None = None) -> tuple[SubLayer, ...]:
    """One block's sub-layers: its mixer, its feed-forward part and its norms; a single-part
    block's one part (a mixer of "none", or a feed-forward part ``ffn`` of "none") and its
    norm."""
    if config.block == "seed":
        return seed_attention(config), seed_feed_forward(config), block_norms(config)
    if mixer in SSM_MIXERS and config.ssm is not None:  # no feed-forward part: norm and mixer
        return SSM_MIXERS[mixer](config), block_norms(config)
    part = ffn or ("moe" if moe else "dense")
    if mixer == "none":  # a single-part feed-forward layer
        return (mixture_of_experts(config) if part == "moe" else feed_forward(config),
                block_norms(config))
    sliding = mixer == "sliding"
    mixing = (SSM_MIXERS[mixer](config) if mixer in SSM_MIXERS  # a hybrid's state-space layer
              else latent_attention(config, sliding) if config.latent
              else mixture_of_attention(config, sliding) if config.attention_experts
              else attention(config, sliding, chunked=mixer == "chunked"))
    if part == "none":  # a single-part mixer layer
        return mixing, block_norms(config)
    return mixing, mixture_of_experts(config) if part == "moe" else feed_forward(config), \
        block_norms(config)


def components(config: ModelConfig) -> dict[str, tuple[SubLayer, ...]]:
    """The sub-layers of every component but the blocks (``block`` gives those, per kind)."""
    return {"embedding": (token_embedding(config), embedding_norm(config)),
            "positional": (position_table(config),),
            "final_norm": (final_norm(config),), "head": (HEADS[str(config.head)](config),)}


def total(layers: tuple[SubLayer, ...], quantity: str) -> sp.Expr:
    """The sum of one quantity (``params``, ``flops``, …) over some sub-layers."""
    return sp.Add(*(getattr(layer, quantity) for layer in layers))
