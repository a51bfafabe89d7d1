"""paramcalc's own feed-forward modules: the MLP (plain, gated, xIELU, sub-normed) and the
mixture of experts (router, stacked experts, shared experts); written independently of
``layers.py``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import ModelConfig
from .norms import XIELU, make_norm


class MLP(nn.Module):
    """The feed-forward part: d → d_ff → d with a GELU (GPT-2), or gated, SiLU(gate)·up → down
    (Llama's SwiGLU)."""

    def __init__(self, config: ModelConfig, width: int | None = None,
                 bias: bool | None = None) -> None:
        super().__init__()
        d = config.d_model
        f = width or config.d_ff or 4 * d
        bias = bool(config.mlp_bias) if bias is None else bias
        self.gated = config.mlp == "gated"
        if self.gated:
            self.gate_proj = nn.Linear(d, f, bias=bias)
        self.up_proj = nn.Linear(d, f, bias=bias)
        self.down_proj = nn.Linear(f, d, bias=bias)
        self.xielu = XIELU() if config.mlp == "xielu" else None
        # BitNet: a norm over the inner width, before the down projection
        self.sub_norm = make_norm(config.norm, f) if config.sub_norms else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        if self.gated:
            inner = F.silu(self.gate_proj(x)) * self.up_proj(x)  # (B, S, f)
        elif self.xielu is not None:
            inner = self.xielu(self.up_proj(x))
        else:
            inner = F.gelu(self.up_proj(x), approximate="tanh")
        return self.down_proj(self.sub_norm(inner))


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    """A weight drawn as nn.Linear draws its own; left empty on the meta device."""
    weight = torch.empty(shape)
    if weight.device.type != "meta":
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(weight, -bound, bound)
    return nn.Parameter(weight)


class Experts(nn.Module):
    """E feed-forward experts side by side, their weights stacked: up (and gate) (E, d, f_E),
    down (E, f_E, d); no biases."""

    def __init__(self, num_experts: int, d_model: int, width: int, gated: bool,
                 bias: bool = False) -> None:
        super().__init__()
        self.gated = gated
        self.up = _uniform((num_experts, d_model, width), d_model)
        if gated:
            self.gate = _uniform((num_experts, d_model, width), d_model)
        self.down = _uniform((num_experts, width, d_model), width)
        self.biased = bias  # gpt-oss: a bias on each expert's gate, up and down projections
        if bias:
            self.up_bias = _uniform((num_experts, width), d_model)
            if gated:
                self.gate_bias = _uniform((num_experts, width), d_model)
            self.down_bias = _uniform((num_experts, d_model), width)

    def expert(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Expert ``index`` on (M, d) tokens -> (M, d)."""
        up = x @ self.up[index]  # (M, f_E)
        if self.biased:
            up = up + self.up_bias[index]
        if self.gated:
            gate = x @ self.gate[index]
            if self.biased:
                gate = gate + self.gate_bias[index]
            hidden = F.silu(gate) * up
        else:
            hidden = F.gelu(up, approximate="tanh")
        out = hidden @ self.down[index]
        return out + self.down_bias[index] if self.biased else out

    def forward(self, x: torch.Tensor, chosen: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(N, d) tokens, the (N, K) experts each is sent to and their (N, K) weights -> (N, d).

        Each expert runs on the tokens sent to it only, as a mixture of experts does: a token
        costs K experts' FLOPs. On the meta device, where routing cannot depend on values, a
        pass gives shapes only and every expert sees every token.
        """
        if x.device.type == "meta":
            return sum((self.expert(e, x) for e in range(self.up.shape[0])),
                       torch.zeros_like(x))
        out = torch.zeros_like(x)
        for index in range(self.up.shape[0]):
            token, slot = torch.where(chosen == index)  # the tokens routed to this expert
            routed = self.expert(index, x[token]) * weights[token, slot, None]
            out = out.index_add(0, token, routed)
        return out


class MixtureOfExperts(nn.Module):
    """A router d → E picks each token's top K experts (softmax scores, renormalised over the
    K), their outputs are mixed by those scores; shared experts see every token, behind an
    optional sigmoid gate d → 1 (Qwen-MoE)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, num = config.d_model, config.num_experts or 1
        self.top_k = config.experts_per_token or 1
        self.router = nn.Linear(d, num, bias=bool(config.router_bias))
        self.experts = Experts(num, d, config.expert_d_ff or config.d_ff or 4 * d,
                               config.mlp == "gated", bias=bool(config.expert_bias))
        self.shared: nn.Module | None = None
        self.shared_gate: nn.Module | None = None
        if config.shared_experts:
            self.shared = MLP(config, width=config.shared_experts * (config.shared_d_ff or 1))
            if config.shared_expert_gate:
                self.shared_gate = nn.Linear(d, 1, bias=False)
        # JetMoE: one bias on the mixed output
        self.bias = nn.Parameter(torch.zeros(d)) if config.moe_output_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        tokens = x.reshape(-1, x.shape[-1])  # (N, d)
        scores = F.softmax(self.router(tokens), dim=-1)  # (N, E)
        top, chosen = scores.topk(self.top_k, dim=-1)  # (N, K)
        out = self.experts(tokens, chosen, top / top.sum(-1, keepdim=True))
        if self.shared is not None:
            shared = self.shared(tokens)
            if self.shared_gate is not None:
                shared = torch.sigmoid(self.shared_gate(tokens)) * shared
            out = out + shared
        if self.bias is not None:
            out = out + self.bias
        return out.view_as(x)
