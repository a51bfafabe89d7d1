"""The frozen, validated model configuration: a backbone and an output head.

Every check of user input lives here. A field left as ``None`` takes its default in
``__post_init__`` (``d_ff`` = 4·d_model, ``n_positions`` = seq_length, the head's own
defaults); the fields the user gave are remembered, so that swapping the head
(``with_head``) re-derives the defaults of the new head instead of inheriting the old one's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from .defaults import DEFAULTS, applying, head_width_default
from .errors import ConfigError
from .options import (BLOCKS, POSITIONALS, NORMS, MLPS, QK_NORMS, NORM_PLACEMENTS, HEADS, CELLS,
                      SSMS, HEAD_OPTIONS, HEAD_LAYERS, BLOCK_OPTIONS,
                      MOE_SIZES, LATENT_SIZES, INDEXER_SIZES, PATTERN_SIZES,
                      SSM_SIZES, SSM_ONLY, _SIZES, _CHOICES, _FLAGS, _LISTS,
                      _MAY_BE_ZERO, TRANSFORMER_ONLY, REQUIRED, MAX_SIZE,
                      PANELS, CHOICES, FLAGS, LISTS)  # noqa: F401  (re-exported)
from .pattern import LAYER_TYPES, STATE_SPACE, Group, groups, state_space
from .symbols import SYMBOLS


def _meta(help: str, panel: str = "model") -> dict[str, str]:
    """A field's help line and panel: what ``--help`` shows for its flag."""
    return {"help": help, "panel": panel}


def _field(help: str, panel: str = "model") -> Any:
    """An optional field (None: its default), with its help line."""
    return field(default=None, metadata=_meta(help, panel))


