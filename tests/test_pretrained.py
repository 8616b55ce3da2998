"""The shipped CNN loads by default and recognises real FER2013 PublicTest faces well above chance."""

from __future__ import annotations

import numpy as np
import pytest

import fer_video
from fer_video.constants import CLASSES
from fer_video.pretrained import default_cnn_path


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
    np.testing.assert_allclose(fer_video.classify_crops(rgb, device="cpu"), probs, atol=1e-4)
