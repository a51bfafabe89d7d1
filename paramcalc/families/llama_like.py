"""Llama-like families with parts of their own: records written from transformers' modeling
code (5.25).

- BitNet (``bitnet``, BitNet b1.58): Llama's block with two more RMSNorms inside it: one
  hidden_size wide on the attention heads' output before o_proj (``attn_sub_norm``), one
  ``intermediate_size`` wide on the gated product before down_proj (``ffn_sub_norm``),
  paramcalc's ``sub_norms``. ReLU² in the gate (``hidden_act``) holds nothing. The attention
  reads a file's ``head_dim`` (no field of its config class); one other than hidden_size /
  num_attention_heads is refused, as the sub-norm stays hidden_size wide (transformers'
  forward cannot run it).
"""

from __future__ import annotations

from .record import Family, Refusal, optional
from .records import BIAS, biased, decoder

LLAMA_LIKE: tuple[Family, ...] = (
    Family("bitnet", decoder(**biased(BIAS), sub_norms=True),
           refusals=(Refusal(optional("head_dim"), "differs from hidden_size / "
                             "num_attention_heads ({hidden_size} / {num_attention_heads}): "
                             "BitNet's attn_sub_norm stays hidden_size wide",
                             lambda width, keys: width is not None and width
                             * keys["num_attention_heads"] != keys["hidden_size"]),)),
)
