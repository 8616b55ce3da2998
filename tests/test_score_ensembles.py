"""scripts/score_ensembles.py: naming checkpoints, ensemble rows and pairwise disagreement."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import score_ensembles  # noqa: E402


def test_parse_named_names_paths_and_refuses_missing_or_repeated(tmp_path):
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    first.write_bytes(b"x")
    second.write_bytes(b"x")
    assert score_ensembles.parse_named([f"std={first}", str(second)]) == {"std": first, "b": second}
    with pytest.raises(SystemExit, match="not found"):
        score_ensembles.parse_named([str(tmp_path / "c.pt")])
    with pytest.raises(SystemExit, match="two checkpoints are named 'a'"):
        score_ensembles.parse_named([str(first), f"a={second}"])


def one_hot(labels, size=3):
    return np.eye(size, dtype=np.float32)[labels]


def test_ensemble_rows_average_probabilities_of_the_members():
    labels = np.array([0, 1, 2, 0])
    # a is right on images 0-2, b on 1-3; their mean is right wherever one is sure and the other unsure
    a = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.0, 0.3, 0.7], [0.2, 0.8, 0.0]], np.float32)
    b = np.array([[0.4, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.9, 0.1, 0.0]], np.float32)
    clips = one_hot(np.array([0, 1]))
    seen = []

    def score_clips(probabilities):
        seen.append(probabilities)
        return SimpleNamespace(summary={"mean_clip_frame_accuracy": float(probabilities[0, 0]),
                                        "dominant_accuracy": 1.0})

    rows = score_ensembles.ensemble_rows({"a": (a, clips), "b": (b, clips * 0.5)}, labels, score_clips, max_size=3)
    assert [row["members"] for row in rows] == [["a"], ["b"], ["a", "b"]]
    assert [row["publictest_accuracy"] for row in rows] == [0.75, 0.75, 1.0]
    assert [row["clip_frame_accuracy"] for row in rows] == [1.0, 0.5, 0.75]
    np.testing.assert_allclose(seen[2], clips * 0.75)


def test_disagreement_counts_differing_top_labels_per_pair():
    a = (one_hot(np.array([0, 1, 2, 0])), one_hot(np.array([0, 0])))
    b = (one_hot(np.array([0, 1, 1, 1])), one_hot(np.array([0, 2])))
    (row,) = score_ensembles.disagreement({"a": a, "b": b})
    assert row == {"pair": ["a", "b"], "publictest": 0.5, "clip_crops": 0.5}


def test_markdown_lists_every_ensemble_and_pair():
    report = {
        "date": "2026-12-06T10:00:00", "commit": "abc1234", "publictest_images": 4, "clip_crops": 2, "clips": 2,
        "labels": "labels.csv", "tta": "none", "checkpoints": {"a": "a.pt", "b": "b.pt"}, "command": "a=a.pt b=b.pt",
        "ensembles": [{"members": ["a", "b"], "publictest_accuracy": 0.5, "publictest_macro_f1": 0.4,
                       "clip_frame_accuracy": 0.25, "clip_dominant_accuracy": 1.0}],
        "disagreement": [{"pair": ["a", "b"], "publictest": 0.5, "clip_crops": 0.0}],
    }
    text = score_ensembles.markdown(report)
    assert "| a + b | 50.00% | 0.400 | 0.250 | 1.000 |" in text
    assert "| a / b | 0.500 | 0.000 |" in text


def test_max_size_must_be_at_least_one():
    parser = score_ensembles.get_args_parser()
    assert parser.parse_args(["a.pt", "--max-size", "2"]).max_size == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["a.pt", "--max-size", "0"])
