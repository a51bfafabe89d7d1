"""Weights at any precision: bytes per weight as exact formulas, and the storage the
quantization libraries make on CPU (gguf-py, torchao, bitsandbytes) equal to them."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from paramcalc.errors import ConfigError
from paramcalc.quant import (NATIVE, PARTS, bytes_per_weight, check_width, gguf_format,
                             tensor_nbytes, weight_format)

d, f = sp.symbols("d_model d_ff", positive=True, integer=True)


@pytest.mark.parametrize(("name", "bits"), [
    ("fp32", 32), ("bf16", 16), ("fp16", 16),
    ("fp8-block", sp.Rational(8) + sp.Rational(32, 128 * 128)),   # DeepSeek-V3: 8 + 1/512
    ("nf4", sp.Rational(4) + sp.Rational(32, 64)),                # 4.5: an fp32 absmax per 64
    # QLoRA §3: 4 + 8/64 + 32/(64·256) = 4.126953125, the paper's "4.127 bits"
    ("nf4-dq", sp.Rational(4) + sp.Rational(8, 64) + sp.Rational(32, 64 * 256)),
    ("mxfp4", sp.Rational(17, 4)),                                # 4 + 8/32
    ("int4-g128", sp.Rational(4) + sp.Rational(16 + 16, 128)),    # bf16 scale + bf16 zero
    ("int4-g32", 5),
    ("awq-g128", sp.Rational(4) + sp.Rational(16 + 4, 128)),      # fp16 scale + int4 zero
    ("int8-g64", sp.Rational(8) + sp.Rational(32 + 8, 64)),       # fp32 scale + int8 zero
    # llama.cpp's blocks: q4_0 {fp16 d; 16 bytes of nibbles} = 18 bytes per 32 weights;
    # q8_0 {fp16 d; 32 int8} = 34; q4_K {fp16 d, dmin; 12 scale bytes; 128 nibble bytes} = 144
    # per 256; q6_K {128 + 64 bytes of bits; 16 int8 scales; fp16 d} = 210 per 256
    ("q4_0", sp.Rational(18 * 8, 32)), ("q8_0", sp.Rational(34 * 8, 32)),
    ("q4_k", sp.Rational(144 * 8, 256)), ("Q6_K", sp.Rational(210 * 8, 256)),
])
def test_bits_per_weight_are_exact(name: str, bits: sp.Expr) -> None:
    assert bytes_per_weight(weight_format(name)) * 8 == bits


def test_side_values_per_row_and_per_column_are_formulas() -> None:
    # int8 (torchao's default): an fp32 scale and an int8 zero point per row of d_model
    assert bytes_per_weight(weight_format("int8"), width=d) == 1 + sp.Rational(5) / d
    # GPTQ's g_idx: one int32 per input column, shared by the d_ff rows of a down projection
    gptq = bytes_per_weight(weight_format("gptq-g128"), width=d, height=f)
    assert gptq == sp.Rational(133, 256) + 4 / f
    assert sp.diff(gptq, f) == -4 / f**2
    # fp8's one scale per matrix is a constant: out of the rate, in the tensor's bytes
    assert bytes_per_weight(weight_format("fp8")) == 1
    assert tensor_nbytes(weight_format("fp8"), (4096, 4096)) == 4096 * 4096 + 4
    with pytest.raises(ConfigError, match="int8 keeps one fp32 scale per row: its bytes per "
                                          "weight need the matrix width"):
        bytes_per_weight(weight_format("int8"))


def test_deepseek_v3_partial_blocks() -> None:
    # kv_a_proj_with_mqa is 576 × 7168: DeepSeek-V3 ships a 5 × 56 weight_scale_inv (fp32)
    assert tensor_nbytes(weight_format("fp8-block"), (576, 7168)) == 576 * 7168 + 4 * 5 * 56


def test_group_size_must_divide_the_width() -> None:
    with pytest.raises(ConfigError) as error:
        tensor_nbytes(weight_format("int4-g128"), (4096, 11000), "model.layers.0.mlp.down_proj")
    assert str(error.value) == ("int4-g128: the group size 128 does not divide the width 11,000 "
                                "of model.layers.0.mlp.down_proj; give a group size that "
                                "divides it")
    with pytest.raises(ConfigError, match="block of 32 does not divide the width 100"):
        check_width(weight_format("q4_0"), 100)
    check_width(weight_format("int4", group_size=64), 4096)


@pytest.mark.parametrize(("name", "message"), [
    ("int5", "unknown weight format 'int5'; known: fp32, bf16"),
    ("int4-g100", "group size of int4 must be a multiple of 8"),
    ("int4-g0", "group size must be between 1 and 1,048,576, got 0"),
    ("q4_0-g64", "q4_0 has no group size"),
    ("x" * 500, "unknown weight format"),
])
def test_bad_format_names_are_one_line(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        weight_format(name)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_every_scheme_says_what_it_keeps() -> None:
    for name in ("fp8", "fp8-row", "fp8-block", "int8", "int8-g128", "int4-g128", "gptq-g128",
                 "awq-g128", "nf4", "nf4-dq", "mxfp4", "q4_0", "q4_k", "q8_0"):
        fmt = weight_format(name)
        assert set(fmt.keeps) <= set(PARTS) and fmt.keeps["norm"] and fmt.source, name
    assert dict(weight_format("bf16").keeps) == {}
    # llama.cpp: output.weight Q6_K, except in a Q8_0 file; norms and the router F32
    assert weight_format("q4_k").keeps["head"] == "q6_k"
    assert weight_format("q8_0").keeps["head"] == "q8_0"
    assert weight_format("q4_0").keeps["router"] == "f32"
    # gpt-oss: only the experts are MXFP4
    assert weight_format("mxfp4").keeps["attention"] == NATIVE
    assert weight_format("mxfp4").keeps["router"] == NATIVE


# --- the libraries' own tensors ------------------------------------------------------------

_GGUF_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "MXFP4", "TQ1_0",
               "TQ2_0")


@pytest.mark.parametrize("kind", _GGUF_TYPES)
def test_gguf_quantize_makes_the_bytes_of_the_formula(kind: str) -> None:
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    weights = np.random.default_rng(0).standard_normal((8, 512)).astype(np.float32)
    stored = quantize(weights, GGMLQuantizationType[kind])
    assert stored.nbytes == tensor_nbytes(gguf_format(kind), weights.shape)


def test_int4_with_16_bit_scale_and_zero_is_q4_1() -> None:
    # gguf's Q4_1 block: 32 nibbles, an fp16 scale and an fp16 minimum: int4-g32's storage
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    weights = np.random.default_rng(1).standard_normal((64, 256)).astype(np.float32)
    assert (quantize(weights, GGMLQuantizationType.Q4_1).nbytes
            == tensor_nbytes(weight_format("int4-g32"), weights.shape) == 64 * 256 * 5 // 8)


def _storage(tensor: object) -> int:
    """Bytes of every plain tensor a torchao tensor subclass holds."""
    names, _ = tensor.__tensor_flatten__()  # type: ignore[attr-defined]
    return sum(getattr(tensor, name).untyped_storage().nbytes() for name in names)


@pytest.mark.parametrize(("config", "name"), [
    ("int8", "int8"), ("int8-g64", "int8-g64"), ("fp8-row", "fp8-row"), ("fp8", "fp8"),
])
def test_torchao_weight_only_layouts_on_cpu(config: str, name: str) -> None:
    torch = pytest.importorskip("torch")
    torchao = pytest.importorskip("torchao.quantization")
    from torchao.quantization.granularity import PerGroup, PerTensor

    configs = {"int8": lambda: torchao.Int8WeightOnlyConfig(),
               "int8-g64": lambda: torchao.Int8WeightOnlyConfig(granularity=PerGroup(64)),
               "fp8-row": lambda: torchao.Float8WeightOnlyConfig(),
               "fp8": lambda: torchao.Float8WeightOnlyConfig(granularity=PerTensor())}
    layer = torch.nn.Sequential(torch.nn.Linear(256, 96, bias=False)).to(torch.bfloat16)
    torchao.quantize_(layer, configs[config]())
    assert _storage(layer[0].weight) == tensor_nbytes(weight_format(name), (96, 256))


def test_torchao_mxfp4_on_cpu() -> None:
    torch = pytest.importorskip("torch")
    mx = pytest.importorskip("torchao.prototype.mx_formats.mx_tensor")
    weights = torch.randn(96, 256, dtype=torch.bfloat16)
    stored = mx.MXTensor.to_mx(weights, torch.float4_e2m1fn_x2, block_size=32)
    assert _storage(stored) == tensor_nbytes(weight_format("mxfp4"), (96, 256))


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("shape", [(96, 256), (33, 65)])  # 2,145 weights: partial blocks
def test_bitsandbytes_nf4_on_cpu(double: bool, shape: tuple[int, int]) -> None:
    torch = pytest.importorskip("torch")
    functional = pytest.importorskip("bitsandbytes.functional")
    weights = torch.randn(*shape, dtype=torch.bfloat16)
    packed, state = functional.quantize_4bit(weights, blocksize=64, quant_type="nf4",
                                             compress_statistics=double)
    parts = {key: value for key, value in state.as_dict(packed=True).items()
             if not key.startswith("quant_state.")}  # the JSON blob of its settings: not counted
    stored = packed.numel() * packed.element_size() + sum(
        value.numel() * value.element_size() for value in parts.values())
    assert stored == tensor_nbytes(weight_format("nf4-dq" if double else "nf4"), shape)
