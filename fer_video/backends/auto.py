"""``--backend auto`` on the CPU: ONNX Runtime int8 where it is as accurate as fp32 and faster on
this machine, else ONNX Runtime fp32.

The rule (:func:`decide`):

1. The checkpoint records its int8 accuracy on PublicTest (``meta["int8_accuracy"]``, measured
   by ``fer-video calibrate`` with the same quantization recipe), and it is within
   :data:`MAX_INT8_ACCURACY_GAP` of the fp32 accuracy. Otherwise fp32, without probing.
2. A one-off micro-benchmark (:func:`measure_speed`: fp32 and int8 graphs, batch of
   :data:`PROBE_BATCH`) finds int8 at least :data:`MIN_INT8_SPEEDUP` times as fast. It is cached
   per machine and model (:func:`probe_key`: CPU flags, cores, ONNX Runtime version, threads,
   the checkpoint's sha256) in ``<cache>/backend_probe/``; int8 dot-product instructions (VNNI,
   AMX, Arm dot product) usually make int8 win, but the measurement decides, not the CPU's name.

The int8 graph is the one shipped beside the checkpoint (``models/emotion_cnn.int8.onnx``) or one
quantized into the cache on FER2013 Training crops. A probe that cannot run (neither graph at hand,
an ONNX Runtime error, an unwritable cache) leaves fp32 and never fails the load.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fer_video.backends.cpu import cpu_architecture, cpu_flags, default_threads, int8_dot_product_flags
from fer_video.cache import cache_dir

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)

#: int8 is used only within this PublicTest accuracy of fp32 (0.3 points).
MAX_INT8_ACCURACY_GAP = 0.003
#: ... and only when it is at least this much faster at batch :data:`PROBE_BATCH`.
MIN_INT8_SPEEDUP = 1.1
PROBE_BATCH = 64
PROBE_ROUNDS = 5
#: Bumped when the probe's measurement changes, so cached results are redone.
PROBE_VERSION = 2


@dataclass(frozen=True)
class SpeedProbe:
    """One micro-benchmark's result on this machine."""

    fp32_crops_per_s: float
    int8_crops_per_s: float

    @property
    def speedup(self) -> float:
        return self.int8_crops_per_s / self.fp32_crops_per_s


@dataclass(frozen=True)
class AutoChoice:
    """What ``auto`` runs: ``backend`` (``onnx`` or ``onnx-int8``), the ONNX file, and why."""

    backend: str
    path: Path
    reason: str


def int8_accuracy_gap(meta: dict[str, Any]) -> float | None:
    """|fp32 - int8| PublicTest accuracy the checkpoint records, ``None`` without a usable record."""
    record = meta.get("int8_accuracy")
    try:
        return abs(float(record["fp32"]) - float(record["int8"]))
    except (TypeError, KeyError, ValueError):
        return None


def accuracy_refusal(meta: dict[str, Any]) -> str | None:
    """Why the checkpoint's int8 accuracy rules int8 out (the reason for fp32), ``None`` if it does not."""
    gap = int8_accuracy_gap(meta)
    if gap is None:
        return "fp32: the checkpoint records no int8 accuracy (`fer-video calibrate` measures it)"
    if gap > MAX_INT8_ACCURACY_GAP:
        limit = 100 * MAX_INT8_ACCURACY_GAP
        return f"fp32: int8 is {100 * gap:.2f} points off fp32 on PublicTest (limit {limit:g})"
    return None


def decide(meta: dict[str, Any], probe: SpeedProbe | None) -> tuple[str, str]:
    """The rule: ``(backend, reason)`` from the checkpoint's int8 accuracy record and the speed probe."""
    refusal = accuracy_refusal(meta)
    if refusal is not None:
        return "onnx", refusal
    gap = int8_accuracy_gap(meta)
    if probe is None:
        return "onnx", "fp32: int8 speed not measured on this machine"
    speed = (
        f"int8 {probe.int8_crops_per_s:.0f} vs fp32 {probe.fp32_crops_per_s:.0f} crops/s at batch {PROBE_BATCH} "
        f"here ({probe.speedup:.2f}x)"
    )
    if probe.speedup >= MIN_INT8_SPEEDUP:
        return "onnx-int8", f"int8: {speed}, {100 * gap:.2f} points from fp32 on PublicTest"
    return "onnx", f"fp32: {speed}, under the {MIN_INT8_SPEEDUP:g}x needed"


