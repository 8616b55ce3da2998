"""The temporal GRU: smooths a face track's per-frame CNN outputs into per-frame emotion logits."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fer_video.checkpoint import CheckpointError, load_checkpoint, save_atomic
from fer_video.constants import NUM_CLASSES
from fer_video.device import resolve_device

META_KEYS = ("embed_dim", "hidden_size", "classes", "fps", "cnn_sha256")


class TemporalGRU(nn.Module):
    """A GRU over per-frame CNN embeddings and log-probabilities.

    Frames where ``present`` is False (face not detected) do not update the state: the
    hidden state and therefore the output are carried over the gap unchanged. Running the
    model over a whole clip or one frame at a time (passing ``h`` back in) gives the same
    outputs, so the same weights serve offline clips and live streams.
    """

    def __init__(self, embed_dim: int, num_classes: int = NUM_CLASSES, hidden_size: int = 64, dropout: float = 0.2):
        super().__init__()
        self.embed_dim, self.num_classes, self.hidden_size = embed_dim, num_classes, hidden_size
        inputs = embed_dim + num_classes
        self.input = nn.Sequential(
            nn.LayerNorm(inputs), nn.Dropout(dropout), nn.Linear(inputs, hidden_size), nn.GELU()
        )
        self.cell = nn.GRUCell(hidden_size, hidden_size)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, num_classes))
        self.meta: dict[str, Any] = {}

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=device or self.head[1].weight.device)

    def forward(
        self,
        embeddings: torch.Tensor,
        probs: torch.Tensor,
        present: torch.Tensor,
        h0: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame logits (B, T, C) and the last hidden state (B, H) for embeddings (B, T, D),
        CNN probabilities (B, T, C) and the face-present mask (B, T)."""
        batch, steps = present.shape
        x = self.input(torch.cat([embeddings, probs.clamp_min(1e-6).log()], dim=-1))
        h = self.initial_state(batch, x.device) if h0 is None else h0
        mask = present.to(torch.bool).unsqueeze(-1)
        states = []
        for t in range(steps):
            h = torch.where(mask[:, t], self.cell(x[:, t], h), h)
            states.append(h)
        hidden = torch.stack(states, dim=1) if states else h.new_zeros(batch, 0, self.hidden_size)
        return self.head(hidden), h

    def clip_logits(
        self,
        embeddings: torch.Tensor,
        probs: torch.Tensor,
        present: torch.Tensor,
        h0: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One label per clip (B, C): the log of the smoothed probabilities averaged over present frames
        (the last frame's when no face was ever present)."""
        logits, _ = self(embeddings, probs, present, h0)
        frame_probs = logits.softmax(dim=-1)
        weights = present.to(frame_probs.dtype).unsqueeze(-1)
        counts = weights.sum(dim=1)
        mean = (frame_probs * weights).sum(dim=1) / counts.clamp_min(1)
        mean = torch.where(counts > 0, mean, frame_probs[:, -1])
        return mean.clamp_min(1e-12).log()


def save_gru(model: TemporalGRU, meta: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``{"model": state_dict, "meta": meta}`` atomically (loadable with ``weights_only=True``)."""
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise ValueError(f"GRU metadata lacks {missing}")
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    save_atomic({"model": state, "meta": meta}, path)


def load_gru(
    path: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    cnn_weights: str | os.PathLike | None = None,
) -> TemporalGRU:
    """The shipped temporal GRU (``models/emotion_gru.pt``) or ``path``, in eval mode.

    Warns when the CNN weights (``cnn_weights``, default the shipped CNN) are not the file
    the GRU was trained on: its inputs are that CNN's embeddings.
    """
    from fer_video.pretrained import default_cnn_path, default_gru_path

    source = Path(path) if path else default_gru_path()
    resolved = resolve_device(device)
    payload = load_checkpoint(source, map_location=resolved)
    meta = payload["meta"]
    try:
        model = TemporalGRU(
            embed_dim=int(meta["embed_dim"]),
            num_classes=len(meta["classes"]),
            hidden_size=int(meta["hidden_size"]),
            dropout=float(meta.get("dropout", 0.0)),
        )
        model.load_state_dict(payload["model"])
    except (KeyError, RuntimeError) as error:
        raise CheckpointError(f"{source} is not a temporal GRU checkpoint: {error}") from error
    model.meta = meta
    cnn = Path(cnn_weights) if cnn_weights else default_cnn_path()
    if cnn.is_file() and file_sha256(cnn) != meta["cnn_sha256"]:
        warnings.warn(
            f"{source.name} was trained on the embeddings of another CNN than {cnn} (sha256 differs); "
            "retrain it with `fer-video train-temporal` for reliable smoothing",
            stacklevel=2,
        )
    return model.to(resolved).eval()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a weights file, recorded with the GRU to detect a CNN swap."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
