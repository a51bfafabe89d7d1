"""The conventions the papers count FLOPs in, and the rules they quote.

paramcalc's own count (``compute.py``) is torch's FlopCounterMode's: 2 FLOPs per
multiply-add, attention's score products over the full S × S square, backward twice the
forward. Published figures differ from it by a convention, and this module makes each one a
choice rather than a correction done by hand:

- **attention_flops** ``full`` (the default: FlopCounterMode's count, what ``check`` holds
  the formulas to, and the figure tests have pinned since the start) or ``causal``: a query
  multiplies only the keys at or before it, S·(S+1)/2 of the S² pairs per head (within a
  sliding window of W, W·S − W·(W−1)/2 once S > W; within chunks of W_C, each whole chunk's
  W_C·(W_C+1)/2 and the last one's part). FlashAttention's and Megatron-LM's
  counters take exactly half, S²/2; the two differ by the diagonal, S/2 products per head, a
  share 1/S of the score products (0.02% at S = 4,096).
- **model FLOPs and hardware FLOPs** (Chowdhery et al. 2022, PaLM, Appendix B): model FLOPs
  are what the model needs; hardware FLOPs add the forward work that activation
  recomputation repeats (Korthikanti et al. 2022): ``selective`` repeats the score products,
  ``full`` each block's whole forward pass. MFU divides the first by the peak, HFU the second.
- **the rules** (``rules``): 6·N and Kaplan's (kept where ``compute.py`` has them), 6·N
  without the embedding tables, PaLM's 6·N + 12·L·H·Q·T, Megatron's
  96·B·s·l·h²·(1 + s/6h + V/16lh) (Narayanan et al. 2021, eq. 3, full recomputation in),
  Megatron-LM's ``num_floating_point_operations`` (its generalisation to grouped queries,
  gated MLPs and experts, without recomputation) and Chinchilla's Appendix F accounting.

Counting FLOPs imports neither torch nor transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp

from .errors import ConfigError
from .layers import SubLayer
from .symbols import S, f

#: how attention's score products are counted
ATTENTION_FLOPS = ("full", "causal")
#: the default, and why: full is FlopCounterMode's count, which ``check`` and the pinned
#: figures use; causal is what kernels run and what FlashAttention and Megatron report
DEFAULT_ATTENTION_FLOPS = "full"


def _scores(layer: SubLayer) -> sp.Expr:
    """The coefficient of S² in an attention sub-layer's FLOPs: its score products per pair
    of positions (every other product of a sub-layer is linear in S)."""
    if layer.score_heads == 0:
        return sp.Integer(0)
    return sp.expand(layer.flops).coeff(S, 2)


def causal_pairs(window: int | None, seq_length: int, chunked: bool = False) -> sp.Expr:
    """Query-key pairs a causal layer multiplies, in S (and W): the lower triangle with its
    diagonal, or within a sliding window of W tokens (the token itself included), or within
    chunks of W_C (the triangle of each of the ⌊S/W_C⌋ whole chunks, then of the rest)."""
    if window is None or window >= seq_length:
        return S * (S + 1) / 2
    from .symbols import W, W_C
    if chunked:
        whole = seq_length // window
        rest = S - whole * W_C
        return whole * W_C * (W_C + 1) / 2 + rest * (rest + 1) / 2
    return W * S - W * (W - 1) / 2


def layer_flops(layers: Sequence[SubLayer], convention: str, values: dict[Any, Any]) -> sp.Expr:
    """Forward FLOPs of some sub-layers in one attention convention. ``values`` decide, for a
    sliding window, whether the window or the sequence is the shorter."""
    if convention not in ATTENTION_FLOPS:
        raise ConfigError(f"unknown attention-flops {convention!r}; choose one of: "
                          f"{', '.join(ATTENTION_FLOPS)}")
    out = []
    for layer in layers:
        flops = layer.flops
        scores = _scores(layer) if convention == "causal" else 0
        if scores != 0:
            window = None if layer.window is None else int(layer.window.xreplace(values))
            pairs = causal_pairs(window, int(S.xreplace(values)), layer.chunked)
            flops = sp.expand(flops) - scores * S**2 + scores * pairs
        out.append(flops)
    return sp.Add(*out)


def skipped_flops(layers: Sequence[SubLayer], convention: str,
                  values: dict[Any, Any]) -> sp.Expr:
    """Backward FLOPs some sub-layers do not do (``SubLayer.skipped``: twice the forward work
    that runs without gradients, as DeepSeek-V3.2's indexer), in one attention convention."""
    return 2 * layer_flops([SubLayer(layer.kind, sp.Integer(0), flops=layer.skipped / 2,
                                     score_heads=layer.score_heads, window=layer.window,
                                     chunked=layer.chunked)
                            for layer in layers if layer.skipped != 0], convention, values)


def score_flops(layers: Sequence[SubLayer], convention: str, values: dict[Any, Any]) -> sp.Expr:
    """Forward FLOPs of the score products alone (what selective recomputation repeats)."""
    full = sp.Add(*(_scores(layer) * S**2 for layer in layers))
    if convention == "full":
        return full
    return sp.Add(*(layer_flops([layer], convention, values) - layer_flops(
        [SubLayer(layer.kind, layer.params, flops=layer.flops - _scores(layer) * S**2)],
        "full", values) for layer in layers if _scores(layer) != 0))


def by_attention(compute: Any) -> dict[str, dict[str, float]]:
    """FLOPs per predicted token, forward and for training, in both attention conventions
    (whichever ``compute`` counts in): only the blocks' score products differ, and backward
    repeats them twice, so a training step differs by three times the forward's difference."""
    budget = compute.budget
    per = compute.per_token_values
    predictions = per["predictions_per_sequence"]
    chosen = compute.settings.attention_flops
    out = {chosen: {"forward": per["forward"], "training": per["training"]}}
    for convention in ATTENTION_FLOPS:
        if convention == chosen:
            continue
        blocks = sp.Add(*(kind.count * layer_flops(kind.layers, convention, budget.values)
                          for kind in budget.kinds))
        delta = compute.evaluate(blocks) - compute.flops["forward"]["blocks"]
        skipped = compute.evaluate(sp.Add(*(kind.count * skipped_flops(
            kind.layers, convention, budget.values) for kind in budget.kinds))) - \
            compute.evaluate(compute.skipped_blocks)
        out[convention] = {"forward": per["forward"] + delta / predictions,
                           "training": per["training"] + (3 * delta - skipped) / predictions}
    return {convention: out[convention] for convention in ATTENTION_FLOPS}


def recomputed(compute: Any) -> sp.Expr:
    """Forward FLOPs per sequence that recomputation repeats in the backward pass: nothing,
    the blocks' score products (selective), or the blocks' whole forward pass (full)."""
    mode = compute.settings.recompute
    if mode == "none":
        return sp.Integer(0)
    if mode == "full":
        return compute.forward["blocks"].exact
    values = compute.budget.values
    return sp.Add(*(kind.count * score_flops(kind.layers, compute.settings.attention_flops,
                                             values) for kind in compute.budget.kinds))


def hardware_step(compute: Any, training_step: dict[str, int]) -> dict[str, int]:
    """A training step's hardware FLOPs per sequence: the model's, and the recomputed forward
    work beside them (per component: only the blocks are recomputed)."""
    extra = compute.evaluate(recomputed(compute))
    out = dict(training_step)
    out["blocks"] += extra
    out["total"] += extra
    out["recomputed"] = extra
    return out


def utilisation(compute: Any) -> dict[str, float | None]:
    """Achieved MFU and HFU from the run's measured speed (tokens per second of all devices,
    or seconds per step of devices × batch_size sequences), against the peak of every
    device (data × tensor × pipeline parallel)."""
    s = compute.settings
    per_sequence = compute.evaluate(compute.predictions)
    tokens_per_second = s.tokens_per_second
    if tokens_per_second is None and s.step_time is not None:
        tokens_per_second = s.devices * s.batch_size * per_sequence / s.step_time
    out: dict[str, float | None] = {"tokens_per_second": tokens_per_second, "mfu": None,
                                    "hfu": None, "model_tflops_per_device": None,
                                    "hardware_tflops_per_device": None}
    if tokens_per_second is None:
        return out
    gpus = s.devices * s.tensor_parallel * s.pipeline_parallel
    model = compute.flops["training_step"]["total"] / per_sequence * tokens_per_second / gpus
    hardware = compute.flops["hardware_step"]["total"] / per_sequence * tokens_per_second / gpus
    out["model_tflops_per_device"] = model / 1e12
    out["hardware_tflops_per_device"] = hardware / 1e12
    if s.peak_tflops is not None:
        out["mfu"] = model / (s.peak_tflops * 1e12)
        out["hfu"] = hardware / (s.peak_tflops * 1e12)
    return out


def check_settings(settings: Any) -> None:
    """The papers' settings of a run, checked: a ConfigError naming the one that is wrong."""
    import math

    from .compute import MAX_DEVICES, MAX_TOKENS
    from .plan.laws import LAWS

    if settings.attention_flops not in ATTENTION_FLOPS:
        raise ConfigError(f"unknown attention-flops {settings.attention_flops!r}; choose one "
                          f"of: {', '.join(ATTENTION_FLOPS)}")
    if settings.law not in LAWS:
        raise ConfigError(f"unknown law {settings.law!r}; choose one of: {', '.join(LAWS)}")
    for name in ("tensor_parallel", "pipeline_parallel"):
        value = getattr(settings, name)
        if type(value) is not int or not 1 <= value <= MAX_DEVICES:
            raise ConfigError(f"{name.replace('_', '-')} must be a whole number of devices "
                              f"from 1 to 2**24, got {value!r}")
    if settings.sequence_parallel and settings.tensor_parallel == 1:
        raise ConfigError("sequence-parallel splits over the tensor-parallel devices: give "
                          "--tensor-parallel T with T > 1")
    for name, bound in (("tokens_per_second", float(MAX_TOKENS)), ("step_time", 1e12)):
        value = getattr(settings, name)
        if value is not None and not (isinstance(value, float | int) and math.isfinite(value)
                                      and 0 < value <= bound):
            raise ConfigError(f"{name.replace('_', '-')} must be a positive number at most "
                              f"{bound:g}, got {value!r}")
    if settings.tokens_per_second is not None and settings.step_time is not None:
        raise ConfigError("give --tokens-per-second or --step-time, not both")


# -- the rules ------------------------------------------------------------------------------


def _rule(key: str, value: float, exact: float) -> dict[str, float]:
    return {key: value, "exact": exact, "relative_error": (value - exact) / exact}


def _shape(compute: Any) -> dict[str, int]:
    """The sizes the papers' formulas are written in, at this configuration."""
    b = compute.budget
    c = compute.config
    head, queries, keys = _widths(c)
    value = b.evaluate
    return {"L": c.num_blocks, "h": c.d_model, "s": c.seq_length, "V": c.vocab_size,
            "a": c.n_heads, "Q": int(value(head)), "queries": int(value(queries)),
            "keys": int(value(keys))}


def _widths(config: Any) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    from .layers import attention_widths
    return attention_widths(config)


def megatron(L: int, h: int, s: int, V: int, B: int = 1) -> int:
    """Narayanan et al. 2021, eq. 3: FLOPs of one iteration of B sequences with full
    recomputation, 96·B·s·l·h²·(1 + s/6h + V/16lh), written in integers."""
    return 96 * B * s * L * h * h + 16 * B * s * s * L * h + 6 * B * s * h * V


def megatron_lm(compute: Any) -> float:
    """Megatron-LM's ``num_floating_point_operations`` per sequence (training.py, before its
    causal halving): 12·s·l·h²·((1 + g/a + s/h)·(a·Q/h) + f/h·K·gated + f_S/h·gated
    + V/(2·l·h)), gated = 3/2 for a gated MLP, summed here over the dense and the expert
    blocks; no recomputation."""
    from .symbols import E_S, K, f, f_E, f_S

    c = compute.config
    b = compute.budget
    sh = _shape(compute)
    h, s, L = sh["h"], sh["s"], sh["L"]
    gated = 1.5 if c.mlp == "gated" else 1.0
    groups = sh["keys"] / sh["Q"]
    attention = (1 + groups / c.n_heads + s / h) * (sh["queries"] / h)
    mlp = 0.0
    for kind in b.kinds:
        count = int(b.evaluate(kind.count))
        if kind.name == "moe":
            routed = float(b.evaluate(f_E * K))
            shared = float(b.evaluate(E_S * f_S)) if c.shared_experts else 0.0
            mlp += count * (routed + shared) / h * gated
        else:
            mlp += count * _ffw(compute) / h * gated
    return 12 * s * h * h * (L * attention + mlp + sh["V"] / (2 * h))


def _ffw(compute: Any) -> int:
    """The feed-forward width: f, or d for the log's seed block (one Dense d → d)."""
    b = compute.budget
    return int(b.evaluate(f)) if f in b.values else compute.config.d_model


def chinchilla_appendix_f(compute: Any) -> float:
    """Hoffmann et al. 2022, Appendix F: forward FLOPs of one sequence, counting the
    embedding as a product with the one-hot input and the softmax (3 per score), backward
    twice the forward."""
    c = compute.config
    sh = _shape(compute)
    s, d, V, L = sh["s"], sh["h"], sh["V"], sh["L"]
    width = sh["queries"]  # key_size × num_heads
    attention = (2 * 3 * s * d * width + 2 * s * s * width + 3 * c.n_heads * s * s
                 + 2 * s * s * width + 2 * s * width * d)
    ffw = _ffw(compute)
    dense = 2 * s * (d * ffw + d * ffw)
    forward = 2 * s * V * d + L * (attention + dense) + 2 * s * d * V
    return 3 * forward


def rules(compute: Any) -> dict[str, dict[str, float]]:
    """The rules beside 6·N and Kaplan's, in their shape: per predicted token, each against
    paramcalc's exact figure (Megatron's against the hardware FLOPs of full recomputation)."""
    params = compute.budget.params
    per = compute.per_token_values
    exact = per["training"]
    sh = _shape(compute)
    non_embedding = params["active"] - params["embedding"] - params["positional"]
    palm = 6 * params["active"] + 12 * sh["L"] * sh["a"] * sh["Q"] * sh["s"]
    predictions = per["predictions_per_sequence"]
    blocks = compute.forward["blocks"].exact
    full = (compute.flops["training_step"]["total"] + compute.evaluate(blocks)) / predictions
    return {
        "6N_non_embedding": _rule("training_per_token", 6 * non_embedding, exact),
        "palm": _rule("training_per_token", palm, exact),
        "megatron": _rule("training_per_token",
                          megatron(sh["L"], sh["h"], sh["s"], sh["V"]) / predictions, full),
        "megatron_lm": _rule("training_per_token", megatron_lm(compute) / predictions, exact),
        "chinchilla_appendix_f": _rule("training_per_token",
                                       chinchilla_appendix_f(compute) / predictions, exact),
    }
