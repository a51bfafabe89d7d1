"""BitNet (families/llama_like.py) and its sub-norms, against transformers and paramcalc's own
modules.

BitNet's random configurations are tests/test_hf.py's (``family_keys``), counted against
transformers' model on the meta device, under the counter and through save_pretrained
checkpoints like every family. Here: the defaults by hand, the head width refused, and the
new switch, ``sub_norms``, on paramcalc's own modules (parameters, FLOPs forward and
backward, values saved for backward).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import ConfigError, ModelConfig, budget
from paramcalc.check import check
from paramcalc.compute import Settings, compute
from paramcalc.formulas import COMPONENTS

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from test_compute import saved_bytes, torch_flops  # noqa: E402  (needs torch)
from test_hf import reference  # noqa: E402  (needs transformers)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut


def _write(folder: Path, model_type: str, **keys: Any) -> str:
    path = folder / "config.json"
    path.write_text(json.dumps({"model_type": model_type, **keys}))
    return str(path)


def test_bitnet_defaults_by_hand(tmp_path: Path, cli: Cli) -> None:
    # BitNetConfig's defaults: V 128,256, d 2,560, f 6,912, 30 blocks of 20 heads, 5 key/value
    # heads of 128, no biases, an untied head
    V, d, f, n = 128_256, 2560, 6912, 30
    attention = 2 * d * d + 2 * d * 5 * 128 + d  # q, o; k, v; attn_sub_norm
    mlp = 3 * d * f + f  # gate, up, down; ffn_sub_norm
    block = attention + mlp + 2 * d
    obj = cli.json("count", "--hf-config", _write(tmp_path, "bitnet"))
    assert obj["params"]["per_block"] == block
    assert obj["params"]["total"] == 2 * V * d + n * block + d == 2_741_155_840
    assert obj["params"]["total"] == reference(transformers.AutoConfig.for_model("bitnet"))[
        "total"]


def test_bitnet_s_other_head_width_is_refused_by_name(tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, "bitnet", head_dim=64)
    assert cli.error("count", "--hf-config", path) == (
        f"Error: {path}: head_dim = 64 differs from hidden_size / num_attention_heads (2560 / "
        "20): BitNet's attn_sub_norm stays hidden_size wide; paramcalc cannot count this model")
    # transformers builds it, and its forward fails at the sub-norm
    hf = transformers.AutoConfig.for_model(
        "bitnet", vocab_size=16, hidden_size=16, intermediate_size=8, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, head_dim=4)
    model = transformers.AutoModelForCausalLM.from_config(hf)
    with pytest.raises(RuntimeError):
        model(input_ids=torch.zeros((1, 3), dtype=torch.long))


@st.composite
def with_sub_norms(draw: st.DrawFn) -> ModelConfig:
    """Small configurations with sub-norms in every block, over the switches they meet."""
    heads = draw(st.sampled_from([1, 2, 4]))
    parallel = draw(st.booleans())
    return ModelConfig(
        vocab_size=draw(st.integers(2, 40)), seq_length=draw(st.integers(2, 12)),
        d_model=heads * 2 * draw(st.integers(1, 4)), num_blocks=draw(st.integers(1, 3)),
        n_heads=heads, block="transformer", positional=draw(st.sampled_from(
            ["rotary", "learned", "sinusoidal"])), final_norm=draw(st.booleans()),
        d_ff=draw(st.integers(1, 24)),
        head_dim=draw(st.none() | st.integers(1, 4).map(lambda x: 2 * x)),
        n_kv_heads=draw(st.sampled_from([k for k in (1, 2, 4) if heads % k == 0])),
        norm=draw(st.sampled_from(["layernorm", "rmsnorm", "layernorm_nobias"])),
        mlp=draw(st.sampled_from(["plain", "gated", "xielu"])),
        qk_norm=draw(st.sampled_from(["none", "head", "full"])), parallel_residual=parallel,
        norm_placement=draw(st.sampled_from(["pre", "shared"] if parallel else
                                            ["pre", "post", "sandwich"])),
        qkv_bias=draw(st.booleans()), proj_bias=draw(st.booleans()),
        mlp_bias=draw(st.booleans()), head=draw(st.sampled_from(["tied", "linear"])),
        sub_norms=True)


def test_sub_norms_count_as_paramcalc_s_own_modules() -> None:
    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(with_sub_norms())
    def formula_equals_module(config: ModelConfig) -> None:
        result = check(config)
        assert result.ok, [(r.component, r.formula, r.instantiated) for r in result.rows]

    formula_equals_module()


def test_sub_norms_cost_the_flops_torch_counts() -> None:
    """FlopCounterMode on paramcalc's own modules, forward and backward, per component."""
    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(with_sub_norms())
    def flops_equal(config: ModelConfig) -> None:
        forward, backward = torch_flops(config)
        flops = compute(budget(config)).flops
        assert {c: flops["forward"][c] for c in (*COMPONENTS, "total")} == forward, config
        assert flops["backward"]["total"] == backward, config

    flops_equal()


