"""Temporal smoothing: GRU shapes, online == whole-clip, gaps, flicker reduction, simulation, metrics, CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from fer_video.checkpoint import save_atomic
from fer_video.classifier import CropClassifier
from fer_video.cli import main
from fer_video.constants import CLASSES, NUM_CLASSES
from fer_video.data import FaceArrays
from fer_video.models import create_model
from fer_video.pretrained import default_cnn_path, default_gru_path
from fer_video.temporal import ONLINE_SMOOTHING_KINDS, TemporalGRU, load_gru, make_smoother, smooth_sequence
from fer_video.temporal.clips import ClipFeatures, clip_features
from fer_video.temporal.config import SimulationConfig, TemporalConfig
from fer_video.temporal.evaluate import smoother_metrics
from fer_video.temporal.metrics import clip_switches, sequence_metrics
from fer_video.checkpoint import file_sha256
from fer_video.temporal.model import save_gru
from fer_video.temporal.simulate import simulate_clips
from fer_video.temporal.train import fit_gru

EMBED = 8


@pytest.fixture
def tiny_gru() -> TemporalGRU:
    torch.manual_seed(0)
    return TemporalGRU(embed_dim=EMBED, hidden_size=16).eval()


def random_track(length: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities (T, C), embeddings (T, D) and a present mask with a gap of 4 frames and one missed frame."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(NUM_CLASSES), size=length).astype(np.float32)
    embeddings = rng.standard_normal((length, EMBED)).astype(np.float32)
    present = np.ones(length, dtype=bool)
    present[[1, 12, 13, 14, 15, 25]] = False
    return probs, embeddings, present


def run_online(kind: str, probs, embeddings, present, gru=None, alpha=0.3) -> np.ndarray:
    smoother = make_smoother(kind, gru, ema_alpha=alpha)
    frames = zip(probs, embeddings, present)
    return np.stack([smoother.update(p, e) if m else smoother.update(None, None) for p, e, m in frames])


def test_gru_forward_shapes_and_state_continuation(tiny_gru):
    emb, probs = torch.randn(3, 10, EMBED), torch.rand(3, 10, NUM_CLASSES).softmax(-1)
    present = torch.rand(3, 10) > 0.2
    logits, h = tiny_gru(emb, probs, present)
    assert logits.shape == (3, 10, NUM_CLASSES) and h.shape == (3, 16 + NUM_CLASSES)
    first, h_mid = tiny_gru(emb[:, :4], probs[:, :4], present[:, :4])
    second, h_end = tiny_gru(emb[:, 4:], probs[:, 4:], present[:, 4:], h_mid)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits)
    torch.testing.assert_close(h_end, h)
    clip = tiny_gru.clip_logits(emb, probs, present)
    assert clip.shape == (3, NUM_CLASSES) and torch.isfinite(clip).all()
    torch.testing.assert_close(clip.exp().sum(-1), torch.ones(3))


@pytest.mark.parametrize("kind", ONLINE_SMOOTHING_KINDS)
def test_online_update_equals_smooth_sequence(kind, tiny_gru):
    probs, embeddings, present = random_track()
    online = run_online(kind, probs, embeddings, present, tiny_gru)
    whole = smooth_sequence(kind, probs, embeddings, gru=tiny_gru, ema_alpha=0.3, present=present)
    assert whole.shape == (len(probs), NUM_CLASSES)
    np.testing.assert_allclose(online, whole, atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "ema", "none"])  # the HMM drifts over gaps: tests/test_smoothing.py
def test_state_is_carried_over_missing_frames(kind, tiny_gru):
    probs, embeddings, present = random_track()
    out = smooth_sequence(kind, probs, embeddings, gru=tiny_gru, ema_alpha=0.3, present=present)
    for t in np.flatnonzero(~present):
        np.testing.assert_allclose(out[t], out[t - 1], atol=1e-6)
    # Dropping the missed frames altogether gives the same outputs at the detected frames.
    kept = smooth_sequence(kind, probs[present], embeddings[present], gru=tiny_gru, ema_alpha=0.3)
    np.testing.assert_allclose(out[present], kept, atol=1e-5)
    if kind != "none":  # the state really is a state: it depends on frames before the gap
        changed = probs.copy()
        changed[:12] = np.roll(changed[:12], 1, axis=1)
        after_gap = smooth_sequence(kind, changed, embeddings, gru=tiny_gru, ema_alpha=0.3, present=present)[16]
        assert not np.allclose(after_gap, out[16], atol=1e-4)


def test_smoothers_before_first_detection_and_errors(tiny_gru):
    for kind in ("none", "ema"):
        np.testing.assert_allclose(make_smoother(kind).update(None, None), np.full(NUM_CLASSES, 1 / NUM_CLASSES))
    assert make_smoother("gru", tiny_gru).update(None, None).shape == (NUM_CLASSES,)
    with pytest.raises(ValueError, match="unknown smoothing 'median'"):
        make_smoother("median")
    with pytest.raises(ValueError, match="needs a loaded GRU"):
        make_smoother("gru")
    with pytest.raises(ValueError, match="ema_alpha"):
        make_smoother("ema", ema_alpha=0.0)
    with pytest.raises(ValueError, match="embedding"):
        make_smoother("gru", tiny_gru).update(np.full(NUM_CLASSES, 1 / NUM_CLASSES), None)
    with pytest.raises(ValueError, match="mismatch"):
        make_smoother("gru", tiny_gru).update(np.full(NUM_CLASSES, 1 / NUM_CLASSES), np.zeros(EMBED + 1))


def synthetic_clips(count: int, seed: int) -> ClipFeatures:
    """Clips of noisy per-frame "CNN" outputs: embeddings scatter around class prototypes, so per-frame
    labels flicker while the true emotion changes every 1.5-3 s."""
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(123).standard_normal((NUM_CLASSES, 16))
    length, fps = 60, 10.0
    labels = np.zeros((count, length), dtype=np.int64)
    for clip in labels:
        start = 0
        while start < length:
            stop = start + int(rng.integers(15, 31))
            clip[start:stop] = rng.integers(NUM_CLASSES)
            start = stop
    embeddings = (prototypes[labels] + 1.3 * rng.standard_normal((count, length, 16))).astype(np.float32)
    logits = embeddings @ prototypes.T
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs = (probs / probs.sum(-1, keepdims=True)).astype(np.float32)
    present = rng.random((count, length)) > 0.1
    embeddings[~present], probs[~present] = 0, 0
    return ClipFeatures(embeddings, probs, present, labels, fps)


def test_trained_gru_cuts_flicker_without_losing_accuracy():
    config = TemporalConfig(
        hidden_size=32, dropout=0.1, epochs=10, batch_size=16, lr=2e-2, smoothness_weight=1.0, min_spurious_reduction=3.0
    )
    gru, log = fit_gru(synthetic_clips(64, seed=1), synthetic_clips(24, seed=2), config, torch.device("cpu"))
    assert len(log) == config.epochs
    held_out = synthetic_clips(48, seed=3)
    none = smoother_metrics("none", held_out)
    smoothed = smoother_metrics("gru", held_out, gru)
    assert none["spurious_per_min"] > 20  # the raw labels really flicker
    assert smoothed["spurious_per_min"] < none["spurious_per_min"] / 3
    assert smoothed["frame_acc"] >= none["frame_acc"]


def generated_faces() -> tuple[np.ndarray, np.ndarray]:
    """Two 48x48 images per class with a class-specific stripe pattern."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for k in range(NUM_CLASSES):
        for _ in range(2):
            image = rng.integers(0, 60, (48, 48)).astype(np.uint8)
            image[:, k * 6 : k * 6 + 6] = 220
            images.append(image)
            labels.append(k)
    return np.stack(images), np.asarray(labels)


