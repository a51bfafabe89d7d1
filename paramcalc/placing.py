"""A checkpoint's tensors placed in the model: every tensor name → its component (embedding,
position table, a block's attention, feed-forward part, experts, router or norms, the final
norm, the head) and its block, by the names the family's checkpoints give them; then the
checkpoint against the formulas, component by component and block kind by block kind.

The names are data: one ``Names`` per naming scheme — transformers' state-dict names
(``model.layers.N.self_attn.q_proj.weight`` for the Llama-like families, GPT-2's
``transformer.h.N.attn.c_attn.weight``, GPT-NeoX's, OPT's) and llama.cpp's GGUF names
(``blk.N.attn_q.weight``). A family whose names are Llama's needs no entry; another adds one
to ``NAMES``. A tensor no rule places is listed, never dropped, and fails the check.

Reading headers is counting: no torch, no transformers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from .errors import ConfigError
from .formulas import COMPONENTS, budget
from .pattern import ffn_of, group_name, mixer_of, Group
from .spec import ModelConfig
from .weights import Checkpoint, GGUFArray, TensorHeader

#: the parts of a block a tensor can sit in
PARTS = ("attention", "mixer", "feed_forward", "experts", "router", "shared_experts", "norms")
#: what a saved tensor that is not a parameter (a router's score bias, RoPE frequencies) is
BUFFER = "buffer"
#: what a multimodal wrapper holds beside its language model (towers, projectors): listed with
#: its bytes, and not counted, as the model compared is the language model
TOWER = "not_counted"
#: transformers' names for those parts, under the wrapper's ``model.``
_TOWERS = {"vision_tower": TOWER, "multi_modal_projector": TOWER, "visual": TOWER,
           "image_newline": TOWER, "vision_model": TOWER, "audio_tower": TOWER}
#: a block index longer than this is not an index (int() refuses thousands of digits)
_MAX_DIGITS = 12


@dataclass(frozen=True)
class Names:
    """How one naming scheme names a checkpoint's tensors.

    A name loses its first matching prefix; ``BLOCKS.N.rest`` is block N, and ``rest`` (then
    each shorter dotted prefix of it) is looked up in ``inner``; any other name (then each
    shorter prefix) in ``outer``. The longest match wins, so ``mlp.gate`` (a router) beats
    ``mlp`` and ``mlp.gate_proj`` does not match ``mlp.gate``."""

    prefixes: tuple[str, ...]
    blocks: tuple[str, ...]
    outer: Mapping[str, str]
    inner: Mapping[str, str]

    def extend(self, prefixes: Sequence[str] = (), blocks: Sequence[str] = (),
               outer: Mapping[str, str] | None = None,
               inner: Mapping[str, str] | None = None) -> Names:
        """These names with more prefixes, block containers and rules (the new ones first)."""
        return replace(self, prefixes=(*prefixes, *self.prefixes),
                       blocks=(*blocks, *self.blocks),
                       outer=MappingProxyType({**self.outer, **(outer or {})}),
                       inner=MappingProxyType({**self.inner, **(inner or {})}))


def _names(prefixes: Sequence[str], blocks: Sequence[str], outer: Mapping[str, str],
           inner: Mapping[str, str]) -> Names:
    return Names(tuple(prefixes), tuple(blocks), MappingProxyType(dict(outer)),
                 MappingProxyType(dict(inner)))


#: transformers' Llama-like names (and its MoE variants': stacked experts, routers, shared
#: experts); every family not in ``NAMES`` is read with these
LLAMA = _names(("model.",), ("layers",),
               {"embed_tokens": "embedding", "norm": "final_norm", "lm_head": "head"},
               {"self_attn": "attention", "mlp": "feed_forward",
                "input_layernorm": "norms", "post_attention_layernorm": "norms",
                "pre_feedforward_layernorm": "norms", "post_feedforward_layernorm": "norms",
                "mlp.experts": "experts", "mlp.gate": "router", "mlp.router": "router",
                "mlp.shared_expert": "shared_experts", "mlp.shared_experts": "shared_experts",
                "mlp.shared_expert_gate": "router",
                "mlp.gate.e_score_correction_bias": BUFFER,  # DeepSeek-V3's, not trained
                "block_sparse_moe.e_score_correction_bias": BUFFER,  # MiniMax-M2's
                "block_sparse_moe": "feed_forward", "block_sparse_moe.experts": "experts",
                "block_sparse_moe.gate": "router"})

GPT2 = _names(("transformer.",), ("h",),
              {"wte": "embedding", "wpe": "positional", "ln_f": "final_norm",
               "lm_head": "head"},
              {"attn": "attention", "mlp": "feed_forward", "ln_1": "norms", "ln_2": "norms"})

#: CTRL: GPT-2's containers, its own module names; the tied head's own logits bias
CTRL = _names(("transformer.",), ("h",),
              {"w": "embedding", "layernorm": "final_norm", "lm_head": "head"},
              {"multi_head_attention": "attention", "ffn": "feed_forward",
               "layernorm1": "norms", "layernorm2": "norms"})

#: GPT-1: GPT-2's containers and block names, its own embeddings, no final norm
OPENAI_GPT = GPT2.extend(outer={"tokens_embed": "embedding", "positions_embed": "positional"})

GPT_NEOX = _names(("gpt_neox.",), ("layers",),
                  {"embed_in": "embedding", "final_layer_norm": "final_norm",
                   "embed_out": "head"},
                  {"attention": "attention", "mlp": "feed_forward", "input_layernorm": "norms",
                   "post_attention_layernorm": "norms"})

#: OPT's block: attention, fc1 and fc2, a LayerNorm before (or after) each (XGLM's too)
_OPT_BLOCK = {"self_attn": "attention", "fc1": "feed_forward", "fc2": "feed_forward",
              "self_attn_layer_norm": "norms", "final_layer_norm": "norms"}

OPT = _names(("model.decoder.",), ("layers",),
             {"embed_tokens": "embedding", "embed_positions": "positional",
              "final_layer_norm": "final_norm", "lm_head": "head"}, _OPT_BLOCK)

#: XGLM: OPT's block names under model., its final norm layer_norm (its sinusoidal positions
#: are a buffer it does not save)
XGLM = _names(("model.",), ("layers",),
              {"embed_tokens": "embedding", "layer_norm": "final_norm", "lm_head": "head"},
              _OPT_BLOCK)

#: BioGPT: XGLM's names under biogpt., its positions a saved table, its head output_projection
BIOGPT = XGLM.extend(prefixes=("biogpt.",), outer={"embed_positions": "positional",
                                                   "output_projection": "head"})

#: llama.cpp's names in GGUF files (gguf-py's TENSOR_NAMES), the same for every architecture
GGUF = _names((), ("blk",),
              {"token_embd": "embedding", "position_embd": "positional",
               "output_norm": "final_norm", "output": "head", "rope_freqs": BUFFER},
              {**dict.fromkeys(("attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output",
                                "attn_q_norm", "attn_k_norm", "attn_q_a", "attn_q_a_norm",
                                "attn_q_b", "attn_kv_a_mqa", "attn_kv_a_norm", "attn_kv_b",
                                "attn_k_b", "attn_v_b"), "attention"),
               **dict.fromkeys(("attn_norm", "attn_norm_2", "attn_post_norm", "ffn_norm",
                                "ffn_pre_norm", "ffn_post_norm", "post_attention_norm",
                                "post_ffw_norm"), "norms"),
               **dict.fromkeys(("ffn_gate", "ffn_up", "ffn_down"), "feed_forward"),
               **dict.fromkeys(("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps",
                                "ffn_gate_up_exps"), "experts"),
               **dict.fromkeys(("ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp"),
                               "shared_experts"),
               "ffn_gate_inp": "router", "ffn_gate_inp_shexp": "router",
               "exp_probs_b": BUFFER})

#: DBRX: its attention and norms inside norm_attn_norm, its experts stacked in one GLU
DBRX = _names(("transformer.",), ("blocks",),
              {"wte": "embedding", "norm_f": "final_norm", "lm_head": "head"},
              {"norm_attn_norm.attn": "attention", "norm_attn_norm.norm_1": "norms",
               "norm_attn_norm.norm_2": "norms", "ffn.router": "router",
               "ffn.experts": "experts"})

#: BLOOM: GPT-2's containers, a LayerNorm on the word embeddings (counted with them), one
#: fused query_key_value in self_attention
BLOOM = _names(("transformer.",), ("h",),
               {"word_embeddings": "embedding", "word_embeddings_layernorm": "embedding",
                "ln_f": "final_norm", "lm_head": "head"},
               {"self_attention": "attention", "mlp": "feed_forward",
                "input_layernorm": "norms", "post_attention_layernorm": "norms"})

#: Falcon: BLOOM's names without the embeddings' norm; the new architecture's two norms
#: before the parts side by side, ln_attn and ln_mlp
FALCON = BLOOM.extend(inner={"ln_attn": "norms", "ln_mlp": "norms"})

#: MPT: DBRX's containers and outer names; one fused Wqkv, norm_1 and norm_2 in each block
MPT = _names(("transformer.",), ("blocks",),
             {"wte": "embedding", "norm_f": "final_norm", "lm_head": "head"},
             {"attn": "attention", "ffn": "feed_forward", "norm_1": "norms", "norm_2": "norms"})

#: model_type (or "gguf") -> its names; a family with Llama's names needs no entry
#: transformers' Mamba, Falcon-Mamba and Mamba-2: a backbone of blocks, each a norm and its
#: state-space mixer (in/out projections, conv, x/dt projections, A_log, D, a gated norm)
MAMBA = _names(("backbone.",), ("layers",),
               {"embeddings": "embedding", "norm_f": "final_norm", "lm_head": "head"},
               {"mixer": "mixer", "norm": "norms"})

#: Bamba: Llama's names, its Mamba-2 layers' mixer under mamba, its MLP feed_forward
BAMBA = LLAMA.extend(outer={"final_layernorm": "final_norm"},
                     inner={"mamba": "mixer", "feed_forward": "feed_forward",
                            "pre_ff_layernorm": "norms"})

#: Granite 4: Llama's names, its Mamba-2 layers' mixer under mamba, experts behind a router,
#: and in every layer the shared MLP (the whole feed-forward part where there are no experts)
GRANITE_HYBRID = LLAMA.extend(inner={"mamba": "mixer", "block_sparse_moe.router": "router",
                                     "shared_mlp": "feed_forward"})

#: Jamba: Bamba's names, its experts and their router under feed_forward
JAMBA = BAMBA.extend(inner={"feed_forward.router": "router", "feed_forward.experts": "experts"})

#: Nemotron-H (its checkpoints under backbone., as transformers saves them too): one norm
#: and one mixer a block, the mixer Mamba-2, attention, an MLP or experts (behind a gate,
#: with a score bias that is a buffer, beside shared_experts)
NEMOTRON_H = _names(("backbone.", "model."), ("layers",),
                    {"embeddings": "embedding", "norm_f": "final_norm", "lm_head": "head"},
                    {"mixer": "mixer", "norm": "norms", "mixer.experts": "experts",
                     "mixer.gate": "router", "mixer.gate.e_score_correction_bias": BUFFER,
                     "mixer.shared_experts": "shared_experts"})

#: Llama 4: Llama's names, the block's feed-forward part under feed_forward (its experts, router
#: and shared expert inside)
LLAMA4 = LLAMA.extend(inner={"feed_forward": "feed_forward", "feed_forward.experts": "experts",
                             "feed_forward.router": "router",
                             "feed_forward.shared_expert": "shared_experts"})

#: Qwen3-Next: Llama's names (Qwen-MoE's experts), its gated DeltaNet layers under linear_attn
QWEN3_NEXT = LLAMA.extend(inner={"linear_attn": "mixer"})

NAMES: dict[str, Names] = {"qwen3_next": QWEN3_NEXT, "qwen3_5_text": QWEN3_NEXT,
                           "qwen3_5_moe_text": QWEN3_NEXT,
                           "bamba": BAMBA, "granitemoehybrid": GRANITE_HYBRID, "jamba": JAMBA,
                           "llama4_text": LLAMA4, "llama4": LLAMA4, "nemotron_h": NEMOTRON_H,
                           "mamba": MAMBA, "falcon_mamba": MAMBA, "mamba2": MAMBA,
                           "gpt2": GPT2, "openai-gpt": OPENAI_GPT, "ctrl": CTRL,
                           "gpt_neox": GPT_NEOX, "opt": OPT, "xglm": XGLM,
                           "biogpt": BIOGPT, "bloom": BLOOM, "mpt": MPT, "falcon": FALCON,
                           "gguf": GGUF, "dbrx": DBRX,
                           # GLM-4's sandwich: a norm after each part as well as before
                           "glm4": LLAMA.extend(inner={"post_self_attn_layernorm": "norms",
                                                       "post_mlp_layernorm": "norms"}),
                           # the dense families of families/dense.py
                           "apertus": LLAMA.extend(inner={"attention_layernorm": "norms",
                                                          "feedforward_layernorm": "norms",
                                                          # xIELU's constants, not trained
                                                          "mlp.act_fn.beta": BUFFER,
                                                          "mlp.act_fn.eps": BUFFER}),
                           "persimmon": LLAMA.extend(outer={"final_layernorm": "final_norm"}),
                           "phi": LLAMA.extend(outer={"final_layernorm": "final_norm"}),
                           "gptj": GPT2, "codegen": GPT2,
                           # GPT-2's names (GPT-Neo's q, k, v and out_proj under attn.attention)
                           "gpt_bigcode": GPT2, "gpt_neo": GPT2,
                           # JetMoE: its mixture of attention heads under self_attention, its
                           # feed-forward experts stacked in input_linear and output_linear
                           "jetmoe": LLAMA.extend(inner={"self_attention": "attention",
                                                         "mlp.input_linear": "experts",
                                                         "mlp.output_linear": "experts"})}


@dataclass(frozen=True)
class Placement:
    """Where one tensor sits: its component (or part of a block) and its block, if any."""

    tensor: TensorHeader
    component: str | None  # None: no rule places it
    block: int | None = None


def place_name(name: str, names: Names) -> tuple[str | None, int | None]:
    """The component (or block part) and block index of one tensor name, or (None, None)."""
    path = name
    for prefix in names.prefixes:
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    parts = path.split(".")
    if (len(parts) > 2 and parts[0] in names.blocks and parts[1].isascii()
            and parts[1].isdigit() and len(parts[1]) <= _MAX_DIGITS):
        return _longest(parts[2:], names.inner), int(parts[1])
    return _longest(parts, names.outer), None


def _longest(parts: list[str], rules: Mapping[str, str]) -> str | None:
    """The rule for the longest dotted prefix of ``parts`` that has one."""
    for end in range(len(parts), 0, -1):
        found = rules.get(".".join(parts[:end]))
        if found is not None:
            return found
    return None


def names_for(checkpoint: Checkpoint, model_type: str | None = None) -> Names:
    """The names a checkpoint is read with: GGUF's, the family's, or, for an unnamed family,
    the scheme that places the most of its tensors (Llama's where none does better)."""
    if checkpoint.format == "gguf":
        return GGUF
    if model_type is not None:
        from .families.wrappers import WRAPPERS

        if model_type in {w.model_type for w in WRAPPERS}:  # its language model, and towers
            # as transformers holds it, and as save_pretrained writes the older names back
            return NAMES.get(model_type, LLAMA).extend(
                prefixes=("model.language_model.", "language_model.model.", "language_model."),
                outer=_TOWERS)
        return NAMES.get(model_type, LLAMA)
    schemes = [LLAMA, *(n for key, n in NAMES.items() if key != "gguf")]
    return max(schemes, key=lambda n: sum(place_name(t.name, n)[0] is not None
                                          for t in checkpoint.tensors))


def place(checkpoint: Checkpoint, names: Names) -> tuple[Placement, ...]:
    """Every tensor of the checkpoint, placed (or not), in the checkpoint's order."""
    return tuple(Placement(t, *place_name(t.name, names)) for t in checkpoint.tensors)


# -- the checkpoint against the formulas ----------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One component: the formula's count and the checkpoint's."""

    component: str
    formula: int
    instantiated: int  # what the checkpoint holds (the name check's JSON gives every row)

    @property
    def ok(self) -> bool:
        return self.formula == self.instantiated


@dataclass(frozen=True)
class Part:
    """What the checkpoint holds in one component (or one part of the blocks)."""

    component: str
    tensors: int
    params: int
    nbytes: int

    @property
    def bits_per_weight(self) -> Fraction:
        return Fraction(8 * self.nbytes, self.params) if self.params else Fraction(0)


@dataclass(frozen=True)
class WeightsCheck:
    """A checkpoint against the formulas of one configuration."""

    config: ModelConfig
    checkpoint: Checkpoint
    placements: tuple[Placement, ...]
    rows: tuple[Row, ...]
    parts: tuple[Part, ...] = field(default=())

    @property
    def unplaced(self) -> tuple[str, ...]:
        return tuple(p.tensor.name for p in self.placements if p.component is None)

    @property
    def ok(self) -> bool:
        return not self.unplaced and all(row.ok for row in self.rows)


def check_weights(config: ModelConfig, checkpoint: Checkpoint,
                  model_type: str | None = None) -> WeightsCheck:
    """Place every tensor, then compare each component, each block of each kind, the blocks
    and the total with the formulas. Saved buffers are reported, not counted as parameters."""
    placements = place(checkpoint, names_for(checkpoint, model_type))
    result = budget(config)
    formula = dict(result.params)
    kinds = {kind["kind"]: int(kind["per_block"])  # type: ignore[call-overload]
             for kind in result.kind_params()}
    held = dict.fromkeys(COMPONENTS, 0)
    per_block: dict[int, int] = {}
    for p in placements:
        if p.component in (None, BUFFER, TOWER):
            continue
        if p.block is None:
            held[p.component] += p.tensor.params
        else:
            held["blocks"] += p.tensor.params
            per_block[p.block] = per_block.get(p.block, 0) + p.tensor.params
    rows = [Row(name, formula[name], held[name]) for name in ("embedding", "positional")]
    groups = tuple(Group(mixer_of(config, i), ffn_of(config, i), 1)
                   for i in range(config.num_blocks)) if len(kinds) > 1 else ()
    for kind, size in kinds.items():
        indices = [i for i in range(config.num_blocks)
                   if not groups or group_name(groups[i], groups) == kind]
        if groups and not indices:
            continue  # a kind the pattern gives no block at this depth (Gemma 3's full
            # layers in a model of fewer than sliding_window_pattern layers)
        counts = [per_block.get(i, 0) for i in indices]
        # the first block that differs from the formula, else the first of the kind
        shown = next((c for c in counts if c != size), counts[0] if counts else 0)
        rows.append(Row("per_block" if len(kinds) == 1 else f"per_block[{kind}]", size, shown))
    rows += [Row(name, formula[name], held[name]) for name in ("blocks", "final_norm", "head")]
    params = sum(p.tensor.params for p in placements if p.component not in (BUFFER, TOWER))
    rows.append(Row("total", formula["total"], params))
    return WeightsCheck(config, checkpoint, placements, tuple(rows), _parts(placements))


def _parts(placements: Sequence[Placement]) -> tuple[Part, ...]:
    """Tensors, elements and bytes per component, the blocks split into their parts; the
    unplaced last."""
    order = ["embedding", "positional", *(f"blocks.{part}" for part in PARTS), "final_norm",
             "head", BUFFER, TOWER, "unplaced"]
    sums: dict[str, list[int]] = {}
    for p in placements:
        key = ("unplaced" if p.component is None else
               f"blocks.{p.component}" if p.block is not None
               and p.component not in (BUFFER, TOWER)
               else p.component)
        entry = sums.setdefault(key, [0, 0, 0])
        entry[0] += 1
        entry[1] += p.tensor.params
        entry[2] += p.tensor.nbytes
    return tuple(Part(key, *sums[key]) for key in order if key in sums)


# -- a GGUF file's own model ----------------------------------------------------------------

#: GGUF's general.architecture -> the model_type whose record reads its sizes
GGUF_ARCHITECTURES: dict[str, str] = {
    "llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3",
    "gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3_text", "phi3": "phi3",
    "olmo2": "olmo2", "starcoder2": "starcoder2", "qwen2moe": "qwen2_moe",
    "qwen3moe": "qwen3_moe", "olmoe": "olmoe", "phimoe": "phimoe",
}
#: config.json key <- the GGUF key after ``{arch}.``
_GGUF_KEYS = {"hidden_size": "embedding_length", "num_hidden_layers": "block_count",
              "num_attention_heads": "attention.head_count",
              "num_key_value_heads": "attention.head_count_kv",
              "intermediate_size": "feed_forward_length",
              "max_position_embeddings": "context_length", "head_dim": "attention.key_length",
              "num_local_experts": "expert_count", "num_experts": "expert_count",
              "num_experts_per_tok": "expert_used_count",
              "moe_intermediate_size": "expert_feed_forward_length",
              "shared_expert_intermediate_size": "expert_shared_feed_forward_length",
              "sliding_window": "attention.sliding_window"}


def gguf_config_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """The config.json a GGUF file's metadata describes, in its family's keys. What GGUF does
    not say is read from the tensors as llama.cpp reads it: a file without ``output.weight``
    ties its head, a ``blk.0.attn_q.bias`` means biased attention."""
    arch = checkpoint.architecture
    if arch not in GGUF_ARCHITECTURES:
        known = ", ".join(GGUF_ARCHITECTURES)
        raise ConfigError(f"{checkpoint.source}: general.architecture {arch!r} is not one "
                          f"paramcalc reads from GGUF; known: {known} (or give the model with "
                          "--hf-config, --hf or --preset)")
    meta = checkpoint.metadata
    data: dict[str, Any] = {"model_type": GGUF_ARCHITECTURES[arch]}
    for key, suffix in _GGUF_KEYS.items():
        value = meta.get(f"{arch}.{suffix}")
        if isinstance(value, int) and not isinstance(value, bool):
            data[key] = value
    names = {t.name: t for t in checkpoint.tensors}
    vocab = meta.get(f"{arch}.vocab_size")
    tokens = meta.get("tokenizer.ggml.tokens")
    if isinstance(vocab, int):
        data["vocab_size"] = vocab
    elif isinstance(tokens, GGUFArray):
        data["vocab_size"] = tokens.length
    elif isinstance(tokens, tuple):
        data["vocab_size"] = len(tokens)
    elif "token_embd.weight" in names:
        data["vocab_size"] = names["token_embd.weight"].shape[0]
    data["tie_word_embeddings"] = "output.weight" not in names
    data["attention_bias"] = "blk.0.attn_q.bias" in names
    data["mlp_bias"] = "blk.0.ffn_up.bias" in names
    missing = [key for key in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                               "vocab_size") if key not in data]
    if missing:
        raise ConfigError(f"{checkpoint.source}: its metadata lacks {arch}."
                          f"{_GGUF_KEYS.get(missing[0], 'vocab_size')}, which sizes the model")
    return data


