"""The papers' own figures, reproduced by paramcalc in each paper's convention.

Every expected value here is printed in the paper named beside it (table and row, or the
sentence), or is the paper's own formula worked by hand in the test; none comes from
paramcalc.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from conftest import Cli
from paramcalc import budget
from paramcalc.compute import Settings, compute
from paramcalc.parallel import korthikanti
from paramcalc.plan.laws import LAWS, optimal
from paramcalc.presets import from_name

LLAMA_405B = ("--preset", "llama-3.1-8b", "--d-model", "16384", "--num-blocks", "126",
              "--n-heads", "128", "--n-kv-heads", "8", "--d-ff", "53248",
              "--vocab-size", "128256")
# Narayanan et al. 2021, Table 1, the 1T row: 160 heads, hidden 25,600, 128 layers, GPT-2's
# vocabulary padded to 51,200, sequence 2,048; 3,072 GPUs at 163 TFLOP/s each (52% of the
# A100's 312)
MEGATRON_1T = ("--preset", "gpt2", "--d-model", "25600", "--num-blocks", "128",
               "--n-heads", "160", "--vocab-size", "51200", "--seq-length", "2048",
               "--n-positions", "2048")


def test_deepseek_v3_250_gflops_per_token_causal(cli: Cli) -> None:
    """DeepSeek-AI 2024, DeepSeek-V3 Technical Report: 250 GFLOPs per training token (at its
    4K pre-training length); paramcalc's full S × S count is 281."""
    causal = cli.json("flops", "--preset", "deepseek-v3", "--seq-length", "4096",
                      "--attention-flops", "causal")
    full = cli.json("flops", "--preset", "deepseek-v3", "--seq-length", "4096")
    assert causal["attention_flops"] == "causal" and full["attention_flops"] == "full"
    assert round(causal["per_token"]["training"] / 1e9) == 250
    assert round(full["per_token"]["training"] / 1e9) == 281


def test_llama_3_405b_trained_on_3_8e25_flops_by_6nd(cli: Cli) -> None:
    """Llama Team 2024, The Llama 3 Herd of Models, section 3.2.1: 405B parameters on 15.6T
    tokens, 3.8 × 10^25 FLOPs, which is 6·N·D."""
    out = cli.json("flops", *LLAMA_405B, "--seq-length", "8192", "--tokens", "15.6T")
    assert round(out["params"]["total"] / 1e9) == 406  # "405B"
    six_nd = out["rules"]["6N"]["training_per_token"] * 15_600_000_000_000
    assert f"{six_nd:.1e}" == "3.8e+25"
    assert f"{out['run']['flops']:.2e}" == "4.10e+25"  # paramcalc's exact, full attention


def _megatron_eq3(B: int, s: int, l: int, h: int, V: int) -> Fraction:
    """Narayanan et al. 2021, eq. 3, as printed: 96·B·s·l·h²·(1 + s/6h + V/16lh)."""
    return 96 * B * s * l * h * h * (1 + Fraction(s, 6 * h) + Fraction(V, 16 * l * h))


def test_megatron_table1_hardware_flops_with_full_recompute(cli: Cli) -> None:
    """Narayanan et al. 2021, Table 1, 1T row: the iteration's FLOPs of eq. 3 (the recomputed
    forward included) are paramcalc's hardware FLOPs with --recompute full; at 163 TFLOP/s
    per GPU that is 52% of the A100's peak, and the model FLOPs read about 122."""
    expected = _megatron_eq3(1, 2048, 128, 25600, 51200)
    per_token = expected / 2048
    tokens_per_second = float(Fraction(163 * 10**12 * 3072) / per_token)
    out = cli.json("flops", *MEGATRON_1T, "--recompute", "full", "--devices", "6",
                   "--tensor-parallel", "8", "--pipeline-parallel", "64", "--gpu", "a100",
                   "--tokens-per-second", str(tokens_per_second))
    assert out["flops"]["hardware_step"]["total"] == expected
    assert out["rules"]["megatron"]["training_per_token"] == pytest.approx(float(per_token))
    achieved = out["run"]["achieved"]
    assert achieved["hardware_tflops_per_device"] == pytest.approx(163, rel=1e-9)
    assert round(achieved["hfu"] * 100) == 52
    assert round(achieved["model_tflops_per_device"]) == 122
    assert out["settings"]["tensor_parallel"] == 8 and out["settings"]["pipeline_parallel"] == 64


