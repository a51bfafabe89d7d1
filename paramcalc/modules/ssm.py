"""paramcalc's own torch modules of the state-space mixers (Mamba, Mamba-2, gated DeltaNet)
and their block, written from the layer lists independently of ``layers.py``, as the rest of
``paramcalc.modules`` is: a plain sequential scan, a reference rather than a kernel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec import ModelConfig
from .norms import make_norm


class CausalConv1d(nn.Conv1d):
    """A depthwise Conv1d over the sequence that sees only the past: (B, S, c) -> (B, S, c).
    Padded by k − 1 on both sides and cut to the first S outputs, as the Mamba papers'
    reference (``causal_conv1d_ref``) and transformers' slow path compute it: k − 1 outputs
    are computed and dropped, and torch's counter counts them."""

    def __init__(self, channels: int, kernel: int, bias: bool) -> None:
        super().__init__(channels, channels, kernel, groups=channels, bias=bias,
                         padding=kernel - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2))[..., :x.shape[1]].transpose(1, 2)


class Mamba(nn.Module):
    """Mamba's selective scan, as its paper writes it, run step by step (a reference)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, inner = config.d_model, int(config.d_inner or 0)
        state, rank = int(config.d_state or 0), int(config.dt_rank or 0)
        bias = bool(config.ssm_bias)
        self.rank, self.state = rank, state
        self.in_proj = nn.Linear(d, 2 * inner, bias)  # x and the gate z
        self.conv = CausalConv1d(inner, int(config.d_conv or 0), bool(config.conv_bias))
        self.x_proj = nn.Linear(inner, rank + 2 * state, bias=False)  # Δ (low rank), B, C
        self.dt_proj = nn.Linear(rank, inner)
        self.A_log = nn.Parameter(torch.zeros(inner, state))
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, d, bias)
        # Jamba normalizes Δ's low-rank input, B and C, each with a weight of its own
        self.norms = nn.ModuleList(make_norm("rmsnorm", width) for width in (rank, state, state)
                                   ) if config.ssm_norms else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        u, z = self.in_proj(x).chunk(2, dim=-1)
        u = F.silu(self.conv(u))
        dt, b, c = self.x_proj(u).split([self.rank, self.state, self.state], dim=-1)
        if self.norms is not None:
            dt, b, c = (norm(t) for norm, t in zip(self.norms, (dt, b, c)))
        dt = F.softplus(self.dt_proj(dt))  # (B, S, d_I)
        a = -torch.exp(self.A_log)  # (d_I, N)
        h = u.new_zeros(u.shape[0], u.shape[2], self.state)
        ys = []
        for t in range(u.shape[1]):
            h = torch.exp(dt[:, t, :, None] * a) * h + \
                (dt[:, t] * u[:, t])[:, :, None] * b[:, t, None, :]
            ys.append((h * c[:, t, None, :]).sum(-1) + self.D * u[:, t])
        y = torch.stack(ys, dim=1) * F.silu(z)
        return self.out_proj(y)


class Mamba2(nn.Module):
    """Mamba-2's layer: one in-projection, a conv over x, B and C, a scalar decay per head, a
    gated RMSNorm per group; the scan run step by step (a reference)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, inner = config.d_model, int(config.d_inner or 0)
        self.heads, self.groups = int(config.ssm_heads or 0), int(config.ssm_groups or 0)
        self.state, self.inner = int(config.d_state or 0), inner
        self.head_dim = int(config.ssm_head_dim or 0)
        conv = inner + 2 * self.groups * self.state
        bias = bool(config.ssm_bias)
        self.in_proj = nn.Linear(d, inner + conv + self.heads, bias)  # z, x/B/C, Δ
        self.conv = CausalConv1d(conv, int(config.d_conv or 0), bool(config.conv_bias))
        self.dt_bias = nn.Parameter(torch.zeros(self.heads))
        self.A_log = nn.Parameter(torch.zeros(self.heads))
        self.D = nn.Parameter(torch.ones(self.heads))
        self.norm_weight = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, d, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        batch, length, _ = x.shape
        gn = self.groups * self.state
        z, xbc, dt = self.in_proj(x).split([self.inner, self.inner + 2 * gn, self.heads], -1)
        u, b, c = F.silu(self.conv(xbc)).split([self.inner, gn, gn], dim=-1)
        u = u.view(batch, length, self.heads, self.head_dim)
        per = self.heads // self.groups  # heads that share one group's B and C
        b = b.view(batch, length, self.groups, self.state).repeat_interleave(per, dim=2)
        c = c.view(batch, length, self.groups, self.state).repeat_interleave(per, dim=2)
        dt = F.softplus(dt + self.dt_bias)  # (B, S, H)
        a = -torch.exp(self.A_log)
        h = u.new_zeros(batch, self.heads, self.head_dim, self.state)
        ys = []
        for t in range(length):
            h = torch.exp(dt[:, t] * a)[:, :, None, None] * h + \
                (dt[:, t, :, None] * u[:, t])[..., None] * b[:, t, :, None, :]
            ys.append((h * c[:, t, :, None, :]).sum(-1) + self.D[:, None] * u[:, t])
        y = torch.stack(ys, dim=1).reshape(batch, length, self.inner) * F.silu(z)
        grouped = y.view(batch, length, self.groups, -1)
        grouped = grouped * torch.rsqrt(grouped.pow(2).mean(-1, keepdim=True) + 1e-6)
        return self.out_proj(self.norm_weight * grouped.reshape_as(y))


