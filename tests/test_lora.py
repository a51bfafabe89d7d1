"""LoRA and QLoRA: the trainable count against peft's own, and the fine-tuning memory.

For random small models of each Llama-style layout and random sets of target modules, the
config.json that save_pretrained writes is counted by ``flops --lora-rank r --lora-modules …``
and compared with ``get_nb_trainable_parameters()`` of peft's model over transformers' (built
on the meta device); the memory of a fine-tuning step is checked against hand sums of its
parts as the README states them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from paramcalc.cli import app

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
torch = pytest.importorskip("torch")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

MODULES = ("q", "k", "v", "o", "gate", "up", "down")
#: layouts with separate q/k/v/o and gate/up/down projections; the mixtures of experts take
#: adapters on attention only (their experts are stacked tensors, not linear layers)
DENSE = ("llama", "mistral", "qwen2", "qwen3", "gemma2", "olmo2")
EXPERTS = {"mixtral": "num_local_experts", "qwen3_moe": "num_experts"}


def flops(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["flops", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def peft_trainable(config: Any, rank: int, modules: tuple[str, ...]) -> int:
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    lora = peft.LoraConfig(r=rank, target_modules=[f"{m}_proj" for m in modules])
    return peft.get_peft_model(model, lora).get_nb_trainable_parameters()[0]


@st.composite
def models(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    model_type = draw(st.sampled_from(DENSE + tuple(EXPERTS)))
    heads = draw(st.sampled_from([1, 2, 4]))
    kv = draw(st.sampled_from([k for k in (1, 2, 4) if heads % k == 0]))
    head_dim = draw(st.sampled_from([4, 8]))
    keys = {"vocab_size": draw(st.integers(16, 80)), "hidden_size": heads * head_dim * 2,
            "intermediate_size": draw(st.integers(8, 40)),
            "num_hidden_layers": draw(st.integers(1, 3)), "num_attention_heads": heads,
            "num_key_value_heads": kv, "head_dim": head_dim * 2,
            "max_position_embeddings": 64}
    pool = MODULES[:4] if model_type in EXPERTS else MODULES
    if model_type in EXPERTS:
        keys[EXPERTS[model_type]] = 4
        keys["num_experts_per_tok"] = 2
        if model_type == "qwen3_moe":
            keys["moe_intermediate_size"] = keys["intermediate_size"]
    if model_type == "gemma2":
        keys["sliding_window"] = 16
    modules = tuple(draw(st.sets(st.sampled_from(pool), min_size=1)))
    return model_type, keys, tuple(m for m in MODULES if m in modules)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(model=models(), rank=st.integers(1, 9))
def test_trainable_parameters_equal_peft(model: tuple[str, dict[str, Any], tuple[str, ...]],
                                         rank: int, tmp_path_factory: Any) -> None:
    model_type, keys, modules = model
    config = transformers.AutoConfig.for_model(model_type, **keys)
    folder = tmp_path_factory.mktemp(model_type)
    config.save_pretrained(folder)
    out = flops("--hf-config", str(folder), "--lora-rank", str(rank),
                "--lora-modules", ",".join(modules))["lora"]
    assert out["trainable"] == peft_trainable(config, rank, modules)
    # the count is linear in r: ∂/∂r is the count at rank 1
    assert out["d_trainable_d_rank"] * rank == out["trainable"]


def test_llama_3_1_8b_as_peft_prints_it() -> None:
    """peft's print_trainable_parameters for Llama 3.1 8B, r = 16 on q_proj and v_proj:
    6,815,744; on every linear projection: 41,943,040 (32 layers; by hand below)."""
    qv = flops("--preset", "llama-3.1-8b", "--lora-rank", "16")["lora"]
    assert qv["modules"] == ["q", "v"] and qv["trainable"] == 32 * 16 * (8192 + 5120)
    every = flops("--preset", "llama-3.1-8b", "--lora-rank", "16", "--lora-modules", "all")
    per_layer = 16 * (2 * 8192 + 2 * 5120 + 2 * (4096 + 14336) + (14336 + 4096))
    assert every["lora"]["trainable"] == 32 * per_layer == 41_943_040


def test_memory_holds_the_optimizer_state_of_the_adapters_only() -> None:
    """bf16 LoRA with Adam: the frozen base at 2 bytes a parameter; the adapters, their
    gradients at 2 bytes, their optimizer state at 8 + 4 (two fp32 moments, an fp32 master);
    ZeRO-3 on 4 devices shards all four; QLoRA stores the base as fit stores nf4-dq."""
    out = flops("--preset", "llama-3.2-1b", "--seq-length", "2048", "--lora-rank", "8")
    lora, total = out["lora"], out["params"]["total"]
    t = lora["trainable"]
    m = lora["memory"]
    assert (m["base_weights"], m["adapters"], m["gradients"], m["optimizer"]) == \
        (2 * total, 2 * t, 2 * t, 12 * t)
    assert m["activations"] == out["memory"]["activations"]
    assert m["per_device"] == 2 * total + 16 * t + m["activations"]
    sharded = flops("--preset", "llama-3.2-1b", "--seq-length", "2048", "--lora-rank", "8",
                    "--zero", "3", "--devices", "4")["lora"]["memory"]
    assert sharded["base_weights"] == -(-2 * total // 4)
    assert sharded["optimizer"] == -(-12 * t // 4)
    q = flops("--preset", "llama-3.2-1b", "--seq-length", "2048", "--lora-rank", "8", "--qlora")
    served = CliRunner().invoke(app, ["fit", "--preset", "llama-3.2-1b", "--weights-dtype",
                                      "nf4-dq", "--json"])
    assert q["lora"]["base_format"] == "nf4-dq"
    assert q["lora"]["memory"]["base_weights"] == json.loads(served.stdout)["memory"]["weights"]


def test_the_fine_tuning_verdict_and_devices() -> None:
    out = flops("--preset", "llama-3.1-8b", "--seq-length", "2048", "--lora-rank", "16",
                "--qlora", "--gpu", "rtx4090")
    verdict, m = out["fit"], out["lora"]["memory"]
    assert verdict["limit"] == 24564 * 2**20
    assert verdict["fits"] is (m["per_device"] <= verdict["limit"])
    assert verdict["margin"] == verdict["limit"] - m["per_device"]


@pytest.mark.parametrize(("args", "words"), [
    (["--lora-rank", "0"], "the LoRA rank must be a whole number from 1 to 2**20, got 0"),
    (["--lora-rank", "4", "--lora-modules", "qkv"], "unknown LoRA module 'qkv'; choose from:"),
    (["--lora-rank", "4", "--lora-modules", ","], "--lora-modules names no module"),
    (["--qlora"], "--qlora trains LoRA adapters on a 4-bit base: give --lora-rank R too"),
])
def test_bad_lora_input_is_one_line(args: list[str], words: str) -> None:
    result = CliRunner().invoke(app, ["flops", "--preset", "llama-3.1-8b", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {words}") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(("preset", "modules", "words"), [
    ("mixtral-8x7b", "q,down", "LoRA on a mixture of experts' feed-forward part is not counted"),
    ("deepseek-v3", "q", "latent attention projects through low-rank latents"),
    ("gpt2", "gate", "has no gate projection"),
    ("id4", "q", "the log's seed block has none of"),
])
def test_layouts_lora_does_not_count_are_refused(preset: str, modules: str, words: str) -> None:
    result = CliRunner().invoke(app, ["flops", "--preset", preset, "--lora-rank", "4",
                                      "--lora-modules", modules])
    assert result.exit_code == 2, result.output
    assert words in result.stderr and result.stderr.count("\n") == 1
