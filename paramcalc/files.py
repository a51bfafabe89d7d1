"""Writing files the user asked for, atomically: nothing half-written, nothing lost."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import ParamcalcError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write through a temporary file beside ``path``, then rename it over ``path``.

    An existing file at ``path`` stays whole until the new one is complete and keeps its
    mode; a new file gets the mode the umask gives. A symbolic link is written through, to
    the file it points to, not replaced.
    """
    path = Path(os.path.realpath(path))
    check_destination(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise ParamcalcError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ParamcalcError(f"cannot write {path}: {error.strerror}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_destination(path: str | Path) -> None:
    """Fail early, before long work, when ``path`` cannot be written or is not a file: a
    device, a FIFO or a folder is never replaced, and the folder must take a new file."""
    path = Path(os.path.realpath(path))
    if not path.parent.is_dir():
        raise ParamcalcError(f"cannot write {path}: folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise ParamcalcError(f"cannot write {path}: it is a directory")
    if path.exists() and not path.is_file():
        raise ParamcalcError(f"cannot write {path}: it is not a regular file (a device, a FIFO "
                             "or a socket), and paramcalc writes only files")
    try:  # the rename needs a new file beside the old one: try making one
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ParamcalcError(f"cannot write {path}: {error.strerror} (in {path.parent})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise ParamcalcError(f"cannot write {path}: it is read-only")


def check_outputs(outputs: dict[str, Path | None], inputs: dict[str, Path | None]) -> None:
    """Every output is writable, none is also an input or another output: ``--save c.txt
    --data c.txt`` would destroy the corpus."""
    given_inputs = {flag: Path(os.path.realpath(p)) for flag, p in inputs.items() if p is not None}
    seen: dict[Path, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        real = Path(os.path.realpath(path))
        for input_flag, source in given_inputs.items():
            if real == source:
                raise ParamcalcError(f"{flag} {path} is also {input_flag}: writing it would "
                                     "destroy the input; choose another file")
        if real in seen:
            raise ParamcalcError(f"{seen[real]} and {flag} name the same file {path}; one would "
                                 "overwrite the other")
        seen[real] = flag
        check_destination(real)


#: the largest input file read whole (a config.json or preset is a few kilobytes)
MAX_INPUT_BYTES = 4 * 2**20


def read_input(path: str | Path, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a small input file, refused cheaply when it cannot be one.

    Only a regular file is opened (a FIFO would block and a device never end), and no more
    than ``limit`` bytes are read.
    """
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
                             f"{limit // 2**20} MiB are refused{_hint(what)}")
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as error:
        raise ParamcalcError(f"cannot read {what} {str(path)!r}: {error.strerror}") from None
    if len(data) > limit:
        raise ParamcalcError(f"{what} {str(path)!r} is larger than {limit // 2**20} MiB; "
                             f"refused{_hint(what)}")
    return data


#: the largest training corpus read; PARAMCALC_MAX_CORPUS_MB raises it, up to a tebibyte
MAX_CORPUS_BYTES = 64 * 2**20
MAX_CORPUS_MB = 2**20


def corpus_limit() -> int:
    """The corpus size bound: PARAMCALC_MAX_CORPUS_MB MiB when it is set, else 64 MiB. A value
    that is not a whole number from 1 to 1,048,576 is refused, never ignored."""
    text = os.environ.get("PARAMCALC_MAX_CORPUS_MB", "").strip()
    if not text:
        return MAX_CORPUS_BYTES
    if not (text.isascii() and text.isdigit() and len(text) <= 7
            and 1 <= int(text) <= MAX_CORPUS_MB):
        shown = text if len(text) <= 20 else f"{text[:20]}… ({len(text):,} characters)"
        raise ParamcalcError(f"PARAMCALC_MAX_CORPUS_MB must be a whole number of MiB from 1 to "
                             f"{MAX_CORPUS_MB:,}, got {shown!r}")
    return int(text) * 2**20


def _hint(what: str) -> str:
    return " (set PARAMCALC_MAX_CORPUS_MB to raise the bound)" if what == "corpus file" else ""
