"""FLOPs and memory against torch: the formulas of compute.py against what torch executes.

The expected side is always torch: ``FlopCounterMode`` counting paramcalc's own modules (and,
in test_compute_hf.py, transformers' models) on a real forward and backward pass, the bytes
autograd saves, the tensors Adam keeps. Attention runs through torch's math kernel here: the
fused CPU kernel is invisible to FlopCounterMode (it would count attention as zero), and the
math kernel computes the same products. oneDNN is off so that the LSTM runs as matrix
products the counter sees.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from conftest import Cli
from paramcalc import ModelConfig, budget
from paramcalc.compute import OPTIMIZERS, Settings, compute
from paramcalc.formulas import COMPONENTS
from paramcalc.modules import build
from paramcalc.spec import HEADS

BLOCK_KINDS = ("seed", "transformer", "moe", "latent")


@contextlib.contextmanager
def countable() -> Iterator[None]:
    """Attention and recurrent cells as plain matrix products, which the counter sees."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with sdpa_kernel(SDPBackend.MATH), torch.backends.mkldnn.flags(enabled=False):
            yield


def torch_flops(config: ModelConfig) -> tuple[dict[str, int], int]:
    """FlopCounterMode's forward FLOPs per component and its backward total, for paramcalc's
    module on one (1, seq_length) sequence, a per-position head at every position."""
    torch.manual_seed(0)
    model = build(config)
    tokens = torch.randint(0, config.vocab_size, (1, config.seq_length))
    with countable():
        with FlopCounterMode(display=False) as forward:
            logits = model(tokens, every_position=True)
        with FlopCounterMode(display=False) as backward:
            logits.sum().backward()
    counts = {name: sum(ops.values()) for name, ops in forward.get_flop_counts().items()}
    parts = {c: counts.get(f"LanguageModel.{c}", 0) for c in COMPONENTS if c != "blocks"}
    parts["blocks"] = sum(value for name, value in counts.items()
                          if name.startswith("LanguageModel.blocks.") and name.count(".") == 2)
    parts["total"] = forward.get_total_flops()
    return parts, backward.get_total_flops()


@st.composite
def configurations(draw: st.DrawFn, kind: str | None = None, head: str | None = None
                   ) -> ModelConfig:
    """A small random configuration of one block kind and head design (drawn when not given)."""
    kind = kind or draw(st.sampled_from(BLOCK_KINDS))
    head = head or draw(st.sampled_from(HEADS))
    heads = draw(st.sampled_from([1, 2, 4]))
    d_model = heads * draw(st.integers(1, 6)) * 2
    keys: dict[str, Any] = dict(
        vocab_size=draw(st.integers(2, 40)), seq_length=draw(st.integers(2, 12)),
        d_model=d_model, num_blocks=draw(st.integers(1, 3)), n_heads=heads, head=head,
        positional=draw(st.sampled_from(["sinusoidal", "learned", "rotary", "alibi"])),
        final_norm=draw(st.booleans()), embedding_norm=draw(st.booleans()))
    if head in ("bottleneck", "td-dense", "conv", "rnn"):
        keys["head_width"] = draw(st.integers(1, d_model))
    if head == "conv":
        keys["kernel_size"] = draw(st.integers(1, keys["seq_length"]))
    if head == "rnn":
        keys["cell"] = draw(st.sampled_from(["gru", "lstm"]))
    if kind != "seed":
        keys.update(block="transformer", d_ff=draw(st.integers(1, 40)),
                    n_kv_heads=draw(st.sampled_from([k for k in (1, 2, 4) if heads % k == 0])),
                    head_dim=draw(st.none() | st.integers(1, 5).map(lambda x: 2 * x)),
                    norm=draw(st.sampled_from(["layernorm", "rmsnorm"])),
                    mlp=draw(st.sampled_from(["plain", "gated"])),
                    qkv_bias=draw(st.booleans()), proj_bias=draw(st.booleans()),
                    mlp_bias=draw(st.booleans()),
                    qk_norm=draw(st.sampled_from(["none", "head", "full"])),
                    norm_placement=draw(st.sampled_from(["pre", "post", "sandwich"])),
                    parallel_residual=draw(st.booleans()))
    if kind == "moe":
        experts = draw(st.integers(1, 5))
        keys.update(num_experts=experts, experts_per_token=draw(st.integers(1, experts)),
                    expert_d_ff=draw(st.integers(1, 24)), shared_experts=draw(st.integers(0, 2)),
                    dense_layers=draw(st.lists(st.integers(0, keys["num_blocks"] - 1),
                                               unique=True, max_size=1)))
        if keys["shared_experts"]:
            keys["shared_expert_gate"] = draw(st.booleans())
    if kind == "latent":
        keys.update(kv_lora_rank=draw(st.integers(1, 12)),
                    q_lora_rank=draw(st.none() | st.integers(1, 12)),
                    qk_rope_head_dim=2 * draw(st.integers(1, 4)),
                    qk_nope_head_dim=draw(st.integers(1, 8)), v_head_dim=draw(st.integers(1, 8)),
                    qk_norm="none", head_dim=None)
    return ModelConfig(**keys)


