"""Each formula against the instantiated torch module, component by component.

Models are built on torch's meta device: shapes without weight memory, so GPT-2 XL, CTRL
or a trillion-parameter configuration check in seconds. A tensor shared between two
components (a tied head's matrix) is counted once, in the first component that holds it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, ParamcalcError, first_line
from .families import MULTIMODAL
from .formulas import COMPONENTS, budget
from .modules import LanguageModel, MixtureOfAttention, MixtureOfExperts, build
from .pattern import Group, ffn_of, group_name, mixer_of
from .spec import ModelConfig

#: the rows of a check, in order; ``per_block`` becomes one row per kind of block where the
#: blocks are not all alike (``per_block[dense]``, ``per_block[moe]``)
ROWS = ("embedding", "positional", "per_block", "blocks", "final_norm", "head", "total", "active")


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


def _routed(name: str, weight: torch.Tensor) -> bool:
    """Whether a parameter of transformers' model belongs to routed experts: under experts
    (JetMoE's attention experts' router and bias are not), or one of JetMoE's stacked
    ParallelExperts, (E, out, in) (GraniteMoeShared's shared MLP has the names, 2-D)."""
    if ".input_linear." in name or ".output_linear." in name:
        return weight.dim() == 3
    return ".experts." in name and ".experts.router." not in name and \
        not name.endswith(".experts.bias")


def module_counts(model: LanguageModel) -> dict[str, int]:
    """Parameters per component of a built model, each shared tensor counted once; one block
    of each kind; and the active count, the total less the experts a token is not routed to."""
    seen: set[int] = set()
    counts = {name: unique_numel(getattr(model, name).parameters(), seen) for name in COMPONENTS}
    kinds = tuple(Group(str(b.mixer), str(b.ffn), 1) for b in model.blocks)  # type: ignore[arg-type]
    firsts: dict[str, nn.Module] = {}
    for block, group in zip(model.blocks, kinds):
        firsts.setdefault(group_name(group, kinds), block)
    for name, block in firsts.items():
        key = "per_block" if len(firsts) == 1 else f"per_block[{name}]"
        counts[key] = unique_numel(block.parameters(), set())
    counts["total"] = unique_numel(model.parameters(), set())
    idle = 0
    for block in model.blocks:
        layer = getattr(block, "mlp", None)
        if isinstance(layer, MixtureOfExperts):
            routed = int(layer.experts.up.shape[0])
            per_expert = sum(p.numel() for p in layer.experts.parameters()) // routed
            idle += (routed - layer.top_k) * per_expert
        attention = getattr(block, "attn", None)
        if isinstance(attention, MixtureOfAttention):  # each expert a query and an output
            routed = int(attention.query.shape[0])
            per_expert = (attention.query.numel() + attention.output.numel()) // routed
            idle += (routed - attention.top_k) * per_expert
    counts["active"] = counts["total"] - idle
    return counts


def formula_counts(config: ModelConfig) -> dict[str, int]:
    """The formulas' counts under the row names of ``module_counts``."""
    b = budget(config)
    counts = dict(b.params)
    if b.per_block is None:
        for kind in b.kind_params():
            counts[f"per_block[{kind['kind']}]"] = int(kind["per_block"])  # type: ignore[call-overload]
    return counts


def rows(formula: dict[str, int], built: dict[str, int]) -> tuple[Row, ...]:
    """One row per component, per kind of block where there are several, then the totals."""
    names: list[str] = []
    for name in ROWS:
        if name == "per_block" and name not in formula:
            names += [key for key in formula if key.startswith("per_block[")]
        else:
            names.append(name)
    names += [key for key in built if key not in names and built[key]]  # e.g. "other"
    return tuple(Row(name, formula.get(name, 0), built.get(name, 0)) for name in names)


def build_meta(config: ModelConfig) -> LanguageModel:
    """The model on the meta device; a configuration torch cannot build is a ConfigError."""
    try:
        return build(config, "meta")
    except (RuntimeError, ValueError, TypeError, OverflowError) as error:
        raise ConfigError(f"cannot build this configuration in torch: {first_line(error)}") from None



def check(config: ModelConfig) -> Check:
    """Compare every component's formula with the module torch instantiates."""
    return Check(config, rows(formula_counts(config), module_counts(build_meta(config))))


def transformers_counts(path: Path, config: ModelConfig | None = None) -> dict[str, int]:
    """Parameters per component of transformers' own model for a config.json, built on the
    meta device; a parameter no component name matches is counted as ``other``."""
    import logging

    # transformers imports torchao where it is installed, and torchao's registrations make
    # torch log a deprecation to stderr: not the user's business, and not one line
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    try:
        import transformers
    except ImportError:
        raise ParamcalcError("--against transformers needs the transformers library: "
                             "pip install transformers") from None
    transformers.logging.set_verbosity_error()
    try:
        hf_config = transformers.AutoConfig.from_pretrained(str(path))
        wrapper = hf_config.model_type in MULTIMODAL
        with torch.device("meta"), warnings.catch_warnings():
            # a layer of width 0 (no shared experts) on the meta device: nothing to initialise
            warnings.filterwarnings("ignore", "Initializing zero-element tensors is a no-op")
            model = (_conditional_generation(transformers, hf_config) if wrapper else
                     transformers.AutoModelForCausalLM.from_config(hf_config))
    except Exception as error:  # its validators raise their own kinds, and asserts
        raise ConfigError(f"transformers cannot build {path}: {first_line(error)}") from None
    params = list(model.named_parameters())  # a tied tensor once, under its first name
    if wrapper:  # the language model and the wrapper's output layer, not the towers
        params = [(_in_language_model(name), p) for name, p in params
                  if name.startswith((_LANGUAGE_MODEL, _CAUSAL_LM, "lm_head."))]
        hf_config = hf_config.get_text_config()
    counts = dict.fromkeys((*COMPONENTS, "other"), 0)
    layers: dict[int, int] = {}
    experts: dict[int, int] = {}  # layer -> parameters of its routed experts
    routed = 0
    for name, p in params:
        component, layer = _component(name)
        counts[component] += p.numel()
        if layer is not None:
            layers[layer] = layers.get(layer, 0) + p.numel()
            if _routed(name, p):  # transformers keeps a layer's experts stacked: (E, …)
                experts[layer] = experts.get(layer, 0) + p.numel()
                routed = p.shape[0]
    # DBRX keeps E and K in its ffn_config, and its experts' weights as (E·f, d)
    ffn = getattr(hf_config, "ffn_config", None)
    routed = int(getattr(ffn, "moe_num_experts", None) or routed)
    # sliding and full attention hold the same parameters: the mixer is paramcalc's reading
    # of the file, the feed-forward kind what transformers built (a single-part block's one
    # part, mixer or feed-forward, is the file's too)
    single = config is not None and bool(config.single_part)
    kinds = {layer: Group(mixer_of(config, layer) if config is not None else "full",
                          ffn_of(config, layer) if single and config is not None
                          else "moe" if layer in experts else "dense", 1) for layer in layers}
    every = tuple(kinds.values())
    firsts = {group_name(kinds[layer], every): size
              for layer, size in sorted(layers.items(), reverse=True)}  # the first of each kind
    for kind, size in firsts.items():
        counts["per_block" if len(firsts) == 1 else f"per_block[{kind}]"] = size
    counts["total"] = sum(p.numel() for _, p in params)
    top_k = int(getattr(hf_config, "num_experts_per_tok", None) or getattr(ffn, "moe_top_k", 0)
                or 0)
    idle = sum(size // routed * (routed - top_k) for size in experts.values()) if routed else 0
    counts["active"] = counts["total"] - idle  # no routed expert (zero of them): none idle
    return counts


#: where a multimodal wrapper (…ForConditionalGeneration) holds its language model
_LANGUAGE_MODEL = "model.language_model."
#: where Llama 4's holds it: a causal LM of its own, with the output layer inside
_CAUSAL_LM = "language_model."


def _in_language_model(name: str) -> str:
    """A wrapper's parameter under the name its language model's causal LM gives it."""
    if name.startswith(_LANGUAGE_MODEL):
        return "model." + name.removeprefix(_LANGUAGE_MODEL)
    return name.removeprefix(_CAUSAL_LM)


def _conditional_generation(transformers: Any, hf_config: Any) -> Any:
    """A multimodal wrapper's model with its output layer: the image-text-to-text class where
    transformers maps one, else its causal-LM one (Gemma 3's is the same class)."""
    for auto in (transformers.AutoModelForImageTextToText, transformers.AutoModelForCausalLM):
        if type(hf_config) in auto._model_mapping:
            return auto.from_config(hf_config)
    raise ValueError(f"no model with an output layer for {hf_config.model_type}")


#: (BLOOM's and Falcon's word_embeddings; BLOOM's norm on them is counted with them)
_EMBEDDINGS = {"embed_tokens", "wte", "embed_in", "w", "embeddings", "word_embeddings",
               "word_embeddings_layernorm"}
_POSITIONS = {"wpe", "embed_positions"}
_HEADS = {"lm_head", "embed_out"}
_FINAL_NORMS = {"norm", "ln_f", "final_layer_norm", "layernorm", "norm_f", "final_layernorm"}


def _component(name: str) -> tuple[str, int | None]:
    """The component a transformers parameter belongs to, and its block's index if any."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part in ("layers", "h", "blocks") and parts[i + 1].isdigit():  # (DBRX: blocks)
            return "blocks", int(parts[i + 1])
    owner = parts[-2] if len(parts) >= 2 else ""
    for component, names in (("embedding", _EMBEDDINGS), ("positional", _POSITIONS),
                             ("head", _HEADS), ("final_norm", _FINAL_NORMS)):
        if owner in names:
            return component, None
    return "other", None


def check_transformers(config: ModelConfig, path: Path) -> Check:
    """Compare every component's formula with transformers' own model for the config.json."""
    return Check(config, rows(formula_counts(config), transformers_counts(path, config)))


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
