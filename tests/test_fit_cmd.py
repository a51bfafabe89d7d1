"""paramcalc fit: serving memory per device and the verdict, with figures worked by hand."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from paramcalc.cli import app


def fit(*args: str) -> dict:
    result = CliRunner().invoke(app, ["fit", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_llama_kv_cache_is_layers_kv_heads_head_dim_context() -> None:
    out = fit("--preset", "llama-3.1-8b", "--context", "128K")
    # 32 layers × (keys + values) × 8 heads × 128 wide × 131,072 tokens × 2 bytes
    assert out["kv_cache_by_kind"] == {"dense": 32 * 2 * 8 * 128 * 131072 * 2}
    assert out["memory"]["kv_cache"] == 17_179_869_184
    assert out["context"] == 131072 and out["batch"] == 1
    for key in ("limit", "fits", "max_context", "max_batch", "best_precision"):
        assert out[key] is None
    assert out["derivatives"]["context"] == 32 * 2 * 8 * 128 * 2


def test_sliding_layers_hold_the_window_less_one() -> None:
    out = fit("--preset", "gemma-2-2b", "--context", "8K")
    # 13 full and 13 sliding layers, 4 KV heads of 256, window 4,096: the sliding ones keep 4,095
    assert out["kv_cache_by_kind"] == {"full": 13 * 2 * 4 * 256 * 8192 * 2,
                                       "sliding": 13 * 2 * 4 * 256 * 4095 * 2}


def test_kv_dtypes_and_tensor_parallel_split_the_cache() -> None:
    fp8 = fit("--preset", "llama-3.1-8b", "--context", "8K", "--kv-dtype", "fp8")
    assert fp8["memory"]["kv_cache"] == 32 * 2 * 8 * 128 * 8192
    q4 = fit("--preset", "llama-3.1-8b", "--context", "8K", "--kv-dtype", "q4")
    assert q4["memory"]["kv_cache"] == 32 * 2 * 8 * 128 * 8192 * 18 // 32  # q4_0: 18 B per 32
    tp = fit("--preset", "llama-3.1-8b", "--context", "8K", "--tensor-parallel", "2")
    assert tp["memory"]["kv_cache"] == 32 * 2 * 8 * 128 * 8192 * 2 // 2


def test_bf16_weights_are_two_bytes_per_parameter() -> None:
    out = fit("--preset", "llama-3.1-8b", "--context", "8K")
    assert out["memory"]["weights"] == 2 * 8_030_261_248  # LlamaForCausalLM's count


def test_verdict_and_longest_context_checked_by_substitution() -> None:
    out = fit("--preset", "llama-3.1-8b", "--weights-dtype", "int4-g128", "--gpu", "RTX4090")
    assert out["limit"] == 24564 * 2**20  # nvidia-smi's memory.total
    longest = out["max_context_by_memory"]
    assert out["max_context"] == min(longest, 131_072)  # never past the model's window
    at = fit("--preset", "llama-3.1-8b", "--weights-dtype", "int4-g128", "--gpu", "rtx4090",
             "--context", str(longest))
    past = fit("--preset", "llama-3.1-8b", "--weights-dtype", "int4-g128", "--gpu", "rtx4090",
               "--context", str(longest + 1))
    assert at["fits"] is True and past["fits"] is False
    assert at["memory"]["total"] <= out["limit"] < past["memory"]["total"]


def test_quantization_config_sets_the_default_weights(tmp_path) -> None:
    from pathlib import Path

    config = json.loads((Path(__file__).parents[1] / "examples/llama-3.1-8b/config.json")
                        .read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert fit("--hf-config", str(tmp_path), "--context", "8K")["weights_dtype"] == "nf4"


def test_bad_input_is_one_line() -> None:
    runner = CliRunner()
    for args, words in ((["--context", "0"], "--context must be positive"),
                        (["--batch-size", "0"], "--batch-size must be positive"),
                        (["--gpu", "tpu"], "unknown GPU 'tpu'; known: v100,")):
        result = runner.invoke(app, ["fit", "--preset", "llama-3.1-8b", *args])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"Error: {words}") and result.stderr.count("\n") == 1


def test_fit_imports_no_torch() -> None:
    code = ("import sys; from paramcalc.cli import main; sys.argv = ['paramcalc', 'fit', "
            "'--preset', 'gemma-2-2b', '--gpu', 'h100', '--json']\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stderr.strip().splitlines()[-1] == "False"


def test_flops_training_verdict_and_devices_that_fit() -> None:
    result = CliRunner().invoke(app, ["flops", "--preset", "llama-3.1-8b", "--seq-length", "4096",
                                      "--zero", "3", "--devices", "8", "--memory", "80GB",
                                      "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    verdict, memory = out["fit"], out["memory"]
    assert verdict["limit"] == 80 * 10**9
    assert verdict["fits"] is (memory["per_device"] <= 80 * 10**9)
    # ZeRO-3 shards 2 + 2 + 12 bytes per parameter (mixed-precision Adam) over the devices
    states = 16 * 8_030_261_248
    devices = verdict["devices_that_fit"]
    assert -(-states // devices) + memory["activations"] <= 80 * 10**9
    assert -(-states // (devices - 1)) + memory["activations"] > 80 * 10**9


def test_a_group_that_does_not_divide_a_width_is_refused() -> None:
    """Every matrix a format quantizes is checked, by the width its groups run along: the
    hidden state's, attention's output's, the feed-forward's inner width."""
    runner = CliRunner()
    for args, words in (
            (["--preset", "llama-3.1-8b", "--weights-dtype", "int4-g3072"],
             "int4-g3072: the group size 3072 does not divide the width 4,096 of the matrices "
             "that read the hidden state (d_model); give a group size that divides it"),
            (["--preset", "llama-3.1-8b", "--weights-dtype", "int4-g1024", "--d-ff", "14848"],
             "int4-g1024: the group size 1024 does not divide the width 14,848 of the "
             "feed-forward's down projection (d_ff)"),
            (["--preset", "gpt2-xl", "--weights-dtype", "q4_k"],
             "q4_k: the block of 256 does not divide the width 1,600 of the matrices that "
             "read the hidden state (d_model); choose a format whose block divides it")):
        result = runner.invoke(app, ["fit", *args])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"Error: {words}") and result.stderr.count("\n") == 1


def test_best_precision_passes_over_a_format_the_widths_refuse() -> None:
    """gpt2-xl's 1,600 is no multiple of 128: int4-g128 cannot hold it, so the verdict's
    search goes past it to NF4 (whose blocks run over the flattened tensor), which is larger
    than int4-g128 would be (0.5625 bytes a weight against 0.53125): only the refusal skips it."""
    out = fit("--preset", "gpt2-xl", "--memory", "2.5GiB", "--context", "1024")
    assert out["best_precision"] == "nf4"
    result = CliRunner().invoke(app, ["fit", "--preset", "gpt2-xl", "--weights-dtype",
                                      "int4-g128"])
    assert result.exit_code == 2 and "group size 128 does not divide the width 1,600" in \
        result.stderr


def test_mxfp4_checks_only_the_experts_it_quantizes() -> None:
    """gpt-oss's MXFP4 leaves attention in bf16: a head width its 32-blocks do not divide
    is no matter, an expert width is."""
    base = ["fit", "--hf-config", "examples/gpt-oss-120b", "--context", "4K"]  # MXFP4 experts
    assert CliRunner().invoke(app, [*base, "--head-dim", "72"]).exit_code == 0
    result = CliRunner().invoke(app, [*base, "--expert-d-ff", "2888"])
    assert result.exit_code == 2 and "each expert's down projection (expert_d_ff)" in \
        result.stderr


def test_flops_takes_every_gpu_by_name_with_its_memory(monkeypatch) -> None:
    """flops --gpu knows the table fit knows, case-insensitive: its peak for the run's time
    and its memory for the verdict, whose line comes under flops' tables without cutting a
    figure short."""
    monkeypatch.setenv("COLUMNS", "100")
    args = ["flops", "--preset", "llama-3.1-70b", "--seq-length", "4096", "--zero", "3",
            "--devices", "8", "--recompute", "full"]
    out = json.loads(CliRunner().invoke(app, [*args, "--gpu", "H100", "--json"]).stdout)
    assert out["fit"]["limit"] == 81559 * 2**20 and out["settings"]["peak_tflops"] == 989.0
    assert out["fit"]["fits"] is False and out["fit"]["devices_that_fit"] == 15
    b200 = json.loads(CliRunner().invoke(app, [*args, "--gpu", "b200", "--json"]).stdout)
    assert b200["fit"]["limit"] > out["fit"]["limit"]
    table = CliRunner().invoke(app, [*args, "--gpu", "h100"]).stdout
    assert "training does not fit in 79.65 GiB per device" in table
    assert "…" not in table.replace("96·s·l·h²·(…)", "")  # Megatron's own ellipsis aside
    given = json.loads(CliRunner().invoke(app, [*args, "--gpu", "h100", "--memory", "200GB",
                                                "--json"]).stdout)
    assert given["fit"]["limit"] == 200 * 10**9  # --memory wins over the device's own
    bad = CliRunner().invoke(app, ["flops", "--preset", "gpt2", "--gpu", "tpu"])
    assert bad.exit_code == 2 and "known: v100, a100-40gb, a100, h100, h200, b200" in bad.stderr
