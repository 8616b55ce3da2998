"""Simulated clips as CNN outputs: embeddings and probabilities per frame, cached on disk.

The CNN is frozen, so each simulation is run through it once; the arrays are cached under
``cache_dir`` keyed by the simulation settings, the image pool and the CNN weights' SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from fer_video.classifier import CropClassifier
from fer_video.data import FaceArrays
from fer_video.temporal.config import SimulationConfig, TemporalConfig
from fer_video.temporal.simulate import SimulatedClip, simulate_clips

_CACHE_VERSION = "1"


@dataclass(frozen=True)
class ClipFeatures:
    """N clips of T frames: CNN ``embeddings`` (N, T, D) and ``probs`` (N, T, C) (zeros where the face
    is missing), ``present`` (N, T) bool and true ``labels`` (N, T); frames are ``fps`` apart."""

    embeddings: np.ndarray
    probs: np.ndarray
    present: np.ndarray
    labels: np.ndarray
    fps: float

    def __len__(self) -> int:
        return len(self.labels)

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` atomically."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.savez(handle, **{k: np.asarray(v) for k, v in asdict(self).items()})
        partial.replace(target)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ClipFeatures":
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in ("embeddings", "probs", "present", "labels")}
            return cls(**arrays, fps=float(stored["fps"]))


def embed_clips(
    clips: Iterable[SimulatedClip],
    count: int,
    classifier: CropClassifier,
    fps: float,
    batch_size: int = 512,
    description: str = "clips",
) -> ClipFeatures:
    """Run the CNN over the present frames of ``count`` clips, a few clips per batch."""
    embeddings, probs, present, labels = [], [], [], []
    pending: list[SimulatedClip] = []

    def flush() -> None:
        crops = np.concatenate([clip.frames[clip.present] for clip in pending])
        frame_probs, frame_emb = classifier.predict(crops, batch_size=batch_size)
        offset = 0
        for clip in pending:
            seen = int(clip.present.sum())
            emb = np.zeros((len(clip.labels), frame_emb.shape[1]), dtype=np.float32)
            prob = np.zeros((len(clip.labels), frame_probs.shape[1]), dtype=np.float32)
            emb[clip.present] = frame_emb[offset : offset + seen]
            prob[clip.present] = frame_probs[offset : offset + seen]
            offset += seen
            embeddings.append(emb)
            probs.append(prob)
            present.append(clip.present)
            labels.append(clip.labels)
        pending.clear()

    for clip in tqdm(clips, total=count, desc=description, unit="clip"):
        pending.append(clip)
        if sum(int(c.present.sum()) for c in pending) >= batch_size:
            flush()
    if pending:
        flush()
    return ClipFeatures(np.stack(embeddings), np.stack(probs), np.stack(present), np.stack(labels), fps)


def clip_features(
    faces: FaceArrays,
    count: int,
    simulation: SimulationConfig,
    seed: int,
    classifier: CropClassifier,
    cache_key: dict,
    cache_dir: str | os.PathLike | None,
    batch_size: int = 512,
    name: str = "clips",
) -> ClipFeatures:
    """CNN outputs of ``count`` clips simulated from ``faces``, from the cache when it holds them.

    ``cache_key`` must identify the image pool and the CNN (e.g. data file, split, weights SHA-256).
    """
    key = json.dumps(
        {"version": _CACHE_VERSION, "count": count, "seed": seed, "simulation": asdict(simulation), **cache_key},
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache_file = Path(cache_dir) / f"{name}-{digest}.npz" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            return ClipFeatures.load(cache_file)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt
    clips = simulate_clips(faces.images, faces.labels, count, simulation, seed)
    features = embed_clips(clips, count, classifier, simulation.fps, batch_size, f"{name} clips")
    if cache_file is not None:
        features.save(cache_file)
    return features


#: Which FER2013 split and which part of it each clip set is built from.
CLIP_SETS = {"fit": "training", "val": "training", "eval": "publictest"}


def split_training_pool(faces: FaceArrays, val_fraction: float, seed: int) -> dict[str, FaceArrays]:
    """Disjoint image pools of the Training split: ``fit`` trains the GRU, ``val`` selects it."""
    order = np.random.default_rng(seed).permutation(len(faces))
    cut = int(round(val_fraction * len(faces)))
    return {
        "val": FaceArrays(faces.images[order[:cut]], faces.labels[order[:cut]]),
        "fit": FaceArrays(faces.images[order[cut:]], faces.labels[order[cut:]]),
    }


def simulated_sets(
    config: TemporalConfig,
    data_path: str | os.PathLike,
    classifier: CropClassifier,
    cnn_sha256: str,
    names: Iterable[str],
) -> dict[str, ClipFeatures]:
    """The clip sets ``names`` (some of ``fit``, ``val``, ``eval``) as CNN outputs. ``eval`` clips are
    built only from PublicTest images; ``fit`` and ``val`` from disjoint halves of Training."""
    from fer_video.data import load_fer2013

    names = list(names)
    unknown = sorted(set(names) - set(CLIP_SETS))
    if unknown:
        raise ValueError(f"unknown clip set(s) {unknown}; expected some of {sorted(CLIP_SETS)}")
    splits = sorted({CLIP_SETS[name] for name in names})
    data = load_fer2013(data_path, splits=splits)
    pools: dict[str, FaceArrays] = {}
    if "training" in data:
        pools.update(split_training_pool(data["training"], config.val_image_fraction, config.seed))
    if "publictest" in data:
        pools["eval"] = data["publictest"]
    counts = {"fit": config.train_clips, "val": config.val_clips, "eval": config.eval_clips}
    source = Path(data_path)
    identity = {"data": source.name, "data_size": source.stat().st_size if source.is_file() else None}
    return {
        name: clip_features(
            pools[name],
            counts[name],
            config.simulation,
            config.seed + index,
            classifier,
            cache_key={**identity, "set": name, "val_image_fraction": config.val_image_fraction, "cnn": cnn_sha256},
            cache_dir=config.cache_dir,
            batch_size=config.cnn_batch_size,
            name=name,
        )
        for index, name in enumerate(("fit", "val", "eval"))
        if name in names
    }