def assert_flops_match(config: ModelConfig) -> None:
    forward, backward = torch_flops(config)
    flops = compute(budget(config)).flops
    assert {c: flops["forward"][c] for c in (*COMPONENTS, "total")} == forward, config
    assert flops["backward"]["total"] == backward, config
    assert flops["training_step"]["total"] == forward["total"] + backward


_EXAMPLES = settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_flops_of_every_block_kind_equal_torch_counter(kind: str) -> None:
    @_EXAMPLES
    @given(configurations(kind=kind))
    def check(config: ModelConfig) -> None:
        assert_flops_match(config)

    check()


@pytest.mark.parametrize("head", HEADS)
def test_flops_of_every_head_design_equal_torch_counter(head: str) -> None:
    @_EXAMPLES
    @given(configurations(head=head))
    def check(config: ModelConfig) -> None:
        assert_flops_match(config)

    check()


def test_id4_flops_by_hand(cli: Cli) -> None:
    """The log's id 4 (V 257, S 32, d 16, one seed block, flatten head), worked out by hand."""
    S, d, V = 32, 16, 257
    projections = 4 * 2 * S * d * d  # Q, K, V and the feed-forward Dense: (S × d) @ (d × d)
    scores = 2 * (2 * S * S * d)  # q·kᵀ and weights·v over every head, S × S in full
    head = 2 * (S * d) * V  # one prediction: (1 × S·d) @ (S·d × V)
    obj = cli.json("flops", "--preset", "id4")
    assert obj["flops"]["forward"] == {"embedding": 0, "positional": 0,
                                       "blocks": projections + scores, "final_norm": 0,
                                       "head": head, "total": projections + scores + head}
    assert obj["flops"]["backward"]["total"] == 2 * (projections + scores + head)
    assert obj["per_token"]["predictions_per_sequence"] == 1  # a window head predicts once
    # 6·N per token against the exact training step: 6 · 137,105 against 3 · 394,240
    assert obj["rules"]["6N"]["training_per_token"] == 6 * 137_105
    assert obj["rules"]["6N"]["relative_error"] == pytest.approx(6 * 137_105 / (3 * 394_240) - 1)


def test_gpt2_flops_per_token_by_hand(cli: Cli) -> None:
    """GPT-2 small at S = 1,024: Kaplan et al.'s table of forward FLOPs per token, exact."""
    V, S, d, n, f = 50_257, 1024, 768, 12, 3072
    per_block = 2 * S * (4 * d * d + 2 * d * f) + 4 * S * S * d  # projections, MLP, scores
    head = 2 * S * d * V  # the tied head at every position
    obj = cli.json("flops", "--preset", "gpt2")
    assert obj["flops"]["forward"]["total"] == n * per_block + head
    assert obj["per_token"]["forward"] == (n * per_block + head) / S
    assert obj["per_token"]["predictions_per_sequence"] == S


