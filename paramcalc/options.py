"""The words and tables of a model's options: the choices each option takes, the head
designs' own options, the block's switches and their defaults, the groups of sizes (experts,
latent attention, the pattern, state-space mixers), and the help panels. ``spec`` validates a
configuration against them; the CLI and the readers spell their messages from them."""

from __future__ import annotations

from typing import Any

BLOCKS = ("seed", "transformer")
#: alibi: a bias on the attention scores, linear in the distance, one slope per head (Press et
#: al. 2022; BLOOM, MPT, Falcon): no parameters, and elementwise, so no FLOPs either
POSITIONALS = ("sinusoidal", "learned", "rotary", "alibi")
#: a LayerNorm (scale and shift), an RMSNorm (scale), a LayerNorm without its shift (Cohere)
#: and one without any weights (OLMo's elementwise_affine = false)
NORMS = ("layernorm", "rmsnorm", "layernorm_nobias", "layernorm_bare")
#: xielu: plain, through Apertus's xIELU, whose two learned scalars each block holds
MLPS = ("plain", "gated", "xielu")
#: per_head: a scale of its own for every query and key head (Cohere, StableLM)
QK_NORMS = ("none", "head", "full", "per_head")
#: shared: one norm before attention and feed-forward side by side (GPT-J, Phi, Cohere)
NORM_PLACEMENTS = ("pre", "post", "sandwich", "shared")
HEADS = ("flatten", "bottleneck", "td-dense", "conv", "rnn", "tied-flatten", "tied", "linear")
CELLS = ("gru", "lstm")
#: the state-space mixers a block may have instead of attention (and of a feed-forward part)
SSMS = ("mamba", "mamba2")

#: the head options each head design uses; the others are ignored for that head
HEAD_OPTIONS: dict[str, tuple[str, ...]] = {
    "flatten": ("logits_bias",),
    "bottleneck": ("head_width", "logits_bias"),
    "td-dense": ("head_width", "logits_bias"),
    "conv": ("head_width", "kernel_size", "logits_bias"),
    "rnn": ("head_width", "cell", "logits_bias"),
    "tied-flatten": ("logits_bias",),
    "tied": ("logits_bias",),
    "linear": ("logits_bias",),
}

#: what each head design is, in one line (shown by --help and the compare table)
HEAD_LAYERS: dict[str, str] = {
    "flatten": "flatten (S·d) → Dense(V)",
    "bottleneck": "flatten → Dense(k) → Dense(V)",
    "td-dense": "per-position Dense(d→k) → flatten (S·k) → Dense(V)",
    "conv": "Conv1D(d→k, kernel w) → flatten → Dense(V)",
    "rnn": "GRU/LSTM (d→k), all steps → flatten → Dense(V)",
    "tied-flatten": "flatten → Dense(d) → × embedding transposed",
    "tied": "every position × embedding transposed",
    "linear": "every position → Dense(V), untied",
}

#: the switches of a transformer block and their defaults (GPT-2's block); a seed block has none
BLOCK_OPTIONS: dict[str, Any] = {
    "norm": "layernorm",
    "mlp": "plain",
    "qkv_bias": True,
    "proj_bias": True,
    "mlp_bias": True,
    "qk_norm": "none",
    "norm_placement": "pre",
    "parallel_residual": False,
}

#: the sizes of a mixture-of-experts feed-forward layer (Mixtral, Qwen-MoE, DeepSeek)
MOE_SIZES = ("num_experts", "experts_per_token", "expert_d_ff", "shared_experts", "shared_d_ff")
#: the sizes of multi-head latent attention (DeepSeek-V2/V3)
LATENT_SIZES = ("q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim",
                "v_head_dim")
#: the sizes of DeepSeek-V3.2's sparse-attention indexer (DSA), beside latent attention
INDEXER_SIZES = ("index_n_heads", "index_head_dim")

#: the sizes of the per-layer pattern
PATTERN_SIZES = ("first_dense", "moe_step", "full_every", "sliding_window",
                 "attention_chunk_size")
