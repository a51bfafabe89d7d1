"""Each formula against the instantiated torch module, component by component.

Models are built on torch's meta device: shapes without weight memory, so GPT-2 XL, CTRL
or a trillion-parameter configuration check in seconds. A tensor shared between two
components (a tied head's matrix) is counted once, in the first component that holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, ParamcalcError, first_line
from .formulas import COMPONENTS, budget
from .modules import LanguageModel, build
from .spec import ModelConfig

#: the rows of a check, in order
ROWS = ("embedding", "positional", "per_block", "blocks", "final_norm", "head", "total")


@dataclass(frozen=True)
class Row:
    """One component: the formula's count and the instantiated module's."""

    component: str
    formula: int
    instantiated: int

    @property
    def ok(self) -> bool:
        return self.formula == self.instantiated


@dataclass(frozen=True)
class Check:
    """Formula against module for one configuration."""

    config: ModelConfig
    rows: tuple[Row, ...]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)


def unique_numel(parameters: Iterable[nn.Parameter], seen: set[int]) -> int:
    """Elements of the parameters not in ``seen`` (by identity); adds them to ``seen``."""
    total = 0
    for p in parameters:
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def module_counts(model: LanguageModel) -> dict[str, int]:
    """Parameters per component of a built model, each shared tensor counted once."""
    seen: set[int] = set()
    counts = {name: unique_numel(getattr(model, name).parameters(), seen) for name in COMPONENTS}
    counts["per_block"] = unique_numel(model.blocks[0].parameters(), set())
    counts["total"] = unique_numel(model.parameters(), set())
    return counts


def build_meta(config: ModelConfig) -> LanguageModel:
    """The model on the meta device; a configuration torch cannot build is a ConfigError."""
    try:
        return build(config, "meta")
    except (RuntimeError, ValueError, TypeError, OverflowError) as error:
        raise ConfigError(f"cannot build this configuration in torch: {first_line(error)}") from None



def check(config: ModelConfig) -> Check:
    """Compare every component's formula with the module torch instantiates."""
    formula = budget(config).params
    built = module_counts(build_meta(config))
    return Check(config, tuple(Row(name, formula[name], built[name]) for name in ROWS))


def transformers_counts(path: Path) -> dict[str, int]:
    """Parameters per component of transformers' own model for a config.json, built on the
    meta device; a parameter no component name matches is counted as ``other``."""
    try:
        import transformers
    except ImportError:
        raise ParamcalcError("--against transformers needs the transformers library: "
                             "pip install transformers") from None
    transformers.logging.set_verbosity_error()
    try:
        hf_config = transformers.AutoConfig.from_pretrained(str(path))
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(hf_config)
    except (ValueError, TypeError, KeyError, OSError, RuntimeError) as error:
        raise ConfigError(f"transformers cannot build {path}: {first_line(error)}") from None
    counts = dict.fromkeys((*COMPONENTS, "other", "per_block"), 0)
    for name, p in model.named_parameters():  # a tied tensor once, under its first name
        component, first_block = _component(name)
        counts[component] += p.numel()
        counts["per_block"] += p.numel() if first_block else 0
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


_EMBEDDINGS = {"embed_tokens", "wte", "embed_in", "w"}
_POSITIONS = {"wpe", "embed_positions"}
_HEADS = {"lm_head", "embed_out"}
_FINAL_NORMS = {"norm", "ln_f", "final_layer_norm", "layernorm"}


def _component(name: str) -> tuple[str, bool]:
    """The component a transformers parameter belongs to, and whether it is in block 0."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part in ("layers", "h") and parts[i + 1].isdigit():
            return "blocks", parts[i + 1] == "0"
    owner = parts[-2] if len(parts) >= 2 else ""
    for component, names in (("embedding", _EMBEDDINGS), ("positional", _POSITIONS),
                             ("head", _HEADS), ("final_norm", _FINAL_NORMS)):
        if owner in names:
            return component, False
    return "other", False


def check_transformers(config: ModelConfig, path: Path) -> Check:
    """Compare every component's formula with transformers' own model for the config.json."""
    formula = budget(config).params
    built = transformers_counts(path)
    rows = [Row(name, formula[name], built[name]) for name in ROWS]
    if built["other"]:
        rows.insert(-1, Row("other", 0, built["other"]))
    return Check(config, tuple(rows))


@dataclass(frozen=True)
class Layer:
    """One line of a Keras-like summary."""

    name: str  # the module's path, e.g. "blocks.0" or "head.dense"
    kind: str  # its class, e.g. "Linear"
    output_shape: tuple[int | None, ...]  # None for the batch dimension
    params: int  # parameters it holds that no earlier line holds
    trainable: int


def _summary_modules(model: LanguageModel) -> Iterator[tuple[str, nn.Module]]:
    yield "embedding", model.embedding
    yield "positional", model.positional
    for i, block in enumerate(model.blocks):
        yield f"blocks.{i}", block
    if not isinstance(model.final_norm, nn.Identity):
        yield "final_norm", model.final_norm
    for name, layer in model.head.named_children():
        yield f"head.{name}", layer


def summary(config: ModelConfig) -> list[Layer]:
    """The layers in order with output shapes from a forward pass on meta tensors."""
    model = build_meta(config)
    modules = list(_summary_modules(model))
    shapes: dict[str, tuple[int | None, ...]] = {}

    def hook(name: str):  # type: ignore[no-untyped-def]
        def record(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
            shapes[name] = (None, *output.shape[1:])
        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in modules]
    try:
        with torch.no_grad():
            model(torch.zeros((1, config.seq_length), dtype=torch.long, device="meta"),
                  every_position=True)
    except (RuntimeError, ValueError, TypeError, OverflowError) as error:
        raise ConfigError(f"cannot run this configuration in torch: {first_line(error)}") from None
    finally:
        for handle in handles:
            handle.remove()
    seen: set[int] = set()
    layers = []
    for name, module in modules:
        new = [p for p in module.parameters() if id(p) not in seen]
        seen.update(id(p) for p in new)
        layers.append(Layer(name, type(module).__name__, shapes[name], sum(p.numel() for p in new),
                            sum(p.numel() for p in new if p.requires_grad)))
    return layers
