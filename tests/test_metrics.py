"""Evaluation metrics, the 3-class seed protocol and test-time augmentation on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import classification_report
from torch import nn

from fer_video.classifier import CropClassifier
from fer_video.constants import CLASSES
from fer_video.evaluate import classification_metrics, predict_proba, subset_metrics, ten_crop_views
from fer_video.evaluate.metrics import restrict_to_subset
from fer_video.evaluate.plots import plot_training_curves, read_training_logs
from fer_video.transforms import PreprocessConfig

LABELS = np.array([0, 0, 0, 1, 1, 2])
PREDICTIONS = np.array([0, 0, 1, 1, 2, 2])


def test_metrics_on_a_worked_example():
    result = classification_metrics(LABELS, PREDICTIONS, classes=("a", "b", "c"))
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    np.testing.assert_allclose(result["confusion_matrix_normalised"][0], [2 / 3, 1 / 3, 0], atol=1e-6)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert result["per_class"]["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert result["per_class"]["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert result["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert result["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)


def test_metrics_agree_with_sklearn_report():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 7, 200), rng.integers(0, 7, 200)
    ours = classification_metrics(labels, predictions)
    report = classification_report(labels, predictions, target_names=list(CLASSES), output_dict=True)
    assert ours["accuracy"] == pytest.approx(report["accuracy"])
    assert ours["macro_f1"] == pytest.approx(report["macro avg"]["f1-score"])
    assert ours["weighted_f1"] == pytest.approx(report["weighted avg"]["f1-score"])
    for name in CLASSES:
        assert ours["per_class"][name]["precision"] == pytest.approx(report[name]["precision"])
        assert ours["per_class"][name]["recall"] == pytest.approx(report[name]["recall"])
        assert ours["per_class"][name]["support"] == report[name]["support"]


def test_absent_class_gives_zero_row_not_nan():
    result = classification_metrics(np.array([0, 1]), np.array([0, 0]))
    normalised = np.array(result["confusion_matrix_normalised"])
    assert np.isfinite(normalised).all()
    assert normalised[CLASSES.index("disgust")].tolist() == [1.0] + [0.0] * 6  # disgust predicted as angry
    assert normalised[CLASSES.index("fear")].tolist() == [0.0] * 7
    assert result["per_class"]["fear"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def one_hot_probs(*rows: dict[str, float]) -> np.ndarray:
    probs = np.zeros((len(rows), len(CLASSES)))
    for i, row in enumerate(rows):
        for name, value in row.items():
            probs[i, CLASSES.index(name)] = value
    return probs


def test_three_class_subset_restricts_samples_and_classes():
    probs = one_hot_probs(
        {"surprise": 0.6, "happy": 0.3, "sad": 0.1},  # happy: overall wrong, right among the 3
        {"neutral": 0.5, "sad": 0.4, "happy": 0.1},  # sad predicted neutral
        {"neutral": 0.9, "angry": 0.1},  # neutral: right
        {"happy": 1.0},  # true angry: left out
    )
    labels = np.array([CLASSES.index(n) for n in ("happy", "sad", "neutral", "angry")])
    subset_labels, subset_predictions = restrict_to_subset(probs, labels)
    assert subset_labels.tolist() == [0, 1, 2] and subset_predictions.tolist() == [0, 2, 2]
    result = subset_metrics(probs, labels)
    assert result["classes"] == ["happy", "sad", "neutral"] and result["n_images"] == 3
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]


def test_ten_crop_views_are_corners_centre_and_mirrors():
    batch = torch.arange(48 * 48, dtype=torch.float32).reshape(1, 1, 48, 48)
    views = ten_crop_views(batch)
    assert len(views) == 10 and all(v.shape == (1, 1, 44, 44) for v in views)
    corners = [batch[..., :44, :44], batch[..., :44, 4:], batch[..., 4:, :44], batch[..., 4:, 4:]]
    expected = [*corners, batch[..., 2:46, 2:46]]
    for view, crop in zip(views[:5], expected):
        torch.testing.assert_close(view, crop)
    mirrored = {tuple(v.flip(-1).flatten().tolist()) for v in views[5:]}
    assert mirrored == {tuple(c.flatten().tolist()) for c in expected}


class LeftVersusRight(nn.Module):
    """Hand-made 'model': logit 0 is the mean brightness of the left half, logit 1 of the right half."""

    num_features = 2

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return torch.stack([x[..., :half].mean(dim=(1, 2, 3)), x[..., half:].mean(dim=(1, 2, 3))], dim=1) * 5

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([features, torch.full((len(features), 5), -10.0)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@pytest.fixture
def left_right_classifier() -> CropClassifier:
    meta = {"model": "left_right", "classes": list(CLASSES), "preprocess": PreprocessConfig().to_dict()}
    return CropClassifier(LeftVersusRight(), meta, torch.device("cpu"))


def test_tta_modes_on_a_hand_made_model(left_right_classifier):
    bright_left = np.zeros((1, 48, 48), dtype=np.uint8)
    bright_left[..., :24] = 255
    plain = predict_proba(left_right_classifier, bright_left, "none", progress=False)
    assert plain[0, 0] > 0.9  # left is brighter
    for mode in ("flip", "tencrop"):  # both average a view with its mirror image: left and right tie
        probs = predict_proba(left_right_classifier, bright_left, mode, progress=False)
        assert probs.shape == (1, 7) and probs.sum() == pytest.approx(1, abs=1e-5)
        assert probs[0, 0] == pytest.approx(probs[0, 1], abs=1e-5)
    flat = np.full((3, 48, 48), 128, dtype=np.uint8)  # every crop of a flat image is the same image
    np.testing.assert_allclose(
        predict_proba(left_right_classifier, flat, "tencrop", progress=False),
        predict_proba(left_right_classifier, flat, "none", progress=False),
        atol=1e-5,
    )


def test_unknown_tta_mode(left_right_classifier):
    with pytest.raises(ValueError, match="unknown test-time augmentation 'rotate'"):
        predict_proba(left_right_classifier, np.zeros((1, 48, 48), dtype=np.uint8), "rotate")


def test_training_logs_of_stages_join_with_epochs_numbered_on(tmp_path):
    header = "epoch,lr,train_loss,train_acc,val_loss,val_acc\n"
    (tmp_path / "stage1.csv").write_text(header + "1,0.1,2.0,0.2,1.9,0.25\n2,0.05,1.8,0.3,1.7,0.35\n")
    (tmp_path / "stage2.csv").write_text(header + "1,0.02,1.6,0.4,1.5,0.45\n")
    log = read_training_logs([tmp_path / "stage1.csv", tmp_path / "stage2.csv"])
    assert log["epoch"].tolist() == [1, 2, 3] and log["stage"].tolist() == [1, 1, 2]
    assert log["val_acc"].tolist() == [0.25, 0.35, 0.45]
    plot_training_curves(log, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    log["real_clip_acc"] = [0.3, 0.4, 0.5]  # a run that scored real clips gets their curve too
    plot_training_curves(log, tmp_path / "with_real.png")
    assert (tmp_path / "with_real.png").stat().st_size > 0