#: the sizes of a state-space mixer (Mamba, Mamba-2), and those of one kind only
SSM_SIZES = ("d_state", "d_conv", "d_inner", "dt_rank", "ssm_groups", "ssm_heads",
             "ssm_head_dim")
#: (gated DeltaNet, Qwen3-Next's linear attention, reads Mamba-2's: H value heads d_P wide,
#: G key heads N wide, its value width d_inner = H·d_P)
SSM_ONLY: dict[str, tuple[str, ...]] = {
    "dt_rank": ("mamba",), "ssm_groups": ("mamba2", "deltanet"),
    "ssm_heads": ("mamba2", "deltanet"), "ssm_head_dim": ("mamba2", "deltanet"),
    "ssm_norms": ("mamba",)}
_SIZES = ("vocab_size", "seq_length", "d_model", "num_blocks", "n_heads", "d_ff", "n_positions",
          "n_kv_heads", "sliding_kv_heads", "head_dim", *MOE_SIZES, *LATENT_SIZES,
          *INDEXER_SIZES, "head_width", "kernel_size", *PATTERN_SIZES, *SSM_SIZES)
_CHOICES = {"block": BLOCKS, "positional": POSITIONALS, "norm": NORMS, "mlp": MLPS,
            "qk_norm": QK_NORMS, "norm_placement": NORM_PLACEMENTS, "head": HEADS, "cell": CELLS,
            "ssm": SSMS}
_FLAGS: tuple[str, ...] = ("final_norm", "embedding_norm", "qkv_bias", "proj_bias", "mlp_bias",
                           "parallel_residual", "shared_expert_gate", "logits_bias",
                           "attention_sinks", "sliding_sinks", "router_bias", "expert_bias",
                           "conv_bias", "ssm_bias", "ssm_norms", "sub_norms",
                           "attention_experts", "moe_output_bias", "attention_gate",
                           "single_part")
_LISTS = ("dense_layers", "layer_types")
#: the fields that take one of a few words, true/false, or a list: how the CLI spells them
CHOICES, FLAGS, LISTS = _CHOICES, _FLAGS, _LISTS
_MAY_BE_ZERO = ("num_experts", "shared_experts", "first_dense")  # 0 routed experts: a dense model
#: what a transformer block has and the log's seed block does not
TRANSFORMER_ONLY = ("d_ff", "n_kv_heads", "head_dim", *BLOCK_OPTIONS, *MOE_SIZES,
                    "shared_expert_gate", "dense_layers", "first_dense", "moe_step",
                    *LATENT_SIZES, *INDEXER_SIZES, "layer_types", "full_every",
                    "sliding_window", "attention_chunk_size")
TRANSFORMER_ONLY += ("attention_sinks", "router_bias", "expert_bias")  # modern families
TRANSFORMER_ONLY += ("sub_norms",)  # BitNet
TRANSFORMER_ONLY += ("attention_gate",)  # Qwen3-Next
TRANSFORMER_ONLY += ("single_part",)  # Nemotron-H
TRANSFORMER_ONLY += ("attention_experts", "moe_output_bias")  # JetMoE
TRANSFORMER_ONLY += ("sliding_kv_heads", "sliding_sinks")  # MiMo-V2-Flash's sliding layers
TRANSFORMER_ONLY += ("ssm", *SSM_SIZES, "conv_bias", "ssm_bias",  # state-space mixers
                     "ssm_norms")
REQUIRED = ("vocab_size", "seq_length", "d_model", "num_blocks")
#: the largest value any size may take: past it no model is meant, and sweeps count in int64
MAX_SIZE = 2**40


#: the panels the model options are shown in, by the field metadata's ``panel``
PANELS = {"model": "Model (a preset or file, then overrides)",
          "block": "Transformer block switches (defaults: GPT-2's block)",
          "moe": "Mixture of experts and latent attention",
          "ssm": "State-space mixers (Mamba, Mamba-2, gated DeltaNet)"}
