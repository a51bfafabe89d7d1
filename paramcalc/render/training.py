"""verify: the progress on stderr, the report and its JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any



if TYPE_CHECKING:  # rich is imported where a table is drawn: --json output never needs it
    from rich.console import Group

from . import console, literal


@contextmanager
def training_progress(max_epochs: int, quiet: bool = False, plain: bool = False
                      ) -> Iterator[tuple[Callable[[Any], None], Callable[[], None]]]:
    """Progress on stderr while training; yields the callbacks the trainer calls after each
    epoch and on Ctrl-C. A bar on a terminal; elsewhere (a pipe, a log, or ``plain`` for
    --json) a plain line every few seconds. ``quiet``: nothing."""
    import sys
    import time

    screen = console(stderr=True)

    def stopped() -> None:
        if not quiet:
            screen.print("interrupted: evaluating the model as it is, then the report …")

    if quiet:
        yield (lambda epoch: None), stopped
        return
    if plain or not sys.stderr.isatty():
        last = [time.monotonic()]

        def line(epoch: Any) -> None:
            now = time.monotonic()
            if now - last[0] >= 3 or epoch.epoch in (1, max_epochs):
                last[0] = now
                print(f"training: epoch {epoch.epoch:,}/{max_epochs:,}, loss {epoch.loss:.4f}, "
                      f"accuracy {epoch.accuracy:.1%}, {epoch.seconds:.1f} s", file=sys.stderr,
                      flush=True)

        yield line, stopped
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]training"), BarColumn(),
                        TextColumn("epoch {task.completed}/{task.total}"),
                        TextColumn("loss {task.fields[loss]}"),
                        TextColumn("accuracy {task.fields[accuracy]}"), TimeElapsedColumn(),
                        console=screen, transient=False)
    task = progress.add_task("training", total=max_epochs, loss="–", accuracy="–")

    def on_epoch(epoch: Any) -> None:
        progress.update(task, completed=epoch.epoch, loss=f"{epoch.loss:.4f}",
                        accuracy=f"{epoch.accuracy:.1%}")

    with progress:
        yield on_epoch, stopped


def printable(data: bytes) -> str:
    """Bytes as text, one convention for all that is not printable: control characters as
    the log shows them (\\u001c), bytes that are not UTF-8 as \\xff."""
    text = data.decode("utf-8", errors="surrogateescape")
    out = []
    for c in text:
        if 0xDC80 <= ord(c) <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c.isprintable() or c == " ":
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04x}")
    return "".join(out)


def verify_json(name: str, config: Any, data: Any, result: Any, prompt: str,
                sample: Any) -> dict[str, Any]:
    """The ``verify`` object of the JSON contract (README.md, Commands)."""
    return {
        "name": name,
        "config": config.to_dict(),
        "memorized": result.memorized,
        "reason": result.reason,
        "epochs": result.epochs,
        "seconds": result.seconds,
        "samples": len(data.train),
        "conflicting": data.conflicting,
        "achievable_accuracy": data.achievable_accuracy,
        "min_learnable_confidence": result.min_learnable_confidence,
        "train": result.train.to_dict(),
        "test": result.test.to_dict(),
        "prompt": printable(prompt.encode("utf-8", "surrogateescape")),
        "sample": printable(sample.data),
        "sample_stopped": sample.stopped,
        "history": [{"epoch": e.epoch, "loss": e.loss, "accuracy": e.accuracy,
                     "seconds": e.seconds} for e in result.history],
    }


def verify_view(name: str, data: Any, result: Any, options: Any, prompt: str, sample: Any,
                device: str) -> Group:
    """The verdict, the log's statistics on train and test windows, and a sampled continuation;
    ``name`` is the header's, inert text already (render.label)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    windows = len(data.train)
    if result.memorized:
        how = (f"in {result.epochs:,} epochs, {result.seconds:.1f} s on {device}"
               if result.epochs else "(a loaded checkpoint, not trained here)")
        verdict = Text(f"✓ memorized {windows:,} windows of {literal(data.source)} {how}: every learnable "
                       f"window has p(next byte) ≥ {options.min_confidence:g}", style="bold green")
    else:
        verdict = Text(f"✗ not memorized after {result.epochs:,} epochs, {result.seconds:.1f} s on "
                       f"{device}: {result.reason}; the least sure learnable window has p(next "
                       f"byte) = {result.min_learnable_confidence:.3f} < {options.min_confidence:g}",
                       style="bold red")
    conflicts = Text(f"{data.conflicting:,} of {windows:,} training windows share their context "
                     f"with a different next byte; the achievable training accuracy is "
                     f"{data.achievable_accuracy:.1%}")
    table = Table(title=f"{name}: confidence = the highest next-byte probability",
                  title_justify="left")
    for heading in ("set", "windows", "accuracy", "loss", "confidence mean", "min", "max"):
        table.add_column(heading, justify="left" if heading == "set" else "right")
    for label, stats in (("train", result.train), ("test", result.test)):
        table.add_row(label, f"{stats.windows:,}", f"{stats.accuracy:.1%}", f"{stats.loss:.4f}",
                      f"{stats.confidence_mean:.3f}", f"{stats.confidence_min:.3f}",
                      f"{stats.confidence_max:.3f}")
    continuation = Text.assemble(("prompt: ", "bold"),
                                 printable(prompt.encode("utf-8", "surrogateescape")), "\n",
                                 ("output: ", "bold"), printable(sample.data))
    parts: list[Any] = [verdict, conflicts, table, continuation]
    if sample.stopped:
        parts.append(Text(f"(sampling stopped early: {sample.stopped})"))
    return Group(*parts)
