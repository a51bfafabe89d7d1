"""The family records: generated defaults, aliases, zero experts, types, patterns, the lists.

The expected side is transformers wherever it can be: its config classes for the defaults,
its ``AutoConfig.from_pretrained`` and model classes on the meta device for which of two
names it reads and what it builds.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import Cli
from paramcalc import ConfigError, budget
from paramcalc.families import FAMILIES, SUPPORTED, load, readme_section, supported
from paramcalc.families.record import EXPECTED, Key

ROOT = Path(__file__).resolve().parents[1]

#: a small configuration of every family that transformers builds in a moment
SMALL: dict[str, dict[str, Any]] = {
    "gpt2": dict(vocab_size=40, n_positions=32, n_embd=16, n_layer=2, n_head=2),
    "openai-gpt": dict(vocab_size=40, n_positions=32, n_embd=16, n_layer=2, n_head=2),
    "ctrl": dict(vocab_size=40, n_positions=32, n_embd=16, dff=24, n_layer=2, n_head=2),
    "gpt_bigcode": dict(vocab_size=40, n_positions=32, n_embd=16, n_layer=2, n_head=2),
    "gpt_neox": dict(vocab_size=40, hidden_size=32, intermediate_size=24, num_hidden_layers=2,
                     num_attention_heads=2, max_position_embeddings=32),
    "xglm": dict(vocab_size=40, d_model=16, ffn_dim=24, num_layers=2, attention_heads=2,
                 max_position_embeddings=32, pad_token_id=None),
    "opt": dict(vocab_size=40, hidden_size=16, ffn_dim=24, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=32),
    "deepseek_v2": dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=3,
                        num_attention_heads=2, max_position_embeddings=32, n_routed_experts=3,
                        num_experts_per_tok=1, moe_intermediate_size=8, n_shared_experts=1,
                        first_k_dense_replace=1, q_lora_rank=None, kv_lora_rank=8,
                        qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=4, n_group=1,
                        topk_group=1),
}
SMALL["deepseek_v3"] = SMALL["deepseek_v2"]
for _type in ("deepseek_v32", "glm_moe_dsa"):  # the query latent and the indexer
    SMALL[_type] = {**SMALL["deepseek_v2"], "q_lora_rank": 8, "index_n_heads": 2,
                    "index_head_dim": 8}
for _type in SUPPORTED:
    SMALL.setdefault(_type, dict(vocab_size=40, hidden_size=16, intermediate_size=24,
                                 num_hidden_layers=2, num_attention_heads=2,
                                 num_key_value_heads=1, max_position_embeddings=32))
for _type, _routed in (("mixtral", "num_local_experts"), ("qwen2_moe", "num_experts"),
                       ("qwen3_moe", "num_experts"), ("olmoe", "num_experts"),
                       ("phimoe", "num_local_experts")):
    if _type in SMALL:
        SMALL[_type] = {**SMALL[_type], _routed: 3, "num_experts_per_tok": 1}
for _type in ("qwen2_moe", "qwen3_moe"):
    SMALL[_type] = {**SMALL[_type], "moe_intermediate_size": 8}
SMALL["phi3"] = {**SMALL["phi3"], "pad_token_id": None}  # its default, 32000, is past V
SMALL["phimoe"] = {**SMALL["phimoe"], "num_experts_per_tok": 2}  # what its router does
for _type in ("smollm3", "glm", "glm4", "ministral3"):  # default pad_token_id past V
    SMALL[_type] = {**SMALL[_type], "pad_token_id": None}
for _type in ("hunyuan_v1_dense", "ministral"):  # head_dim read with no fallback
    SMALL[_type] = {**SMALL[_type], "head_dim": 8}
SMALL["helium"] = {**SMALL["helium"], "head_dim": 8}  # its default 128 is not d/h
# GPT-Neo: its own names, and attention_types adding up to its layers (three: an alias of
# num_layers is drawn as 3)
SMALL["gpt_neo"] = dict(vocab_size=40, max_position_embeddings=32, hidden_size=16,
                        num_layers=3, num_heads=2, intermediate_size=24, window_size=8,
                        attention_types=[[["global", "local", "global"], 1]])
for _type in ("gptj", "codegen"):  # GPT-2's names, a rotary part of a head's width
    SMALL[_type] = dict(vocab_size=40, n_positions=32, n_embd=16, n_inner=24, n_layer=2,
                        n_head=2, rotary_dim=4)
SMALL["gpt_oss"] = {**SMALL["gpt_oss"], "num_experts_per_tok": 1}  # its default 4 > 3 routed
for _type in ("bamba", "granitemoehybrid"):  # Mamba-2 heads that fill expand · hidden_size
    SMALL[_type] = {**SMALL[_type], "mamba_n_heads": 4, "mamba_d_state": 4}
SMALL["jamba"] = {**SMALL["jamba"], "attn_layer_period": 2, "attn_layer_offset": 1,
                  "num_experts": 3, "num_experts_per_tok": 1, "mamba_d_state": 4}
SMALL["granitemoehybrid"].update(layer_types=["mamba", "attention"], num_local_experts=3,
                                 num_experts_per_tok=1, shared_intermediate_size=8)
SMALL["qwen3_next"] = {**SMALL["qwen3_next"], "head_dim": 8, "linear_num_key_heads": 2,
                      "linear_num_value_heads": 4, "linear_key_head_dim": 4,
                      "linear_value_head_dim": 4, "num_experts": 3, "num_experts_per_tok": 1,
                      "moe_intermediate_size": 8, "shared_expert_intermediate_size": 8,
                      "layer_types": ["linear_attention", "full_attention"]}
SMALL["qwen3_5_text"] = {key: value for key, value in SMALL["qwen3_next"].items()
                         if "expert" not in key}
SMALL["qwen3_5_moe_text"] = {key: value for key, value in SMALL["qwen3_next"].items()
                             if key != "intermediate_size"}
# Nemotron-H: one layer of each kind, Mamba-2 heads 4 wide, three experts (one a token)
SMALL["nemotron_h"] = dict(vocab_size=40, hidden_size=16, intermediate_size=24,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                           max_position_embeddings=32, layers_block_type=[
                               "linear_attention", "moe", "full_attention", "mlp"],
                           mamba_num_heads=4, mamba_head_dim=4, n_groups=2, ssm_state_size=4,
                           n_routed_experts=3, num_experts_per_tok=1, moe_intermediate_size=8,
                           moe_shared_expert_intermediate_size=8)
# families/moe.py: three routed experts, one a token, experts 8 wide where the width is a key
for _type, _routed, _top in (("glm4_moe", "n_routed_experts", "num_experts_per_tok"),
                             ("dots1", "n_routed_experts", "num_experts_per_tok"),
                             ("hunyuan_v1_moe", "num_experts", "moe_topk"),
                             ("ernie4_5_moe", "moe_num_experts", "moe_k"),
                             ("granitemoe", "num_local_experts", "num_experts_per_tok"),
                             ("granitemoeshared", "num_local_experts", "num_experts_per_tok"),
                             ("minimax_m2", "num_local_experts", "num_experts_per_tok"),
                             ("glm4_moe_lite", "n_routed_experts", "num_experts_per_tok")):
    SMALL[_type] = {**SMALL[_type], _routed: 3, _top: 1, "moe_intermediate_size": 8}
SMALL["jetmoe"] = {**SMALL["jetmoe"], "num_local_experts": 3, "num_experts_per_tok": 1,
                   "kv_channels": 4}
SMALL["dots1"]["n_shared_experts"] = 1  # null by default: transformers builds no model
SMALL["hunyuan_v1_moe"]["head_dim"] = 8  # read with no fallback
# DBRX: its sizes in two sub-configs; its attention needs attn_config's rope_theta
SMALL["dbrx"] = dict(vocab_size=40, d_model=16, n_heads=2, n_layers=2, max_seq_len=32,
                     attn_config=dict(kv_n_heads=1, rope_theta=10000.0),
                     ffn_config=dict(ffn_hidden_size=8, moe_num_experts=3, moe_top_k=1))
SMALL["bloom"] = dict(vocab_size=40, hidden_size=16, n_layer=2, n_head=2)  # its own names
SMALL["mpt"] = dict(vocab_size=40, d_model=16, n_layers=2, n_heads=2, max_seq_len=32)
SMALL["falcon"] = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2,
                      num_attention_heads=2, max_position_embeddings=32)
# Llama 4: its dense layers intermediate_size_mlp wide (16,384 by default), a chunk of 4
SMALL["llama4_text"] = {**SMALL["llama4_text"], "intermediate_size": 8,
                        "intermediate_size_mlp": 24, "num_local_experts": 3,
                        "interleave_moe_layer_step": 2, "attention_chunk_size": 4, "head_dim": 8}
# MiMo-V2-Flash: twice the key/value heads in its sliding layers, narrower values
SMALL["mimo_v2_flash"] = {**SMALL["mimo_v2_flash"], "n_routed_experts": 3,
                          "num_experts_per_tok": 1, "moe_intermediate_size": 8, "head_dim": 6,
                          "v_head_dim": 4, "sliding_window": 3}
SMALL["glm4_moe_lite"] = {**SMALL["glm4_moe_lite"], **{k: v for k, v in SMALL[
    "deepseek_v3"].items() if "lora" in k or "head_dim" in k}}


def setting(keys: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    """``keys`` with ``name`` set: a dotted name (DBRX's ffn_config.moe_num_experts) inside
    its sub-config."""
    outer, dot, inner = name.partition(".")
    if not dot:
        return {**keys, name: value}
    return {**keys, outer: {**keys.get(outer, {}), inner: value}}


def write(folder: Path, model_type: str, keys: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, **keys}))
    return folder


def transformers_model(folder: Path) -> Any:
    """transformers' own model for the config.json in ``folder``, on the meta device, read as
    ``check --against transformers`` reads it."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    hf_config = transformers.AutoConfig.from_pretrained(str(folder))
    with torch.device("meta"):
        return transformers.AutoModelForCausalLM.from_config(hf_config)


def transformers_total(folder: Path) -> int:
    return sum(p.numel() for p in transformers_model(folder).parameters())  # tied: once


def paramcalc_total(folder: Path) -> int:
    return budget(load(folder).config).params["total"]


# --- defaults: generated from transformers, and current ---------------------------------------

def test_the_committed_defaults_are_the_installed_transformers_own() -> None:
    pytest.importorskip("transformers")
    from paramcalc.families.generate import generate
    from paramcalc.families.record import DEFAULTS_FILE

    committed = json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    fresh = generate()
    assert committed["families"] == fresh["families"], (
        f"defaults.json is stale for transformers {fresh['transformers']}: run "
        "python -m paramcalc.families.generate")


@pytest.mark.parametrize("model_type", SUPPORTED, ids=str)
def test_a_default_is_the_config_class_field_default(model_type: str) -> None:
    """By hand, from the config class itself: each default the record falls back on is the
    declared default of that field; for a key the class does not declare, what an instance
    keeps of it (Gemma 3's _sliding_window_pattern), else null."""
    transformers = pytest.importorskip("transformers")
    from paramcalc.families.record import defaults

    cls = transformers.CONFIG_MAPPING[model_type]
    for name, value in defaults()[model_type].items():
        outer, dot, inner = name.partition(".")
        if dot:  # a key of a sub-config: its own class's field (DBRX's attn_config)
            cls, name = transformers.CONFIG_MAPPING[model_type].sub_configs[outer], inner
        else:
            cls = transformers.CONFIG_MAPPING[model_type]
        f = {f.name: f for f in dataclasses.fields(cls)}.get(name)
        if f is None:  # a keyword the class keeps under another name, or not at all
            assert value == getattr(cls(), f"_{name}", None), name
        elif f.default is not dataclasses.MISSING:
            assert value == (list(f.default) if isinstance(f.default, tuple) else f.default), name
        else:
            assert value == f.default_factory(), name  # type: ignore[misc]


@pytest.mark.parametrize("model_type", SUPPORTED, ids=str)
def test_a_key_read_as_nullable_is_nullable_in_transformers(model_type: str) -> None:
    """paramcalc counts a null only where transformers' own field takes one."""
    from paramcalc.families.record import DEFAULTS_FILE

    nullable = set(json.loads(DEFAULTS_FILE.read_text())["families"][model_type]["nullable"])
    for name, key in FAMILIES[model_type].keys().items():
        if key.kind in ("optional", "layers", "types", "window", "pairs"):
            assert name in nullable, name


@pytest.mark.parametrize("model_type", SUPPORTED, ids=str)
def test_a_key_has_one_kind_in_its_record(model_type: str) -> None:
    record = FAMILIES[model_type]
    kinds: dict[str, set[str]] = {}
    for source in [*record.fields.values(), *(r.key for r in record.refusals), *record.reads,
                   *(record.experts.keys() if record.experts else ())]:
        if isinstance(source, Key):
            kinds.setdefault(source.name, set()).add(source.kind)
    assert all(len(found) == 1 for found in kinds.values()), kinds


# --- aliases: the name transformers reads ------------------------------------------------------

def _attribute_maps() -> list[tuple[str, str, str]]:
    transformers = pytest.importorskip("transformers")
    found = []
    for model_type in SUPPORTED:
        for alias, declared in transformers.CONFIG_MAPPING[model_type].attribute_map.items():
            found.append((model_type, alias, declared))
    return found


try:
    ATTRIBUTE_MAPS = _attribute_maps()
except pytest.skip.Exception:  # no transformers: the alias tests are skipped below
    ATTRIBUTE_MAPS = []


def _pair(model_type: str, alias: str, declared: str) -> tuple[str, str] | None:
    """(the key the record reads, its other name) for one entry of attribute_map, or None
    where the record reads neither (DeepSeek-V3's multi-token-prediction layers: no weights
    in transformers' causal-LM class)."""
    read = FAMILIES[model_type].keys()
    for key, other in ((declared, alias), (alias, declared)):
        if key in read:
            return key, other
    return None


@pytest.mark.parametrize("model_type, alias, declared", ATTRIBUTE_MAPS,
                         ids=[f"{t}:{a}->{d}" for t, a, d in ATTRIBUTE_MAPS])
def test_every_attribute_map_entry_is_an_alias_of_the_record(model_type: str, alias: str,
                                                              declared: str) -> None:
    transformers = pytest.importorskip("transformers")
    pair = _pair(model_type, alias, declared)
    config_class = transformers.CONFIG_MAPPING[model_type]
    derived = getattr(config_class, declared, None)
    if pair is None and isinstance(derived, property) and derived.fset is None:
        # a per-layer list the config class derives from keys the record reads (Bamba's
        # layers_block_type from attn_layer_indices): no file can set it
        with pytest.raises(AttributeError, match="no setter"):
            transformers.AutoConfig.for_model(model_type, **{alias: []})
        return
    if pair is None:  # multi-token-prediction layers (DeepSeek-V3, GLM-4.5, ERNIE 4.5 MoE…)
        assert alias == "num_mtp_layers", f"{model_type} reads neither {alias} nor {declared}"
        # …which only count where transformers' own modelling code builds them
        modeling = importlib.import_module(
            f"transformers.models.{model_type}.modeling_{model_type}")
        assert not {alias, declared} & set(re.findall(r"\w+", inspect.getsource(modeling)))
        return
    key, other = pair
    assert FAMILIES[model_type].aliases.get(key) == other


#: for each alias, two values that both make a valid model: (the key's, the alias's)
_VALUES = {"n_embd": (16, 24), "hidden_size": (16, 24), "n_head": (2, 4),
           "num_attention_heads": (2, 4), "n_layer": (2, 3), "num_hidden_layers": (2, 3),
           "n_positions": (32, 48), "max_position_embeddings": (32, 48),
           "d_model": (16, 24), "n_heads": (2, 4), "n_layers": (2, 3), "max_seq_len": (32, 48),
           "attention_heads": (2, 4), "num_layers": (2, 3), "num_heads": (2, 4),
           "kv_channels": (4, 8),
           # Granite 4's layers, by the names transformers gives them once read
           "layer_types": (["linear_attention", "full_attention"],
                           ["full_attention", "linear_attention"]),
           # Nemotron-H's layers, each one part, and its Mamba-2 conv's bias
           "layers_block_type": (["linear_attention", "full_attention", "mlp", "moe"],
                                 ["full_attention", "linear_attention", "moe", "mlp"]),
           "use_conv_bias": (False, True), "n_groups": (1, 2)}

def _fields_of(model_type: str, key: str) -> list[str]:
    """paramcalc's fields read from ``key``."""
    record = FAMILIES[model_type]
    fields = [name for name, source in record.fields.items()
              if isinstance(source, Key) and source.name == key]
    if record.experts is not None and record.experts.routed == key:
        fields.append("num_experts")
    if record.experts is not None and record.experts.top_k.name == key:
        fields.append("experts_per_token")
    assert fields, key
    return fields


#: DBRX's hidden_size widens its attention and not its experts: refused (test_families_moe)
ALIASES = [(model_type, key, other) for model_type in SUPPORTED
           for key, other in FAMILIES[model_type].aliases.items()
           if (model_type, key) != ("dbrx", "d_model")]


@pytest.mark.parametrize("model_type, key, alias", ALIASES,
                         ids=[f"{t}:{k}+{a}" for t, k, a in ALIASES])
def test_a_key_and_its_alias_in_one_file_count_as_transformers_reads_them(
        model_type: str, key: str, alias: str, tmp_path: Path) -> None:
    mine, theirs = _VALUES.get(key, (2, 3))
    keys = {k: v for k, v in SMALL[model_type].items() if k not in (key, alias)}
    for order, pairs in enumerate(([(key, mine), (alias, theirs)],
                                   [(alias, theirs), (key, mine)])):
        folder = write(tmp_path / str(order), model_type, {**keys, **dict(pairs)})
        assert paramcalc_total(folder) == transformers_total(folder)
        # and the size read is the one transformers reads, where the count does not show it
        # (GPT-2's heads, CTRL's context)
        hf_config = transformers_model(folder).config
        assert getattr(hf_config, key) == theirs  # the alias wins, in either order
        config = load(folder).config
        if key in ("layer_types", "layers_block_type"):  # each layer's mixer (a hybrid's):
            # the same layers attend
            attends = [kind == "full_attention" for kind in config.layer_types or ()]
            assert attends == [kind == "full_attention" for kind in theirs]
            continue
        assert all(getattr(config, field) == theirs for field in _fields_of(model_type, key))
    alone = write(tmp_path / "alone", model_type, {**keys, alias: theirs})
    assert paramcalc_total(alone) == transformers_total(alone)


# --- zero routed experts -----------------------------------------------------------------------

ROUTED = {model_type: record.experts.routed for model_type, record in FAMILIES.items()
          if record.experts is not None}


@pytest.mark.parametrize("model_type", sorted(ROUTED), ids=str)
def test_zero_routed_experts_count_what_transformers_builds_or_are_refused(
        model_type: str, tmp_path: Path, cli: Cli) -> None:
    routed = ROUTED[model_type]
    folder = write(tmp_path, model_type, setting(SMALL[model_type], routed, 0))
    if model_type == "jetmoe":  # its config class refuses more experts a token than there are
        with pytest.raises(Exception, match="num_experts_per_tok"):
            transformers_model(folder)
        assert cli.error("count", "--hf-config", str(folder)) == (
            f"Error: {folder / 'config.json'}: {routed} = 0 leaves no experts for the "
            "num_experts_per_tok (1) a token is sent to (transformers builds no model); "
            "paramcalc cannot count this model")
        return
    model = transformers_model(folder)
    experts = [m for m in model.modules() if type(m).__name__.endswith("Experts")]
    if FAMILIES[model_type].experts.zero == "dense":  # type: ignore[union-attr]
        assert not experts  # Qwen-MoE: `num_experts > 0` picks the dense MLP in every layer
        assert paramcalc_total(folder) == transformers_total(folder)
        return
    # layers of experts with no expert in them: counting them as dense MLPs would be wrong
    assert experts and all(p.numel() == 0 for m in experts for p in m.parameters())
    assert cli.error("count", "--hf-config", str(folder)) == (
        f"Error: {folder / 'config.json'}: {routed} = 0 builds layers of experts with no "
        "experts in them (a router and no feed-forward part); paramcalc cannot count this model")


# --- wrong types -------------------------------------------------------------------------------

#: values of the wrong type for each kind of key (bool is not int here, nor 1.0)
WRONG: dict[str, list[Any]] = {
    "size": ["", False, True, 0.0, 1.0, "8", [8], None, 0, -3],
    "optional": ["", False, True, 1.0, "8", [8], 0],
    "count": ["", False, True, 0.0, 1.0, None, -1, "0"],
    "flag": [0, 1, "true", None, 1.0],
    "layers": ["0", 0, [True], [1.0], [None], {"0": 1}],
    "types": ["full_attention", 0, [1], [None], [True], {"0": "full_attention"}],
    "window": ["", False, True, 1.0, "8", [8], -1],
    "integer": ["", False, True, 0.0, 1.0, "8", [8], None],
    "text": [0, None, True, 1.0, ["xielu"]],
    "pairs": ["global", 0, [["global", 1]], [[["global"]]], [[["global"], "1"]],
              [[["global"], -1]], [[[1], 1]], [[["global"], True]], {"0": 1}],
}

KEYS = [(model_type, name, key.kind) for model_type in SUPPORTED
        for name, key in sorted(FAMILIES[model_type].keys().items())]


@pytest.mark.parametrize("model_type, name, kind", KEYS, ids=[f"{t}:{n}" for t, n, _ in KEYS])
def test_a_wrong_type_for_any_key_is_one_line_naming_it(model_type: str, name: str, kind: str,
                                                        tmp_path: Path) -> None:
    for value in WRONG[kind]:
        folder = write(tmp_path, model_type, setting(SMALL[model_type], name, value))
        with pytest.raises(ConfigError) as error:
            load(folder)
        assert str(error.value) == (f"{folder / 'config.json'}: {name} must be "
                                    f"{EXPECTED[kind]}, got {value!r}")


def test_the_readme_s_integers_first_k_dense_replace_and_the_experts(tmp_path: Path,
                                                                     cli: Cli) -> None:
    for key in ("first_k_dense_replace", "n_shared_experts", "n_routed_experts"):
        for value in ('""', "false", "0.0", "1.0", "true"):
            path = tmp_path / "config.json"
            path.write_text(f'{{"model_type": "deepseek_v3", "{key}": {value}}}')
            assert cli.error("count", "--hf-config", str(path)) == (
                f"Error: {path}: {key} must be a whole number (0 or more), got "
                f"{json.loads(value)!r}")


def test_a_size_past_the_bound_is_refused_before_anything_is_built(tmp_path: Path,
                                                                   cli: Cli) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "qwen2_moe", "num_hidden_layers": 1' + "0" * 30 + ', '
                    '"decoder_sparse_step": 3}')
    assert cli.error("count", "--hf-config", str(path)) == (
        f"Error: {path}: num_hidden_layers must be at most 2**40 (1,099,511,627,776), got "
        "1000000000000000000000000000000")


