"""``--backend auto`` on the CPU: the int8 rule (accuracy record + speed probe), CPU flags, the
probe cache keyed by machine and model, and fp32 whenever the probe cannot run (tiny models)."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from fer_video.backends import auto
from fer_video.backends.auto import SpeedProbe, decide, probe_key, read_probe, write_probe
from fer_video.backends.cpu import default_threads
from fer_video.backends.cpu import describe_speed_flags, int8_dot_product_flags, parse_cpu_flags, speed_flags
from fer_video.checkpoint import file_sha256, load_checkpoint, save_atomic
from fer_video.classifier import CropClassifier
from fer_video.constants import CLASSES
from fer_video.models import create_model
from fer_video.transforms import PreprocessConfig
from synthetic_fer import tiny_dataset

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Some CPU
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni amx_int8 amx_tile
"""
ARM_CPUINFO = "processor\t: 0\nFeatures\t: fp asimd asimddp i8mm sve\nCPU implementer\t: 0x41\n"
AVX2_FLAGS = frozenset({"sse2", "avx", "avx2", "fma"})

ACCURATE = {"int8_accuracy": {"fp32": 0.7019, "int8": 0.7008}}  # 0.11 points apart
INACCURATE = {"int8_accuracy": {"fp32": 0.7019, "int8": 0.6980}}  # 0.39 points apart


def test_cpu_flags_are_read_from_cpuinfo_text():
    x86 = parse_cpu_flags(X86_CPUINFO)
    assert {"avx2", "avx512_vnni", "amx_int8"} <= x86 and int8_dot_product_flags(x86) == ("avx512_vnni", "amx_int8")
    assert int8_dot_product_flags(parse_cpu_flags(ARM_CPUINFO)) == ("asimddp", "i8mm")
    assert int8_dot_product_flags(AVX2_FLAGS) == () and parse_cpu_flags("no flags here") == frozenset()


def test_speed_features_name_what_the_cpu_has_and_lacks():
    present, absent = speed_flags(parse_cpu_flags(X86_CPUINFO), "x86_64")
    assert present == ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "amx_int8")
    assert "avx512_bf16" in absent and "amx_int8" not in absent
    assert describe_speed_flags(AVX2_FLAGS, "x86_64").startswith("CPU features: avx2, fma; without avx512f, ")
    arm = describe_speed_flags(parse_cpu_flags(ARM_CPUINFO), "aarch64")
    assert arm == "CPU features: asimd, asimddp, i8mm, sve; without bf16"
    assert describe_speed_flags(frozenset(), "riscv64") == "CPU features: not known here"


def test_the_rule_needs_an_accurate_int8_record_and_a_measured_speedup():
    faster, slower = SpeedProbe(300.0, 900.0), SpeedProbe(300.0, 310.0)
    assert decide({}, faster)[0] == "onnx" and "records no int8 accuracy" in decide({}, faster)[1]
    assert decide(INACCURATE, faster) == ("onnx", decide(INACCURATE, None)[1])
    assert "0.39 points off" in decide(INACCURATE, faster)[1]
    backend, reason = decide(ACCURATE, faster)
    assert backend == "onnx-int8" and "3.00x" in reason and "0.11 points" in reason
    assert decide(ACCURATE, slower)[0] == "onnx" and "under the 1.1x needed" in decide(ACCURATE, slower)[1]
    assert decide(ACCURATE, None)[0] == "onnx"
    assert decide({"int8_accuracy": {"fp32": "n/a"}}, faster)[0] == "onnx"  # a malformed record counts as none


def test_probes_are_cached_per_machine_features_and_model(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path))
    here = probe_key("a" * 64, threads=2, flags=AVX2_FLAGS)
    write_probe(here, SpeedProbe(100.0, 250.0))
    assert read_probe(here) == SpeedProbe(100.0, 250.0)
    assert read_probe(probe_key("a" * 64, threads=2, flags=AVX2_FLAGS | {"avx512_vnni"})) is None  # another CPU
    assert read_probe(probe_key("b" * 64, threads=2, flags=AVX2_FLAGS)) is None  # another model
    assert read_probe(probe_key("a" * 64, threads=1, flags=AVX2_FLAGS)) is None  # another thread count
    stored = json.loads(auto.probe_file(here).read_text())
    assert stored["int8_dot_product_flags"] == [] and stored["key"]["cpu_flags"] == sorted(AVX2_FLAGS)
    auto.probe_file(here).write_text("{ truncated")
    assert read_probe(here) is None  # unreadable: redone


@pytest.fixture()
def tiny_cnn(tmp_path, monkeypatch):
    """A vgg_fer_tiny checkpoint, its caches in tmp_path, and tiny FER2013 look-alike data."""
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FER2013_PATH", str(tiny_dataset(tmp_path / "fer", train_per_class=6, test_per_class=2)))
    torch.manual_seed(0)
    meta = {"model": "vgg_fer_tiny", "classes": list(CLASSES), "preprocess": PreprocessConfig().to_dict()}
    path = tmp_path / "cnn.pt"
    save_atomic({"model": create_model("vgg_fer_tiny").state_dict(), "meta": meta}, path)
    return path


def with_meta(source, target, extra):
    payload = load_checkpoint(source)
    save_atomic({**payload, "meta": {**payload["meta"], **extra}}, target)
    return target


def cache_probe(weights, probe: SpeedProbe) -> None:
    """What an earlier run on this machine measured for ``weights``."""
    write_probe(probe_key(file_sha256(weights), default_threads()), probe)


