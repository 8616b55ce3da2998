"""ONNX export and the ONNX Runtime backends: round trip, parity with PyTorch on real crops, CLI, bad files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from fer_video.backends import resolve_backend
from fer_video.backends.gru import OnnxGruStep
from fer_video.classifier import CropClassifier
from fer_video.cli import main
from fer_video.data import load_fer2013
from fer_video.export import classifier_onnx, export_classifier
from fer_video.export.format import CNN_INPUTS, OnnxModelError, read_metadata
from fer_video.pretrained import default_cnn_path, default_gru_path
from fer_video.temporal import load_gru, smooth_sequence
from fer_video.checkpoint import file_sha256

PARITY_ATOL = 1e-4
#: The shipped GRU may lag behind a newly shipped CNN; parity does not depend on it.
pytestmark = pytest.mark.filterwarnings("ignore:emotion_gru.pt was trained on the embeddings of another CNN")


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Exports go to a fresh cache, so the tests see the first-use export happen."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FER_VIDEO_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def torch_classifier() -> CropClassifier:
    return CropClassifier.from_file(default_cnn_path(), device="cpu", backend="torch")


@pytest.fixture(scope="module")
def onnx_classifier() -> CropClassifier:
    return CropClassifier.from_file(default_cnn_path(), device="cpu", backend="onnx")


@pytest.fixture(scope="module")
def publictest(fer2013_path):
    """The first 256 real PublicTest crops."""
    split = load_fer2013(fer2013_path, splits=["publictest"])["publictest"]
    return split.images[:256], split.labels[:256]


def test_auto_backend_is_onnx_on_cpu_and_torch_on_cuda():
    assert resolve_backend("auto", torch.device("cpu")) == "onnx"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    assert resolve_backend("onnx-int8", torch.device("cpu")) == "onnx-int8"
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        resolve_backend("tensorrt", torch.device("cpu"))


def test_auto_falls_back_to_torch_without_a_writable_cache(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FER_VIDEO_CACHE", str(blocker / "cache"))  # cannot be created under a file
    with caplog.at_level("WARNING"):
        classifier = CropClassifier.from_file(default_cnn_path(), device="cpu", backend="auto")
    assert classifier.backend_name == "torch" and "running the emotion CNN with PyTorch" in caplog.text
    with pytest.raises(PermissionError, match="cannot create the ONNX cache folder"):
        CropClassifier.from_file(default_cnn_path(), device="cpu", backend="onnx")


def test_export_is_cached_by_checkpoint_hash_and_redone_when_broken(onnx_classifier):
    path = classifier_onnx(default_cnn_path())
    assert path == onnx_classifier.backend.path and path.name == f"{file_sha256(default_cnn_path())}.onnx"
    metadata = read_metadata(path)
    assert metadata["kind"] == "classifier" and metadata["classes"] == list(onnx_classifier.classes)
    assert metadata["source_sha256"] == file_sha256(default_cnn_path())
    written = path.stat().st_mtime_ns
    assert classifier_onnx(default_cnn_path()).stat().st_mtime_ns == written  # reused, not exported again
    path.write_bytes(b"truncated")
    assert read_metadata(classifier_onnx(default_cnn_path()))["kind"] == "classifier"  # redone


def test_sessions_plan_no_memory_pattern_per_input_shape(onnx_classifier):
    """Batch sizes change from frame to frame in video; a pattern kept per shape made memory grow."""
    assert onnx_classifier.backend.session.get_session_options().enable_mem_pattern is False


def test_detector_sessions_do_not_spin_after_a_run(onnx_classifier):
    """MTCNN's sessions and the CNN's run in turn; threads left spinning by one slowed the next."""
    from fer_video.backends.session import open_session
    from fer_video.export.cache import mtcnn_onnx

    def spinning(session) -> str:
        options = session.get_session_options()
        try:
            return options.get_session_config_entry("session.intra_op.allow_spinning")
        except RuntimeError:  # not set: ONNX Runtime's default, spinning
            return "default"

    for name in ("pnet", "rnet", "onet"):
        assert spinning(open_session(mtcnn_onnx(name), f"mtcnn_{name}")[0]) == "0"
    assert spinning(onnx_classifier.backend.session) == "default"  # batches of crops run back to back


def test_onnx_matches_torch_on_real_publictest_crops(torch_classifier, onnx_classifier, publictest):
    crops, labels = publictest
    assert onnx_classifier.backend_name == "onnx" and torch_classifier.backend_name == "torch"
    expected_probs, expected_emb = torch_classifier.predict(crops, batch_size=64)
    probs, emb = onnx_classifier.predict(crops, batch_size=64)
    assert np.abs(probs - expected_probs).max() < PARITY_ATOL
    assert np.allclose(emb, expected_emb, atol=1e-3, rtol=1e-4)
    assert (probs.argmax(1) == labels).mean() > 0.3  # well above chance (1/7)
    single = onnx_classifier.predict_proba(crops[:1])  # batch 1 through the dynamic batch axis
    assert np.abs(single - expected_probs[:1]).max() < PARITY_ATOL


def test_onnx_gru_step_matches_torch_smoother(torch_classifier, publictest):
    crops, _ = publictest
    probs, embeddings = torch_classifier.predict(crops[:60])
    present = np.ones(60, dtype=bool)
    present[[5, 6, 7, 30]] = False  # the face is missed on some frames
    gru = load_gru(device="cpu")
    expected = smooth_sequence("gru", probs, embeddings, gru=gru, present=present)
    smoother = OnnxGruStep.from_checkpoint().smoother()
    got = np.stack([smoother.update(p, e) if seen else smoother.update(None, None)
                    for p, e, seen in zip(probs, embeddings, present)])  # fmt: skip
    assert np.abs(got - expected).max() < PARITY_ATOL
    with pytest.raises(ValueError, match="needs the CNN embedding"):
        smoother.update(probs[0], None)


def test_int8_backend_is_calibrated_and_close_to_fp32(onnx_classifier, publictest, fer2013_path, tmp_path):
    from fer_video.export.quantize import quantize_classifier, training_calibration_crops

    crops, labels = publictest
    calibration = training_calibration_crops(fer2013_path, count=128)
    quantized = quantize_classifier(onnx_classifier.backend.path, tmp_path / "int8.onnx", calibration)
    int8 = CropClassifier.from_file(quantized, device="cpu")
    assert int8.backend_name == "onnx-int8" and read_metadata(quantized)["calibration_crops"] == 128
    graph = onnx.load(str(quantized)).graph
    readers = [node for node in graph.node if CNN_INPUTS[0] in node.input]
    assert [node.op_type for node in readers] == ["Conv"]  # the first conv reads the float input itself
    assert read_metadata(quantized)["float_nodes"] == [readers[0].name]
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) > 5  # the rest is int8
    fp32_top = onnx_classifier.predict_proba(crops).argmax(1)
    int8_top = int8.predict_proba(crops).argmax(1)
    assert (int8_top == fp32_top).mean() > 0.9
    assert (int8_top == labels).mean() > 0.3


@pytest.fixture()
def crop_png(tmp_path, publictest):
    path = tmp_path / "face.png"
    Image.fromarray(publictest[0][0]).save(path)
    return path


def test_cli_backends_agree(crop_png, capsys):
    reports = {}
    for backend in ("torch", "onnx"):
        assert main(["image", str(crop_png), "--no-detect", "--json", "--device", "cpu", "--backend", backend]) == 0
        reports[backend] = json.loads(capsys.readouterr().out)[0]["faces"][0]
    assert reports["onnx"]["label"] == reports["torch"]["label"]
    for name, p in reports["torch"]["probabilities"].items():
        assert reports["onnx"]["probabilities"][name] == pytest.approx(p, abs=2e-4)  # 4-decimal rounding


def test_export_cli_writes_a_file_the_image_command_runs(crop_png, tmp_path, capsys):
    cnn, gru = tmp_path / "cnn.onnx", tmp_path / "gru.onnx"
    assert main(["export", "--out", str(cnn)]) == 0
    assert "max |p_onnx - p_torch|" in capsys.readouterr().err
    assert main(["export", "--out", str(cnn)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["image", str(crop_png), "--no-detect", "--json", "--weights", str(cnn)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["faces"][0]["label"]
    assert main(["image", str(crop_png), "--no-detect", "--weights", str(cnn), "--backend", "onnx-int8"]) == 2
    assert "was exported for onnx, not onnx-int8" in capsys.readouterr().err
    assert main(["export", "--part", "gru", "--out", str(gru)]) == 0
    assert read_metadata(gru)["source_sha256"] == file_sha256(default_gru_path())
    capsys.readouterr()
    assert main(["image", str(crop_png), "--no-detect", "--weights", str(gru)]) == 2
    assert "holds a 'gru_step' graph, not a 'classifier'" in capsys.readouterr().err


def test_export_cli_exports_the_chosen_shipped_model(tmp_path):
    fast_cnn, fast_gru = default_cnn_path("fast"), default_gru_path("fast")
    if not (fast_cnn.is_file() and fast_gru.is_file()):
        pytest.skip("the fast model's weights are not in models/")
    cnn, gru = tmp_path / "fast.onnx", tmp_path / "fast_gru.onnx"
    assert main(["export", "--model", "fast", "--out", str(cnn)]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast GRU is checked against the fast CNN, not the standard one
        assert main(["export", "--model", "fast", "--part", "gru", "--out", str(gru)]) == 0
    assert read_metadata(cnn)["source_sha256"] == file_sha256(fast_cnn)
    assert read_metadata(gru)["source_sha256"] == file_sha256(fast_gru)


def test_bad_onnx_files_give_one_line_errors(crop_png, tmp_path, capsys):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00 definitely not a protobuf \xff" * 10)
    assert main(["image", str(crop_png), "--no-detect", "--weights", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read ONNX file {garbage}" in err and "Traceback" not in err
    with pytest.raises(OnnxModelError, match="not found"):
        CropClassifier.from_file(tmp_path / "missing.onnx", device="cpu")
    with pytest.raises(ValueError, match="is an ONNX file"):
        CropClassifier.from_file(garbage, device="cpu", backend="torch")


def test_foreign_onnx_without_metadata_is_refused(torch_classifier, tmp_path):
    import onnx

    path = export_classifier(torch_classifier.model, torch_classifier.meta, tmp_path / "plain.onnx")
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save(proto, str(path))
    with pytest.raises(OnnxModelError, match="was not exported by fer-video"):
        CropClassifier.from_file(path, device="cpu")


def test_video_and_batch_options_carry_the_backend():
    from fer_video.cli import build_parser
    from fer_video.cli.video_cmd import options_from_args

    args = build_parser().parse_args(["video", "talk.mp4", "--out", "out", "--backend", "onnx-int8"])
    assert options_from_args(args).backend == "onnx-int8"
    assert build_parser().parse_args(["batch", "videos", "--out", "out"]).backend == "auto"