def probe_key(model_sha256: str, threads: int, flags: frozenset[str] | None = None) -> dict[str, Any]:
    """What a speed probe depends on: this machine's CPU flags and cores, ONNX Runtime, threads, the model."""
    import onnxruntime

    return {
        "probe_version": PROBE_VERSION,
        "architecture": cpu_architecture(),
        "cpu_flags": sorted(cpu_flags() if flags is None else flags),
        "cpu_count": os.cpu_count(),
        "onnxruntime": onnxruntime.__version__,
        "threads": threads,
        "model_sha256": model_sha256,
    }


def probe_file(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / "backend_probe" / f"{digest}.json"


def read_probe(key: dict[str, Any]) -> SpeedProbe | None:
    """The cached probe for ``key``; ``None`` when missing or unreadable (it is then redone)."""
    path = probe_file(key)
    try:
        stored = json.loads(path.read_text())
        if stored["key"] != key:
            return None
        return SpeedProbe(float(stored["fp32_crops_per_s"]), float(stored["int8_crops_per_s"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_probe(key: dict[str, Any], probe: SpeedProbe) -> Path:
    from fer_video.evaluate.outputs import write_text_atomic

    path = probe_file(key)
    record = {
        "key": key,
        **asdict(probe),
        "int8_dot_product_flags": list(int8_dot_product_flags(frozenset(key["cpu_flags"]))),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    return path


def measure_speed(fp32_path: str | os.PathLike, int8_path: str | os.PathLike, threads: int | None) -> SpeedProbe:
    """crops/s of the fp32 and int8 graphs on one random normalised batch of :data:`PROBE_BATCH`:
    the best of :data:`PROBE_ROUNDS` alternating runs each, after a warm-up."""
    from fer_video.backends.onnx_backend import OnnxBackend

    runtimes = [OnnxBackend(path, threads=threads) for path in (fp32_path, int8_path)]
    size = int(runtimes[0].metadata["preprocess"]["input_size"])
    batch = np.random.default_rng(0).standard_normal((PROBE_BATCH, 1, size, size), np.float32)
    best = [float("inf")] * len(runtimes)
    for runtime in runtimes:
        runtime(batch)
    for _ in range(PROBE_ROUNDS):
        for index, runtime in enumerate(runtimes):
            started = time.perf_counter()
            runtime(batch)
            best[index] = min(best[index], time.perf_counter() - started)
    return SpeedProbe(PROBE_BATCH / best[0], PROBE_BATCH / best[1])


def choose_cpu_backend(
    weights: str | os.PathLike,
    meta: dict[str, Any],
    fp32_path: Path,
    threads: int | None = None,
    sha256: str | None = None,
    model: nn.Module | None = None,
) -> AutoChoice:
    """What ``auto`` runs on the CPU for the checkpoint ``weights`` (its ``meta``, exported to
    ``fp32_path``; ``sha256`` the file's and ``model`` the module when already known): see the
    module's rule. Never raises for a failed probe; loads the checkpoint only to make a missing
    int8 graph."""
    from fer_video.checkpoint import file_sha256
    from fer_video.export.cache import classifier_onnx, int8_onnx_at_hand

    refusal = accuracy_refusal(meta)
    if refusal is not None:
        return AutoChoice("onnx", fp32_path, refusal)
    try:
        sha = sha256 or file_sha256(weights)
        key = probe_key(sha, threads or default_threads())
        probe = read_probe(key)
        int8_path = None
        if probe is None:
            int8_path = int8_onnx_at_hand(weights, sha)
            if int8_path is None:
                step = "quantizing the emotion CNN to int8 and timing it"
            else:
                step = "timing the emotion CNN's int8 graph"
            logger.warning("once for this machine and model: %s against fp32 (cached in %s)", step, cache_dir())
            int8_path = int8_path or classifier_onnx(weights, model, meta, int8=True, sha256=sha)
            probe = measure_speed(fp32_path, int8_path, threads)
            write_probe(key, probe)
        backend, reason = decide(meta, probe)
        if backend == "onnx-int8":
            return AutoChoice(backend, int8_path or classifier_onnx(weights, model, meta, int8=True, sha256=sha), reason)
        return AutoChoice(backend, fp32_path, reason)
    except FileNotFoundError as error:  # no FER2013 Training crops to calibrate the int8 graph on
        logger.info("--backend auto uses fp32: %s", error)
        return AutoChoice("onnx", fp32_path, f"fp32: int8 not prepared ({error})")
    except Exception as error:  # noqa: BLE001 - whatever breaks the probe, fp32 still runs
        logger.warning("--backend auto: the int8 probe failed (%s); using ONNX Runtime fp32", error)
        return AutoChoice("onnx", fp32_path, f"fp32: the int8 probe failed ({error})")
