"""What planning aims at and moves: budgets and ratio targets parsed (never evaluated as
code), hyperparameter names, the bounds of a sweep, and the defaults that follow a varied
hyperparameter."""

from __future__ import annotations

import re
from fractions import Fraction
from collections.abc import Iterable
from typing import Any

import sympy as sp

from ..defaults import DEFAULTS, default_of
from ..errors import SolveError
from ..spec import MAX_SIZE, ModelConfig
from ..symbols import NAMES, SYMBOLS, lookup


_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9, "t": 10**12}
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)(?:[eE]\+?(\d+))?([kKmMgGbBtT]?)$")

#: the largest budget or ratio target: beyond it no model is meant, and exact arithmetic on
#: the number would be slow
MAX_TARGET = 10**100
#: the most points a sweep or a plot evaluates (each head design counts them again)
MAX_POINTS = 20_000_000
#: the largest value a sweep may give a hyperparameter (any size's bound): counts are int64
MAX_VALUE = MAX_SIZE
#: the most digits a budget or a ratio target is read with: 1e100 has 101, and Python's int()
#: refuses to read more than 4,300
_MAX_DIGITS = 200


def quoted(text: str) -> str:
    """The user's text in a message: whole when short, else its start and its length."""
    if len(text) <= 200:
        return repr(text)
    return f"{text[:40]!r}… ({len(text):,} characters)"


def parse_budget(text: str, what: str = "parameters", name: str = "budget") -> int:
    """A parameter budget: 250k, 1M, 1.5G, 2e9, 1_000_000 (k, M, G or B, T in either case).
    ``what`` and ``name`` word the errors for other amounts (FLOPs, tokens). Never evaluated
    as code."""
    match = _NUMBER.match(text.strip().replace("_", ""))
    shown = quoted(text)
    if not match:
        raise SolveError(f"malformed {name} {shown}; write a positive number with an optional "
                         "k, M, G (or B) or T suffix, e.g. 1M, 1.5G or 3e23")
    mantissa, exponent, suffix = match.groups()
    too_big = f"{name} {shown} is larger than 1e100 {what}; nothing is that big"
    whole, _, fraction = mantissa.partition(".")
    if len(exponent or "") > 3 or int(exponent or 0) > 100 or len(whole.lstrip("0")) > 101:
        raise SolveError(too_big)
    # past 1e112 (the largest exponent and suffix), a fraction's digits cannot all be whole
    fraction = fraction.rstrip("0")
    if len(fraction) > 112:
        raise SolveError(f"{name} {shown} must be a positive whole number of {what}")
    value = Fraction(f"{whole or 0}.{fraction or 0}") * 10 ** int(exponent or 0) * \
        _SUFFIXES[suffix.lower()]
    if value > MAX_TARGET:
        raise SolveError(too_big)
    if value.denominator != 1 or value <= 0:
        raise SolveError(f"{name} {shown} must be a positive whole number of {what}")
    return int(value)


def parse_flops(text: str) -> int:
    """A FLOP budget: 1e24, 3.2e23, 6e21 (never evaluated as code)."""
    return parse_budget(text, "FLOPs", "FLOP budget")


def parse_tokens(text: str) -> int:
    """A number of training tokens: 300B, 1.4T, 2e12 (never evaluated as code)."""
    return parse_budget(text, "tokens", "token count")


def parse_ratio(text: str) -> Fraction:
    """A ratio target: 1, 0.5, 1/8. Never evaluated as code."""
    cleaned = text.strip()
    shown = quoted(text)
    out_of_range = f"ratio target {shown} is out of range: write one between 1e-100 and 1e100"
    exponent = re.search(r"[eE][+-]?(\d+)", cleaned)
    if exponent and int(exponent.group(1)[:4]) > 100:
        raise SolveError(out_of_range)
    if sum(c.isdigit() for c in cleaned) > _MAX_DIGITS:
        raise SolveError(f"ratio target {shown} has more than {_MAX_DIGITS} digits; write one "
                         "between 1e-100 and 1e100, such as 1, 0.5 or 1/8")
    try:
        value = Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        raise SolveError(f"malformed ratio {shown}; write a number such as 1, 0.5 or 1/8") from None
    if value <= 0:
        raise SolveError(f"ratio target must be positive, got {shown}")
    if not Fraction(1, MAX_TARGET) <= value <= MAX_TARGET:
        raise SolveError(out_of_range)
    return value


def symbol_for(name: str, option: str) -> sp.Symbol:
    """The symbol for a hyperparameter name or letter; an unknown one lists the known ones."""
    symbol = lookup(name)
    if symbol is None:
        raise SolveError(f"unknown hyperparameter {name!r} in {option}; choose one of: "
                         f"{', '.join(SYMBOLS)} (or their symbols)")
    return symbol


def follow(config: ModelConfig, values: dict[str, Any], varied: set[str],
           symbolic: bool = False) -> None:
    """Let the defaults that follow a varied hyperparameter follow it in ``values``.

    Every size of ``defaults.DEFAULTS`` (and the heads' width) that was neither given nor
    varied itself, and whose default is written in a size that moves, takes its default at
    the new values: d_ff = 4·d_model, n_positions = seq_length, n_kv_heads = n_heads,
    expert_d_ff = d_ff, shared_d_ff = expert_d_ff, head_width = d_model/8 and so on. In
    symbolic use a default with a floor (d/8) is left out: the polynomials would not survive.
    """
    fixed = set(dict(config.given)) | set(varied)  # a size given or varied keeps its own value
    moving = set(varied)
    for name in (*DEFAULTS, "head_width"):
        if name in fixed or getattr(config, name) is None:
            continue
        expr = default_of(config, name)
        follows = {NAMES[s] for s in expr.free_symbols}
        if not follows & moving:
            continue
        whole = not expr.has(sp.floor, sp.Max)
        if symbolic:
            if whole:
                values[name] = expr.xreplace({SYMBOLS[m]: values[m] for m in follows})
                moving.add(name)
            continue
        import numpy as np

        args = [values[m] for m in sorted(follows)]
        function = sp.lambdify([SYMBOLS[m] for m in sorted(follows)], expr, modules="numpy")
        values[name] = np.asarray(function(*args)).astype(np.int64)
        moving.add(name)


def giving(config: ModelConfig, names: Iterable[str]) -> ModelConfig:
    """``config`` with the sizes in ``names`` given at their current values.

    A size left to its default is written through what it follows (n_kv_heads = n_heads,
    head_dim = d_model/n_heads), so its own symbol is not in the formulas; a size that is
    varied or solved for must be its own symbol.
    """
    return config.replace(**{name: getattr(config, name) for name in names
                             if getattr(config, name) is not None})


def _linked(config: ModelConfig, x: sp.Symbol) -> dict[sp.Symbol, sp.Expr]:
    """The symbols that follow ``x``, as expressions in ``x``."""
    values: dict[str, Any] = dict(SYMBOLS)
    follow(config, values, {NAMES[x]}, symbolic=True)
    return {SYMBOLS[name]: value for name, value in values.items() if value != SYMBOLS[name]}

