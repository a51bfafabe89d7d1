"""Sizes and context lengths as people write them: ``24GiB``, ``80 GB``, ``128K``. Parsed with
a regular expression and exact fractions, never evaluated as code; every value is bounded.

Memory: a unit is required beyond plain bytes, and it says which kind it is: ``KB MB GB TB PB``
are powers of 10 (what disk and HBM vendors print), ``KiB MiB GiB TiB PiB`` powers of 2 (what
nvidia-smi and the allocators count). A bare ``G`` or ``M`` is refused rather than guessed.
Units are read case-insensitively. A fraction of a byte is dropped (``1.3GiB`` is
1,395,864,371 bytes): a memory limit is never rounded up.

Contexts: ``K`` is 1,024 and ``M`` is 1,048,576, in either case: a "128K" context is the
131,072 positions of Llama 3.1's ``max_position_embeddings``, as model cards and llama.cpp's
context sizes count it (vLLM's ``--max-model-len`` reads ``128K`` the same way; only its
lower-case ``128k`` means 128,000, a distinction paramcalc does not make). Totals of training
tokens keep decimal suffixes (``300B``, ``1.4T``: ``paramcalc.plan.parse_tokens``), as data
sets are quoted.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .errors import ConfigError

#: the largest memory size accepted: 1 EiB, beyond any machine
MAX_BYTES = 2**60
#: the longest context accepted, as the configuration bounds every size (spec.MAX_SIZE)
MAX_CONTEXT = 2**40

#: bytes per unit, keyed by the lower-case unit
MEMORY_UNITS: dict[str, int] = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
}
#: positions per suffix of a context length, keyed by the lower-case suffix
CONTEXT_UNITS: dict[str, int] = {"": 1, "k": 2**10, "m": 2**20}

# digits with an optional decimal part, then an optional unit; input longer than this is refused
# before the regular expression sees it
_MAX_TEXT = 64
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)$")


def _quantity(text: str | int, what: str, example: str) -> tuple[Fraction, str, str]:
    """The number, its digits and the lower-case unit of ``text``, or one line saying what is
    wrong."""
    if isinstance(text, bool):
        raise ConfigError(f"{what} must be a number, got {text!r}")
    if isinstance(text, int):
        if text <= 0:
            raise ConfigError(f"{what} must be positive, got {text:,}" if text.bit_length() < 64
                              else f"{what} must be positive")
        if text.bit_length() > 64:  # str() of a huge integer is slow: do not print it
            raise ConfigError(f"{what} is out of range (an integer of {text.bit_length()} bits)")
        return Fraction(text), str(text), ""
    cleaned = text.strip().replace("_", "").replace(",", "")
    if len(cleaned) > _MAX_TEXT:
        raise ConfigError(f"{what} {text[:20]!r}… is too long to be a size; write e.g. {example}")
    match = _QUANTITY.match(cleaned)
    if not match:
        raise ConfigError(f"malformed {what} {text!r}; write a positive number, e.g. {example}")
    number, unit = match.groups()
    value = Fraction(number)
    if value <= 0:
        raise ConfigError(f"{what} must be positive, got {text!r}")
    return value, number, unit.lower()


def parse_memory(text: str | int, what: str = "memory") -> int:
    """Bytes from ``24GiB``, ``80GB``, ``80 GB``, ``1.5TiB`` or a plain number of bytes.

    Raises ``ConfigError`` (one line) for zero, negative, malformed or out-of-range input."""
    value, number, unit = _quantity(text, what, "24GiB, 80GB or 1.5TiB")
    if unit not in MEMORY_UNITS:
        prefix = unit.upper()
        hint = (f"; say {number}{prefix}B (powers of 10) or {number}{prefix}iB (powers of 2)"
                if unit in ("k", "m", "g", "t", "p") else "")
        raise ConfigError(f"unknown unit {unit!r} in {what} {text!r}{hint}; units: B, KB, MB, "
                          "GB, TB, PB (powers of 10), KiB, MiB, GiB, TiB, PiB (powers of 2)")
    size = value * MEMORY_UNITS[unit]
    if size > MAX_BYTES:
        raise ConfigError(f"{what} {text!r} is more than 2**60 bytes (1 EiB); nothing is that big")
    if size < 1:
        raise ConfigError(f"{what} {text!r} is less than one byte")
    return int(size)  # a fraction of a byte is dropped: a limit is never rounded up


def parse_context(text: str | int, what: str = "context") -> int:
    """Token positions from ``128K`` (131,072), ``32k``, ``1M`` (1,048,576) or ``8192``.

    Raises ``ConfigError`` (one line) for zero, negative, malformed, fractional or
    out-of-range input."""
    value, _, unit = _quantity(text, what, "8192, 32K or 128K")
    if unit not in CONTEXT_UNITS:
        raise ConfigError(f"unknown suffix {unit!r} in {what} {text!r}; write a number of "
                          "tokens with an optional K (1,024) or M (1,048,576), e.g. 128K")
    tokens = value * CONTEXT_UNITS[unit]
    if tokens.denominator != 1:
        raise ConfigError(f"{what} {text!r} is not a whole number of tokens "
                          f"({float(tokens):,.1f})")
    if tokens > MAX_CONTEXT:
        raise ConfigError(f"{what} {text!r} is more than 2**40 ({MAX_CONTEXT:,}) tokens")
    return int(tokens)


def parse_count(text: str | int, what: str, limit: int = MAX_CONTEXT) -> int:
    """A plain positive whole number (a batch size, a number of devices), at most ``limit``."""
    value, _, unit = _quantity(text, what, "8")
    if unit or value.denominator != 1:
        raise ConfigError(f"{what} must be a positive whole number, got {text!r}")
    if value > limit:
        raise ConfigError(f"{what} {text!r} is more than {limit:,}")
    return int(value)
