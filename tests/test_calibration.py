"""Temperature scaling: the fit recovers a known temperature, ECE is computed as defined, a
calibrated checkpoint's T reaches every backend, uncalibrated checkpoints are untouched, and the
``calibrate`` command writes its files without clobbering (tiny generated data and models)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from scipy.special import softmax

from fer_video.checkpoint import CheckpointError, file_sha256, load_checkpoint, save_atomic
from fer_video.classifier import CropClassifier, backend_logits_and_features
from fer_video.cli import main
from fer_video.constants import CLASSES
from fer_video.evaluate.calibrate import calibrate_checkpoint, retarget_gru
from fer_video.evaluate.calibration import (
    confidence_ece,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    split_half_check,
)
from fer_video.models import create_model
from fer_video.temporal import TemporalGRU, load_gru
from fer_video.temporal.model import save_gru
from fer_video.transforms import PreprocessConfig
from synthetic_fer import tiny_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def overconfident_logits(temperature: float, count: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z) (so z is calibrated), and the logits z * temperature a model
    that is ``temperature`` times too sure of itself would give."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 1.5, (count, len(CLASSES)))
    probs = softmax(true_logits, axis=1)
    labels = (probs.cumsum(axis=1) > rng.random((count, 1))).argmax(axis=1)
    return true_logits * temperature, labels


@pytest.mark.parametrize("true_temperature", [0.6, 2.5])
def test_fit_recovers_the_temperature_of_miscalibrated_logits(true_temperature):
    logits, labels = overconfident_logits(true_temperature)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    before = expected_calibration_error(softmax(logits, axis=1), labels)
    after = expected_calibration_error(softmax(logits / fitted, axis=1), labels)
    assert after < 0.02 < before
    assert negative_log_likelihood(logits, labels, fitted) < negative_log_likelihood(logits, labels)
    for fold in split_half_check(logits, labels):  # out of sample too
        assert fold["temperature"] == pytest.approx(true_temperature, rel=0.08)
        assert fold["ece_after"] < 0.03 < fold["ece_before"]


def test_ece_and_bins_follow_the_definition():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5], [0.0, 1.0]])
    labels = np.array([0, 1, 0, 1, 1, 1])
    table = reliability_bins(probs, labels, bins=5)  # edges 0, .2, .4, .6, .8, 1; upper edges inclusive
    assert table["count"] == [0, 0, 2, 2, 2]  # 0.6 and 0.5 | 0.7 and 0.8 | 0.9 and 1.0
    assert table["accuracy"] == pytest.approx([0, 0, 0.5, 0.5, 1.0])
    assert table["confidence"] == pytest.approx([0, 0, 0.55, 0.75, 0.95])
    expected = (2 * abs(0.5 - 0.55) + 2 * abs(0.5 - 0.75) + 2 * abs(1.0 - 0.95)) / 6
    assert expected_calibration_error(probs, labels, bins=5) == pytest.approx(expected)
    with pytest.raises(ValueError, match="labels must lie in"):
        expected_calibration_error(probs, np.array([0, 1, 2, 0, 0, 0]))


def test_ece_of_stated_confidences_for_answers_that_are_not_the_top_label():
    """A label held by hysteresis is shown with its own (not the top) probability."""
    confidence = np.array([0.3, 0.3, 0.9, 0.9])
    assert confidence_ece(confidence, np.array([True, True, True, False]), bins=5) == pytest.approx(
        (2 * abs(1.0 - 0.3) + 2 * abs(0.5 - 0.9)) / 4
    )
    assert confidence_ece(np.full(10, 0.7), np.arange(10) < 7) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="confidence"):
        confidence_ece(np.array([]), np.array([], bool))


@pytest.fixture()
def tiny_cnn(tmp_path):
    """A randomly initialised vgg_fer_tiny checkpoint (no temperature) and a GRU tied to it."""
    torch.manual_seed(0)
    cnn = create_model("vgg_fer_tiny")
    meta = {"model": "vgg_fer_tiny", "classes": list(CLASSES), "preprocess": PreprocessConfig().to_dict()}
    path = tmp_path / "cnn.pt"
    save_atomic({"model": cnn.state_dict(), "meta": meta}, path)
    gru_meta = {"embed_dim": cnn.num_features, "hidden_size": 8, "classes": list(CLASSES), "fps": 10.0,
                "cnn_sha256": file_sha256(path)}  # fmt: skip
    save_gru(TemporalGRU(cnn.num_features, hidden_size=8), gru_meta, tmp_path / "gru.pt")
    return path


@pytest.fixture()
def crops():
    return np.random.default_rng(1).integers(0, 256, (24, 48, 48), dtype=np.uint8)


def with_temperature(source, target, temperature):
    payload = load_checkpoint(source)
    save_atomic({**payload, "meta": {**payload["meta"], "temperature": temperature}}, target)
    return target


def test_uncalibrated_checkpoints_give_the_plain_softmax(tiny_cnn, crops):
    classifier = CropClassifier.from_file(tiny_cnn, device="cpu", backend="torch")
    assert classifier.temperature is None and "temperature" not in classifier.meta
    logits, _ = backend_logits_and_features(classifier.backend, crops, classifier.preprocess)
    np.testing.assert_allclose(classifier.predict_proba(crops), softmax(logits, axis=1), rtol=0, atol=1e-6)


def test_a_saved_temperature_loads_back_and_scales_the_logits(tiny_cnn, tmp_path, crops):
    plain = CropClassifier.from_file(tiny_cnn, device="cpu", backend="torch")
    logits, _ = backend_logits_and_features(plain.backend, crops, plain.preprocess)
    for temperature in (0.5, 3.0):
        calibrated = CropClassifier.from_file(
            with_temperature(tiny_cnn, tmp_path / f"t{temperature}.pt", temperature), device="cpu", backend="torch"
        )
        assert calibrated.temperature == temperature
        probs = calibrated.predict_proba(crops)
        np.testing.assert_allclose(probs, softmax(logits / temperature, axis=1), atol=1e-6)
        assert (probs.argmax(1) == plain.predict_proba(crops).argmax(1)).all()  # T never changes the label
    sharper = CropClassifier.from_file(tmp_path / "t0.5.pt", device="cpu", backend="torch").predict_proba(crops)
    assert (sharper.max(1) >= plain.predict_proba(crops).max(1) - 1e-7).all()
    for bad in (0.0, -1.0, "hot", float("nan")):
        with pytest.raises(CheckpointError, match="temperature must be a positive number"):
            CropClassifier.from_file(with_temperature(tiny_cnn, tmp_path / "bad.pt", bad), device="cpu")


def test_onnx_backends_and_exports_apply_the_temperature(tiny_cnn, tmp_path, crops, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    calibrated_path = with_temperature(tiny_cnn, tmp_path / "calibrated.pt", 0.7)
    expected = CropClassifier.from_file(calibrated_path, device="cpu", backend="torch").predict_proba(crops)
    onnx = CropClassifier.from_file(calibrated_path, device="cpu", backend="onnx")
    plain_onnx = CropClassifier.from_file(tiny_cnn, device="cpu", backend="onnx")
    assert onnx.backend.path != plain_onnx.backend.path  # another T, another cache entry
    assert onnx.backend.metadata["temperature"] == 0.7 and plain_onnx.backend.metadata["temperature"] is None
    np.testing.assert_allclose(onnx.predict_proba(crops), expected, atol=1e-4)
    assert main(["export", "--weights", str(calibrated_path), "--out", str(tmp_path / "cnn.onnx")]) == 0
    standalone = CropClassifier.from_file(tmp_path / "cnn.onnx", device="cpu")
    assert standalone.temperature == 0.7
    np.testing.assert_allclose(standalone.predict_proba(crops), expected, atol=1e-4)


@pytest.fixture()
def tiny_data(tmp_path):
    return tiny_dataset(tmp_path / "fer", train_per_class=6, test_per_class=12)


def test_calibrate_checkpoint_writes_t_and_a_report(tiny_cnn, tiny_data, tmp_path, crops, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    out, report = tmp_path / "calibrated.pt", tmp_path / "report"
    result = calibrate_checkpoint(tiny_cnn, out, tiny_data, report_dir=report, measure_int8=True)
    record = result["calibration"]
    meta = load_checkpoint(out)["meta"]
    assert meta["temperature"] == record["temperature"] > 0 and record["n_images"] == 7 * 12
    assert record["nll_after"] <= record["nll_before"] + 1e-9 and len(record["split_half"]) == 2
    assert meta["calibration"]["source_sha256"] == file_sha256(tiny_cnn)
    assert set(meta["int8_accuracy"]) >= {"fp32", "int8", "top1_agreement", "ece_calibrated"}
    assert 0 <= meta["int8_accuracy"]["int8"] <= 1
    for name in ("calibration.json", "report.md", "reliability.png"):
        assert (report / name).stat().st_size > 0
    assert json.loads((report / "calibration.json").read_text())["out_sha256"] == file_sha256(out)
    assert f"T = {record['temperature']:.4f}" in (report / "report.md").read_text()
    original, copy = load_checkpoint(tiny_cnn)["model"], load_checkpoint(out)["model"]
    assert all(torch.equal(original[name], copy[name]) for name in original)  # weights unchanged
    with pytest.raises(FileExistsError, match="--overwrite"):
        calibrate_checkpoint(tiny_cnn, out, tiny_data, report_dir=report, measure_int8=False)


def test_calibrate_cli_refuses_to_clobber_and_retargets_the_gru(tiny_cnn, tiny_data, tmp_path, capsys):
    out, gru = tmp_path / "calibrated.pt", tmp_path / "gru.pt"
    common = ["calibrate", "--weights", str(tiny_cnn), "--data", str(tiny_data), "--no-int8"]
    report = ["--report", str(tmp_path / "report")]
    assert main([*common, "--out", str(tmp_path / "calibrated.onnx"), *report]) == 2
    assert "must end in .pt" in capsys.readouterr().err
    assert main([*common, "--out", str(out), *report, "--retarget-gru", str(tmp_path / "missing.pt")]) == 2
    assert "not found" in capsys.readouterr().err and not out.exists()
    assert main([*common, "--out", str(out), *report, "--retarget-gru", str(gru)]) == 0
    assert "T = " in capsys.readouterr().out
    meta = load_checkpoint(gru)["meta"]
    assert meta["cnn_sha256"] == file_sha256(out)
    assert meta["cnn_retarget"]["trained_on_cnn_sha256"] == file_sha256(tiny_cnn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the GRU is tied to the calibrated CNN now: no mismatch warning
        load_gru(gru, device="cpu", cnn_weights=out)
    before = out.read_bytes()
    assert main([*common, "--out", str(out), *report]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before
    # in place: the same file, with --overwrite; the weights stay and T is fitted on the raw logits again
    assert main([*common[:2], str(out), *common[3:], "--out", str(out), *report, "--overwrite"]) == 0
    meta = load_checkpoint(out)["meta"]
    assert meta["temperature"] == pytest.approx(meta["calibration"]["previous_temperature"], rel=1e-6)
    assert main([*common, "--out", str(tmp_path / "other.pt"), "--report", str(tmp_path / "r2"),
                 "--retarget-gru", str(gru)]) == 2  # fmt: skip
    assert "was not trained on" in capsys.readouterr().err


def test_retarget_gru_refuses_a_gru_of_another_cnn(tiny_cnn, tmp_path):
    calibrated = with_temperature(tiny_cnn, tmp_path / "calibrated.pt", 0.8)
    with pytest.raises(ValueError, match="not trained on the CNN that was calibrated"):
        retarget_gru(tmp_path / "gru.pt", "0" * 64, calibrated)
    assert retarget_gru(tmp_path / "gru.pt", file_sha256(tiny_cnn), calibrated) == file_sha256(calibrated)
