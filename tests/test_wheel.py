"""Presets are found when paramcalc is installed from a built wheel, not only from the tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_an_installed_wheel_carries_its_presets(tmp_path: Path) -> None:
    dist, site = tmp_path / "dist", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(ROOT)], check=True)
    [wheel] = dist.glob("paramcalc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "paramcalc/presets/gpt2-xl.toml" in names and "paramcalc/py.typed" in names
    assert "paramcalc/data/corpus.txt" in names  # verify's default corpus ships in the package
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import paramcalc, paramcalc.presets as p; print(paramcalc.__file__); "
            "print(p.preset_dir()); print(p.names())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0].startswith(str(site)) and out[1] == str(site / "paramcalc" / "presets")
    assert "gpt2-xl" in out[2]
    run = subprocess.run([sys.executable, "-m", "paramcalc", "count", "--preset", "ctrl", "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert '"total": 1637964550' in run.stdout
    corpus = subprocess.run([sys.executable, "-c", "import paramcalc.train as t; "
                             "print(t.__file__, len(t.default_corpus()))"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    where, size = corpus.stdout.split()
    assert where.startswith(str(site)) and int(size) > 20_000