# Korthikanti et al. 2022, Table 3: the models they measure (heads, hidden, layers,
# tensor-parallel size), at sequence length 2,048
KORTHIKANTI = {"22B": (64, 6144, 48, 8), "175B": (96, 12288, 96, 8),
               "530B": (128, 20480, 105, 8), "1T": (160, 25600, 128, 8)}


@pytest.mark.parametrize("name", list(KORTHIKANTI))
def test_korthikanti_table2_per_layer(name: str) -> None:
    """Korthikanti et al. 2022, Table 2: activation bytes per layer, each case, at their
    models' sizes, worked from the table's expressions."""
    a, h, _, t = KORTHIKANTI[name]
    s, b = 2048, 1
    sbh = Fraction(s * b * h)
    table2 = {
        ("none", False, 1): sbh * (34 + Fraction(5 * a * s, h)),
        ("none", False, t): sbh * (10 + Fraction(24, t) + Fraction(5 * a * s, h * t)),
        ("none", True, t): sbh / t * (34 + Fraction(5 * a * s, h)),
        ("selective", False, t): sbh * (10 + Fraction(24, t)),
        ("selective", True, t): sbh * Fraction(34, t),
        ("full", False, t): 2 * sbh,
    }
    for (recompute, sp, tp), expected in table2.items():
        assert korthikanti(s, b, h, a, t=tp, sequence_parallel=sp, recompute=recompute,
                           dropout=True) == expected, (recompute, sp, tp)


def test_korthikanti_in_the_flops_command(cli: Cli) -> None:
    """The paper's 175B (Table 3) through ``flops``: 96 layers of s·b·h·34/t with sequence
    parallelism and selective recomputation."""
    out = cli.json("flops", "--preset", "gpt2", "--d-model", "12288", "--num-blocks", "96",
                   "--n-heads", "96", "--seq-length", "2048", "--n-positions", "2048",
                   "--tensor-parallel", "8", "--sequence-parallel", "--recompute", "selective",
                   "--dropout")
    assert out["memory"]["activations_korthikanti"] == 96 * 2048 * 12288 * 34 // 8


@pytest.mark.parametrize("stage, gigabytes", [(0, "120"), (1, "31.4"), (2, "16.6"), (3, "1.9")])
def test_zero_paper_7_5b_on_64_devices(stage: int, gigabytes: str) -> None:
    """Rajbhandari et al. 2020 (ZeRO), Figure 1: Ψ = 7.5B parameters, N_d = 64, K = 12:
    120 GB, 31.4 GB, 16.6 GB and 1.9 GB per device for the baseline and stages 1-3."""
    result = compute(budget(from_name("gpt2").config), Settings(zero=stage, devices=64))
    states = result.model_states(7_500_000_000)
    total = sum(states.values()) / 1e9
    digits = len(gigabytes.split(".")[1]) if "." in gigabytes else 0
    assert f"{total:.{digits}f}" == gigabytes


def _loss_minimum(law: str, flops: float) -> tuple[float, float]:
    """The optimum by search, not by the closed form: L(N, C/6N) on a fine log grid."""
    fit = LAWS[law]
    assert fit is not None
    best = min((fit.E + fit.A / n**fit.alpha + fit.B / (flops / (6 * n))**fit.beta, n)
               for n in (10 ** (7 + i / 20000) for i in range(120001)))
    return best[1], flops / (6 * best[1])


@pytest.mark.parametrize("law", ["hoffmann-approach3", "besiroglu-2024"])
def test_fitted_laws_minimise_their_loss(law: str) -> None:
    """Hoffmann et al. 2022, eq. 4 (the minimiser of eq. 2 under C = 6·N·D) agrees with a
    plain search over N at Gopher's budget, 5.76e23 FLOPs (their Table 3)."""
    found = optimal(law, 5.76e23)
    params, tokens = _loss_minimum(law, 5.76e23)
    assert found["params"] == pytest.approx(params, rel=2e-4)
    assert found["tokens"] == pytest.approx(tokens, rel=2e-4)


