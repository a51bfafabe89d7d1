"""paramcalc's own torch modules of the norms (LayerNorm and RMSNorm kinds, per-head norms)
and of xIELU's learned activation, as ``paramcalc.modules`` builds them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

class RMSNorm(nn.Module):
    """Root-mean-square norm (Zhang & Sennrich 2019): a learned scale per feature, no shift."""

    def __init__(self, width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind: str | None, width: int) -> nn.Module:
    """A LayerNorm (scale and shift), an RMSNorm (scale only), a LayerNorm without its shift
    (Cohere) or without any weights (OLMo)."""
    if kind == "rmsnorm":
        return RMSNorm(width)
    if kind == "layernorm_nobias":
        return nn.LayerNorm(width, bias=False)
    if kind == "layernorm_bare":
        return nn.LayerNorm(width, elementwise_affine=False)
    return nn.LayerNorm(width)


class PerHeadNorm(nn.Module):
    """Each head's features normalised as the model's norms do, then scaled by a scale of that
    head's own (Cohere's and StableLM's query and key norms): on (B, heads, S, a)."""

    def __init__(self, kind: str | None, heads: int, width: int) -> None:
        super().__init__()
        self.rms = kind == "rmsnorm"
        self.weight = nn.Parameter(torch.ones(heads, 1, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rms:
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        else:
            x = F.layer_norm(x, x.shape[-1:])
        return x * self.weight


class XIELU(nn.Module):
    """xIELU (Huang & Schlag 2025, Apertus): quadratic for positive inputs, an ELU-like curve
    for negative ones, shaped by two learned scalars."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha_p = nn.Parameter(torch.full((1,), 0.5413))  # softplus⁻¹(0.8)
        self.alpha_n = nn.Parameter(torch.full((1,), 0.5413))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha_p = F.softplus(self.alpha_p)
        alpha_n = 0.5 + F.softplus(self.alpha_n)
        negative = (torch.expm1(torch.clamp(x, max=-1e-6)) - x) * alpha_n + 0.5 * x
        return torch.where(x > 0, alpha_p * x * x + 0.5 * x, negative)
