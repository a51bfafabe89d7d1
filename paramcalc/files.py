"""Writing files the user asked for, atomically: nothing half-written, nothing lost."""

from __future__ import annotations

import os
import stat
import sys
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
    info = check_destination(path)
    try:
        mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask()
        fd, temporary = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise ParamcalcError(f"cannot write {path}: {_reason(error)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ParamcalcError(f"cannot write {path}: {_reason(error)}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _prefix(path: Path) -> str:
    """The start of a temporary file's name beside ``path``: a name near the file system's
    limit (255 bytes) must not push the temporary one past it."""
    return f".{path.name[:100]}."


def _reason(error: OSError) -> str:
    """What the system said, in words (an OSError raised without an errno has none)."""
    return error.strerror or str(error)


def _stat(path: Path) -> os.stat_result | None:
    """``path``'s status, None where nothing is there; any other refusal (a name too long, a
    file where a folder should be, no permission) is an error naming the path and why."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ParamcalcError(f"cannot write {path}: {_reason(error)}") from None


def check_destination(path: str | Path) -> os.stat_result | None:
    """Fail early, before long work, when ``path`` cannot be written or is not a file: a
    device, a FIFO or a folder is never replaced, and the folder must take a new file.
    Returns the status of the file there, if any."""
    path = Path(os.path.realpath(path))
    folder = _stat(path.parent)
    if folder is None:
        raise ParamcalcError(f"cannot write {path}: folder {str(path.parent)!r} does not exist")
    if not stat.S_ISDIR(folder.st_mode):
        raise ParamcalcError(f"cannot write {path}: {str(path.parent)!r} is a file, not a folder")
    info = _stat(path)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ParamcalcError(f"cannot write {path}: it is a directory")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ParamcalcError(f"cannot write {path}: it is not a regular file (a device, a FIFO "
                             "or a socket), and paramcalc writes only files")
    try:  # the rename needs a new file beside the old one: try making one
        fd, probe = tempfile.mkstemp(prefix=_prefix(path), suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ParamcalcError(f"cannot write {path}: {_reason(error)} (in {path.parent})") from None
    if info is not None and not os.access(path, os.W_OK):
        raise ParamcalcError(f"cannot write {path}: it is read-only")
    return info


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


def stat_input(path: str | Path, what: str) -> os.stat_result:
    """An input's status; a missing one, or one the system refuses to look at (a name too
    long, a file where a folder should be), is one error naming the path and why."""
    path = Path(path)
    try:
        return path.stat()
    except FileNotFoundError:
        raise ParamcalcError(f"{what} {str(path)!r} does not exist") from None
    except OSError as error:
        raise ParamcalcError(f"cannot read {what} {str(path)!r}: {_reason(error)}") from None


#: the largest input file read whole (a config.json or preset is a few kilobytes)
MAX_INPUT_BYTES = 4 * 2**20


def read_input(path: str | Path, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a small input file, refused cheaply when it cannot be one.

    Only a regular file is opened (a FIFO would block and a device never end), and no more
    than ``limit`` bytes are read.
    """
    path = Path(path)
    info = stat_input(path, what)
    if stat.S_ISDIR(info.st_mode):
        raise ParamcalcError(f"{what} {str(path)!r} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ParamcalcError(f"{what} {str(path)!r} is not a regular file")
    if info.st_size > limit:
        raise ParamcalcError(f"{what} {str(path)!r} is {info.st_size:,} bytes; files larger than "
                             f"{limit // 2**20} MiB are refused{_hint(what)}")
    try:
        with path.open("rb") as f:
            # a mebibyte at a time: read(n) sets n bytes aside, however few the file holds
            blocks = bytearray()
            while len(blocks) <= limit:
                block = f.read(min(2**20, limit + 1 - len(blocks)))
                if not block:
                    break
                blocks += block
            data = bytes(blocks)
    except OSError as error:
        raise ParamcalcError(f"cannot read {what} {str(path)!r}: {_reason(error)}") from None
    if len(data) > limit:
        raise ParamcalcError(f"{what} {str(path)!r} is larger than {limit // 2**20} MiB; "
                             f"refused{_hint(what)}")
    return data


#: the largest training corpus read; PARAMCALC_MAX_CORPUS_MB raises it, up to a tebibyte
MAX_CORPUS_BYTES = 64 * 2**20
MAX_CORPUS_MB = 2**20


#: the most PARAMCALC_MAX_CORPUS_MB may raise the bound to: 1 TiB
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


def load_json(raw: bytes, path: str | Path) -> Any:
    """A JSON file's value; anything that is not JSON paramcalc can read is one error naming
    the file: not UTF-8, malformed (with line and column), nested too deeply, an integer of
    more digits than Python reads, or a lone surrogate (an escaped half of a character, which
    no output can print)."""
    import json

    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ParamcalcError(f"{path}: not UTF-8 text, so not a config.json") from None
    except json.JSONDecodeError as error:
        raise ParamcalcError(f"{path}:{error.lineno}:{error.colno}: malformed JSON: "
                             f"{error.msg}") from None
    except RecursionError:
        raise ParamcalcError(f"{path}: malformed JSON: nested too deeply") from None
    except ValueError:  # int() refuses to read thousands of digits
        raise ParamcalcError(f"{path}: a number of more than "
                             f"{sys.get_int_max_str_digits():,} digits; every size is at "
                             "most 2**40") from None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        bad = error.object[error.start:error.end]
        raise ParamcalcError(f"{path}: holds a lone surrogate ({ascii(bad)[1:-1]}), half of "
                             "a character, which is not text") from None
    except RecursionError:
        raise ParamcalcError(f"{path}: malformed JSON: nested too deeply") from None
    return data
