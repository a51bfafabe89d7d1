"""Plot files (PNG, PDF, SVG) through matplotlib, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ParamcalcError
from ..files import atomic_write


def _pyplot(why: str) -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ParamcalcError(f"{why} needs matplotlib: pip install 'paramcalc[plot]'") from None
    return plt


#: the image formats a plot is written in, by file suffix
IMAGE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def check_image_format(path: str | Path, flag: str) -> str:
    """The format a plot file's suffix names; any other suffix is refused before work starts."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise ParamcalcError(f"{flag} {path}: paramcalc writes {', '.join(IMAGE_FORMATS)} files; "
                             f"give one of those suffixes (got {suffix or 'none'!r})")
    return IMAGE_FORMATS[suffix]


def image_training(history: Sequence[Any], path: str | Path, title: str) -> None:
    """A plot of loss and accuracy per epoch, in the format its suffix names, written
    atomically."""
    image_format = check_image_format(path, "--plot")
    plt = _pyplot("--plot")
    epochs = [e.epoch for e in history]
    fig, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
    loss_axis.plot(epochs, [e.loss for e in history], color="tab:red")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("cross-entropy loss", color="tab:red")
    loss_axis.set_yscale("log")
    accuracy_axis = loss_axis.twinx()
    accuracy_axis.plot(epochs, [e.accuracy for e in history], color="tab:blue")
    accuracy_axis.set_ylabel("training accuracy", color="tab:blue")
    accuracy_axis.set_ylim(0, 1.02)
    loss_axis.set_title(title)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format=image_format))
    plt.close(fig)


#: the y axis's label for each quantity a plot draws
Y_LABELS = {"ratio": "blocks ÷ head", "total": "total parameters",
            "active": "active parameters per token"}


def y_label(name: str) -> str:
    """The y axis's label: the parameter counts', or the compute quantity's own description."""
    from ..compute import QUANTITIES

    return Y_LABELS.get(name) or QUANTITIES.get(name, name)


def image_curves(curves: Any, path: str | Path, title: str) -> None:
    """One curve per head, crossover points marked, log-scaled y; in the format the suffix
    names, written atomically. A curve joins its valid points; one of millions of points is
    drawn through a few thousand spread along it (an image has 800 pixels across)."""
    from .planning import NOTED, crossover_notes, drawn, more_crossovers

    image_format = check_image_format(path, "--out")
    plt = _pyplot("a plot file (use --terminal to draw in the terminal)")
    fig, axis = plt.subplots(figsize=(8, 5), dpi=100)
    for head, y in curves.y.items():
        xs, ys = drawn(curves.x, y)
        axis.plot(xs, ys, label=head if len(ys) else f"{head} (∞, not drawn)", linewidth=1.6)
    marked = curves.crossovers[:NOTED]
    for number, c in enumerate(marked, start=1):
        axis.plot([c.x], [c.y], marker="x", color="black", markersize=7)
        axis.annotate(str(number), (c.x, c.y), textcoords="offset points", xytext=(3, 5),
                      fontsize=8)
    notes = [f"{number}: {note}" for number, note in
             enumerate(crossover_notes(curves, y=False), start=1)] + more_crossovers(curves)
    axis.set_yscale("log")
    axis.set_xlabel(curves.x_name)
    axis.set_ylabel(y_label(curves.y_name))
    axis.set_title(title)
    axis.grid(True, which="major", alpha=0.3)
    axis.legend(fontsize=8)
    if notes:
        fig.text(0.01, 0.01, "crossovers — " + ";  ".join(notes), fontsize=7, wrap=True,
                 va="bottom")
        fig.tight_layout(rect=(0, 0.04 * (1 + len(notes) // 3), 1, 1))
    else:
        fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format=image_format))
    plt.close(fig)
