"""solve: the best value of one hyperparameter for a target ratio, total or active count, in
exact integers at any size, within the bounds the other hyperparameters set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from ..errors import ConfigError, SolveError
from ..formulas import Budget, budget
from ..pattern import period
from ..defaults import bounds_for
from ..spec import MAX_SIZE, ModelConfig
from ..symbols import SYMBOLS
from ..symbols import NAMES

from .targets import _linked, giving, symbol_for


@dataclass(frozen=True)
class Solution:
    """The value of one hyperparameter that meets a target, checked by substitution."""

    name: str  # the hyperparameter solved for
    target: str  # "ratio >= 1" or "total <= 1,000,000"
    value: int | None  # None: unbounded, every value from ``unbounded_from`` on meets it
    achieved: Fraction | None  # the ratio or total at ``value``, by substitution
    neighbour: int | None  # the next valid value past the answer, which misses the target
    neighbour_achieved: Fraction | None
    config: ModelConfig
    equation: sp.Expr  # what sympy solved: y(x) - target
    roots: tuple[float, ...]  # its positive real roots
    unbounded_from: int | None = None
    at_bound: bool = False  # the answer is a validity bound: past it the target is still met


def _training_flops(b: Budget, tokens: int | None) -> sp.Expr:
    """A training run's FLOPs: the exact FLOPs per predicted token times D tokens, D given or
    Chinchilla's 20 per parameter."""
    from ..compute import CHINCHILLA_TOKENS_PER_PARAM, compute

    per_token = compute(b).per_token.exact
    return per_token * (tokens if tokens is not None
                        else CHINCHILLA_TOKENS_PER_PARAM * b.total.exact)


