"""Hyperparameter search with Optuna over a config's ``search_space``.

Each trial is a short :func:`~fer_video.train.fit` run (few epochs, optionally a subset of
Training) scored by its best PublicTest accuracy; a median pruner stops trials that fall
behind after any epoch. Results: ``trials.csv``, ``tune_results.png``, ``best_config.yaml``
and ``README.md`` in the output folder; each trial's epoch log stays in ``trials/<n>/``.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from fer_video.checkpoint import hardware_description
from fer_video.data import load_fer2013
from fer_video.evaluate.outputs import atomic_path, check_overwrite, write_text_atomic
from fer_video.evaluate.plots import save_figure
from fer_video.models import create_model
from fer_video.train import TrainConfig, fit


def search_space_distributions(config: TrainConfig) -> dict[str, BaseDistribution]:
    """Optuna distributions for ``config.search_space``; ValueError on a malformed entry.

    Entries: ``{type: float, low, high[, log]}``, ``{type: int, low, high[, log, step]}`` or
    ``{type: categorical, choices: [...]}``; keys are TrainConfig fields, ``augment.<k>`` or
    ``model_kwargs.<k>``.
    """
    if not config.search_space:
        raise ValueError(f"config '{config.name}' has no search_space to tune")
    space = {key: _distribution(key, spec) for key, spec in config.search_space.items()}
    for key, distribution in space.items():
        _check_key(config, key, distribution)
    return space


def _distribution(key: str, spec: Any) -> BaseDistribution:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"search_space.{key}: expected a mapping with a 'type' (float, int or categorical)")
    kind = spec["type"]
    try:
        if kind == "float":
            return FloatDistribution(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
        if kind == "int":
            return IntDistribution(
                int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)), step=int(spec.get("step", 1))
            )
        if kind == "categorical":
            return CategoricalDistribution(list(spec["choices"]))
    except KeyError as error:
        raise ValueError(f"search_space.{key}: missing {error} for type '{kind}'") from error
    except (TypeError, ValueError) as error:
        raise ValueError(f"search_space.{key}: {error}") from error
    raise ValueError(f"search_space.{key}: unknown type '{kind}' (expected float, int or categorical)")


def _check_key(config: TrainConfig, key: str, distribution: BaseDistribution) -> None:
    """Fail before any training if ``key`` does not name a config field or a model argument."""
    value = distribution.choices[0] if isinstance(distribution, CategoricalDistribution) else distribution.low
    try:
        trial_config = config.with_overrides(**{key: value})
    except (KeyError, TypeError, ValueError) as error:
        message = f"search_space.{key}: not a config field, augment.<k> or model_kwargs.<k> ({error})"
        raise ValueError(message) from error
    if key.startswith("model_kwargs."):
        try:
            create_model(trial_config.model, **trial_config.model_kwargs)
        except TypeError as error:
            raise ValueError(f"search_space.{key}: model '{config.model}' rejects it ({error})") from error


def run_study(
    config: TrainConfig,
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    trials: int,
    epochs_per_trial: int = 2,
    max_train_samples: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    command: str | None = None,
) -> optuna.Study:
    """Run ``trials`` short trainings sampled by TPE (seeded by ``config.seed``) and write the results."""
    if trials < 1 or epochs_per_trial < 1:
        raise ValueError("--trials and --epochs-per-trial must be at least 1")
    space = search_space_distributions(config)
    out = Path(out_dir)
    check_overwrite([out / "trials", *output_paths(out).values()], overwrite)
    shutil.rmtree(out / "trials", ignore_errors=True)
    budget = {"epochs": epochs_per_trial, "max_train_samples": max_train_samples or config.max_train_samples}
    random_trials = max(1, min(10, trials // 2))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=config.name,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=random_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    configured = configured_values(config, space)
    if configured:
        study.enqueue_trial(configured)  # trial 0: the recipe as configured, the baseline to beat
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask(space)
        trial_config = config.with_overrides(name=f"{config.name}_trial{trial.number:03d}", **budget, **trial.params)
        _run_trial(study, trial, trial_config, data_path, out, device)
        write_trials_table(study, output_paths(out)["trials"])
    summary = {
        "config": config,
        "budget": budget,
        "trials": trials,
        "random_trials": random_trials,
        "wall_time_s": time.perf_counter() - started,
        "command": command,
        "data": Path(data_path).name,
        "majority_baseline": majority_class_accuracy(data_path),
        "load_average": os.getloadavg()[0],
    }
    write_study_outputs(study, out, summary)
    return study


def configured_values(config: TrainConfig, space: dict[str, BaseDistribution]) -> dict[str, Any]:
    """The config's own value for every searched key, when all are set and inside the space (else {})."""
    values = config.to_dict()
    chosen = {}
    for key, distribution in space.items():
        section, _, sub = key.partition(".")
        holder = values[section] if sub else values
        value = holder.get(sub or key)
        if value is None or not _inside(distribution, value):
            return {}
        chosen[key] = value
    return chosen


