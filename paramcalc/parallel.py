"""Model parallelism in memory: tensor (t), sequence and pipeline (p) parallelism beside
ZeRO's data parallelism, per device; and Korthikanti et al. 2022's activation formula.

Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models" (2022),
section 4 and Table 2, count a GPT layer's activations in bytes (16-bit values, 1-byte
dropout masks) as s·b·h·(34 + 5·a·s/h): attention 11·s·b·h + 5·a·s²·b, the MLP 19·s·b·h,
the two LayerNorms 4·s·b·h. Tensor parallelism splits all but 10·s·b·h of it (the norms'
inputs, the inputs of the two column-parallel layers and two dropout masks), sequence
parallelism splits those too, selective recomputation drops the 5·a·s/h part and full
recomputation keeps 2·s·b·h, the layer's input. With 1F1B pipelining the first stage holds
p micro-batches of L/p layers: L layers' worth whatever p (their section 4.2.3).

What paramcalc counts that the paper does not: grouped keys and values (a Llama's k and v
are g·d/h wide, the paper's are h), gated MLPs (five values per position of the width, not
two), experts, latent attention, per-head norms, the flash kernel's one log-sum-exp per
head and position in place of the S × S softmax (``--attention flash``, the default). What
the paper counts that paramcalc does not: dropout masks and the values dropout keeps
(``--dropout`` adds them to the paper's figure only; paramcalc's own models have no
dropout), the embedding's and the output layer's activations (its section 4.3), and the
norms' statistics (neither counts those).

Weights, gradients and optimizer state: tensor and pipeline parallelism split each
parameter over t·p devices (evenly here: the embedding's and the head's stages hold a little
more in practice), then ZeRO shards its stage's share over the data-parallel devices.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from .layers import total


def korthikanti(s: int, b: int, h: int, a: int, *, t: int = 1, sequence_parallel: bool = False,
                recompute: str = "none", dropout: bool = True) -> int:
    """Activation bytes of one transformer layer, Korthikanti et al. 2022, Table 2 (in
    integers: s·b·h·(34 + 5·a·s/h) = 34·s·b·h + 5·a·s²·b). Without dropout its masks and
    the dropped-out scores go: s·b·h·(32 + 2·a·s/h)."""
    if recompute == "full":
        return 2 * s * b * h
    replicated, split, scores = (10, 24, 5) if dropout else (8, 24, 2)
    sbh = s * b * h
    score_bytes = 0 if recompute == "selective" else scores * a * s * s * b
    if sequence_parallel:
        return (sbh * (replicated + split) + score_bytes) // t
    return sbh * replicated + (sbh * split + score_bytes) // t


def korthikanti_model(compute: Any) -> int:
    """The paper's activation bytes for this model per device: L layers at its s, b, h, a."""
    c, st = compute.config, compute.settings
    return c.num_blocks * korthikanti(c.seq_length, st.batch_size, c.d_model, c.n_heads,
                                      t=st.tensor_parallel,
                                      sequence_parallel=st.sequence_parallel,
                                      recompute=st.recompute, dropout=st.dropout)


def replicated_values(compute: Any) -> sp.Expr:
    """Values per sequence that tensor parallelism without sequence parallelism keeps whole
    on every device: each block's norms' inputs and the inputs of its two column-parallel
    parts (the mixer's and the feed-forward's)."""
    from .symbols import S, d

    return sp.Add(*(kind.count * (sum(total((layer,), "saved") for layer in kind.layers
                                      if layer.kind == "block_norms") + 2 * S * d)
                    for kind in compute.budget.kinds))


def split_activations(compute: Any, activations: int) -> int:
    """paramcalc's own activation bytes per device under tensor (and sequence) parallelism:
    with sequence parallelism all of it over t; without, the replicated values whole and
    the rest over t (full recomputation keeps each block's input, replicated)."""
    st = compute.settings
    t = st.tensor_parallel
    if t == 1 and not st.sequence_parallel:
        return activations
    if st.sequence_parallel:
        return -(-activations // t)
    c = compute.config
    if st.recompute == "full":
        kept = c.num_blocks * c.seq_length * c.d_model * st.bytes * st.batch_size
        return kept + -(-(activations - kept) // t)
    whole = min(activations, compute.evaluate(replicated_values(compute)) * st.bytes
                * st.batch_size)
    return whole + -(-(activations - whole) // t)


def model_parallel(params: int, t: int, p: int) -> int:
    """Parameters one device holds under tensor and pipeline parallelism (before ZeRO)."""
    return -(-params // (t * p))
