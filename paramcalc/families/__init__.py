"""Reading a Hugging Face ``config.json``: plain ``json`` and one record per ``model_type``.

Reading a config is counting, so neither torch nor transformers is imported here. Each
family's record (``records.py``) maps the file's keys to paramcalc's names; the defaults
that transformers' own config class gives a key the file leaves out (``save_pretrained``
writes only the keys that differ from them) are generated from transformers into
``defaults.json``. A key whose value changes the count in a way paramcalc cannot express
is refused by name, never counted wrong.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ParamcalcError, PresetError
from ..files import load_json, read_input
from ..spec import ModelConfig, _shown
from .record import DEFAULTS_FILE, Family, read
from .record import defaults as record_defaults
from .records import RECORDS
from .wrappers import TEXT_ONLY, WRAPPERS, Wrapper

#: model_type -> its record
FAMILIES: dict[str, Family] = {record.model_type: record for record in RECORDS}
#: the language models a wrapper's text_config may name: every family, and those only a
#: wrapper builds
TEXT_FAMILIES: dict[str, Family] = {**FAMILIES, **{r.model_type: r for r in TEXT_ONLY}}
#: the multimodal model_types whose language model paramcalc counts
MULTIMODAL: dict[str, Wrapper] = {wrapper.model_type: wrapper for wrapper in WRAPPERS}

SUPPORTED = tuple(FAMILIES)


def supported() -> str:
    """The supported model types, as --help and the errors list them."""
    return ", ".join(SUPPORTED)


def readme_section() -> str:
    """The README's list of the supported model types (``generate`` writes it there)."""
    dense = [f"`{t}`" for t, record in FAMILIES.items() if record.experts is None]
    moe = [f"`{t}`" for t, record in FAMILIES.items() if record.experts is not None]
    counted = [f"`{t}`" for t in MULTIMODAL
               if wrapper_defaults()[t]["text_type"] in TEXT_FAMILIES]
    refused = [f"`{t}`" for t in MULTIMODAL if f"`{t}`" not in counted]
    return textwrap.fill(f"{', '.join(dense)}; and the mixtures of experts "
                         f"{', '.join(moe[:-1])} and {moe[-1]}. The multimodal wrappers "
                         f"{', '.join(counted[:-1])} and {counted[-1]} count as their language "
                         f"model (text_config) and the output layer, every output saying so "
                         f"and naming the towers not counted; {', '.join(refused[:-1])} and "
                         f"{refused[-1]} are refused in one line naming their language model's "
                         "type.", width=92)


@dataclass(frozen=True)
class HFConfig:
    """A config.json read: its name, family, raw keys and the configuration they describe."""

    name: str
    model_type: str
    path: Path
    data: dict[str, Any]
    config: ModelConfig
    #: what of the file's model is counted: None, all of it; "language model" for a wrapper
    part: str | None = None
    #: what of a wrapper's model is not counted (its towers and projectors)
    not_counted: tuple[str, ...] = ()
    #: the model_type of the language model counted (a wrapper's text_config), else model_type
    text_type: str | None = None


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
    try:
        data = load_json(read_input(path, "config file"), path)
    except ParamcalcError as error:
        raise PresetError(str(error)) from None
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
                          f"({supported()})")
    if isinstance(model_type, str) and model_type in MULTIMODAL:
        return _load_wrapper(MULTIMODAL[model_type], file, data, origin)
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        raise PresetError(f"{origin}: model_type {model_type!r} is not supported; supported: "
                          f"{supported()}")
    values = read(FAMILIES[model_type], data, origin)
    try:
        config = ModelConfig.from_mapping(values, origin=origin)
    except ConfigError as error:
        raise ConfigError(f"{error} (read from its {model_type} keys)") from None
    return HFConfig(_name(file, data), model_type, file, data, config)


@cache
def wrapper_defaults() -> dict[str, dict[str, Any]]:
    """How each wrapper's config class reads its text config (``defaults.json``)."""
    return json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))["wrappers"]


def text_config(wrapper: Wrapper, data: Mapping[str, Any],
                origin: str) -> tuple[str, dict[str, Any]]:
    """A wrapper's language model: its model_type and its keys, as the wrapper's config class
    builds them (the file's text_config; without one, the class's default text config or,
    for a flat file, the top-level keys), the head tied as the wrapper's class ties it."""
    spec = wrapper_defaults()[wrapper.model_type]
    text = data.get("text_config")
    if text is not None and not isinstance(text, dict):
        raise PresetError(f"{origin}: text_config must be an object of config keys, got "
                          f"{_kind(text)}")
    text_type = spec["text_type"]
    if not spec["text_type_fixed"] and text is not None and "model_type" in text:
        text_type = text["model_type"]
    if not isinstance(text_type, str) or text_type not in TEXT_FAMILIES:
        raise PresetError(f"{origin}: model_type {wrapper.model_type!r} is a multimodal wrapper "
                          f"whose language model (text_config) is {text_type!r}, which "
                          f"paramcalc does not count; language models it counts: {supported()}")
    if text is None:
        own = set(spec["own_keys"])
        text = ({k: v for k, v in data.items() if k not in own} if spec["flat"]
                else dict(spec["text_defaults"]))
    if wrapper.head_in_text:  # the language model's own output layer: its own key ties it
        return text_type, dict(text)
    tie = data.get("tie_word_embeddings", spec["tie_word_embeddings"])
    if type(tie) is not bool:
        raise ConfigError(f"{origin}: tie_word_embeddings must be true or false, got "
                          f"{_shown(tie)}")
    if spec["tie_from_text"] and not tie:  # the class forwards a tied text config's head
        inner = text.get("tie_word_embeddings",
                         record_defaults()[text_type].get("tie_word_embeddings"))
        tie = bool(inner)
    return text_type, {**text, "tie_word_embeddings": tie}


def _load_wrapper(wrapper: Wrapper, file: Path, data: dict[str, Any], origin: str) -> HFConfig:
    text_type, text = text_config(wrapper, data, origin)
    where = f"{origin} (text_config)" if data.get("text_config") is not None else origin
    values = read(TEXT_FAMILIES[text_type], text, where)
    try:
        config = ModelConfig.from_mapping(values, origin=where)
    except ConfigError as error:
        raise ConfigError(f"{error} (read from its {text_type} keys)") from None
    return HFConfig(_name(file, data), wrapper.model_type, file, data, config,
                    part="language model", not_counted=wrapper.not_counted, text_type=text_type)


def _name(file: Path, data: Mapping[str, Any]) -> str:
    """The file's ``_name_or_path``, else its folder's name (or the file's own)."""
    named = data.get("_name_or_path")
    if isinstance(named, str) and named.strip():
        return named.strip()
    if file.name == "config.json":
        return file.resolve().parent.name or file.stem
    return file.stem
