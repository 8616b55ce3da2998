"""The HMM smoothers (causal and two-sided), the shown-label hysteresis, the box stabiliser and the
streaming smoothing stage of the video analysis."""

from __future__ import annotations

import numpy as np
import pytest

from fer_video.constants import CLASSES, NUM_CLASSES
from fer_video.temporal import (
    HmmSettings,
    HysteresisSettings,
    LabelHysteresis,
    hysteresis_labels,
    make_track_smoother,
    smooth_sequence,
)
from fer_video.temporal.hmm import FixedLagHmmSmoother, HmmFilter, fixed_lag_posteriors
from fer_video.video.smoothing_stage import SmoothingStage
from fer_video.video.stabilizer import FaceStabilizer
from fer_video.video.state import TrackState

DT = 0.1


def noisy_track(length: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(NUM_CLASSES, 0.5), size=length).astype(np.float32)
    present = rng.random(length) > 0.2
    return probs, present


def one_hot_sequence(labels: list[int], strength: float = 0.8) -> np.ndarray:
    """Probabilities with ``strength`` on each frame's label, the rest spread evenly."""
    probs = np.full((len(labels), NUM_CLASSES), (1 - strength) / (NUM_CLASSES - 1), np.float32)
    probs[np.arange(len(labels)), labels] = strength
    return probs


@pytest.mark.parametrize("lag_s", [0.0, 0.3, 1.0, 10.0])
def test_streaming_fixed_lag_smoother_equals_the_whole_sequence_at_once(lag_s):
    probs, present = noisy_track()
    settings = HmmSettings(switch_rate_hz=0.3, evidence_per_s=3.0, lag_s=lag_s)
    smoother, streamed, counts = FixedLagHmmSmoother(settings, DT), [], []
    for p, seen in zip(probs, present):
        out = smoother.push(p if seen else None)
        counts.append(len(out))
        streamed += out
    streamed += smoother.flush()
    lag = settings.lag_frames(DT)
    assert counts == [0] * min(lag, len(probs)) + [1] * max(len(probs) - lag, 0)  # outputs come lag frames late
    np.testing.assert_allclose(np.stack(streamed), fixed_lag_posteriors(probs, present, settings, DT), atol=1e-6)
    whole = smooth_sequence("hmm", probs, present=present, frame_interval_s=DT, hmm=settings)
    np.testing.assert_allclose(np.stack(streamed), whole, atol=1e-6)


def test_causal_filter_equals_the_one_sided_pass_and_zero_lag():
    probs, present = noisy_track(seed=1)
    settings = HmmSettings(lag_s=0.0)
    online = HmmFilter(settings, DT)
    stepped = np.stack([online.update(p if seen else None) for p, seen in zip(probs, present)])
    np.testing.assert_allclose(stepped, fixed_lag_posteriors(probs, present, settings, DT, two_sided=False), atol=1e-6)
    np.testing.assert_allclose(stepped, fixed_lag_posteriors(probs, present, settings, DT), atol=1e-6)
    np.testing.assert_allclose(stepped, smooth_sequence("hmm-online", probs, present=present, hmm=settings), atol=1e-6)


def test_a_frame_depends_on_its_lag_and_not_beyond():
    probs, present = noisy_track(seed=2)
    present[:] = True
    settings = HmmSettings(lag_s=0.5)
    lag = settings.lag_frames(DT)
    base = fixed_lag_posteriors(probs, present, settings, DT)
    t = 20
    beyond, within = probs.copy(), probs.copy()
    beyond[t + lag + 1] = one_hot_sequence([0])[0]
    within[t + lag] = one_hot_sequence([0], 0.99)[0]
    np.testing.assert_allclose(fixed_lag_posteriors(beyond, present, settings, DT)[t], base[t], atol=1e-7)
    assert not np.allclose(fixed_lag_posteriors(within, present, settings, DT)[t], base[t])


def test_missed_frames_add_no_evidence():
    probs, present = noisy_track(seed=3)
    changed = probs.copy()
    changed[~present] = one_hot_sequence([1] * int((~present).sum()), 0.99)
    settings = HmmSettings()
    np.testing.assert_allclose(
        fixed_lag_posteriors(changed, present, settings, DT), fixed_lag_posteriors(probs, present, settings, DT)
    )


def test_two_sided_smoothing_removes_flicker_the_causal_filter_shows_late():
    labels = [3] * 30 + [0] * 2 + [3] * 30  # happy, two frames of angry, happy
    probs, present = one_hot_sequence(labels, 0.6), np.ones(len(labels), bool)
    settings = HmmSettings(switch_rate_hz=0.1, evidence_per_s=3.0, lag_s=1.0)
    assert (fixed_lag_posteriors(probs, present, settings, DT).argmax(1) == 3).all()
    change = [3] * 30 + [0] * 30  # a real change is followed, and sooner by the two-sided smoother
    probs = one_hot_sequence(change, 0.6)
    causal = fixed_lag_posteriors(probs, present[:60], settings, DT, two_sided=False).argmax(1)
    both = fixed_lag_posteriors(probs, present[:60], settings, DT).argmax(1)
    first_causal, first_both = np.argmax(causal == 0), np.argmax(both == 0)
    assert causal[-1] == both[-1] == 0 and first_both < first_causal


def test_hmm_settings_are_validated_and_rate_independent():
    with pytest.raises(ValueError):
        HmmSettings(switch_rate_hz=0)
    with pytest.raises(ValueError):
        HmmSettings(lag_s=-1)
    settings = HmmSettings()
    # the same seconds of evidence give the same belief at 10 and 20 analysed frames per second
    slow = fixed_lag_posteriors(one_hot_sequence([2] * 10), np.ones(10, bool), settings, 0.1, two_sided=False)
    fast = fixed_lag_posteriors(one_hot_sequence([2] * 20), np.ones(20, bool), settings, 0.05, two_sided=False)
    np.testing.assert_allclose(slow[-1], fast[-1], atol=0.02)


