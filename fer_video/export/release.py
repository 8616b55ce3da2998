"""Shrink a training checkpoint to what ships: weights (in float16) and metadata, nothing else.

A run's ``best.pt`` is already ``{"model", "meta"}``; ``last.pt`` also holds the optimizer and EMA
state. Storing the floating-point weights as float16 halves the file (the 7M-parameter ``vgg_fer``
is 28 MB in float32, over the size a repository should carry); :func:`model_from_checkpoint`
copies them back into the float32 model, so inference code is unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from fer_video.checkpoint import load_checkpoint, save_atomic, weights_state


def half_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its floating-point tensors in float16 (integer buffers such as BatchNorm's
    batch counter are kept)."""
    return {name: t.half() if t.is_floating_point() else t for name, t in state.items()}


def save_release_checkpoint(source: str | os.PathLike, out: str | os.PathLike) -> dict[str, Any]:
    """Write ``source``'s weights (its EMA weights when it holds them) in float16, with its
    metadata and ``meta["stored_dtype"] = "float16"``, to ``out`` atomically; returns the payload."""
    payload = load_checkpoint(source)
    release = {"model": half_state_dict(weights_state(payload)), "meta": {**payload["meta"], "stored_dtype": "float16"}}
    save_atomic(release, out)
    return release
