"""Weights at any precision: the exact bytes a weight matrix takes in each storage format.

A format is data: the bits of one stored element, and the side values stored with it
(scales, zero points, group indices), each with the block of weights it serves. From that,
``bytes_per_weight`` is an exact sympy expression (a ``Rational``, or one over the width when a
side value serves a whole row) and ``tensor_nbytes`` the exact integer storage of one tensor.

Shapes are as torch holds a weight, ``(..., rows, cols)`` = ``(..., out_features,
in_features)``: groups and blocks run along ``cols``, the input dimension every matmul reduces
over; leading dimensions (stacked experts) are separate matrices. bitsandbytes' formats block
the flattened tensor instead (``flat``).

Each format also says, as data with its source, which parts of a model it leaves in higher
precision (``keeps``: part → the format they stay in; ``native`` is the checkpoint's own
precision, bf16 for the models paramcalc reads). The parts are named as in ``PARTS``.

The GGUF types are read from the ``gguf`` package's own size table
(``gguf.constants.GGML_QUANT_SIZES``: elements per block, bytes per block), never typed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from math import ceil, prod
from types import MappingProxyType
from typing import Mapping

import sympy as sp

from .errors import ConfigError

#: the parts of a model a format may keep in higher precision
PARTS = ("embedding", "head", "norm", "bias", "router", "attention", "experts", "mlp")
#: the checkpoint's own precision, as a value of ``keeps``
NATIVE = "native"


@dataclass(frozen=True)
class Side:
    """A side value stored with the weights: one ``bits``-bit value per block of weights."""

    what: str          # "fp32 scale", "int8 zero point"
    bits: int          # bits of one stored value
    rows: int | None   # rows one value serves: None = every row of the matrix
    cols: int | None   # columns one value serves: None = the whole row (flat: elements per block)


@dataclass(frozen=True)
class WeightFormat:
    """A storage format for weight matrices."""

    name: str                   # "int4-g128"
    element_bits: Fraction      # bits of one weight (a GGUF block's bytes spread over its elements)
    sides: tuple[Side, ...]     # scales, zero points, … stored beside the weights
    multiple: int               # the width (cols) must be a multiple of this
    description: str
    source: str
    keeps: Mapping[str, str] = field(default_factory=dict)  # part → format it stays in
    constant_bytes: int = 0     # bytes per tensor whatever its size (lookup tables)
    flat: bool = False          # blocks over the flattened tensor (bitsandbytes), not along rows
    group: int | None = None    # the group size a name such as int4-g128 set

    def __post_init__(self) -> None:
        # formats are shared (cached): their keeps must not be changed by a caller
        object.__setattr__(self, "keeps", MappingProxyType(dict(self.keeps)))


def bytes_per_weight(fmt: WeightFormat, width: int | sp.Expr | None = None,
                     height: int | sp.Expr | None = None) -> sp.Expr:
    """Bytes per weight of a ``height`` × ``width`` matrix, exactly (when its blocks divide it):
    the element and every side value spread over the weights it serves.

    ``width`` and ``height`` may be integers or sympy symbols. A side value serving a whole row
    needs ``width`` (int8's per-row scale), one serving a whole column ``height`` (GPTQ's
    g_idx); one per matrix (fp8's scale) is left out when either is missing, as a constant
    that ``tensor_nbytes`` counts."""
    total: sp.Expr = sp.Rational(fmt.element_bits.numerator, fmt.element_bits.denominator)
    for side in fmt.sides:
        rows = side.rows if side.rows is not None else height
        cols = side.cols if side.cols is not None else width
        if rows is None or cols is None:
            if side.rows is None and side.cols is None:
                continue  # one value per matrix: a constant, not a rate
            needed = "width" if cols is None else "height"
            raise ConfigError(f"{fmt.name} keeps one {side.what} per "
                              f"{'row' if needed == 'width' else 'column'}: its bytes per weight "
                              f"need the matrix {needed}")
        total += sp.Integer(side.bits) / (rows * cols)
    return total / 8


def check_width(fmt: WeightFormat, width: int, tensor: str = "a weight") -> None:
    """Refuse, in one line, a width the format's group or block does not divide."""
    if width % fmt.multiple:
        unit = f"group size {fmt.group}" if fmt.group else f"block of {fmt.multiple}"
        fix = ("give a group size that divides it" if fmt.group
               else "choose a format whose block divides it")
        raise ConfigError(f"{fmt.name}: the {unit} does not divide the width {width:,} of "
                          f"{tensor}; {fix}")


def tensor_nbytes(fmt: WeightFormat, shape: tuple[int, ...], tensor: str = "a weight") -> int:
    """The exact bytes one tensor of ``shape`` takes in ``fmt``, side values included."""
    if not shape or any(size <= 0 for size in shape):
        raise ConfigError(f"{tensor} has no elements (shape {shape}): nothing to store")
    elements = prod(shape)
    if fmt.flat:
        packed = ceil(elements * fmt.element_bits / 8)
        sides = sum(-(-elements // side.cols) * side.bits for side in fmt.sides if side.cols)
        return packed + ceil(Fraction(sides, 8)) + fmt.constant_bytes
    rows, cols = (shape[-2], shape[-1]) if len(shape) > 1 else (1, shape[0])
    matrices = elements // (rows * cols)
    check_width(fmt, cols, tensor)
    payload = elements * fmt.element_bits / 8
    if payload.denominator != 1:
        raise ConfigError(f"{fmt.name}: {tensor} of shape {shape} does not fill whole bytes")
    side_bits = 0
    for side in fmt.sides:
        per_rows = 1 if side.rows is None else -(-rows // side.rows)  # partial blocks count
        per_cols = 1 if side.cols is None else -(-cols // side.cols)
        side_bits += matrices * per_rows * per_cols * side.bits
    return int(payload) + ceil(Fraction(side_bits, 8)) + fmt.constant_bytes


# --- the formats -------------------------------------------------------------------------

_LINEAR_ONLY = MappingProxyType({"embedding": NATIVE, "head": NATIVE, "norm": NATIVE,
                                 "bias": NATIVE})
_TRANSFORMERS_SKIPS = ("transformers' quantizers replace only linear layers and skip the "
                       "output embedding and tied weights (quantizers/base.py "
                       "get_keys_to_not_convert)")


def _plain(name: str, bits: int, description: str) -> WeightFormat:
    return WeightFormat(name, Fraction(bits), (), 1, description, "IEEE 754 / bfloat16")


@cache
def _fixed() -> dict[str, WeightFormat]:
    fp32_scale = Side("fp32 scale", 32, None, None)
    formats = [
        _plain("fp32", 32, "32-bit floats"),
        _plain("bf16", 16, "bfloat16"),
        _plain("fp16", 16, "IEEE half precision"),
        WeightFormat("fp8", Fraction(8), (fp32_scale,), 1,
                     "fp8 (e4m3) with one fp32 scale per matrix",
                     "FP8 checkpoints of llm-compressor and vLLM (a F32 weight_scale scalar per "
                     "linear layer); llm-compressor's FP8 recipes ignore lm_head and, for MoE "
                     "models, the router (re:.*mlp.gate$)",
                     {**_LINEAR_ONLY, "router": NATIVE}),
        WeightFormat("fp8-row", Fraction(8), (Side("fp32 scale", 32, 1, None),), 1,
                     "fp8 (e4m3) with one fp32 scale per row",
                     f"torchao Float8WeightOnlyConfig (PerRow default); {_TRANSFORMERS_SKIPS}",
                     _LINEAR_ONLY),
        WeightFormat("fp8-block", Fraction(8), (Side("fp32 scale_inv", 32, 128, 128),), 1,
                     "fp8 (e4m3) with one fp32 scale per 128×128 block (partial blocks at the "
                     "edges get their own)",
                     "DeepSeek-V3's checkpoint (quantization_config weight_block_size [128, 128]; "
                     "weight_scale_inv of shape ceil(rows/128) × ceil(cols/128)); its embedding, "
                     "lm_head, norms and router (mlp.gate) are bf16",
                     {**_LINEAR_ONLY, "router": NATIVE}),
        WeightFormat("int8", Fraction(8), (Side("fp32 scale", 32, 1, None),
                                           Side("int8 zero point", 8, 1, None)), 1,
                     "int8 with an fp32 scale and an int8 zero point per row",
                     "torchao Int8WeightOnlyConfig (per-row default: Int8Tensor qdata int8, "
                     f"scale fp32, zero_point int8); {_TRANSFORMERS_SKIPS}", _LINEAR_ONLY),
        WeightFormat("nf4", Fraction(4), (Side("fp32 absmax", 32, 1, 64),), 1,
                     "4-bit NormalFloat, one fp32 absmax per 64 weights of the flattened tensor",
                     "bitsandbytes quantize_4bit (blocksize 64; quant_map: 16 fp32 values per "
                     f"tensor); {_TRANSFORMERS_SKIPS}", _LINEAR_ONLY, constant_bytes=16 * 4,
                     flat=True),
        # QLoRA (Dettmers et al. 2023, §3 "Double Quantization"): the fp32 absmax of each block
        # of 64 becomes an 8-bit float, with one fp32 constant per 256 of them:
        # 4 + 8/64 + 32/(64·256) = 4 + 1/8 + 1/512 = 2113/512 ≈ 4.127 bits per weight
        WeightFormat("nf4-dq", Fraction(4), (Side("8-bit absmax", 8, 1, 64),
                                             Side("fp32 absmax of the absmax", 32, 1, 64 * 256)),
                     1, "4-bit NormalFloat with double quantization (QLoRA)",
                     "Dettmers et al. 2023, QLoRA §3; bitsandbytes quantize_4bit(blocksize=64, "
                     "compress_statistics=True): quant_map (16 fp32) and nested_quant_map "
                     f"(256 fp32) per tensor; {_TRANSFORMERS_SKIPS}", _LINEAR_ONLY,
                     constant_bytes=(16 + 256) * 4, flat=True),
        WeightFormat("mxfp4", Fraction(4), (Side("e8m0 scale", 8, 1, 32),), 32,
                     "MXFP4: fp4 (e2m1) elements, one 8-bit power-of-two scale per 32 "
                     "(4.25 bits)",
                     "OCP Microscaling Formats (MX) v1.0; gpt-oss ships its experts so "
                     "(*_blocks U8, *_scales U8) and keeps self_attn, mlp.router, embed_tokens "
                     "and lm_head in bf16 (its quantization_config modules_to_not_convert)",
                     {**_LINEAR_ONLY, "router": NATIVE, "attention": NATIVE}),
    ]
    return {fmt.name: fmt for fmt in formats}


#: the grouped formats: element bits, the scale and the zero point stored per group (name,
#: bits), and where the layout comes from. GPTQ and AWQ checkpoints hold int32 words of 8
#: int4 values: scales fp16 (K/G, N), qzeros int32 (K/G, N/8), 4 bits per zero point
_GROUPS: dict[str, tuple[int, tuple[str, int], tuple[str, int], str, str]] = {
    "int8": (8, ("fp32 scale", 32), ("int8 zero point", 8), "int8",
             "torchao Int8WeightOnlyConfig(granularity=PerGroup(G)): scale fp32 and zero_point "
             f"int8 per group; {_TRANSFORMERS_SKIPS}"),
    "int4": (4, ("bf16 scale", 16), ("bf16 zero point", 16), "int4",
             "torchao Int4WeightOnlyConfig(group_size=G, default 128): qdata packed two per "
             f"byte, scale and zero_point (K/G, N) in the model's dtype; {_TRANSFORMERS_SKIPS}"),
    "gptq": (4, ("fp16 scale", 16), ("int4 zero point", 4), "GPTQ int4",
             "AutoGPTQ / GPTQModel checkpoints (qweight, qzeros, scales, and g_idx: an int32 "
             "group index per input column); embeddings, lm_head and norms are not quantized"),
    "awq": (4, ("fp16 scale", 16), ("int4 zero point", 4), "AWQ int4",
            "AutoAWQ GEMM checkpoints (qweight, qzeros, scales); embeddings, lm_head and norms "
            "are not quantized"),
}


def _grouped(kind: str, group: int) -> WeightFormat:
    """int8-gG, int4-gG, gptq-gG, awq-gG: a scale and a zero point per group of G weights."""
    bits, (scale, scale_bits), (zero, zero_bits), label, source = _GROUPS[kind]
    sides: tuple[Side, ...] = (Side(scale, scale_bits, 1, group), Side(zero, zero_bits, 1, group))
    if kind == "gptq":
        sides += (Side("int32 g_idx", 32, None, 1),)
    return WeightFormat(f"{kind}-g{group}", Fraction(bits), sides, group,
                        f"{label}, one {scale} and one {zero} per {group} weights", source,
                        _LINEAR_ONLY, group=group)


_GROUPED = tuple(_GROUPS)
#: the group size a grouped format takes when its name gives none
DEFAULT_GROUP = 128
#: the largest group size accepted (a group wider than any weight matrix means nothing)
MAX_GROUP = 2**20
_NAME = re.compile(r"^([a-z0-9_-]+?)(?:[-_]g(\d{1,7}))?$")


@cache
def _gguf() -> dict[str, WeightFormat]:
    """Every GGUF tensor type, from gguf's own size table."""
    from gguf.constants import GGML_QUANT_SIZES  # numpy and gguf: imported only when asked

    formats = {}
    for qtype, (block, size) in GGML_QUANT_SIZES.items():
        name = qtype.name.lower()
        quantized = block > 1
        keeps = ({"norm": "f32", "bias": "f32", "router": "f32",
                  "head": "q8_0" if name == "q8_0" else "q6_k"} if quantized else {})
        formats[name] = WeightFormat(
            name, Fraction(8 * size, block), (), block,
            f"GGUF {qtype.name}: {size} bytes per block of {block}",
            "gguf.constants.GGML_QUANT_SIZES; llama.cpp's quantize leaves 1-D tensors and "
            "*_norm.weight in F32 and never quantizes the router (ffn_gate_inp, F32 from "
            "convert_hf_to_gguf), and gives output.weight Q6_K unless the type is Q8_0 "
            "(src/llama-quant.cpp)" if quantized else "gguf.constants.GGML_QUANT_SIZES",
            keeps)
    return formats


def names() -> tuple[str, ...]:
    """The format names accepted (grouped ones as int4-g128, any group size)."""
    return (*_fixed(), *(f"{kind}-g{DEFAULT_GROUP}" for kind in _GROUPED), "q4_0, q8_0, … (GGUF)")


def weight_format(name: str, group_size: int | None = None) -> WeightFormat:
    """The format called ``name``: ``bf16``, ``fp8-block``, ``nf4-dq``, ``mxfp4``, ``int4-g128``
    (or ``int4`` with ``group_size``), or a GGUF type (``q4_0``, ``q4_k``, ``Q8_0``…).

    An unknown name or a bad group size raises ``ConfigError`` (one line)."""
    key = name.strip().lower().replace(" ", "")
    match = _NAME.match(key) if len(key) <= 40 else None
    if match is None:
        raise _unknown(name)
    kind, digits = match.groups()
    if digits is not None and group_size is not None:
        raise ConfigError(f"{name!r} already names its group size; drop group_size={group_size}")
    group = int(digits) if digits is not None else group_size
    if group is None and kind in _fixed():
        return _fixed()[kind]  # int8 without a group is torchao's per-row default
    if kind in _GROUPED:
        group = DEFAULT_GROUP if group is None else group
        if not 0 < group <= MAX_GROUP:
            raise ConfigError(f"group size must be between 1 and {MAX_GROUP:,}, got {group:,}")
        if kind != "int8" and group % 8:
            raise ConfigError(f"group size of {kind} must be a multiple of 8 (int4 values are "
                              f"packed 8 to a 32-bit word), got {group}")
        return _grouped(kind, group)
    if group is not None:
        raise ConfigError(f"{kind} has no group size: {name!r}")
    found = _gguf().get(kind)
    if found is None:
        raise _unknown(name)
    return found


def gguf_format(type_name: str) -> WeightFormat:
    """The format of a GGUF tensor type as ``GGMLQuantizationType`` names it (``Q4_K``, ``F16``)."""
    found = _gguf().get(type_name.strip().lower())
    if found is None:
        raise ConfigError(f"unknown GGUF tensor type {type_name!r}; known: "
                          f"{', '.join(n.upper() for n in _gguf())}")
    return found


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown weight format {name.strip()[:40]!r}; known: {', '.join(names())}")
