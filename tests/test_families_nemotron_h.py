"""Nemotron-H (``nemotron_h``) against transformers: single-part blocks, each one RMSNorm and
one of a Mamba-2 mixer, attention, an MLP or experts, as the file lists them.

Random configurations count as transformers' model does (test_hf.py's drawer); here, in
addition, the block kinds are the listed layers, the cache and recurrent state after a short
generation are what transformers' cache holds, ``check`` proves paramcalc's own modules, and
bad patterns are one line. (Mamba-2's chunked dual form is not compared under the counter:
see test_families_ssm.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from conftest import Cli
from test_hf import counts_like_transformers, hybrid_keys, write_three_ways

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

#: transformers' layer kinds -> paramcalc's block kinds
KINDS = {"linear_attention": "mamba2", "full_attention": "full", "mlp": "dense", "moe": "moe"}


def test_block_kinds_are_the_listed_layers(tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(hybrid_keys("nemotron_h"))
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, "nemotron_h",
                                           tmp_path_factory.mktemp("c"))
        listed = transformers.AutoConfig.for_model("nemotron_h", **keys).layers_block_type
        expected: dict[str, int] = {}
        for kind in listed:
            expected[KINDS[kind]] = expected.get(KINDS[kind], 0) + 1
        for obj in counted:
            assert {k["kind"]: k["count"] for k in obj["block_kinds"]} == expected

    check()


def _small(pattern: str) -> dict[str, Any]:
    return dict(vocab_size=32, hidden_size=16, num_attention_heads=4, num_key_value_heads=2,
                head_dim=4, intermediate_size=16, max_position_embeddings=64,
                hybrid_override_pattern=pattern, mamba_num_heads=4, mamba_head_dim=8,
                n_groups=2, ssm_state_size=4, conv_kernel=3, n_routed_experts=4,
                num_experts_per_tok=2, moe_intermediate_size=8,
                moe_shared_expert_intermediate_size=8)


def _held(model: Any, batch: int, prompt: int = 4, new: int = 3) -> tuple[int, int, int]:
    """Bytes of the keys and values, and of the states, that transformers' cache holds after
    a short generation (its MLP and expert layers hold nothing), and the tokens it holds."""
    tokens = torch.arange(1, 1 + prompt * batch).reshape(batch, prompt) % model.config.vocab_size
    out = model.generate(tokens, max_new_tokens=new, do_sample=False, use_cache=True,
                         return_dict_in_generate=True, pad_token_id=0)
    kv = state = 0
    for layer in out.past_key_values.layers:
        if hasattr(layer, "conv_states"):
            state += sum(t.numel() * t.element_size() for states in
                         (layer.conv_states, layer.recurrent_states) for t in states.values())
        elif getattr(layer, "keys", None) is not None:
            kv += sum(t.numel() * t.element_size() for t in (layer.keys, layer.values))
    return kv, state, prompt + new - 1


# (with no attention layer at all, transformers' generate cannot size its mask)
@pytest.mark.parametrize("pattern", ["M*-E", "*MM-*E"])
def test_cache_and_state_equal_what_transformers_holds(pattern: str, tmp_path: Path) -> None:
    """Keys and values (bf16) of the attention layers for the tokens held, the Mamba-2
    layers' conv inputs (bf16) and scan state (fp32): flops' memory and fit's, batch 2."""
    from paramcalc.compute import Settings, compute
    from paramcalc.families import load
    from paramcalc.fit import Serving, fit
    from paramcalc.formulas import budget

    keys = _small(pattern)
    hf_config = transformers.AutoConfig.for_model("nemotron_h", **keys)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf_config).to(torch.bfloat16)
    kv, state, tokens = _held(model, 2)
    assert kv > 0 and state > 0
    for path in write_three_ways(hf_config, keys, "nemotron_h", tmp_path):
        config = load(path).config
        memory = compute(budget(config), Settings(batch_size=2, dtype="bf16",
                                                  context=tokens)).memory
        assert memory["kv_cache"] == kv and memory["state"] == state
        assert set(memory["state_by_kind"]) <= {"mamba2"} or \
            sum(v for k, v in memory["state_by_kind"].items() if k != "mamba2") == 0
        served = fit(config, Serving(context=tokens, batch_size=2)).memory
        assert served["kv_cache"] == kv and served["state"] == state


def test_check_proves_paramcalc_s_modules(tmp_path: Path, cli: Cli) -> None:
    keys = _small("M*-E")
    hf_config = transformers.AutoConfig.for_model("nemotron_h", **keys)
    for path in write_three_ways(hf_config, keys, "nemotron_h", tmp_path):
        obj = cli.json("check", "--hf-config", str(path))
        assert obj["ok"] is True
        rows = {row["component"] for row in obj["rows"]}
        assert {"per_block[mamba2]", "per_block[full]", "per_block[dense]",
                "per_block[moe]"} <= rows
        assert cli.json("check", "--hf-config", str(path), "--against",
                        "transformers")["ok"] is True


