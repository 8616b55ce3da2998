"""The IoU + Hungarian face tracker: stable ids, tolerated misses, new ids after long absences."""

from __future__ import annotations

import numpy as np
import pytest

from fer_video.video.tracker import SURE_FACE_SCORE, TENTATIVE, IouTracker, iou_matrix


def box(cx: float, cy: float, size: float = 60.0) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def test_iou_matrix_values():
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 110]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [50, 50, 60, 60]])
    overlap = iou_matrix(a, b)
    assert overlap.shape == (2, 3)
    assert overlap[0, 0] == pytest.approx(1.0)
    assert overlap[0, 1] == pytest.approx(50 / 150)
    assert overlap[0, 2] == 0 and overlap[1].max() == 0
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_new_face_is_confirmed_after_min_hits_and_ids_count_up():
    tracker = IouTracker(min_hits=2)
    assert list(tracker.update(np.array([box(100, 100)]))) == [TENTATIVE]
    assert list(tracker.update(np.array([box(102, 100)]))) == [1]
    ids = tracker.update(np.array([box(104, 100), box(300, 100)]))
    assert list(ids) == [1, TENTATIVE]
    assert list(tracker.update(np.array([box(106, 100), box(302, 100)]))) == [1, 2]
    assert tracker.active_ids == [1, 2]


def test_one_frame_false_detection_never_gets_an_id():
    tracker = IouTracker(min_hits=2)
    for step in range(6):
        boxes = [box(100 + step, 100)] + ([box(400, 300)] if step == 3 else [])
        ids = tracker.update(np.array(boxes))
    assert tracker.active_ids == [1]
    assert list(ids) == [1]


def test_two_faces_crossing_keep_their_ids():
    """Face A moves right, face B moves left on the same line: they pass through the same spot,
    where overlap alone cannot tell them apart; their velocities can."""
    tracker = IouTracker(min_hits=1, max_misses=3)
    history: dict[int, list[float]] = {}
    for step in range(21):
        a, b = box(100 + 10 * step, 100), box(300 - 10 * step, 100)
        ids = tracker.update(np.array([a, b] if step % 2 else [b, a]))  # detector order must not matter
        order = [0, 1] if step % 2 else [1, 0]
        history.setdefault(ids[order[0]], []).append(a[0])
        history.setdefault(ids[order[1]], []).append(b[0])
    assert sorted(history) == [1, 2]
    directions = {track_id: set(np.sign(np.diff(xs))) for track_id, xs in history.items()}
    assert sorted(directions.values(), key=str) == [{-1.0}, {1.0}]  # each id kept its face's direction throughout


def test_short_miss_is_tolerated_and_long_absence_gives_a_new_id():
    tracker = IouTracker(min_hits=1, max_misses=3)
    for step in range(5):
        assert list(tracker.update(np.array([box(100 + 4 * step, 100)]))) == [1]
    for _ in range(3):  # missed for max_misses steps: the track survives
        assert list(tracker.update(np.zeros((0, 4)))) == []
    assert tracker.active_ids == [1]
    assert list(tracker.update(np.array([box(130, 100)]))) == [1]  # it kept moving meanwhile
    for _ in range(4):  # one miss too many: the track ends
        tracker.update(np.zeros((0, 4)))
    assert tracker.active_ids == []
    assert list(tracker.update(np.array([box(130, 100)]))) == [2]


def test_step_moves_tracks_with_their_velocity_between_detections():
    tracker = IouTracker(min_hits=1)
    for step in range(4):
        tracker.update(np.array([box(100 + 10 * step, 100)]))
    ((track_id, predicted),) = tracker.step()
    assert track_id == 1
    assert (predicted[0] + predicted[2]) / 2 > 130  # moved on from the last detection at x=130
    assert list(tracker.update(np.array([box(150, 100)]))) == [1]


def test_expected_boxes_are_the_seen_tracks_one_frame_on():
    tracker = IouTracker(min_hits=2)
    tracker.update(np.array([box(100, 100)]))
    assert tracker.active_ids == []  # tentative, but still expected: a re-check can confirm it
    np.testing.assert_allclose(tracker.expected_boxes(), [box(100, 100)])
    tracker.update(np.array([box(110, 100)]))
    np.testing.assert_allclose(tracker.expected_boxes(), [box(115, 100)])  # half the step, as velocity
    tracker.update(np.zeros((0, 4)))
    assert tracker.active_ids == [1] and tracker.expected_boxes().shape == (0, 4)  # missed: wait for a detection


def test_reset_forgets_tracks_and_restarts_ids():
    tracker = IouTracker(min_hits=1)
    tracker.update(np.array([box(100, 100)]))
    tracker.reset()
    assert tracker.active_ids == []
    assert list(tracker.update(np.array([box(300, 300)]))) == [1]


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError):
        IouTracker(iou_threshold=0)
    with pytest.raises(ValueError):
        IouTracker(min_hits=0)


def test_a_face_without_a_sure_detection_needs_unsure_hits_to_start_a_track():
    tracker = IouTracker(min_hits=2, unsure_hits=4)
    unsure, sure = SURE_FACE_SCORE - 0.03, SURE_FACE_SCORE + 0.01
    ids = []
    for step in range(5):
        scores = np.array([unsure, sure if step == 1 else unsure])
        ids.append(tracker.update(np.array([box(100 + step, 100), box(400, 300)]), scores))
    assert [int(i[0]) for i in ids] == [TENTATIVE, TENTATIVE, TENTATIVE, 2, 2]  # 4 unsure sightings
    assert [int(i[1]) for i in ids] == [TENTATIVE, 1, 1, 1, 1]  # one sure sighting of two is enough


def test_missing_scores_count_as_sure():
    tracker = IouTracker(min_hits=2, unsure_hits=10)
    tracker.update(np.array([box(100, 100)]), np.array([np.nan]))
    assert list(tracker.update(np.array([box(101, 100)]), np.array([np.nan]))) == [1]
    other = IouTracker(min_hits=2, unsure_hits=10)
    other.update(np.array([box(100, 100)]))
    assert list(other.update(np.array([box(101, 100)]))) == [1]


def test_unsure_hits_and_scores_are_checked():
    with pytest.raises(ValueError, match="unsure_hits"):
        IouTracker(min_hits=3, unsure_hits=2)
    with pytest.raises(ValueError, match="one score per box"):
        IouTracker().update(np.array([box(100, 100)]), np.array([0.99, 0.98]))
