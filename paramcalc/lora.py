"""Fine-tuning with low-rank adapters: LoRA (Hu et al. 2021) and QLoRA (Dettmers et al. 2023).

A LoRA adapter on a weight matrix W of ``inputs`` × ``outputs`` adds A (inputs × r) and B
(r × outputs), r·(inputs + outputs) trainable parameters and no bias (peft's default
``bias="none"``); the base weights stay frozen. The trainable count is a sympy formula in the
rank r and the model's sizes, summed over the kinds of block like every other count, so
∂trainable/∂r is exact.

The modules are named as Llama-style layouts name their projections — ``q``, ``k``, ``v``,
``o`` (attention) and ``gate``, ``up``, ``down`` (the feed-forward part), or peft's
``q_proj``…``down_proj`` — and each is one adapter on one matrix. Layouts that fuse them
(GPT-2's ``c_attn``, Phi-3's ``qkv_proj`` and ``gate_up_proj``) would carry one adapter over
the fused width instead, which is another count: paramcalc counts the separate projections.

Memory of a fine-tuning step per device (``memory``): the frozen base weights in their format
(the training dtype for LoRA; NF4 with double quantization for QLoRA, embeddings, output
layer and norms kept in bf16 as bitsandbytes leaves them), the adapters in the training dtype,
their gradients, and the optimizer state of the adapters only (with fp32 master copies for 16-
and 8-bit training), and the activations a full fine-tune saves (the frozen layers' inputs are
still saved for the adapters' and the inputs' gradients). ZeRO shards them as it shards a full
model's: stage 1 the optimizer state, 2 and the gradients, 3 and the weights (base and
adapters).

Counting imports neither torch nor peft; ``tests/test_lora.py`` holds the count to peft's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sympy as sp

from .errors import ConfigError
from .symbols import LORA_RANK as r

#: the projections an adapter may sit on, in the order peft's docs list them
MODULES = ("q", "k", "v", "o", "gate", "up", "down")
#: what peft's default targets are for Llama-style models (q_proj, v_proj)
DEFAULT_MODULES = ("q", "v")
#: the largest rank accepted: past the width of any model, an adapter is no longer low-rank
MAX_RANK = 2**20


def parse_modules(text: str) -> tuple[str, ...]:
    """``q,k,v,o`` or ``q_proj,v_proj`` or ``all`` → the modules, in MODULES' order. A name
    that is not one of them is one line listing the known ones."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if names == ["all"] or names == ["all-linear"]:
        return MODULES
    out = set()
    for name in names:
        short = name[:-5] if name.endswith("_proj") else name
        if short not in MODULES:
            raise ConfigError(f"unknown LoRA module {name[:40]!r}; choose from: "
                              f"{', '.join(MODULES)} (or their _proj names, or all)")
        out.add(short)
    if not out:
        raise ConfigError("--lora-modules names no module; choose from: " + ", ".join(MODULES))
    return tuple(m for m in MODULES if m in out)


@dataclass(frozen=True)
class LoRA:
    """An adapter set: its rank, the modules it targets, and whether the base is 4-bit."""

    rank: int
    modules: tuple[str, ...] = DEFAULT_MODULES
    qlora: bool = False

    def __post_init__(self) -> None:
        if type(self.rank) is not int or not 1 <= self.rank <= MAX_RANK:
            raise ConfigError(f"the LoRA rank must be a whole number from 1 to 2**20, got "
                              f"{self.rank!r}")
        if not self.modules or any(m not in MODULES for m in self.modules):
            raise ConfigError("--lora-modules: choose from " + ", ".join(MODULES))


def _widths(config: Any) -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """Each module's (inputs, outputs), written as the formulas write the sizes."""
    from .defaults import written
    from .layers import attention_widths
    from .symbols import d

    _, queries, keys = attention_widths(config)
    inner = written(config, "d_ff")
    return {"q": (d, queries), "k": (d, keys), "v": (d, keys), "o": (queries, d),
            "gate": (d, inner), "up": (d, inner), "down": (inner, d)}


