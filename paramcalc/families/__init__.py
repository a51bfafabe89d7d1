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
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ParamcalcError, PresetError
from ..files import load_json, read_input
from ..spec import ModelConfig
from .record import Family, read
from .records import RECORDS

#: model_type -> its record
FAMILIES: dict[str, Family] = {record.model_type: record for record in RECORDS}

SUPPORTED = tuple(FAMILIES)


def supported() -> str:
    """The supported model types, as --help and the errors list them."""
    return ", ".join(SUPPORTED)


def readme_section() -> str:
    """The README's list of the supported model types (``generate`` writes it there)."""
    dense = [f"`{t}`" for t, record in FAMILIES.items() if record.experts is None]
    moe = [f"`{t}`" for t, record in FAMILIES.items() if record.experts is not None]
    return textwrap.fill(f"{', '.join(dense)}; and the mixtures of experts "
                         f"{', '.join(moe[:-1])} and {moe[-1]}.", width=92)


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
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        raise PresetError(f"{origin}: model_type {model_type!r} is not supported; supported: "
                          f"{supported()}")
    values = read(FAMILIES[model_type], data, origin)
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