class GatedDeltaNet(nn.Module):
    """Gated DeltaNet (Qwen3-Next's linear attention), run token by token: G key heads of
    width N, H value heads of width d_P sharing them H/G each, a state of N × d_P per value
    head that decays by exp(g) and takes the delta rule's correction β·(v − Sᵀk) along k."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.key_heads, self.key_width = int(config.ssm_groups or 0), int(config.d_state or 0)
        self.value_heads = int(config.ssm_heads or 0)
        self.value_width = int(config.ssm_head_dim or 0)
        keys = self.key_heads * self.key_width
        values = self.value_heads * self.value_width
        self.widths = [keys, keys, values]
        bias = bool(config.ssm_bias)
        self.q_k_v_z = nn.Linear(d, 2 * keys + 2 * values, bias)
        self.beta_decay = nn.Linear(d, 2 * self.value_heads, bias)
        self.conv = CausalConv1d(2 * keys + values, int(config.d_conv or 0),
                                 bool(config.conv_bias))
        self.dt_bias = nn.Parameter(torch.ones(self.value_heads))
        self.A_log = nn.Parameter(torch.zeros(self.value_heads))
        self.norm_weight = nn.Parameter(torch.ones(self.value_width))  # one head's width
        self.out_proj = nn.Linear(values, d, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        batch, length, _ = x.shape
        qkv, z = self.q_k_v_z(x).split([sum(self.widths), self.widths[2]], dim=-1)
        q, k, v = F.silu(self.conv(qkv)).split(self.widths, dim=-1)
        per = self.value_heads // self.key_heads  # value heads that read one key head
        q, k = (F.normalize(t.view(batch, length, self.key_heads, self.key_width), dim=-1)
                .repeat_interleave(per, dim=2) for t in (q, k))
        q = q / self.key_width ** 0.5
        v = v.view(batch, length, self.value_heads, self.value_width)
        beta, decay = self.beta_decay(x).chunk(2, dim=-1)
        beta = torch.sigmoid(beta)
        g = -torch.exp(self.A_log) * F.softplus(decay + self.dt_bias)  # (B, S, H), log-decay
        state = x.new_zeros(batch, self.value_heads, self.key_width, self.value_width)
        outs = []
        for t in range(length):
            state = state * torch.exp(g[:, t])[..., None, None]
            predicted = torch.einsum("bhkv,bhk->bhv", state, k[:, t])
            correction = (v[:, t] - predicted) * beta[:, t, :, None]
            state = state + k[:, t, :, :, None] * correction[:, :, None, :]
            outs.append(torch.einsum("bhkv,bhk->bhv", state, q[:, t]))
        y = torch.stack(outs, dim=1)  # (B, S, H, d_P)
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-6) * self.norm_weight
        y = y * F.silu(z.view_as(y))
        return self.out_proj(y.reshape(batch, length, -1))


class StateSpaceBlock(nn.Module):
    """A state-space block: x + mixer(norm(x)), no attention and no feed-forward part."""

    def __init__(self, config: ModelConfig, mixer: str) -> None:
        super().__init__()
        self.mixer, self.ffn = mixer, "dense"
        self.norm = make_norm(config.norm, config.d_model)
        self.ssm: nn.Module = Mamba(config) if mixer == "mamba" else Mamba2(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, d) -> (B, S, d)
        return x + self.ssm(self.norm(x))
