"""Will it fit: the memory of serving a model, per device, as sympy formulas over the context
C and the batch B, and the verdict against a device's memory.

Memory is weights + KV cache + recurrent state + the activation peak of a prefill chunk + a
runtime reserve:

- **weights**: each sub-layer's parameters × the bytes per weight of its format; the parts a
  format keeps in higher precision (``quant.WeightFormat.keeps``) stay there (``native`` is
  bf16). Per-row side values are spread over a width of d_model.
- **KV cache**: per kind of block, each layer's cached values per token × the tokens it holds
  (C for a full layer, min(C, W − 1) for a sliding one, as transformers'
  ``DynamicSlidingWindowLayer`` keeps; latent attention caches its latent) × B × the bytes of
  the KV dtype. No family paramcalc reads shares a cache between layers yet; when one does,
  its shared layers cache nothing of their own (``layers.py``), so they count once.
- **activations**: the peak of one prefill chunk of P = min(C, 2,048) tokens (vLLM's default
  chunk, ``max_num_batched_tokens``): the chunk's hidden state, its q/k/v and the feed-forward
  part's inner values, in bf16, plus the fp32 logits of the B positions sampled — an estimate.
- **reserve**: ``RESERVE`` bytes per device for the CUDA context, cuBLAS/NCCL workspaces and
  the allocator's fragmentation — an estimate, stated in the README.

Across T tensor-parallel devices, the weights of the blocks, the embedding and the head are
split (vLLM's column/row-parallel linears and vocab-parallel embedding); the norms are
replicated; the KV cache is split by key/value heads, each device holding at least one
(a head is replicated when T exceeds them); activations and the reserve are per device.

The solving (``max_context``, ``max_batch``) is exact: memory is linear in C and in B on
each side of the sliding windows and the prefill chunk, so each branch is solved with sympy
and the answer is checked by substitution (it fits, one more does not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

import sympy as sp

from .errors import ConfigError
from .formulas import Budget, budget
from .layers import state_bytes, total
from .quant import NATIVE, WeightFormat, bytes_per_weight, check_width, weight_format
from .spec import ModelConfig
from .symbols import d

#: the context C and the batch B of a fit (made here: no other module uses them)
C = sp.Symbol("C", positive=True, integer=True)
B = sp.Symbol("B", positive=True, integer=True)

#: bytes per cached value of each KV dtype: bf16, fp8 (e4m3), and llama.cpp's q8_0 and q4_0
#: cache types (34 and 18 bytes per block of 32: gguf.constants.GGML_QUANT_SIZES)
KV_DTYPES: dict[str, sp.Rational] = {"bf16": sp.Integer(2), "fp8": sp.Integer(1),
                                     "q8": sp.Rational(34, 32), "q4": sp.Rational(18, 32)}
#: bytes per value of a convolution's state: the model's bf16, as transformers' cache keeps
#: it (a scan's state is fp32: ``layers.SCAN_STATE_BYTES``)
STATE_BYTES = 2
#: the runtime reserve per device, an estimate: the CUDA context (about 0.5 GiB on an H100),
#: cuBLAS and NCCL workspaces and the allocator's fragmentation
RESERVE = 2**30
#: tokens of one prefill chunk (vLLM's default max_num_batched_tokens with chunked prefill)
PREFILL_CHUNK = 2048
#: the precisions best_precision tries, the most precise first
PRECISIONS = ("bf16", "fp8", "int8", "int4-g128", "nf4")
#: the largest batch solved for
MAX_BATCH = 2**24

#: sub-layer name → the part of a model its weights belong to (quant.PARTS)
_PART = {"token_embedding": "embedding", "position_table": "embedding",
         "mixture_of_experts": "experts", "mlp": "mlp", "gated_mlp": "mlp",
         "block_norms": "norm", "final_norm": "norm", "embedding_norm": "norm"}


def _part(name: str) -> str:
    if name in _PART:
        return _PART[name]
    if "attention" in name:
        return "attention"
    return "head"


@dataclass(frozen=True)
class Serving:
    """What is served: precisions, context, batch and devices."""

    context: int
    batch_size: int = 1
    weights_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    tensor_parallel: int = 1
    group_size: int | None = None
    #: the checkpoint's own bytes as the weights (``fit --weights``): (norms, the rest), the
    #: norms replicated over T and the rest split; None: the weights are the format's formula
    checkpoint_bytes: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        for name in ("context", "batch_size", "tensor_parallel"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive whole number, "
                                  f"got {value!r}")
        if self.kv_dtype not in KV_DTYPES:
            raise ConfigError(f"unknown KV dtype {self.kv_dtype!r}; choose one of: "
                              f"{', '.join(KV_DTYPES)}")
        if self.checkpoint_bytes is None:
            weight_format(self.weights_dtype, self.group_size)  # refuses an unknown name

    @property
    def format(self) -> WeightFormat:
        return weight_format(self.weights_dtype, self.group_size)


@dataclass(frozen=True)
class Verdict:
    """The fit against a device's memory."""

    limit: int
    fits: bool
    margin: int  # limit − total: negative when it does not fit
    max_context: int | None  # the longest context at the batch, at most the model's window
    max_batch: int | None  # the largest batch at the context; None if none fits
    best_precision: str | None  # the most precise of PRECISIONS that fits; None if none
    max_context_by_memory: int | None = None  # the longest the memory holds, past the window
    window: int | None = None  # the model's context window (seq_length), max_context's cap


