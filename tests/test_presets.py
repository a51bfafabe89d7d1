"""Presets and user TOML files: loading, overrides, and every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from paramcalc import PresetError, ConfigError, from_file, from_name, resolve
from paramcalc.presets import preset_dir


@pytest.mark.parametrize("name", ["id4", "id6", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl",
                                  "ctrl"], ids=str)
def test_every_preset_cites_its_source(name: str) -> None:
    preset = from_name(name)
    assert preset.source and preset.description
    assert preset.name == name


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(PresetError) as error:
        from_name("gpt3")
    assert str(error.value) == ("unknown preset 'gpt3'; known presets: ctrl, deepseek-v3, "
                                "gemma-2-2b, gemma-3-27b, gpt-neox-20b, gpt-oss-120b, gpt-oss-20b, gpt2, gpt2-large, gpt2-medium, "
                                "gpt2-xl, id4, id6, llama-3.1-70b, llama-3.1-8b, llama-3.2-1b, mistral-7b, "
                                "mixtral-8x7b, olmo-2-7b, olmoe-1b-7b, phi-3-mini, phimoe-3.5, "
                                "qwen2.5-7b, qwen3-30b-a3b")


def test_a_users_file_with_an_override(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('source = "my notes"\nvocab_size = 257\nseq_length = 64\nd_model = 32\n'
                    'num_blocks = 2\nhead = "td-dense"\n')
    preset = resolve(preset_file=path, overrides={"head_width": 8, "d_model": None})
    assert preset.name == "mine" and preset.source == "my notes"
    assert preset.config.head_width == 8 and preset.config.d_model == 32


def test_overrides_on_a_preset() -> None:
    config = resolve("id4", overrides={"d_model": 128, "head": "td-dense", "head_width": 8}).config
    assert (config.d_model, config.head, config.head_width, config.vocab_size) == (128, "td-dense",
                                                                                   8, 257)


def test_flags_alone_make_a_configuration() -> None:
    config = resolve(overrides=dict(vocab_size=257, seq_length=32, d_model=16, num_blocks=1)).config
    assert config.d_model == 16


@pytest.mark.parametrize("text, message", [
    ("vocab_size = 257\nseq_length = 32\nd_model = 16\nnum_blocks = 1\nwidth = 3\n",
     "unknown key 'width'"),
    ("vocab_size = 257\nseq_length = 32\nd_model = 16\n", "missing num_blocks"),
    ("vocab_size = 257\nseq_length = 32\nd_model = 16.0\nnum_blocks = 1\n",
     "d_model must be an integer, got 16.0"),
    ("vocab_size = 257\nseq_length = 32\nd_model = 16\nnum_blocks = 1\nfinal_norm = \"yes\"\n",
     "final_norm must be true or false, got 'yes'"),
])
def test_bad_keys_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        from_file(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("vocab_size = 257\nseq_length = = 32\n")
    with pytest.raises(PresetError) as error:
        from_file(path)
    assert str(error.value).startswith(f"{path}: malformed TOML: ")
    assert "line 2" in str(error.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="does not exist"):
        from_file(tmp_path / "nope.toml")
    with pytest.raises(PresetError, match="is a directory"):
        from_file(tmp_path)


def test_preset_and_preset_file_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="not --preset and --preset-file"):
        resolve("id4", tmp_path / "x.toml")
    with pytest.raises(PresetError, match="not --preset and --hf-config"):
        resolve("id4", hf_config=tmp_path / "config.json")


def test_shipped_files_are_flat_toml_named_after_the_preset() -> None:
    files = sorted(p.stem for p in preset_dir().glob("*.toml"))
    assert files == ["ctrl", "deepseek-v3", "gemma-2-2b", "gemma-3-27b", "gpt-neox-20b", "gpt-oss-120b",
                     "gpt-oss-20b", "gpt2", "gpt2-large",
                     "gpt2-medium", "gpt2-xl", "id4", "id6", "llama-3.1-70b", "llama-3.1-8b", "llama-3.2-1b",
                     "mistral-7b", "mixtral-8x7b", "olmo-2-7b", "olmoe-1b-7b", "phi-3-mini",
                     "phimoe-3.5", "qwen2.5-7b", "qwen3-30b-a3b"]


def test_the_public_api_names_what_it_exports() -> None:
    import paramcalc

    assert sorted(paramcalc.__all__) == sorted(set(paramcalc.__all__))
    for name in paramcalc.__all__:
        assert hasattr(paramcalc, name), name
    import types

    public = {n for n in dir(paramcalc) if not n.startswith("_") and n != "annotations"
              and not isinstance(getattr(paramcalc, n), types.ModuleType)}
    assert public == set(paramcalc.__all__)


def test_from_python_a_config_json_counted_solved_and_swept() -> None:
    import paramcalc

    read = paramcalc.load_hf_config(Path(__file__).resolve().parents[1] / "examples"
                                    / "llama-3.1-8b")
    assert read.model_type == "llama" and read.name == "llama-3.1-8b"
    assert paramcalc.budget(read.config).params["total"] == 8_030_261_248
    answer = paramcalc.solve(read.config, "num_blocks", total=paramcalc.parse_budget("7G"))
    # 1,050,677,248 outside the blocks, 218,112,000 per block: ⌊(7e9 − 1,050,677,248)/218,112,000⌋
    assert answer.value == 27
    grid = paramcalc.sweep(read.config, [paramcalc.parse_range("num_blocks=1:4")])
    assert grid.columns["total"].tolist() == [1_050_677_248 + b * 218_112_000 for b in range(1, 5)]


def test_from_python_compute_and_memory() -> None:
    """The README's From Python lines for compute: Llama 3.1 8B at S = 8,192."""
    import paramcalc

    read = paramcalc.load_hf_config(Path(__file__).resolve().parents[1] / "examples"
                                    / "llama-3.1-8b")
    budgets = paramcalc.compute_budget(paramcalc.budget(read.config.replace(seq_length=8192)),
                                       paramcalc.Settings(zero=3, devices=8))
    S, d, n, f, V, kv = 8192, 4096, 32, 14336, 128_256, 8 * 128
    per_block = 2 * S * (2 * d * d + 2 * d * kv + 3 * d * f) + 4 * S * S * d
    assert budgets.flops["forward"]["total"] == n * per_block + 2 * S * d * V
    assert budgets.memory["kv_cache_per_token"] == n * 2 * kv * 2
    assert budgets.derivatives("kv_cache")["n_kv_heads"].value == n * 2 * 128 * 2
