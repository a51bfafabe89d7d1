"""The state-space families of ``families/ssm.py`` (mamba, falcon_mamba, mamba2) against
transformers.

For every type, random configurations from its own config class, written as save_pretrained
writes them, in full, and by hand, are counted by ``count --hf-config`` and compared with
transformers' model on the meta device: the total, every component and the size of every
block. The recurrent state paramcalc counts equals the bytes of the conv_states and
recurrent_states tensors that transformers' cache holds after a short generation, in
``flops`` and in ``fit``; and ``check`` proves paramcalc's own torch modules for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc.families.ssm import SSM
from test_hf import counts_like_transformers, flops_like_transformers, ssm_keys, write_three_ways

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut

TYPES = [record.model_type for record in SSM]


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_random_configurations_count_like_transformers(model_type: str, tmp_path_factory:
                                                       pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(ssm_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        counted = counts_like_transformers(cli, keys, model_type, tmp_path_factory.mktemp("c"))
        assert [kind["kind"] for kind in counted[0]["block_kinds"]] == \
            ["mamba2" if model_type == "mamba2" else "mamba"]

    check()


def _cache_bytes(model: Any, batch: int) -> int:
    """Bytes of the states transformers' cache holds after a short generation."""
    tokens = torch.arange(1, 1 + 4 * batch).reshape(batch, 4) % model.config.vocab_size
    out = model.generate(tokens, max_new_tokens=3, do_sample=False, use_cache=True,
                         return_dict_in_generate=True, pad_token_id=0)
    return sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for states in (layer.conv_states, layer.recurrent_states)
               for t in states.values())


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_the_state_equals_the_cache_transformers_fills(model_type: str,
                                                       tmp_path_factory: pytest.TempPathFactory
                                                       ) -> None:
    """conv_states in the model's bf16, the scan's recurrent_states in fp32: flops' memory
    and fit's, for a batch of 2, at every kind of config.json."""
    from paramcalc.compute import Settings, compute
    from paramcalc.families import load
    from paramcalc.fit import Serving, fit
    from paramcalc.formulas import budget

    @settings(max_examples=5, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(ssm_keys(model_type))
    def check(keys: dict[str, Any]) -> None:
        hf_config = transformers.AutoConfig.for_model(model_type, **keys)
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(hf_config).to(torch.bfloat16)
        expected = _cache_bytes(model, 2)
        for path in write_three_ways(hf_config, keys, model_type, tmp_path_factory.mktemp("s")):
            config = load(path).config
            memory = compute(budget(config), Settings(batch_size=2, dtype="bf16")).memory
            assert memory["state"] == expected == sum(memory["state_by_kind"].values())
            assert memory["kv_cache"] == 0
            served = fit(config, Serving(context=100, batch_size=2)).memory
            assert served["state"] == expected and served["kv_cache"] == 0

    check()


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_check_proves_paramcalc_s_modules(model_type: str, tmp_path: Path, cli: Cli) -> None:
    keys = {"mamba2": dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, state_size=4,
                           expand=2, num_heads=8, head_dim=4, n_groups=2, conv_kernel=3),
            }.get(model_type, dict(vocab_size=64, hidden_size=20, num_hidden_layers=2,
                                   state_size=4, expand=3, conv_kernel=3, time_step_rank=5))
    hf_config = transformers.AutoConfig.for_model(model_type, **keys)
    for path in write_three_ways(hf_config, keys, model_type, tmp_path):
        assert cli.json("check", "--hf-config", str(path))["ok"] is True
        assert cli.json("check", "--hf-config", str(path), "--against",
                        "transformers")["ok"] is True


@pytest.mark.parametrize("model_type", TYPES, ids=str)
def test_paramcalc_s_modules_run_the_scan(model_type: str, tmp_path: Path) -> None:
    """The reference modules run forward: causal (a later token changes no earlier output)."""
    from paramcalc.families import load
    from paramcalc.modules import build

    keys = dict(vocab_size=32, hidden_size=8, num_hidden_layers=2, state_size=3, conv_kernel=3,
                **({"num_heads": 4, "head_dim": 4, "n_groups": 2} if model_type == "mamba2"
                   else {}))
    transformers.AutoConfig.for_model(model_type, **keys).save_pretrained(tmp_path)
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