def test_sub_norms_save_what_autograd_saves() -> None:
    """One block's saved bytes as autograd reports them on CPU, against the formula: within
    5% with LayerNorms (torch's fused kernel keeps its input and two statistics per position;
    paramcalc's RMSNorm, plain tensor operations, keeps its intermediate products too). What
    the sub-norms add is their outputs, within 5% of autograd's figure as well."""
    def both(sub_norms: bool | None) -> tuple[int, int]:
        config = ModelConfig(vocab_size=64, seq_length=64, d_model=64, num_blocks=2, n_heads=4,
                             head="linear", block="transformer", mlp="gated",
                             positional="rotary", sub_norms=sub_norms)
        formula = compute(budget(config.replace(num_blocks=1)),
                          Settings(dtype="fp32", attention="flash")).memory["activations"]
        return saved_bytes(config), int(formula)

    (measured, formula), (without, formula_without) = both(True), both(None)
    assert measured == pytest.approx(formula, rel=0.05), (measured, formula)
    assert measured - without == pytest.approx(formula - formula_without, rel=0.05)


def test_sub_norms_by_hand() -> None:
    base = dict(vocab_size=10, seq_length=4, d_model=8, num_blocks=1, n_heads=2, n_kv_heads=1,
                d_ff=4, block="transformer", positional="rotary", qkv_bias=False,
                proj_bias=False, mlp_bias=False, head="tied", norm="rmsnorm", mlp="gated")

    def blocks(**changes: Any) -> int:
        return int(budget(ModelConfig(**{**base, **changes})).params["blocks"])

    # attention 8·8 + 2·8·4 + 8·8 = 192; MLP 3·8·4 = 96; two RMSNorms 2·8
    assert blocks() == 192 + 96 + 16
    # sub-norms: 8 on the heads' output (2 heads of 4), 4 on the MLP's inner width
    assert blocks(sub_norms=True) == 192 + 8 + 96 + 4 + 16
    # heads 6 wide: the heads' output is 12 wide, and so is its norm
    assert blocks(sub_norms=True, head_dim=6) - blocks(head_dim=6) == 12 + 4
    assert blocks(sub_norms=True, norm="layernorm") - blocks(norm="layernorm") == 2 * (8 + 4)


@pytest.mark.parametrize("changes, message", [
    (dict(num_experts=2), "sub_norms are norms inside multi-head attention and a dense "
                          "feed-forward part (BitNet): drop num_experts or sub_norms"),
    (dict(kv_lora_rank=4), "sub_norms are norms inside multi-head attention and a dense "
                           "feed-forward part (BitNet): drop kv_lora_rank or sub_norms"),
    (dict(ssm="mamba"), "sub_norms belongs to attention or experts, and every block's mixer "
                        "is mamba"),
    (dict(block="seed"), "sub_norms belongs to transformer blocks"),
])
def test_sub_norms_where_there_is_nothing_to_put_them_are_refused(changes: dict[str, Any],
                                                                  message: str) -> None:
    keys = {**dict(vocab_size=8, seq_length=8, d_model=8, num_blocks=1, block="transformer",
                   sub_norms=True), **changes}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ModelConfig(**keys)