def test_auto_runs_int8_where_the_cached_probe_found_it_faster(tiny_cnn, tmp_path, monkeypatch):
    weights = with_meta(tiny_cnn, tmp_path / "accurate.pt", ACCURATE)
    monkeypatch.setattr(auto, "measure_speed", lambda *a: pytest.fail("a cached probe must not be measured again"))
    cache_probe(weights, SpeedProbe(100.0, 400.0))
    classifier = CropClassifier.from_file(weights, device="cpu", backend="auto")
    assert classifier.backend_name == "onnx-int8" and classifier.backend_reason.startswith("int8: ")
    cache_probe(weights, SpeedProbe(100.0, 90.0))
    classifier = CropClassifier.from_file(weights, device="cpu", backend="auto")
    assert classifier.backend_name == "onnx" and "under the 1.1x needed" in classifier.backend_reason


def test_auto_measures_once_then_reuses_the_probe(tiny_cnn, tmp_path, monkeypatch):
    weights = with_meta(tiny_cnn, tmp_path / "accurate.pt", ACCURATE)
    calls = []
    real = auto.measure_speed
    monkeypatch.setattr(auto, "measure_speed", lambda *a: calls.append(a) or real(*a))
    first = CropClassifier.from_file(weights, device="cpu", backend="auto")
    second = CropClassifier.from_file(weights, device="cpu", backend="auto")
    assert len(calls) == 1 and first.backend_name == second.backend_name in ("onnx", "onnx-int8")
    probe = read_probe(probe_key(file_sha256(weights), default_threads()))
    assert probe is not None and probe.fp32_crops_per_s > 0 and probe.int8_crops_per_s > 0


def test_without_an_int8_record_auto_is_fp32_and_probes_nothing(tiny_cnn, tmp_path, monkeypatch):
    for weights in (tiny_cnn, with_meta(tiny_cnn, tmp_path / "inaccurate.pt", INACCURATE)):
        monkeypatch.setattr(auto, "measure_speed", lambda *a: pytest.fail("no probe without an accurate int8"))
        classifier = CropClassifier.from_file(weights, device="cpu", backend="auto")
        assert classifier.backend_name == "onnx" and classifier.backend_reason.startswith("fp32: ")
    assert not (tmp_path / "cache" / "backend_probe").exists()


def test_a_failed_probe_falls_back_to_fp32_without_crashing(tiny_cnn, tmp_path, monkeypatch, caplog):
    weights = with_meta(tiny_cnn, tmp_path / "accurate.pt", ACCURATE)

    def broken(*args):
        raise RuntimeError("onnxruntime fell over")

    monkeypatch.setattr(auto, "measure_speed", broken)
    with caplog.at_level(logging.WARNING):
        classifier = CropClassifier.from_file(weights, device="cpu", backend="auto")
    assert classifier.backend_name == "onnx" and "the int8 probe failed (onnxruntime fell over)" in caplog.text
    assert read_probe(probe_key(file_sha256(weights), default_threads())) is None  # retried next time
    assert classifier.predict_proba(torch.zeros(2, 48, 48, dtype=torch.uint8).numpy()).shape == (2, len(CLASSES))


def test_without_data_to_quantize_with_auto_is_fp32(tiny_cnn, tmp_path, monkeypatch):
    weights = with_meta(tiny_cnn, tmp_path / "accurate.pt", ACCURATE)
    monkeypatch.setenv("FER2013_PATH", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)  # the default ../shared/data/fer2013.zip is not found from here either
    classifier = CropClassifier.from_file(weights, device="cpu", backend="auto")
    assert classifier.backend_name == "onnx" and "int8 not prepared" in classifier.backend_reason
    with pytest.raises(FileNotFoundError, match="no int8 graph beside the weights .* use --backend onnx or auto"):
        CropClassifier.from_file(weights, device="cpu", backend="onnx-int8")  # asked for by name: says what to do


def test_without_data_auto_runs_the_int8_graph_shipped_beside_the_checkpoint(
    tiny_cnn, tmp_path, monkeypatch, capsys, caplog
):
    from fer_video.cli import main

    weights = with_meta(tiny_cnn, tmp_path / "accurate.pt", ACCURATE)
    beside = tmp_path / "accurate.int8.onnx"
    # Made where the data is (the tiny FER2013 look-alike of the fixture), then used where it is not.
    assert main(["export", "--weights", str(weights), "--format", "onnx-int8", "--out", str(beside)]) == 0
    assert "top-1 agreement" in capsys.readouterr().err
    monkeypatch.setenv("FER2013_PATH", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING):
        CropClassifier.from_file(weights, device="cpu", backend="auto")  # the first load times the graph found beside
    assert "timing the emotion CNN's int8 graph against fp32" in caplog.text and "quantizing" not in caplog.text
    cache_probe(weights, SpeedProbe(100.0, 400.0))
    classifier = CropClassifier.from_file(weights, device="cpu", backend="auto")
    assert classifier.backend_name == "onnx-int8" and classifier.backend.path == beside
    assert CropClassifier.from_file(weights, device="cpu", backend="onnx-int8").backend.path == beside
    # A graph quantized from other weights is not used: without data, int8 cannot be prepared.
    other = with_meta(tiny_cnn, tmp_path / "other.pt", {**ACCURATE, "note": "other weights"})
    (tmp_path / "other.int8.onnx").write_bytes(beside.read_bytes())
    cache_probe(other, SpeedProbe(100.0, 400.0))
    classifier = CropClassifier.from_file(other, device="cpu", backend="auto")
    assert classifier.backend_name == "onnx" and "int8 not prepared" in classifier.backend_reason
