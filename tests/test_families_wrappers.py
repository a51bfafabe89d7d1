"""Multimodal wrappers (``families/wrappers.py``) against transformers' own models on the meta
device: a wrapper's config.json counts as its language model and the wrapper's output layer,
exactly, and every output says so.

For every wrapper type, random language models from the text type's own keys (sizes, biases,
head widths, a tied text config), with the wrapper's own tie_word_embeddings drawn, are written
as save_pretrained writes them and by hand (and, for Qwen2.5-VL, flat, as its published files
are), counted by ``count --hf-config`` and compared with transformers' ForConditionalGeneration
model: everything but its vision or audio tower and projector, identified by transformers'
own module names (``model.language_model`` and ``lm_head``, the rest checked to be towers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc import budget, from_name
from paramcalc.families import MULTIMODAL, load, wrapper_defaults
from paramcalc.families.wrappers import WRAPPERS

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from test_hf import family_keys  # noqa: E402  (needs transformers)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: each wrapper whose language model paramcalc counts, and the type whose keys are drawn for
#: it (Qwen2.5-VL's text model takes Qwen2's keys, Qwen3-VL's Qwen3's)
COUNTED = {"gemma3": "gemma3_text", "mistral3": "mistral", "qwen2_5_vl": "qwen2",
           "qwen3_vl": "qwen3", "llava": "llama", "llava_next": "llama",
           "llava_onevision": "qwen2", "internvl": "qwen2", "llama4": "llama4_text",
           "qwen3_5": "qwen3_5_text", "qwen3_5_moe": "qwen3_5_moe_text"}
#: the wrappers whose language model is a type paramcalc does not read: refused
REFUSED = {"mllama": "mllama_text_model", "gemma3n": "gemma3n_text",
           "gemma4": "gemma4_text"}
#: transformers' names for what a wrapper holds beside its language model
TOWERS = {"vision_tower", "multi_modal_projector", "visual", "image_newline", "vision_model"}


def test_every_wrapper_is_tested() -> None:
    assert sorted(MULTIMODAL) == sorted({**COUNTED, **REFUSED})


def test_the_committed_wrapper_defaults_are_the_installed_transformers_own() -> None:
    from paramcalc.families.generate import generate
    from paramcalc.families.record import DEFAULTS_FILE

    committed = json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    assert committed["wrappers"] == generate()["wrappers"], "run python -m " \
        "paramcalc.families.generate"


def build(hf_config: Any) -> Any:
    """transformers' ForConditionalGeneration model for a wrapper's config, on meta."""
    for auto in (transformers.AutoModelForImageTextToText, transformers.AutoModelForCausalLM):
        if type(hf_config) in auto._model_mapping:
            with torch.device("meta"):
                return auto.from_config(hf_config)
    # an audio wrapper or one that no auto class maps: its own class
    cls = getattr(transformers, hf_config.architectures[0])  # pragma: no cover
    with torch.device("meta"):  # pragma: no cover
        return cls(hf_config)


def language_reference(hf_config: Any) -> dict[str, Any]:
    """The language model of transformers' wrapper plus its output layer: the total, the
    components, the distinct sizes of its blocks. Everything else it holds must be a tower
    or projector by transformers' own names."""
    model = build(hf_config)
    children = {name for name, _ in model.named_children()}
    if "language_model" in children:  # Llama 4's: a causal LM, its output layer inside
        assert children - {"language_model"} <= TOWERS, children
        language, lm_head = model.language_model.model, model.language_model.lm_head
        towers = {id(p) for name, p in model.named_parameters()
                  if name.split(".")[0] in TOWERS}
    else:
        assert children == {"model", "lm_head"}
        inner = model.model
        others = {name for name, _ in inner.named_children()} | \
            {name for name, _ in inner.named_parameters(recurse=False)}
        assert others - {"language_model"} <= TOWERS, others
        language, lm_head = inner.language_model, model.lm_head
        towers = {id(p) for name, p in model.named_parameters()
                  if name.split(".")[1] in TOWERS and name.startswith("model.")}
    counted = {id(p): p for p in (*language.parameters(), *lm_head.parameters())}
    total = sum(p.numel() for p in counted.values())
    assert sum(p.numel() for p in model.parameters()) == total + sum(
        p.numel() for p in model.parameters() if id(p) in towers)  # nothing else uncounted
    embedding = language.embed_tokens.weight
    return {"total": total, "embedding": embedding.numel(),
            "blocks": sum(p.numel() for p in language.layers.parameters()),
            "head": sum(p.numel() for p in lm_head.parameters() if p is not embedding),
            "block_sizes": sorted({sum(p.numel() for p in layer.parameters())
                                   for layer in language.layers})}


