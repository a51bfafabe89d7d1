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


#: the largest input file read whole (a config.json or preset is a few kilobytes)
MAX_INPUT_BYTES = 4 * 2**20


def read_input(path: str | Path, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a small input file, refused cheaply when it cannot be one.

    Only a regular file is opened (a FIFO would block and a device never end), and no more
    than ``limit`` bytes are read.
    """
    import stat

    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ParamcalcError(f"{what} {str(path)!r} does not exist") from None
    except OSError as error:
        raise ParamcalcError(f"cannot read {what} {str(path)!r}: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ParamcalcError(f"{what} {str(path)!r} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ParamcalcError(f"{what} {str(path)!r} is not a regular file")
    if info.st_size > limit:
        raise ParamcalcError(f"{what} {str(path)!r} is {info.st_size:,} bytes; files larger than "
                             f"{limit // 2**20} MiB are refused")
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as error:
        raise ParamcalcError(f"cannot read {what} {str(path)!r}: {error.strerror}") from None
    if len(data) > limit:
        raise ParamcalcError(f"{what} {str(path)!r} is larger than {limit // 2**20} MiB; refused")
    return data
