"""The shipped CNN loads by default and recognises real FER2013 PublicTest faces well above chance;
the shipped models are chosen by name (tiny stand-ins in a temporary models folder)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import fer_video
from fer_video.cli import main
from fer_video.checkpoint import CheckpointError, file_sha256, save_atomic
from fer_video.constants import CLASSES
from fer_video.models import create_model
from fer_video.pretrained import DEFAULT_MODEL, SHIPPED_MODELS, ShippedModel, default_cnn_path, default_gru_path
from fer_video.temporal import TemporalGRU, load_gru
from fer_video.temporal.model import save_gru
from fer_video.transforms import PreprocessConfig


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def publictest_sample(fer2013_path):
    faces = fer_video.load_fer2013(fer2013_path, splits=["publictest"])["publictest"]
    pick = np.random.default_rng(0).choice(len(faces), size=500, replace=False)
    return faces.images[pick], faces.labels[pick]


def test_shipped_model_beats_chance_on_publictest(publictest_sample):
    images, labels = publictest_sample
    classifier = fer_video.load_classifier(device="cpu")
    assert classifier.classes == CLASSES
    probs = classifier.predict_proba(images)
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    majority = np.bincount(labels).max() / len(labels)  # always guessing "happy": about 0.25
    assert accuracy > 0.40 and accuracy > majority + 0.1, (accuracy, majority)


def test_classify_crops_gray_and_rgb(publictest_sample):
    assert default_cnn_path().is_file()
    gray = publictest_sample[0][:8]
    probs = fer_video.classify_crops(gray, device="cpu")
    assert probs.shape == (8, len(CLASSES)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    rgb = np.repeat(gray[..., None], 3, axis=-1)  # the same faces as RGB photos
    # RGB-to-gray rounds some pixels by one float ulp; the int8 graph (which --backend auto may pick)
    # can turn that into one input quantization step, a few hundredths of probability
    int8 = fer_video.load_classifier(device="cpu").backend_name == "onnx-int8"
    np.testing.assert_allclose(fer_video.classify_crops(rgb, device="cpu"), probs, atol=3e-2 if int8 else 1e-4)


def write_tiny_model(folder: Path, name: str = "fast") -> ShippedModel:
    """A randomly initialised vgg_fer_tiny CNN, and a GRU tied to it by sha256, saved in
    ``folder`` under the file names of the shipped model ``name`` (point FER_VIDEO_MODELS there)."""
    shipped = SHIPPED_MODELS[name]
    torch.manual_seed(0)
    cnn = create_model("vgg_fer_tiny")
    meta = {"model": "vgg_fer_tiny", "classes": list(CLASSES), "preprocess": PreprocessConfig().to_dict()}
    save_atomic({"model": cnn.state_dict(), "meta": meta}, folder / shipped.cnn_file)
    gru_meta = {"embed_dim": cnn.num_features, "hidden_size": 16, "classes": list(CLASSES), "fps": 10.0,
                "cnn_sha256": file_sha256(folder / shipped.cnn_file)}  # fmt: skip
    save_gru(TemporalGRU(cnn.num_features, hidden_size=16), gru_meta, folder / shipped.gru_file)
    return shipped


@pytest.fixture()
def models_dir(tmp_path, monkeypatch) -> Path:
    """An empty shipped-models folder (FER_VIDEO_MODELS)."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("FER_VIDEO_MODELS", str(folder))
    return folder


def test_shipped_models_are_chosen_by_name(models_dir):
    assert default_cnn_path() == models_dir / "emotion_cnn.pt" == default_cnn_path(DEFAULT_MODEL)
    assert default_gru_path() == models_dir / "emotion_gru.pt"
    assert default_cnn_path("fast") == models_dir / "emotion_cnn_fast.pt"
    assert default_gru_path("fast") == models_dir / "emotion_gru_fast.pt"
    for call in (default_cnn_path, default_gru_path, fer_video.load_classifier):
        with pytest.raises(ValueError, match="unknown model 'huge'; choose one of: standard, fast"):
            call(model="huge")


