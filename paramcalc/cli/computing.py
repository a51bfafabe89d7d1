"""The compute and memory budget: the flops command."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from .. import render
from .. import gpus
from ..compute import ATTENTION, DTYPES, OPTIMIZERS, RECOMPUTE, Settings, compute
from ..errors import ParamcalcError
from ..formulas import budget
from ..presets import Preset

from . import TOKENS, JsonFlag, _print, app, model_options

_RUN = "Training run and hardware"
_MEMORY = "Memory"

Dtype = Enum("Dtype", {name: name for name in DTYPES}, type=str)  # type: ignore[misc]
Optimizer = Enum("Optimizer", {name: name for name in OPTIMIZERS}, type=str)  # type: ignore[misc]
Recompute = Enum("Recompute", {name: name for name in RECOMPUTE}, type=str)  # type: ignore[misc]
AttentionKind = Enum("AttentionKind", {name: name for name in ATTENTION}, type=str)  # type: ignore[misc]
# -- the papers' conventions (papers.py, parallel.py, plan/laws.py) --
from ..papers import ATTENTION_FLOPS  # noqa: E402
from ..plan.laws import LAWS  # noqa: E402
from ..lora import DEFAULT_MODULES  # noqa: E402

AttentionFlops = Enum("AttentionFlops", {n: n for n in ATTENTION_FLOPS}, type=str)  # type: ignore[misc]
Law = Enum("Law", {n: n for n in LAWS}, type=str)  # type: ignore[misc]
_PAPERS = "Conventions and parallelism"
_TUNE = "Fine-tuning"


@app.command()
@model_options
def flops(
    model: Preset,
    tokens: Annotated[str | None, typer.Option(
        help="training tokens D: 300B, 1.4T [Chinchilla's 20 per parameter]",
        rich_help_panel=_RUN)] = None,
    gpu: Annotated[str | None, typer.Option(
        help="a device by name (case-insensitive): its dense bf16 peak for the run's time and "
             "its memory for the verdict: " + ", ".join(
                 f"{name} {peak:g}" for name, peak in gpus.PEAK_TFLOPS.items()) + " TFLOP/s",
        rich_help_panel=_RUN)] = None,
    peak_tflops: Annotated[float | None, typer.Option(
        help="peak TFLOP/s of one device (instead of --gpu)", rich_help_panel=_RUN)] = None,
    mfu: Annotated[float, typer.Option(
        help="model FLOPs utilisation: the share of the peak a run reaches, in (0, 1]",
        rich_help_panel=_RUN)] = 0.4,
    devices: Annotated[int, typer.Option(help="data-parallel devices G", rich_help_panel=_RUN)] = 1,
    dtype: Annotated[Dtype, typer.Option(
        help="weights, activations and KV cache; 16- and 8-bit train in mixed precision with "
             "fp32 master weights", rich_help_panel=_MEMORY)] = Dtype.bf16,  # type: ignore[attr-defined]
    optimizer: Annotated[Optimizer, typer.Option(
        help="adam (two fp32 moments), adam8bit (two 1-byte moments) or sgd (fp32 momentum)",
        rich_help_panel=_MEMORY)] = Optimizer.adam,  # type: ignore[attr-defined]
    zero: Annotated[int, typer.Option(
        help="ZeRO stage: 0 none, 1 optimizer state, 2 and gradients, 3 and weights (FSDP)",
        rich_help_panel=_MEMORY)] = 0,
    batch_size: Annotated[int, typer.Option(
        help="sequences per device per step (activations and KV cache)",
        rich_help_panel=_MEMORY)] = 1,
    context: Annotated[int | None, typer.Option(
        help="tokens held in the KV cache: 8192, 32K, 128K [seq_length]",
        rich_help_panel=_MEMORY, click_type=TOKENS)] = None,
    recompute: Annotated[Recompute, typer.Option(
        help="activation recomputation: none, selective (attention's S × S part) or full "
             "(each block keeps its input)", rich_help_panel=_MEMORY)] = Recompute.none,  # type: ignore[attr-defined]
    attention: Annotated[AttentionKind, typer.Option(
        help="flash attention keeps no S × S scores for backward; eager keeps the softmax",
        rich_help_panel=_MEMORY)] = AttentionKind.flash,  # type: ignore[attr-defined]
    attention_flops: Annotated[AttentionFlops, typer.Option(
        help="full: the S × S score products FlopCounterMode counts (default, what check "
             "holds the formulas to); causal: the lower triangle kernels run",
        rich_help_panel=_PAPERS)] = AttentionFlops.full,  # type: ignore[attr-defined]
    tensor_parallel: Annotated[int, typer.Option(
        help="T: devices each layer's matrices are split over", rich_help_panel=_PAPERS)] = 1,
    pipeline_parallel: Annotated[int, typer.Option(
        help="P: pipeline stages the blocks are split into", rich_help_panel=_PAPERS)] = 1,
    sequence_parallel: Annotated[bool, typer.Option(
        "--sequence-parallel", help="split the norms' activations over T too",
        rich_help_panel=_PAPERS)] = False,
    dropout: Annotated[bool, typer.Option(
        "--dropout", help="Korthikanti et al.'s activations with dropout's masks",
        rich_help_panel=_PAPERS)] = False,
    law: Annotated[Law, typer.Option(
        help="the compute-optimal law for the run's FLOPs: " + ", ".join(LAWS),
        rich_help_panel=_PAPERS)] = Law["chinchilla-20"],  # type: ignore[index]
    tokens_per_second: Annotated[float | None, typer.Option(
        help="measured training tokens per second, all devices: the achieved MFU and HFU",
        rich_help_panel=_PAPERS)] = None,
    step_time: Annotated[float | None, typer.Option(
        help="measured seconds per step (devices × batch-size sequences), instead",
        rich_help_panel=_PAPERS)] = None,
    memory: Annotated[str | None, typer.Option(
        help="memory per device for a verdict: fits or not, and on how many devices, e.g. 80GB "
             "[the --gpu's]",
        rich_help_panel=_MEMORY)] = None,
    lora_rank: Annotated[int | None, typer.Option(
        help="fine-tune with LoRA adapters of rank r: trainable parameters as a formula in r, "
             "optimizer state on the adapters only", rich_help_panel=_TUNE)] = None,
    lora_modules: Annotated[str, typer.Option(
        help="the projections adapted: q, k, v, o, gate, up, down (or q_proj, …, or all)",
        rich_help_panel=_TUNE)] = ",".join(DEFAULT_MODULES),
    qlora: Annotated[bool, typer.Option(
        "--qlora", help="QLoRA: the frozen base in NF4 with double quantization",
        rich_help_panel=_TUNE)] = False,
    as_json: JsonFlag = False,
) -> None:
    """FLOPs, training time and memory, with formulas.

    FLOPs per component (forward, backward, a training step) with formulas, per predicted
    token against the 6·N and Kaplan rules, a training run's compute and time, the
    Chinchilla-optimal size, and memory: KV cache, activations and training memory per device
    under ZeRO; with --lora-rank, a fine-tuning step with LoRA (or QLoRA) adapters."""
    from ..plan.targets import parse_tokens

    if gpu is not None and peak_tflops is not None:
        raise ParamcalcError("give --gpu or --peak-tflops, not both")
    device = None if gpu is None else gpus.accelerator(gpu)
    peak = device.peak_tflops if device is not None else peak_tflops
    settings = Settings(dtype=dtype.value, optimizer=optimizer.value, zero=zero, devices=devices,
                        batch_size=batch_size, recompute=recompute.value,
                        attention=attention.value, context=context,
                        tokens=None if tokens is None else parse_tokens(tokens),
                        peak_tflops=peak, mfu=mfu, attention_flops=attention_flops.value,
                        tensor_parallel=tensor_parallel, pipeline_parallel=pipeline_parallel,
                        sequence_parallel=sequence_parallel, dropout=dropout, law=law.value,
                        tokens_per_second=tokens_per_second, step_time=step_time)
    result = compute(budget(model.config), settings)
    tuning = None
    if lora_rank is not None or qlora:
        from ..lora import LoRA, memory as lora_memory, parse_modules

        if lora_rank is None:
            raise ParamcalcError("--qlora trains LoRA adapters on a 4-bit base: give "
                                 "--lora-rank R too")
        tuning = lora_memory(result, LoRA(lora_rank, parse_modules(lora_modules), qlora))
    # the verdict against --memory, else the --gpu's own memory
    limit = _limit(gpu, memory)
    verdict = None
    if limit is not None:
        from ..fit import training_verdict
        from ..lora import verdict as lora_verdict

        verdict = (training_verdict(result, limit) if tuning is None
                   else lora_verdict(tuning, settings, limit))

    def as_dict() -> dict[str, Any]:  # additive: flops' own output, then the rest
        out = render.flops_json(model, result)
        if tuning is not None:
            out["lora"] = {k: v for k, v in tuning.items() if k not in ("unsharded", "expr")}
        if verdict is not None:
            out["fit"] = verdict
        return out

    def view() -> Any:
        shown = render.flops_view(model, result)
        if tuning is not None:
            shown = _with_lora(shown, tuning, settings)
        return shown if verdict is None else _with_verdict(shown, verdict, tuning is not None)

    _print(as_json, as_dict, view)


def _limit(gpu: str | None, memory: str | None) -> int | None:
    """Bytes per device from --memory, else the GPU's, else None."""
    from ..gpus import accelerator
    from ..units import parse_memory

    if memory is not None:
        return parse_memory(memory, "--memory")
    return accelerator(gpu).memory if gpu is not None else None