def gguf_config(checkpoint: Checkpoint) -> tuple[str, ModelConfig]:
    """The model_type and the configuration a GGUF file's own metadata gives."""
    from .families import FAMILIES
    from .families.record import read

    data = gguf_config_json(checkpoint)
    model_type = data["model_type"]
    values = read(FAMILIES[model_type], data, checkpoint.source)
    try:
        return model_type, ModelConfig.from_mapping(values, origin=checkpoint.source)
    except ConfigError as error:
        raise ConfigError(f"{error} (read from its GGUF metadata)") from None


def _looks_like_hub_name(text: str) -> bool:
    """ORG/NAME[@REVISION] that is not a path on this machine."""
    from pathlib import Path

    return text.count("/") == 1 and not text.startswith((".", "/", "~")) and \
        not Path(text).exists() and not text.endswith((".gguf", ".safetensors", ".json"))


def model_for(model: Any, weights: str) -> tuple[Any, str | None, Checkpoint]:
    """The checkpoint ``--weights`` names, and the model it is compared with: the one the
    options gave, else the config.json beside the weights, else a GGUF file's own metadata."""
    from pathlib import Path

    from . import presets
    from .families import read_json
    from .weights import read

    hub = _looks_like_hub_name(weights)
    if hub:
        from .hub import config_file, weights_headers

        checkpoint = weights_headers(weights)
    else:
        checkpoint = read(weights)
    if model is None:
        if checkpoint.format == "gguf" and not hub:
            model_type, config = gguf_config(checkpoint)
            return (presets.Preset(Path(checkpoint.source).name, config,
                                   "from its GGUF metadata"), model_type, checkpoint)
        if hub:
            beside = config_file(weights)
        else:
            where = Path(weights)
            beside = (where if where.is_dir() else where.parent) / "config.json"
            if not beside.is_file():
                raise ConfigError(f"no config.json beside {weights}: give the model with "
                                  "--hf-config, --hf or --preset")
        model = presets.resolve(hf_config=beside)
    found_type: str | None = None
    if model.hf_config is not None:
        found = read_json(model.hf_config).get("model_type")
        found_type = found if isinstance(found, str) else None
    return model, found_type, checkpoint
