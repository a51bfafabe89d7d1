"""Reading a Hugging Face ``config.json``: plain ``json`` and one table per ``model_type``.

Reading a config is counting, so neither torch nor transformers is imported here. Each
family's table maps the file's keys to paramcalc's names and holds the defaults that
transformers' own config class gives a key the file leaves out (``save_pretrained`` writes
only the keys that differ from those defaults). The tables were written from transformers'
modeling code for each family: which projections carry biases, which norm, where the
norms sit, which keys the attention reads. A key whose value changes the count in a way
paramcalc cannot express is refused by name, never counted wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, ParamcalcError, PresetError
from .files import read_input
from .spec import ModelConfig

#: keys a config class also accepts under another name (transformers' ``attribute_map``)
_ALIASES = {
    "gpt2": {"n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
             "n_positions": "max_position_embeddings"},
    "ctrl": {"n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
             "n_positions": "max_position_embeddings"},
    "mixtral": {"num_local_experts": "num_experts"},
    "qwen3_moe": {"num_experts": "num_local_experts"},  # transformers 5 writes the latter
    "deepseek_v2": {"n_routed_experts": "num_experts"},
    "deepseek_v3": {"n_routed_experts": "num_local_experts"},
}

#: transformers' defaults for every key a family's table reads (its config class's fields)
DEFAULTS: dict[str, dict[str, Any]] = {
    "gpt2": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                 n_inner=None, add_cross_attention=False, tie_word_embeddings=True),
    "ctrl": dict(vocab_size=246534, n_positions=256, n_embd=1280, dff=8192, n_layer=48, n_head=16,
                 tie_word_embeddings=True),
    "llama": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                  num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=None,
                  head_dim=None, max_position_embeddings=2048, attention_bias=False,
                  mlp_bias=False, tie_word_embeddings=False),
    "mistral": dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                    head_dim=None, max_position_embeddings=4096 * 32, tie_word_embeddings=False),
    "qwen2": dict(vocab_size=151936, hidden_size=4096, intermediate_size=22016,
                  num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                  head_dim=None, max_position_embeddings=32768, tie_word_embeddings=False),
    "qwen3": dict(vocab_size=151936, hidden_size=4096, intermediate_size=22016,
                  num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                  head_dim=128, max_position_embeddings=32768, attention_bias=False,
                  tie_word_embeddings=False),
    "gemma": dict(vocab_size=256000, hidden_size=3072, intermediate_size=24576,
                  num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=16,
                  head_dim=256, max_position_embeddings=8192, attention_bias=False,
                  tie_word_embeddings=True),
    "gemma2": dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216,
                   num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4,
                   head_dim=256, max_position_embeddings=8192, attention_bias=False,
                   tie_word_embeddings=True),
    "gemma3_text": dict(vocab_size=262208, hidden_size=2304, intermediate_size=9216,
                        num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4,
                        head_dim=256, max_position_embeddings=131072, attention_bias=False,
                        tie_word_embeddings=True),
    "phi3": dict(vocab_size=32064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=None, head_dim=None,
                 max_position_embeddings=4096, tie_word_embeddings=False),
    "olmo2": dict(vocab_size=50304, hidden_size=4096, intermediate_size=11008,
                  num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=None,
                  head_dim=None, max_position_embeddings=2048, attention_bias=False,
                  tie_word_embeddings=False),
    "gpt_neox": dict(vocab_size=50432, hidden_size=6144, intermediate_size=24576,
                     num_hidden_layers=44, num_attention_heads=64, max_position_embeddings=2048,
                     attention_bias=True, use_parallel_residual=True, tie_word_embeddings=False),
    "opt": dict(vocab_size=50272, hidden_size=768, ffn_dim=3072, num_hidden_layers=12,
                num_attention_heads=12, max_position_embeddings=2048, enable_bias=True,
                do_layer_norm_before=True, _remove_final_layer_norm=False,
                word_embed_proj_dim=None, layer_norm_elementwise_affine=True,
                tie_word_embeddings=True),
    "mixtral": dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                    head_dim=None, max_position_embeddings=4096 * 32, num_local_experts=8,
                    num_experts_per_tok=2, tie_word_embeddings=False),
    "qwen2_moe": dict(vocab_size=151936, hidden_size=2048, intermediate_size=5632,
                      num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16,
                      head_dim=None, max_position_embeddings=32768, decoder_sparse_step=1,
                      moe_intermediate_size=1408, shared_expert_intermediate_size=5632,
                      num_experts_per_tok=4, num_experts=60, mlp_only_layers=None, qkv_bias=True,
                      tie_word_embeddings=False),
    "qwen3_moe": dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144,
                      num_hidden_layers=24, num_attention_heads=32, num_key_value_heads=4,
                      head_dim=None, max_position_embeddings=32768, attention_bias=False,
                      decoder_sparse_step=1, moe_intermediate_size=768, num_experts_per_tok=8,
                      num_experts=128, mlp_only_layers=None, tie_word_embeddings=False),
    "deepseek_v3": dict(vocab_size=129280, hidden_size=7168, intermediate_size=18432,
                        moe_intermediate_size=2048, num_hidden_layers=61, num_attention_heads=128,
                        n_shared_experts=1, n_routed_experts=256, kv_lora_rank=512,
                        q_lora_rank=1536, qk_rope_head_dim=64, v_head_dim=128,
                        qk_nope_head_dim=128, num_experts_per_tok=8, first_k_dense_replace=3,
                        max_position_embeddings=4096, attention_bias=False,
                        tie_word_embeddings=False),
    "deepseek_v2": dict(vocab_size=102400, hidden_size=4096, intermediate_size=11008,
                        num_hidden_layers=32, num_attention_heads=32, max_position_embeddings=2048,
                        attention_bias=False, mlp_bias=False, first_k_dense_replace=0,
                        kv_lora_rank=512, q_lora_rank=1536, n_routed_experts=64,
                        n_shared_experts=2, qk_nope_head_dim=128, qk_rope_head_dim=64,
                        v_head_dim=128, num_experts_per_tok=None, moe_intermediate_size=1407,
                        tie_word_embeddings=False),
    "starcoder2": dict(vocab_size=49152, hidden_size=3072, intermediate_size=12288,
                       num_hidden_layers=30, num_attention_heads=24, num_key_value_heads=2,
                       head_dim=None, max_position_embeddings=4096, use_bias=True,
                       tie_word_embeddings=True),
}


class Keys:
    """A config.json's values, type-checked, with the family's defaults for missing keys."""

    def __init__(self, data: Mapping[str, Any], model_type: str, origin: str) -> None:
        self.data, self.origin = data, origin
        self.defaults = DEFAULTS[model_type]
        self.aliases = _ALIASES.get(model_type, {})

    def _raw(self, key: str) -> Any:
        if key in self.data:
            return self.data[key]
        alias = self.aliases.get(key)
        if alias is not None and alias in self.data:
            return self.data[alias]
        return self.defaults[key]

    def _wrong(self, key: str, kind: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {key} must be {kind}, got {self._raw(key)!r}")

    def size(self, key: str) -> int:
        """A positive integer."""
        value = self._raw(key)
        if type(value) is not int or value <= 0:
            raise self._wrong(key, "a positive integer")
        return value

    def optional_int(self, key: str) -> int | None:
        """A positive integer, or null (then transformers derives it)."""
        return None if self._raw(key) is None else self.size(key)

    def layers(self, key: str) -> list[int]:
        """A list of layer numbers, or null for none."""
        value = self._raw(key)
        if value is None:
            return []
        if type(value) is not list or any(type(item) is not int for item in value):
            raise self._wrong(key, "a list of layer numbers")
        return value

    def flag(self, key: str) -> bool:
        """true or false."""
        value = self._raw(key)
        if type(value) is not bool:
            raise self._wrong(key, "true or false")
        return value

    def refuse(self, key: str, why: str) -> ParamcalcError:
        """A value paramcalc cannot count: one line naming the key and its value."""
        return ConfigError(f"{self.origin}: {key} = {json.dumps(self._raw(key))} {why}; "
                           "paramcalc cannot count this model")


def _head(keys: Keys, logits_bias: bool = False) -> dict[str, Any]:
    """The output layer: tied to the embedding, or a Linear of its own (no bias but CTRL's)."""
    return {"head": "tied" if keys.flag("tie_word_embeddings") else "linear",
            "logits_bias": logits_bias}


def _backbone(keys: Keys, width: str = "hidden_size", layers: str = "num_hidden_layers",
              heads: str = "num_attention_heads", ff: str = "intermediate_size",
              context: str = "max_position_embeddings") -> dict[str, Any]:
    return dict(vocab_size=keys.size("vocab_size"), seq_length=keys.size(context),
                d_model=keys.size(width), num_blocks=keys.size(layers), n_heads=keys.size(heads),
                d_ff=keys.optional_int(ff), block="transformer", final_norm=True)


def _decoder(keys: Keys, *, qkv_bias: bool, proj_bias: bool, mlp_bias: bool = False,
             norm: str = "rmsnorm", mlp: str = "gated", qk_norm: str = "none",
             placement: str = "pre") -> dict[str, Any]:
    """The Llama-like families: rotary positions, key/value heads, a head_dim the attention
    reads from the config when it is there."""
    values = _backbone(keys)
    values.update(positional="rotary", norm=norm, mlp=mlp, qkv_bias=qkv_bias, proj_bias=proj_bias,
                  mlp_bias=mlp_bias, qk_norm=qk_norm, norm_placement=placement, **_head(keys))
    values["n_kv_heads"] = keys.optional_int("num_key_value_heads") or values["n_heads"]
    head_dim = keys.optional_int("head_dim")
    if head_dim is not None:
        values["head_dim"] = head_dim
    return values


def _gpt2(keys: Keys) -> dict[str, Any]:
    if keys.flag("add_cross_attention"):
        raise keys.refuse("add_cross_attention", "adds a cross-attention layer to every block")
    values = _backbone(keys, "n_embd", "n_layer", "n_head", "n_inner", "n_positions")
    values.update(positional="learned", n_positions=values["seq_length"], **_head(keys))
    return values


def _ctrl(keys: Keys) -> dict[str, Any]:
    values = _backbone(keys, "n_embd", "n_layer", "n_head", "dff", "n_positions")
    values.update(positional="sinusoidal", **_head(keys, logits_bias=True))
    return values


def _gpt_neox(keys: Keys) -> dict[str, Any]:
    # one fused query_key_value of 3·d whatever head_dim says; LayerNorms; biased MLP
    bias = keys.flag("attention_bias")
    values = _backbone(keys)
    values.update(positional="rotary", norm="layernorm", mlp="plain", qkv_bias=bias,
                  proj_bias=bias, mlp_bias=True,
                  parallel_residual=keys.flag("use_parallel_residual"), **_head(keys))
    return values


def _opt(keys: Keys) -> dict[str, Any]:
    width = keys.size("hidden_size")
    projected = keys.optional_int("word_embed_proj_dim")
    if projected is not None and projected != width:
        raise keys.refuse("word_embed_proj_dim", f"differs from hidden_size ({width}): the "
                          "embedding is projected in and out")
    if not keys.flag("layer_norm_elementwise_affine"):
        raise keys.refuse("layer_norm_elementwise_affine", "leaves the LayerNorms without weights")
    bias, before = keys.flag("enable_bias"), keys.flag("do_layer_norm_before")
    values = _backbone(keys, ff="ffn_dim")
    values.update(positional="learned", n_positions=values["seq_length"] + 2,  # OPT's offset
                  norm="layernorm", mlp="plain", qkv_bias=bias, proj_bias=bias, mlp_bias=bias,
                  norm_placement="pre" if before else "post",
                  final_norm=before and not keys.flag("_remove_final_layer_norm"), **_head(keys))
    return values


def _experts(keys: Keys, values: dict[str, Any], routed: str, width: str,
             dense: list[int]) -> dict[str, Any]:
    """The routed experts of a mixture-of-experts model; none when ``routed`` is 0."""
    num = keys.optional_int(routed) if keys._raw(routed) != 0 else 0
    if not num:
        return values  # every feed-forward layer dense, d_ff wide
    top_k = keys.optional_int("num_experts_per_tok")
    if top_k is None:
        raise keys.refuse("num_experts_per_tok", "leaves the experts per token unset")
    values.update(num_experts=num, experts_per_token=top_k, expert_d_ff=keys.size(width),
                  dense_layers=dense)
    return values


def _qwen_moe(keys: Keys, **switches: Any) -> dict[str, Any]:
    """Qwen2-MoE and Qwen3-MoE: layer i is sparse unless listed in mlp_only_layers or
    (i + 1) is not a multiple of decoder_sparse_step."""
    values = _decoder(keys, **switches)
    step, only = keys.size("decoder_sparse_step"), set(keys.layers("mlp_only_layers"))
    dense = [i for i in range(values["num_blocks"]) if i in only or (i + 1) % step]
    return _experts(keys, values, "num_experts", "moe_intermediate_size", dense)


def _qwen2_moe(keys: Keys) -> dict[str, Any]:
    values = _qwen_moe(keys, qkv_bias=keys.flag("qkv_bias"), proj_bias=False)
    shared = keys.optional_int("shared_expert_intermediate_size")
    if values.get("num_experts") and shared:
        values.update(shared_experts=1, shared_d_ff=shared, shared_expert_gate=True)
    return values


def _deepseek(keys: Keys) -> dict[str, Any]:
    """DeepSeek-V2/V3: latent attention; the first k layers dense, then routed and shared
    experts (one shared feed-forward part n_shared_experts × moe_intermediate_size wide)."""
    bias = keys.flag("attention_bias")
    values = _backbone(keys)
    values.update(positional="rotary", norm="rmsnorm", mlp="gated", qkv_bias=bias, proj_bias=bias,
                  mlp_bias=keys.flag("mlp_bias") if "mlp_bias" in keys.defaults else False,
                  q_lora_rank=keys.optional_int("q_lora_rank"),
                  kv_lora_rank=keys.size("kv_lora_rank"),
                  qk_rope_head_dim=keys.size("qk_rope_head_dim"),
                  qk_nope_head_dim=keys.size("qk_nope_head_dim"),
                  v_head_dim=keys.size("v_head_dim"), **_head(keys))
    first = keys._raw("first_k_dense_replace") or 0
    if type(first) is not int or first < 0:
        raise keys._wrong("first_k_dense_replace", "a whole number of layers")
    if first > values["num_blocks"]:
        raise ConfigError(f"{keys.origin}: first_k_dense_replace ({first}) is more than the "
                          f"{values['num_blocks']} layers")
    values = _experts(keys, values, "n_routed_experts", "moe_intermediate_size",
                      list(range(first)))
    shared = keys._raw("n_shared_experts") or 0
    if values.get("num_experts") and not shared and values["mlp_bias"]:
        raise keys.refuse("n_shared_experts", "with mlp_bias = true leaves a shared expert 0 wide "
                          "that still has a bias")
    if values.get("num_experts") and shared:
        values.update(shared_experts=keys.size("n_shared_experts"),
                      shared_d_ff=keys.size("moe_intermediate_size"))
    return values


#: model_type -> its table
FAMILIES: dict[str, Callable[[Keys], dict[str, Any]]] = {
    "gpt2": _gpt2,
    "ctrl": _ctrl,
    "llama": lambda k: _decoder(k, qkv_bias=k.flag("attention_bias"), proj_bias=k.flag("attention_bias"), mlp_bias=k.flag("mlp_bias")),
    "mistral": lambda k: _decoder(k, qkv_bias=False, proj_bias=False),
    "qwen2": lambda k: _decoder(k, qkv_bias=True, proj_bias=False),
    "qwen3": lambda k: _decoder(k, qkv_bias=k.flag("attention_bias"), proj_bias=k.flag("attention_bias"), qk_norm="head"),
    "gemma": lambda k: _decoder(k, qkv_bias=k.flag("attention_bias"), proj_bias=k.flag("attention_bias")),
    "gemma2": lambda k: _decoder(k, qkv_bias=k.flag("attention_bias"), proj_bias=k.flag("attention_bias"), placement="sandwich"),
    "gemma3_text": lambda k: _decoder(k, qkv_bias=k.flag("attention_bias"), proj_bias=k.flag("attention_bias"), qk_norm="head",
                                      placement="sandwich"),
    "phi3": lambda k: _decoder(k, qkv_bias=False, proj_bias=False),
    "olmo2": lambda k: _decoder(k, qkv_bias=k.flag("attention_bias"), proj_bias=k.flag("attention_bias"), qk_norm="full", placement="post"),
    "gpt_neox": _gpt_neox,
    "opt": _opt,
    "mixtral": lambda k: _experts(k, _decoder(k, qkv_bias=False, proj_bias=False),
                                  "num_local_experts", "intermediate_size", []),
    "qwen2_moe": _qwen2_moe,
    "qwen3_moe": lambda k: _qwen_moe(k, qkv_bias=k.flag("attention_bias"),
                                     proj_bias=k.flag("attention_bias"), qk_norm="head"),
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "starcoder2": lambda k: _decoder(k, qkv_bias=k.flag("use_bias"), proj_bias=k.flag("use_bias"),
                                     mlp_bias=k.flag("use_bias"), norm="layernorm", mlp="plain"),
}

SUPPORTED = tuple(FAMILIES)


@dataclass(frozen=True)
class HFConfig:
    """A config.json read: its name, family, raw keys and the configuration they describe."""

    name: str
    model_type: str
    path: Path
    data: dict[str, Any]
    config: ModelConfig


def config_path(path: str | Path) -> Path:
    """The config.json itself: ``path``, or ``path/config.json`` for a folder."""
    path = Path(path)
    if path.is_dir():
        inside = path / "config.json"
        if not inside.exists():
            raise PresetError(f"folder {str(path)!r} has no config.json")
        return inside
    return path


def read_json(path: str | Path) -> dict[str, Any]:
    """A config.json's object; malformed JSON names the file, line and column."""
    path = config_path(path)
    raw = read_input(path, "config file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not UTF-8 text, so not a config.json") from None
    except json.JSONDecodeError as error:
        raise PresetError(f"{path}:{error.lineno}:{error.colno}: malformed JSON: "
                          f"{error.msg}") from None
    except RecursionError:
        raise PresetError(f"{path}: malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise PresetError(f"{path}: the JSON is {_kind(data)}, not an object of config keys")
    return data


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "true or false", type(None): "null"}.get(type(value), type(value).__name__)


def load(path: str | Path) -> HFConfig:
    """Read a config.json (or a folder holding one) into a configuration.

    Args:
        path: the file, or the folder holding ``config.json``.
    """
    file = config_path(path)
    data = read_json(file)
    origin = str(file)
    model_type = data.get("model_type")
    if model_type is None:
        raise PresetError(f"{origin}: no model_type key; a config.json names its family "
                          f"({', '.join(SUPPORTED)})")
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        raise PresetError(f"{origin}: model_type {model_type!r} is not supported; supported: "
                          f"{', '.join(SUPPORTED)}")
    keys = Keys(data, model_type, origin)
    values = FAMILIES[model_type](keys)
    try:
        config = ModelConfig.from_mapping(values, origin=origin)
    except ConfigError as error:
        raise ConfigError(f"{error} (read from its {model_type} keys)") from None
    return HFConfig(_name(file, data), model_type, file, data, config)


def _name(file: Path, data: Mapping[str, Any]) -> str:
    """The file's ``_name_or_path``, else its folder's name (or the file's own)."""
    named = data.get("_name_or_path")
    if isinstance(named, str) and named.strip():
        return named.strip()
    if file.name == "config.json":
        return file.resolve().parent.name or file.stem
    return file.stem
