"""The ``paramcalc`` command line: each command loads a configuration, calls the library once
and renders the result. Errors from the library become one ``Error: …`` line and exit code 2.

Commands that only count import neither torch nor anything else they do not need; the
commands that build models import ``check``/``train`` inside their bodies.
"""

from __future__ import annotations

import difflib
import dataclasses
import functools
import gc
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # (typer carries click)
from typer._click.types import ParamType
from typer.core import TyperCommand, TyperGroup

from .. import families, presets, render
from ..errors import ParamcalcError
from ..spec import CHOICES, FLAGS, HEAD_LAYERS, HEADS, LISTS, PANELS, ModelConfig


#: click's context and help formatter, as typer's commands use them (typer carries its own click)
_ClickContext: Any = TyperCommand.context_class
_ClickFormatter: Any = _ClickContext.formatter_class


class _Formatter(_ClickFormatter):
    """click's help layout, wrapped only at spaces: click's own wrapper also breaks after a
    hyphen (td-|dense) and inside a word longer than the line."""

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        for i, paragraph in enumerate(_paragraphs(text)):
            self.write("\n" if i else "")
            self.write("\n".join(_wrap(paragraph, self.width, indent)) + "\n")

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30,
                 col_spacing: int = 2) -> None:
        rows = list(rows)
        first_col = min(max(len(first) for first, _ in rows), col_max) + col_spacing
        beside = " " * (first_col + self.current_indent)
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - len(first)))
            else:  # a long name keeps its line; its help starts below it
                self.write("\n" + beside)
            lines = _wrap(" ".join(_paragraphs(second)), max(self.width - first_col - 2, 10))
            self.write(lines[0] + "\n" + "".join(f"{beside}{line}\n" for line in lines[1:]))


def _paragraphs(text: str) -> list[str]:
    """Paragraphs (split at blank lines), each on one line: a docstring's hard line breaks
    are the source's, not the terminal's."""
    return [" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n") if p.strip()]


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False) or [""]


class _Context(_ClickContext):
    formatter_class = _Formatter


class _Carried(Exception):
    """A Ctrl-C or a closed stdout, carried past typer's own handling (which ends a Ctrl-C
    silently with 130 and a closed pipe with 1) to paramcalc.__main__, which says it once."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class OneLineErrors(TyperGroup):
    """A command group whose errors, usage errors included, are one line on stderr."""

    context_class = _Context

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)  # parses, and prints --help
        except (KeyboardInterrupt, BrokenPipeError) as error:
            raise _Carried(error) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, BrokenPipeError) as error:
            raise _Carried(error) from None

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except _Carried as carried:
            raise carried.error from None
        except ParamcalcError as error:
            typer.echo(f"Error: {render.literal(error)}", err=True)
            code = 2
        except NoArgsIsHelpError as error:
            # the error rendered the help when it was made: typer's rich formatter prints it
            # then and leaves the message empty; plain click leaves it in the message
            message = error.format_message()
            if message.strip():
                typer.echo(message)
            code = 0
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            code = 1
        except typer.TyperException as error:  # click's usage errors (typer carries click)
            typer.echo(f"Error: {render.literal(error.format_message())}", err=True)
            code = error.exit_code
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name``, built when it is first asked for: click's lazy-loading
        group. Only its module is imported and only its options are made (typer would turn
        every command it knows into a click command, forty-odd options each, before parsing)."""
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = _built(cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as error:  # a typo: the nearest names, from the whole list
            matches = difflib.get_close_matches(args[0], COMMANDS) if args else []
            if matches:
                error.message = (f"{error.message.rstrip('.')}. Did you mean "
                                 f"{', '.join(repr(m) for m in matches)}?")
            raise


class _Command(TyperCommand):
    """A command whose help is whole at any width: click's own layout (each option's name on
    its line, its help wrapped at spaces beside or below it), one section per panel."""

    context_class = _Context

    def format_options(self, ctx: Any, formatter: Any) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                panel = getattr(param, "rich_help_panel", None) or "Options"
                panels.setdefault(panel, []).append(record)
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl(rows)

    def get_short_help_str(self, limit: int = 45) -> str:
        """The docstring's first line, whole (click would cut it at ``limit`` with "...")."""
        return self.short_help or inspect.cleandoc(self.help or "").split("\n\n")[0].replace(
            "\n", " ").strip()


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"paramcalc {__version__}")
        raise typer.Exit()


