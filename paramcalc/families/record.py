"""What a family record is made of, and how one reads a config.json.

A record names, for one ``model_type``, the config.json key behind each of paramcalc's
fields (or the constant a family fixes), the other names a key goes by, the values
paramcalc cannot express (refused by name), and which layers hold experts. Every key a
record reads is type-checked before anything is counted; a key the file leaves out takes
the default that transformers' own config class gives it (``defaults.json``, written by
``python -m paramcalc.families.generate``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ..spec import MAX_SIZE, _shown

Kind = Literal["size", "optional", "count", "flag", "layers", "types", "window", "integer",
               "text", "pairs"]

#: what a key of each kind must hold, as a message says it
EXPECTED: dict[str, str] = {
    "size": "a positive integer",
    "optional": "a positive integer or null",
    "count": "a whole number (0 or more)",
    "flag": "true or false",
    "layers": "a list of layer numbers or null",
    "types": "a list of layer types or null",
    "window": "a whole number (0 or more) or null",
    "integer": "an integer",  # a layer index that may count from the end (ERNIE's -1)
    "text": "a string",
    # GPT-Neo's attention_types: [[["global", "local"], 12]], kinds repeated a number of times
    "pairs": "a list of [list of layer types, repeats] pairs or null",
}

DEFAULTS_FILE = Path(__file__).with_name("defaults.json")


@dataclass(frozen=True)
class Key:
    """A config.json key and the kind of value it holds."""

    name: str
    kind: Kind
    #: what the file's value becomes in paramcalc's field (``tie_word_embeddings`` → head)
    means: Mapping[Any, Any] | None = None
    #: the field whose value a null takes (``num_key_value_heads`` null: as many as n_heads)
    otherwise: str | None = None


def size(name: str) -> Key:
    return Key(name, "size")


def optional(name: str, otherwise: str | None = None) -> Key:
    return Key(name, "optional", otherwise=otherwise)


def count(name: str) -> Key:
    return Key(name, "count")


def flag(name: str, means: Mapping[bool, Any] | None = None) -> Key:
    return Key(name, "flag", means)


def integer(name: str) -> Key:
    return Key(name, "integer")

def text(name: str) -> Key:
    return Key(name, "text")


def layers(name: str) -> Key:
    return Key(name, "layers")


def types(name: str) -> Key:
    return Key(name, "types")


@dataclass(frozen=True)
class Refusal:
    """A value paramcalc cannot count: ``when`` it holds (given the reader), one line names
    the key, its value and ``why`` (formatted with the values of the record's keys)."""

    key: Key
    why: str
    when: Callable[[Any, Reader], bool]


@dataclass(frozen=True)
class Experts:
    """A mixture-of-experts feed-forward part, and which layers hold it."""

    routed: str  # the routed experts of a layer
    width: str  # one expert's inner width
    #: what transformers builds for 0 routed experts: dense layers (Qwen-MoE), or layers of
    #: experts with none in them, a feed-forward part paramcalc cannot express (refused)
    zero: Literal["dense", "refused"] = "refused"
    top_k: Key = field(default_factory=lambda: size("num_experts_per_tok"))  # K per token
    step: str | None = None  # layer i holds experts when (i + 1) % step == 0
    dense: str | None = None  # layers listed here stay dense
    first_dense: str | None = None  # the first k layers stay dense

    def keys(self) -> Iterator[Key]:
        yield count(self.routed)
        yield size(self.width)
        yield self.top_k
        if self.step:
            yield size(self.step)
        if self.dense:
            yield layers(self.dense)
        if self.first_dense:
            yield count(self.first_dense)


@dataclass(frozen=True)
class Windows:
    """Which layers attend to a sliding window, as the family's config class decides it (the
    weights are the same; a sliding layer's cache holds the window)."""

    #: a flag without which there is no window (Qwen's use_sliding_window)
    switch: str | None = None
    #: which layers slide when the file lists none: every layer; those from layer ``bound``
    #: on (Qwen2/3's max_window_layers); or layer i when (i + 1) % period != 0 (Gemma 2's
    #: every other layer, Gemma 3's sliding_window_pattern), and i < ``bound`` if given
    slides: Literal["all", "from", "period"] = "all"
    period: int | str = 1
    bound: str | None = None
    listed: bool = False  # the file may list layer_types, which then win
    halved: str | None = None  # a flag that makes the window W // 2 + 1 (Gemma 3)

    def keys(self) -> Iterator[Key]:
        yield Key("sliding_window", "window")  # 0: what Qwen2-MoE writes with the switch off
        for name, kind in ((self.switch, "flag"), (self.bound, "count"), (self.halved, "flag"),
                           (self.period if isinstance(self.period, str) else None, "size"),
                           ("layer_types" if self.listed else None, "types")):
            if name is not None:
                yield Key(name, kind)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Family:
    """How one model_type's config.json becomes paramcalc's configuration."""

    model_type: str
    #: paramcalc's field → the key it is read from, or the constant the family fixes
    fields: Mapping[str, Any]
    #: a key → another name for it; when a file holds both, transformers reads the alias
    #: (it sets the alias after the declared field), and so does paramcalc
    aliases: Mapping[str, str] = field(default_factory=dict)
    refusals: tuple[Refusal, ...] = ()
    experts: Experts | None = None
    windows: Windows | None = None
    #: code for what a table cannot say; it reads only the keys in ``reads``
    hook: Callable[[Reader, dict[str, Any]], None] | None = None
    reads: tuple[Key, ...] = ()

    def keys(self) -> dict[str, Key]:
        """Every key the record reads, by name."""
        found: dict[str, Key] = {}
        sources = [*(v for v in self.fields.values() if isinstance(v, Key)),
                   *(r.key for r in self.refusals), *self.reads,
                   *(self.experts.keys() if self.experts else ()),
                   *(self.windows.keys() if self.windows else ())]
        for key in sources:
            found.setdefault(key.name, key)
        return found


@cache
def defaults() -> dict[str, dict[str, Any]]:
    """transformers' default for every key each record reads (``defaults.json``)."""
    data = json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    return {model_type: entry["defaults"] for model_type, entry in data["families"].items()}


@cache
def derived() -> dict[str, dict[str, Any]]:
    """What transformers' config class derives for a key the file leaves out, where that
    differs from its declared default (GPT-Neo's attention_types)."""
    data = json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    return {model_type: entry["derived"] for model_type, entry in data["families"].items()}


class Reader:
    """A config.json's values for one record: type-checked, aliases followed, defaults
    filled in."""

    def __init__(self, data: Mapping[str, Any], family: Family, origin: str) -> None:
        self.data, self.family, self.origin = data, family, origin
        self.defaults = defaults()[family.model_type]
        self.kinds = family.keys()
        self.values = {name: self._checked(key) for name, key in self.kinds.items()}

    def where(self, name: str) -> str:
        """The name the file holds ``name`` under (its alias wins), or ``name`` itself."""
        alias = self.family.aliases.get(name)
        return alias if alias is not None and alias in self.data else name

    def raw(self, name: str) -> Any:
        where = self.where(name)
        outer, dot, inner = where.partition(".")
        if dot:  # a key of a sub-config (DBRX's attn_config.kv_n_heads); null: its defaults
            section = self.data.get(outer)
            if section is not None and not isinstance(section, dict):
                raise ConfigError(f"{self.origin}: {outer} must be an object of config keys "
                                  f"or null, got {_shown(section)}")
            return section[inner] if section and inner in section else self.defaults[name]
        return self.data[where] if where in self.data else self.defaults[name]

    def _checked(self, key: Key) -> Any:
        value = self.raw(key.name)
        if key.kind in ("optional", "layers", "types", "window", "pairs") and value is None:
            return [] if key.kind == "layers" else None
        if key.kind == "flag":
            ok = type(value) is bool
        elif key.kind == "text":  # a name (Apertus's hidden_act)
            ok = type(value) is str
        elif key.kind in ("layers", "types"):
            item = int if key.kind == "layers" else str
            ok = type(value) is list and all(type(entry) is item for entry in value)
        elif key.kind == "integer":
            ok = type(value) is int
        elif key.kind == "pairs":
            ok = type(value) is list and all(
                type(pair) is list and len(pair) == 2 and type(pair[0]) is list
                and all(type(kind) is str for kind in pair[0])
                and type(pair[1]) is int and 0 <= pair[1] <= MAX_SIZE for pair in value)
        else:
            ok = type(value) is int and (value >= 0 if key.kind in ("count", "window")
                                         else value > 0)
        if not ok:
            raise ConfigError(f"{self.origin}: {self.where(key.name)} must be "
                              f"{EXPECTED[key.kind]}, got {_shown(value)}")
        if type(value) is int and value < -MAX_SIZE:
            raise ConfigError(f"{self.origin}: {self.where(key.name)} must be at least -2**40 "
                              f"(-{MAX_SIZE:,}), got {_shown(value)}")
        if type(value) is int and value > MAX_SIZE:
            raise ConfigError(f"{self.origin}: {self.where(key.name)} must be at most 2**40 "
                              f"({MAX_SIZE:,}), got {_shown(value)}")
        return value

    def __getitem__(self, name: str) -> Any:
        """The checked value of a key the record reads."""
        return self.values[name]

    def field(self, source: Any, fields: Mapping[str, Any]) -> Any:
        """One of paramcalc's fields from its source in the record."""
        if not isinstance(source, Key):
            return source
        value = self.values[source.name]
        if value is None and source.otherwise is not None:
            return fields[source.otherwise]
        return source.means[value] if source.means is not None else value

    def refuse(self, name: str, why: str) -> ConfigError:
        """A value paramcalc cannot count: one line naming the key and its value."""
        return ConfigError(f"{self.origin}: {self.where(name)} = {json.dumps(self.raw(name))} "
                           f"{why}; paramcalc cannot count this model")


def read(family: Family, data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """paramcalc's fields for a config.json of ``family``."""
    keys = Reader(data, family, origin)
    for refusal in family.refusals:
        if refusal.when(keys[refusal.key.name], keys):
            raise keys.refuse(refusal.key.name, refusal.why.format_map(keys.values))
    values: dict[str, Any] = {}
    for name, source in family.fields.items():
        values[name] = keys.field(source, values)
    if family.experts is not None:
        values.update(expert_fields(family.experts, keys, values["num_blocks"]))
    if family.windows is not None:
        values.update(window_fields(family.windows, keys, values["num_blocks"]))
    if family.hook is not None:
        family.hook(keys, values)
    return values


#: the most layers a pattern is written out for, layer by layer, where no period says it
MAX_LISTED = 2**16


def expert_fields(experts: Experts, keys: Reader, num_blocks: int) -> dict[str, Any]:
    """The experts' sizes and which layers hold them: every ``step``-th layer after the first
    k, except those listed; none at all for 0 routed experts where transformers builds dense
    layers then."""
    routed = keys[experts.routed]
    if routed == 0:
        if experts.zero == "dense":
            return {}  # every feed-forward part dense, d_ff wide
        raise keys.refuse(experts.routed, "builds layers of experts with no experts in them "
                          "(a router and no feed-forward part)")
    top_k = keys[experts.top_k.name]
    if top_k is None:
        raise keys.refuse(experts.top_k.name, "leaves the experts per token unset")
    step = keys[experts.step] if experts.step else 1
    first = keys[experts.first_dense] if experts.first_dense else 0
    if first > num_blocks:
        raise ConfigError(f"{keys.origin}: {keys.where(experts.first_dense or '')} ({first}) is "
                          f"more than the {num_blocks} layers")
    # transformers passes over a listed layer that no block has, and lists may repeat one
    listed = sorted({i for i in (keys[experts.dense] if experts.dense else [])
                     if 0 <= i < num_blocks})
    return {"num_experts": routed, "experts_per_token": top_k,
            "expert_d_ff": keys[experts.width], "moe_step": step if step > 1 else None,
            "first_dense": first or None, "dense_layers": listed}


def window_fields(windows: Windows, keys: Reader, num_blocks: int) -> dict[str, Any]:
    """sliding_window, and full_every or layer_types where not every layer slides; nothing
    where no layer does."""
    window = keys["sliding_window"]
    if windows.switch is not None and not keys[windows.switch]:
        window = None
    if window == 0:
        raise keys.refuse("sliding_window", "leaves the sliding layers no token to attend to")
    if window is not None and windows.halved is not None and keys[windows.halved]:
        window = window // 2 + 1  # bidirectional: a window each side, as transformers sets it
    listed = keys["layer_types"] if windows.listed else None
    if listed is not None:
        if "sliding_attention" not in listed:
            return {"layer_types": listed}
        if window is None:
            name = windows.switch if windows.switch and not keys[windows.switch] else \
                "sliding_window"
            raise keys.refuse(name, "leaves the sliding_attention layers of layer_types "
                              "without a window")
        return {"layer_types": listed, "sliding_window": window}
    if window is None:
        return {}
    n = num_blocks
    if windows.slides == "all":
        return {"sliding_window": window}
    bound = keys[windows.bound] if windows.bound else n
    if windows.slides == "from":
        if bound >= n:
            return {}
        if bound == 0:
            return {"sliding_window": window}
        slides = lambda i: i >= bound  # noqa: E731
    else:
        period = keys[windows.period] if isinstance(windows.period, str) else windows.period
        if period == 1:
            return {}
        if bound >= n:
            return {"full_every": period, "sliding_window": window}
        slides = lambda i: bool((i + 1) % period) and i < bound  # noqa: E731
    if n > MAX_LISTED:
        raise keys.refuse(windows.bound or "", f"over {n:,} layers would list every layer's "
                          f"attention (at most {MAX_LISTED:,} layers)")
    types = ["sliding_attention" if slides(i) else "full_attention" for i in range(n)]
    return {"layer_types": types, "sliding_window": window} if "sliding_attention" in types \
        else {}