@dataclass
class Fit:
    """A model's serving memory per device: formulas over C and B, and their values."""

    config: ModelConfig
    serving: Serving
    budget: Budget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = budget(self.config)
        if self.serving.checkpoint_bytes is None:
            self.check_widths(self.serving.format)

    @cached_property
    def matrix_widths(self) -> dict[str, tuple[tuple[str, ...], int]]:
        """The input widths of the model's weight matrices, which a format's groups or blocks
        run along: a name for each (what reads it) → (the parts holding them, the width)."""
        from .layers import attention_widths
        from .symbols import f as f_, f_E, f_S, r_kv, r_q

        values = self.budget.values
        config = self.config
        out: dict[str, tuple[tuple[str, ...], int]] = {
            "the matrices that read the hidden state (d_model)": (
                ("attention", "mlp", "experts", "head", "embedding"), config.d_model)}
        if config.block == "transformer":
            from .symbols import d_V, h
            if config.attention_experts:  # each expert's output projection reads g heads
                queries = attention_widths(config)[2]
            elif config.kv_lora_rank is None and config.v_head_dim is None:
                _, queries, _ = attention_widths(config)
            else:  # latent attention's (MiMo's) output projection reads h value heads
                queries = h * d_V
            out["attention's output projection (n_heads × head_dim)"] = (
                ("attention",), int(self.budget.evaluate(queries)))
        for symbol, name, part in ((r_q, "latent attention's query up-projection "
                                    "(q_lora_rank)", "attention"),
                                   (r_kv, "latent attention's key/value up-projection "
                                    "(kv_lora_rank)", "attention"),
                                   (f_, "the feed-forward's down projection (d_ff)", "mlp"),
                                   (f_E, "each expert's down projection (expert_d_ff)",
                                    "experts"),
                                   (f_S, "the shared experts' down projection (shared_d_ff)",
                                    "experts")):
            if symbol in values:
                out[name] = ((part,), int(values[symbol]))
        return out

    def check_widths(self, fmt: WeightFormat) -> None:
        """Refuse, in one line, a format whose group or block does not divide the input width
        of a matrix it quantizes (the parts it keeps in higher precision are not checked)."""
        if fmt.multiple == 1:
            return
        for name, (parts, width) in self.matrix_widths.items():
            if any(fmt.keeps.get(part) is None for part in parts):
                check_width(fmt, width, name)

    # -- formulas ----------------------------------------------------------------------

    def _bytes(self, fmt: WeightFormat, part: str) -> sp.Expr:
        """Bytes per weight of one part under ``fmt``, its kept parts in theirs."""
        kept = fmt.keeps.get(part)
        if kept is not None:
            fmt = weight_format("bf16" if kept == NATIVE else kept)
        return bytes_per_weight(fmt, width=d)

    def weights_formula(self, fmt: WeightFormat | None = None) -> sp.Expr:
        """Bytes of the weights on one device: the format's formula, or the checkpoint's own
        bytes when the serving reads them (its norms on every device, the rest split)."""
        T = self.serving.tensor_parallel
        if fmt is None and self.serving.checkpoint_bytes is not None:
            norms, rest = self.serving.checkpoint_bytes
            return sp.Integer(norms) + sp.Rational(rest, T)
        fmt = fmt or self.serving.format
        out: sp.Expr = sp.Integer(0)
        for name, parts in self.budget.layers.items():
            if name == "blocks":
                continue
            for layer in parts:
                share = 1 if _part(layer.kind) == "norm" else sp.Rational(1, T)
                out += layer.params * self._bytes(fmt, _part(layer.kind)) * share
        for kind in self.budget.kinds:
            for layer in kind.layers:
                share = 1 if _part(layer.kind) == "norm" else sp.Rational(1, T)
                out += kind.count * layer.params * self._bytes(fmt, _part(layer.kind)) * share
        return out

    @cached_property
    def kv_split(self) -> int:
        """Devices the KV cache is split over: T, at most the key/value heads."""
        heads = self.config.n_kv_heads or self.config.n_heads or 1
        return min(self.serving.tensor_parallel, heads)

    def kv_by_kind_formula(self, context: int | None = None) -> dict[str, sp.Expr]:
        """KV-cache bytes per kind of block on one device, over C and B. A sliding layer's
        term is min(C, W − 1), taken on the side of ``context`` (the serving's)."""
        context = self.serving.context if context is None else context
        per_value = KV_DTYPES[self.serving.kv_dtype] / self.kv_split
        out: dict[str, sp.Expr] = {}
        for kind in self.budget.kinds:
            held: sp.Expr = sp.Integer(0)
            for layer in kind.layers:
                if layer.cache == 0:
                    continue
                tokens: sp.Expr = C
                if layer.window is not None:
                    cap = int(self.budget.evaluate(layer.window)) - 1
                    tokens = C if context < cap else layer.window - 1
                held += layer.cache * tokens
            out[kind.name] = kind.count * held * B * per_value
        return out

    def state_by_kind_formula(self) -> dict[str, sp.Expr]:
        """Recurrent-state bytes per kind of block on one device, over B: each state-space
        layer's state per sequence (``layers.py``), its convolution inputs in bf16
        (``STATE_BYTES``) and its scan state in fp32, whatever the context; replicated over T
        (an upper bound: a runtime may split it by heads)."""
        return {kind.name: kind.count * state_bytes(kind.layers, STATE_BYTES) * B
                for kind in self.budget.kinds}

    def activations_formula(self, context: int | None = None) -> sp.Expr:
        """The activation peak of one prefill chunk of min(C, 2,048) tokens, and the fp32
        logits of the B sampled positions (an estimate)."""
        context = self.serving.context if context is None else context
        config = self.config
        chunk: sp.Expr = C if context < PREFILL_CHUNK else sp.Integer(PREFILL_CHUNK)
        heads = config.n_heads or 1  # (a seed block's attention has as many as it is given)
        kv_heads = config.n_kv_heads or heads
        head_dim = config.head_dim or config.d_model // heads
        inner = config.d_ff or 4 * config.d_model
        if config.num_experts:  # the routed experts' inner values, per token K of them
            inner = (config.experts_per_token or 1) * (config.expert_d_ff or inner)
        gated = 2 if config.mlp == "gated" else 1
        width = 2 * config.d_model + (heads + 2 * kv_heads) * head_dim + gated * inner
        return chunk * width * 2 + B * config.vocab_size * 4

    def total_formula(self, context: int | None = None) -> sp.Expr:
        return (self.weights_formula() + sp.Add(*self.kv_by_kind_formula(context).values())
                + sp.Add(*self.state_by_kind_formula().values())
                + self.activations_formula(context) + RESERVE)

    # -- values ------------------------------------------------------------------------

    def _value(self, expr: sp.Expr, context: int | None = None,
               batch: int | None = None) -> int:
        at = {C: self.serving.context if context is None else context,
              B: self.serving.batch_size if batch is None else batch}
        value = self.budget.evaluate(expr.xreplace(at))
        return int(sp.ceiling(value))

    @cached_property
    def _caps(self) -> tuple[int, ...]:
        """Where the memory's slope in C changes: each sliding window's W − 1, the chunk."""
        caps = {PREFILL_CHUNK}
        for kind in self.budget.kinds:
            for layer in kind.layers:
                if layer.window is not None and layer.cache != 0:
                    caps.add(int(self.budget.evaluate(layer.window)) - 1)
        return tuple(sorted(caps))

    def _varying(self, context: int) -> sp.Expr:
        """KV cache and activations on the side of ``context``, in numbers over C and B."""
        key = tuple(context < cap for cap in self._caps)
        cache = self.__dict__.setdefault("_varying_cache", {})
        if key not in cache:
            kv = sp.Add(*self.kv_by_kind_formula(context).values(),
                        *self.state_by_kind_formula().values())
            cache[key] = sp.expand(self.budget.evaluate(kv + self.activations_formula(context)))
        return cache[key]

    def _weights(self, fmt: WeightFormat | None) -> int:
        """Bytes of the weights in ``fmt``, or (None) as served: the checkpoint's or the
        serving format's."""
        cache = self.__dict__.setdefault("_weights_cache", {})
        key = None if fmt is None else fmt.name
        if key not in cache:
            cache[key] = self._value(self.weights_formula(fmt))
        return cache[key]

    def memory_at(self, context: int, batch: int, fmt: WeightFormat | None = None) -> int:
        """Total bytes per device at ``context`` and ``batch`` (weights in ``fmt``, or as
        served)."""
        varying = self._varying(context).xreplace({C: context, B: batch})
        return self._weights(fmt) + int(sp.ceiling(varying)) + RESERVE

    @cached_property
    def memory(self) -> dict[str, int]:
        """Bytes per device: weights, kv_cache, state, activations, reserve and total."""
        by_kind = self.kv_cache_by_kind
        out = {"weights": self._value(self.weights_formula()),
               "kv_cache": sum(by_kind.values()),
               "state": sum(self.state_by_kind.values()),
               "activations": self._value(self.activations_formula()),
               "reserve": RESERVE}
        out["total"] = sum(out.values())
        return out

    @cached_property
    def state_by_kind(self) -> dict[str, int]:
        return {name: self._value(expr) for name, expr in self.state_by_kind_formula().items()}

    @cached_property
    def kv_cache_by_kind(self) -> dict[str, int]:
        return {name: self._value(expr) for name, expr in self.kv_by_kind_formula().items()}

    @cached_property
    def formulas(self) -> dict[str, sp.Expr]:
        """Each quantity as a formula over the sizes, C and B (sliding terms and the chunk on
        the side of this context)."""
        kv = sp.Add(*self.kv_by_kind_formula().values())
        return {"weights": self.weights_formula(), "kv_cache": kv,
                "state": sp.Add(*self.state_by_kind_formula().values()),
                "activations": self.activations_formula(), "reserve": sp.Integer(RESERVE),
                "total": self.total_formula()}

    @cached_property
    def derivatives(self) -> dict[str, int | float]:
        """∂memory/∂context and ∂memory/∂batch at this point, in bytes."""
        total_expr = self.total_formula()
        out: dict[str, int | float] = {}
        for name, symbol in (("context", C), ("batch", B)):
            value = self.budget.evaluate(sp.diff(total_expr, symbol).xreplace(
                {C: self.serving.context, B: self.serving.batch_size}))
            out[name] = int(value) if value.is_integer else float(value)
        return out

    # -- the verdict -------------------------------------------------------------------

    def _solve(self, symbol: sp.Symbol, limit: int, bound: int) -> int | None:
        """The largest value of C (or B) at which the memory fits ``limit``: each linear
        branch solved exactly with sympy, the answer checked by substitution."""
        context, batch = self.serving.context, self.serving.batch_size

        def fits(value: int) -> bool:
            at = (value, batch) if symbol is C else (context, value)
            return self.memory_at(*at) <= limit

        if not fits(1):
            return None
        edges = self._caps if symbol is C else ()
        points = sorted({1, *(e for e in edges if 1 <= e <= bound), bound})
        best = 1
        weights = self._weights(None) + RESERVE
        for low, high in zip(points, points[1:]):
            if not fits(low):
                break
            side = low if symbol is C else context
            expr = weights + self._varying(side).xreplace(
                {B: batch} if symbol is C else {C: context})
            slope = sp.diff(expr, symbol)  # the branch is linear: slope·X + rest = limit
            if slope == 0:
                candidate = high
            else:
                root = (limit - expr.xreplace({symbol: 0})) / slope
                candidate = min(high, int(sp.floor(root)))
            candidate = max(candidate, low)
            # substitution: the answer fits and one more does not (the ceiling of a fraction
            # of a byte may move it by one)
            while candidate > low and not fits(candidate):
                candidate -= 1
            while candidate < high and fits(candidate + 1):
                candidate += 1
            best = candidate
            if candidate < high:
                break
        return best

    def verdict(self, limit: int) -> Verdict:
        """Fits or not, by how much; the longest context, the largest batch and the best
        precision that fit ``limit`` bytes per device."""
        from .units import MAX_CONTEXT

        total_bytes = self.memory["total"]
        best = None
        for name in PRECISIONS:
            fmt = weight_format(name)
            try:
                self.check_widths(fmt)
            except ConfigError:
                continue  # its groups do not divide this model's widths
            if self.memory_at(self.serving.context, self.serving.batch_size, fmt) <= limit:
                best = name
                break
        by_memory = self._solve(C, limit, MAX_CONTEXT)
        window = self.config.seq_length  # the model's context window: no longer is served
        longest = None if by_memory is None else min(by_memory, window)
        return Verdict(limit, total_bytes <= limit, limit - total_bytes, longest,
                       self._solve(B, limit, MAX_BATCH), best, by_memory, window)


