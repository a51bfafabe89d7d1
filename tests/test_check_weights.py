"""check --weights: tiny models of every supported family saved by transformers (one file and
sharded) are placed tensor by tensor and match the formulas; tampered checkpoints fail with
exit 1; safetensors sizes are 8 + header + the bytes paramcalc computes."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from paramcalc.families import SUPPORTED

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _keys(model_type: str) -> dict[str, Any]:
    """A tiny config of ``model_type``: two blocks, width 16."""
    if model_type in ("gpt2", "ctrl"):
        keys: dict[str, Any] = dict(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2)
        keys.update(n_inner=32) if model_type == "gpt2" else keys.update(dff=32)
    else:
        keys = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=1, max_position_embeddings=16)
        keys.update(ffn_dim=32) if model_type == "opt" else keys.update(intermediate_size=32)
    if model_type in ("qwen3", "gemma", "gemma2", "gemma3_text", "hunyuan_v1_dense", "ministral",
                      "helium"):
        keys["head_dim"] = 8  # (hunyuan and ministral read it with no fallback; helium's is d/h)
    if model_type in ("gptj", "codegen"):
        keys["rotary_dim"] = 4  # at most a head's width
    if model_type in ("mixtral", "phimoe", "olmoe"):
        keys.update(num_local_experts=4, num_experts=4, num_experts_per_tok=2)
    if model_type in ("qwen2_moe", "qwen3_moe"):
        keys.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=8,
                    mlp_only_layers=[0])
    if model_type == "qwen2_moe":
        keys["shared_expert_intermediate_size"] = 8
    if model_type in ("deepseek_v2", "deepseek_v3"):
        keys.update(n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=8,
                    n_shared_experts=1, first_k_dense_replace=1, q_lora_rank=8, kv_lora_rank=8,
                    qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=4, n_group=1,
                    topk_group=1)
    return {**keys, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}


def _save(model_type: str, folder: Path, sharded: bool) -> Any:
    config = transformers.AutoConfig.for_model(model_type, **_keys(model_type))
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder, max_shard_size="4KB" if sharded else "1GB")
    return model


@pytest.mark.parametrize("sharded", [False, True], ids=["one-file", "sharded"])
@pytest.mark.parametrize("model_type", SUPPORTED, ids=str)
def test_save_pretrained_checkpoints_check_clean(model_type: str, sharded: bool, tmp_path: Path,
                                                 cli: Any) -> None:
    model = _save(model_type, tmp_path, sharded)
    assert (tmp_path / "model.safetensors.index.json").is_file() == sharded
    obj = cli.json("check", "--weights", str(tmp_path))
    assert obj["ok"] and obj["weights"]["unplaced"] == []
    # transformers' own count (a tied matrix once) is the checkpoint's total
    total = next(row for row in obj["rows"] if row["component"] == "total")
    assert total["instantiated"] == sum(p.numel() for p in model.parameters())
    # each file weighs 8 bytes, its header's length (those 8 bytes) and the tensors' bytes
    files = sorted(tmp_path.glob("*.safetensors"))
    headers = sum(8 + struct.unpack("<Q", f.read_bytes()[:8])[0] for f in files)
    assert sum(f.stat().st_size for f in files) == headers + obj["weights"]["bytes"]
    assert obj["weights"]["bits_per_weight"] == 32.0  # float32 as transformers builds them


def _tamper(folder: Path, change: str) -> None:
    from safetensors.numpy import load_file, save_file
    import numpy as np

    tensors = load_file(folder / "model.safetensors")
    if change == "extra":
        tensors["model.layers.0.mystery.weight"] = np.zeros((3, 3), np.float32)
    elif change == "missing":
        del tensors["model.layers.1.mlp.up_proj.weight"]
    else:
        tensors["model.layers.0.self_attn.q_proj.weight"] = np.zeros((16, 15), np.float32)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


@pytest.mark.parametrize("change", ["extra", "missing", "shape"])
def test_a_tampered_checkpoint_is_reported(change: str, tmp_path: Path, cli: Any) -> None:
    _save("llama", tmp_path, False)
    _tamper(tmp_path, change)
    obj = cli.json("check", "--weights", str(tmp_path / "model.safetensors"), code=1)
    assert not obj["ok"]
    wrong = {row["component"] for row in obj["rows"] if not row["ok"]}
    if change == "extra":
        assert obj["weights"]["unplaced"] == ["model.layers.0.mystery.weight"]
        assert wrong == {"total"}
    elif change == "missing":  # 32 × 16 elements fewer in block 1
        assert wrong == {"per_block", "blocks", "total"}
    else:
        assert wrong == {"per_block", "blocks", "total"}
    assert "✗" in cli("check", "--weights", str(tmp_path), code=1).stdout


def _gguf(path: Path, kind: str) -> dict[str, int]:
    """A tiny llama GGUF file with every tensor of its two blocks, written by gguf-py; the
    matrices in ``kind`` (quantized by gguf), the norms in F32. Returns bytes by hand."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    rng = np.random.default_rng(0)
    d, f, v = 64, 128, 96
    writer = GGUFWriter(str(path), "llama")
    for add, value in ((writer.add_block_count, 2), (writer.add_embedding_length, d),
                       (writer.add_feed_forward_length, f), (writer.add_head_count, 4),
                       (writer.add_head_count_kv, 2), (writer.add_context_length, 256)):
        add(value)
    writer.add_token_list([f"t{i}" for i in range(v)])
    shapes = {"token_embd.weight": (v, d), "output_norm.weight": (d,), "output.weight": (v, d)}
    for i in range(2):
        shapes.update({f"blk.{i}.attn_norm.weight": (d,), f"blk.{i}.attn_q.weight": (d, d),
                       f"blk.{i}.attn_k.weight": (d // 2, d), f"blk.{i}.attn_v.weight": (d // 2, d),
                       f"blk.{i}.attn_output.weight": (d, d), f"blk.{i}.ffn_norm.weight": (d,),
                       f"blk.{i}.ffn_gate.weight": (f, d), f"blk.{i}.ffn_up.weight": (f, d),
                       f"blk.{i}.ffn_down.weight": (d, f)})
    per_32 = {"F16": 64, "Q8_0": 34, "Q4_0": 18}[kind]  # bytes per 32 weights
    expected = 0
    for name, shape in shapes.items():
        values = rng.standard_normal(shape).astype(np.float32)
        if len(shape) == 1:
            writer.add_tensor(name, values)
            expected += 4 * shape[0]
        elif kind == "F16":
            writer.add_tensor(name, values.astype(np.float16))
            expected += shape[0] * shape[1] * 2
        else:
            qtype = GGMLQuantizationType[kind]
            writer.add_tensor(name, quantize(values, qtype), raw_dtype=qtype)
            expected += shape[0] * shape[1] // 32 * per_32
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"bytes": expected}