def test_the_state_has_derivatives() -> None:
    """∂state/∂d_state: each Mamba-2 layer's scan holds H·d_P more fp32 values per state,
    and its conv 2·G·d_c more values in the dtype."""
    from paramcalc.compute import compute
    from paramcalc.formulas import budget
    from paramcalc.spec import ModelConfig

    config = ModelConfig(vocab_size=100, seq_length=64, d_model=32, num_blocks=3,
                         block="transformer", positional="rotary", norm="rmsnorm",
                         final_norm=True, head="tied", ssm="mamba2", ssm_heads=4,
                         ssm_groups=2, d_state=8)
    slope = compute(budget(config)).derivatives("state")["d_state"].value
    assert slope == 3 * (4 * 16 * 4 + 2 * 2 * 4 * 2)


def test_ssm_sizes_without_an_ssm_are_refused(cli: Cli) -> None:
    from paramcalc.errors import ConfigError
    from paramcalc.spec import ModelConfig

    with pytest.raises(ConfigError, match="d_state belongs to a state-space mixer"):
        ModelConfig(vocab_size=10, seq_length=8, d_model=8, num_blocks=1, block="transformer",
                    d_state=4)
    with pytest.raises(ConfigError, match="dt_rank belongs to mamba mixers"):
        ModelConfig(vocab_size=10, seq_length=8, d_model=8, num_blocks=1, block="transformer",
                    ssm="mamba2", dt_rank=4)


def test_derive_and_sweep_aim_at_the_state(tmp_path: Path, cli: Cli) -> None:
    """`derive --of state` and `sweep --also state`: the state at each d_state is the bytes of
    transformers' cache at that d_state, and ∂state/∂d_state (the state is linear in it) the
    difference the cache shows between d_state and d_state + 1."""
    keys = dict(vocab_size=64, hidden_size=16, num_hidden_layers=3, expand=2, num_heads=8,
                head_dim=4, n_groups=2, conv_kernel=3, tie_word_embeddings=True)
    held = {}
    for size in (4, 5):
        hf_config = transformers.AutoConfig.for_model("mamba2", state_size=size, **keys)
        model = transformers.AutoModelForCausalLM.from_config(hf_config).to(torch.bfloat16)
        held[size] = _cache_bytes(model, 1)
    transformers.AutoConfig.for_model("mamba2", state_size=4, **keys).save_pretrained(tmp_path)
    derived = cli.json("derive", "--hf-config", str(tmp_path), "--of", "state",
                       "--wrt", "d_state")
    assert derived["derivatives"]["state"]["d_state"]["value"] == held[5] - held[4]
    swept = cli.json("sweep", "--hf-config", str(tmp_path), "--vary", "d_state=4:5:1",
                     "--also", "state")
    assert [(p["d_state"], p["state"]) for p in swept["points"]] == [(4, held[4]), (5, held[5])]
    # and both tables show it as a row of its own, the KV cache's empty row left out of fit's
    for command in (("flops",), ("fit", "--context", "128K")):
        shown = cli(command[0], "--hf-config", str(tmp_path), *command[1:]).output
        row = next(line for line in shown.splitlines() if "recurrent state, mamba2" in line)
        assert f"{held[4]:,}" in row
    assert "KV cache, mamba2" not in cli("fit", "--hf-config", str(tmp_path)).output


@pytest.mark.slow  # transformers' model under the counter
@pytest.mark.parametrize("model_type", ["mamba", "falcon_mamba"])
def test_forward_flops_equal_transformers_under_the_counter(
        model_type: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Mamba's CPU path runs the scan step by step in torch (its slow forward): FlopCounterMode
    on it equals ``flops``' forward, the conv's k − 1 dropped outputs included. Mamba-2's CPU
    path runs the chunked dual form (SSD), whose work within a chunk is quadratic in
    chunk_size; paramcalc counts the recurrence, so Mamba-2 is not compared here."""
    cli = Cli()

    @settings(max_examples=5, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(ssm_keys(model_type), st.integers(1, 12))
    def check(keys: dict[str, Any], tokens: int) -> None:
        hf_config = transformers.AutoConfig.for_model(model_type, **keys)
        path = write_three_ways(hf_config, keys, model_type, tmp_path_factory.mktemp("f"))[2]
        flops_like_transformers(cli, hf_config, path, "--seq-length", str(tokens))

    check()