# --- the lists come from the registry ----------------------------------------------------------

def test_the_help_and_the_errors_list_the_registry(tmp_path: Path, cli: Cli) -> None:
    assert supported() == ", ".join(FAMILIES)
    path = write(tmp_path, "bert", {})
    assert cli.error("count", "--hf-config", str(path)) == (
        f"Error: {path / 'config.json'}: model_type 'bert' is not supported; supported: "
        f"{supported()}")
    shown = re.sub(r"[│\s]+", "", cli("count", "--help").stdout)  # the help's box, unwrapped
    assert f"folderholdingone({supported().replace(' ', '')})" in shown


def test_the_readme_lists_the_registry() -> None:
    from paramcalc.families.generate import BEGIN, END, README

    readme = README.read_text(encoding="utf-8")
    assert f"{BEGIN}\n{readme_section()}\n{END}" in readme  # python -m paramcalc.families.generate
    table = readme.partition("| model_type | norm | mlp |")[2].partition("\n\n")[0]
    rows = re.findall(r"^\| (`.*?`) \|", table, re.M)
    named = [t for row in rows for t in re.findall(r"`([\w-]+)`", row)]
    assert sorted(named) == sorted(SUPPORTED)  # one row of the family table for each


# --- layer patterns, in closed form ------------------------------------------------------------

