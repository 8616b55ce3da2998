"""The PyTorch temporal GRU as a per-track smoother: one frame at a time (:class:`GruSmoother`), or a
whole track in one call (:func:`gru_sequence`, the same numbers). Kept apart from
:mod:`fer_video.temporal.smoothing` so that the other kinds never import PyTorch."""

from __future__ import annotations

import numpy as np
import torch

from fer_video.temporal.model import TemporalGRU


class GruSmoother:
    """Runs the temporal GRU one frame at a time, keeping its hidden state between calls."""

    def __init__(self, gru: TemporalGRU) -> None:
        self.gru = gru.eval()
        self.device = next(gru.parameters()).device
        self.hidden: torch.Tensor | None = None

    @torch.inference_mode()
    def update(self, probs: np.ndarray | None, embedding: np.ndarray | None) -> np.ndarray:
        if probs is not None and embedding is None:
            raise ValueError("the GRU smoother needs the CNN embedding with each detected frame")
        present = probs is not None
        emb = _frame_tensor(embedding, self.gru.embed_dim, self.device)
        prob = _frame_tensor(probs, self.gru.num_classes, self.device)
        mask = torch.tensor([[present]], device=self.device)
        logits, self.hidden = self.gru(emb, prob, mask, self.hidden)
        return logits[0, -1].softmax(dim=-1).float().cpu().numpy()


def _frame_tensor(values: np.ndarray | None, size: int, device: torch.device) -> torch.Tensor:
    """One frame's vector as a (1, 1, size) tensor; zeros for a missed frame."""
    if values is None:
        return torch.zeros(1, 1, size, device=device)
    tensor = torch.as_tensor(np.asarray(values, dtype=np.float32), device=device)
    if tensor.shape != (size,):
        raise ValueError(f"expected a vector of {size} values, got shape {tuple(tensor.shape)} (CNN and GRU mismatch?)")
    return tensor.view(1, 1, size)


@torch.inference_mode()
def gru_sequence(
    gru: TemporalGRU, probs: np.ndarray, embeddings: np.ndarray | None, present: np.ndarray
) -> np.ndarray:
    """Smoothed probabilities (T, C) of one track (``present`` (T,) marks detected frames)."""
    if embeddings is None:
        raise ValueError("smoothing 'gru' needs the CNN embeddings")
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.shape != (len(probs), gru.embed_dim):
        raise ValueError(f"embeddings have shape {embeddings.shape}, expected ({len(probs)}, {gru.embed_dim})")
    device = next(gru.parameters()).device
    # Missed frames are fed as zeros, exactly as the online smoother does.
    keep = torch.as_tensor(present, device=device).view(1, -1, 1)
    emb = torch.where(keep, torch.as_tensor(embeddings, device=device)[None], 0.0)
    prob = torch.where(keep, torch.as_tensor(probs, device=device)[None], 0.0)
    logits, _ = gru(emb, prob, keep[..., 0], None)
    return logits[0].softmax(dim=-1).float().cpu().numpy()
