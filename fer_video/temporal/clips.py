"""Simulated clips as CNN outputs: embeddings and probabilities per frame, cached on disk.

The CNN is frozen, so each simulation is run through it once; the arrays are cached under
``cache_dir``, one file per clip set, keyed by the simulation settings and code, the image pool
and the CNN weights' SHA-256 (not by the number of clips: clip ``i`` is the same in a set of any
size, so a cache of fewer clips is extended and one of more is cut).
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
from fer_video.temporal import simulate
from fer_video.temporal.simulate import SimulatedClip, simulate_clips

_CACHE_VERSION = "2"


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

    def head(self, count: int) -> "ClipFeatures":
        """The first ``count`` clips."""
        return ClipFeatures(
            self.embeddings[:count], self.probs[:count], self.present[:count], self.labels[:count], self.fps
        )

    @classmethod
    def concat(cls, parts: list["ClipFeatures"]) -> "ClipFeatures":
        """The clips of ``parts`` one after the other (same frame count and rate)."""
        arrays = {
            key: np.concatenate([getattr(part, key) for part in parts])
            for key in ("embeddings", "probs", "present", "labels")
        }
        return cls(**arrays, fps=parts[0].fps)

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
    """Run the CNN over the present frames of ``count`` clips. Each clip is its own batch (split at
    ``batch_size`` frames), so a clip's outputs do not depend on which clips come with it."""
    embeddings, probs, present, labels = [], [], [], []
    for clip in tqdm(clips, total=count, desc=description, unit="clip"):
        frames = len(clip.labels)
        emb = np.zeros((frames, classifier.embedding_dim), dtype=np.float32)
        prob = np.zeros((frames, len(classifier.classes)), dtype=np.float32)
        if clip.present.any():
            prob[clip.present], emb[clip.present] = classifier.predict(clip.frames[clip.present], batch_size=batch_size)
        embeddings.append(emb)
        probs.append(prob)
        present.append(clip.present)
        labels.append(clip.labels)
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
    """CNN outputs of clips ``0 .. count-1`` of the set ``name`` simulated from ``faces`` (see
    :func:`~fer_video.temporal.simulate.clip_rng`), taken from the cache as far as it holds them.

    ``cache_key`` must identify the image pool and the CNN (e.g. data file, split, weights SHA-256).
    """
    key = json.dumps(
        {
            "version": _CACHE_VERSION,
            "simulator": _simulator_digest(),
            "set": name,
            "seed": seed,
            "simulation": asdict(simulation),
            **cache_key,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache_file = Path(cache_dir) / f"{name}-{digest}.npz" if cache_dir else None
    cached = _load_cached(cache_file)
    done = len(cached) if cached is not None else 0
    if done >= count:
        return cached.head(count)
    clips = simulate_clips(faces.images, faces.labels, range(done, count), simulation, seed, name)
    features = embed_clips(clips, count - done, classifier, simulation.fps, batch_size, f"{name} clips")
    if cached is not None:
        features = ClipFeatures.concat([cached, features])
    if cache_file is not None:
        features.save(cache_file)
    return features


def _load_cached(path: Path | None) -> ClipFeatures | None:
    """The cached clip set at ``path``; None when there is none or it is damaged (it is rebuilt)."""
    if path is None or not path.is_file():
        return None
    try:
        return ClipFeatures.load(path)
    except (OSError, ValueError, KeyError):
        return None


def _simulator_digest() -> str:
    """SHA-256 of the simulator's source, so that a cache never outlives a change to how clips are made."""
    return hashlib.sha256(Path(simulate.__file__).read_bytes()).hexdigest()[:16]


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
    built only from PublicTest images; ``fit`` and ``val`` from disjoint parts of Training."""
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
            config.seed,
            classifier,
            cache_key={**identity, "pool": _pool_key(name, config), "cnn": cnn_sha256},
            cache_dir=config.cache_dir,
            batch_size=config.cnn_batch_size,
            name=name,
        )
        for name in ("fit", "val", "eval")
        if name in names
    }


def _pool_key(name: str, config: TemporalConfig) -> dict:
    """What selects the images of the set ``name``: the split, and for Training the cut into fit / val."""
    split = CLIP_SETS[name]
    if split != "training":
        return {"split": split}
    return {"split": split, "val_image_fraction": config.val_image_fraction, "pool_seed": config.seed}