# -- memory ----------------------------------------------------------------------------------


def saved_bytes(config: ModelConfig) -> int:
    """The bytes autograd saves for backward in one block: what a two-block model saves in one
    forward pass (each storage once, the parameters left out) less a one-block model's."""
    def measure(c: ModelConfig) -> int:
        torch.manual_seed(0)
        model = build(c)
        weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:
                seen[storage.data_ptr()] = storage.nbytes()
            return t

        tokens = torch.randint(0, c.vocab_size, (1, c.seq_length))
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(tokens, every_position=True)
        return sum(seen.values())

    return measure(config.replace(num_blocks=2)) - measure(config.replace(num_blocks=1))


@pytest.mark.parametrize("keys, attention", [
    (dict(block="transformer"), "flash"),
    (dict(block="transformer", norm="rmsnorm", mlp="gated", positional="rotary"), "flash"),
    (dict(block="transformer", norm_placement="sandwich", d_ff=96), "flash"),
    (dict(block="seed"), "flash"),
])
def test_activation_formula_against_autograd(keys: dict[str, Any], attention: str) -> None:
    """One block's saved bytes as autograd reports them on CPU (fused attention, which saves
    its output and a log-sum-exp, never the S × S scores), against the formula: within 15%.
    Where they differ: the norms keep per-position statistics and RMSNorm, written as plain
    tensor operations, keeps its intermediate products."""
    config = ModelConfig(vocab_size=64, seq_length=64, d_model=64, num_blocks=2, n_heads=4,
                         head="linear", **keys)
    measured = saved_bytes(config)
    formula = compute(budget(config.replace(num_blocks=1)),
                      Settings(dtype="fp32", attention=attention)).memory["activations"]
    assert measured == pytest.approx(formula, rel=0.15), (measured, formula)


def test_eager_attention_keeps_the_scores() -> None:
    """Eager attention (softmax saved) grows with S²: h·S² values per block more than flash."""
    config = ModelConfig(vocab_size=64, seq_length=64, d_model=64, num_blocks=2, n_heads=4,
                         block="transformer")
    flash = compute(budget(config), Settings(dtype="fp32")).memory["activations"]
    eager = compute(budget(config), Settings(dtype="fp32", attention="eager")).memory["activations"]
    assert eager - flash == 2 * 4 * (4 * 64 * 64 - 4 * 64)  # 2 blocks, fp32, h·S² − h·S


def test_adam_state_bytes_equal_torch_adam() -> None:
    """fp32 Adam: the weights, their gradients and the two moments torch.optim.Adam keeps."""
    config = ModelConfig(vocab_size=50, seq_length=8, d_model=16, num_blocks=2, n_heads=2,
                         block="transformer", head="linear")
    model = build(config)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randint(0, 50, (2, 8)), every_position=True).sum().backward()
    optimizer.step()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    gradients = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters()
                    if p.grad is not None)
    moments = sum(t.numel() * t.element_size() for state in optimizer.state.values()
                  for name, t in state.items() if name in ("exp_avg", "exp_avg_sq"))
    memory = compute(budget(config), Settings(dtype="fp32", optimizer="adam")).memory
    assert (memory["weights"], memory["gradients"], memory["optimizer"]) == \
        (weights, gradients, moments)


