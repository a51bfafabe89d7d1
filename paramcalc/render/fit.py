"""The fit command: serving memory per device, per part and per kind of block, and the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sympy as sp

from ..presets import Preset

if TYPE_CHECKING:
    from rich.console import Group

from . import label as _label
from . import part_json
from .counts import _bytes


def fit_json(preset: Preset, fit: Any, verdict: Any | None,
             served: Any | None = None) -> dict[str, Any]:
    """The ``fit`` object of the JSON contract (issue #20, item 4); with ``--weights``, the
    checkpoint served (its source, bytes and bits per weight)."""
    s = fit.serving
    checkpoint = None if served is None else served.checkpoint
    return {
        "name": preset.name,
        **part_json(preset),
        "config": fit.config.to_dict(),
        "context": s.context,
        "batch": s.batch_size,
        "weights_dtype": s.weights_dtype,
        "kv_dtype": s.kv_dtype,
        "tensor_parallel": s.tensor_parallel,
        "memory": fit.memory,
        "kv_cache_by_kind": fit.kv_cache_by_kind,
        "formulas": {name: sp.sstr(expr) for name, expr in fit.formulas.items()},
        "derivatives": fit.derivatives,
        "limit": None if verdict is None else verdict.limit,
        "fits": None if verdict is None else verdict.fits,
        "margin": None if verdict is None else verdict.margin,
        "max_context": None if verdict is None else verdict.max_context,
        "max_context_by_memory": None if verdict is None else verdict.max_context_by_memory,
        "max_batch": None if verdict is None else verdict.max_batch,
        "best_precision": None if verdict is None else verdict.best_precision,
        "weights_checkpoint": None if served is None or checkpoint is None else {
            "source": checkpoint.source, "format": checkpoint.format,
            "bytes": checkpoint.nbytes, "params": checkpoint.params,
            "bits_per_weight": float(checkpoint.bits_per_weight),
            "matches_formulas": served.ok},
    }


def _longest(verdict: Any) -> str:
    """The longest context, and when the model's window, not the memory, is what caps it."""
    if not verdict.max_context:
        return "none"
    if verdict.max_context_by_memory > verdict.max_context:
        return (f"{verdict.max_context:,}, the model's whole window (the memory would hold "
                f"{verdict.max_context_by_memory:,})")
    return f"{verdict.max_context:,}"


def fit_view(preset: Preset, fit: Any, verdict: Any | None, served: Any | None = None) -> Group:
    """Memory per device by part, the KV cache per kind, and the verdict."""
    from rich.console import Group
    from rich.table import Table

    s = fit.serving
    weights = s.weights_dtype
    if served is not None:
        weights = (f"as the checkpoint stores them ({float(served.checkpoint.bits_per_weight):.2f} "
                   "bits a weight)")
    devices = f", tensor-parallel {s.tensor_parallel}" if s.tensor_parallel > 1 else ""
    table = Table(title=f"{_label(preset)}: serving {s.context:,} tokens × batch "
                  f"{s.batch_size:,}, weights {weights}, KV {s.kv_dtype}{devices} "
                  "(per device)", title_justify="left")
    for heading in ("held", "bytes", "size"):
        table.add_column(heading, justify="left" if heading == "held" else "right")
    memory = fit.memory
    rows = [("weights", memory["weights"])]
    recurrent = fit.state_by_kind
    rows += [(f"KV cache, {kind} blocks", size) for kind, size in fit.kv_cache_by_kind.items()
             if size or not recurrent.get(kind)]  # a recurrent kind's memory is its state
    rows += [(f"recurrent state, {kind} blocks", size)
             for kind, size in recurrent.items() if size]
    rows += [("activations (prefill chunk peak, estimate)", memory["activations"]),
             ("runtime reserve (estimate)", memory["reserve"])]
    for held, size in rows:
        table.add_row(held, f"{size:,}", _bytes(size))
    table.add_section()
    table.add_row("total", f"{memory['total']:,}", _bytes(memory["total"]), style="bold")
    parts: list[Any] = [table]
    if served is not None and not served.ok:
        parts.append(f"the checkpoint differs from the model's formulas (paramcalc check "
                     f"--weights {served.checkpoint.source} shows where); its bytes are served")
    slope = fit.derivatives["context"]
    parts.append(f"∂memory/∂context = {slope:,} bytes per token")
    if verdict is not None:
        word = "fits" if verdict.fits else "does not fit"
        by = _bytes(abs(verdict.margin))
        lines = [f"{word} in {_bytes(verdict.limit)} ({'' if verdict.fits else 'short by '}"
                 f"{by}{' to spare' if verdict.fits else ''})",
                 "longest context at this batch: " + _longest(verdict),
                 "largest batch at this context: " + (f"{verdict.max_batch:,}"
                                                      if verdict.max_batch else "none"),
                 "most precise weights that fit: " + (verdict.best_precision or "none")]
        parts.append("\n".join(lines))
    return Group(*parts)