def test_simulation_smoke():
    images, labels = generated_faces()
    config = SimulationConfig(
        clip_seconds=6, segment_seconds=(1.0, 2.0), dropout_per_minute=60, occlusion_per_minute=60
    )
    clips = list(simulate_clips(images, labels, range(3), config, seed=7))
    assert len(clips) == 3
    for clip in clips:
        assert clip.frames.shape == (60, 48, 48) and clip.frames.dtype == np.uint8
        assert clip.labels.shape == clip.present.shape == (60,)
        changes = np.flatnonzero(np.diff(clip.labels)) + 1
        np.testing.assert_array_equal(changes, clip.segment_starts[1:])  # emotion changes exactly at segment starts
        assert len(changes) >= 2
        assert np.abs(np.diff(clip.frames.astype(int), axis=0)).mean() > 1  # the face moves / changes
    assert not all(clip.present.all() for clip in clips)  # dropped detections happen
    again = next(simulate_clips(images, labels, [0], config, seed=7))
    np.testing.assert_array_equal(again.frames, clips[0].frames)
    with pytest.raises(ValueError, match="one label per image"):
        next(simulate_clips(images, labels[:-1], [0], config, seed=0))


def test_a_clip_depends_only_on_seed_set_and_index(tmp_path):
    """Clip i is the same whatever the set sizes and build order, before and after the CNN (cache extended)."""
    images, labels = generated_faces()
    config = SimulationConfig(clip_seconds=2, segment_seconds=(0.5, 1.0))
    few = list(simulate_clips(images, labels, range(2), config, seed=5, clip_set="eval"))
    alone = next(simulate_clips(images, labels, [3], config, seed=5, clip_set="eval"))
    many = list(simulate_clips(images, labels, range(4), config, seed=5, clip_set="eval"))
    for clip, same in zip([*few, alone], [many[0], many[1], many[3]]):
        for field in ("frames", "labels", "present", "segment_starts"):
            np.testing.assert_array_equal(getattr(clip, field), getattr(same, field))
    other_set = next(simulate_clips(images, labels, [3], config, seed=5, clip_set="fit"))
    assert not np.array_equal(other_set.frames, alone.frames)

    tiny_cnn(tmp_path / "cnn.pt")
    classifier = CropClassifier.from_file(str(tmp_path / "cnn.pt"), device="cpu")
    faces = FaceArrays(images, labels)

    def features(count, cache_dir):
        return clip_features(faces, count, config, 5, classifier, {"cnn": "tiny"}, cache_dir, name="eval")

    direct = features(3, None)
    features(2, tmp_path / "cache")
    extended = features(3, tmp_path / "cache")  # clips 0-1 from the cache, clip 2 computed
    cut = features(1, tmp_path / "cache")
    for key in ("embeddings", "probs", "present", "labels"):
        np.testing.assert_array_equal(getattr(extended, key), getattr(direct, key))
        np.testing.assert_array_equal(getattr(cut, key), getattr(direct, key)[:1])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


