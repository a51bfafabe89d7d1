"""The hybrids of ``families/hybrid.py`` (state-space layers beside attention layers) against
transformers.

Random configurations of each type (test_hf.py's drawer, which every supported type passes
through) count as transformers' model on the meta device does; here, in addition, the block
kinds are the mixers the file lists, the cache transformers fills in a short generation holds
exactly the keys and values paramcalc counts for the attention layers and the recurrent state
it counts for the state-space ones (``flops`` and ``fit``, per kind of block), and ``check``
proves paramcalc's own torch modules for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from conftest import Cli
from paramcalc.families.hybrid import HYBRID
from test_hf import counts_like_transformers, flops_like_transformers, hybrid_keys, write_three_ways

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

#: (Nemotron-H's single-part blocks have tests of their own: test_families_nemotron_h.py)
TYPES = [record.model_type for record in HYBRID if record.model_type != "nemotron_h"]

#: each type's name for a layer that attends in full, and the state-space kind of the others
MIXERS = {"bamba": "mamba2", "granitemoehybrid": "mamba2", "jamba": "mamba",
          "qwen3_next": "deltanet", "qwen3_5_text": "deltanet", "qwen3_5_moe_text": "deltanet"}


def _attending(keys: dict[str, Any], model_type: str) -> set[int]:
    """The layers the drawn keys make attention layers, as the config class says it."""
    hf_config = transformers.AutoConfig.for_model(model_type, **keys)
    return {i for i, kind in enumerate(hf_config.layer_types) if kind == "full_attention"}


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_block_kinds_are_the_listed_mixers(model_type: str,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(hybrid_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, model_type, tmp_path_factory.mktemp("c"))
        attending = _attending(keys, model_type)
        layers = keys["num_hidden_layers"]
        expected = {"full": len(attending), MIXERS[model_type]: layers - len(attending)}
        # a kind is named by its mixer where mixers differ (and by its feed-forward part too
        # where those differ): the blocks of each mixer
        kinds: dict[str, int] = {}
        for kind in counted[0]["block_kinds"]:
            mixer = kind["kind"].split("-")[0]
            if mixer in ("dense", "moe"):  # one mixer in every layer
                mixer = next(name for name, count in expected.items() if count)
            kinds[mixer] = kinds.get(mixer, 0) + kind["count"]
        assert kinds == {name: count for name, count in expected.items() if count}

    check()


def _small(model_type: str, attention: list[int]) -> dict[str, Any]:
    """Three layers, those in ``attention`` attending, as each type's config says it."""
    keys: dict[str, Any] = dict(
        vocab_size=32, hidden_size=16, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=16, max_position_embeddings=64,
        mamba_n_heads=4, mamba_d_state=4, mamba_n_groups=2, mamba_d_conv=3)
    if model_type == "bamba":
        keys["attn_layer_indices"] = attention
    elif model_type == "jamba":  # layer 1 alone, or layers 0 and 2, by a period; experts in
        # layer 1 (Mamba's sizes: a Δ rank of its own)
        keys.update(attn_layer_period=2 if attention == [0, 2] else 3,
                    attn_layer_offset=attention[0], expert_layer_period=2,
                    expert_layer_offset=1, num_experts=4, num_experts_per_tok=2,
                    mamba_dt_rank=3)
        for name in ("mamba_n_heads", "mamba_n_groups"):
            del keys[name]
    elif model_type in ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text"):  # gated DeltaNet:
        # 2 key heads of 4, 4 value heads of 3; two experts of four a token and the gated
        # shared expert (Qwen3.5's dense MLP alone)
        keys.update(layer_types=["full_attention" if i in attention else "linear_attention"
                                 for i in range(3)], head_dim=4, linear_num_key_heads=2,
                    linear_num_value_heads=4, linear_key_head_dim=4, linear_value_head_dim=3,
                    linear_conv_kernel_dim=3, num_experts=4, num_experts_per_tok=2,
                    moe_intermediate_size=8, shared_expert_intermediate_size=8)
        for name in [k for k in keys if k.startswith("mamba_")]:
            del keys[name]
        if model_type == "qwen3_5_text":
            for name in [k for k in keys if "expert" in k]:
                del keys[name]
        if model_type == "qwen3_5_moe_text":
            del keys["intermediate_size"]
    else:  # Granite 4: each layer by name, two experts of four a token and a shared MLP
        keys.update(layer_types=["attention" if i in attention else "mamba" for i in range(3)],
                    num_local_experts=4, num_experts_per_tok=2, shared_intermediate_size=8)
    return keys