def counted(obj: dict[str, Any]) -> dict[str, Any]:
    got = {name: obj["params"][name] for name in ("total", "embedding", "blocks", "head")}
    got["block_sizes"] = sorted({kind["per_block"] for kind in obj["block_kinds"]
                                 if kind["count"]})
    return got


def says_language_model(obj: dict[str, Any], wrapper: str) -> None:
    assert obj["part"] == "language model"
    assert obj["not_counted"] == list(MULTIMODAL[wrapper].not_counted)


@st.composite
def wrapper_keys(draw: st.DrawFn, wrapper: str) -> tuple[dict[str, Any], bool | None]:
    """A small language model's keys, and the wrapper's own tie_word_embeddings (None: left
    out, the class's default)."""
    text = draw(family_keys(COUNTED[wrapper]))
    text["pad_token_id"] = None  # defaults (Gemma's 0 is fine, others') past a small vocabulary
    return text, draw(st.none() | st.booleans())


def write(wrapper: str, text: dict[str, Any], tie: bool | None, folder: Path) -> tuple[Any,
                                                                                      list[Path]]:
    """The wrapper's config as save_pretrained writes it and by hand (Qwen2.5-VL: flat too)."""
    own = {} if tie is None else {"tie_word_embeddings": tie}
    hf_config = transformers.AutoConfig.for_model(wrapper, text_config=dict(text), **own)
    saved, minimal = folder / "saved", folder / "minimal"
    hf_config.save_pretrained(saved)
    minimal.mkdir()
    (minimal / "config.json").write_text(json.dumps({"model_type": wrapper, **own,
                                                     "text_config": text}, indent=2))
    paths = [saved, minimal]
    if wrapper_defaults()[wrapper]["flat"]:
        flat = folder / "flat"
        flat.mkdir()
        (flat / "config.json").write_text(json.dumps({"model_type": wrapper, **own, **text}))
        paths.append(flat)
    return hf_config, paths


@pytest.mark.parametrize("wrapper", sorted(COUNTED), ids=str)
def test_random_wrappers_count_as_their_language_model(
        wrapper: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli()

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(wrapper_keys(wrapper))
    def check(drawn: tuple[dict[str, Any], bool | None]) -> None:
        text, tie = drawn
        hf_config, paths = write(wrapper, text, tie, tmp_path_factory.mktemp("w"))
        expected = language_reference(hf_config)
        for path in paths:
            obj = cli.json("count", "--hf-config", str(path))
            assert counted(obj) == expected, (path.name, text, tie)
            says_language_model(obj, wrapper)

    check()


@pytest.mark.parametrize("wrapper", sorted(COUNTED), ids=str)
def test_a_wrapper_without_text_config_counts_its_class_default(
        wrapper: str, tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": wrapper}))
    expected = language_reference(transformers.AutoConfig.for_model(wrapper))
    obj = cli.json("count", "--hf-config", str(tmp_path))
    assert counted(obj) == expected
    says_language_model(obj, wrapper)


def test_the_wrapper_s_own_tie_word_embeddings_decides(tmp_path: Path, cli: Cli) -> None:
    # Gemma 3: the text config ties, the wrapper does not: an output layer of its own
    text = dict(vocab_size=100, hidden_size=16, intermediate_size=8, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                tie_word_embeddings=True)
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_type": "gemma3", "tie_word_embeddings": False, "text_config": text}))
    obj = cli.json("count", "--hf-config", str(tmp_path))
    assert obj["head"] == "linear" and obj["params"]["head"] == 100 * 16
    model = build(transformers.AutoConfig.from_pretrained(tmp_path))
    assert model.lm_head.weight is not model.model.language_model.embed_tokens.weight


@pytest.mark.parametrize("wrapper", sorted(REFUSED), ids=str)
def test_a_wrapper_of_an_unread_language_model_is_refused(wrapper: str, tmp_path: Path,
                                                          cli: Cli) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": wrapper}))
    line = cli.error("count", "--hf-config", str(tmp_path))
    assert f"model_type {wrapper!r} is a multimodal wrapper whose language model " \
           f"(text_config) is {REFUSED[wrapper]!r}, which paramcalc does not count" in line


def test_a_text_config_of_another_type_is_read_or_refused(tmp_path: Path, cli: Cli) -> None:
    # LLaVA's class builds the type its text_config names
    text = dict(model_type="qwen2", vocab_size=50, hidden_size=16, intermediate_size=8,
                num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava",
                                                      "text_config": text}))
    expected = language_reference(transformers.AutoConfig.from_pretrained(tmp_path))
    assert counted(cli.json("count", "--hf-config", str(tmp_path))) == expected
    text["model_type"] = "cohere2"  # a type paramcalc reads: counted as transformers does
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava",
                                                      "text_config": text}))
    expected = language_reference(transformers.AutoConfig.from_pretrained(tmp_path))
    assert counted(cli.json("count", "--hf-config", str(tmp_path))) == expected
    text["model_type"] = "gemma3n_text"  # one it does not (JetMoE is read now)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava",
                                                      "text_config": text}))
    assert "(text_config) is 'gemma3n_text'" in cli.error("count", "--hf-config", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava",
                                                      "text_config": [1]}))
    assert "text_config must be an object" in cli.error("count", "--hf-config", str(tmp_path))