def test_zero_stages_shard_as_the_zero_paper_says() -> None:
    """Mixed-precision Adam: 2 + 2 + 12 bytes per parameter (ZeRO paper, section 3.1); stage 1
    shards the 12, stage 2 the gradients too, stage 3 everything, over G devices."""
    config = ModelConfig(vocab_size=50, seq_length=8, d_model=16, num_blocks=2, n_heads=2,
                         block="transformer")
    params = budget(config).params["total"]
    G = 8
    shard = lambda x: math.ceil(x / G)  # noqa: E731
    expected = {0: (2 * params, 2 * params, 12 * params),
                1: (2 * params, 2 * params, shard(12 * params)),
                2: (2 * params, shard(2 * params), shard(12 * params)),
                3: (shard(2 * params), shard(2 * params), shard(12 * params))}
    for stage, (w, g, o) in expected.items():
        memory = compute(budget(config), Settings(zero=stage, devices=G)).memory
        assert (memory["weights"], memory["gradients"], memory["optimizer"]) == (w, g, o)
    eight_bit = compute(budget(config), Settings(optimizer="adam8bit")).memory
    assert eight_bit["optimizer"] == (4 + 2) * params  # fp32 master copy and two 1-byte moments
    assert OPTIMIZERS["adam"] == 8


# -- the command ------------------------------------------------------------------------------


def test_flops_json_holds_the_contract(cli: Cli) -> None:
    obj = cli.json("flops", "--preset", "llama-3.2-1b", "--tokens", "1T", "--gpu", "h100",
                   "--devices", "8", "--zero", "3")
    assert {"name", "config", "flops", "per_token", "rules", "memory", "run"} <= set(obj)
    for part in ("forward", "backward", "training_step"):
        assert set(obj["flops"][part]) == {*COMPONENTS, "total"}
        assert sum(obj["flops"][part][c] for c in COMPONENTS) == obj["flops"][part]["total"]
    assert {"kv_cache_per_token", "kv_cache", "activations", "weights", "gradients",
            "optimizer", "per_device"} <= set(obj["memory"])
    # time = FLOPs / (8 devices × 989 TFLOP/s × 0.4)
    assert obj["run"]["seconds"] == pytest.approx(obj["run"]["flops"] / (8 * 989e12 * 0.4))
    assert obj["run"]["flops"] == pytest.approx(obj["per_token"]["training"] * 10**12)


def test_llama_kv_cache_by_hand(cli: Cli) -> None:
    """Llama 3.1 8B: 32 layers × keys and values × 8 key/value heads × 128 wide × 2 bytes."""
    obj = cli.json("flops", "--preset", "llama-3.1-8b", "--context", "8192", "--batch-size", "4")
    assert obj["memory"]["kv_cache_per_token"] == 32 * 2 * 8 * 128 * 2
    assert obj["memory"]["kv_cache"] == 32 * 2 * 8 * 128 * 2 * 8192 * 4


def test_chinchilla_pair_for_a_budget() -> None:
    """Hoffmann et al.: C = 6·N·D with D = 20·N; Chinchilla itself, 70B on 1.4T tokens, spent
    5.88e23 FLOPs."""
    from paramcalc.compute import chinchilla

    params, tokens = chinchilla(6 * 70e9 * 1.4e12)
    assert params == pytest.approx(70e9, rel=1e-9)
    assert tokens == pytest.approx(1.4e12, rel=1e-9)


