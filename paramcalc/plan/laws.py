"""Compute-optimal laws: the model size and training tokens that spend a FLOP budget best,
and the loss the law predicts for them. Each law is fitted in the convention C = 6·N·D, so
that is the convention its optimum is found in.

- ``chinchilla-20``: Hoffmann et al. 2022's rule of thumb (their approaches 1 and 2: N and D
  grow alike), 20 tokens per parameter: N = sqrt(C/120), D = 20·N. No loss.
- ``hoffmann-approach3``: Hoffmann et al. 2022, section 3.3, eq. 2 and its published
  constants: L(N, D) = E + A/N^α + B/D^β, E = 1.69, A = 406.4, B = 410.7, α = 0.34,
  β = 0.28.
- ``besiroglu-2024``: Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt",
  their refit of the same form to Hoffmann et al.'s data: E = 1.8172, A = 482.01,
  B = 2085.43, α = 0.3478, β = 0.3658.

Minimising L under C = 6·N·D (Hoffmann et al., eq. 4): N_opt = G·(C/6)^(β/(α+β)),
D_opt = (C/6)^(α/(α+β)) / G, with G = (α·A / (β·B))^(1/(α+β)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Law:
    """L(N, D) = E + A/N^α + B/D^β, with its citation."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str

    def loss(self, params: float, tokens: float) -> float:
        return self.E + self.A / params**self.alpha + self.B / tokens**self.beta

    def optimum(self, flops: float) -> tuple[float, float]:
        """N_opt and D_opt for C = 6·N·D."""
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        a = self.beta / (self.alpha + self.beta)
        return g * (flops / 6) ** a, (flops / 6) ** (1 - a) / g


#: the laws, by the name --law takes; None: a fixed ratio of tokens to parameters
LAWS: dict[str, Law | None] = {
    "chinchilla-20": None,
    "hoffmann-approach3": Law(1.69, 406.4, 410.7, 0.34, 0.28,
                              "Hoffmann et al. 2022, section 3.3, Approach 3"),
    "besiroglu-2024": Law(1.8172, 482.01, 2085.43, 0.3478, 0.3658,
                          "Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt"),
}

TOKENS_PER_PARAM = 20


def optimal(law: str, flops: float) -> dict[str, float | str | None]:
    """The compute-optimal parameters and tokens for a FLOP budget C (C = 6·N·D), and the
    loss the law predicts there (None for the fixed ratio)."""
    if law not in LAWS:
        raise ConfigError(f"unknown law {law!r}; choose one of: {', '.join(LAWS)}")
    if not (math.isfinite(flops) and flops > 0):
        raise ConfigError(f"the FLOP budget must be a positive, finite number, got {flops!r}")
    fit = LAWS[law]
    if fit is None:
        params = math.sqrt(flops / (6 * TOKENS_PER_PARAM))
        tokens, loss = TOKENS_PER_PARAM * params, None
    else:
        params, tokens = fit.optimum(flops)
        loss = fit.loss(params, tokens)
    return {"name": law, "budget": flops, "params": params, "tokens": tokens,
            "tokens_per_param": tokens / params, "loss": loss, "convention": "6ND"}
