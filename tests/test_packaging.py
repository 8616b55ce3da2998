"""Packaging: a wheel (``pip install .``, not only an editable install) carries the package and the shipped
weights, and the installed copy recognises a face from a folder with no source tree beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from fer_video.pretrained import SHIPPED_MODELS

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parents[1]


def shipped_files() -> set[str]:
    """The files of ``models/`` that the shipped models need: each CNN, its int8 graph and its GRU, and the card."""
    names = {"README.md"}
    for model in SHIPPED_MODELS.values():
        names |= {model.cnn_file, model.gru_file, str(Path(model.cnn_file).with_suffix(".int8.onnx"))}
    return names


def test_pyproject_lists_every_subpackage_and_the_shipped_weights():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    subpackages = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "fer_video").rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == subpackages | {"fer_video.weights"}
    assert setuptools["package-dir"] == {"fer_video.weights": "models"}
    assert set(setuptools["package-data"]["fer_video.weights"]) == shipped_files()


def test_an_installed_wheel_runs_on_its_own_weights(tmp_path, astronaut):
    pytest.importorskip("setuptools", minversion="70.1")  # builds wheels without the `wheel` package, offline
    source = tmp_path / "source"
    shutil.copytree(ROOT / "fer_video", source / "fer_video", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    (source / "models").mkdir()
    for name in shipped_files():
        shutil.copy(ROOT / "models" / name, source / "models" / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)], check=True)
    (wheel,) = tmp_path.glob("fer_video-*.whl")
    held = set(zipfile.ZipFile(wheel).namelist())
    assert {f"fer_video/weights/{name}" for name in shipped_files()} <= held
    target = tmp_path / "installed"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    Image.fromarray(astronaut).save(work / "face.png")
    env = {**os.environ, "PYTHONPATH": str(target), "FER_VIDEO_CACHE": str(tmp_path / "cache")}
    env.pop("FER_VIDEO_MODELS", None)
    code = "import fer_video.pretrained as p; print(p.shipped_weights_dir())"
    found = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()) == target / "fer_video" / "weights"
    done = subprocess.run(
        [sys.executable, "-m", "fer_video.cli", "image", "face.png", "--json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert '"label": "happy"' in done.stdout