def test_fast_model_loads_its_own_cnn_and_gru(models_dir):
    write_tiny_model(models_dir, "fast")
    classifier = fer_video.load_classifier(device="cpu", backend="torch", model="fast")
    assert classifier.meta["model"] == "vgg_fer_tiny"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the GRU matches the fast CNN: no warning
        gru = load_gru(device="cpu", model="fast")
    assert gru.embed_dim == classifier.embedding_dim
    (models_dir / "emotion_cnn_fast.pt").write_bytes(b"another CNN")  # not the one the GRU was trained on
    with pytest.warns(UserWarning, match="another CNN than .*emotion_cnn_fast.pt"):
        load_gru(device="cpu", model="fast")


def test_explicit_weights_take_precedence_over_the_model(models_dir, tmp_path):
    write_tiny_model(tmp_path, "fast")
    classifier = fer_video.load_classifier(tmp_path / "emotion_cnn_fast.pt", device="cpu", backend="torch")
    assert classifier.meta["model"] == "vgg_fer_tiny"  # the standard CNN is not in models_dir: not read


def test_a_missing_model_file_names_it(models_dir):
    with pytest.raises(CheckpointError, match="not found: .*emotion_cnn_fast.pt"):
        fer_video.load_classifier(device="cpu", model="fast")
    with pytest.raises(CheckpointError, match="not found: .*emotion_gru_fast.pt"):
        load_gru(device="cpu", model="fast")


def test_the_real_fast_model_is_vgg_fer_fast(monkeypatch):
    monkeypatch.delenv("FER_VIDEO_MODELS", raising=False)
    if not default_cnn_path("fast").is_file():
        pytest.skip(f"the fast model is not shipped yet: {default_cnn_path('fast')} is missing")
    classifier = fer_video.load_classifier(device="cpu", backend="torch", model="fast")
    assert classifier.meta["model"] == "vgg_fer_fast" and classifier.classes == CLASSES


def test_export_pt_fp16_halves_the_weights_and_keeps_the_predictions(models_dir, tmp_path, capsys):
    write_tiny_model(models_dir, "standard")
    source, release = models_dir / "emotion_cnn.pt", tmp_path / "release.pt"
    assert main(["export", "--format", "pt-fp16", "--out", str(release)]) == 0
    assert "top-1 agreement" in capsys.readouterr().err
    payload = torch.load(release, weights_only=True)
    assert payload["meta"]["stored_dtype"] == "float16" and payload["meta"]["model"] == "vgg_fer_tiny"
    floats = [t for t in payload["model"].values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float16 for t in floats)
    assert release.stat().st_size < 0.7 * source.stat().st_size
    crops = np.random.default_rng(1).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    full = fer_video.load_classifier(source, device="cpu", backend="torch").predict_proba(crops)
    half = fer_video.load_classifier(release, device="cpu", backend="torch")
    assert next(half.model.parameters()).dtype == torch.float32  # loaded back into the float32 model
    np.testing.assert_allclose(half.predict_proba(crops), full, atol=5e-3)
    assert main(["export", "--format", "pt-fp16", "--out", str(release)]) == 2  # no clobbering
    assert main(["export", "--format", "pt-fp16", "--out", str(tmp_path / "release.onnx")]) == 2
    assert "must end in .pt" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(SHIPPED_MODELS))
def test_each_shipped_cnn_ships_its_current_int8_graph(name):
    """Users seldom have FER2013 to calibrate an int8 graph on, so each shipped CNN carries its own,
    quantized from that very file by the current exporter (``fer-video export --format onnx-int8``)."""
    from fer_video.export.cache import int8_onnx_beside

    weights = default_cnn_path(name)
    assert int8_onnx_beside(weights, file_sha256(weights)) == weights.with_suffix(".int8.onnx"), (
        f"re-export it: fer-video export --model {name} --format onnx-int8 --out {weights.with_suffix('.int8.onnx')} "
        "--overwrite"
    )
