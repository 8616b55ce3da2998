"""The temporal GRU: smooths a face track's per-frame CNN outputs into per-frame emotion logits."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fer_video.checkpoint import CheckpointError, file_sha256, load_checkpoint, save_atomic
from fer_video.constants import NUM_CLASSES
from fer_video.device import resolve_device
from fer_video.pretrained import DEFAULT_MODEL, default_cnn_path, default_gru_path

META_KEYS = ("embed_dim", "hidden_size", "classes", "fps", "cnn_sha256")


class TemporalGRU(nn.Module):
    """GRU-gated exponential smoothing of a face track's per-frame CNN outputs.

    Each frame, a GRU reads the CNN embedding and log-probabilities. From its hidden state it
    proposes a corrected per-frame distribution ``q = softmax(log p_cnn + correction(h))`` and a
    gate ``g`` in (0, 1); the output is ``p = (1 - g) * p_prev + g * q``. The gate lets the model
    hold its estimate through noisy frames and move quickly when the evidence changes; the
    correction adapts the CNN to degraded frames. The state is ``[h, p]`` (B, H + C).

    Frames where ``present`` is False (face not detected) do not update the state: it and
    therefore the output are carried over the gap unchanged. Running the model over a whole
    clip or one frame at a time (passing the state back in) gives the same outputs, so the same
    weights serve offline clips and live streams.
    """

    def __init__(self, embed_dim: int, num_classes: int = NUM_CLASSES, hidden_size: int = 64, dropout: float = 0.2):
        super().__init__()
        self.embed_dim, self.num_classes, self.hidden_size = embed_dim, num_classes, hidden_size
        inputs = embed_dim + num_classes
        self.input = nn.Sequential(
            nn.LayerNorm(inputs), nn.Dropout(dropout), nn.Linear(inputs, hidden_size), nn.GELU()
        )
        self.cell = nn.GRUCell(hidden_size, hidden_size)
        self.head_drop = nn.Dropout(dropout)
        self.correction = nn.Linear(hidden_size, num_classes)
        self.gate = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.correction.weight)  # starts as an EMA of the CNN's probabilities
        nn.init.zeros_(self.correction.bias)
        nn.init.constant_(self.gate.bias, -1.0)
        self.meta: dict[str, Any] = {}

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> torch.Tensor:
        """Zero hidden state and uniform probabilities, (B, H + C)."""
        device = device or self.gate.weight.device
        hidden = torch.zeros(batch_size, self.hidden_size, device=device)
        uniform = torch.full((batch_size, self.num_classes), 1.0 / self.num_classes, device=device)
        return torch.cat([hidden, uniform], dim=1)

    def forward(
        self,
        embeddings: torch.Tensor,
        probs: torch.Tensor,
        present: torch.Tensor,
        h0: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame logits (B, T, C) (log of the smoothed probabilities) and the last state (B, H + C)
        for embeddings (B, T, D), CNN probabilities (B, T, C) and the face-present mask (B, T)."""
        batch, steps = present.shape
        log_cnn = probs.clamp_min(1e-6).log()
        x = self.input(torch.cat([embeddings, log_cnn], dim=-1))
        state = self.initial_state(batch, x.device) if h0 is None else h0
        h, p = state[:, : self.hidden_size], state[:, self.hidden_size :]
        mask = present.to(torch.bool).unsqueeze(-1)
        outputs = []
        for t in range(steps):
            h_new = self.cell(x[:, t], h)
            z = self.head_drop(h_new)
            q = (log_cnn[:, t] + self.correction(z)).softmax(dim=-1)
            g = torch.sigmoid(self.gate(z))
            h = torch.where(mask[:, t], h_new, h)
            p = torch.where(mask[:, t], (1 - g) * p + g * q, p)
            outputs.append(p)
        smoothed = torch.stack(outputs, dim=1) if outputs else p.new_zeros(batch, 0, self.num_classes)
        return smoothed.clamp_min(1e-8).log(), torch.cat([h, p], dim=1)

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
    model: str = DEFAULT_MODEL,
) -> TemporalGRU:
    """The temporal GRU of the shipped ``model`` (``standard``: ``models/emotion_gru.pt``;
    ``fast``: ``models/emotion_gru_fast.pt``) or ``path``, in eval mode.

    Warns when the CNN weights (``cnn_weights``, default the CNN of ``model``) are not the file
    the GRU was trained on: its inputs are that CNN's embeddings.
    """
    source = Path(path) if path else default_gru_path(model)
    resolved = resolve_device(device)
    payload = load_checkpoint(source, map_location=resolved)
    meta = payload["meta"]
    try:
        gru = TemporalGRU(
            embed_dim=int(meta["embed_dim"]),
            num_classes=len(meta["classes"]),
            hidden_size=int(meta["hidden_size"]),
            dropout=float(meta.get("dropout", 0.0)),
        )
        gru.load_state_dict(payload["model"])
    except (KeyError, RuntimeError) as error:
        raise CheckpointError(f"{source} is not a temporal GRU checkpoint: {error}") from error
    gru.meta = meta
    cnn = Path(cnn_weights) if cnn_weights else default_cnn_path(model)
    if cnn.is_file() and file_sha256(cnn) != meta["cnn_sha256"]:
        warnings.warn(
            f"{source.name} was trained on the embeddings of another CNN than {cnn} (sha256 differs); "
            "retrain it with `fer-video train-temporal` for reliable smoothing",
            stacklevel=2,
        )
    return gru.to(resolved).eval()