def test_hysteresis_holds_the_label_until_another_leads_clearly_for_long_enough():
    rule = HysteresisSettings(margin=0.2, hold_s=0.3)
    labels = [3] * 5 + [0] * 2 + [3] * 3 + [0] * 3 + [0] * 2
    shown = hysteresis_labels(one_hot_sequence(labels, 0.7), np.ones(len(labels), bool), rule, DT)
    # two frames of angry are too short; the third frame of a three-frame lead switches
    assert shown.tolist() == [3] * 10 + [3, 3, 0, 0, 0]
    close = np.full((6, NUM_CLASSES), 0.05, np.float32)
    close[:, 3], close[:, 0] = 0.3, 0.4  # angry leads, but by less than the margin
    close[0, 3], close[0, 0] = 0.5, 0.1
    assert hysteresis_labels(close, np.ones(6, bool), rule, DT).tolist() == [3] * 6


def test_missed_frames_neither_add_to_nor_break_the_hold():
    rule = LabelHysteresis(HysteresisSettings(margin=0.2, hold_s=0.3), DT)
    happy, angry = one_hot_sequence([3, 0], 0.9)
    assert rule.update(None) is None
    assert [rule.update(p) for p in (happy, angry, angry)] == [3, 3, 3]
    assert rule.update(None) == 3
    assert rule.update(angry) == 0


def test_hysteresis_settings_are_validated():
    with pytest.raises(ValueError):
        HysteresisSettings(margin=1.0)
    with pytest.raises(ValueError):
        HysteresisSettings(hold_s=-0.1)


def test_stabiliser_steadies_a_still_face_and_follows_a_moving_one():
    rng = np.random.default_rng(0)
    box, points = np.array([100, 100, 200, 220], float), np.array([[130, 150], [170, 150], [150, 175], [135, 195], [165, 195]], float)
    stabilizer, raw, steady = FaceStabilizer(), [], []
    for _ in range(100):
        noise = rng.normal(0, 3, 4)
        out_box, out_points = stabilizer(box + noise, points + noise[:2], DT)
        raw.append(box + noise)
        steady.append(out_box)
        assert out_points.shape == (5, 2) and out_box.dtype == np.float32
    assert (np.std(np.array(steady)[20:], axis=0) < 0.6 * np.std(np.array(raw)[20:], axis=0)).all()
    moving = FaceStabilizer()
    for t in range(60):  # one face width per second to the right
        out_box, _ = moving(box + [100 * t * DT, 0, 100 * t * DT, 0], points, DT)
    assert abs(out_box[0] - (box[0] + 100 * 59 * DT)) < 15  # behind by well under a sixth of a face


def test_stabiliser_keeps_missing_landmarks_missing():
    nan = np.full((5, 2), np.nan)
    stabilizer = FaceStabilizer()
    for _ in range(3):
        out_box, out_points = stabilizer(np.array([10, 10, 50, 60.0]), nan, DT)
    assert np.isnan(out_points).all() and np.isfinite(out_box).all()


def state(track_id: int, probs: np.ndarray) -> TrackState:
    return TrackState(
        track_id=track_id, box=(0, 0, 10, 10), probabilities={}, label="", confidence=float("nan"),
        raw_probabilities=dict(zip(CLASSES, map(float, probs))), raw_label=CLASSES[int(np.argmax(probs))],
        det_score=0.99,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["hmm", "hmm-online", "ema", "none"])
def test_smoothing_stage_releases_every_frame_in_order_as_one_track_would_be_smoothed(kind):
    probs, present = noisy_track(40, seed=4)
    present[0] = True
    other = noisy_track(40, seed=5)[0]
    rule = HysteresisSettings(margin=0.1, hold_s=0.2)
    stage = SmoothingStage(kind, CLASSES, frame_interval_s=DT, hysteresis=rule)
    released, sent = [], []
    for t in range(40):
        seen = [state(1, probs[t])] if present[t] else []
        if t < 25:  # a second face that leaves after 25 frames: its track ends
            seen.append(state(2, other[t]))
        sent.append(seen)
        released += stage.add_frame(seen, [1, 2] if t < 25 else [1])
    released += stage.finish()
    assert [[s.track_id for s in frame] for frame in released] == [[s.track_id for s in frame] for frame in sent]
    track1 = [s for frame in released for s in frame if s.track_id == 1]
    smoothed = smooth_sequence(kind, probs, present=present, frame_interval_s=DT)
    expected = smoothed.argmax(1) if kind == "none" else hysteresis_labels(smoothed, present, rule, DT)
    assert [s.label for s in track1] == [CLASSES[i] for i in expected[present]]
    np.testing.assert_allclose([[s.probabilities[c] for c in CLASSES] for s in track1], smoothed[present], atol=1e-5)
    assert all(np.isclose(s.confidence, s.probabilities[s.label]) for s in track1)


def test_the_hmm_stage_holds_back_at_most_its_lag():
    stage = SmoothingStage("hmm", CLASSES, frame_interval_s=DT)
    lag = HmmSettings().lag_frames(DT)
    probs = noisy_track(30, seed=6)[0]
    waiting = []
    for t in range(30):
        stage.add_frame([state(1, probs[t])], [1])
        waiting.append(len(stage._frames))
    assert max(waiting) == lag and len(stage.finish()) == lag


def test_make_track_smoother_rejects_bad_kinds():
    with pytest.raises(ValueError):
        make_track_smoother("median")
    with pytest.raises(ValueError):
        SmoothingStage("gru", CLASSES)  # no GRU given
