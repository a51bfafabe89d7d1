"""The ``paramcalc`` command line: each command loads a configuration, calls the library once
and renders the result. Errors from the library become one ``Error: …`` line and exit code 2.

Commands that only count import neither torch nor anything else they do not need; the
commands that build models import ``check``/``train`` inside their bodies.
"""

from __future__ import annotations

import copy
import functools
import gc
import inspect
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from .. import presets, render
from ..errors import ParamcalcError
from ..spec import (BLOCKS, CELLS, HEAD_LAYERS, HEADS, MLPS, NORM_PLACEMENTS, NORMS, POSITIONALS,
                   QK_NORMS)


class OneLineErrors(TyperGroup):
    """A command group whose errors, usage errors included, are one line on stderr."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except ParamcalcError as error:
            typer.echo(f"Error: {error}", err=True)
            code = 2
        except Exception as error:
            # typer's usage errors (from click, or its vendored copy of click) carry
            # format_message() and exit_code; anything else is a bug and keeps its traceback
            kind = type(error).__name__
            if kind == "NoArgsIsHelpError":
                # the error rendered the help when it was made: typer's rich formatter prints
                # it then and leaves the message empty; plain click leaves it in the message
                message = error.format_message() if hasattr(error, "format_message") else ""
                if message.strip():
                    typer.echo(message)
                code = 0
            elif kind == "Abort":
                typer.echo("Aborted.", err=True)
                code = 1
            elif hasattr(error, "format_message") and hasattr(error, "exit_code"):
                typer.echo(f"Error: {error.format_message()}", err=True)
                code = error.exit_code
            else:
                raise
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"paramcalc {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    help="Where a transformer language model's parameters go: exact counts, the blocks ÷ head "
         "ratio and its derivatives for every output-head design, checked against torch.",
)

@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="print the version and exit")] = False
          ) -> None:
    """Where a transformer language model's parameters go: exact counts, the blocks ÷ head
    ratio and its derivatives for every output-head design, checked against torch."""


Block = Enum("Block", {name: name for name in BLOCKS}, type=str)  # type: ignore[misc]
Positional = Enum("Positional", {name: name for name in POSITIONALS}, type=str)  # type: ignore[misc]
Head = Enum("Head", {name.replace("-", "_"): name for name in HEADS}, type=str)  # type: ignore[misc]
Cell = Enum("Cell", {name: name for name in CELLS}, type=str)  # type: ignore[misc]
Norm = Enum("Norm", {name: name for name in NORMS}, type=str)  # type: ignore[misc]
Mlp = Enum("Mlp", {name: name for name in MLPS}, type=str)  # type: ignore[misc]
QkNorm = Enum("QkNorm", {name: name for name in QK_NORMS}, type=str)  # type: ignore[misc]
Placement = Enum("Placement", {name: name for name in NORM_PLACEMENTS}, type=str)  # type: ignore[misc]

_MODEL = "Model (a preset or file, then overrides)"
_BLOCK = "Transformer block switches (defaults: GPT-2's block)"
_MOE = "Mixture of experts and latent attention"


def _opt(help: str, *names: str, panel: str = _MODEL, metavar: str | None = None) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False,
                        metavar=metavar)


def _switch(help: str, *names: str) -> Any:
    return _opt(help, *names, panel=_BLOCK)


#: the options every model command takes, by parameter name
MODEL_OPTIONS: dict[str, Any] = {
    "preset": Annotated[str | None, _opt("a shipped preset (paramcalc presets lists them)",
                                         "--preset", "-p")],
    "preset_file": Annotated[Path | None, _opt("a TOML file of hyperparameters", "--preset-file")],
    "hf_config": Annotated[Path | None, _opt("a Hugging Face config.json, or a folder holding "
                                             "one (llama, mistral, qwen2, qwen3, gemma, gemma2, "
                                             "gemma3_text, phi3, olmo2, gpt_neox, opt, "
                                             "starcoder2, gpt2, ctrl)", "--hf-config")],
    "vocab_size": Annotated[int | None, _opt("V: tokens in the vocabulary")],
    "seq_length": Annotated[int | None, _opt("S: tokens the model sees at once")],
    "d_model": Annotated[int | None, _opt("d: embedding and block width")],
    "num_blocks": Annotated[int | None, _opt("n: number of blocks")],
    "n_heads": Annotated[int | None, _opt("h: attention heads (must divide d_model)")],
    "d_ff": Annotated[int | None, _opt("f: feed-forward width of transformer blocks [4·d]")],
    "block": Annotated[Block | None, _opt("block kind")],
    "positional": Annotated[Positional | None, _opt("position encoding")],
    "n_positions": Annotated[int | None, _opt("P: rows of a learned position table [S]")],
    "final_norm": Annotated[bool | None, _opt("a norm after the last block",
                                              "--final-norm/--no-final-norm")],
    "n_kv_heads": Annotated[int | None, _switch("g: key/value heads, grouped-query attention "
                                                "(must divide n_heads) [h]")],
    "head_dim": Annotated[int | None, _switch("d_h: width of one attention head [d/h]")],
    "norm": Annotated[Norm | None, _switch("norm kind: layernorm or rmsnorm (scale only)")],
    "mlp": Annotated[Mlp | None, _switch("feed-forward kind: plain d→f→d or gated (gate, up, "
                                         "down)")],
    "qkv_bias": Annotated[bool | None, _switch("biases on the query, key and value projections",
                                               "--qkv-bias/--no-qkv-bias")],
    "proj_bias": Annotated[bool | None, _switch("a bias on the attention output projection",
                                                "--proj-bias/--no-proj-bias")],
    "mlp_bias": Annotated[bool | None, _switch("biases on the feed-forward layers",
                                               "--mlp-bias/--no-mlp-bias")],
    "qk_norm": Annotated[QkNorm | None, _switch("norms on queries and keys: none, per head, or "
                                                "over the full width")],
    "norm_placement": Annotated[Placement | None, _switch("norms before each part (pre), after "
                                                          "it (post) or both (sandwich)")],
    "parallel_residual": Annotated[bool | None, _switch(
        "attention and feed-forward side by side", "--parallel-residual/--no-parallel-residual")],
    "num_experts": Annotated[int | None, _opt("E: routed experts per MoE layer (0: dense)",
                                              panel=_MOE)],
    "experts_per_token": Annotated[int | None, _opt("K: routed experts a token is sent to [1]",
                                                    panel=_MOE)],
    "expert_d_ff": Annotated[int | None, _opt("f_E: inner width of one expert [d_ff]",
                                              panel=_MOE)],
    "shared_experts": Annotated[int | None, _opt("E_S: experts every token passes through [0]",
                                                 panel=_MOE)],
    "shared_d_ff": Annotated[int | None, _opt("f_S: inner width of one shared expert [f_E]",
                                              panel=_MOE)],
    "shared_expert_gate": Annotated[bool | None, _opt(
        "a sigmoid gate d → 1 on the shared experts (Qwen-MoE)",
        "--shared-expert-gate/--no-shared-expert-gate", panel=_MOE)],
    "dense_layers": Annotated[str | None, _opt("layers (from 0) whose feed-forward stays dense: "
                                               "0,1,2", panel=_MOE)],
    "q_lora_rank": Annotated[int | None, _opt("r_q: latent attention's query rank [none]",
                                              panel=_MOE)],
    "kv_lora_rank": Annotated[int | None, _opt("r_kv: latent attention's key/value rank (turns "
                                               "latent attention on)", panel=_MOE)],
    "qk_rope_head_dim": Annotated[int | None, _opt("d_R: rotary part of a query/key head",
                                                   panel=_MOE)],
    "qk_nope_head_dim": Annotated[int | None, _opt("d_N: the rest of a query/key head",
                                                   panel=_MOE)],
    "v_head_dim": Annotated[int | None, _opt("d_V: width of a value head", panel=_MOE)],
    "head": Annotated[Head | None, _opt(f"the output-head design: {', '.join(HEADS)}",
                                        metavar="HEAD")],
    "head_width": Annotated[int | None, _opt("k: width a reducing head reduces to [d/8; "
                                             "bottleneck: d]")],
    "kernel_size": Annotated[int | None, _opt("w: the conv head's kernel [3]")],
    "cell": Annotated[Cell | None, _opt("the rnn head's cell [gru]")],
    "logits_bias": Annotated[bool | None, _opt("a V-sized bias on the logits",
                                               "--logits-bias/--no-logits-bias")],
}

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object and nothing else")]

F = TypeVar("F", bound=Callable[..., Any])


def model_options(func: F | None = None, *, optional: bool = False) -> Any:
    """Give a command the model options; it receives the resolved ``model: Preset``.

    With ``optional=True`` a command given no model option at all receives ``model=None``.
    """
    def decorate(func: F) -> F:
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values()
               if p.name != "model"]
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                   default=None) for name, annotation in MODEL_OPTIONS.items()]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in MODEL_OPTIONS}
            if optional and kwargs.get("load") is not None and any(
                    value is not None for value in given.values()):
                raise ParamcalcError("--load restores the checkpoint's own configuration; drop "
                                     "the model options (--preset, --d-model, …)")
            if optional and all(value is None for value in given.values()):
                return func(model=None, **kwargs)
            sources = ("preset", "preset_file", "hf_config")
            overrides = {name: value.value if isinstance(value, Enum) else value
                         for name, value in given.items() if name not in sources}
            if overrides.get("dense_layers") is not None:
                overrides["dense_layers"] = _layer_list(overrides["dense_layers"])
            model = presets.resolve(given["preset"], given["preset_file"], overrides,
                                    hf_config=given["hf_config"])
            return func(model=model, **kwargs)

        parameters = own + extra
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command  # type: ignore[return-value]

    return decorate if func is None else decorate(func)


def _layer_list(text: str) -> list[int]:
    """``0,1,2`` (or empty for none) as layer numbers; never evaluated as code."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not all(item.isdecimal() for item in items):  # "²" is a digit int() cannot read
        raise ParamcalcError(f"--dense-layers takes layer numbers separated by commas, e.g. "
                             f"0,1,2; got {text!r}")
    longest = max((len(item.lstrip("0")) for item in items), default=0)
    if longest > 15:  # int() refuses thousands of digits; 2**40 layers have 13
        raise ParamcalcError(f"--dense-layers holds a layer number of {longest:,} digits; a "
                             "model has at most 2**40 layers")
    return [int(item) for item in items]


