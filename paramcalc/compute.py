"""The compute and memory budgets beside the parameter budget: FLOPs, KV cache, activations and
sharded training memory, as sympy expressions over the same symbols as the counts.

How FLOPs are counted (the convention of ``torch.utils.flop_counter.FlopCounterMode``, which
``check`` holds these formulas to): a matrix product of an (M × K) by a (K × N) matrix costs
2·M·K·N FLOPs; biases, norms, activations, softmax, rotary positions and embedding lookups
cost nothing. Attention's two products over the scores are counted in full, S × S, as the
counter counts them: a causal mask does not halve them. ``forward`` is one sequence of
seq_length tokens at batch 1, with a per-position head (tied, linear) applied at every
position. ``backward`` is two products for each forward one (the gradient of its input and
of its weight), less the one an RNN head skips for its constant initial state. A training
step is forward plus backward.

A **token** of training data is one predicted token: a per-position head predicts S per
sequence, the log's window heads (flatten, …) one.

Counting FLOPs imports neither torch nor transformers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

import sympy as sp

from .errors import ConfigError
from .formulas import COMPONENTS, BlockKind, Budget, Count, Derivative, derivatives_of
from .papers import layer_flops
from .layers import state_bytes, total
from .spec import MAX_SIZE, ModelConfig, _shown
from .symbols import S

_ZERO = sp.Integer(0)

#: heads that predict at every position (S predictions per sequence); the others predict once
PER_POSITION = ("tied", "linear")

#: bytes per value of each storage type
DTYPES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}
#: bytes per parameter of each optimizer's state (its moments; the fp32 master copy of mixed
#: precision is counted apart): Adam two fp32 moments, 8-bit Adam (Dettmers et al. 2022) two
#: 1-byte moments, SGD one fp32 momentum
OPTIMIZERS = {"adam": 8, "adam8bit": 2, "sgd": 4}
#: ZeRO stages (Rajbhandari et al. 2020): what is sharded across the data-parallel devices.
#: 0: nothing (plain data parallelism); 1: optimizer state; 2: and gradients; 3 (= FSDP's
#: full sharding): and the weights
ZERO_STAGES = (0, 1, 2, 3)
RECOMPUTE = ("none", "selective", "full")
ATTENTION = ("flash", "eager")
#: Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models": parameters and
#: tokens grow alike with compute (their approaches 1 and 2: a ≈ b ≈ 0.5), at about 20 tokens
#: per parameter (Table 3: 67B parameters for 1.5T tokens). With C = 6·N·D:
#: N_opt = sqrt(C / 120), D_opt = 20·N_opt.
CHINCHILLA_TOKENS_PER_PARAM = 20

# The bounds of a run's settings. With every size at most 2**40, a run's FLOPs stay below
# 1e130; with the peak and the utilisation bounded below, its time in seconds is at most
# FLOPs / (1e-6 · 1e12 · 1e-6) = FLOPs, so no float overflows on the way.
#: the most data-parallel devices, and the most sequences per device per step
MAX_DEVICES = MAX_BATCH = 2**24
#: the most training tokens a run is given
MAX_TOKENS = 10**18
#: the slowest and the fastest device, in TFLOP/s
MIN_PEAK, MAX_PEAK = 1e-6, 1e9
#: the least model FLOPs utilisation
MIN_MFU = 1e-6


def predictions(config: ModelConfig) -> sp.Expr:
    """Predicted tokens per sequence: S for a per-position head, 1 for a window head."""
    return S if config.head in PER_POSITION else sp.Integer(1)


def activation_values(kinds: Sequence[BlockKind], attention: str = "flash") -> sp.Expr:
    """Values all blocks save for the backward pass, per sequence: each sub-layer's (see
    ``layers.py``), and over the scores, per head, the S × S softmax output with ``eager``
    attention or one log-sum-exp per position with ``flash`` (Korthikanti et al. 2022,
    section 4.1, without dropout; the norms' per-position statistics are left out)."""
    scores = S * S if attention == "eager" else S
    return sp.Add(*(kind.count * (total(kind.layers, "saved")
                                  + total(kind.layers, "score_heads") * scores)
                    for kind in kinds))


# -- the budgets --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How the model is trained and served: storage, optimizer, sharding, batch and hardware."""

    dtype: str = "bf16"  # weights, activations and cache; bf16/fp16/fp8: fp32 master weights
    optimizer: str = "adam"
    zero: int = 0
    devices: int = 1
    batch_size: int = 1  # sequences per device per step (the micro-batch)
    recompute: str = "none"
    attention: str = "flash"
    context: int | None = None  # tokens held in the KV cache [seq_length]
    tokens: int | None = None  # training tokens D [Chinchilla's 20 per parameter]
    peak_tflops: float | None = None
    mfu: float = 0.4
    # -- the papers' conventions (papers.py, parallel.py, plan/laws.py) --
    attention_flops: str = "full"  # full (FlopCounterMode's S × S) or causal (as kernels run)
    tensor_parallel: int = 1  # t: devices each layer's matrices are split over
    pipeline_parallel: int = 1  # p: stages the blocks are split into
    sequence_parallel: bool = False  # the norms' and dropout's values split over t too
    dropout: bool = False  # Korthikanti's figure with dropout's masks and values
    law: str = "chinchilla-20"  # the compute-optimal law of the run's size for its FLOPs
    tokens_per_second: float | None = None  # measured, all devices: the achieved MFU and HFU
    step_time: float | None = None  # measured seconds per step of devices × batch sequences

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {self.dtype!r}; choose one of: {', '.join(DTYPES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of: "
                              f"{', '.join(OPTIMIZERS)}")
        if self.zero not in ZERO_STAGES:
            raise ConfigError(f"ZeRO stage {self.zero} does not exist; choose one of: 0 (plain "
                              "data parallelism), 1, 2, 3 (FSDP's full sharding)")
        if self.recompute not in RECOMPUTE:
            raise ConfigError(f"unknown recompute {self.recompute!r}; choose one of: "
                              f"{', '.join(RECOMPUTE)}")
        if self.attention not in ATTENTION:
            raise ConfigError(f"unknown attention {self.attention!r}; choose one of: "
                              f"{', '.join(ATTENTION)}")
        for name in ("devices", "batch_size", "context", "tokens"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value <= 0):
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got "
                                  f"{_shown(value)}")
        for name, bound, words in (("devices", MAX_DEVICES, "2**24"),
                                   ("batch_size", MAX_BATCH, "2**24"),
                                   ("context", MAX_SIZE, "2**40"),
                                   ("tokens", MAX_TOKENS, "1e18")):
            value = getattr(self, name)
            if value is not None and value > bound:
                raise ConfigError(f"{name.replace('_', '-')} must be at most {words} "
                                  f"({bound:,}), got {_shown(value)}")
        if not (isinstance(self.mfu, float | int) and math.isfinite(self.mfu)
                and 0 < self.mfu <= 1):
            raise ConfigError(f"mfu (the share of the peak a run reaches) must be in (0, 1], "
                              f"got {self.mfu!r}")
        if self.mfu < MIN_MFU:
            raise ConfigError(f"mfu must be at least {MIN_MFU:g} (a millionth of the peak), "
                              f"got {self.mfu!r}")
        if self.peak_tflops is not None and not (math.isfinite(self.peak_tflops)
                                                 and 0 < self.peak_tflops <= MAX_PEAK):
            raise ConfigError(f"peak-tflops must be a positive, finite number of TFLOP/s, at "
                              f"most {MAX_PEAK:g}, got {self.peak_tflops!r}")
        if self.peak_tflops is not None and self.peak_tflops < MIN_PEAK:
            raise ConfigError(f"peak-tflops must be at least {MIN_PEAK:g} TFLOP/s (a million "
                              f"FLOP/s), got {self.peak_tflops!r}")

        from .papers import check_settings
        check_settings(self)

    @property
    def bytes(self) -> int:
        return DTYPES[self.dtype]


class Compute:
    """A configuration's FLOPs and memory: formulas per component, and their values."""

    def __init__(self, budget: Budget, settings: Settings | None = None) -> None:
        self.budget = budget
        self.config = config = budget.config
        self.settings = settings or Settings()
        kinds = budget.kinds  # each with its count and its sub-layers
        blocks = sp.Add(*(kind.count * layer_flops(kind.layers, self.settings.attention_flops,
                                                   budget.values) for kind in kinds))
        forward = {name: blocks if name == "blocks" else total(budget.layers[name], "flops")
                   for name in COMPONENTS}
        #: forward FLOPs over one sequence, per component
        self.forward = {name: Count.of(expr) for name, expr in forward.items()}
        forward_total = sp.Add(*forward.values())
        self.forward_total = Count.of(forward_total)
        from .papers import skipped_flops
        #: backward FLOPs the blocks do not do (work without gradients: DeepSeek-V3.2's indexer)
        self.skipped_blocks = sp.Add(*(kind.count * skipped_flops(
            kind.layers, self.settings.attention_flops, budget.values) for kind in kinds))
        skipped = {name: self.skipped_blocks if name == "blocks"
                   else total(budget.layers[name], "skipped") for name in COMPONENTS}
        self.backward = {name: Count.of(2 * expr - skipped[name])
                         for name, expr in forward.items()}
        self.backward_total = Count.of(2 * forward_total - sp.Add(*skipped.values()))
        self.training_step = {name: Count.of(self.forward[name].exact + self.backward[name].exact)
                              for name in COMPONENTS}
        self.training_total = Count.of(self.forward_total.exact + self.backward_total.exact)
        self.predictions = predictions(config)
        #: training FLOPs per predicted token
        self.per_token = Count.of(self.training_total.exact / self.predictions)
        self.forward_per_token = Count.of(forward_total / self.predictions)
        self.kv_cache = Count.of(sp.Add(*(kind.count * total(kind.layers, "cache")
                                          for kind in kinds)) * self.settings.bytes)
        #: recurrent state per sequence, in bytes: what a state-space layer holds whatever the
        #: context (its convolution's last inputs and its scan's state)
        self.state = Count.of(sp.Add(*(kind.count * state_bytes(kind.layers,
                                                                self.settings.bytes)
                                       for kind in kinds)))
        self.activations = Count.of(activation_values(kinds, self.settings.attention)
                                    * self.settings.bytes)

    def evaluate(self, expr: sp.Expr) -> int:
        value = self.budget.evaluate(expr)
        return int(value) if value.is_integer else int(sp.ceiling(value))

    def quantity(self, name: str) -> Count:
        """One of ``QUANTITIES`` as a count, for derive, sweep, plot and solve."""
        return {"flops": self.forward_total, "flops_per_token": self.per_token,
                "kv_cache": self.kv_cache, "activations": self.activations,
                "state": self.state}[name]

    @cached_property
    def flops(self) -> dict[str, dict[str, int]]:
        """forward, backward and training_step FLOPs per component and in total."""
        out = {}
        for name, parts, total in (("forward", self.forward, self.forward_total),
                                   ("backward", self.backward, self.backward_total),
                                   ("training_step", self.training_step, self.training_total)):
            values = {c: self.evaluate(parts[c].exact) for c in COMPONENTS}
            values["total"] = self.evaluate(total.exact)
            out[name] = values
        from .papers import hardware_step
        out["hardware_step"] = hardware_step(self, out["training_step"])  # with the recomputed forward work
        return out

    @cached_property
    def per_token_values(self) -> dict[str, float]:
        """FLOPs per predicted token, forward and for training."""
        count = self.evaluate(self.predictions)
        return {"predictions_per_sequence": count,
                "forward": self.flops["forward"]["total"] / count,
                "training": self.flops["training_step"]["total"] / count}

    @cached_property
    def per_token_by_attention(self) -> dict[str, dict[str, float]]:
        """FLOPs per predicted token in both attention conventions, full and causal."""
        from .papers import by_attention
        return by_attention(self)

    @cached_property
    def rules(self) -> dict[str, dict[str, float]]:
        """The rules people quote, against the exact count per predicted token: 6·N for
        training, and Kaplan et al.'s 2·N + 2·n·S·d forward (their N leaves out the embedding
        and position tables). For a mixture of experts N is the active count, as it is quoted."""
        params = self.budget.params
        exact_train = self.per_token_values["training"]
        exact_forward = self.per_token_values["forward"]
        six = 6 * params["active"]
        non_embedding = params["active"] - params["embedding"] - params["positional"]
        kaplan = 2 * non_embedding + 2 * self.config.num_blocks * self.config.seq_length * \
            self.config.d_model
        from .papers import rules as paper_rules
        return {"6N": {"training_per_token": six, "exact": exact_train,
                       "relative_error": (six - exact_train) / exact_train},
                "kaplan": {"forward_per_token": kaplan, "exact": exact_forward,
                           "relative_error": (kaplan - exact_forward) / exact_forward},
                **paper_rules(self)}

    @cached_property
    def memory(self) -> dict[str, Any]:
        """KV cache, activations and training memory per device, in bytes."""
        s = self.settings
        config = self.config
        context = s.context or config.seq_length
        per_token = self.evaluate(self.kv_cache.exact)
        per_sequence = self.evaluate(self.activations.exact)
        layers = config.num_blocks
        if s.recompute == "full":  # each block keeps its input; one block at a time in full
            activations = (layers * config.seq_length * config.d_model * s.bytes
                           + -(-per_sequence // layers))
        elif s.recompute == "selective":  # Korthikanti's: recompute attention's S × S part
            activations = self.evaluate(activation_values(self.budget.kinds, "flash") * s.bytes)
        else:
            activations = per_sequence
        activations *= s.batch_size
        from .parallel import korthikanti_model, model_parallel, split_activations
        activations = split_activations(self, activations)  # over t; the same at t = 1
        params = model_parallel(self.budget.params["total"], s.tensor_parallel,
                                s.pipeline_parallel)
        states = self.model_states(params)
        by_kind = self.kv_cache_by_kind(context)
        states_by_kind = self.state_by_kind()
        return {"kv_cache_per_token": per_token,
                "kv_cache": sum(by_kind.values()),
                "kv_cache_by_kind": by_kind,
                "state": sum(states_by_kind.values()),
                "state_by_kind": states_by_kind,
                "context": context,
                "activations_per_sequence": per_sequence,
                "activations": activations,
                **states,
                "per_device": states["weights"] + states["gradients"] + states["optimizer"]
                + activations,
                # Korthikanti et al. 2022's s·b·h·(34 + 5·a·s/h) per layer, for comparison
                "activations_korthikanti": korthikanti_model(self)}

    def kv_cache_by_kind(self, context: int) -> dict[str, int]:
        """Bytes the cache holds for ``context`` tokens of each sequence of the batch, per kind
        of block: a full-attention layer every token, a sliding-window layer the last W − 1
        (the window less the token being computed, which is what transformers keeps between
        steps: ``DynamicSlidingWindowLayer``)."""
        out: dict[str, int] = {}
        for kind in self.budget.kinds:
            held = 0
            for layer in kind.layers:
                values = self.evaluate(layer.cache)
                if not values:
                    continue
                tokens = context
                if layer.window is not None:
                    tokens = min(context, self.evaluate(layer.window) - 1)
                held += values * tokens
            out[kind.name] = self.evaluate(kind.count) * held * self.settings.bytes * \
                self.settings.batch_size
        return out

    def state_by_kind(self) -> dict[str, int]:
        """Bytes of recurrent state the batch holds, per kind of block: each sequence's
        convolution inputs in the dtype and scan state in fp32 (0 for attention blocks: their
        memory is the KV cache)."""
        return {kind.name: self.evaluate(kind.count * state_bytes(kind.layers, self.settings.bytes))
                * self.settings.batch_size for kind in self.budget.kinds}

    def model_states(self, params: int) -> dict[str, int]:
        """Weights, gradients and optimizer state per device under the ZeRO stage: mixed
        precision keeps 16-bit weights and gradients and an fp32 master copy with the moments
        (the ZeRO paper's 2 + 2 + 12 bytes per parameter for Adam)."""
        s = self.settings
        weight_bytes = s.bytes  # fp32, or the 16- or 8-bit copy of mixed precision
        state_bytes = OPTIMIZERS[s.optimizer] + (4 if s.dtype != "fp32" else 0)  # fp32 master

        def shard(total: int, sharded: bool) -> int:
            return -(-total // s.devices) if sharded else total

        return {"weights": shard(weight_bytes * params, s.zero >= 3),
                "gradients": shard(weight_bytes * params, s.zero >= 2),
                "optimizer": shard(state_bytes * params, s.zero >= 1)}

    @cached_property
    def run(self) -> dict[str, Any]:
        """A training run on D tokens: FLOPs, and wall time when the hardware is known."""
        s = self.settings
        params = self.budget.params["total"]
        tokens = s.tokens or CHINCHILLA_TOKENS_PER_PARAM * params
        # in exact fractions, and a float only at the end: the bounds keep each within range
        exact = Fraction(self.flops["training_step"]["total"] * tokens,
                         self.evaluate(self.predictions))
        flops = _float(exact, "the run's FLOPs")
        seconds = None
        if s.peak_tflops is not None:
            rate = s.devices * Fraction(s.peak_tflops) * 10**12 * Fraction(s.mfu)
            seconds = _float(exact / rate, "the run's time")
        optimal, _ = chinchilla(flops)
        from .papers import utilisation
        from .plan.laws import optimal as law_optimal
        # each law is fitted in C = 6·N·D: the run's budget in that convention, not the exact
        # count, is what it is given (N the active parameters, as the laws' models are dense)
        law = law_optimal(s.law, float(6 * self.budget.params["active"] * tokens))
        return {"law": law, "achieved": utilisation(self),
                "tokens": tokens, "tokens_given": s.tokens is not None, "flops": flops,
                "seconds": seconds, "devices": s.devices, "peak_tflops": s.peak_tflops,
                "mfu": s.mfu, "chinchilla_tokens": CHINCHILLA_TOKENS_PER_PARAM * params,
                # Chinchilla's rule fed the exact count (attention included): two conventions
                # mixed, kept for the JSON it was in; run.law is the one in the law's own
                "chinchilla_params_for_budget": optimal}

    def derivatives(self, of: str, wrt: sp.Symbol | None = None) -> dict[str, Derivative]:
        """Partial derivatives of one of ``QUANTITIES`` at this configuration."""
        count = self.quantity(of)
        return derivatives_of(count, self.budget.values, wrt)


#: what derive, sweep, plot and solve can aim at beside the parameter counts
QUANTITIES = {
    "flops": "forward FLOPs over one sequence",
    "flops_per_token": "training FLOPs per predicted token",
    "kv_cache": "KV-cache bytes per token",
    "activations": "activation bytes per sequence, all blocks",
    "state": "recurrent-state bytes per sequence (Mamba's, DeltaNet's…), all blocks",
}


def compute(budget: Budget, settings: Settings | None = None) -> Compute:
    """The FLOPs and memory of a configuration's budget (``paramcalc.compute_budget``)."""
    return Compute(budget, settings)


compute_budget = compute


def _float(value: Fraction, what: str) -> float:
    """A figure as a float, or an error naming it where it is past a float's range."""
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(f"{what} is past 1.8e308, beyond a float: give smaller sizes or "
                          "faster hardware") from None


def chinchilla(flops: float) -> tuple[float, float]:
    """Hoffmann et al.'s compute-optimal parameters and tokens for a FLOP budget C
    (C = 6·N·D, D = 20·N)."""
    if not (math.isfinite(flops) and flops > 0):
        raise ConfigError(f"the FLOP budget must be a positive, finite number, got {flops!r}")
    params = math.sqrt(flops / (6 * CHINCHILLA_TOKENS_PER_PARAM))
    return params, CHINCHILLA_TOKENS_PER_PARAM * params
