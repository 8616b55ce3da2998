"""scripts/score_cascade.py: which crops go on to the standard CNN, whose answers replace the fast one's, and the
speed bound."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import score_cascade  # noqa: E402

FAST = np.array([[0.9, 0.1, 0.0], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0], [0.2, 0.7, 0.1]], np.float32)
STANDARD = np.array([[0.1, 0.9, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)


def test_combine_takes_the_standard_answer_where_the_fast_one_is_below_the_threshold():
    probabilities, unsure = score_cascade.combine(FAST, STANDARD, threshold=0.6)
    assert unsure.tolist() == [False, True, True, False]
    np.testing.assert_array_equal(probabilities, np.stack([FAST[0], STANDARD[1], STANDARD[2], FAST[3]]))
    assert probabilities.dtype == np.float32


class TableClassifier:
    """Answers each crop with a fixed row, looked up by the crop's first pixel; records what it was asked."""

    def __init__(self, table: np.ndarray) -> None:
        self.table, self.asked = table, []

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        index = crops[:, 0, 0].astype(int)
        self.asked.append(index.tolist())
        return self.table[index].copy()


def test_the_cascade_runs_the_standard_cnn_on_the_unsure_crops_only():
    crops = np.zeros((4, 2, 2), np.uint8)
    crops[:, 0, 0] = np.arange(4)
    fast, standard = TableClassifier(FAST), TableClassifier(STANDARD)
    probabilities = score_cascade.cascade_predict(fast, standard, crops, threshold=0.6)
    assert fast.asked == [[0, 1, 2, 3]] and standard.asked == [[1, 2]]
    np.testing.assert_array_equal(probabilities, score_cascade.combine(FAST, STANDARD, 0.6)[0])
    score_cascade.cascade_predict(fast, standard, crops[[0]], threshold=0.6)
    assert standard.asked == [[1, 2]]  # a sure batch never reaches the standard CNN


def test_the_bound_is_the_speed_of_its_parts():
    speed = {"fast": 4000.0, "standard": 400.0}
    assert score_cascade.cascade_bound(speed, 0.0) == pytest.approx(4000.0)
    assert score_cascade.cascade_bound(speed, 1.0) == pytest.approx(1 / (1 / 4000 + 1 / 400))
    assert score_cascade.cascade_bound(speed, 0.25) == pytest.approx(1 / (1 / 4000 + 0.25 / 400))


def test_crops_per_s_takes_the_batches_in_turn():
    images = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2)
    seen = []
    rate = score_cascade.crops_per_s(lambda batch: seen.append(batch[:, 0, 0].tolist()), images, 0.05, batch=4)
    # two whole batches of 4 (the last two images are left out), taken in turn from the warm-up call on
    assert rate > 0 and len(seen) >= 3 and seen[:3] == [[0, 4, 8, 12], [16, 20, 24, 28], [0, 4, 8, 12]]