def _inside(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    return distribution.low <= value <= distribution.high


def majority_class_accuracy(data_path: str | os.PathLike) -> float:
    """PublicTest accuracy of always answering the most frequent class: the floor a trial must beat."""
    labels = load_fer2013(data_path, splits=["publictest"])["publictest"].labels
    return float(np.bincount(labels).max() / len(labels))


def _run_trial(
    study: optuna.Study, trial: optuna.Trial, config: TrainConfig, data_path: str | os.PathLike, out: Path, device: str
) -> None:
    """Train one trial into ``out/trials/<n>`` and tell the study how it ended."""

    def report(epoch: int, val_acc: float) -> None:
        trial.report(val_acc, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()

    trial_dir = out / "trials" / f"{trial.number:03d}"
    started = time.perf_counter()
    try:
        result = fit(config, data_path, trial_dir, device=device, epoch_callback=report)
        state, value = TrialState.COMPLETE, result["publictest_acc"]
    except optuna.TrialPruned:
        state, value = TrialState.PRUNED, None
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    finally:
        for checkpoint in trial_dir.glob("*.pt"):  # keep each trial's log.csv and config.yaml, not its weights
            checkpoint.unlink()
    trial.set_user_attr("duration_s", round(time.perf_counter() - started, 1))
    frozen = study.tell(trial, value, state=state)
    shown = f"{frozen.value:.4f}" if frozen.value is not None else "-"
    epochs = len(frozen.intermediate_values)
    print(f"trial {trial.number}: {state.name.lower()} after {epochs} epoch(s), PublicTest acc {shown}, {trial.params}")


def output_paths(out: Path) -> dict[str, Path]:
    """The study's result files, by role."""
    return {
        "trials": out / "trials.csv",
        "plot": out / "tune_results.png",
        "best_config": out / "best_config.yaml",
        "readme": out / "README.md",
    }


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: state, best PublicTest accuracy, epochs run, duration and parameters."""
    rows = []
    for trial in study.trials:
        intermediate = trial.intermediate_values
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "publictest_acc": max(intermediate.values()) if intermediate else None,
                "epochs_run": len(intermediate),
                "duration_s": trial.user_attrs.get("duration_s"),
                **trial.params,
            }
        )
    return pd.DataFrame(rows)


def write_trials_table(study: optuna.Study, path: Path) -> None:
    """:func:`trials_table` as CSV, rewritten after every trial so an interrupted study leaves its results."""
    with atomic_path(path) as partial:
        trials_table(study).to_csv(partial, index=False, float_format="%.6g")


def plot_study(study: optuna.Study, path: Path) -> None:
    """Accuracy per trial with the best so far, then accuracy against each searched parameter."""
    table = trials_table(study)
    params = [c for c in table.columns if c not in ("trial", "state", "publictest_acc", "epochs_run", "duration_s")]
    columns = min(3, len(params) + 1)
    rows = math.ceil((len(params) + 1) / columns)
    figure = Figure(figsize=(4.5 * columns, 3.6 * rows))
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.93, wspace=0.3, hspace=0.45)
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    complete, pruned = table[table.state == "complete"], table[table.state == "pruned"]
    axes[0].plot(complete.trial, complete.publictest_acc, "o", label="complete")
    axes[0].plot(pruned.trial, pruned.publictest_acc, "x", color="grey", label="pruned")
    axes[0].step(complete.trial, complete.publictest_acc.cummax(), where="post", label="best so far")
    axes[0].set(xlabel="trial", ylabel="PublicTest accuracy", title="trials")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8)
    distributions = study.trials[0].distributions if study.trials else {}
    for ax, param in zip(axes[1:], params):
        ax.plot(complete[param], complete.publictest_acc, "o")
        ax.plot(pruned[param], pruned.publictest_acc, "x", color="grey")
        if getattr(distributions.get(param), "log", False):
            ax.set_xscale("log")
        ax.set(xlabel=param, ylabel="PublicTest accuracy")
    for ax in axes[len(params) + 1 :]:
        ax.set_visible(False)
    for ax in axes:
        ax.grid(alpha=0.3)
    save_figure(figure, path)


def write_study_outputs(study: optuna.Study, out: Path, summary: dict[str, Any]) -> None:
    """trials.csv, tune_results.png, best_config.yaml (the full recipe with the best parameters), README.md."""
    paths = output_paths(out)
    write_trials_table(study, paths["trials"])
    plot_study(study, paths["plot"])
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    if best is not None:
        tuned = summary["config"].with_overrides(name=f"{summary['config'].name}_tuned", **best.params)
        write_text_atomic(paths["best_config"], yaml.safe_dump(tuned.to_dict(), sort_keys=False))
    write_text_atomic(paths["readme"], render_readme(study, best, summary))


def render_readme(study: optuna.Study, best: FrozenTrial | None, summary: dict[str, Any]) -> str:
    """What was searched, with which budget, and what won; written from the study itself."""
    config, budget = summary["config"], summary["budget"]
    states = [t.state.name.lower() for t in study.trials]
    lines = [
        f"# Hyperparameter search: `{config.name}` ({config.model})",
        "",
        f"Command: `{summary['command']}`" if summary["command"] else "",
        "",
        "## Budget",
        "",
        f"- {summary['trials']} trials, {budget['epochs']} epoch(s) each, "
        f"{budget['max_train_samples'] or 'all'} Training images per trial (same subset for every trial), "
        f"data `{summary['data']}`",
        f"- sampler: TPE (seed {config.seed}; first {summary['random_trials']} trials random); "
        "pruner: median of earlier trials at the same epoch (after 2 complete trials)",
        f"- outcome: {states.count('complete')} complete, {states.count('pruned')} pruned, "
        f"{states.count('fail')} failed; wall time {summary['wall_time_s'] / 60:.1f} min on {hardware_description()} "
        f"(1-minute load average at the end: {summary['load_average']:.1f}; above the core count means other jobs "
        "shared the CPU)",
        "- objective: best PublicTest accuracy over the trial's epochs; always answering the most frequent class "
        f"scores {summary['majority_baseline']:.4f}",
        "",
        "## Search space",
        "",
        "| parameter | distribution |",
        "|---|---|",
        *[f"| {key} | {spec} |" for key, spec in config.search_space.items()],
        "",
        "## Best trial",
        "",
    ]
    if best is None:
        lines.append("No trial completed.")
    else:
        epochs = len(best.intermediate_values)
        scores = [t.value for t in study.trials if t.state == TrialState.COMPLETE]
        lines += [
            f"Trial {best.number}: PublicTest accuracy {best.value:.4f} after {epochs} epoch(s).",
            "",
            *[f"- {key}: {_format(value)}" for key, value in best.params.items()],
            "",
            "`best_config.yaml` is the full recipe with these values (its own epochs and data size).",
            "",
            f"Complete trials scored {min(scores):.4f} to {max(scores):.4f}: gaps of a point or two are within the "
            "noise of a short run and do not rank settings reliably.",
        ]
    lines += [
        "",
        "All trials: `trials.csv`; plot: `tune_results.png`; each trial's epoch log: `trials/<n>/log.csv`.",
        "",
        "## Caveats",
        "",
        "- Trials are short: they rank settings by how fast the model learns, which need not match the ranking "
        "after a full-length run.",
        "- PublicTest is the only labelled held-out split here, so it both selects the trial and would report the "
        "final accuracy; a figure tuned this way is slightly optimistic.",
    ]
    return "\n".join(lines) + "\n"


def _format(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
