"""Finding and loading presets (data files shipped with paramcalc) and the user's TOML files.

A preset file is flat TOML: the hyperparameters under the names of the README.md model table, plus
``description`` and ``source`` (where the figures come from). In the source tree the
files live in ``presets/`` at the top; an installed wheel carries them in
``paramcalc/presets/``.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ParamcalcError, PresetError
from .files import read_input, stat_input
from .spec import ModelConfig

_METADATA = ("description", "source", "part", "not_counted")


@dataclass(frozen=True)
class Preset:
    """A named configuration and where its figures come from."""

    name: str
    config: ModelConfig
    description: str = ""
    source: str = ""
    hf_config: Path | None = None  # the config.json it was read from, as it stands in the file
    path: Path | None = None  # the file it was read from (a preset, a user's TOML, a config.json)
    #: what the command line changed, as (name, new value), for headers: llama-3.1-8b (n_kv_heads 4)
    changes: tuple[tuple[str, Any], ...] = ()
    #: what of the model is counted: None, all of it; "language model" for a multimodal
    #: wrapper, whose towers ``not_counted`` names
    part: str | None = None
    not_counted: tuple[str, ...] = ()


def preset_dir() -> Path:
    """The folder holding the shipped presets, installed or in the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "presets", here.parent / "presets"):
        if candidate.is_dir():
            return candidate
    raise PresetError(f"paramcalc's presets are missing (looked in {here / 'presets'})")


def names() -> list[str]:
    """The names of the shipped presets, sorted."""
    return sorted(path.stem for path in preset_dir().glob("*.toml"))


def from_name(name: str) -> Preset:
    """A shipped preset by name; an unknown name lists the known ones."""
    known = names()
    if name not in known:
        raise PresetError(f"unknown preset {name!r}; known presets: {', '.join(known)}")
    return from_file(preset_dir() / f"{name}.toml")


def from_file(path: str | Path) -> Preset:
    """A preset from a TOML file: the hyperparameters plus optional description and source."""
    path = Path(path)
    try:
        raw = read_input(path, "preset file")
    except ParamcalcError as error:
        raise PresetError(str(error)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as error:
        hint = ("; for a Hugging Face config.json use --hf-config"
                if path.suffix == ".json" else "")
        raise PresetError(f"{path}: malformed TOML: {error}{hint}") from None
    except UnicodeDecodeError as error:
        raise PresetError(f"{path}: cannot read: {error}") from None
    except RecursionError:
        raise PresetError(f"{path}: malformed TOML: nested too deeply") from None
    except ValueError:  # an integer of thousands of digits, which int() refuses to read
        raise PresetError(f"{path}: a number of more than {sys.get_int_max_str_digits():,} "
                          "digits; every size is at most 2**40") from None
    return _from_mapping(path.stem, data, str(path), path)


def _from_mapping(name: str, data: Mapping[str, Any], origin: str, path: Path) -> Preset:
    meta: dict[str, Any] = {key: data[key] for key in _METADATA if key in data}
    for key, value in meta.items():
        if key == "not_counted":
            if not (isinstance(value, list) and value and all(isinstance(v, str) and v
                                                              for v in value)):
                raise PresetError(f"{origin}: not_counted must be a list of names, got "
                                  f"{value!r}")
            meta[key] = tuple(value)
        elif not isinstance(value, str):
            raise PresetError(f"{origin}: {key} must be a string, got {value!r}")
    if ("part" in meta) != ("not_counted" in meta):
        raise PresetError(f"{origin}: part and not_counted go together (what is counted of "
                          "the model, and what is not)")
    hyper = {key: value for key, value in data.items() if key not in _METADATA}
    nested = [key for key, value in hyper.items() if isinstance(value, dict)]
    if nested:
        raise PresetError(f"{origin}: unexpected table [{nested[0]}]; write the hyperparameters "
                          "as top-level keys")
    return Preset(name, ModelConfig.from_mapping(hyper, origin=origin), **meta, path=path)


def from_hf_config(path: str | Path) -> Preset:
    """A preset from a Hugging Face config.json, or a folder holding one."""
    from . import families

    stat_input(path, "config file")  # a name too long, a file taken for a folder: one line
    read = families.load(path)
    described = f"{read.model_type} config.json" + (
        f" ({read.part}: {read.text_type})" if read.part else "")
    return Preset(read.name, read.config, described, str(read.path), read.path, read.path,
                  part=read.part, not_counted=read.not_counted)


def resolve(preset: str | None = None, preset_file: str | Path | None = None,
            overrides: Mapping[str, Any] | None = None,
            hf_config: str | Path | None = None) -> Preset:
    """The configuration a command works on: a preset or file, then command-line overrides.

    Args:
        preset: the name of a shipped preset.
        preset_file: a user's TOML file.
        overrides: hyperparameters given on the command line; ``None`` values are skipped.
        hf_config: a Hugging Face config.json, or a folder holding one.
    """
    sources = [flag for flag, value in (("--preset", preset), ("--preset-file", preset_file),
                                        ("--hf-config", hf_config)) if value is not None]
    if len(sources) > 1:
        raise PresetError(f"give one of --preset, --preset-file and --hf-config, not "
                          f"{' and '.join(sources)}")
    changes = {key: value for key, value in (overrides or {}).items() if value is not None}
    if not sources:
        if not changes:
            raise PresetError(f"no model given: use --preset NAME ({', '.join(names())}), "
                              "--preset-file PATH, --hf-config config.json, or --vocab-size, "
                              "--seq-length, --d-model and --num-blocks")
        config = ModelConfig.from_mapping(changes, origin="command line")
        return Preset("custom", config, "from command-line flags")
    if hf_config is not None:
        base = from_hf_config(hf_config)
    elif preset is not None:
        base = from_name(preset)
    else:
        base = from_file(preset_file)  # type: ignore[arg-type]
    if not changes:
        return base
    config = base.config.replace(**changes)
    changed = tuple((key, getattr(config, key, value)) for key, value in changes.items()
                    if getattr(config, key, value) != getattr(base.config, key, None))
    return Preset(base.name, config, base.description, base.source, hf_config=base.hf_config,
                  path=base.path, changes=changed, part=base.part,
                  not_counted=base.not_counted)