@pytest.mark.parametrize("args, message", [
    (["--mfu", "0"], "mfu"), (["--mfu", "1.01"], "mfu"), (["--mfu", "nan"], "mfu"),
    (["--mfu", "inf"], "mfu"), (["--devices", "0"], "devices"), (["--devices", "-3"], "devices"),
    (["--dtype", "fp64"], "fp64"), (["--optimizer", "lion"], "lion"),
    (["--zero", "4"], "ZeRO stage 4"), (["--zero", "-1"], "ZeRO stage -1"),
    (["--tokens", "0"], "token count"), (["--tokens", "-5"], "token count"),
    (["--tokens", "nan"], "token count"), (["--peak-tflops", "0"], "peak-tflops"),
    (["--peak-tflops", "inf"], "peak-tflops"), (["--gpu", "h100", "--peak-tflops", "5"], "not both"),
    (["--batch-size", "0"], "batch-size"), (["--context", "0"], "context"),
    (["--recompute", "some"], "some"),
])
def test_bad_flops_options_are_one_line(cli: Cli, args: list[str], message: str) -> None:
    result = cli("flops", "--preset", "gpt2", *args, code=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("budget_text", ["0", "-1e21", "inf", "nan", "1e400", "1e21e3"])
def test_bad_flop_budgets_are_one_line(cli: Cli, budget_text: str) -> None:
    result = cli("solve", "--preset", "gpt2", "--for", "d_model", "--flops", budget_text, code=2)
    assert "FLOP budget" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_solve_for_a_flop_budget_against_brute_force() -> None:
    """The largest num_blocks whose run fits, found by trying every value with the formulas of
    a fresh budget each time (the check is the whole run's FLOPs at each value)."""
    from paramcalc.plan import solve

    base = ModelConfig(vocab_size=1000, seq_length=64, d_model=64, num_blocks=2, n_heads=4,
                       block="transformer", head="linear")
    tokens = 10**9

    def spent(blocks: int) -> float:
        c = base.replace(num_blocks=blocks)
        return compute(budget(c)).per_token_values["training"] * tokens

    spends = {v: spent(v) for v in range(1, 120)}
    for limit in (3e15, 1e16, 3.3e16):  # about 8, 29 and 96 blocks
        best = max(v for v, flops in spends.items() if flops <= limit)
        assert solve(base, "num_blocks", flops=int(limit), tokens=tokens).value == best


def test_derive_of_flops_and_kv_cache(cli: Cli) -> None:
    """∂FLOPs/∂seq_length and ∂kv_cache/∂n_kv_heads, against the hand formulas' slopes."""
    obj = cli.json("derive", "--preset", "gpt2", "--of", "flops", "--of", "kv_cache")
    V, S, d, n, f = 50_257, 1024, 768, 12, 3072
    # forward = n·(2·S·(4·d² + 2·d·f) + 4·S²·d) + 2·S·d·V
    assert obj["derivatives"]["flops"]["seq_length"]["value"] == \
        n * (2 * (4 * d * d + 2 * d * f) + 8 * S * d) + 2 * d * V
    assert obj["formulas"]["kv_cache"]["value"] == 2 * n * d * 2  # keys and values, bf16
    llama = cli.json("derive", "--preset", "llama-3.1-8b", "--of", "kv_cache", "--wrt",
                     "n_kv_heads")
    assert llama["derivatives"]["kv_cache"]["n_kv_heads"]["value"] == 32 * 2 * 128 * 2


def test_bad_derive_quantity(cli: Cli) -> None:
    result = cli("derive", "--preset", "gpt2", "--of", "latency", code=2)
    assert "unknown quantity 'latency'" in result.stderr


def test_sweep_and_plot_carry_flops(cli: Cli) -> None:
    """--also flops adds the forward FLOPs to every point: each equals flops of that config."""
    obj = cli.json("sweep", "--preset", "id6", "--vary", "seq_length=8:32:8", "--also",
                   "flops,kv_cache")
    for point in obj["points"]:
        one = cli.json("flops", "--preset", "id6", "--seq-length", str(point["seq_length"]))
        assert point["flops"] == one["flops"]["forward"]["total"]
        assert point["kv_cache"] == one["memory"]["kv_cache_per_token"]
    plot = cli.json("plot", "--preset", "id6", "--x", "seq_length=8:32:8", "--y",
                    "flops_per_token", "--heads", "tied-flatten")
    assert plot["curves"]["tied-flatten"] == [
        cli.json("flops", "--preset", "id6", "--seq-length", str(s))["per_token"]["training"]
        for s in (8, 16, 24, 32)]


def test_terminal_plot_has_axes_and_a_legend(cli: Cli) -> None:
    out = cli("plot", "--preset", "gpt2", "--x", "seq_length=128:1024:128", "--y", "kv_cache",
              "--heads", "tied", "--terminal").stdout
    assert "seq_length" in out and "kv_cache (log scale)" in out and "tied" in out


def test_flops_imports_no_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; from paramcalc.cli import main; sys.argv = ['paramcalc', 'flops', "
            "'--preset', 'deepseek-v3', '--json']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stderr.strip().splitlines()[-1] == "False"