def test_besiroglu_refit_is_near_chinchilla() -> None:
    """Besiroglu et al. 2024: their refit, unlike the published Approach 3 constants, puts
    Gopher's budget near Chinchilla's 70B and about 20 tokens per parameter (Hoffmann et
    al.'s Table 3 row for 5.76e23: 67B on 1.5T tokens)."""
    refit = optimal("besiroglu-2024", 5.76e23)
    assert 60e9 < refit["params"] < 80e9 and 15 < refit["tokens_per_param"] < 25
    # the published, rounded Approach 3 constants: a model about half as large
    assert 25e9 < optimal("hoffmann-approach3", 5.76e23)["params"] < 40e9


def test_approach3_loss_by_hand() -> None:
    """Eq. 2 with the published constants at Chinchilla's 70B and 1.4T tokens, by hand."""
    expected = 1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28
    assert LAWS["hoffmann-approach3"].loss(70e9, 1.4e12) == pytest.approx(expected)  # type: ignore[union-attr]


def test_solve_flops_takes_the_laws_tokens(cli: Cli) -> None:
    """solve --flops with a fitted law trains on that law's D_opt for the budget."""
    tokens = optimal("hoffmann-approach3", 1e20)["tokens"]
    out = cli("solve", "--preset", "gpt2", "--for", "num_blocks", "--flops", "1e20",
              "--law", "hoffmann-approach3")
    assert f"on {round(tokens):,} tokens" in out.stdout


def test_palm_540b_mfu_46_2_percent(cli: Cli) -> None:
    """Chowdhery et al. 2022 (PaLM), Appendix B: 540B at 238.3K tokens/s on 6,144 TPU v4
    chips (275 TFLOP/s) is 46.2% MFU with 6·N + 12·L·H·Q·T (118 layers, 48 heads of 256,
    sequence 2,048; multi-query, SwiGLU f 73,728, vocabulary 256k, tied)."""
    out = cli.json("flops", "--preset", "llama-3.2-1b", "--d-model", "18432",
                   "--num-blocks", "118", "--n-heads", "48", "--head-dim", "256",
                   "--n-kv-heads", "1", "--d-ff", "73728", "--vocab-size", "256000",
                   "--seq-length", "2048")
    assert round(out["params"]["total"] / 1e9) == 540
    palm = out["rules"]["palm"]["training_per_token"]
    assert round(palm * 238_300 / (6144 * 275e12) * 100, 1) == 46.2