class _App(typer.Typer):
    """typer's app, whose commands lay their help out whole (_Command) unless told otherwise."""

    def command(self, name: str | None = None, *, cls: Any = None, **options: Any) -> Any:
        return super().command(name, cls=cls or _Command, **options)


app = _App(
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    # click's plain help, never rich's: rich's option table cuts names short and squeezes
    # their help into a narrow column at 80 columns (tests/test_help_layout.py)
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
    help="Where a transformer language model's parameters go: exact counts, the blocks ÷ head "
         "ratio and its derivatives for every output-head design, checked against torch.",
)

#: every command, in the order --help lists them, and the module (of this package) that
#: defines it: a command's module is imported only when that command is run or listed
COMMANDS: dict[str, str] = {
    "flops": "computing", "count": "counting", "ratio": "counting", "derive": "counting",
    "compare": "counting", "check": "counting", "summary": "counting", "presets": "counting",
    "solve": "planning", "sweep": "planning", "plot": "planning", "verify": "training",
    "fit": "fit",
}


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="print the version and exit")] = False
          ) -> None:
    """Where a transformer language model's parameters go: exact counts, the blocks ÷ head
    ratio and its derivatives for every output-head design, checked against torch."""


class _Tokens(ParamType):
    """A number of tokens, as contexts are written everywhere: 8192, 32K, 128K, 1M."""

    name = "tokens"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        from ..errors import ConfigError
        from ..units import parse_context

        try:
            return parse_context(str(value), "the value")
        except ConfigError as error:
            self.fail(str(error), param, ctx)


#: the option type of every length in tokens
TOKENS = _Tokens()
#: the model's lengths in tokens: they take K and M as contexts do
_LENGTHS = ("seq_length", "n_positions", "sliding_window", "attention_chunk_size")


def _field_option(field: Any) -> Any:
    """A model field as a command-line option, from its metadata in spec.py: its name, type,
    help line and panel are stated there once."""
    flag = "--" + field.name.replace("_", "-")
    panel, help = PANELS[field.metadata["panel"]], field.metadata["help"]
    if field.name in CHOICES:  # a fixed set of words: an Enum, so that --help lists them
        choices = Enum(field.name.title().replace("_", ""),  # type: ignore[misc]
                       {value.replace("-", "_"): value for value in CHOICES[field.name]}, type=str)
        metavar = "HEAD" if field.name == "head" else None
        return Annotated[choices | None, _opt(help, flag, panel=panel, metavar=metavar)]
    if field.name in FLAGS:
        return Annotated[bool | None, _opt(help, f"{flag}/--no-{flag[2:]}", panel=panel)]
    if field.name in _LENGTHS:
        return Annotated[int | None, _opt(help, flag, panel=panel, click_type=TOKENS)]
    kind = str if field.name in LISTS else int  # a list is written comma-separated
    return Annotated[kind | None, _opt(help, flag, panel=panel)]


_MODEL = PANELS["model"]


def _opt(help: str, *names: str, panel: str = _MODEL, metavar: str | None = None,
         click_type: Any = None) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False,
                        metavar=metavar, click_type=click_type)


#: where a model comes from: one of these, then the fields below as overrides
SOURCES: dict[str, Any] = {
    "preset": Annotated[str | None, _opt("a shipped preset (paramcalc presets lists them)",
                                         "--preset", "-p")],
    "preset_file": Annotated[Path | None, _opt("a TOML file of hyperparameters", "--preset-file")],
    "hf_config": Annotated[Path | None, _opt("a Hugging Face config.json, or a folder holding "
                                             f"one ({families.supported()})", "--hf-config")],
    "hf": Annotated[str | None, _opt("a model on the Hugging Face Hub, ORG/NAME[@REVISION]: its "
                                     "config.json only, through the Hub's cache (HF_TOKEN for "
                                     "gated models, HF_HUB_OFFLINE=1 offline)", "--hf",
                                     metavar="ORG/NAME")],
}