def _with_lora(view: Any, tuning: dict[str, Any], settings: Any) -> Any:
    """flops' tables and, below them, the fine-tuning step's memory with adapters."""
    from rich.console import Group
    from rich.table import Table

    from ..render.counts import _bytes

    name = "QLoRA" if tuning["qlora"] else "LoRA"
    table = Table(title=f"fine-tuning with {name}, rank {tuning['rank']} on "
                  f"{', '.join(tuning['modules'])} ({settings.dtype}, {settings.optimizer}, "
                  f"ZeRO-{settings.zero} on {settings.devices:,} device"
                  f"{'s' if settings.devices > 1 else ''}, batch {settings.batch_size})",
                  title_justify="left")
    for heading in ("held", "bytes", "size"):
        table.add_column(heading, justify="left" if heading == "held" else "right")
    m = tuning["memory"]
    for held, key in ((f"frozen base weights ({tuning['base_format']})", "base_weights"),
                      ("adapters", "adapters"), ("adapters' gradients", "gradients"),
                      ("adapters' optimizer state", "optimizer"),
                      ("activations", "activations")):
        table.add_row(held, f"{m[key]:,}", _bytes(m[key]))
    table.add_section()
    table.add_row("fine-tuning, per device", f"{m['per_device']:,}", _bytes(m["per_device"]),
                  style="bold")
    from rich.text import Text

    from ..render import text

    line = Text.assemble(f"trainable: {tuning['trainable']:,} parameters "
                         f"({tuning['trainable_share']:.3%} of the model) = ",
                         text(tuning["expr"]),
                         f"; ∂/∂r = {tuning['d_trainable_d_rank']:,} per rank")
    return Group(*view.renderables, table, line)


def _with_verdict(view: Any, verdict: dict[str, Any], tuning: bool = False) -> Any:
    """flops' tables and, below them, whether training fits and on how many devices."""
    from rich.console import Group

    from ..render.counts import _bytes

    margin = verdict["margin"]
    word = (f"fits in {_bytes(verdict['limit'])} per device ({_bytes(margin)} to spare)"
            if verdict["fits"] else
            f"does not fit in {_bytes(verdict['limit'])} per device (short by "
            f"{_bytes(-margin)})")
    devices = verdict["devices_that_fit"]
    more = (f"; it fits on {devices:,} device{'s' if devices > 1 else ''} at this ZeRO stage"
            if devices is not None
            else "; no number of devices fits at this ZeRO stage")
    # the view's own parts, not the view inside another group: a nested group measures its
    # tables narrower, and rich would cut their numbers short
    return Group(*view.renderables, ("fine-tuning " if tuning else "training ") + word + more)
