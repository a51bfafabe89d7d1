"""The per-layer pattern: which mixer and which feed-forward part each block has, and how many
blocks of each kind there are, counted in closed form.

A layer's mixer is full, sliding-window or chunked attention (``layer_types`` as
transformers writes it, or every ``full_every``-th layer full and the rest sliding, or every
layer sliding when only ``sliding_window`` is given; chunked in place of sliding where the
model has ``attention_chunk_size`` and no window, as Llama 4 has); its feed-forward part is
dense or a mixture of experts (every ``moe_step``-th layer, after the ``first_dense`` layers,
except the ``dense_layers``).
Blocks that are alike form one group; the counts never walk the layers one by one unless the
pattern itself lists them, so a billion layers count as fast as twelve.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .spec import ModelConfig

Mixer = Literal["full", "sliding", "chunked", "mamba", "mamba2", "deltanet", "none"]
FeedForward = Literal["dense", "moe", "none"]

#: transformers' names for the mixers in ``layer_types`` -> paramcalc's
LAYER_TYPES: dict[str, Mixer] = {"full_attention": "full", "sliding_attention": "sliding",
                                 "chunked_attention": "chunked",
                                 # a hybrid's state-space layers, beside attention ones
                                 "mamba": "mamba", "mamba2": "mamba2",
                                 # Qwen3-Next's gated DeltaNet (its linear_attention layers)
                                 "deltanet": "deltanet",
                                 # a single-part block's feed-forward layer (Nemotron-H's):
                                 # no mixer
                                 "mlp": "none", "moe": "none"}

#: the feed-forward part of a single-part block's layer (``single_part``): the two kinds of
#: feed-forward layer, and none beside a mixer
SINGLE_FFN: dict[str, FeedForward] = {"mlp": "dense", "moe": "moe"}


@dataclass(frozen=True)
class Group:
    """Blocks that are alike: their mixer, their feed-forward part and how many there are."""

    mixer: Mixer
    ffn: FeedForward
    count: int


#: the state-space mixers, by paramcalc's names
STATE_SPACE: tuple[Mixer, ...] = ("mamba", "mamba2", "deltanet")


def state_space(config: ModelConfig) -> Mixer | None:
    """A model's state-space mixer: every block's (``ssm``), or the one ``layer_types`` lists
    beside attention layers (a hybrid: Bamba, Jamba, Granite 4, Qwen3-Next); None for
    attention only."""
    if config.ssm is not None:
        return config.ssm  # type: ignore[return-value]
    listed = config.layer_types or ()
    return next((kind for kind in STATE_SPACE if kind in listed), None)


def mixer_of(config: ModelConfig, index: int) -> Mixer:
    """The mixer of layer ``index`` (from 0): a state-space one in every layer where ``ssm``
    says so."""
    if config.ssm is not None:
        return config.ssm  # type: ignore[return-value]
    if config.layer_types is not None:
        return LAYER_TYPES[config.layer_types[index]]
    if config.full_every is not None:
        return "full" if (index + 1) % config.full_every == 0 else local(config)
    return local(config) if config.sliding_window or config.attention_chunk_size else "full"


def local(config: ModelConfig) -> Mixer:
    """The attention of the layers that do not attend in full where no list names them:
    chunked where the model has chunks and no window (Llama 4), else sliding."""
    if config.attention_chunk_size is not None and config.sliding_window is None:
        return "chunked"
    return "sliding"


def ffn_of(config: ModelConfig, index: int) -> FeedForward:
    """The feed-forward part of layer ``index`` (from 0): in a single-part block the one
    ``layer_types`` names, none beside a mixer."""
    if config.single_part and config.layer_types is not None:
        return SINGLE_FFN.get(config.layer_types[index], "none")
    if not config.num_experts or index < (config.first_dense or 0):
        return "dense"
    if index in (config.dense_layers or ()) or (index + 1) % (config.moe_step or 1):
        return "dense"
    return "moe"


def _multiples(period: int, start: int, stop: int) -> int:
    """How many i in [start, stop) have (i + 1) % period == 0."""
    return stop // period - start // period


def groups(config: ModelConfig) -> tuple[Group, ...]:
    """The groups of alike blocks, in a fixed order (full before sliding, dense before moe),
    each with its count; groups of no blocks are left out."""
    n = config.num_blocks
    if config.layer_types is not None:  # listed layer by layer: as many as the file holds
        counts = Counter((mixer_of(config, i), ffn_of(config, i)) for i in range(n))
    else:
        counts = _between(config, 0, n)
        for index in set(config.dense_layers or ()):  # a listed layer the period made MoE
            if _periodic_ffn(config, index) == "moe":
                mixer = mixer_of(config, index)
                counts[mixer, "moe"] -= 1
                counts[mixer, "dense"] += 1
    return tuple(Group(m, f, counts[m, f]) for m, f in ORDER if counts.get((m, f)))


#: the order of the groups in rows and formulas
ORDER: tuple[tuple[Mixer, FeedForward], ...] = tuple(
    (m, f) for m in ("full", "sliding", "chunked", "mamba", "mamba2", "deltanet", "none")
    for f in ("dense", "moe", "none"))


def period(config: ModelConfig) -> int:
    """How many layers the pattern takes to repeat past the last layer: 1 when every added
    layer is alike, lcm(moe_step, full_every) for interleaved patterns."""
    if config.layer_types is not None:
        return 1
    steps = [config.moe_step or 1 if config.num_experts else 1, config.full_every or 1]
    return math.lcm(*steps)


def growth(config: ModelConfig) -> dict[tuple[Mixer, FeedForward], int]:
    """The blocks of each kind that the next ``period(config)`` layers would add: where the
    pattern sends new layers (a listed pattern: like its last layer)."""
    n = config.num_blocks
    if config.layer_types is not None:
        return {(mixer_of(config, n - 1), ffn_of(config, n - 1)): 1}
    return dict(_between(config, n, n + period(config)))


def _periodic_ffn(config: ModelConfig, index: int) -> FeedForward:
    """Layer ``index``'s feed-forward part by the period alone (listed layers left out)."""
    if not config.num_experts or index < (config.first_dense or 0):
        return "dense"
    return "dense" if (index + 1) % (config.moe_step or 1) else "moe"


