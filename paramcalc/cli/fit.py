"""Will it fit: the fit command."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from .. import gpus
from ..errors import ParamcalcError
from ..fit import KV_DTYPES, Serving, default_weights, fit as fit_model
from ..presets import Preset
from ..render import fit as render_fit
from ..units import parse_context, parse_count, parse_memory

from . import JsonFlag, _print, app, model_options

_SERVING = "Serving"
_DEVICE = "Device"

KvDtype = Enum("KvDtype", {name: name for name in KV_DTYPES}, type=str)  # type: ignore[misc]


@app.command()
@model_options(optional=True)
def fit(
    model: Preset | None,
    context: Annotated[str | None, typer.Option(
        help="tokens of context per sequence: 8192, 32K, 128K [seq_length]",
        rich_help_panel=_SERVING)] = None,
    batch_size: Annotated[str, typer.Option(
        help="sequences served at once", rich_help_panel=_SERVING)] = "1",
    weights_dtype: Annotated[str | None, typer.Option(
        help="weights format: bf16, fp8, int8, int4-g128, nf4, mxfp4, q4_k, … [the "
             "config.json's quantization_config, else bf16]", rich_help_panel=_SERVING)] = None,
    kv_dtype: Annotated[KvDtype, typer.Option(
        help="KV cache values: bf16, fp8, q8 (q8_0), q4 (q4_0)",
        rich_help_panel=_SERVING)] = KvDtype.bf16,  # type: ignore[attr-defined]
    tensor_parallel: Annotated[str, typer.Option(
        help="tensor-parallel devices T: weights and KV heads split, norms replicated",
        rich_help_panel=_SERVING)] = "1",
    gpu: Annotated[str | None, typer.Option(
        help="a device by name (case-insensitive): " + ", ".join(gpus.names()),
        rich_help_panel=_DEVICE)] = None,
    memory: Annotated[str | None, typer.Option(
        help="memory per device, e.g. 24GiB or 80GB (instead of --gpu)",
        rich_help_panel=_DEVICE)] = None,
    weights: Annotated[str | None, typer.Option(
        help="the checkpoint served: a safetensors file or folder, a GGUF file, or ORG/NAME "
             "(headers only); its own bytes are the weights, and its config.json (or GGUF "
             "metadata) the model unless one is given", rich_help_panel=_SERVING)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Serving memory per device and whether it fits.

    Weights, KV cache per kind of block, the prefill activation peak and a runtime reserve,
    with ∂memory/∂context; with --gpu or --memory, the verdict, the longest context, the
    largest batch and the most precise weights that fit."""
    if gpu is not None and memory is not None:
        raise ParamcalcError("give --gpu or --memory, not both")
    limit = (gpus.accelerator(gpu).memory if gpu is not None
             else parse_memory(memory, "--memory") if memory is not None else None)
    served = None
    if weights is not None:
        if weights_dtype is not None:
            raise ParamcalcError("--weights serves the checkpoint's own bytes: drop "
                                 "--weights-dtype")
        from ..placing import check_weights, model_for

        model, model_type, checkpoint = model_for(model, weights)
        served = check_weights(model.config, checkpoint, model_type)
    if model is None:
        from .. import presets

        model = presets.resolve()  # the error that says how to name a model
    hf = None
    if model.hf_config is not None:
        from ..files import load_json

        hf = load_json(model.hf_config.read_bytes(), model.hf_config)
    dtype = weights_dtype or default_weights(hf if isinstance(hf, dict) else None) or "bf16"
    held = None
    if served is not None:
        dtype = "checkpoint"
        norms = sum(p.nbytes for p in served.parts if p.component in ("blocks.norms",
                                                                        "final_norm"))
        held = (norms, served.checkpoint.nbytes - norms)
    serving = Serving(
        context=parse_context(context, "--context") if context is not None
        else model.config.seq_length,
        batch_size=parse_count(batch_size, "--batch-size"), weights_dtype=dtype,
        kv_dtype=kv_dtype.value, tensor_parallel=parse_count(tensor_parallel,
                                                             "--tensor-parallel"),
        checkpoint_bytes=held)
    result = fit_model(model.config, serving)
    verdict = None if limit is None else result.verdict(limit)
    shown = model
    _print(as_json, lambda: render_fit.fit_json(shown, result, verdict, served),
           lambda: render_fit.fit_view(shown, result, verdict, served))
