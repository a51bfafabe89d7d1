"""The flops command: FLOPs per component, the rules people quote, the run, and memory."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import sympy as sp

from ..formulas import COMPONENTS
from ..presets import Preset

if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    from rich.console import Group

from . import label as _label
from . import part_json, text
from .counts import _bytes


def flops_json(preset: Preset, compute: Any) -> dict[str, Any]:
    """The ``flops`` object of the JSON contract (README.md, Commands)."""
    formulas = {"forward": {name: sp.sstr(compute.forward[name].exact) for name in COMPONENTS}}
    formulas["forward"]["total"] = sp.sstr(compute.forward_total.exact)
    formulas["forward_approx"] = {name: sp.sstr(compute.forward[name].approx)
                                  for name in COMPONENTS}
    formulas["forward_approx"]["total"] = sp.sstr(compute.forward_total.approx)
    formulas["backward"] = {"total": sp.sstr(compute.backward_total.exact)}
    formulas["training_per_token"] = {"exact": sp.sstr(compute.per_token.exact),
                                      "approx": sp.sstr(compute.per_token.approx)}
    formulas["kv_cache_per_token"] = sp.sstr(compute.kv_cache.exact)
    formulas["activations_per_sequence"] = sp.sstr(compute.activations.exact)
    return {
        "name": preset.name,
        **part_json(preset),
        "attention_flops": compute.settings.attention_flops,  # every FLOP figure's convention
        "config": compute.config.to_dict(),
        "settings": dataclasses.asdict(compute.settings),
        "params": compute.budget.params,
        "flops": compute.flops,
        "per_token": {**compute.per_token_values,
                      "by_attention": compute.per_token_by_attention},
        "rules": compute.rules,
        "run": compute.run,
        "memory": compute.memory,
        "formulas": formulas,
    }


#: the papers' rules beside 6·N and Kaplan's, as the table names them
_PAPER_RULES = (("6N_non_embedding", "training, 6·N non-embedding"),
                ("palm", "training, 6·N + 12·L·H·Q·T (PaLM)"),
                ("megatron", "hardware, Megatron 96·s·l·h²·(…) (full recompute)"),
                ("megatron_lm", "training, Megatron-LM generalised"),
                ("chinchilla_appendix_f", "training, Chinchilla Appendix F"))


def _time(seconds: float) -> str:
    if seconds >= 86400 * 1e6:  # past a million days, the digits say nothing more
        return f"{seconds / 86400:.3g} days"
    for unit, scale in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= scale:
            return f"{seconds / scale:,.1f} {unit}"
    return f"{seconds:,.2f} s"


def _context_note(preset: Preset) -> str:
    """Where the sequence length came from when a published model's file set it: its whole
    context window (a config.json's max_position_embeddings), rarely what a run trains at."""
    if preset.path is None or preset.config.block == "seed" or any(
            key == "seq_length" for key, _ in preset.changes):
        return ""
    return (", the model's full context window; --seq-length N sets a training length "
            "(--context N the KV cache's)")


def flops_view(preset: Preset, compute: Any) -> Group:
    """FLOPs per component with formulas; rules; the run; memory."""
    from rich.console import Group
    from rich.table import Table

    config, s = compute.config, compute.settings
    flops = compute.flops
    table = Table(title=f"{_label(preset)}: FLOPs over one sequence of {config.seq_length:,} tokens "
                  f"(batch 1){_context_note(preset)}", title_justify="left")
    for heading in ("component", "forward formula", "forward", "backward", "training step"):
        table.add_column(heading, justify="left" if heading.endswith(("component", "formula"))
                         else "right")
    for name in COMPONENTS:
        if flops["training_step"][name]:
            table.add_row(name, text(compute.forward[name].exact), f"{flops['forward'][name]:,}",
                          f"{flops['backward'][name]:,}", f"{flops['training_step'][name]:,}")
    table.add_section()
    table.add_row("total", text(compute.forward_total.exact), f"{flops['forward']['total']:,}",
                  f"{flops['backward']['total']:,}", f"{flops['training_step']['total']:,}",
                  style="bold")

    per = compute.per_token_values
    rules = compute.rules
    tokens = Table(title=f"per predicted token ({per['predictions_per_sequence']:,} per "
                   f"sequence; the rules against {s.attention_flops} attention)",
                   title_justify="left")
    tokens.add_column("rule")
    tokens.add_column("FLOPs", justify="right")
    tokens.add_column("vs exact", justify="right")
    tokens.add_row(f"training, exact ({s.attention_flops} attention)", f"{per['training']:,.0f}", "")
    for convention, values in compute.per_token_by_attention.items():  # the other one beside
        if convention != s.attention_flops:
            tokens.add_row(f"training, exact ({convention} attention)",
                           f"{values['training']:,.0f}",
                           f"{(values['training'] - per['training']) / per['training']:+.1%}")
    hardware = flops["hardware_step"]
    if hardware["recomputed"]:  # the recomputed forward work beside the model's
        tokens.add_row(f"training, hardware (recompute {s.recompute})",
                       f"{hardware['total'] / per['predictions_per_sequence']:,.0f}", "")
    tokens.add_row("training, 6·N", f"{rules['6N']['training_per_token']:,}",
                   f"{rules['6N']['relative_error']:+.1%}")
    for key, label in _PAPER_RULES:  # the papers' rules (papers.py)
        tokens.add_row(label, f"{rules[key]['training_per_token']:,.0f}",
                       f"{rules[key]['relative_error']:+.1%}")
    tokens.add_row(f"forward, exact ({s.attention_flops} attention)", f"{per['forward']:,.0f}", "")
    for convention, values in compute.per_token_by_attention.items():
        if convention != s.attention_flops:
            tokens.add_row(f"forward, exact ({convention} attention)",
                           f"{values['forward']:,.0f}",
                           f"{(values['forward'] - per['forward']) / per['forward']:+.1%}")
    tokens.add_row("forward, 2·N + 2·n·S·d (Kaplan et al.)",
                   f"{rules['kaplan']['forward_per_token']:,}",
                   f"{rules['kaplan']['relative_error']:+.1%}")

    run = compute.run
    runs = Table(title="training run", title_justify="left")
    runs.add_column("quantity")
    runs.add_column("value", justify="right")
    source = "" if run["tokens_given"] else " (Chinchilla: 20 per parameter)"
    runs.add_row(f"tokens{source}", f"{run['tokens']:,}")
    runs.add_row("FLOPs", f"{run['flops']:.3e}")
    if run["seconds"] is not None:
        share = f"{s.mfu:.0%}" if s.mfu >= 0.01 else f"{s.mfu * 100:.2g}%"
        runs.add_row(f"time on {s.devices:,} × {s.peak_tflops:,g} TFLOP/s at {share} MFU",
                     _time(run["seconds"]))
    law = run["law"]
    runs.add_row(f"the run's budget as {law['name']} counts it, 6·N·D", f"{law['budget']:.3e}")
    runs.add_row(f"compute-optimal size, {law['name']}", f"{law['params']:,.0f}")
    runs.add_row(f"compute-optimal tokens, {law['name']}", f"{law['tokens']:,.0f}")
    if law["loss"] is not None:
        runs.add_row(f"predicted loss, {law['name']}", f"{law['loss']:.4f}")
    achieved = run["achieved"]
    if achieved["tokens_per_second"] is not None:
        runs.add_row("achieved TFLOP/s per device, model / hardware",
                     f"{achieved['model_tflops_per_device']:,.1f} / "
                     f"{achieved['hardware_tflops_per_device']:,.1f}")
        if achieved["mfu"] is not None:
            runs.add_row("achieved MFU / HFU",
                         f"{achieved['mfu']:.1%} / {achieved['hfu']:.1%}")

    memory = compute.memory
    mem = Table(title=f"memory ({s.dtype}, {s.optimizer}, ZeRO-{s.zero} on {s.devices:,} "
                f"device{'s' if s.devices > 1 else ''}, batch {s.batch_size:,})",
                title_justify="left")
    mem.add_column("held")
    mem.add_column("bytes", justify="right")
    mem.add_column("size", justify="right")
    rows = [("KV cache per token", memory["kv_cache_per_token"]),
            (f"KV cache, {memory['context']:,} tokens × batch {s.batch_size:,}",
             memory["kv_cache"])]
    # a recurrent layer's state (Mamba's, DeltaNet's) is per sequence, whatever the context
    rows += [(f"recurrent state, {kind} blocks × batch {s.batch_size:,}", size)
             for kind, size in memory["state_by_kind"].items() if size]
    rows += [(f"activations per device ({s.attention} attention, recompute {s.recompute})",
              memory["activations"]),
             ("weights per device", memory["weights"]),
             ("gradients per device", memory["gradients"]),
             ("optimizer state per device", memory["optimizer"])]
    for label, size in rows:
        mem.add_row(label, f"{size:,}", _bytes(size))
    if s.tensor_parallel > 1 or s.pipeline_parallel > 1 or s.dropout:
        mem.add_row(f"activations, Korthikanti et al. (t {s.tensor_parallel}"
                    f"{', sequence parallel' if s.sequence_parallel else ''}"
                    f"{', dropout' if s.dropout else ''})",
                    f"{memory['activations_korthikanti']:,}",
                    _bytes(memory["activations_korthikanti"]))
    mem.add_section()
    mem.add_row("training, per device", f"{memory['per_device']:,}",
                _bytes(memory["per_device"]), style="bold")
    return Group(table, tokens, runs, mem)
