"""What an exported fer-video ONNX file holds: graph input/output names, the metadata it carries
and the exporter version; read without PyTorch or the ``onnx`` package (the ONNX Runtime path
needs neither)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: Bumped whenever the exported graphs or their metadata change, so cached files are redone
#: (3: the CNN's metadata carries the checkpoint's softmax temperature; 4: and its int8 accuracy
#: record, so ``--backend auto`` decides from the export alone; 5: the int8 graph keeps its first
#: convolution in float32).
EXPORT_VERSION = 5
#: Key of the JSON metadata stored in the ONNX file's ``metadata_props``.
METADATA_KEY = "fer_video"

CNN_INPUTS, CNN_OUTPUTS = ("input",), ("logits", "embeddings")
GRU_INPUTS, GRU_OUTPUTS = ("embedding", "probs", "present", "state"), ("smoothed", "next_state")
#: MTCNN's networks: a normalised RGB batch (B, 3, H, W) in; P- and R-net give the box regression
#: and face probability, O-net the five landmarks as well.
MTCNN_INPUTS = ("image",)
MTCNN_OUTPUTS: dict[str, tuple[str, ...]] = {
    "pnet": ("regression", "probability"),
    "rnet": ("regression", "probability"),
    "onet": ("regression", "landmarks", "probability"),
}


class OnnxModelError(ValueError):
    """An ONNX file is missing, unreadable, or not one fer-video exported."""


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The fer-video metadata stored in an exported ONNX file (read without the ``onnx`` package)."""
    from fer_video.export.props import read_metadata_props

    source = Path(path)
    if not source.is_file():
        raise OnnxModelError(f"ONNX file not found: {source}")
    try:
        entries = read_metadata_props(source)
    except (OSError, ValueError) as error:
        raise OnnxModelError(f"cannot read ONNX file {source}: {error}") from None
    if METADATA_KEY not in entries:
        raise OnnxModelError(f"{source} was not exported by fer-video (no '{METADATA_KEY}' metadata)")
    try:
        return json.loads(entries[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise OnnxModelError(f"{source} has corrupt fer-video metadata: {error}") from None


def checkpoint_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """The fields of a checkpoint's ``meta`` an exported CNN's ``metadata`` carries (classes,
    preprocessing, model; the softmax temperature and int8 accuracy record when the checkpoint had them)."""
    meta = {key: metadata[key] for key in ("model", "classes", "preprocess")}
    for key in ("temperature", "int8_accuracy"):
        if metadata.get(key) is not None:
            meta[key] = metadata[key]
    return meta