def _print(as_json: bool, obj: Callable[[], Any], view: Callable[[], Any]) -> None:
    if as_json:
        typer.echo(render.emit_json(obj()))
    else:
        render.show(view())


def _head_list(heads: str | None) -> list[str]:
    if heads is None:
        return []
    chosen = [h.strip() for h in heads.split(",") if h.strip()]
    for head in chosen:
        if head not in HEAD_LAYERS:
            raise ParamcalcError(f"unknown head {head!r} in --heads; choose from: {', '.join(HEADS)}")
    if not chosen:
        raise ParamcalcError(f"--heads is empty; choose from: {', '.join(HEADS)}")
    return list(dict.fromkeys(chosen))


def _legible_streams() -> None:
    """On a terminal that cannot show UTF-8 (PYTHONIOENCODING=ascii, a C locale), characters
    it cannot encode are written as escapes rather than ending the program."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            utf = codecs.lookup(encoding).name.startswith("utf")
        except LookupError:
            utf = False
        if not utf and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def invoked(args: Sequence[str]) -> typer.Typer:
    """The app that ``args`` need: with only the command they name, if they name one.

    typer turns every command it knows into a click command, forty-odd options each, before it
    parses anything; a run needs one of them. Any other first argument (``--help``, a typo that
    deserves a suggestion, nothing) gets the whole app.
    """
    if not args:
        return app
    chosen = [info for info in app.registered_commands
              if args[0] in (info.name, info.callback and
                          typer.main.get_command_name(info.callback.__name__))]
    if not chosen:
        return app
    lean = copy.copy(app)
    lean.registered_commands = chosen
    return lean


def main() -> None:
    """The console script."""
    _legible_streams()
    try:
        invoked(sys.argv[1:])()
    finally:
        # everything left lives until the process ends: the collector's last pass over
        # sympy's objects at exit (a fifth of a count's whole time) would free nothing the
        # exit does not; frozen objects are skipped by it, and the exit is otherwise the same
        gc.freeze()


# the commands, by family (imported last: they register on ``app``)
from . import computing, counting, planning, training  # noqa: E402,F401
