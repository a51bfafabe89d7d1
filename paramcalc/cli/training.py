"""verify: train until the training windows are known by heart, then report."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .. import presets, render
from ..errors import ParamcalcError
from ..files import check_outputs
from ..presets import Preset

from . import JsonFlag, _print, app, model_options


Device = Enum("Device", {name: name for name in ("auto", "cpu", "cuda")}, type=str)  # type: ignore[misc]
_TRAIN = "Training"
_SAMPLE = "Sampling"


@app.command()
@model_options(optional=True)
def verify(
    model: Preset | None,
    data: Annotated[Path | None, typer.Option(
        help="corpus file, text or binary [the corpus shipped with paramcalc]",
        rich_help_panel=_TRAIN)] = None,
    samples: Annotated[int, typer.Option(help="training windows: the corpus's first N",
                                         rich_help_panel=_TRAIN)] = 432,
    max_epochs: Annotated[int, typer.Option(help="epoch budget", rich_help_panel=_TRAIN)] = 200,
    min_confidence: Annotated[float, typer.Option(
        help="stop once every learnable training window has p(next byte) at least this",
        rich_help_panel=_TRAIN)] = 0.97,
    lr: Annotated[float, typer.Option(help="Adam's learning rate", rich_help_panel=_TRAIN)] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="windows per step", rich_help_panel=_TRAIN)] = 64,
    seed: Annotated[int, typer.Option(help="same seed and device, same numbers",
                                      rich_help_panel=_TRAIN)] = 0,
    device: Annotated[Device, typer.Option(help="where to train", rich_help_panel=_TRAIN)] = "auto",  # type: ignore[assignment]
    prompt: Annotated[str, typer.Option(help="text to continue after training",
                                        rich_help_panel=_SAMPLE)] = "Il y a bien longtemps, dans un pays lointain, ",
    length: Annotated[int, typer.Option(help="bytes to sample", rich_help_panel=_SAMPLE)] = 200,
    temperature: Annotated[float, typer.Option(help="sampling temperature",
                                               rich_help_panel=_SAMPLE)] = 1.0,
    top_k: Annotated[int, typer.Option(help="sample among the k likeliest bytes (0: all)",
                                       rich_help_panel=_SAMPLE)] = 0,
    save: Annotated[Path | None, typer.Option(help="write a checkpoint (configuration and "
                                              "weights) here", rich_help_panel=_TRAIN)] = None,
    load: Annotated[Path | None, typer.Option(help="restore a checkpoint and report on it "
                                              "without training", rich_help_panel=_TRAIN)] = None,
    plot: Annotated[Path | None, typer.Option(help="write a PNG of loss and accuracy per epoch",
                                              rich_help_panel=_TRAIN)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Train until the model knows a data set by heart.

    Validate a configuration by overfitting: train on a small byte-level data set until the
    model knows it by heart, then report epochs, time, and the train/test confidence
    statistics of the research log. Without a model option it trains id6.

    Exit codes: 0 memorized, 1 not memorized, 2 bad input, 130 interrupted (after the report).
    """
    from .. import train as trainer

    trainer.check_request(samples, temperature, top_k, length)
    if plot is not None:
        render.check_image_format(plot, "--plot")
    check_outputs({"--save": save, "--plot": plot},
                  {"--data": data, "--load": load,
                   "the model file": model.path if model is not None else None})
    options = trainer.TrainOptions(max_epochs=max_epochs, min_confidence=min_confidence, lr=lr,
                                   batch_size=batch_size, seed=seed,
                                   device=device.value if isinstance(device, Enum) else device)
    if load is not None:
        config, name, title = None, load.stem, render.literal(load.stem)
    else:
        model = model or presets.from_name("id6")
        config, name, title = model.config, model.name, render.label(model)
    with render.training_progress(options.max_epochs, quiet or load is not None,
                                  as_json) as (on_epoch, on_stop):
        run = trainer.verify(config, name, options, data=data, samples=samples,
                             prompt=prompt.encode("utf-8", "surrogateescape"), length=length,
                             temperature=temperature, top_k=top_k, load=load, save=save,
                             on_epoch=on_epoch, on_stop=on_stop)
    result, sample, net, dataset = run.result, run.sample, run.model, run.dataset
    if plot is not None and result.history:
        render.image_training(result.history, plot, f"{name}: memorizing {samples:,} windows")
    _print(as_json, lambda: render.verify_json(name, net.config, dataset, result, prompt, sample),
           lambda: render.verify_view(title, dataset, result, options, prompt, sample, run.device.type))
    if plot is not None and not result.history:
        raise ParamcalcError("--plot has nothing to draw: no epoch was trained (nothing written)")
    if run.interrupted:
        raise typer.Exit(130)
    if not result.memorized:
        raise typer.Exit(1)