class Adapters:
    """The trainable parameters of ``lora`` on the model of ``budget``, as a formula in r."""

    def __init__(self, budget: Any, lora: LoRA) -> None:
        config = budget.config
        self.budget, self.lora = budget, lora
        if config.block != "transformer":
            raise ConfigError("LoRA adapters sit on a transformer's projections: the log's "
                              "seed block has none of q, k, v, o, gate, up, down")
        if config.kv_lora_rank is not None and set(lora.modules) & {"q", "k", "v", "o"}:
            raise ConfigError("latent attention projects through low-rank latents, not q, k, "
                              "v and o: target its feed-forward modules (gate, up, down) only")
        if config.attention_experts and set(lora.modules) & {"q", "k", "v", "o"}:
            raise ConfigError("a mixture of attention heads holds its query and output "
                              "projections as stacked experts and its keys and values in one "
                              "kv_proj: LoRA on q, k, v and o is not counted")
        # MiMo-V2-Flash: values narrower than keys, sliding layers with key/value heads of
        # their own; the adapters' widths are written for neither
        uneven = ({"v", "o"} if config.v_head_dim is not None else set()) | \
            ({"k", "v"} if config.sliding_kv_heads is not None else set())
        if set(lora.modules) & uneven:
            name = sorted(set(lora.modules) & uneven)[0]
            raise ConfigError(f"--lora-modules {name}: its width differs from the keys' or "
                              "from layer to layer in this model (v_head_dim, "
                              "sliding_kv_heads), which paramcalc's adapters do not count: "
                              "target the other modules")
        if config.mlp != "gated" and "gate" in lora.modules:
            raise ConfigError("this model's feed-forward part has no gate projection (an up "
                              "and a down projection only): drop gate from --lora-modules")
        widths = _widths(config)
        terms: list[sp.Expr] = []
        for kind in budget.kinds:
            modules = [m for m in lora.modules if m in ("q", "k", "v", "o") or not kind.moe]
            if kind.moe and len(modules) < len(lora.modules):
                raise ConfigError("LoRA on a mixture of experts' feed-forward part is not "
                                  "counted (transformers holds the experts as stacked "
                                  "tensors, not linear layers): target q, k, v and o")
            per_block = sp.Add(*(r * (widths[m][0] + widths[m][1]) for m in modules))
            terms.append(kind.count * per_block)
        #: trainable parameters, a formula in r and the sizes
        self.formula: sp.Expr = sp.Add(*terms)

    @cached_property
    def trainable(self) -> int:
        return int(self.budget.evaluate(self.formula.xreplace({r: self.lora.rank})))

    @cached_property
    def per_rank(self) -> int:
        """∂trainable/∂r: the parameters one more rank adds (the count is linear in r)."""
        return int(self.budget.evaluate(sp.diff(self.formula, r)))


def memory(compute: Any, lora: LoRA) -> dict[str, Any]:
    """Fine-tuning memory per device with adapters (bytes): the frozen base, the adapters,
    their gradients and optimizer state, the activations; and the trainable count."""
    from .compute import OPTIMIZERS
    from .fit import Fit, Serving

    s = compute.settings
    adapters = Adapters(compute.budget, lora)
    params = compute.budget.params["total"]
    if lora.qlora:  # NF4 with double quantization, its kept parts in bf16 (quant.py)
        base = Fit(compute.config, Serving(context=1, weights_dtype="nf4-dq")).memory["weights"]
        base_format = "nf4-dq"
    else:
        base, base_format = params * s.bytes, s.dtype
    trainable = adapters.trainable
    state_bytes = OPTIMIZERS[s.optimizer] + (4 if s.dtype != "fp32" else 0)

    def shard(total: int, stage: int) -> int:
        return -(-total // s.devices) if s.zero >= stage else total

    parts = {"base_weights": shard(base, 3), "adapters": shard(trainable * s.bytes, 3),
             "gradients": shard(trainable * s.bytes, 2),
             "optimizer": shard(trainable * state_bytes, 1)}
    activations = compute.memory["activations"]
    return {"rank": lora.rank, "modules": list(lora.modules), "qlora": lora.qlora,
            "base_format": base_format, "trainable": trainable,
            "trainable_share": trainable / params,
            "formula": sp.sstr(adapters.formula), "d_trainable_d_rank": adapters.per_rank,
            "memory": {**parts, "activations": activations,
                       "per_device": sum(parts.values()) + activations},
            "expr": adapters.formula,  # (the view's; JSON has the formula as text)
            "unsharded": {"base_weights": base, "adapters": trainable * s.bytes,
                          "gradients": trainable * s.bytes,
                          "optimizer": trainable * state_bytes}}


def verdict(fine_tuning: dict[str, Any], settings: Any, limit: int) -> dict[str, Any]:
    """Whether the fine-tuning step fits ``limit`` bytes per device, and the fewest
    data-parallel devices at which it would under the ZeRO stage (None when even the
    unsharded part does not fit), checked by substitution."""
    whole = fine_tuning["unsharded"]
    stage = {"base_weights": 3, "adapters": 3, "gradients": 2, "optimizer": 1}
    spread = sum(whole[k] for k, at in stage.items() if settings.zero >= at)
    fixed = sum(whole[k] for k, at in stage.items() if settings.zero < at) + \
        fine_tuning["memory"]["activations"]
    devices: int | None
    if spread == 0:
        devices = 1 if fixed <= limit else None
    else:
        devices = -(-spread // (limit - fixed)) if limit > fixed else None
    if devices is not None:
        while devices > 1 and fixed + -(-spread // (devices - 1)) <= limit:
            devices -= 1
        while fixed + -(-spread // devices) > limit:
            devices += 1
    per_device = fine_tuning["memory"]["per_device"]
    return {"limit": limit, "fits": per_device <= limit, "margin": limit - per_device,
            "devices_that_fit": devices}
