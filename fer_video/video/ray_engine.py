"""``annotate_batch_ray``: the batch of :func:`~fer_video.video.batch.annotate_batch`, spread over Ray.

A pool of actors (``VideoWorker``), each loading the models once, takes one video per task and
runs the same per-video step as the local engine (:func:`~fer_video.video.batch.annotate_into`),
so outputs, resuming and the report are the same. A worker that dies mid-video (killed, out of
memory, node lost) is restarted and its video retried up to ``max_retries`` times; its staged
files never reach the output folder, and the retry clears them. A video that fails for its own
reasons (unreadable, not a video) is reported and not retried.

Without ``address`` a local Ray instance is started (and stopped at the end); ``"auto"`` or
``HOST:PORT`` joins a running cluster, whose workers must see the input and output paths
(a shared filesystem).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from tqdm import tqdm

from fer_video.video.batch import BatchReport, annotate_into, failure_message, plan_batch
from fer_video.video.pipeline import VideoOptions, VideoReport, load_models

INSTALL_HINT = 'the ray engine needs Ray: pip install -e ".[ray]"'


def require_ray() -> ModuleType:
    """The ``ray`` module; ImportError with the install command when it is missing."""
    try:
        import ray
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return ray


class VideoWorker:
    """A Ray actor: loads the models on its first video and keeps them for the next ones."""

    def __init__(self, options: VideoOptions) -> None:
        self.options = options
        self.models = None

    def annotate(self, video: Path, out_dir: Path) -> VideoReport | str:
        """The video's report, or the one-line message it failed with. Model loading errors are
        raised: they would fail every video."""
        if self.models is None:
            self.models = load_models(self.options)
        try:
            return annotate_into(video, out_dir, self.options, *self.models)
        except Exception as error:  # reported to the driver; one bad file must not stop the batch
            return failure_message(error)


def annotate_batch_ray(
    inputs: Sequence[str | os.PathLike],
    out_root: str | os.PathLike,
    options: VideoOptions | None = None,
    address: str | None = None,
    gpus_per_task: float = 0.0,
    cpus_per_task: float = 1.0,
    max_retries: int = 2,
    workers: int | None = None,
    show_progress: bool = False,
) -> BatchReport:
    """Annotate every video named by ``inputs`` into ``out_root/<stem>/`` as
    :func:`~fer_video.video.batch.annotate_batch` does, one Ray task per video. ``address``:
    ``None`` starts a local Ray instance (unless this process is already connected), ``"auto"`` or
    ``HOST:PORT`` joins a cluster. Each worker reserves ``cpus_per_task`` CPUs and ``gpus_per_task``
    GPUs; ``workers`` (default: as many as the cluster holds, at most one per video) actors run
    at once. ``max_retries``: retries of a video whose worker died mid-video. ``show_progress`` draws a
    tqdm bar over videos as they finish."""
    options = options or VideoOptions()
    options.validate()
    _check_resources(options, gpus_per_task, cpus_per_task, max_retries, workers)
    ray = require_ray()
    jobs, report = plan_batch(inputs, out_root, options)
    if not jobs:
        return report
    started_here = not ray.is_initialized()
    if started_here:
        _start_or_join(ray, address)
    if gpus_per_task == 0 and options.device == "auto":
        options = replace(options, device="cpu")  # workers use only the GPUs they reserved
    pool = []
    try:
        count = workers or _workers_that_fit(ray, gpus_per_task, cpus_per_task)
        actor = ray.remote(VideoWorker).options(
            num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_restarts=-1, max_task_retries=max_retries
        )
        pool.extend(actor.remote(options) for _ in range(min(count, len(jobs))))
        outcomes = {}
        with tqdm(total=len(jobs) + len(report.skipped), initial=len(report.skipped), unit="video",
                  desc="videos", disable=not show_progress) as bar:  # fmt: skip
            for video, outcome in _run(ray, pool, jobs, max_retries):
                outcomes[video] = outcome
                bar.set_postfix_str(video.name)
                bar.update(1)
        for video, _ in jobs:  # in input order, as the local engine reports them
            if isinstance(outcomes[video], VideoReport):
                report.successes[video] = outcomes[video]
            else:
                report.failures[video] = outcomes[video]
    finally:
        for worker in pool:
            ray.kill(worker)
        if started_here:
            ray.shutdown()
    return report


def _run(
    ray: ModuleType, pool: list, jobs: list[tuple[Path, Path]], max_retries: int
) -> Iterator[tuple[Path, VideoReport | str]]:
    """Yield ``(video, report or failure message)`` as tasks finish; each idle actor gets the next video."""
    queue, running, idle = deque(jobs), {}, list(pool)
    while queue or running:
        while queue and idle:
            video, out_dir = queue.popleft()
            worker = idle.pop()
            running[worker.annotate.remote(video.absolute(), out_dir.absolute())] = (video, worker)
        (finished,), _ = ray.wait(list(running), num_returns=1)
        video, worker = running.pop(finished)
        idle.append(worker)
        try:
            outcome = ray.get(finished)
        except ray.exceptions.RayTaskError as error:  # raised outside the per-video step: loading the models
            raise error.cause from None
        except ray.exceptions.RayActorError as error:
            outcome = f"the worker died {max_retries + 1} time(s) while annotating it ({_first_line(error)})"
        yield video, outcome


def _start_or_join(ray: ModuleType, address: str | None) -> None:
    """A new local Ray instance, or the cluster at ``address``; a ValueError if it cannot be reached."""
    try:
        ray.init(address=address or "local", logging_level=logging.WARNING, include_dashboard=False)
    except (ConnectionError, RuntimeError) as error:
        raise ValueError(
            f"cannot start or join Ray at {address or 'a new local instance'}: {_first_line(error)}"
        ) from None


def _workers_that_fit(ray: ModuleType, gpus_per_task: float, cpus_per_task: float) -> int:
    """How many workers the cluster's CPUs (and GPUs, if asked for) hold at once."""
    resources = ray.cluster_resources()
    count = int(resources.get("CPU", 0) // cpus_per_task) if cpus_per_task > 0 else 1 << 30
    if gpus_per_task > 0:
        count = min(count, int(resources.get("GPU", 0) // gpus_per_task))
    if count < 1:
        found = f"{resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs"
        raise ValueError(
            f"the Ray cluster ({found}) cannot hold a worker with {cpus_per_task:g} CPUs and {gpus_per_task:g} GPUs"
        )
    return count


def _check_resources(
    options: VideoOptions, gpus_per_task: float, cpus_per_task: float, max_retries: int, workers: int | None
) -> None:
    if gpus_per_task < 0 or cpus_per_task < 0:
        raise ValueError(f"CPUs and GPUs per task cannot be negative, got {cpus_per_task:g} and {gpus_per_task:g}")
    if max_retries < 0:
        raise ValueError(f"max_retries cannot be negative, got {max_retries}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if options.device.startswith("cuda") and gpus_per_task == 0:
        raise ValueError(f"device {options.device} on Ray needs GPUs per task (--gpus-per-task, e.g. 1 or 0.5)")


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