GEMMA = EXAMPLES / "gemma-3-27b"


def test_every_command_says_it_counts_the_language_model(cli: Cli) -> None:
    for args in (("count",), ("ratio",), ("check",), ("flops",), ("fit",),
                 ("derive", "--wrt", "d_model")):
        obj = cli.json(*args, "--hf-config", str(GEMMA))
        says_language_model(obj, "gemma3")
    for args in (("count",), ("check",), ("flops",), ("fit",)):
        header = cli(*args, "--hf-config", str(GEMMA)).stdout
        assert "gemma-3-27b (language model; vision tower and multimodal projector not " \
               "counted)" in " ".join(header.split()), args
        obj = cli.json(*args, "--preset", "gemma-3-27b")
        says_language_model(obj, "gemma3")


def test_check_against_transformers_checks_the_language_model(cli: Cli) -> None:
    obj = cli.json("check", "--hf-config", str(GEMMA), "--against", "transformers")
    assert obj["ok"]
    says_language_model(obj, "gemma3")
    rows = {row["component"]: row["instantiated"] for row in obj["rows"]}
    assert rows["total"] == language_reference(
        transformers.AutoConfig.from_pretrained(GEMMA))["total"]


def test_gemma_3_27b_preset_is_its_published_config(cli: Cli) -> None:
    from_file = load(GEMMA)
    assert from_file.name == "gemma-3-27b" and from_file.part == "language model"
    preset = from_name("gemma-3-27b")
    assert budget(from_file.config).params == budget(preset.config).params
    assert preset.part == "language model" and preset.not_counted == \
        MULTIMODAL["gemma3"].not_counted
    assert cli.json("check", "--preset", "gemma-3-27b")["ok"]  # paramcalc's own modules
    kinds = {k["kind"]: k["count"] for k in cli.json("count", "--preset",
                                                     "gemma-3-27b")["block_kinds"]}
    assert kinds == {"full": 10, "sliding": 52}  # layers 5, 11, …, 59 attend in full


def test_the_wrappers_are_those_of_the_record() -> None:
    assert [w.model_type for w in WRAPPERS] == list(MULTIMODAL)