def test_switch_and_lag_metrics_on_a_known_sequence():
    labels = np.array([0] * 10 + [1] * 10)
    pred = np.array([0] * 10 + [0, 0, 1, 1, 1, 2, 1, 1, 1, 1])
    present = np.ones(20, dtype=bool)
    stats = clip_switches(pred, labels, present)
    assert stats == {"switches": 3, "spurious": 2, "true_changes": 1, "lags": [2]}
    present[15] = False  # the flicker to class 2 happens while the face is missed: no switch counted
    assert clip_switches(pred, labels, present)["switches"] == 1
    summary = sequence_metrics(pred[None], labels[None], np.ones((1, 20), dtype=bool), fps=10.0)
    assert summary["frame_acc"] == pytest.approx(17 / 20)
    assert summary["spurious_per_min"] == pytest.approx(2 / (2 / 60))
    assert summary["lag_median_s"] == pytest.approx(0.2)


def test_checkpoint_round_trip_and_cnn_mismatch_warning(tiny_gru, tmp_path):
    cnn = tmp_path / "cnn.pt"
    cnn.write_bytes(b"weights of some CNN")
    path = tmp_path / "gru.pt"
    meta = {"embed_dim": EMBED, "hidden_size": 16, "classes": list(CLASSES), "fps": 10.0}
    meta["cnn_sha256"] = file_sha256(cnn)
    save_gru(tiny_gru, meta, path)
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"model", "meta"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_gru(path, device="cpu", cnn_weights=cnn)
    probs, embeddings, present = random_track()
    np.testing.assert_allclose(
        smooth_sequence("gru", probs, embeddings, loaded, present=present),
        smooth_sequence("gru", probs, embeddings, tiny_gru, present=present),
        atol=1e-6,
    )
    cnn.write_bytes(b"another CNN")
    with pytest.warns(UserWarning, match="sha256 differs"):
        load_gru(path, device="cpu", cnn_weights=cnn)


