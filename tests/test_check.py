"""Every formula against the torch module that mirrors it, component by component."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import HEADS, ModelConfig, budget, from_name, names
from paramcalc.check import ROWS, check, module_counts, summary
from paramcalc.modules import build


@pytest.mark.parametrize("name", names(), ids=str)
def test_every_preset_checks_clean(name: str) -> None:
    result = check(from_name(name).config)
    rows = list(ROWS)
    if name == "deepseek-v3":  # three dense blocks, then blocks of experts: a row for each kind
        rows[2:3] = ["per_block[dense]", "per_block[moe]"]
    if name in ("gemma-2-2b", "gemma-3-27b"):  # sliding-window and full-attention layers
        rows[2:3] = ["per_block[full]", "per_block[sliding]"]
    if name.startswith("gpt-oss"):  # experts in every layer, every other one sliding
        rows[2:3] = ["per_block[full-moe]", "per_block[sliding-moe]"]
    assert [row.component for row in result.rows] == rows
    assert result.ok, [row for row in result.rows if not row.ok]


@pytest.mark.parametrize("head", HEADS, ids=str)
@pytest.mark.parametrize("name", ["id4", "id6", "gpt2", "ctrl"], ids=str)
def test_every_head_design_checks_clean(name: str, head: str) -> None:
    assert check(from_name(name).config.with_head(head)).ok


@st.composite
def configs(draw: st.DrawFn, head: str) -> ModelConfig:
    """A random small configuration of every block kind × positional kind with ``head``, with
    or without a norm on the embeddings."""
    n_heads = draw(st.integers(1, 4))
    d_model = n_heads * draw(st.integers(1, 8))
    seq_length = draw(st.integers(1, 12))
    block = draw(st.sampled_from(["seed", "transformer"]))
    positional = draw(st.sampled_from(["sinusoidal", "learned", "alibi"]))
    options: dict = {}
    if head in ("td-dense", "conv", "rnn"):
        options["head_width"] = draw(st.integers(1, d_model))
    if head == "bottleneck":
        options["head_width"] = draw(st.integers(1, seq_length * d_model))
    if head == "conv":
        options["kernel_size"] = draw(st.integers(1, seq_length))
    if head == "rnn":
        options["cell"] = draw(st.sampled_from(["gru", "lstm"]))
    return ModelConfig(
        vocab_size=draw(st.integers(2, 300)), seq_length=seq_length, d_model=d_model,
        num_blocks=draw(st.integers(1, 3)), n_heads=n_heads,
        d_ff=draw(st.integers(1, 64)) if block == "transformer" else None,
        block=block, positional=positional,
        n_positions=seq_length + draw(st.integers(0, 5)) if positional == "learned" else None,
        final_norm=draw(st.booleans()), embedding_norm=draw(st.booleans()), head=head,
        logits_bias=draw(st.booleans()), **options)


@pytest.mark.parametrize("head", HEADS, ids=str)
def test_formula_equals_module_for_random_configurations(head: str) -> None:
    @settings(max_examples=200, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(configs(head))
    def formula_equals_module(config: ModelConfig) -> None:
        result = check(config)
        assert result.ok, (config, [row for row in result.rows if not row.ok])

    formula_equals_module()


@pytest.mark.parametrize("head", HEADS, ids=str)
def test_forward_pass_gives_next_token_logits(head: str) -> None:
    config = from_name("id4").config.replace(head=head, num_blocks=2)
    model = build(config)
    tokens = torch.randint(0, 257, (3, config.seq_length))
    assert model(tokens).shape == (3, 257)


def test_tied_heads_use_the_embeddings_own_parameter() -> None:
    model = build(from_name("id6").config, "meta")
    assert model.head.tied.weight is model.embedding.weight
    counts = module_counts(model)
    assert counts["head"] == 131_136  # the Dense(d) only: the shared matrix is the embedding's
    assert counts["total"] == 215_168


@pytest.mark.mutation_skip
def test_a_trillion_parameters_check_without_allocating() -> None:
    code = ("import resource; from paramcalc import ModelConfig; from paramcalc.check import check; "
            "c = ModelConfig(vocab_size=50257, seq_length=8192, d_model=16384, num_blocks=2, "
            "n_heads=128, block='transformer'); r = check(c); "
            "print(r.ok, r.rows[-1].formula, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    ok, total, peak_kb = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                        text=True, check=True).stdout.split()
    assert ok == "True" and int(total) > 10**12
    assert int(peak_kb) < 1_000_000  # 6.7T fp32 parameters would be 27 TB


LOG_ID4 = [("embedding", (None, 32, 16), 4_112), ("positional", (None, 32, 16), 0),
           ("blocks.0", (None, 32, 16), 1_152), ("head.flatten", (None, 512), 0),
           ("head.dense", (None, 257), 131_841)]
LOG_ID6 = [("embedding", (None, 32, 64), 16_448), ("positional", (None, 32, 64), 0),
           *[(f"blocks.{i}", (None, 32, 64), 16_896) for i in range(4)],
           ("head.flatten", (None, 2048), 0), ("head.dense", (None, 64), 131_136),
           ("head.tied", (None, 257), 0)]


@pytest.mark.parametrize("name, table", [("id4", LOG_ID4), ("id6", LOG_ID6)], ids=["id4", "id6"])
def test_summary_reproduces_the_logs_keras_table(name: str, table: list) -> None:
    layers = summary(from_name(name).config)
    assert [(l.name, l.output_shape, l.params) for l in layers] == table
    assert sum(l.params for l in layers) == budget(from_name(name).config).params["total"]


def test_check_command_table_and_json(cli: Cli) -> None:
    out = cli("check", "--preset", "gpt2-xl").stdout
    assert "1,557,611,200" in out and "✓" in out and "✗" not in out
    obj = cli.json("check", "--preset", "id6", "--all-heads")
    assert obj["ok"] is True
    assert {row["head"] for row in obj["rows"]} == set(HEADS)
    assert set(obj["rows"][0]) == {"head", "component", "formula", "instantiated", "ok"}


def test_check_exits_1_on_a_mismatch(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from paramcalc import layers

    honest = layers.HEADS["flatten"]
    monkeypatch.setitem(layers.HEADS, "flatten", lambda config: dataclasses.replace(
        honest(config), params=honest(config).params + 1))  # a wrong formula
    result = cli("check", "--preset", "id4", code=1)
    assert "✗" in result.stdout
    obj = cli.json("check", "--preset", "id4", code=1)
    assert obj["ok"] is False
    assert [r["component"] for r in obj["rows"] if not r["ok"]] == ["head", "total", "active"]


def test_summary_command(cli: Cli) -> None:
    out = cli("summary", "--preset", "id6").stdout
    assert "(None, 2048)" in out and "131,136" in out and "Total params: 215,168" in out
    obj = cli.json("summary", "--preset", "id4")
    assert obj["total"] == obj["trainable"] == 137_105
    assert [l["params"] for l in obj["layers"]] == [4_112, 0, 1_152, 0, 131_841]


def test_check_bad_input_is_one_line(cli: Cli) -> None:
    assert cli.error("check", "--preset", "id4", "--head-width", "0") == (
        "Error: head_width must be a positive integer, got 0")


def test_a_configuration_torch_cannot_build_is_one_line(cli: Cli) -> None:
    line = cli.error("check", "--vocab-size", "257", "--seq-length", "32", "--d-model",
                     "100000000000000000000", "--num-blocks", "1")
    assert line == ("Error: command line: d_model must be at most 2**40 (1,099,511,627,776), "
                    "got 100000000000000000000")
    line = cli.error("summary", "--preset", "id4", "--d-model", "100000000000")
    assert line.startswith("Error: cannot build this configuration in torch: Storage size")


def test_a_parameter_outside_the_components_fails_the_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import paramcalc.modules as modules

    built = modules.LanguageModel.__init__

    def with_a_stray_parameter(self: modules.LanguageModel, config: ModelConfig) -> None:
        built(self, config)
        self.stray = torch.nn.Parameter(torch.zeros(7))  # in no component

    monkeypatch.setattr(modules.LanguageModel, "__init__", with_a_stray_parameter)
    result = check(from_name("id4").config)
    assert [row.component for row in result.rows if not row.ok] == ["total", "active"]
    assert {row.component: row.instantiated for row in result.rows}["total"] == 137_105 + 7


def test_a_tensor_shared_into_the_wrong_component_fails_the_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import paramcalc.modules as modules

    built = modules.Head.__init__

    def sharing(self: modules.Head, config: ModelConfig, embedding: torch.nn.Embedding) -> None:
        built(self, config, embedding)
        self.dense.weight = embedding.weight  # the untied head made to share the V × d matrix

    monkeypatch.setattr(modules.Head, "__init__", sharing)
    result = check(from_name("id4").config.with_head("linear"))
    failed = {row.component: (row.formula, row.instantiated) for row in result.rows if not row.ok}
    assert failed["head"] == (257 * 16 + 257, 257)  # only the bias is the head's own now
    assert "total" in failed and "embedding" not in failed


def test_rows_take_zero_where_one_side_has_no_such_component() -> None:
    from paramcalc.check import Row, rows

    got = rows({"embedding": 4, "total": 9}, {"embedding": 4, "total": 12, "other": 3})
    assert Row("other", 0, 3) in got and all(isinstance(r.formula, int) for r in got)


def test_summary_layers_and_per_position_output(cli: Cli) -> None:
    obj = cli.json("summary", "--preset", "gpt2", "--num-blocks", "1", "--seq-length", "16",
                   "--n-positions", "16")
    assert [layer["name"] for layer in obj["layers"]] == ["embedding", "positional", "blocks.0",
                                                          "final_norm", "head.tied"]
    assert obj["layers"][-1]["output_shape"] == [None, 16, 50257]  # every position, as GPT-2


def test_check_json_of_a_mixture_of_experts_holds_integers(cli: Cli) -> None:
    obj = cli.json("check", "--preset", "mixtral-8x7b", "--num-blocks", "2")
    assert obj["ok"]
    assert all(isinstance(row[key], int) for row in obj["rows"]
               for key in ("formula", "instantiated"))


def test_a_configuration_torch_cannot_run_is_one_line_in_summary(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import paramcalc.modules as modules

    def fails(self: modules.LanguageModel, tokens: torch.Tensor,
              every_position: bool = False) -> torch.Tensor:
        raise RuntimeError("shapes cannot be multiplied\n(a C++ stack trace)")

    monkeypatch.setattr(modules.LanguageModel, "forward", fails)
    assert cli.error("summary", "--preset", "id4") == (
        "Error: cannot run this configuration in torch: shapes cannot be multiplied")
