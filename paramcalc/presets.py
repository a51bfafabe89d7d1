"""Finding and loading presets (data files shipped with paramcalc) and the user's TOML files.

A preset file is flat TOML: the hyperparameters under their DESIGN.md names, plus
``description`` and ``source`` (where the figures come from). In the source tree the
files live in ``presets/`` at the top; an installed wheel carries them in
``paramcalc/presets/``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import PresetError
from .spec import ModelConfig

_METADATA = ("description", "source")


@dataclass(frozen=True)
class Preset:
    """A named configuration and where its figures come from."""

    name: str
    config: ModelConfig
    description: str = ""
    source: str = ""


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
    if not path.exists():
        raise PresetError(f"preset file {str(path)!r} does not exist")
    if path.is_dir():
        raise PresetError(f"preset file {str(path)!r} is a directory, not a TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise PresetError(f"{path}: malformed TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PresetError(f"{path}: cannot read: {error}") from None
    return _from_mapping(path.stem, data, str(path))


def _from_mapping(name: str, data: Mapping[str, Any], origin: str) -> Preset:
    meta = {key: data[key] for key in _METADATA if key in data}
    for key, value in meta.items():
        if not isinstance(value, str):
            raise PresetError(f"{origin}: {key} must be a string, got {value!r}")
    hyper = {key: value for key, value in data.items() if key not in _METADATA}
    nested = [key for key, value in hyper.items() if isinstance(value, dict)]
    if nested:
        raise PresetError(f"{origin}: unexpected table [{nested[0]}]; write the hyperparameters "
                          "as top-level keys")
    return Preset(name, ModelConfig.from_mapping(hyper, origin=origin), **meta)


def resolve(preset: str | None = None, preset_file: str | Path | None = None,
            overrides: Mapping[str, Any] | None = None) -> Preset:
    """The configuration a command works on: a preset or file, then command-line overrides.

    Args:
        preset: the name of a shipped preset.
        preset_file: a user's TOML file.
        overrides: hyperparameters given on the command line; ``None`` values are skipped.
    """
    if preset is not None and preset_file is not None:
        raise PresetError("give --preset or --preset-file, not both")
    changes = {key: value for key, value in (overrides or {}).items() if value is not None}
    if preset is None and preset_file is None:
        if not changes:
            raise PresetError(f"no model given: use --preset NAME ({', '.join(names())}), "
                              "--preset-file PATH, or --vocab-size, --seq-length, --d-model "
                              "and --num-blocks")
        config = ModelConfig.from_mapping(changes, origin="command line")
        return Preset("custom", config, "from command-line flags")
    base = from_name(preset) if preset is not None else from_file(preset_file)  # type: ignore[arg-type]
    if not changes:
        return base
    return Preset(base.name, base.config.replace(**changes), base.description, base.source)
