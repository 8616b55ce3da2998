"""Export the emotion CNN and the temporal GRU's single step to ONNX (TorchScript exporter, dynamic batch).

The CNN graph takes a normalised batch ``input`` (B, 1, S, S) and gives ``logits`` (B, C) and
``embeddings`` (B, D). The GRU step graph takes one frame per track, ``embedding`` (B, D),
``probs`` (B, C), ``present`` (B,) bool and ``state`` (B, H + C), and gives the smoothed
``smoothed`` probabilities (B, C) and the next ``next_state``. Each file carries the metadata a
runtime needs (classes, preprocessing, sizes, the sha256 of the weights it came from) so it can
be used without the PyTorch checkpoint. The CNN graph gives raw logits; a calibrated checkpoint's
softmax temperature travels in the metadata (``temperature``) and the classifier applies it, so the
fp32 and int8 graphs of a checkpoint do not depend on it.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fer_video.export.format import (
    CNN_INPUTS,
    CNN_OUTPUTS,
    EXPORT_VERSION,
    GRU_INPUTS,
    GRU_OUTPUTS,
    METADATA_KEY,
    MTCNN_INPUTS,
    MTCNN_OUTPUTS,
)

#: ONNX opset of every exported graph (supported by onnxruntime >= 1.17).
OPSET = 18


def write_metadata(path: str | os.PathLike, metadata: dict[str, Any]) -> None:
    """Store ``metadata`` (JSON) in the ONNX file at ``path``, in place."""
    import onnx

    proto = onnx.load(str(path))
    kept = [entry for entry in proto.metadata_props if entry.key != METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    proto.producer_name = "fer-video"
    onnx.save(proto, str(path))


class ClassifierGraph(nn.Module):
    """The CNN as one graph: normalised crops in, ``(logits, embeddings)`` out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = self.model.forward_features(batch)
        return self.model.forward_head(embeddings), embeddings


class GruStepGraph(nn.Module):
    """One frame of the temporal GRU for a batch of tracks: ``(smoothed probs, next state)``.

    Runs the GRU's own ``forward`` on a one-frame sequence, so it stays exactly the model the
    PyTorch smoother runs; the state is the GRU's (``initial_state`` gives the first one).
    """

    def __init__(self, gru: nn.Module) -> None:
        super().__init__()
        self.gru = gru

    def forward(
        self, embedding: torch.Tensor, probs: torch.Tensor, present: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, next_state = self.gru(embedding[:, None], probs[:, None], present[:, None], state)
        return logits[:, 0].softmax(dim=-1), next_state


def export_classifier(model: nn.Module, meta: dict[str, Any], path: str | os.PathLike, source_sha256: str = "") -> Path:
    """Write the CNN (eval mode, on the CPU) to ``path`` atomically; ``meta`` is the checkpoint's."""
    size = int(meta["preprocess"]["input_size"])
    example = (torch.zeros(2, 1, size, size),)
    info = {
        "kind": "classifier",
        "model": meta.get("model"),
        "classes": list(meta["classes"]),
        "preprocess": dict(meta["preprocess"]),
        "embedding_dim": int(model.num_features),
        "temperature": meta.get("temperature"),
        "int8_accuracy": meta.get("int8_accuracy"),
    }
    return _export(ClassifierGraph(model), example, CNN_INPUTS, CNN_OUTPUTS, path, info, source_sha256)


def export_gru_step(gru: nn.Module, path: str | os.PathLike, source_sha256: str = "") -> Path:
    """Write the GRU's single (stateful) step to ``path`` atomically."""
    batch = 2
    example = (
        torch.zeros(batch, gru.embed_dim),
        torch.full((batch, gru.num_classes), 1.0 / gru.num_classes),
        torch.ones(batch, dtype=torch.bool),
        gru.initial_state(batch, torch.device("cpu")),
    )
    info = {
        "kind": "gru_step",
        "classes": list(gru.meta.get("classes", [])),
        "embed_dim": int(gru.embed_dim),
        "num_classes": int(gru.num_classes),
        "state_dim": int(example[3].shape[1]),
        "initial_state": example[3][0].tolist(),
    }
    return _export(GruStepGraph(gru), example, GRU_INPUTS, GRU_OUTPUTS, path, info, source_sha256)


def export_mtcnn_net(net: nn.Module, name: str, path: str | os.PathLike, source_sha256: str = "") -> Path:
    """Write one of MTCNN's networks (``pnet``, ``rnet`` or ``onet``) to ``path`` atomically; P-net
    takes any image size, R- and O-net their 24 and 48 pixel windows."""
    side = {"pnet": 12, "rnet": 24, "onet": 48}[name]
    example = (torch.zeros(2, 3, side, side),)
    spatial = {"pnet": {2: "height", 3: "width"}}.get(name, {})
    info = {"kind": f"mtcnn_{name}"}
    outputs = MTCNN_OUTPUTS[name]
    dynamic = {MTCNN_INPUTS[0]: {0: "batch", **spatial}, **{out: {0: "batch", **spatial} for out in outputs}}
    if name != "pnet":
        dynamic = {axis: {0: "batch"} for axis in dynamic}
    return _export(net, example, MTCNN_INPUTS, outputs, path, info, source_sha256, dynamic)


def _export(
    graph: nn.Module,
    example: tuple[torch.Tensor, ...],
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    path: str | os.PathLike,
    info: dict[str, Any],
    source_sha256: str,
    dynamic_axes: dict[str, dict[int, str]] | None = None,
) -> Path:
    from fer_video.evaluate.outputs import (
        atomic_path,  # (the evaluate package imports the classifier)
    )

    original = next(graph.parameters()).device
    graph = graph.cpu().eval()
    target = Path(path)
    try:
        with atomic_path(target) as partial, torch.inference_mode(False), warnings.catch_warnings():
            # The TorchScript exporter is the one that needs no extra package; its deprecation
            # notice is not for our users.
            for category in (DeprecationWarning, FutureWarning, torch.jit.TracerWarning):
                warnings.simplefilter("ignore", category)
            torch.onnx.export(
                graph,
                example,
                str(partial),
                dynamo=False,
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes=dynamic_axes or {name: {0: "batch"} for name in (*inputs, *outputs)},
                opset_version=OPSET,
                do_constant_folding=True,
            )
            metadata = {**info, "source_sha256": source_sha256, "export_version": EXPORT_VERSION}
            write_metadata(partial, {**metadata, "precision": "fp32"})
    finally:
        graph.to(original)
    return target