def test_causal_count_equals_flop_counter_on_a_masked_loop() -> None:
    """The per-token causal count against torch's FlopCounterMode on a tiny model whose
    attention multiplies each query only by the keys at or before it."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    V, S, d, heads, f = 50, 8, 16, 2, 32
    width = d // heads
    lin = torch.nn.Linear
    q, k, v, o = (lin(d, d, bias=False) for _ in range(4))
    gate, up, down = lin(d, f, bias=False), lin(d, f, bias=False), lin(f, d, bias=False)
    embedding = torch.nn.Embedding(V, d)

    def forward(tokens: torch.Tensor) -> torch.Tensor:
        x = embedding(tokens)  # (S, d)
        qs, ks, vs = q(x), k(x), v(x)
        rows = []
        for i in range(S):  # row i sees keys 0..i: the masked products are never made
            per_head = []
            for j in range(heads):
                part = slice(j * width, (j + 1) * width)
                scores = qs[i:i + 1, part] @ ks[:i + 1, part].T  # (1, i+1)
                per_head.append(torch.softmax(scores, -1) @ vs[:i + 1, part])  # (1, width)
            rows.append(torch.cat(per_head, -1))
        x = x + o(torch.cat(rows, 0))
        x = x + down(torch.nn.functional.silu(gate(x)) * up(x))
        return x @ embedding.weight.T  # the tied head, (S, V)

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        forward(torch.arange(S) % V)
    from paramcalc.cli import app  # noqa: F401  (the same resolution as the command line)
    from paramcalc.presets import resolve

    model = resolve("llama-3.2-1b", None, {"vocab_size": V, "seq_length": S, "d_model": d,
                                          "num_blocks": 1, "n_heads": heads,
                                          "n_kv_heads": heads, "d_ff": f, "head_dim": width})
    result = compute(budget(model.config), Settings(attention_flops="causal"))
    assert result.flops["forward"]["total"] == counter.get_total_flops()


def test_bad_convention_options(cli: Cli) -> None:
    assert "attention-flops" in cli.error("flops", "--preset", "gpt2", "--attention-flops", "half")
    assert "tensor-parallel" in cli.error("flops", "--preset", "gpt2", "--sequence-parallel")
    assert "law" in cli.error("flops", "--preset", "gpt2", "--law", "kaplan")
    assert "tensor-parallel" in cli.error("flops", "--preset", "gpt2", "--tensor-parallel", "0")


# Hoffmann et al. 2022, Table 3 (Approach 1): parameters, FLOPs, tokens, every row
CHINCHILLA_TABLE_3 = [(400e6, 1.92e19, 8.0e9), (1e9, 1.21e20, 20.2e9), (10e9, 1.23e22, 205.1e9),
                      (67e9, 5.76e23, 1.5e12), (175e9, 3.85e24, 3.7e12),
                      (280e9, 9.90e24, 5.9e12), (520e9, 3.43e25, 11.0e12),
                      (1e12, 1.27e26, 21.2e12), (10e12, 1.30e28, 216.2e12)]


@pytest.mark.parametrize(("params", "flops", "tokens"), CHINCHILLA_TABLE_3)
def test_chinchilla_table3_by_the_20_tokens_rule(params: float, flops: float,
                                                  tokens: float) -> None:
    """Table 3's rows, from their FLOPs, by the fixed 20 tokens per parameter: the table's
    ratio climbs from 20.0 to 21.6 (Approach 1's unrounded exponents) and its 1.5T for 67B
    is rounded up from the 1.43T its own 5.76e23 = 6·N·D gives, so the rule is within 4.1% in
    N and 7.7% in D, and within 4% of the D that 6·N·D gives at the table's N."""
    out = optimal("chinchilla-20", flops)
    assert out["convention"] == "6ND" and out["budget"] == flops
    assert abs(out["params"] / params - 1) < 0.041
    assert abs(out["tokens"] / tokens - 1) < 0.077
    assert abs(out["tokens"] / (flops / (6 * params)) - 1) < 0.04


@pytest.mark.parametrize("law", ["chinchilla-20", "hoffmann-approach3", "besiroglu-2024"])
def test_a_runs_law_is_fed_its_own_convention(cli: Cli, law: str) -> None:
    """The law is given the run's budget as it was fitted, C = 6·N·D (N active), not the
    exact attention-inclusive count; its optimum worked by hand from Hoffmann et al.'s eq. 4
    with the constants the law's paper prints."""
    out = cli.json("flops", "--preset", "gpt2", "--tokens", "1e10", "--law", law)
    budget = 6 * out["params"]["active"] * 10**10
    assert out["run"]["law"]["budget"] == pytest.approx(budget, rel=1e-12)
    assert out["run"]["flops"] > budget * 1.1  # gpt2's exact count has attention's S² in it
    constants = {"hoffmann-approach3": (406.4, 410.7, 0.34, 0.28),
                 "besiroglu-2024": (482.01, 2085.43, 0.3478, 0.3658)}
    if law == "chinchilla-20":
        params = math.sqrt(budget / 120)
    else:
        A, B, alpha, beta = constants[law]
        g = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
        params = g * (budget / 6) ** (beta / (alpha + beta))
    assert out["run"]["law"]["params"] == pytest.approx(params, rel=1e-9)
    assert out["run"]["law"]["tokens"] == pytest.approx(budget / 6 / params, rel=1e-9)


@pytest.mark.parametrize(("preset", "length"), [("gpt2", "1024"), ("mistral-7b", "8192"),
                                               ("deepseek-v3", "8192"), ("gemma-2-2b", "8192")])
def test_both_attention_conventions_always_side_by_side(cli: Cli, preset: str,
                                                        length: str) -> None:
    """flops shows the per-token figures in both conventions whichever it counts in; each
    equals the run made in that convention (sliding windows and latent attention included)."""
    runs = {c: cli.json("flops", "--preset", preset, "--seq-length", length,
                        "--attention-flops", c) for c in ("full", "causal")}
    for chosen, out in runs.items():
        beside = out["per_token"]["by_attention"]
        assert sorted(beside) == ["causal", "full"]
        for convention, values in beside.items():
            assert values["training"] == pytest.approx(
                runs[convention]["per_token"]["training"], rel=1e-12)
            assert values["forward"] == pytest.approx(
                runs[convention]["per_token"]["forward"], rel=1e-12)
    assert runs["causal"]["per_token"]["training"] < runs["full"]["per_token"]["training"]
    table = cli("flops", "--preset", preset).stdout
    assert "training, exact (full attention)" in table
    assert "training, exact (causal attention)" in table