def test_shipped_gru_matches_shipped_cnn():
    if not default_gru_path().is_file() or not default_cnn_path().is_file():
        pytest.skip("models/emotion_gru.pt or models/emotion_cnn.pt not present")
    from fer_video.pretrained import load_classifier

    payload = torch.load(default_gru_path(), weights_only=True)
    for key in ("embed_dim", "hidden_size", "classes", "fps", "simulation", "metrics", "cnn_sha256"):
        assert key in payload["meta"]
    gru = load_gru(device="cpu")
    assert gru.embed_dim == load_classifier(device="cpu").embedding_dim
    assert list(gru.meta["classes"]) == list(CLASSES)


def test_train_temporal_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "gru.pt"
    out.write_bytes(b"keep me")
    data = tmp_path / "fer2013.csv"
    data.write_text("emotion,pixels,Usage\n")
    code = main(["train-temporal", "--config", "configs/temporal.yaml", "--data", str(data), "--out", str(out)])
    assert code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


def tiny_cnn(path) -> None:
    """A randomly initialised tiny CNN saved like a trained one."""
    torch.manual_seed(0)
    model = create_model("vgg_fer_tiny")
    meta = {"model": "vgg_fer_tiny", "model_kwargs": {}, "classes": list(CLASSES),
            "preprocess": {"input_size": 48, "mean": 0.5, "std": 0.25}}
    save_atomic({"model": model.state_dict(), "meta": meta}, path)


def test_train_and_eval_commands_end_to_end(tmp_path, fer2013_path):
    cnn, gru, results = tmp_path / "cnn.pt", tmp_path / "gru.pt", tmp_path / "results"
    tiny_cnn(cnn)
    config = {
        "train_clips": 6, "val_clips": 3, "eval_clips": 4, "epochs": 2, "batch_size": 4, "hidden_size": 8,
        "ema_alphas": [0.5, 0.2], "cache_dir": str(tmp_path / "cache"), "results_dir": str(results),
        "simulation": {"clip_seconds": 4.0, "segment_seconds": [1.0, 2.0]},
    }
    config_path = tmp_path / "temporal.yaml"
    config_path.write_text(yaml.safe_dump(config))
    common = ["--config", str(config_path), "--data", str(fer2013_path), "--cnn", str(cnn), "--device", "cpu"]
    assert main(["train-temporal", *common, "--out", str(gru)]) == 0
    assert main(["eval-temporal", *common, "--gru", str(gru)]) == 0
    meta = torch.load(gru, weights_only=True)["meta"]
    assert meta["cnn_sha256"] == file_sha256(cnn) and meta["fps"] == 10
    assert meta["embed_dim"] == create_model("vgg_fer_tiny").num_features
    table = pd.read_csv(results / "comparison.csv")
    assert table.method.iloc[0] == "none" and "gru" in set(table.method)
    assert {"hmm", "hmm-online", "hmm + hysteresis", "hmm-online + hysteresis"} <= set(table.method)
    assert (table.method == "ema").sum() >= 2 and table.matched.sum() == 1
    for name in ("comparison.md", "example_clip.png", "MODEL_CARD_SECTION.md"):
        assert (results / name).stat().st_size > 0
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3  # fit, val and eval clip sets cached
    report = (results / "comparison.md").read_text()
    assert f"CNN sha256 `{file_sha256(cnn)[:16]}" in report and "trained on another CNN" not in report

    other = tmp_path / "other_cnn.pt"  # another CNN scored with this GRU: the report names the CNN scored
    state = torch.load(cnn, weights_only=True)
    save_atomic({**state, "meta": {**state["meta"], "note": "another file"}}, other)
    other_common = [*common[:-4], "--cnn", str(other), "--device", "cpu"]
    assert main(["eval-temporal", *other_common, "--gru", str(gru), "--out", str(tmp_path / "other")]) == 0
    report = (tmp_path / "other" / "comparison.md").read_text()
    assert f"CNN sha256 `{file_sha256(other)[:16]}" in report
    assert f"trained on another CNN, `{file_sha256(cnn)[:16]}" in report
