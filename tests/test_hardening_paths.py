"""Paths the system refuses: a name longer than the file system takes, a path through a file
as if it were a folder, a file that cannot be read, a disk that is full, a config.json that
is not text or is nested beyond reading. Each is one line naming the path and the reason,
exit code 2; outputs are written atomically, and a file already there is never lost."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest

from conftest import Cli

pytestmark = pytest.mark.mutation_skip  # the CLI over every path option

LONG = "a" * 300  # past NAME_MAX (255 bytes on every common file system)

#: an output option, the command around it, and the suffix its file takes
OUTPUTS = [
    (["sweep", "-p", "id4", "--vary", "d_model=16:32:16"], "--csv", ".csv"),
    (["plot", "-p", "id4", "--x", "d_model=16:32:16"], "--out", ".png"),
    (["plot", "-p", "id4", "--x", "d_model=16:32:16"], "--out", ".svg"),
    (["verify", "--quiet"], "--save", ".pt"),
    (["verify", "--quiet"], "--plot", ".png"),
]
#: an input option and the command around it
INPUTS = [
    (["count"], "--preset-file", ".toml"),
    (["count"], "--hf-config", ".json"),
    (["verify", "--quiet"], "--data", ".txt"),
    (["verify", "--quiet"], "--load", ".pt"),
]
IDS = [f"{c[0]} {flag}" for c, flag, _ in OUTPUTS + INPUTS]


@pytest.mark.parametrize("command, flag, suffix", OUTPUTS + INPUTS, ids=IDS)
def test_a_name_too_long_is_one_line(cli: Cli, tmp_path: Path, command: list[str], flag: str,
                                     suffix: str) -> None:
    path = tmp_path / (LONG + suffix)
    line = cli.error(*command, flag, str(path))
    assert str(path) in line and "File name too long" in line


@pytest.mark.parametrize("command, flag, suffix", OUTPUTS + INPUTS, ids=IDS)
def test_a_path_through_a_file_is_one_line(cli: Cli, tmp_path: Path, command: list[str],
                                           flag: str, suffix: str) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("a file, not a folder\n")
    path = afile / f"inside{suffix}"
    line = cli.error(*command, flag, str(path))
    assert str(afile) in line
    assert "is a file, not a folder" in line or "Not a directory" in line
    assert afile.read_text() == "a file, not a folder\n"


@pytest.mark.parametrize("command, flag, suffix", INPUTS[:3], ids=IDS[len(OUTPUTS):][:3])
def test_a_file_that_cannot_be_read_is_one_line(cli: Cli, command: list[str], flag: str,
                                                suffix: str) -> None:
    """/proc/self/mem is a regular file whose read fails (EIO), even for root."""
    line = cli.error(*command, flag, "/proc/self/mem")
    assert "/proc/self/mem" in line and "Input/output error" in line


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads a file of mode 000")
def test_a_file_without_read_permission_is_one_line(cli: Cli, tmp_path: Path) -> None:
    toml = tmp_path / "model.toml"
    toml.write_text("vocab_size = 257\n")
    toml.chmod(0)
    assert "Permission denied" in cli.error("count", "--preset-file", str(toml))


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every temporary file paramcalc writes through is, underneath, /dev/full: its writes
    fail with ENOSPC, as on a disk that has filled up (the name stays a real file beside the
    destination, so that the failure is the write's, not the check's)."""
    import paramcalc.files as files

    real = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real(*args, **kwargs)  # type: ignore[call-overload]
        if str(kwargs.get("suffix")) == ".tmp":
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, fd)
            os.close(full)
        return fd, name

    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command, flag, suffix", OUTPUTS[:3], ids=IDS[:3])
def test_a_full_disk_loses_nothing(cli: Cli, tmp_path: Path, full_disk: None,
                                   command: list[str], flag: str, suffix: str) -> None:
    """ENOSPC: one line naming the file and the reason; the file that was there is whole,
    keeps its mode, and no temporary file is left beside it."""
    path = tmp_path / f"out{suffix}"
    path.write_bytes(b"what the user had\n")
    path.chmod(0o640)
    line = cli.error(*command, flag, str(path))
    assert str(path) in line and "No space left on device" in line
    assert path.read_bytes() == b"what the user had\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("command, flag, suffix", OUTPUTS, ids=IDS[:len(OUTPUTS)])
def test_dev_full_as_an_output_is_refused_before_work(cli: Cli, command: list[str], flag: str,
                                                      suffix: str) -> None:
    """A device is never written to (and --out /dev/full names no image format)."""
    line = cli.error(*command, flag, "/dev/full")
    assert "/dev/full" in line


def test_a_name_near_the_limit_is_written(cli: Cli, tmp_path: Path) -> None:
    """A 250-byte name is a file the system takes; the temporary file beside it must not
    take a longer one."""
    path = tmp_path / ("b" * 246 + ".csv")
    cli("sweep", "-p", "id4", "--vary", "d_model=16:32:16", "--csv", str(path))
    assert path.read_text().startswith("head,d_model,")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_failing_writer_keeps_the_old_file(tmp_path: Path) -> None:
    """atomic_write: an error while writing (any kind) leaves the old file as it was."""
    from paramcalc import ParamcalcError
    from paramcalc.files import atomic_write

    path = tmp_path / "kept.csv"
    path.write_text("old\n")

    def half(f: object) -> None:
        f.write(b"new, half")  # type: ignore[attr-defined]
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with pytest.raises(ParamcalcError, match="Input/output error"):
        atomic_write(path, half)

    def crash(f: object) -> None:
        f.write(b"new, half")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.csv"]


@pytest.mark.parametrize("text, reason", [
    pytest.param('{"model_type": "gpt2", "\\ud800": 1, "n_embd": 64}', "lone surrogate",
                 id="lone surrogate in a key"),
    pytest.param('{"model_type": "gpt2", "_name_or_path": "\\udfff", "n_embd": 64}',
                 "lone surrogate", id="lone surrogate in a value"),
    pytest.param('{"model_type": "gpt2", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
                 "nested too deeply", id="100,000 levels deep"),
    pytest.param(None, "File name too long", id="a name too long"),
])
def test_a_config_json_that_cannot_be_read_is_one_line(cli: Cli, tmp_path: Path,
                                                       text: str | None, reason: str) -> None:
    config = tmp_path / ("config.json" if text is not None else LONG + ".json")
    if text is not None:
        config.write_text(text)
    for command in (["count"], ["flops"], ["sweep", "--vary", "num_blocks=1:2"]):
        line = cli.error(*command, "--hf-config", str(config))
        assert str(config) in line and reason in line


def test_load_json_names_every_reason(tmp_path: Path) -> None:
    """files.load_json, for every JSON input: each refusal names the file and says why."""
    from paramcalc import ParamcalcError
    from paramcalc.files import load_json

    cases = {b'{"\\ud800": 1}': "holds a lone surrogate (\\ud800)",
             b'{"a": "x\\udc80"}': "holds a lone surrogate (\\udc80)",
             b'{"a": 1' + b"0" * 5000 + b"}": "a number of more than 4,300 digits",
             b"[" * 100_000 + b"]" * 100_000: "nested too deeply",
             b"\xff": "not UTF-8", b'{"a": }': "1:7: malformed JSON"}
    for raw, reason in cases.items():
        with pytest.raises(ParamcalcError) as error:
            load_json(raw, tmp_path / "c.json")
        assert str(error.value).startswith(str(tmp_path / "c.json")) and reason in str(error.value)
    assert load_json(b'{"a": "\\ud83d\\ude00"}', "c.json") == {"a": "😀"}  # a whole pair
