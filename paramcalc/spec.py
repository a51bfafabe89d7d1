"""The frozen, validated model configuration: a backbone and an output head.

Every check of user input lives here. A field left as ``None`` takes its default in
``__post_init__`` (``d_ff`` = 4·d_model, ``n_positions`` = seq_length, the head's own
defaults); the fields the user gave are remembered, so that swapping the head
(``with_head``) re-derives the defaults of the new head instead of inheriting the old one's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

BLOCKS = ("seed", "transformer")
POSITIONALS = ("sinusoidal", "learned")
HEADS = ("flatten", "bottleneck", "td-dense", "conv", "rnn", "tied-flatten", "tied", "linear")
CELLS = ("gru", "lstm")

#: the head options each head design uses; the others are ignored for that head
HEAD_OPTIONS: dict[str, tuple[str, ...]] = {
    "flatten": ("logits_bias",),
    "bottleneck": ("head_width", "logits_bias"),
    "td-dense": ("head_width", "logits_bias"),
    "conv": ("head_width", "kernel_size", "logits_bias"),
    "rnn": ("head_width", "cell", "logits_bias"),
    "tied-flatten": ("logits_bias",),
    "tied": ("logits_bias",),
    "linear": ("logits_bias",),
}

#: what each head design is, in one line (shown by --help and the compare table)
HEAD_LAYERS: dict[str, str] = {
    "flatten": "flatten (S·d) → Dense(V)",
    "bottleneck": "flatten → Dense(k) → Dense(V)",
    "td-dense": "per-position Dense(d→k) → flatten (S·k) → Dense(V)",
    "conv": "Conv1D(d→k, kernel w) → flatten → Dense(V)",
    "rnn": "GRU/LSTM (d→k), all steps → flatten → Dense(V)",
    "tied-flatten": "flatten → Dense(d) → × embedding transposed",
    "tied": "last position × embedding transposed",
    "linear": "last position → Dense(V), untied",
}

_SIZES = ("vocab_size", "seq_length", "d_model", "num_blocks", "n_heads", "d_ff", "n_positions",
          "head_width", "kernel_size")
_CHOICES = {"block": BLOCKS, "positional": POSITIONALS, "head": HEADS, "cell": CELLS}
_FLAGS = ("final_norm", "logits_bias")
REQUIRED = ("vocab_size", "seq_length", "d_model", "num_blocks")


@dataclass(frozen=True)
class ModelConfig:
    """A transformer language model's hyperparameters, backbone and head."""

    vocab_size: int  # V: tokens in the vocabulary (257 for byte-level models)
    seq_length: int  # S: tokens the model sees at once
    d_model: int  # d: width of the embedding and of every block
    num_blocks: int  # n: encoder/transformer blocks
    n_heads: int | None = None  # h: attention heads; must divide d_model (default 1)
    d_ff: int | None = None  # f: feed-forward inner width of transformer blocks (default 4·d)
    block: str | None = None  # "seed" (the log's Keras block) or "transformer" (GPT-2)
    positional: str | None = None  # "sinusoidal" (no parameters) or "learned"
    n_positions: int | None = None  # P: rows of a learned position table (default S)
    final_norm: bool | None = None  # a LayerNorm after the last block
    head: str | None = None  # the head design, one of HEADS (default flatten)
    head_width: int | None = None  # k: the width a reducing head reduces to
    kernel_size: int | None = None  # w: the conv head's kernel (default 3)
    cell: str | None = None  # the rnn head's cell: gru or lstm (default gru)
    logits_bias: bool | None = None  # a V-sized bias on the logits
    #: the values the user gave, before defaults: what ``replace`` starts from
    given: tuple[tuple[str, Any], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        _set = object.__setattr__
        _set(self, "given", tuple((name, getattr(self, name)) for name in field_names()
                                  if getattr(self, name) is not None))
        for name in _SIZES:
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value <= 0):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in REQUIRED:
            if getattr(self, name) is None:
                raise ConfigError(f"{name} is required (a positive integer)")
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
        for name in _FLAGS:
            value = getattr(self, name)
            if value is not None and type(value) is not bool:
                raise ConfigError(f"{name} must be true or false, got {value!r}")

        n_heads = self.n_heads or 1
        _set(self, "n_heads", n_heads)
        _set(self, "block", self.block or "seed")
        _set(self, "positional", self.positional or "sinusoidal")
        _set(self, "final_norm", bool(self.final_norm))
        head = self.head or "flatten"
        _set(self, "head", head)
        if self.d_model % n_heads:
            raise ConfigError(f"n_heads ({n_heads}) must divide d_model ({self.d_model})")
        _set(self, "d_ff", (self.d_ff or 4 * self.d_model) if self.block == "transformer" else None)
        if self.positional == "learned":
            n_positions = self.n_positions or self.seq_length
            _set(self, "n_positions", n_positions)
            if n_positions < self.seq_length:
                raise ConfigError(f"n_positions ({n_positions}) must be at least "
                                  f"seq_length ({self.seq_length})")
        else:
            _set(self, "n_positions", None)
        self._resolve_head(head)

    def _resolve_head(self, head: str) -> None:
        _set = object.__setattr__
        uses = HEAD_OPTIONS[head]
        defaults: dict[str, Any] = {
            "head_width": self.d_model if head == "bottleneck" else max(1, self.d_model // 8),
            "kernel_size": 3,
            "cell": "gru",
            "logits_bias": self.head not in ("tied", "tied-flatten"),
        }
        for name, default in defaults.items():
            value = getattr(self, name)
            _set(self, name, (default if value is None else value) if name in uses else None)
        if self.head_width is not None:
            reduced, what = ((self.seq_length * self.d_model, "seq_length × d_model")
                             if self.head == "bottleneck" else (self.d_model, "d_model"))
            if self.head_width > reduced:
                raise ConfigError(f"head_width ({self.head_width}) must not exceed the width the "
                                  f"{self.head} head reduces, {what} = {reduced}")
        if self.kernel_size is not None and self.kernel_size > self.seq_length:
            raise ConfigError(f"kernel_size ({self.kernel_size}) must not exceed "
                              f"seq_length ({self.seq_length})")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], origin: str = "") -> ModelConfig:
        """Build from TOML-like keys; unknown keys and wrong types are errors naming ``origin``."""
        where = f"{origin}: " if origin else ""
        known = field_names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{where}unknown key {unknown[0]!r}; known keys: {', '.join(known)}")
        for name, value in values.items():
            expected = _expected_type(name)
            if value is not None and type(value) is not expected:
                kind = {int: "an integer", str: "a string", bool: "true or false"}[expected]
                raise ConfigError(f"{where}{name} must be {kind}, got {value!r}")
        try:
            return cls(**values)
        except TypeError:  # a required key is missing
            missing = [name for name in REQUIRED if values.get(name) is None]
            raise ConfigError(f"{where}missing {', '.join(missing)} (required: "
                              f"{', '.join(REQUIRED)})") from None
        except ConfigError as error:
            raise ConfigError(f"{where}{error}") from None

    def replace(self, **changes: Any) -> ModelConfig:
        """A new configuration from the given fields of this one, with ``changes`` applied."""
        values = dict(self.given)
        values.update({k: v for k, v in changes.items() if v is not None})
        return ModelConfig.from_mapping(values)

    def with_head(self, head: str) -> ModelConfig:
        """The same backbone with another head design, taking that head's defaults."""
        return self.replace(head=head)

    def to_dict(self) -> dict[str, Any]:
        """The resolved hyperparameters, without those that do not apply."""
        return {name: getattr(self, name) for name in field_names()
                if getattr(self, name) is not None}


def field_names() -> tuple[str, ...]:
    """Every hyperparameter name, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name != "given")


def _expected_type(name: str) -> type:
    if name in _SIZES:
        return int
    if name in _FLAGS:
        return bool
    return str