@pytest.mark.parametrize("wrapper", ["gemma3", "qwen2_5_vl"], ids=str)
def test_a_wrapper_s_cache_is_what_transformers_fills_past_the_window(wrapper: str,
                                                                     tmp_path: Path) -> None:
    """A text-only generation past a window of 3 on transformers' wrapper (fp32): the KV cache
    paramcalc counts for its config.json is what the wrapper's cache holds."""
    from paramcalc.compute import Settings, compute

    text = dict(vocab_size=32, hidden_size=32, intermediate_size=16, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                sliding_window=3, pad_token_id=0)
    if wrapper == "gemma3":  # a tiny SigLIP: 2 × 2 patches of 14, pooled to 4 tokens
        text.update(head_dim=8, sliding_window_pattern=2)
        rest: dict[str, Any] = dict(mm_tokens_per_image=4, vision_config=dict(
            hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
            image_size=28, patch_size=14))
    else:  # m-rope's sections halve the head width of 8
        text.update(use_sliding_window=True, max_window_layers=1, rope_parameters=dict(
            rope_type="default", rope_theta=10000.0, mrope_section=[2, 1, 1]))
        rest = dict(vision_config=dict(depth=1, hidden_size=16, intermediate_size=16,
                                       num_heads=2, out_hidden_size=32,
                                       fullatt_block_indexes=[0]))
    hf = transformers.AutoConfig.for_model(wrapper, text_config=text, **rest)
    hf.save_pretrained(tmp_path)
    torch.manual_seed(0)
    model = build(hf).__class__(hf).eval()  # the same class, on the CPU
    with torch.no_grad():
        out = model.generate(torch.randint(1, 32, (1, 7)), max_new_tokens=5, min_new_tokens=5,
                             do_sample=False, use_cache=True, return_dict_in_generate=True,
                             pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    memory = compute(budget(load(tmp_path).config), Settings(dtype="fp32",
                                                              context=tokens)).memory
    assert memory["kv_cache"] == held
    assert held < memory["kv_cache_per_token"] * tokens  # some layer does slide


@pytest.mark.parametrize("wrapper", sorted(COUNTED), ids=str)
def test_check_against_transformers_reads_every_wrapper(wrapper: str, tmp_path: Path,
                                                        cli: Cli) -> None:
    # six layers: Gemma 3's fifth-in-six pattern holds a layer of each kind (with fewer, a
    # kind of no layers makes check's per-block rows disagree, for gemma3_text files too)
    text = dict(vocab_size=100, hidden_size=32, intermediate_size=16, num_hidden_layers=6,
                num_attention_heads=4, num_key_value_heads=2, head_dim=8, pad_token_id=None)
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_type": wrapper, "tie_word_embeddings": False, "text_config": text}))
    obj = cli.json("check", "--hf-config", str(tmp_path), "--against", "transformers")
    assert obj["ok"], [row for row in obj["rows"] if not row["ok"]]
    says_language_model(obj, wrapper)
    rows = {row["component"]: row["instantiated"] for row in obj["rows"]}
    assert rows["total"] == language_reference(
        transformers.AutoConfig.from_pretrained(tmp_path))["total"]


#: small vision towers, so that save_pretrained writes a small file
_SMALL_VISION = {"gemma3": dict(model_type="siglip_vision_model", hidden_size=16,
                                intermediate_size=16, num_hidden_layers=1,
                                num_attention_heads=2, image_size=28, patch_size=14),
                 "llava": dict(model_type="clip_vision_model", hidden_size=16,
                               intermediate_size=16, num_hidden_layers=1,
                               num_attention_heads=2, image_size=28, patch_size=14,
                               projection_dim=16)}


@pytest.mark.parametrize("wrapper", sorted(_SMALL_VISION), ids=str)
def test_check_weights_reads_a_wrappers_checkpoint(wrapper: str, tmp_path: Path,
                                                    cli: Cli) -> None:
    """A wrapper saved by transformers (with the older names save_pretrained writes back):
    its language model's tensors placed and matched, its towers listed as not counted with
    their parameters, nothing unplaced."""
    text = dict(vocab_size=64, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                max_position_embeddings=32, pad_token_id=None)
    hf_config = transformers.AutoConfig.for_model(wrapper, text_config=text,
                                                  vision_config=_SMALL_VISION[wrapper])
    model = transformers.AutoModelForImageTextToText.from_config(hf_config)  # real tensors
    model.save_pretrained(tmp_path)
    obj = cli.json("check", "--weights", str(tmp_path))
    assert obj["ok"] and obj["weights"]["unplaced"] == []
    expected = language_reference(hf_config)
    total = next(row for row in obj["rows"] if row["component"] == "total")
    assert total["instantiated"] == expected["total"]
    towers = obj["weights"]["components"]["not_counted"]["params"]
    assert towers == sum(p.numel() for p in model.parameters()) - expected["total"]