def _held(model: Any, batch: int, prompt: int = 4, new: int = 3) -> tuple[int, int, int]:
    """Bytes of the keys and values, and of the states, that transformers' cache holds after
    a short generation, and the tokens it holds."""
    tokens = torch.arange(1, 1 + prompt * batch).reshape(batch, prompt) % model.config.vocab_size
    out = model.generate(tokens, max_new_tokens=new, do_sample=False, use_cache=True,
                         return_dict_in_generate=True, pad_token_id=0)
    kv = state = 0
    for layer in out.past_key_values.layers:
        if hasattr(layer, "conv_states"):
            state += sum(t.numel() * t.element_size() for states in
                         (layer.conv_states, layer.recurrent_states) for t in states.values())
        else:
            kv += sum(t.numel() * t.element_size() for t in (layer.keys, layer.values))
    return kv, state, prompt + new - 1


# (with no attention layer at all, transformers' generate cannot size its mask)
@pytest.mark.parametrize("attention", [[1], [0, 2]], ids=["one", "two"])
@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_cache_and_state_equal_what_transformers_holds(model_type: str, attention: list[int],
                                                       tmp_path: Path) -> None:
    """The attention layers' keys and values in bf16 for the tokens held, and the state-space
    layers' conv inputs (bf16) and scan state (fp32) whatever the context: flops' memory and
    fit's, for a batch of 2."""
    from paramcalc.compute import Settings, compute
    from paramcalc.families import load
    from paramcalc.fit import Serving, fit
    from paramcalc.formulas import budget

    keys = _small(model_type, attention)
    hf_config = transformers.AutoConfig.for_model(model_type, **keys)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf_config).to(torch.bfloat16)
    kv, state, tokens = _held(model, 2)
    assert kv > 0 and state > 0
    for path in write_three_ways(hf_config, keys, model_type, tmp_path):
        config = load(path).config
        memory = compute(budget(config), Settings(batch_size=2, dtype="bf16",
                                                  context=tokens)).memory
        assert memory["kv_cache"] == kv and memory["state"] == state
        assert sum(memory["state_by_kind"].values()) == state
        assert memory["state_by_kind"].get("full", 0) == 0
        served = fit(config, Serving(context=tokens, batch_size=2)).memory
        assert served["kv_cache"] == kv and served["state"] == state


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_check_proves_paramcalc_s_modules(model_type: str, tmp_path: Path, cli: Cli) -> None:
    keys = _small(model_type, [1])
    hf_config = transformers.AutoConfig.for_model(model_type, **keys)
    for path in write_three_ways(hf_config, keys, model_type, tmp_path):
        obj = cli.json("check", "--hf-config", str(path))
        assert obj["ok"] is True
        mixers = {row["component"].removeprefix("per_block[").split("-")[0].rstrip("]")
                  for row in obj["rows"] if row["component"].startswith("per_block[")}
        assert mixers == {"full", MIXERS[model_type]}  # a row for each kind of block
        assert cli.json("check", "--hf-config", str(path), "--against",
                        "transformers")["ok"] is True


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_paramcalc_s_modules_run_causally(model_type: str, tmp_path: Path) -> None:
    """paramcalc's own hybrid runs forward: a later token changes no earlier output."""
    from paramcalc.families import load
    from paramcalc.modules import build

    transformers.AutoConfig.for_model(model_type, **_small(model_type, [1])).save_pretrained(
        tmp_path)
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


