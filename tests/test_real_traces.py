"""The GRU trained on real traces (fer_video.temporal.real_traces) and the per-kind smoothing defaults, on tiny data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_video.temporal import smooth_sequence
from fer_video.temporal.config import RealTracesConfig, TemporalConfig
from fer_video.temporal.hmm import FILE_HMM, LIVE_HMM, default_hmm, fixed_lag_posteriors
from fer_video.temporal.hysteresis import DEFAULT_HYSTERESIS, LIVE_HYSTERESIS, default_hysteresis
from fer_video.temporal.real_traces import (
    RealClips,
    choose_epoch,
    distillation_loss,
    fit_real,
    leave_one_speaker_out,
    trace_windows,
)
from fer_video.video.evaluation import ClipTrace

DIM, CLASSES = 8, 7


def make_trace(name: str, frames: int, label: int, seed: int) -> ClipTrace:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (frames, CLASSES))
    logits[:, label] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    present = rng.random(frames) > 0.1
    probs[~present] = 0
    embeddings = rng.normal(0, 1, (frames, DIM)).astype(np.float32) * present[:, None]
    times = np.arange(frames) * 0.1
    return ClipTrace(name, times, present.copy(), present, probs.astype(np.float32), embeddings, 0.1, 1)


def real_config(**changes) -> RealTracesConfig:
    values = {"unlabelled": ("a/*.mp4",), "labels": "labels.csv", "window_seconds": 2.0, "stride_seconds": 1.0}
    return RealTracesConfig(**{**values, **changes})


def test_windows_cover_each_trace_with_the_teacher_over_the_window():
    config = real_config()
    long, short = make_trace("long", 45, 3, 0), make_trace("short", 12, 4, 1)
    windows = trace_windows([long, short], config)
    assert len(windows) == 3 + 1  # starts 0, 10, 20 of the long trace; one padded window of the short one
    assert windows.embeddings.shape == (4, 20, DIM) and windows.targets.shape == (4, 20, CLASSES)
    np.testing.assert_allclose(windows.targets.sum(axis=-1), 1.0, atol=1e-5)
    expected = fixed_lag_posteriors(long.probs[10:30], long.present[10:30], FILE_HMM, 0.1)
    np.testing.assert_allclose(windows.targets[1], expected, atol=1e-6)
    assert not windows.present[3, 12:].any()
    with pytest.raises(ValueError, match="no unlabelled traces"):
        trace_windows([], config)


def test_distillation_loss_is_lowest_at_the_teacher_and_counts_switches():
    targets = torch.tensor([[[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]]])
    present = torch.ones(1, 3, dtype=torch.bool)
    at_teacher = distillation_loss(targets.log(), targets, present, 0.0)
    elsewhere = distillation_loss(targets.flip(-1).log(), targets, present, 0.0)
    assert at_teacher < elsewhere
    steady = distillation_loss(targets.log(), targets, present, 1.0)
    assert torch.isclose(steady, at_teacher)  # no switch between the two frames the teacher labels alike
    flicker = torch.tensor([[[0.9, 0.1], [0.1, 0.9], [0.2, 0.8]]]).log()
    assert distillation_loss(flicker, targets, present, 1.0) > distillation_loss(flicker, targets, present, 0.0)


def test_epoch_choice_and_leave_one_speaker_out():
    log = [
        {"epoch": 1, "frame_acc": 0.9, "switches_per_min": 9.0, "A_frame_acc": 0.9, "A_switches_per_min": 9.0,
         "A_dominant_acc": 1.0, "B_frame_acc": 0.95, "B_switches_per_min": 1.0, "B_dominant_acc": 0.5},
        {"epoch": 2, "frame_acc": 0.8, "switches_per_min": 2.0, "A_frame_acc": 0.7, "A_switches_per_min": 2.0,
         "A_dominant_acc": 0.5, "B_frame_acc": 0.9, "B_switches_per_min": 2.0, "B_dominant_acc": 1.0},
    ]  # fmt: skip
    assert choose_epoch(log, 3.0) == 2
    assert choose_epoch(log, 0.5) == 2  # none under the cap: the fewest switches
    assert choose_epoch(log, 3.0, "B") == 1
    loso = {row["held_out"]: row for row in leave_one_speaker_out(log, ["A", "B"], 3.0)}
    assert loso["A"]["epoch"] == 1 and loso["A"]["frame_acc"] == 0.9  # chosen on B
    assert loso["B"]["epoch"] == 2 and loso["B"]["switches_per_min"] == 2.0  # chosen on A


def test_fit_real_trains_and_logs_every_speaker():
    traces = [make_trace(f"u{i}", 40, i % CLASSES, i) for i in range(3)]
    labelled = [(make_trace(f"l{i}", 30, i, 10 + i), i, "AB"[i % 2]) for i in range(4)]
    clips = RealClips({"a/*.mp4": traces}, labelled)
    config = TemporalConfig(real_traces=real_config(), hidden_size=4, epochs=2, batch_size=2)
    gru, log, epoch = fit_real(trace_windows(traces, config.real_traces), clips, config)
    assert len(log) == 2 and epoch in (1, 2)
    assert {"A_frame_acc", "B_switches_per_min", "switches_per_min[a/*.mp4]"} <= set(log[0])
    probs = smooth_sequence("gru", labelled[0][0].probs, labelled[0][0].embeddings, gru, present=labelled[0][0].present)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_config_reads_a_real_traces_section():
    config = TemporalConfig.from_dict({"epochs": 3, "real_traces": {"unlabelled": ["x/*.mp4"], "labels": "l.csv"}})
    assert config.real_traces.unlabelled == ("x/*.mp4",)
    with pytest.raises(ValueError, match="unknown real_traces key"):
        TemporalConfig.from_dict({"real_traces": {"unlabelled": ["x"], "labels": "l.csv", "typo": 1}})
    with pytest.raises(ValueError, match="needs unlabelled"):
        TemporalConfig.from_dict({"real_traces": {"labels": "l.csv"}})


def test_live_kind_has_its_own_settings():
    assert default_hmm("hmm-online") is LIVE_HMM and default_hmm("hmm") is FILE_HMM
    assert default_hysteresis("hmm-online") is LIVE_HYSTERESIS and default_hysteresis("ema") is DEFAULT_HYSTERESIS
    trace = make_trace("t", 30, 2, 5)
    online = smooth_sequence("hmm-online", trace.probs, present=trace.present)
    expected = fixed_lag_posteriors(trace.probs, trace.present, LIVE_HMM, 0.1, two_sided=False)
    np.testing.assert_allclose(online, expected, atol=1e-6)
