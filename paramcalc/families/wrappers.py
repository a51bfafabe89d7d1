"""Multimodal wrappers: a config.json whose language model sits under ``text_config``.

Gemma 3's, Mistral 3's, Qwen2.5-VL's and Qwen3-VL's published repositories (and LLaVA's, …)
hold the config of a ``…ForConditionalGeneration`` model: a vision (or audio) tower, a
projector, and a language model built from ``text_config`` with the output layer on the
wrapper. paramcalc counts the language model and that output layer, exactly, and says so in
every output; the towers and projectors are named as not counted. Each wrapper's reading of
its file is generated from its config class (``defaults.json``, ``wrappers``): the text type
it builds (fixed by the class, or the file's ``text_config.model_type``), the text config it
builds when the file has none (the class's own, or the file's top-level keys: Qwen2.5-VL's
flat files), and whether ``text_config.tie_word_embeddings`` ties the head too (Qwen2.5-VL and
LLaVA's classes forward it; Gemma 3's, Mistral 3's and Qwen3-VL's read the wrapper's own).
Llama 4's wrapper holds a whole causal LM, its output layer inside: only the text config's
tie_word_embeddings ties that, whatever the wrapper's own says (found by building it).

The text types of two wrappers are records here, not model types a config.json of its own
holds (transformers has no causal LM for them): Qwen2.5-VL's text model is Qwen2's (biases on
the query, key and value projections; a head width of hidden_size / num_attention_heads
whatever head_dim says), Qwen3-VL's is Qwen3's (RMSNorms of one head's width on queries and
keys) without a sliding window; their multimodal rotary (m-rope) has no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from .record import Family, Windows, size
from .records import BIAS, biased, decoder

#: the text models that only a wrapper builds
TEXT_ONLY: tuple[Family, ...] = (
    Family("qwen2_5_vl_text", decoder(qkv_bias=True, head_dim=None),
           windows=Windows(switch="use_sliding_window", slides="from",
                           bound="max_window_layers", listed=True)),
    Family("qwen3_vl_text", decoder(**biased(BIAS), head_dim=size("head_dim"), qk_norm="head")),
)

VISION = ("vision tower", "multimodal projector")


@dataclass(frozen=True)
class Wrapper:
    """A multimodal model_type: what of it paramcalc does not count."""

    model_type: str
    not_counted: tuple[str, ...] = VISION
    #: the output layer is the language model's own (Llama 4's wrapper holds a whole causal
    #: LM): text_config's tie_word_embeddings ties it, and the wrapper's own ties nothing
    head_in_text: bool = False


WRAPPERS: tuple[Wrapper, ...] = (
    Wrapper("gemma3"),
    Wrapper("mistral3"),
    Wrapper("qwen2_5_vl", ("vision tower (with its patch merger)",)),
    Wrapper("qwen3_vl", ("vision tower (with its patch mergers)",)),
    Wrapper("llava"),
    Wrapper("llava_next", (*VISION, "image newline")),
    Wrapper("llava_onevision", (*VISION, "image newline")),
    Wrapper("internvl"),
    Wrapper("mllama"),
    Wrapper("llama4", head_in_text=True),
    Wrapper("gemma3n", ("vision tower", "audio tower", "multimodal embedders")),
    Wrapper("gemma4", ("vision tower", "audio tower", "multimodal embedders")),
    Wrapper("qwen3_5", ("vision tower (with its patch merger)",)),
    Wrapper("qwen3_5_moe", ("vision tower (with its patch merger)",)),
)
