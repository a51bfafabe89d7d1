"""The state-space families: every block an RMSNorm and a Mamba or Mamba-2 mixer, with no
attention and no feed-forward part. Records written from transformers' modeling code (5.24).

- mamba: in_proj (x and gate z), a depthwise conv, x_proj (Δ, B, C), dt_proj, A_log, D,
  out_proj; inner width ``intermediate_size`` where the file has it, else
  ``int(expand · hidden_size)`` (the config class sets it so, then sets the file's keys),
  time_step_rank ``auto`` = ⌈hidden_size/16⌉.
- falcon_mamba: Mamba's mixer with RMSNorms on Δ, B and C that hold no weights (a buffer of
  ones, FalconMambaWeightlessRMSNorm): the same count.
- mamba2: one in_proj, a conv over x, B and C, dt_bias, A_log, D per head, a gated RMSNorm;
  the config class requires expand · hidden_size = num_heads · head_dim.

They have no positions (no table: ``rotary`` owns nothing) and no context of their own:
``seq_length`` is fixed at 2,048 tokens, the length the FLOPs and activations are given for.
"""

from __future__ import annotations

from typing import Any

from .record import Family, Reader, flag, size
from .records import TIED

#: the sequence the FLOPs are counted over: these models have no context window of their own
CONTEXT = 2048


def _ssm(kind: str) -> dict[str, Any]:
    return dict(vocab_size=size("vocab_size"), seq_length=CONTEXT, d_model=size("hidden_size"),
                num_blocks=size("num_hidden_layers"), block="transformer",
                positional="rotary", norm="rmsnorm", final_norm=True, head=TIED,
                logits_bias=False, ssm=kind, d_state=size("state_size"),
                d_conv=size("conv_kernel"), conv_bias=flag("use_conv_bias"),
                ssm_bias=flag("use_bias"))


def _inner(keys: Reader, values: dict[str, Any]) -> None:
    # Mamba-2's mixer: int(expand * hidden_size), whatever intermediate_size says
    values["d_inner"] = keys["expand"] * keys["hidden_size"]


def _mamba(keys: Reader, values: dict[str, Any]) -> None:
    # Mamba's mixer reads intermediate_size: the config class sets it to expand · hidden_size,
    # and a value in the file (save_pretrained writes it) is set after and wins
    _inner(keys, values)
    inner = keys.data.get(keys.where("intermediate_size"))
    if inner is not None:
        if type(inner) is not int or inner <= 0:
            raise keys.refuse("intermediate_size", "is not a positive integer")
        values["d_inner"] = inner
    rank = keys.data.get(keys.where("time_step_rank"), "auto")
    if rank == "auto":
        rank = -(-keys["hidden_size"] // 16)  # math.ceil(hidden_size / 16)
    elif type(rank) is not int or rank <= 0:
        raise keys.refuse("time_step_rank", "is neither \"auto\" nor a positive integer")
    values["dt_rank"] = rank


SSM: tuple[Family, ...] = (
    Family("mamba", _ssm("mamba"), hook=_mamba, reads=(size("expand"),)),
    Family("falcon_mamba", _ssm("mamba"), hook=_mamba, reads=(size("expand"),)),
    Family("mamba2", {**_ssm("mamba2"), "ssm_heads": size("num_heads"),
                      "ssm_head_dim": size("head_dim"), "ssm_groups": size("n_groups")},
           hook=_inner, reads=(size("expand"),)),
)
