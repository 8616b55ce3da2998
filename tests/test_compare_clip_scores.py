"""scripts/compare_clip_scores.py: reading per-clip scores and the paired bootstrap over clips."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import compare_clip_scores  # noqa: E402


def test_clip_accuracies_from_eval_crops_json_and_eval_video_csv(tmp_path):
    crops = tmp_path / "real_crops.json"
    clips = [{"file": "a.mp4", "frame_accuracy": 0.5}, {"file": "b.mp4", "frame_accuracy": 1.0}]
    crops.write_text(json.dumps({"scores": {"one.pt": {"clips": clips}, "two.pt": {"clips": clips[:1]}}}))
    assert compare_clip_scores.clip_accuracies(str(crops)).to_dict() == {"a.mp4": 0.5, "b.mp4": 1.0}
    assert compare_clip_scores.clip_accuracies(f"{crops}::two.pt").to_dict() == {"a.mp4": 0.5}
    with pytest.raises(SystemExit, match="no per-clip scores for 'three.pt'"):
        compare_clip_scores.clip_accuracies(f"{crops}::three.pt")
    video = tmp_path / "clips.csv"
    pd.DataFrame(
        {"clip": ["a.mp4", "a.mp4", "c.mp4"], "smoothing": ["hmm", "none", "hmm"], "frame_acc": [0.9, 0.4, None]}
    ).to_csv(video, index=False)
    assert compare_clip_scores.clip_accuracies(str(video)).to_dict() == {"a.mp4": 0.9}  # unlabelled c.mp4 left out
    assert compare_clip_scores.clip_accuracies(f"{video}::none").to_dict() == {"a.mp4": 0.4}
    with pytest.raises(SystemExit, match="smoothing 'gru'"):
        compare_clip_scores.clip_accuracies(f"{video}::gru")


def test_paired_bootstrap_interval():
    constant = compare_clip_scores.paired_bootstrap(np.full(5, 0.1), resamples=1000, seed=0)
    assert constant["low"] == pytest.approx(0.1) and constant["high"] == pytest.approx(0.1)
    assert constant["share_at_or_below_0"] == 0
    mixed = compare_clip_scores.paired_bootstrap(np.array([0.9, 0.0, 0.0, -0.4, 0.0]), resamples=5000, seed=0)
    assert mixed["mean"] == pytest.approx(0.1)
    assert mixed["low"] < 0 < mixed["high"] and 0 < mixed["share_at_or_below_0"] < 1