@pytest.mark.parametrize("kind", ["F16", "Q8_0", "Q4_0"])
def test_gguf_files_check_against_their_own_metadata(kind: str, tmp_path: Path,
                                                     cli: Any) -> None:
    path = tmp_path / f"tiny-{kind}.gguf"
    expected = _gguf(path, kind)
    obj = cli.json("check", "--weights", str(path))
    assert obj["ok"] and obj["weights"]["unplaced"] == []
    d, f, v = 64, 128, 96  # by hand: a llama block with 2 of 4 heads for keys and values
    block = d * d + 2 * d * (d // 2) + d * d + 3 * d * f + 2 * d
    assert {row["component"]: row["formula"] for row in obj["rows"]} == {
        "embedding": v * d, "positional": 0, "per_block": block, "blocks": 2 * block,
        "final_norm": d, "head": v * d, "total": 2 * v * d + 2 * block + d}
    assert obj["weights"]["bytes"] == expected["bytes"]
    from paramcalc.weights import read

    checkpoint = read(path)  # gguf aligns each tensor's data to 32 bytes
    padded = sum(-(-t.nbytes // 32) * 32 for t in checkpoint.tensors)
    assert path.stat().st_size == checkpoint.header_bytes + padded


def test_bad_weights_are_one_line(tmp_path: Path, cli: Any) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    assert "not a readable safetensors file" in cli.error("check", "--weights", str(junk))
    short = tmp_path / "short.gguf"
    short.write_bytes(b"GGUF\x03\x00")
    assert "not a readable GGUF file" in cli.error("check", "--weights", str(short))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "not a checkpoint paramcalc reads" in cli.error("check", "--weights", str(text))
    (tmp_path / "alone").mkdir()
    _save("llama", tmp_path / "alone", False)
    (tmp_path / "alone" / "config.json").unlink()
    assert "no config.json beside" in cli.error("check", "--weights", str(tmp_path / "alone"))