def test_a_billion_layers_with_a_sparse_step_count_at_once(tmp_path: Path) -> None:
    """Qwen2-MoE with decoder_sparse_step 3: layers 2, 5, 8, … hold experts. The sizes of a
    dense and of a sparse block, and of the rest, come from transformers' model of three
    layers (0 and 1 dense, 2 sparse); a billion layers are those, counted."""
    keys = {**SMALL["qwen2_moe"], "decoder_sparse_step": 3, "num_hidden_layers": 3}
    model = transformers_model(write(tmp_path / "three", "qwen2_moe", keys))
    dense, _, sparse = (sum(p.numel() for p in layer.parameters()) for layer in model.model.layers)
    rest = sum(p.numel() for p in model.parameters()) - 2 * dense - sparse
    n = 10**9
    big = write(tmp_path / "big", "qwen2_moe", {**keys, "num_hidden_layers": n})
    assert paramcalc_total(big) == rest + (n - n // 3) * dense + n // 3 * sparse
    assert load(big).config.moe_step == 3 and load(big).config.dense_layers == ()


#: for each way a family decides which layers slide, the keys that make layers slide
WINDOWS = {
    "mistral": {}, "phi3": {}, "mixtral": {}, "starcoder2": {}, "phimoe": {},
    "qwen3_moe": {"use_sliding_window": True},
    "qwen2": {"use_sliding_window": True, "max_window_layers": 2},  # layers 2 and 3 slide
    "qwen3": {"use_sliding_window": True, "max_window_layers": 1},
    "qwen2_moe": {"use_sliding_window": True, "max_window_layers": 3},  # layers 0 and 2
    "gemma2": {},  # layers 0 and 2
    "gemma3_text": {"sliding_window_pattern": 3},  # layers 0, 1 and 3
    "ministral": {}, "ministral3": {},
}


@pytest.mark.parametrize("model_type", sorted(WINDOWS), ids=str)
def test_sliding_layers_cache_what_transformers_fills_past_the_window(
        model_type: str, tmp_path: Path, cli: Cli) -> None:
    """A generation longer than the window: the bytes of transformers' cache against paramcalc's
    KV cache at as many tokens, from the file by hand and as save_pretrained writes it."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    keys = {**SMALL[model_type], "num_hidden_layers": 4, "sliding_window": 3,
            **WINDOWS[model_type]}
    hand = write(tmp_path / "hand", model_type, keys)
    hf_config = transformers.AutoConfig.from_pretrained(str(hand))
    hf_config.save_pretrained(tmp_path / "saved")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf_config).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(0, 40, (1, 7)), max_new_tokens=5, do_sample=False,
                             use_cache=True, return_dict_in_generate=True, pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    for folder in (hand, tmp_path / "saved"):
        obj = cli.json("flops", "--hf-config", str(folder), "--dtype", "fp32", "--context",
                       str(tokens))
        assert obj["memory"]["kv_cache"] == held, folder.name
        assert any(kind.startswith("sliding") for kind in obj["memory"]["kv_cache_by_kind"])


def test_a_window_transformers_leaves_unset_is_refused(tmp_path: Path, cli: Cli) -> None:
    path = write(tmp_path, "qwen2", {"layer_types": ["sliding_attention", "full_attention"],
                                     "num_hidden_layers": 2})
    assert cli.error("count", "--hf-config", str(path)) == (
        f"Error: {path / 'config.json'}: use_sliding_window = false leaves the "
        "sliding_attention layers of layer_types without a window; paramcalc cannot count "
        "this model")


def test_gemma_3_s_bidirectional_window_is_halved_as_transformers_halves_it(tmp_path: Path) -> None:
    folder = write(tmp_path, "gemma3_text", {**SMALL["gemma3_text"], "sliding_window": 7,
                                             "use_bidirectional_attention": True})
    assert transformers_model(folder).config.sliding_window == 7 // 2 + 1
    assert load(folder).config.sliding_window == 4
