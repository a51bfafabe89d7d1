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
    if model_type in ("gpt2", "ctrl", "gpt_bigcode"):
        keys: dict[str, Any] = dict(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2)
        keys.update(dff=32) if model_type == "ctrl" else keys.update(n_inner=32)
    else:
        keys = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=1, max_position_embeddings=16)
        keys.update({"ffn_dim" if model_type in ("opt", "xglm") else "intermediate_size": 32})
    if model_type in ("qwen3", "gemma", "gemma2", "gemma3_text", "hunyuan_v1_dense", "ministral",
                      "hunyuan_v1_moe", "helium"):
        keys["head_dim"] = 8  # (the HunYuans and Ministral read it with no fallback; helium's is d/h)
    if model_type == "dbrx":  # its own names (hidden_size would widen its attention alone),
        # its sub-configs and the rope_theta its attention reads
        keys = dict(vocab_size=64, d_model=16, n_layers=2, n_heads=2, max_seq_len=16)
        keys.update(attn_config=dict(kv_n_heads=1, rope_theta=10000.0),
                    ffn_config=dict(ffn_hidden_size=8, moe_num_experts=4, moe_top_k=2))
    if model_type == "mpt":  # its own names
        keys = dict(vocab_size=64, d_model=16, n_layers=2, n_heads=2, max_seq_len=16)
    if model_type == "falcon":  # the new architecture's names (ln_attn, ln_mlp), biases
        keys = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    max_position_embeddings=16, new_decoder_architecture=True, num_kv_heads=1,
                    bias=True)
    if model_type == "gpt_neo":  # a global and a local layer
        keys["attention_types"] = [[["global", "local"], 1]]
    if model_type == "dots1":  # its experts have no defaults
        keys.update(n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1)
    if model_type in ("gptj", "codegen"):
        keys["rotary_dim"] = 4  # at most a head's width
    if model_type == "llama4_text":  # its dense width, experts and chunks
        keys.update(intermediate_size=8, intermediate_size_mlp=32, num_local_experts=4,
                    num_experts_per_tok=2, interleave_moe_layer_step=2, head_dim=8,
                    attention_chunk_size=4)
    if model_type == "mimo_v2_flash":  # its experts, head widths and window
        keys.update(n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=8,
                    head_dim=6, v_head_dim=4, sliding_window=4)
    if model_type == "mamba2":  # its heads fill expand · hidden_size
        keys.update(num_heads=4, head_dim=8, n_groups=1, state_size=8)
    if model_type in ("bamba", "granitemoehybrid"):  # Mamba-2 heads that fill expand ·
        # hidden_size; one attention layer
        keys.update(mamba_n_heads=4, mamba_d_state=8, attn_layer_indices=[1],
                    layer_types=["mamba", "attention"])
        keys.pop("attn_layer_indices" if model_type != "bamba" else "layer_types")
    if model_type == "granitemoehybrid":
        keys.update(num_local_experts=4, num_experts_per_tok=2, shared_intermediate_size=8)
    if model_type == "jamba":  # layers 0 and 2 attend, layer 1's experts: both kinds of each
        keys.update(num_hidden_layers=3, attn_layer_period=2, attn_layer_offset=0,
                    expert_layer_period=2, expert_layer_offset=1, num_experts=4,
                    num_experts_per_tok=2, mamba_d_state=4)
    if model_type in ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text"):  # a gated DeltaNet
        # layer and an attending one; experts (and the gated shared expert) but in Qwen3.5's
        keys.update(head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4,
                    linear_key_head_dim=4, linear_value_head_dim=4,
                    layer_types=["linear_attention", "full_attention"])
        if model_type != "qwen3_5_text":
            keys.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=8,
                        shared_expert_intermediate_size=8)
    if model_type == "nemotron_h":  # a layer of each kind, by the older pattern
        keys.update(hybrid_override_pattern="M*-E", mamba_num_heads=4, mamba_head_dim=4,
                    n_groups=2, ssm_state_size=8, head_dim=8, n_routed_experts=4,
                    num_experts_per_tok=2, moe_intermediate_size=8,
                    moe_shared_expert_intermediate_size=8)
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


