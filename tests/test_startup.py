"""Start-up cost: the command line answers --help and argument errors without importing torch,
``import fer_video`` loads nothing heavy until a name is used, and a photo loads only what the
photo path needs. Each check runs in a fresh interpreter and reads its ``sys.modules``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image

#: Modules that take from a few hundred milliseconds to seconds to import.
HEAVY = ("torch", "torchvision", "timm", "onnx", "onnxruntime", "gradio", "pandas", "matplotlib", "sklearn", "scipy")


def loaded_after(code: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> dict:
    """Run ``code`` in a new interpreter (with ``env`` added to the environment, in ``cwd``); it sets
    ``result`` (a dict); ``loaded`` is added: which of :data:`HEAVY` (and a few others) it imported."""
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        watched = {HEAVY!r} + ("facenet_pytorch", "optuna", "decord", "numpy", "av", "cv2")
        result["loaded"] = sorted(name for name in watched if name in sys.modules)
        print(json.dumps(result))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def without_fer2013(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with a fresh cache and no FER2013 data (run in ``tmp_path``, where the
    default ``../shared/data/fer2013.zip`` is not found either)."""
    return {"FER_VIDEO_CACHE": str(tmp_path / "cache"), "FER2013_PATH": str(tmp_path / "no_fer2013.zip")}


def test_help_and_argument_errors_import_no_heavy_module():
    result = loaded_after(
        """
        import contextlib, io
        from fer_video.cli import build_parser, main
        commands = sorted(build_parser()._subparsers._group_actions[0].choices)
        calls = [["--help"], *([name, "--help"] for name in commands), ["image"], ["live", "0"], ["nonsense"]]
        codes = {}
        for argv in calls:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                try:
                    main(argv)
                except SystemExit as done:
                    codes[" ".join(argv)] = done.code
        result = {"commands": commands, "codes": codes}
        """
    )
    assert {"image", "video", "live", "app", "train"} <= set(result["commands"])
    assert all(result["codes"][f"{name} --help"] == 0 for name in result["commands"])
    assert result["codes"]["image"] == result["codes"]["live 0"] == result["codes"]["nonsense"] == 2
    assert not set(result["loaded"]) & set(HEAVY), result["loaded"]


def test_the_console_script_answers_help():
    done = subprocess.run([sys.executable, "-m", "fer_video.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "live" in done.stdout and "image" in done.stdout


def test_import_fer_video_is_lazy_and_a_vgg_needs_no_timm():
    result = loaded_after(
        """
        import sys
        import fer_video
        result = {"bare": sorted(m for m in ("torch", "numpy") if m in sys.modules)}
        result["classes"] = list(fer_video.CLASSES)
        result["after_constants"] = "torch" in sys.modules
        result["recognizer"] = fer_video.EmotionRecognizer.__name__
        result["all_in_dir"] = set(fer_video.__all__) <= set(dir(fer_video))
        try:
            fer_video.no_such_name
        except AttributeError as error:
            result["unknown"] = str(error)
        fer_video.create_model("vgg_fer")
        result["timm_after_vgg"] = "timm" in sys.modules
        result["names"] = fer_video.list_models()
        """
    )
    assert result["bare"] == [] and result["after_constants"] is False
    assert result["classes"][0] == "angry" and result["recognizer"] == "EmotionRecognizer"
    assert result["all_in_dir"] and "no_such_name" in result["unknown"]
    # The timm backbones stay registered; tests/test_models.py builds every registered model.
    assert result["timm_after_vgg"] is False and {"resnet18", "vgg_fer", "convnext_atto"} <= set(result["names"])
    assert "timm" not in result["loaded"]


def test_a_photo_loads_only_what_the_photo_path_needs(tmp_path, astronaut):
    """On the CPU (``--device cpu``), once the exports are cached: ONNX Runtime, and no PyTorch,
    for a user with a fresh cache and no FER2013 data (the shipped int8 graph needs none)."""
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut).save(photo)
    env = without_fer2013(tmp_path)
    # Once before: a first run on a machine exports the CNN to ONNX (and may time int8 against fp32), then caches it.
    command = [sys.executable, "-m", "fer_video.cli", "image", str(photo)]
    subprocess.run(command, capture_output=True, timeout=600, env={**os.environ, **env}, cwd=tmp_path)
    result = loaded_after(
        f"""
        import contextlib, io, json
        from fer_video.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            code = main(["image", {str(photo)!r}, "--json", "--device", "cpu"])
        result = {{"code": code, "faces": json.loads(printed.getvalue())[0]["faces"]}}
        """,
        env,
        tmp_path,
    )
    assert result["code"] == 0 and len(result["faces"]) == 1
    unneeded = {"torchvision", "timm", "onnx", "pandas", "matplotlib", "sklearn", "scipy", "facenet_pytorch", "optuna"}
    # On the CPU, the cached ONNX exports of the CNN and of MTCNN run without PyTorch.
    unneeded.add("torch")
    assert not set(result["loaded"]) & unneeded, result["loaded"]
    assert "onnxruntime" in result["loaded"]
    # The shipped int8 graph was timed against fp32 here, though no data was at hand to quantize with.
    assert list((tmp_path / "cache" / "backend_probe").glob("*.json"))


def test_without_data_to_quantize_with_auto_loads_fp32_without_pytorch(tmp_path):
    """A checkpoint of the user's own, with no int8 graph beside it and no FER2013 data: ``auto``
    answers fp32 from the cached export each time, without importing the quantizer (ONNX, PyTorch)."""
    import torch

    from fer_video.checkpoint import save_atomic
    from fer_video.constants import CLASSES
    from fer_video.models import create_model
    from fer_video.transforms import PreprocessConfig

    weights = tmp_path / "mine.pt"
    meta = {
        "model": "vgg_fer_tiny", "classes": list(CLASSES), "preprocess": PreprocessConfig().to_dict(),
        "int8_accuracy": {"fp32": 0.70, "int8": 0.70},
    }
    torch.manual_seed(0)
    save_atomic({"model": create_model("vgg_fer_tiny").state_dict(), "meta": meta}, weights)
    code = f"""
        from fer_video.classifier import CropClassifier
        classifier = CropClassifier.from_file({str(weights)!r}, device="cpu", backend="auto")
        result = {{"backend": classifier.backend_name, "reason": classifier.backend_reason}}
        """
    env = without_fer2013(tmp_path)
    first = loaded_after(code, env, tmp_path)  # exports the fp32 graph (PyTorch)
    second = loaded_after(code, env, tmp_path)
    assert first["backend"] == second["backend"] == "onnx" and "int8 not prepared" in second["reason"]
    assert "torch" in first["loaded"] and not {"torch", "onnx"} & set(second["loaded"]), second["loaded"]


def test_names_spelled_out_for_the_parser_match_their_sources():
    from fer_video.cli import options
    from fer_video.temporal import ONLINE_SMOOTHING_KINDS, SMOOTHING_KINDS
    from fer_video.video.encode import DEFAULT_VIDEO_SIZE
    from fer_video.video.pipeline import DEFAULT_DETECT_EVERY

    assert options.SMOOTHING_KINDS == SMOOTHING_KINDS
    assert options.ONLINE_SMOOTHING_KINDS == ONLINE_SMOOTHING_KINDS
    assert options.DEFAULT_DETECT_EVERY == DEFAULT_DETECT_EVERY
    assert options.DEFAULT_VIDEO_SIZE == DEFAULT_VIDEO_SIZE