def test_paramcalc_s_modules_run_causally(tmp_path: Path) -> None:
    """paramcalc's own Nemotron-H runs forward: a later token changes no earlier output."""
    from paramcalc.families import load
    from paramcalc.modules import build

    transformers.AutoConfig.for_model("nemotron_h", **_small("M*-E")).save_pretrained(tmp_path)
    config = load(tmp_path).config.replace(seq_length=6)
    torch.manual_seed(0)
    model = build(config)
    tokens = torch.randint(0, 32, (1, 6))
    changed = tokens.clone()
    changed[0, -1] = (changed[0, -1] + 1) % 32
    first = model(tokens, every_position=True)
    second = model(changed, every_position=True)
    assert first.shape == (1, 6, 32)
    assert torch.allclose(first[:, :-1], second[:, :-1], atol=1e-5)
    assert not torch.allclose(first[:, -1], second[:, -1])


def test_the_default_counts_as_transformers(tmp_path: Path, cli: Cli) -> None:
    """The config class's default (Mamba-2, experts, attention, MLP): 1,968,355,712 on meta."""
    hf_config = transformers.NemotronHConfig()
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    assert sum(p.numel() for p in model.parameters()) == 1_968_355_712
    hf_config.save_pretrained(tmp_path)
    assert cli.json("count", "--hf-config", str(tmp_path))["params"]["total"] == 1_968_355_712


@pytest.mark.parametrize("changes, message", [
    ({"hybrid_override_pattern": "M*X"}, "hybrid_override_pattern = \"M*X\" is not a string"),
    ({"moe_latent_size": 4}, "moe_latent_size = 4 is set"),
    ({"layers_block_type": ["mamba", "moe"], "n_routed_experts": 0},
     "n_routed_experts = 0 builds layers of experts with no experts in them"),
])
def test_what_cannot_be_counted_is_one_line(changes: dict[str, Any], message: str,
                                            tmp_path: Path, cli: Cli) -> None:
    keys = {**_small("M*-E"), **changes}
    if "layers_block_type" in changes:
        del keys["hybrid_override_pattern"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "nemotron_h", **keys}))
    output = cli.error("count", "--hf-config", str(path))
    assert message in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


@pytest.mark.parametrize("extra, message", [
    (["--layer-types", "mlp,full_attention"], "give single_part = true too"),
    (["--layer-types", "moe,full_attention", "--single-part"],
     "layer_types lists moe layers: give num_experts too"),
    (["--single-part"], "give layer_types too"),
    (["--layer-types", "mlp,full_attention", "--single-part", "--parallel-residual"],
     "have no parallel_residual"),
])
def test_bad_single_part_blocks_are_one_line(cli: Cli, extra: list[str], message: str) -> None:
    output = cli.error("count", "--block", "transformer", "--vocab-size", "100", "--seq-length",
                       "32", "--d-model", "32", "--num-blocks", "2", "--n-heads", "4", *extra)
    assert message in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_single_part_blocks_are_a_flag_away(cli: Cli) -> None:
    """--single-part with --layer-types lists each layer's one part; by hand, d = 32, h = 4,
    f = 64, a plain MLP: attention 4·32² = 4,096 and one norm (32): 4,128; the MLP
    2·32·64 = 4,096 and one norm: 4,128."""
    obj = cli.json("count", "--block", "transformer", "--vocab-size", "100",
                   "--seq-length", "32", "--d-model", "32", "--num-blocks", "3",
                   "--n-heads", "4", "--d-ff", "64", "--mlp", "plain", "--norm", "rmsnorm",
                   "--no-qkv-bias", "--no-proj-bias", "--no-mlp-bias",
                   "--layer-types", "full_attention,mlp,mlp", "--single-part")
    kinds = {kind["kind"]: (kind["count"], kind["per_block"]) for kind in obj["block_kinds"]}
    assert kinds == {"full": (1, 4_128), "dense": (2, 4_128)}


@pytest.mark.slow  # transformers' model under the counter
@pytest.mark.parametrize("pattern", ["*-E", "E*-*"])
def test_forward_flops_without_mamba_equal_transformers_under_the_counter(
        pattern: str, tmp_path: Path, cli: Cli) -> None:
    """Attention (eager), MLP and expert layers: the counter on transformers' model equals
    ``flops``' forward. (Mamba-2's chunked dual form is not compared: test_families_ssm.py.)"""
    from test_hf import flops_like_transformers

    keys = _small(pattern)
    hf_config = transformers.AutoConfig.for_model("nemotron_h", **keys)
    for path in write_three_ways(hf_config, keys, "nemotron_h", tmp_path):
        flops_like_transformers(cli, hf_config, path)
