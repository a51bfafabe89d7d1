"""Plot files (PNG, PDF, SVG) through matplotlib, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any


from ..errors import ParamcalcError
from ..files import atomic_write

if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    pass



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


def image_curves(curves: Any, path: str | Path, title: str) -> None:
    """One curve per head, crossover points marked, log-scaled y; in the format the suffix
    names, written atomically."""
    import numpy as np

    image_format = check_image_format(path, "--out")
    plt = _pyplot("a plot file (use --terminal to draw in the terminal)")
    fig, axis = plt.subplots(figsize=(8, 5), dpi=100)
    for head, y in curves.y.items():
        drawn = bool(np.isfinite(y).any())
        axis.plot(curves.x, y, label=head if drawn else f"{head} (∞, not drawn)", linewidth=1.6)
    notes = []
    for number, c in enumerate(curves.crossovers, start=1):
        axis.plot([c.x], [c.y], marker="x", color="black", markersize=7)
        axis.annotate(str(number), (c.x, c.y), textcoords="offset points", xytext=(3, 5),
                      fontsize=8)
        notes.append(f"{number}: {c.heads[0]} × {c.heads[1]} at {curves.x_name} ≈ {c.x:,.1f}")
    axis.set_yscale("log")
    axis.set_xlabel(curves.x_name)
    axis.set_ylabel({"ratio": "blocks ÷ head", "total": "total parameters",
                     "active": "active parameters per token"}[curves.y_name])
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