def solve(config: ModelConfig, name: str, *, ratio: Fraction | None = None,
          total: int | None = None, active: int | None = None, flops: int | None = None,
          tokens: int | None = None, law: str = "chinchilla-20") -> Solution:
    """The best value of ``name`` meeting ``ratio ≥ target``, ``total ≤ target`` or
    ``active ≤ target`` (the parameters a token passes through, for a mixture of experts).

    Best means the smallest value when larger values keep meeting the target (more blocks
    to reach a ratio), else the largest (the widest model within a budget).

    Args:
        config: the configuration whose other hyperparameters stay as they are.
        name: the hyperparameter to solve for (``num_blocks`` or ``n``).
        ratio: the least acceptable blocks ÷ head ratio.
        total: the parameter budget.
        active: the budget of active parameters per token.
        flops: the FLOP budget of a training run on ``tokens`` tokens (Chinchilla's 20 per
            parameter when not given): the largest value whose run fits it.
        law: with ``flops`` and no ``tokens``, the compute-optimal law that gives the run's
            tokens (``plan/laws.py``): chinchilla-20 keeps 20 per parameter, a fitted law
            its D_opt for the budget (in its 6·N·D convention).
    """
    if law != "chinchilla-20":  # a fitted law: the budget's optimal tokens, then as given
        from .laws import optimal

        if flops is None:
            raise SolveError("--law goes with --flops (the budget whose optimal tokens it "
                             "gives)")
        if tokens is None:
            tokens = max(1, round(float(optimal(law, float(flops))["tokens"] or 0)))
    if sum(target is not None for target in (ratio, total, active, flops)) != 1:
        raise SolveError("give one target: --ratio R, --total BUDGET, --active BUDGET or "
                         "--flops BUDGET")
    if tokens is not None and flops is None:
        raise SolveError("--tokens goes with --flops (the tokens of the run that spends it)")
    budget_of = "total" if active is None else "active"
    budget_of = "training FLOPs" if flops is not None else budget_of
    total = flops if flops is not None else total if active is None else active
    x = symbol_for(name, "--for")
    name = NAMES[x]
    if getattr(config, name) is None:
        raise SolveError(f"{name} does not apply to this configuration ({config.head} head, "
                         f"{config.block} blocks, {config.positional} positions)")
    config = giving(config, [name])
    b = budget(config)
    if ratio is not None:
        if b.ratio.exact is None:
            raise SolveError(f"every {name} meets ratio ≥ {ratio}: {b.ratio.note}; there is "
                             "nothing to solve")
        expr, target, wanted = b.ratio.exact, sp.Rational(ratio.numerator, ratio.denominator), "ge"
        label = f"ratio ≥ {ratio}"
    else:
        expr = (b.total.exact if budget_of == "total" else b.active.exact
                if budget_of == "active" else _training_flops(b, tokens))
        target, wanted = sp.Integer(total or 0), "le"
        label = (f"{budget_of} ≤ {total:,}" if flops is None else
                 f"training FLOPs ≤ {total:.4g} on "
                 f"{f'{tokens:,} tokens' if tokens else '20 tokens per parameter'}")
    quantity = "ratio" if ratio is not None else budget_of
    if x not in expr.free_symbols:
        raise SolveError(f"the {quantity} of this configuration does not depend on {name}")

    t = sp.Symbol("t", positive=True)
    fixed = {s: v for s, v in b.values.items() if s != x}
    curve = expr.xreplace(_linked(config, x)).xreplace(fixed).xreplace({x: t})

    def meets(value: int) -> bool:
        y = curve.xreplace({t: sp.Integer(value)})
        return bool(y >= target) if wanted == "ge" else bool(y <= target)

    equation = sp.together(curve - target)
    # real_roots() lists the roots in increasing order (sympy sorts their isolating intervals)
    exact_roots = [r for r in sp.Poly(sp.numer(equation), t).real_roots() if r > 0]
    roots = tuple(float(r) for r in exact_roots)

    every = period(config)

    def valid(value: int) -> bool:
        # an interleaved layer pattern's formulas hold at whole periods past its blocks
        if name == "num_blocks" and (value - config.num_blocks) % every:
            return False
        return _valid(config, name, value)

    # which way the answer lies: the smallest value for a quantity that grows toward the
    # target (more blocks to reach a ratio), the largest for one that grows away from it
    limit = sp.limit(curve, t, sp.oo)
    grows = bool(limit > curve.xreplace({t: sp.Integer(1)}))  # oo > any value: grows
    smallest = grows if wanted == "ge" else not grows
    low, high = _bounds(config, name)
    segments = _segments(exact_roots)
    found = _extremal(segments, meets, valid, smallest, low, high)
    if found is None:
        raise SolveError(f"no valid {name} meets {label}: "
                         f"{_why_not(curve, t, target, wanted, name, quantity)}")
    if found == "unbounded":
        return Solution(name, label, None, None, None, None, config, equation.xreplace({t: x}),
                        roots, unbounded_from=_first_meeting(segments, valid, low))
    value = int(found)
    outward = -1 if smallest else 1
    neighbour = next((v for v in range(value + outward, value + outward * 1000, outward)
                      if v >= 1 and valid(v)), None)

    def at(v: int) -> Fraction:
        """The check by substitution: the whole budget of the configuration with ``v``."""
        checked = budget(_with(config, name, v))
        if flops is not None:
            spent = checked.evaluate(_training_flops(checked, tokens))
            return Fraction(int(spent.p), int(spent.q))
        if ratio is None:
            return Fraction(checked.params[budget_of])
        y = checked.ratio.value  # finite: a head that owns nothing was turned away above
        return Fraction(int(y.p), int(y.q)) if y is not None else Fraction(0)

    achieved = at(value)
    if not (achieved >= ratio if ratio is not None else achieved <= (total or 0)):
        raise AssertionError(f"{name} = {value} fails {label} on substitution")  # a bug, not input
    # at a bound of the range the other hyperparameters allow, with the target still met past
    # it (a valid value past it that met the target would have been the answer)
    beyond = value + outward
    at_bound = value in (low, high, MAX_SIZE) and beyond >= 1 and meets(beyond)
    return Solution(name, label, value, achieved, neighbour,
                    None if neighbour is None else at(neighbour),
                    _with(config, name, value), equation.xreplace({t: x}), roots,
                    at_bound=at_bound)