def test_a_listed_hybrid_is_a_flag_away(cli: Cli) -> None:
    """The pattern is data: --layer-types lists a hybrid's mixers, and its block kinds are
    counted with their counts (three Mamba-2 blocks, one attention block)."""
    obj = cli.json("count", "--block", "transformer", "--vocab-size", "100",
                   "--seq-length", "32", "--d-model", "32", "--num-blocks", "4",
                   "--n-heads", "4", "--layer-types", "mamba2,full_attention,mamba2,mamba2",
                   "--ssm-heads", "4")
    kinds = {kind["kind"]: kind["count"] for kind in obj["block_kinds"]}
    assert kinds == {"full": 1, "mamba2": 3}


@pytest.mark.parametrize("types, message", [
    ("mamba,mamba2", "lists both mamba and mamba2 layers"),
    ("mamba,full_attention", "ssm_heads belongs to mamba2 or deltanet mixers, and layer_types "
                              "lists mamba"),
])
def test_bad_hybrid_patterns_are_one_line(cli: Cli, types: str, message: str) -> None:
    extra = ["--ssm-heads", "2"] if "ssm_heads" in message else []
    output = cli.error("count", "--block", "transformer", "--vocab-size", "100", "--seq-length",
                       "32", "--d-model", "32", "--num-blocks", "2", "--n-heads", "4",
                       "--layer-types", types, *extra)
    assert message in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


