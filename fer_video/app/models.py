"""The app's models, loaded once per process and shared by every visitor and tab.

:class:`ModelLoader` loads them on first use or when told to (``fer-video app`` starts it as soon
as the page is served), in one thread; every caller of :meth:`ModelLoader.get` waits for that one
load. Nothing here imports torch before :meth:`ModelLoader.load` runs, so the page can be served
while the models load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fer_video.pretrained import DEFAULT_MODEL

if TYPE_CHECKING:
    import torch

    from fer_video.recognizer import EmotionRecognizer
    from fer_video.temporal import GruModel

logger = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The app's models could not be loaded (the message says why, in one line)."""


@dataclass(frozen=True)
class SmoothingChoice:
    """The smoothing kinds one tab offers, and the one it starts with."""

    kinds: tuple[str, ...]
    default: str

    def pick(self, kind: str | None) -> str:
        """``kind`` if it is on offer, the default for None or ``""``; else a ``ValueError``
        naming the kinds on offer."""
        if not kind:
            return self.default
        if kind not in self.kinds:
            raise ValueError(f"smoothing {kind!r} is not available here; choose one of: {', '.join(self.kinds)}")
        return kind


@dataclass(frozen=True)
class AppModels:
    """The loaded models: the recognizer (CNN + face detector), the temporal GRU (None without a
    usable one), and the smoothing each tab offers with them (:func:`video_smoothing`,
    :func:`live_smoothing`)."""

    recognizer: EmotionRecognizer
    gru: GruModel | None
    video: SmoothingChoice
    live: SmoothingChoice

    @classmethod
    def around(cls, recognizer: EmotionRecognizer, gru: GruModel | None = None) -> AppModels:
        """``recognizer`` and ``gru`` (default: the GRU of the recognizer's model, when usable)."""
        if gru is None:
            gru = load_default_gru(recognizer.device, recognizer.model, recognizer.classifier.backend_name)
        return cls(recognizer, gru, video_smoothing(gru), live_smoothing(gru))


def video_smoothing(gru: GruModel | None) -> SmoothingChoice:
    """The library's smoothing kinds for video files (``gru`` only with a GRU), starting with the
    default of :class:`~fer_video.video.VideoOptions` when it can run."""
    from fer_video.temporal import SMOOTHING_KINDS
    from fer_video.video import VideoOptions

    return _choice(SMOOTHING_KINDS, VideoOptions().smoothing, gru)


def live_smoothing(gru: GruModel | None) -> SmoothingChoice:
    """The library's smoothing kinds for live streams (those that need no future frames; ``gru``
    only with a GRU), starting with the library's live default when it can run."""
    from fer_video.temporal import DEFAULT_LIVE_SMOOTHING, ONLINE_SMOOTHING_KINDS

    return _choice(ONLINE_SMOOTHING_KINDS, DEFAULT_LIVE_SMOOTHING, gru)


def _choice(kinds: tuple[str, ...], default: str, gru: GruModel | None) -> SmoothingChoice:
    runnable = tuple(kind for kind in kinds if kind != "gru" or gru is not None)
    return SmoothingChoice(runnable, default if default in runnable else runnable[0])


def load_default_gru(
    device: str | torch.device = "auto", model: str = DEFAULT_MODEL, backend: str = "torch"
) -> GruModel | None:
    """The shipped temporal GRU of ``model``, run like the CNN (``backend``: the CNN's resolved
    backend, see :func:`~fer_video.backends.gru.load_gru_for_backend`), or None (with a logged
    warning) when it is missing or unreadable, so the app still serves images, and videos with
    the smoothing kinds that need no GRU."""
    from fer_video.backends.gru import load_gru_for_backend
    from fer_video.checkpoint import CheckpointError

    try:
        return load_gru_for_backend(backend, device, model=model)
    except CheckpointError as error:
        logger.warning("GRU smoothing is not offered: %s", error)
        return None


def load_app_models(
    model: str = DEFAULT_MODEL,
    weights: str | None = None,
    gru_weights: str | None = None,
    detector: str = "mtcnn",
    device: str = "auto",
    backend: str = "auto",
) -> AppModels:
    """The models ``fer-video app`` serves: the CNN of ``model`` (or ``weights``) with
    ``detector``, and the GRU of ``gru_weights`` (default: the model's shipped GRU, if usable)."""
    from fer_video.backends.gru import load_gru_for_backend
    from fer_video.recognizer import EmotionRecognizer

    recognizer = EmotionRecognizer(weights=weights, model=model, detector=detector, device=device, backend=backend)
    gru = None
    if gru_weights:
        gru = load_gru_for_backend(recognizer.classifier.backend_name, recognizer.device, gru_weights, weights, model)
    return AppModels.around(recognizer, gru)


class ModelLoader:
    """Runs ``load`` once: in the first thread that calls :meth:`get`, or in a background thread
    after :meth:`start`. :meth:`get` waits for that one run and returns its models, or raises
    :class:`ModelLoadError` (every time) if it failed."""

    def __init__(self, load: Callable[[], AppModels]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._started = False
        self._done = threading.Event()
        self._models: AppModels | None = None
        self._error: str | None = None
        self.load_s: float | None = None

    @classmethod
    def of(cls, models: AppModels) -> ModelLoader:
        """A loader whose models are already loaded."""
        loader = cls(lambda: models)
        loader.get()
        return loader

    @property
    def ready(self) -> bool:
        """True once loading has finished (successfully or not)."""
        return self._done.is_set()

    def start(self) -> None:
        """Load in a background thread (no-op once loading has started)."""
        if self._claim():
            threading.Thread(target=self._run, name="fer-video-models", daemon=True).start()

    def get(self, timeout: float | None = None) -> AppModels:
        """The models, loading them here first if nobody has started to."""
        if self._claim():
            self._run()
        if not self._done.wait(timeout):
            raise ModelLoadError(f"the models are still loading after {timeout:g} s; please try again")
        if self._models is None:
            raise ModelLoadError(f"the models could not be loaded: {self._error}")
        return self._models

    def _claim(self) -> bool:
        with self._lock:
            claimed, self._started = not self._started, True
            return claimed

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            self._models = self._load()
        except Exception as error:  # reported by every get(), in one line; the traceback only when debugging
            logger.debug("loading the models failed", exc_info=True)
            self._error = " ".join(str(error).split()) or type(error).__name__
        finally:
            self.load_s = time.perf_counter() - start
            self._done.set()