def default_weights(hf_config: Mapping[str, Any] | None) -> str | None:
    """The weights precision a config.json's ``quantization_config`` says, or None: MXFP4
    (gpt-oss), bitsandbytes 4-bit (nf4, nf4-dq) and 8-bit, fp8 (per tensor or in blocks),
    GPTQ and AWQ with their group size."""
    if not hf_config:
        return None
    q = hf_config.get("quantization_config")
    if not isinstance(q, dict):
        return None
    method = str(q.get("quant_method", "")).lower()
    if method == "mxfp4":
        return "mxfp4"
    if method == "bitsandbytes":
        if q.get("load_in_4bit"):
            return "nf4-dq" if q.get("bnb_4bit_use_double_quant") else "nf4"
        if q.get("load_in_8bit"):
            return "int8"
        return None
    if method == "fp8":
        return "fp8-block" if q.get("weight_block_size") else "fp8"
    if method in ("gptq", "awq"):
        group = q.get("group_size", q.get("q_group_size", 128))
        if q.get("bits", q.get("w_bit", 4)) == 4 and isinstance(group, int) and group > 0:
            return f"{method}-g{group}"
    return None


def fit(config: ModelConfig, serving: Serving) -> Fit:
    """The serving memory of ``config`` (``paramcalc.fit``)."""
    return Fit(config, serving)


