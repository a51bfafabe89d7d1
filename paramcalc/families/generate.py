"""Write ``defaults.json`` from the installed transformers: a maintenance script.

    python -m paramcalc.families.generate          # rewrite paramcalc/families/defaults.json
    python -m paramcalc.families.generate --check  # exit 1 if the committed file is stale

For every record and every key it reads, the default of that key in transformers' own config
class: what a config.json that leaves the key out gets. That is the field's declared default,
before the class's ``__post_init__`` derives anything from the other fields (an absent
``num_key_value_heads`` is ``None`` there, and becomes ``num_attention_heads`` only after);
those derived keys are listed under ``derived`` with what the defaults alone derive, and each
record derives them as transformers does. A key that is no field of the class defaults to
what an instance keeps of it (Gemma 3's ``sliding_window_pattern``, 6), else to ``null``,
absent (``head_dim`` of Qwen2, which its attention still reads). ``nullable`` lists
the keys whose field accepts ``null``.

It also writes the README's list of model types from the registry, in the source tree. This
is the one module of paramcalc that imports transformers; nothing imports it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from pathlib import Path

from ..files import atomic_write
from . import readme_section
from .record import DEFAULTS_FILE
from .records import RECORDS
from .wrappers import TEXT_ONLY, WRAPPERS

#: the source tree's README, whose list of model types is written from the registry
README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- model types: written by python -m paramcalc.families.generate -->", "<!-- end -->"


def _declared(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def generate() -> dict[str, Any]:
    """The contents of ``defaults.json`` for the installed transformers."""
    import transformers
    from transformers import CONFIG_MAPPING

    transformers.logging.set_verbosity_error()
    families: dict[str, Any] = {}
    for record in (*RECORDS, *TEXT_ONLY):
        cls = CONFIG_MAPPING[record.model_type]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        built = cls()
        defaults: dict[str, Any] = {}
        derived: dict[str, Any] = {}
        nullable: list[str] = []
        for name in sorted(record.keys()):
            outer, dot, inner = name.partition(".")
            if dot:  # a key of a sub-config (DBRX's attn_config.kv_n_heads): its class's
                sub = cls.sub_configs[outer]
                field = {f.name: f for f in dataclasses.fields(sub)}.get(inner)
                kept = getattr(sub(), inner, None)
            else:
                field = fields.get(name)
                # a keyword the class takes that is no field: what the instance keeps of it
                # (Gemma 3 keeps sliding_window_pattern as _sliding_window_pattern), else absent
                kept = getattr(built, name, getattr(built, f"_{name}", None))
            defaults[name] = _json(_declared(field) if field is not None else kept)
            after = _json(kept)
            if after != defaults[name]:
                derived[name] = after
            if field is None or "None" in str(field.type):
                nullable.append(name)
        families[record.model_type] = {"class": cls.__name__, "defaults": defaults,
                                       "derived": derived, "nullable": nullable}
    return {"transformers": transformers.__version__, "families": families,
            "wrappers": wrappers(families)}


def wrappers(families: dict[str, Any]) -> dict[str, Any]:
    """How each wrapper's config class reads its text config, found by building it: the text
    type (fixed by the class or the file's own), what it builds without a text_config (its
    keyword defaults, or the file's top-level keys), the default of its own
    tie_word_embeddings, and whether a text_config that ties the head ties the wrapper's."""
    from transformers import CONFIG_MAPPING, PreTrainedConfig

    found: dict[str, Any] = {}
    for wrapper in WRAPPERS:
        cls: Any = CONFIG_MAPPING[wrapper.model_type]
        spec = cls.sub_configs_defaults["text_config"]
        text_type = spec.model_type
        reads = set(families.get(text_type, {}).get("defaults", {}))
        own = {f.name for f in dataclasses.fields(cls)}
        entry = found[wrapper.model_type] = {
            "class": cls.__name__, "text_type": text_type,
            "text_type_fixed": issubclass(spec.config_class, PreTrainedConfig)}
        if not reads:  # a text type paramcalc does not read: refused, nothing more to know
            continue
        built = cls()
        flat = cls(**{"hidden_size": 24}).text_config.hidden_size == 24
        forwards = bool(cls(tie_word_embeddings=False,
                            text_config={"tie_word_embeddings": True}).tie_word_embeddings)
        entry |= {
            "text_defaults": {k: _json(v) for k, v in sorted(spec.init_kwargs.items())
                              if k in reads},
            "tie_word_embeddings": built.tie_word_embeddings,
            "tie_from_text": forwards, "flat": flat,
            "own_keys": sorted(own & reads)}
    return found


def with_section(readme: str) -> str:
    """The README with its list of model types written from the registry."""
    before, _, rest = readme.partition(BEGIN + "\n")
    _, _, after = rest.partition("\n" + END)
    return f"{before}{BEGIN}\n{readme_section()}\n{END}{after}"


def text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    data = generate()
    if "--check" in argv:
        committed = json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
        stale = (committed["families"], committed.get("wrappers")) != (data["families"],
                                                                        data["wrappers"])
        print(f"{DEFAULTS_FILE}: {'stale' if stale else 'up to date'} for transformers "
              f"{data['transformers']}")
        return 1 if stale else 0
    atomic_write(DEFAULTS_FILE, lambda f: f.write(text(data).encode("utf-8")))
    print(f"wrote {DEFAULTS_FILE} from transformers {data['transformers']}")
    if README.exists() and BEGIN in (readme := README.read_text(encoding="utf-8")):
        atomic_write(README, lambda f: f.write(with_section(readme).encode("utf-8")))
        print(f"wrote the list of model types in {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