def _between(config: ModelConfig, start: int, stop: int) -> Counter[tuple[Mixer, FeedForward]]:
    """The kinds of the layers in [start, stop) by the periods alone, without visiting them."""
    def by_mixer(low: int, high: int, step: int) -> Counter[Mixer]:
        """Layers i in [low, high) with (i+1) % step == 0, by mixer."""
        if high <= low:
            return Counter()
        total = _multiples(step, low, high)
        if config.full_every is not None:
            full = _multiples(math.lcm(step, config.full_every), low, high)
            return Counter({"full": full, local(config): total - full})
        if config.ssm is not None:
            return Counter({config.ssm: total})  # type: ignore[dict-item]
        return Counter({mixer_of(config, low): total})

    counts: Counter[tuple[Mixer, FeedForward]] = Counter()
    first = max(start, min(config.first_dense or 0, stop)) if config.num_experts else stop
    every = by_mixer(first, stop, 1)
    moe = by_mixer(first, stop, config.moe_step or 1)
    for mixer, count in (by_mixer(start, first, 1) + every - moe).items():
        counts[mixer, "dense"] += count
    for mixer, count in moe.items():
        counts[mixer, "moe"] += count
    return counts


def layers(config: ModelConfig) -> Iterator[tuple[Mixer, FeedForward]]:
    """Each layer's mixer and feed-forward part, in order (for building a model)."""
    for index in range(config.num_blocks):
        yield mixer_of(config, index), ffn_of(config, index)


def group_name(group: Group, all_groups: tuple[Group, ...]) -> str:
    """A group's name in rows and JSON: its feed-forward part ("dense", "moe") as before when
    every block has one mixer, its mixer ("full", "sliding") where mixers differ, both where
    both do ("sliding-moe"); a single-part block by its one part ("mamba2", "moe")."""
    if group.mixer == "none":
        return group.ffn
    if group.ffn == "none":
        return group.mixer
    mixers = {g.mixer for g in all_groups}
    ffns = {g.ffn for g in all_groups}
    parts: list[str] = []
    if len(mixers) > 1 or group.mixer != "full":
        parts.append(group.mixer)
    if len(ffns) > 1 or group.ffn == "moe" or not parts:
        parts.append(group.ffn)
    return "-".join(parts)