@pytest.mark.slow  # transformers' model under the counter
def test_jamba_s_forward_flops_equal_transformers_under_the_counter(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Jamba's Mamba layers run the scan step by step on CPU, its attention eager: the counter
    on transformers' model equals ``flops``' forward. (Bamba's and Granite 4's Mamba-2 layers
    run the chunked dual form, which paramcalc does not count: see test_families_ssm.py.)"""
    cli = Cli()

    @settings(max_examples=5, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(hybrid_keys("jamba"))
    def check(keys: dict[str, Any]) -> None:
        hf_config = transformers.AutoConfig.for_model("jamba", **keys)
        path = write_three_ways(hf_config, keys, "jamba", tmp_path_factory.mktemp("f"))[2]
        flops_like_transformers(cli, hf_config, path)

    check()


@pytest.mark.slow  # transformers' model under the counter
def test_qwen3_next_s_attention_flops_equal_transformers_under_the_counter(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Qwen3-Next with every layer attending (its gated attention, head norms and experts
    beside the gated shared expert): the counter on transformers' model equals ``flops``'
    forward. Its gated DeltaNet layers are not compared: on CPU transformers runs the delta
    rule's chunked form (chunks of 64 with a triangular solve), whose products are not the
    recurrent form's that ``layers.deltanet`` counts (as Mamba-2's SSD is not, see
    test_families_ssm.py)."""
    cli = Cli()

    @settings(max_examples=5, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(hybrid_keys("qwen3_next"))
    def check(keys: dict[str, Any]) -> None:
        keys = {**keys, "layer_types": ["full_attention"] * keys["num_hidden_layers"]}
        keys.pop("full_attention_interval", None)
        hf_config = transformers.AutoConfig.for_model("qwen3_next", **keys)
        path = write_three_ways(hf_config, keys, "qwen3_next", tmp_path_factory.mktemp("f"))[2]
        flops_like_transformers(cli, hf_config, path)

    check()


def test_a_deltanet_hybrid_by_hand(cli: Cli) -> None:
    """Gated DeltaNet beside gated attention, from flags, counted by hand: d = 32, GPT-2's
    block (LayerNorms, a biased plain MLP 4·d wide: 32·128 + 128 + 128·32 + 32 = 8,352; two
    norms: 128). A DeltaNet block, 2 key heads of 8, 4 value heads of 16 (d_inner 64): q, k
    and v 2·2·8 + 64 = 96 wide, in_proj_qkvz 32·(96 + 64) = 5,120, in_proj_ba 32·8 = 256,
    the conv 96·4 = 384 (no bias), dt_bias and A_log 8, the gated norm 16, out_proj
    64·32 = 2,048: 7,832. An attention block with its gate: Q, K, V, O and the gate each
    32·32 + 32 = 1,056: 5,280."""
    obj = cli.json("count", "--block", "transformer", "--vocab-size", "100", "--seq-length",
                   "32", "--d-model", "32", "--num-blocks", "4", "--n-heads", "4",
                   "--layer-types", "deltanet,full_attention,deltanet,deltanet",
                   "--ssm-heads", "4", "--ssm-groups", "2", "--d-state", "8",
                   "--attention-gate")
    kinds = {kind["kind"]: (kind["count"], kind["per_block"]) for kind in obj["block_kinds"]}
    assert kinds == {"full": (1, 5_280 + 8_352 + 128), "deltanet": (3, 7_832 + 8_352 + 128)}


def test_paramcalc_s_gated_deltanet_computes_what_transformers_does() -> None:
    """paramcalc's own gated DeltaNet (the delta rule token by token) given the weights of
    transformers' Qwen3.5 layer (whose in-projections are q/k/v, z, β and the decay's input
    one after the other, as paramcalc's two are) gives its output: the same mixer, not only
    the same parameter count."""
    from transformers.models.qwen3_5.modeling_qwen3_5 import Qwen3_5GatedDeltaNet

    from paramcalc.modules.ssm import GatedDeltaNet
    from paramcalc.spec import ModelConfig

    hf_config = transformers.AutoConfig.for_model(
        "qwen3_5_text", hidden_size=16, linear_num_key_heads=2, linear_num_value_heads=4,
        linear_key_head_dim=4, linear_value_head_dim=3, linear_conv_kernel_dim=3,
        num_hidden_layers=1, layer_types=["linear_attention"])
    torch.manual_seed(0)
    theirs = Qwen3_5GatedDeltaNet(hf_config, 0).float()
    for parameter in theirs.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    ours = GatedDeltaNet(ModelConfig(
        block="transformer", vocab_size=10, seq_length=8, d_model=16, num_blocks=1, n_heads=2,
        layer_types=("deltanet",), ssm_groups=2, d_state=4, ssm_heads=4, ssm_head_dim=3,
        d_inner=12, d_conv=3))
    with torch.no_grad():
        ours.q_k_v_z.weight.copy_(torch.cat([theirs.in_proj_qkv.weight,
                                             theirs.in_proj_z.weight]))
        ours.beta_decay.weight.copy_(torch.cat([theirs.in_proj_b.weight,
                                                theirs.in_proj_a.weight]))
        for name, source in (("dt_bias", theirs.dt_bias), ("A_log", theirs.A_log),
                             ("norm_weight", theirs.norm.weight)):
            getattr(ours, name).copy_(source)
        ours.conv.weight.copy_(theirs.conv1d.weight)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        x = torch.randn(2, 7, 16)
        expected, got = theirs(x), ours(x)
    assert expected.abs().max() > 0.1  # a signal, not zeros
    assert torch.allclose(got, expected, atol=1e-5)


def test_attention_gate_beside_latent_attention_is_one_line(cli: Cli) -> None:
    output = cli.error("count", "--block", "transformer", "--vocab-size", "100", "--seq-length",
                       "32", "--d-model", "32", "--num-blocks", "2", "--n-heads", "4",
                       "--kv-lora-rank", "8", "--attention-gate")
    assert "attention_gate gates multi-head attention's output (Qwen3-Next): drop " \
        "kv_lora_rank or attention_gate" in output and "Traceback" not in output