@dataclass(frozen=True)
class ModelConfig:
    """A transformer language model's hyperparameters, backbone and head."""

    vocab_size: int = field(metadata=_meta("V: tokens in the vocabulary"))
    seq_length: int = field(metadata=_meta("S: tokens the model sees at once"))
    d_model: int = field(metadata=_meta("d: embedding and block width"))
    num_blocks: int = field(metadata=_meta("n: number of blocks"))
    n_heads: int | None = _field("h: attention heads (must divide d_model)")
    d_ff: int | None = _field("f: feed-forward width of transformer blocks [4·d]")
    block: str | None = _field("block kind")
    positional: str | None = _field("position encoding")
    n_positions: int | None = _field("P: rows of a learned position table [S]")
    final_norm: bool | None = _field("a norm after the last block")
    embedding_norm: bool | None = _field(
        "a norm on the token embeddings, before the first block (BLOOM's "
        "word_embeddings_layernorm)")
    n_kv_heads: int | None = _field(
        "g: key/value heads, grouped-query attention (must divide n_heads) [h]", panel="block")
    sliding_kv_heads: int | None = _field(
        "g_W: key/value heads of the sliding-window layers (must divide n_heads) [g]",
        panel="block")
    head_dim: int | None = _field("d_h: width of one attention head [d/h]", panel="block")
    norm: str | None = _field(
        "norm kind: layernorm, rmsnorm (scale only), layernorm_nobias (scale only) or "
        "layernorm_bare (no weights)", panel="block")
    mlp: str | None = _field(
        "feed-forward kind: plain d→f→d, gated (gate, up, down) or xielu (plain, two learned "
        "scalars)", panel="block")
    qkv_bias: bool | None = _field("biases on the query, key and value projections", panel="block")
    proj_bias: bool | None = _field("a bias on the attention output projection", panel="block")
    mlp_bias: bool | None = _field("biases on the feed-forward layers", panel="block")
    qk_norm: str | None = _field(
        "norms on queries and keys: none, per head, over the full width, or per_head (each "
        "head its own scale)", panel="block")
    norm_placement: str | None = _field(
        "norms before each part (pre), after it (post), both (sandwich), or one before both "
        "parts side by side (shared)", panel="block")
    parallel_residual: bool | None = _field(
        "attention and feed-forward side by side", panel="block")
    num_experts: int | None = _field("E: routed experts per MoE layer (0: dense)", panel="moe")
    experts_per_token: int | None = _field("K: routed experts a token is sent to [1]", panel="moe")
    expert_d_ff: int | None = _field("f_E: inner width of one expert [d_ff]", panel="moe")
    shared_experts: int | None = _field("E_S: experts every token passes through [0]", panel="moe")
    shared_d_ff: int | None = _field("f_S: inner width of one shared expert [f_E]", panel="moe")
    shared_expert_gate: bool | None = _field(
        "a sigmoid gate d → 1 on the shared experts (Qwen-MoE)", panel="moe")
    dense_layers: tuple[int, ...] | None = _field(
        "layers (from 0) whose feed-forward stays dense: 0,1,2", panel="moe")
    first_dense: int | None = _field(
        "the first k layers keep a dense feed-forward (DeepSeek's first_k_dense_replace) [0]",
        panel="moe")
    moe_step: int | None = _field(
        "experts in every k-th layer, (i+1) % k == 0 (Qwen's decoder_sparse_step) [1]", panel="moe")
    layer_types: tuple[str, ...] | None = _field(
        "each layer's mixer, comma-separated: full_attention, sliding_attention, "
        "chunked_attention, or (a hybrid) mamba, mamba2 or deltanet; with single_part also "
        "mlp or moe", panel="block")
    full_every: int | None = _field(
        "every k-th layer attends in full, the others to a sliding window (Gemma's pattern) or "
        "within chunks (Llama 4's)", panel="block")
    sliding_window: int | None = _field(
        "W: tokens a sliding-window layer attends to and caches", panel="block")
    attention_chunk_size: int | None = _field(
        "W_C: a chunked layer's chunk: a token attends to those of its chunk up to itself, and "
        "the cache holds W_C − 1 (Llama 4)", panel="block")
    q_lora_rank: int | None = _field("r_q: latent attention's query rank [none]", panel="moe")
    kv_lora_rank: int | None = _field(
        "r_kv: latent attention's key/value rank (turns latent attention on)", panel="moe")
    qk_rope_head_dim: int | None = _field("d_R: rotary part of a query/key head", panel="moe")
    qk_nope_head_dim: int | None = _field("d_N: the rest of a query/key head", panel="moe")
    v_head_dim: int | None = _field(
        "d_V: width of a value head (latent attention's, or narrower values of multi-head "
        "attention: MiMo-V2-Flash) [d_h]", panel="moe")
    index_n_heads: int | None = _field(
        "h_ix: heads of the sparse-attention indexer beside latent attention (DeepSeek-V3.2; "
        "turns it on)", panel="moe")
    index_head_dim: int | None = _field("d_ix: width of one indexer head and of its key",
                                        panel="moe")
    head: str | None = _field(f"the output-head design: {', '.join(HEADS)}")
    head_width: int | None = _field("k: width a reducing head reduces to [d/8; bottleneck: d]")
    kernel_size: int | None = _field("w: the conv head's kernel [3]")
    cell: str | None = _field("the rnn head's cell [gru]")
    logits_bias: bool | None = _field("a V-sized bias on the logits")
    # -- modern attention families (gpt-oss): switches that are off unless given ---------
    attention_sinks: bool | None = _field(
        "a learned logit per head that every query may attend to instead (gpt-oss's sinks)",
        panel="block")
    sliding_sinks: bool | None = _field(
        "a learned sink logit per head in the sliding-window layers only (MiMo-V2-Flash)",
        panel="block")
    router_bias: bool | None = _field("a bias on the router d → E (gpt-oss)", panel="moe")
    expert_bias: bool | None = _field(
        "biases on every expert's projections (gpt-oss)", panel="moe")
    attention_experts: bool | None = _field(
        "every block's attention a mixture of attention heads (JetMoE's MoA): E experts, each a "
        "query projection d → g·d_h and an output projection back; a router sends each token "
        "to K of them, whose K·g query heads share one key/value projection d → 2·g·d_h; a "
        "d-wide bias on the output (n_heads must be K·g)", panel="moe")
    moe_output_bias: bool | None = _field(
        "a d-wide bias on the experts' mixed output (JetMoE)", panel="moe")
    sub_norms: bool | None = _field(
        "a norm inside each part: on attention's output before its output projection, and "
        "on the feed-forward part's inner width before its down projection (BitNet)",
        panel="block")
    attention_gate: bool | None = _field(
        "a sigmoid gate on attention's output, before its output projection, from a query "
        "projection twice as wide (Qwen3-Next)", panel="block")
    single_part: bool | None = _field(
        "each block one part after one norm: a mixer (full_attention, mamba2) or a "
        "feed-forward layer (mlp, moe), as layer_types lists them (Nemotron-H)",
        panel="block")
    # -- state-space mixers: every block a norm and a Mamba or Mamba-2 mixer -------------
    ssm: str | None = _field(
        "every block's mixer a state-space one instead of attention and feed-forward: "
        "mamba or mamba2", panel="ssm")
    d_state: int | None = _field("N: the state per channel (Mamba) or per head width "
                                 "(Mamba-2); a key head's width (DeltaNet) [16]", panel="ssm")
    d_conv: int | None = _field("d_c: the depthwise convolution's kernel [4]", panel="ssm")
    d_inner: int | None = _field(
        "d_I: the mixer's inner width, expand · d_model (DeltaNet: H·d_P) [2·d]", panel="ssm")
    dt_rank: int | None = _field("R: Mamba's time-step rank [⌈d/16⌉]", panel="ssm")
    ssm_groups: int | None = _field("G: Mamba-2's groups of B and C, DeltaNet's key heads [1]",
                                    panel="ssm")
    ssm_heads: int | None = _field("H: Mamba-2's heads, DeltaNet's value heads [1]",
                                   panel="ssm")
    ssm_head_dim: int | None = _field("d_P: one Mamba-2 (DeltaNet value) head's width "
                                      "[d_inner/H]", panel="ssm")
    conv_bias: bool | None = _field("a bias on the mixer's convolution [true; DeltaNet: false]",
                                    panel="ssm")
    ssm_bias: bool | None = _field("biases on the mixer's in and out projections [false]",
                                   panel="ssm")
    ssm_norms: bool | None = _field("RMSNorms with weights on Mamba's Δ, B and C (Jamba) [false]",
                                    panel="ssm")
    #: the values the user gave, before defaults: what ``replace`` starts from
    given: tuple[tuple[str, Any], ...] = field(default=(), repr=False, compare=False)
    #: the sizes the formulas write through their defaults (head_dim as d/h): part of
    #: equality, since a given head_dim of the same value is another formula
    follows: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        _set = object.__setattr__
        _set(self, "given", tuple((name, getattr(self, name)) for name in field_names()
                                  if getattr(self, name) is not None))
        for name in _SIZES:
            value = getattr(self, name)
            if name in _MAY_BE_ZERO and value == 0 and type(value) is int:
                continue
            if value is not None and (type(value) is not int or value <= 0):
                raise ConfigError(f"{name} must be a positive integer, got {_shown(value)}")
            if value is not None and value > MAX_SIZE:
                raise ConfigError(f"{name} must be at most 2**40 ({MAX_SIZE:,}), got "
                                  f"{_shown(value)}")
        for name in REQUIRED:
            if getattr(self, name) is None:
                raise ConfigError(f"{name} is required (a positive integer)")
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
        for name in _FLAGS:
            value = getattr(self, name)
            if value is not None and type(value) is not bool:
                raise ConfigError(f"{name} must be true or false, got {value!r}")

        _set(self, "block", self.block or "seed")
        _set(self, "positional", self.positional or "sinusoidal")
        _set(self, "final_norm", bool(self.final_norm))
        _set(self, "head", self.head or "flatten")
        self._refuse_unused()
        _set(self, "follows", frozenset(name for name, default in DEFAULTS.items()
                                        if default.written and default.applies(self)
                                        and getattr(self, name) is None))
        self._fill_defaults()
        for constraint in applying(self):
            if not constraint.holds(self.values()):
                raise ConfigError(constraint.message(self.__dict__))
        if self.num_experts:
            self._check_dense_layers()
        if self.block == "transformer":
            self._check_layer_types()
            self._check_dense_families()

    def _refuse_unused(self) -> None:
        """A value given for something this model does not have is an error, never ignored."""
        if self.block == "seed":
            used = [name for name in TRANSFORMER_ONLY if getattr(self, name) is not None]
            if used:
                why = ("the default without a preset" if not self.is_given("block")
                       else "block = seed")
                raise ConfigError(f"{used[0]} belongs to transformer blocks, and this model has "
                                  f"the log's seed block ({why}), which has none: give "
                                  f"block = transformer (--block transformer) or drop {used[0]}")
        if self.positional != "learned" and self.n_positions is not None:
            raise ConfigError(f"n_positions is the row count of a learned position table, and "
                              f"positional is {self.positional}: give positional = learned "
                              "or drop n_positions")
        switches = [name for name in ("experts_per_token", "expert_d_ff", "shared_experts",
                                      "shared_d_ff", "shared_expert_gate", "dense_layers",
                                      "first_dense", "moe_step")
                    if getattr(self, name) is not None]
        if not self.num_experts and switches:
            if self.num_experts == 0:
                raise ConfigError(f"num_experts is 0 (a dense model) but {switches[0]} is set; "
                                  "give num_experts of 1 or more, or drop the expert options")
            raise ConfigError(f"{switches[0]} needs num_experts (the routed experts of a "
                              "mixture-of-experts layer)")
        expert_only = [name for name in ("router_bias", "expert_bias", "attention_experts",
                                         "moe_output_bias")
                       if getattr(self, name) is not None]
        if not self.num_experts and expert_only:  # modern families: gpt-oss's biases
            raise ConfigError(f"{expert_only[0]} needs num_experts (the routed experts of a "
                              "mixture-of-experts layer)")
        ssm_used = [name for name in (*SSM_SIZES, "conv_bias", "ssm_bias", "ssm_norms")
                    if getattr(self, name) is not None]
        kind = state_space(self)
        if kind is None and ssm_used:
            raise ConfigError(f"{ssm_used[0]} belongs to a state-space mixer: give ssm = mamba "
                              "or mamba2 too (or list mamba, mamba2 or deltanet layers in "
                              "layer_types)")
        beside = [name for name in ("num_experts", "kv_lora_rank", "layer_types", "full_every",
                                    "sliding_window", "sub_norms", "attention_chunk_size")
                  if getattr(self, name) is not None]
        if self.ssm is not None and beside:
            raise ConfigError(f"{beside[0]} belongs to attention or experts, and every block's "
                              f"mixer is {self.ssm} (ssm), which has neither: drop {beside[0]}")
        wrong = [name for name, only in SSM_ONLY.items()
                 if kind is not None and kind not in only and getattr(self, name) is not None]
        if wrong:
            where = "ssm is" if self.ssm is not None else "layer_types lists"
            raise ConfigError(f"{wrong[0]} belongs to {' or '.join(SSM_ONLY[wrong[0]])} mixers, "
                              f"and {where} "
                              f"{kind}: drop {wrong[0]}")
        others = [name for name in LATENT_SIZES if name not in ("kv_lora_rank", "v_head_dim")
                  and getattr(self, name) is not None]
        if self.kv_lora_rank is None and others:
            raise ConfigError(f"{others[0]} belongs to latent attention: give kv_lora_rank too")
        sliding = [name for name in ("sliding_kv_heads", "sliding_sinks")
                   if getattr(self, name) is not None]
        if sliding and self.sliding_window is None:
            raise ConfigError(f"{sliding[0]} belongs to the sliding-window layers: give "
                              "sliding_window too")
        indexer = [name for name in INDEXER_SIZES if getattr(self, name) is not None]
        if indexer and (self.kv_lora_rank is None or self.q_lora_rank is None):
            raise ConfigError(f"{indexer[0]} sizes the sparse-attention indexer, which reads "
                              "latent attention's query latent: give kv_lora_rank and "
                              "q_lora_rank too")
        if len(indexer) == 1:
            missing = next(name for name in INDEXER_SIZES if name not in indexer)
            raise ConfigError(f"{indexer[0]} needs {missing} too: the indexer has both")
        uses = HEAD_OPTIONS[str(self.head)]
        unused = [name for name in ("head_width", "kernel_size", "cell")
                  if name not in uses and getattr(self, name) is not None]
        if unused:
            users = [h for h, options in HEAD_OPTIONS.items() if unused[0] in options]
            raise ConfigError(f"{unused[0]} is not used by the {self.head} head; it belongs to "
                              f"the {', '.join(users)} head{'s' if len(users) > 1 else ''}")

    def _fill_defaults(self) -> None:
        """Each size left out takes its default from ``defaults.DEFAULTS``; a size this model
        does not have is None. Then the switches' defaults."""
        _set = object.__setattr__
        for name, default in DEFAULTS.items():
            if not default.applies(self):
                _set(self, name, None)
            elif getattr(self, name) is None:
                _set(self, name, int(default.value.xreplace(self.values())))
        uses = HEAD_OPTIONS[str(self.head)]
        switches: dict[str, Any] = {
            "head_width": head_width_default(str(self.head)),
            "cell": "gru",
            "logits_bias": self.head not in ("tied", "tied-flatten"),
        }
        for name, default in switches.items():
            if name not in uses:
                _set(self, name, None)
            elif getattr(self, name) is None:
                value = default.xreplace(self.values()) if isinstance(default, sp.Expr) else default
                _set(self, name, int(value) if isinstance(value, sp.Expr) else value)
        if self.block == "transformer":
            for name, value in BLOCK_OPTIONS.items():
                if getattr(self, name) is None:
                    _set(self, name, value)
        for name, value in (("conv_bias", True), ("ssm_bias", False), ("ssm_norms", False)):
            kind = state_space(self)
            if name == "conv_bias" and kind == "deltanet":  # gated DeltaNet's conv: no bias
                value = False
            if kind is None or kind not in SSM_ONLY.get(name, (kind,)):  # none, another's
                _set(self, name, None)
            elif getattr(self, name) is None:
                _set(self, name, value)
        _set(self, "shared_expert_gate", bool(self.shared_expert_gate) if self.num_experts
             and self.shared_experts else None)
        if self.num_experts:
            _set(self, "dense_layers", tuple(sorted(self.dense_layers or ())))
        if self.layer_types is not None:
            _set(self, "layer_types", tuple(self.layer_types))

    def values(self) -> dict[sp.Symbol, sp.Integer]:
        """Each size that applies, by its symbol (what formulas and defaults substitute)."""
        return {symbol: sp.Integer(getattr(self, name)) for name, symbol in SYMBOLS.items()
                if getattr(self, name) is not None}

    def _check_dense_layers(self) -> None:
        layers = self.dense_layers or ()
        for index in layers:
            if not 0 <= index < self.num_blocks:
                raise ConfigError(f"dense_layers names layer {index!r}, but the layers are 0 to "
                                  f"{self.num_blocks - 1} (num_blocks = {self.num_blocks})")
        if len(set(layers)) != len(layers):
            raise ConfigError(f"dense_layers names a layer twice: {list(layers)}")
        if self.first_dense is not None and self.first_dense > self.num_blocks:
            raise ConfigError(f"first_dense ({self.first_dense:,}) must not exceed num_blocks "
                              f"({self.num_blocks:,})")

    def _check_dense_families(self) -> None:
        """The switches of the dense families (GPT-J's one norm, Apertus's xIELU) where they
        mean something."""
        if self.norm_placement == "shared" and not self.parallel_residual:
            raise ConfigError("norm_placement = shared is one norm before attention and "
                              "feed-forward side by side: give parallel_residual = true too")
        if self.attention_experts:
            other = next(((name, off) for name, on, off in (
                ("kv_lora_rank", self.latent, "no kv_lora_rank"),
                ("qkv_bias", self.qkv_bias, "qkv_bias = false"),
                ("proj_bias", self.proj_bias, "proj_bias = false"),
                ("attention_sinks", self.attention_sinks, "no attention_sinks"),
                ("sub_norms", self.sub_norms, "no sub_norms"),
                ("qk_norm", self.qk_norm != "none", "qk_norm = none")) if on), None)
            if other is not None:
                raise ConfigError(f"attention_experts is JetMoE's mixture of attention heads, "
                                  f"which has no {other[0]}: give {other[1]}")
        if self.sub_norms and (self.num_experts or self.latent):
            what = "num_experts" if self.num_experts else "kv_lora_rank"
            raise ConfigError(f"sub_norms are norms inside multi-head attention and a dense "
                              f"feed-forward part (BitNet): drop {what} or sub_norms")
        if self.attention_gate and (self.latent or self.attention_experts):
            what = "kv_lora_rank" if self.latent else "attention_experts"
            raise ConfigError(f"attention_gate gates multi-head attention's output (Qwen3-Next): "
                              f"drop {what} or attention_gate")
        if self.single_part and self.layer_types is None:
            raise ConfigError("single_part blocks are listed one by one: give layer_types too "
                              "(each layer's one part)")
        if self.single_part:
            other = next(((name, off) for name, on, off in (
                ("norm_placement", (self.norm_placement or "pre") != "pre",
                 "norm_placement = pre"),
                ("parallel_residual", self.parallel_residual, "parallel_residual = false"),
                ("sub_norms", self.sub_norms, "no sub_norms"),
                ("kv_lora_rank", self.latent, "no kv_lora_rank"),
                ("attention_experts", self.attention_experts, "no attention_experts"),
                ("first_dense", self.first_dense, "no first_dense"),
                ("moe_step", (self.moe_step or 1) != 1, "no moe_step"),
                ("dense_layers", self.dense_layers, "no dense_layers")) if on), None)
            if other is not None:
                raise ConfigError(f"single_part blocks (one norm and one part, as layer_types "
                                  f"lists them) have no {other[0]}: give {other[1]}")
        if self.mlp == "xielu" and self.num_experts:
            raise ConfigError("mlp = xielu is a dense feed-forward part (Apertus): experts "
                              "are plain or gated")

    def _check_layer_types(self) -> None:
        """Which layers attend to a sliding window or within chunks: listed, periodic, or all
        of them."""
        types = self.layer_types
        if types is not None:
            if self.full_every is not None:
                raise ConfigError("give layer_types or full_every, not both: each says which "
                                  "layers attend in full")
            unknown = [t for t in types if t not in LAYER_TYPES]
            if unknown:
                raise ConfigError(f"layer_types names {unknown[0]!r}; choose from: "
                                  f"{', '.join(LAYER_TYPES)}")
            if len(types) != self.num_blocks:
                raise ConfigError(f"layer_types lists {len(types):,} layers, but num_blocks is "
                                  f"{self.num_blocks:,}")
            kinds = [kind for kind in STATE_SPACE if kind in types]
            if len(kinds) > 1:
                raise ConfigError(f"layer_types lists both {' and '.join(kinds)} layers; a "
                                  "hybrid model has one kind of state-space mixer")
            single = [t for t in types if t in ("mlp", "moe")]
            if single and not self.single_part:
                raise ConfigError(f"layer_types lists {single[0]} layers, which are the "
                                  "feed-forward layers of single-part blocks: give "
                                  "single_part = true too")
            if "moe" in types and not self.num_experts:
                raise ConfigError("layer_types lists moe layers: give num_experts too")
            if kinds and self.kv_lora_rank is not None:
                raise ConfigError(f"layer_types lists {kinds[0]} layers beside latent "
                                  "attention (kv_lora_rank); paramcalc's hybrids pair a "
                                  "state-space mixer with grouped-query attention")
        if self.attention_chunk_size is not None and self.latent:
            raise ConfigError("attention_chunk_size chunks multi-head attention (Llama 4's); "
                              "latent attention (kv_lora_rank) has no chunked kind: drop one")
        chunk = self.attention_chunk_size
        if types is None and chunk is not None and self.sliding_window is not None:
            raise ConfigError("sliding_window and attention_chunk_size are both given: give "
                              "layer_types too, to say which layers slide and which are chunked")
        if self.full_every is not None and self.sliding_window is None and chunk is None:
            raise ConfigError("full_every makes the other layers sliding-window layers: give "
                              "sliding_window too (or attention_chunk_size, for chunked ones)")
        if types is None:
            return
        slides, chunked = "sliding_attention" in types, "chunked_attention" in types
        if slides and self.sliding_window is None:
            raise ConfigError("layer_types lists sliding_attention layers: give sliding_window "
                              "too")
        if not slides and self.sliding_window is not None:
            raise ConfigError(f"sliding_window ({self.sliding_window:,}) is given, but "
                              "layer_types lists no sliding_attention layer")
        if chunked and chunk is None:
            raise ConfigError("layer_types lists chunked_attention layers: give "
                              "attention_chunk_size too")
        if not chunked and chunk is not None:
            raise ConfigError(f"attention_chunk_size ({chunk:,}) is given, but layer_types "
                              "lists no chunked_attention layer")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], origin: str = "") -> ModelConfig:
        """Build from TOML-like keys; unknown keys and wrong types are errors naming ``origin``."""
        where = f"{origin}: " if origin else ""
        known = field_names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{where}unknown key {unknown[0]!r}; known keys: {', '.join(known)}")
        for name, value in values.items():
            expected = _expected_type(name)
            if expected is list and isinstance(value, tuple):
                value = list(value)
            if value is not None and type(value) is not expected:
                kind = {int: "an integer", str: "a string", bool: "true or false",
                        list: "a list of layer types" if name == "layer_types"
                        else "a list of layer numbers"}[expected]
                raise ConfigError(f"{where}{name} must be {kind}, got {value!r}")
            item_type = str if name == "layer_types" else int
            if isinstance(value, list) and any(type(item) is not item_type for item in value):
                what = "layer types" if name == "layer_types" else "layer numbers"
                raise ConfigError(f"{where}{name} must be a list of {what}, got {value!r}")
        try:
            return cls(**values)
        except TypeError:  # a required key is missing
            missing = [name for name in REQUIRED if values.get(name) is None]
            raise ConfigError(f"{where}missing {', '.join(missing)} (required: "
                              f"{', '.join(REQUIRED)})") from None
        except ConfigError as error:
            raise ConfigError(f"{where}{error}") from None

    def replace(self, **changes: Any) -> ModelConfig:
        """A new configuration from the given fields of this one, with ``changes`` applied."""
        values = dict(self.given)
        values.update({k: v for k, v in changes.items() if v is not None})
        return ModelConfig.from_mapping(values)

    def with_head(self, head: str) -> ModelConfig:
        """The same backbone with another head design, taking that head's defaults; the
        options of the old head that the new one does not use are left behind."""
        uses = HEAD_OPTIONS[head]
        values = {key: value for key, value in self.given
                  if key not in ("head_width", "kernel_size", "cell") or key in uses}
        values["head"] = head
        if "logits_bias" not in uses:
            values.pop("logits_bias", None)
        return ModelConfig.from_mapping(values)

    @property
    def latent(self) -> bool:
        """Whether attention is multi-head latent attention (DeepSeek-V2/V3)."""
        return self.kv_lora_rank is not None

    @property
    def moe_layers(self) -> int:
        """How many blocks have a mixture-of-experts feed-forward layer."""
        return sum(group.count for group in self.groups if group.ffn == "moe")

    @property
    def groups(self) -> tuple[Group, ...]:
        """The blocks that are alike, grouped, with their counts (closed form)."""
        if self.block == "seed":
            return (Group("full", "dense", self.num_blocks),)
        return groups(self)

    def is_given(self, name: str) -> bool:
        """Whether the user gave ``name`` (rather than letting it take its default)."""
        return any(key == name for key, _ in self.given)

    def to_dict(self) -> dict[str, Any]:
        """The resolved hyperparameters, without those that do not apply."""
        return {name: getattr(self, name) for name in field_names()
                if getattr(self, name) is not None}


def field_names() -> tuple[str, ...]:
    """Every hyperparameter name, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(ModelConfig)
                 if f.name not in ("given", "follows"))


def _shown(value: Any) -> str:
    """A value for a message: a long integer as its first digits and its length."""
    if type(value) is int and value.bit_length() > 100:  # str() of a huge int is slow or refused
        digits = int(value.bit_length() * 0.30103) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits:,} digits"
    return repr(value)


def _expected_type(name: str) -> type:
    if name in _SIZES:
        return int
    if name in _FLAGS:
        return bool
    if name in _LISTS:
        return list
    return str
