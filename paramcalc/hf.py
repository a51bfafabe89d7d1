"""The former home of config.json reading, kept for code that imports it: see ``families``."""

from __future__ import annotations

from .families import FAMILIES, SUPPORTED, HFConfig, config_path, load, read_json

__all__ = ["FAMILIES", "SUPPORTED", "HFConfig", "config_path", "load", "read_json"]