def _with(config: ModelConfig, name: str, value: int) -> ModelConfig:
    """``config`` with ``name`` = ``value``; a default head_width is held, not re-derived."""
    pinned = {"head_width": config.head_width} if name == "d_model" else {}
    return config.replace(**pinned, **{name: value})


def _valid(config: ModelConfig, name: str, value: int) -> bool:
    try:
        _with(config, name, value)
    except ConfigError:
        return False
    return True


def _bounds(config: ModelConfig, name: str) -> tuple[int, int | None]:
    """The range of values of ``name`` that the other hyperparameters allow: the constraints
    of ``defaults.CONSTRAINTS`` with every other size at its value (a size that follows
    ``name`` left out: it moves with it), and the 2**40 that bounds every size."""
    x = SYMBOLS[name]
    following = set(_linked(config, x))
    values = {s: v for s, v in config.values().items() if s != x and s not in following}
    return bounds_for(config, x, values)


def _segments(roots: Sequence[sp.Expr]) -> list[tuple[int, int | None]]:
    """Runs of consecutive positive integers on which y − target keeps one sign: split at
    each root's floor, an integer root alone (y meets the target with equality there)."""
    cuts: list[tuple[int, int | None]] = []
    start = 1
    for root in roots:
        floor = int(sp.floor(root))
        if root.is_Integer:
            if start <= floor - 1:
                cuts.append((start, floor - 1))
            if floor >= start:
                cuts.append((floor, floor))
            start = max(start, floor + 1)
        elif floor >= start:
            cuts.append((start, floor))
            start = floor + 1
    cuts.append((start, None))
    return cuts


_SEARCH = 100_000  # values tried inside one run for a valid one before giving up


def _extremal(segments: list[tuple[int, int | None]], meets: Callable[[int], bool],
              valid: Callable[[int], bool], smallest: bool, low: int,
              high: int | None) -> int | str | None:
    """The smallest (or largest) valid integer meeting the target, in exact arithmetic;
    "unbounded" when every value past some point meets it and nothing bounds it above."""
    for first, last in (segments if smallest else reversed(segments)):
        if not meets(first):  # one sign on the whole run: its first value decides
            continue
        first = max(first, low)
        last = high if last is None else min(last, MAX_SIZE if high is None else high)
        if last is None:
            if not smallest:
                return "unbounded"
            last = first + _SEARCH
        if first > last:
            continue
        order = range(first, last + 1) if smallest else range(last, first - 1, -1)
        for count, value in enumerate(order):
            if count > _SEARCH:
                break
            if valid(value):
                return value
    return None


def _first_meeting(segments: list[tuple[int, int | None]], valid: Callable[[int], bool],
                   low: int) -> int | None:
    """The smallest valid value from which on the target is always met."""
    first, _ = segments[-1]
    for value in range(max(first, low), max(first, low) + _SEARCH):
        if valid(value):
            return value
    return None


def _why_not(curve: sp.Expr, t: sp.Symbol, target: sp.Expr, wanted: str, name: str,
             quantity: str) -> str:
    """A sentence on why no value works: the smallest value already misses, or the limit does."""
    first = curve.xreplace({t: sp.Integer(1)})
    if wanted == "le":
        return f"even {name} = 1 gives a {quantity} of {int(first):,}"
    limit = sp.limit(curve, t, sp.oo)
    limit_text = "grows without bound" if limit == sp.oo else f"approaches {float(limit):.4g}"
    return (f"the {quantity} is {float(first):.4g} at {name} = 1 and {limit_text} as "
            f"{name} grows, never reaching {float(target):.4g}")