#: the options every model command takes, by parameter name: the sources, then every field
#: of the configuration
MODEL_OPTIONS: dict[str, Any] = {
    **SOURCES,
    **{f.name: _field_option(f) for f in dataclasses.fields(ModelConfig) if "help" in f.metadata},
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
            sources = tuple(SOURCES)
            overrides = {name: value.value if isinstance(value, Enum) else value
                         for name, value in given.items() if name not in sources}
            if overrides.get("dense_layers") is not None:
                overrides["dense_layers"] = _layer_list(overrides["dense_layers"])
            if overrides.get("layer_types") is not None:
                overrides["layer_types"] = [item.strip() for item in
                                            overrides["layer_types"].split(",") if item.strip()]
            hf_config = given["hf_config"]
            if given["hf"] is not None:
                if hf_config is not None:
                    raise ParamcalcError("give one of --hf-config and --hf, not both")
                from ..hub import config_file

                hf_config = config_file(given["hf"])
            model = presets.resolve(given["preset"], given["preset_file"], overrides,
                                    hf_config=hf_config)
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
    """The heads ``--heads`` names (``all``: every design), in order; none given: []."""
    if heads is None:
        return []
    chosen = [h.strip() for h in heads.split(",") if h.strip()]
    if chosen == ["all"]:
        return list(HEADS)
    for head in chosen:
        if head not in HEAD_LAYERS:
            raise ParamcalcError(f"unknown head {head!r} in --heads; choose from: "
                                 f"{', '.join(HEADS)}, or all")
    if not chosen:
        raise ParamcalcError(f"--heads is empty; choose from: {', '.join(HEADS)}, or all")
    return list(dict.fromkeys(chosen))


def default_heads(config: Any) -> list[str]:
    """The heads ``plot`` draws when ``--heads`` is not given: for the log's seed blocks, every
    head design this backbone can take (the log's question is which head); for any other
    model its own head alone, whose curve would otherwise lie under flatten's 10¹² on a log
    axis. (``sweep`` keeps to the configuration's own head: each head multiplies its points.)"""
    if config.block != "seed":
        return [config.head or "flatten"]
    return [head for head in HEADS if builds(config, head)]


def builds(config: Any, head: str) -> bool:
    """Whether ``config`` takes ``head`` (a tied head needs a backbone it can tie to)."""
    try:
        config.with_head(head)
    except ParamcalcError:
        return False
    return True


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


def _built(name: str) -> Any:
    """The click command ``name``: its module imported (it registers its command on ``app``),
    then that command alone turned into click's."""
    importlib.import_module(f"{__name__}.{COMMANDS[name]}")
    for info in app.registered_commands:
        if name in (info.name, info.callback and
                    typer.main.get_command_name(info.callback.__name__)):
            return typer.main.get_command_from_info(
                info, pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode)
    raise LookupError(f"paramcalc.cli.{COMMANDS[name]} registers no command {name!r}")


def run(args: Sequence[str]) -> int:
    """Run one command line; its exit code. A Ctrl-C and a closed stdout are raised as
    KeyboardInterrupt and BrokenPipeError, for paramcalc.__main__ to end them."""
    _legible_streams()
    try:
        return app(args=list(args), standalone_mode=False)  # type: ignore[no-any-return]
    finally:
        # everything left lives until the process ends: the collector's last pass over
        # sympy's objects at exit (a fifth of a count's whole time) would free nothing the
        # exit does not; frozen objects are skipped by it, and the exit is otherwise the same
        gc.freeze()


def main() -> None:
    """The console script: paramcalc.__main__'s, which also covers start-up."""
    from ..__main__ import main as program

    program()
