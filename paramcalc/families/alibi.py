"""BLOOM, MPT and Falcon: one fused query_key_value, LayerNorms, a plain MLP, and ALiBi (a bias
on the scores, no parameters) where the others have positions. Records written from
transformers' modeling code (5.25).

- BLOOM: a LayerNorm on the word embeddings (``embedding_norm``), biases everywhere, an MLP
  always 4·d wide, a head tied to the tokens. Its config has no context window (ALiBi
  extrapolates): ``seq_length`` is its training length, 2,048, the length the FLOPs are
  counted over. ``n_embed`` is an older name of ``hidden_size`` that the config class reads
  over it; ``pretraining_tp``, ``slow_but_exact`` and
  ``apply_residual_connection_post_layernorm`` change no count.
- MPT: transformers' MptModel builds one layout whatever the file says: ALiBi and no
  position table, no bias on any layer and LayerNorms without one, an MLP 4·d wide, multi-head
  attention. The original MPT (llm-foundry) reads ``no_bias``, ``expansion_ratio``,
  ``attn_config.alibi`` (else ``learned_pos_emb``: a table), ``attn_config.qk_ln`` and
  ``attn_config.attn_type``, so a file that sets one of them otherwise describes a model
  transformers does not build: refused by name. ``clip_qkv``, ``softmax_scale``,
  ``logit_scale`` and ``norm_type`` (a LayerNorm without bias or an RMSNorm: d weights either
  way) change no count.
- Falcon: attention and MLP side by side (``parallel_attn``) after one shared LayerNorm, or
  after two (``new_decoder_architecture`` with ``num_ln_in_parallel_attn`` 2, its default);
  keys and values of one head (``multi_query``), of ``num_kv_heads`` (new architecture) or
  of every head; ``alibi`` or rotary positions; ``bias`` on every Linear; ``ffn_hidden_size``
  (null: 4·d). The combinations transformers builds and cannot run are refused.
"""

from __future__ import annotations

from typing import Any

from .record import Family, Reader, Refusal, flag, optional, size, text
from .records import TIED

#: BLOOM's training length: its config.json has no context window of its own
BLOOM_CONTEXT = 2048


def _fused(width: str, layers: str, heads: str, context: Any) -> dict[str, Any]:
    """The sizes under the family's names, LayerNorms, a plain MLP, a tied head."""
    return dict(vocab_size=size("vocab_size"), seq_length=context, d_model=size(width),
                num_blocks=size(layers), n_heads=size(heads), block="transformer",
                final_norm=True, norm="layernorm", mlp="plain", head=TIED, logits_bias=False)


def _never_built(what: str) -> str:
    return f"asks for {what}, which transformers' MPT never builds (the original MPT does)"


def _blocks_of_falcon(keys: Reader, values: dict[str, Any]) -> None:
    # keys and values: num_kv_heads (null: every head) in the new architecture, one head with
    # multi_query, else every head (values["n_kv_heads"] left to follow n_heads)
    new = keys["new_decoder_architecture"]
    if new and keys["num_kv_heads"] is not None:
        values["n_kv_heads"] = keys["num_kv_heads"]
    elif not new and keys["multi_query"]:
        values["n_kv_heads"] = 1
    if keys["parallel_attn"]:  # one norm shared by both parts, or one before each
        two = new and keys["num_ln_in_parallel_attn"] in (None, 2)
        values.update(parallel_residual=True, norm_placement="pre" if two else "shared")


_NEW = "new_decoder_architecture"

ALIBI: tuple[Family, ...] = (
    Family("bloom", {**_fused("hidden_size", "n_layer", "n_head", BLOOM_CONTEXT), "d_ff": None,
                     "positional": "alibi", "embedding_norm": True, "qkv_bias": True,
                     "proj_bias": True, "mlp_bias": True},
           aliases={"n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
                    "hidden_size": "n_embed"}),
    Family("mpt", {**_fused("d_model", "n_layers", "n_heads", size("max_seq_len")),
                   "d_ff": None, "positional": "alibi", "norm": "layernorm_nobias",
                   "qkv_bias": False, "proj_bias": False, "mlp_bias": False},
           aliases={"d_model": "hidden_size", "n_heads": "num_attention_heads",
                    "n_layers": "num_hidden_layers"},
           refusals=(Refusal(flag("no_bias"), _never_built("biases"), lambda off, keys: not off),
                     Refusal(size("expansion_ratio"), "is not 4: transformers' MPT builds its "
                             "MLP 4·d_model wide whatever this says (the original MPT "
                             "expansion_ratio·d_model)", lambda ratio, keys: ratio != 4),
                     Refusal(flag("attn_config.alibi"), _never_built(
                         "positions other than ALiBi (a learned table with learned_pos_emb)"),
                         lambda on, keys: not on),
                     Refusal(flag("attn_config.qk_ln"), _never_built(
                         "LayerNorms on queries and keys"), lambda on, keys: on),
                     Refusal(text("attn_config.attn_type"), _never_built(
                         "fewer key/value heads than query heads"),
                         lambda kind, keys: kind != "multihead_attention"))),
    Family("falcon", {**_fused("hidden_size", "num_hidden_layers", "num_attention_heads",
                               size("max_position_embeddings")),
                      "d_ff": optional("ffn_hidden_size"),
                      "positional": flag("alibi", {True: "alibi", False: "rotary"}),
                      "qkv_bias": flag("bias"), "proj_bias": flag("bias"),
                      "mlp_bias": flag("bias")},
           aliases={"hidden_size": "n_embed"},
           refusals=(Refusal(flag("parallel_attn"), f"with {_NEW} builds a block whose "
                             "norms transformers' forward does not find",
                             lambda parallel, keys: not parallel and keys[_NEW]),
                     Refusal(optional("num_ln_in_parallel_attn"), f"is neither 1 nor 2 with "
                             f"{_NEW}: transformers' forward leaves the MLP without an input",
                             lambda lns, keys: keys[_NEW] and keys["parallel_attn"]
                             and lns not in (None, 1, 2)),
                     Refusal(optional("num_ln_in_parallel_attn"), f"without {_NEW} builds "
                             "two norms, and transformers' forward reads the one it does not "
                             "build", lambda lns, keys: not keys[_NEW] and keys["parallel_attn"]
                             and lns == 2),
                     Refusal(optional("num_kv_heads"), f"differs from num_attention_heads "
                             f"({{num_attention_heads}}) without {_NEW} or multi_query: the "
                             "fused query_key_value still makes a key and a value per head "
                             "(transformers' forward cannot run it)",
                             lambda kv, keys: not keys[_NEW] and not keys["multi_query"]
                             and kv not in (None, keys["num_attention_heads"]))),
           hook=_blocks_of_falcon, reads=(flag(_NEW), flag("multi_query"))),
)
