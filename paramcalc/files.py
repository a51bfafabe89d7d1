"""Writing files the user asked for, atomically: nothing half-written, nothing lost."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import ParamcalcError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write through a temporary file beside ``path``, then rename it over ``path``.

    An existing file at ``path`` stays whole until the new one is complete.
    """
    path = Path(path)
    check_destination(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_destination(path: str | Path) -> None:
    """Fail early, before long work, when ``path`` cannot be written."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ParamcalcError(f"cannot write {path}: folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise ParamcalcError(f"cannot write {path}: it is a directory")
