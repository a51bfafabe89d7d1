"""The modern attention families: records written from transformers' modeling code.

gpt-oss: attention with a learned sink logit per head and biases on every projection, every
other layer (0, 2, …) attending to a 128-token window, and a mixture of experts in every
layer whose router and experts carry biases. The sinks take probability mass from each
softmax; they hold h parameters a layer and change neither the FLOPs' matrix products nor
the cache.
"""

from __future__ import annotations

from .record import Experts, Family, Windows, size
from .records import BIAS, biased, decoder

MODERN: tuple[Family, ...] = (
    Family("gpt_oss", decoder(**biased(BIAS), n_kv_heads=size("num_key_value_heads"),
                              head_dim=size("head_dim"), attention_sinks=True,
                              router_bias=True, expert_bias=True),
           aliases={"num_local_experts": "num_experts"},
           experts=Experts("num_local_experts", "intermediate_size"),
           windows=Windows(slides="period", period=2, listed=True)),
)