def training_verdict(result: Any, limit: int) -> dict[str, Any]:
    """The verdict on ``flops``' training memory per device under its ZeRO stage: whether it
    fits ``limit`` and the fewest data-parallel devices at which it would (None when even the
    unsharded part does not fit)."""
    from dataclasses import replace

    from .compute import Compute

    memory = result.memory
    s = result.settings
    one = Compute(result.budget, replace(s, devices=1)).model_states(result.budget.params["total"])
    sharded = {"weights": s.zero >= 3, "gradients": s.zero >= 2, "optimizer": s.zero >= 1}
    spread = sum(one[k] for k, on in sharded.items() if on)
    fixed = sum(one[k] for k, on in sharded.items() if not on) + memory["activations"]
    room = limit - fixed
    if spread == 0:
        devices = 1 if room >= 0 else None
    else:
        devices = -(-spread // room) if room > 0 else None
    # substitution: at that many devices each shard (a ceiling) fits, and one fewer does not
    if devices is not None:
        while devices > 1 and fixed + -(-spread // (devices - 1)) <= limit:
            devices -= 1
        while fixed + -(-spread // devices) > limit:
            devices += 1
    return {"limit": limit, "fits": memory["per_device"] <= limit,
            "margin": limit - memory["per_device"], "devices_that_fit": devices}