# -- quantized checkpoints: packed weights and their side tensors, laid out as published -----


def _repack(folder: Path, convert: Any) -> tuple[int, int]:
    """Rewrite ``folder``'s model.safetensors tensor by tensor (``convert(name, array)`` →
    {name: array}); returns the parameters before and the bytes after, by hand."""
    from safetensors.numpy import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    params = sum(t.size for t in tensors.values())
    out: dict[str, Any] = {}
    for name, array in tensors.items():
        out.update(convert(name, array))
    save_file(out, folder / "model.safetensors", metadata={"format": "pt"})
    return params, sum(t.nbytes for t in out.values())


def _check_packed(folder: Path, cli: Any, params: int, nbytes: int) -> dict[str, Any]:
    obj = cli.json("check", "--weights", str(folder))
    assert obj["ok"] and obj["weights"]["unplaced"] == []
    assert obj["weights"]["params"] == params and obj["weights"]["bytes"] == nbytes
    path = folder / "model.safetensors"
    header = 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]
    assert path.stat().st_size == header + nbytes
    return obj


def test_gpt_oss_with_its_experts_in_mxfp4_as_published(tmp_path: Path, cli: Any) -> None:
    """gpt-oss's published layout: each expert matrix as *_blocks (U8, 16 bytes = 32 fp4
    values a block, out × in/32 × 16) and *_scales (U8, one e8m0 per block); biases in bf16."""
    import numpy as np

    config = transformers.AutoConfig.for_model(
        "gpt_oss", vocab_size=64, hidden_size=64, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, num_local_experts=4,
        num_experts_per_tok=2, max_position_embeddings=16, sliding_window=4)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)

    def convert(name: str, array: Any) -> dict[str, Any]:
        if name.endswith(("experts.gate_up_proj", "experts.down_proj")):
            experts, inputs, outputs = array.shape  # transformers holds them in × out
            return {f"{name}_blocks": np.zeros((experts, outputs, inputs // 32, 16), np.uint8),
                    f"{name}_scales": np.zeros((experts, outputs, inputs // 32), np.uint8)}
        return {name: array}

    params, nbytes = _repack(tmp_path, convert)
    obj = _check_packed(tmp_path, cli, params, nbytes)
    # by hand: 2 layers of 4 experts, gate_up 64 → 2·32 and down 32 → 64, at 4.25 bits; their
    # biases (2·32 + 64 a expert) in fp32
    matrices, biases = 2 * 4 * (64 * 64 + 32 * 64), 2 * 4 * (64 + 64)
    experts = obj["weights"]["components"]["blocks.experts"]
    assert experts["params"] == matrices + biases
    assert experts["bytes"] == matrices * 17 // 32 + 4 * biases


def test_deepseek_v3_in_fp8_with_block_scales(tmp_path: Path, cli: Any) -> None:
    """DeepSeek-V3's published layout: every linear weight in F8_E4M3 beside its
    weight_scale_inv (F32, one per 128 × 128 block)."""
    import numpy as np
    from safetensors.torch import load_file, save_file

    _save("deepseek_v3", tmp_path, False)
    tensors = load_file(tmp_path / "model.safetensors")
    params = sum(t.numel() for t in tensors.values())
    out = {}
    for name, t in tensors.items():
        if name.endswith("proj.weight") and t.dim() == 2:
            out[name] = t.to(torch.float8_e4m3fn)
            rows, cols = t.shape
            out[name + "_scale_inv"] = torch.ones(-(-rows // 128), -(-cols // 128))
        else:
            out[name] = t
    save_file(out, tmp_path / "model.safetensors", metadata={"format": "pt"})
    nbytes = sum(t.numel() * t.element_size() for t in out.values())
    assert np.dtype("float32").itemsize == 4
    _check_packed(tmp_path, cli, params, nbytes)


def test_gptq_and_bitsandbytes_4bit_layouts(tmp_path: Path, cli: Any) -> None:
    """GPTQ's qweight (eight 4-bit weights to an int32, in/8 × out) with qzeros, scales and
    g_idx for groups of 8; bitsandbytes' NF4 (two weights a byte, flat) with absmax, quant_map
    and its quant_state: each a layer's weights once, its side tensors none."""
    import numpy as np

    _save("llama", tmp_path, False)
    linear = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

    def convert(name: str, array: Any) -> dict[str, Any]:
        stem = name[:-len(".weight")]
        if not name.endswith(tuple(f"{m}.weight" for m in linear)):
            return {name: array}
        out_f, in_f = array.shape
        if "self_attn" in name:  # GPTQ, groups of 8
            return {f"{stem}.qweight": np.zeros((in_f // 8, out_f), np.int32),
                    f"{stem}.qzeros": np.zeros((in_f // 8, out_f // 8), np.int32),
                    f"{stem}.scales": np.zeros((in_f // 8, out_f), np.float16),
                    f"{stem}.g_idx": np.zeros((in_f,), np.int32)}
        return {name: np.zeros((out_f * in_f // 2, 1), np.uint8),  # NF4, blocks of 64
                f"{name}.absmax": np.zeros((-(-out_f * in_f // 64),), np.float32),
                f"{name}.quant_map": np.zeros((16,), np.float32),
                f"{name}.quant_state.bitsandbytes__nf4": np.zeros((80,), np.uint8)}

    params, nbytes = _repack(tmp_path, convert)
    _check_packed(tmp_path, cli, params, nbytes)


# -- fit --weights: the checkpoint's own bytes served -----------------------------------------


def test_fit_serves_a_saved_checkpoints_own_bytes(tmp_path: Path, cli: Any) -> None:
    """A llama saved by transformers (fp32): fit --weights serves its tensors' bytes, the
    norms on every device and the rest split over T, by hand from the file."""
    _save("llama", tmp_path, False)
    path = tmp_path / "model.safetensors"
    data = path.stat().st_size - 8 - struct.unpack("<Q", path.read_bytes()[:8])[0]
    out = cli.json("fit", "--weights", str(tmp_path), "--context", "16")
    assert out["weights_dtype"] == "checkpoint" and out["memory"]["weights"] == data
    assert out["weights_checkpoint"]["bytes"] == data
    assert out["weights_checkpoint"]["matches_formulas"] is True
    norms = (2 * 2 + 1) * 16 * 4  # two per block and the final one, 16 wide, fp32
    split = cli.json("fit", "--weights", str(tmp_path), "--context", "16",
                     "--tensor-parallel", "2")
    assert split["memory"]["weights"] == norms + -(-(data - norms) // 2)
    # the KV cache is the model's, as without --weights
    plain = cli.json("fit", "--hf-config", str(tmp_path), "--context", "16")
    assert out["memory"]["kv_cache"] == plain["memory"]["kv_cache"]


def test_fit_serves_a_gguf_file_by_its_own_metadata(tmp_path: Path, cli: Any) -> None:
    expected = _gguf(tmp_path / "tiny.gguf", "Q4_0")
    out = cli.json("fit", "--weights", str(tmp_path / "tiny.gguf"), "--context", "64")
    assert out["memory"]["weights"] == expected["bytes"]
    assert out["config"]["d_model"] == 64 and out["config"]["num_blocks"] == 2


def test_fit_weights_bad_input_is_one_line(tmp_path: Path, cli: Any) -> None:
    _save("llama", tmp_path, False)
    for args, words in ((["--weights", str(tmp_path), "--weights-dtype", "int8"],
                         "--weights serves the checkpoint's own bytes: drop --weights-dtype"),
                        (["--weights", str(tmp_path / "nowhere")], "no such file or folder")):
        result = cli("fit", *args, code=2)
        assert words in result.stderr and result.stderr.count("\n") == 1


def _gguf_from_transformers(model_type: str, arch: str, path: Path) -> int:
    """A tiny model of ``model_type`` as llama.cpp's converter writes it: every tensor renamed
    by gguf-py's own name map for ``arch`` (``get_tensor_name_map``), stacked experts split
    into gate and up, the sizes as GGUF metadata. Returns transformers' parameter count."""
    import gguf

    keys = _keys(model_type)
    if model_type in ("qwen2_moe", "qwen3_moe"):
        keys["mlp_only_layers"] = []  # llama.cpp's qwen MoE archs have no dense layers
    config = transformers.AutoConfig.for_model(model_type, **keys)
    model = transformers.AutoModelForCausalLM.from_config(config)
    arch_enum = {name: key for key, name in gguf.MODEL_ARCH_NAMES.items()}[arch]
    names = gguf.get_tensor_name_map(arch_enum, config.num_hidden_layers)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_embedding_length(config.hidden_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_feed_forward_length(config.intermediate_size)
    if getattr(config, "head_dim", None):
        writer.add_key_length(config.head_dim)
        writer.add_value_length(config.head_dim)
    experts = getattr(config, "num_local_experts", None) or getattr(config, "num_experts", None)
    if experts:
        writer.add_expert_count(experts)
        writer.add_expert_used_count(config.num_experts_per_tok)
    for key, add in (("moe_intermediate_size", writer.add_expert_feed_forward_length),
                     ("shared_expert_intermediate_size",
                      writer.add_expert_shared_feed_forward_length)):
        if getattr(config, key, None):
            add(getattr(config, key))
    writer.add_token_list([f"t{i}" for i in range(config.vocab_size)])
    seen = set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:  # a tied head: llama.cpp writes no output.weight
            continue
        seen.add(tensor.data_ptr())
        values = tensor.float().numpy()
        if name.endswith("experts.gate_up_proj"):  # (E, d, 2·f) → gate and up, (E, f, d) each
            block = name.split(".")[2]
            e, d, two_f = values.shape
            for part in ("gate", "up"):
                writer.add_tensor(f"blk.{block}.ffn_{part}_exps.weight",
                                  values[:, :, : two_f // 2].transpose(0, 2, 1).copy())
            continue
        suffix = next((s for s in (".weight", ".bias") if name.endswith(s)), "")
        renamed = names.get_name(name[: len(name) - len(suffix)])
        assert renamed is not None, f"gguf-py's {arch} map has no name for {name}"
        writer.add_tensor(renamed + suffix, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return sum(p.numel() for p in model.parameters())


def _gguf_archs() -> list[tuple[str, str]]:
    import gguf

    from paramcalc.placing import GGUF_ARCHITECTURES

    return [(arch, model_type) for arch, model_type in GGUF_ARCHITECTURES.items()
            if arch in gguf.MODEL_ARCH_NAMES.values()]


@pytest.mark.parametrize(("arch", "model_type"), _gguf_archs(), ids=lambda v: str(v))
def test_every_gguf_architecture_as_llama_cpp_names_it(arch: str, model_type: str,
                                                       tmp_path: Path, cli: Any) -> None:
    """Each architecture paramcalc reads from GGUF, written with gguf-py's own tensor names
    and read back with nothing but the file: every tensor placed, every row as the formulas
    say, and the total transformers' model holds."""
    total = _gguf_from_transformers(model_type, arch, tmp_path / f"{arch}.gguf")
    obj = cli.json("check", "--weights", str(tmp_path / f"{arch}.gguf"))
    assert obj["ok"] and obj["weights"]["unplaced"] == []
    assert obj["weights"]["params"] == total
