"""Would a confidence cascade of the two shipped CNNs make a faster default? Accuracy and speed, stills and real video.

The cascade runs the fast CNN on every crop and the standard CNN only on the crops where the fast one's top
calibrated probability is below a threshold, whose answer then replaces the fast one's. Each threshold is set on
PublicTest: the quantile of the fast CNN's top probability that sends a given share of the images on. For each:
PublicTest accuracy; the mean clip frame accuracy on the detector crops of the labelled real clips; the shown
labels' accuracy on those clips and switches per minute on every clip set with each smoothing (the same traces
``fer-video eval-video`` scores, the two CNNs' outputs combined frame by frame); and crops/s at batch 64 of the
cascade itself, run on PublicTest crops, beside each CNN alone (both with ``--backend auto``).
Writes cascade.json and cascade.md to ``--out``.

    python scripts/score_cascade.py --out results/cascade
"""

from __future__ import annotations

import argparse
import datetime
import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
from bench_image import repeat_for

from fer_video.checkpoint import file_sha256, hardware_description
from fer_video.classifier import CropClassifier
from fer_video.cli.eval_crops_cmd import DEFAULT_LABELS
from fer_video.data import load_fer2013, require_fer2013_path
from fer_video.evaluate.clip_crops import clip_crops, score_probabilities
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_report
from fer_video.pretrained import default_cnn_path
from fer_video.provenance import source_revision
from fer_video.recognizer import EmotionRecognizer
from fer_video.video import VideoOptions
from fer_video.video.evaluation import ScoredSet, read_clip_set, shown_output, trace_clip_set
from fer_video.video.evaluation_report import score_sets, summarise

REPOSITORY = Path(__file__).resolve().parents[1]
UNLABELLED = (
    "../shared/data/real_video/unlabelled/speech_*.mp4",
    "../shared/data/real_video/unlabelled/liveportrait_*.mp4",
)
SMOOTHINGS = ("hmm", "hmm-online", "none")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", default=DEFAULT_LABELS, help=f"labelled real clips (default: {DEFAULT_LABELS})")
    parser.add_argument("--unlabelled", nargs="*", default=list(UNLABELLED), help="more clip sets (globs, folders)")
    parser.add_argument("--data", default=None, help="FER2013 zip, folder or csv (default: $FER2013_PATH)")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.2, 0.25, 0.3, 0.35],
                        help="shares of PublicTest sent on to the standard CNN, one cascade each")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per crops/s figure")
    parser.add_argument("--out", default="results/cascade", help="folder for cascade.json and cascade.md")
    parser.add_argument("--overwrite", action="store_true")
    return parser


def top_probability(probabilities: np.ndarray) -> np.ndarray:
    return probabilities.max(axis=1)


def combine(fast: np.ndarray, standard: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The cascade's probabilities from both CNNs' (N, C) and which rows went on to the standard CNN."""
    unsure = top_probability(fast) < threshold
    return np.where(unsure[:, None], standard, fast).astype(np.float32), unsure


def cascade_predict(fast: CropClassifier, standard: CropClassifier, crops: np.ndarray, threshold: float) -> np.ndarray:
    """The cascade run for real on one batch of crops: the fast CNN on all, the standard CNN on the unsure ones."""
    probabilities = fast.predict_proba(crops)
    unsure = top_probability(probabilities) < threshold
    if unsure.any():
        probabilities[unsure] = standard.predict_proba(crops[unsure])
    return probabilities


def crops_per_s(predict, images: np.ndarray, seconds: float, batch: int = 64) -> float:
    """crops/s of ``predict`` over consecutive batches of ``images``, taken in turn (each batch sends its own
    share of crops on to the standard CNN)."""
    batches = [images[start : start + batch] for start in range(0, len(images) - batch + 1, batch)]
    turn = iter(range(1 << 62))
    calls, wall, _ = repeat_for(seconds, lambda: predict(batches[next(turn) % len(batches)]))
    return calls * batch / wall


def cascade_bound(speed: dict[str, float], share: float) -> float:
    """The cascade's crops/s if it cost no more than its parts: every crop through the fast CNN, ``share`` of them
    through the standard one too, each at its own measured speed."""
    return 1.0 / (1.0 / speed["fast"] + float(share) / speed["standard"])


def clip_traces(recognizer: EmotionRecognizer, model: str, specs: list[str]) -> list[ScoredSet]:
    """Each clip set's traces (as ``fer-video eval-video --model MODEL`` makes them, cached) and labels."""
    options, sha = VideoOptions(model=model), file_sha256(default_cnn_path(model))
    return [trace_clip_set(read_clip_set(spec, recognizer.classes), recognizer, options, sha) for spec in specs]


def video_rows(sets: list[ScoredSet], classes: tuple[str, ...]) -> list[dict]:
    functions = {kind: (lambda trace, kind=kind: shown_output(trace, kind)) for kind in SMOOTHINGS}
    summary = summarise(*score_sets(sets, functions, classes))
    return [
        {key: (None if isinstance(value, float) and np.isnan(value) else value) for key, value in row.items()}
        for row in summary[["set", "smoothing", "frame_acc", "dominant_acc", "switches_per_min"]].to_dict("records")
    ]


def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    targets = [out / "cascade.json", out / "cascade.md"]
    check_overwrite_or_exit(targets, args.overwrite)
    test = load_fer2013(require_fer2013_path(args.data), splits=["publictest"])["publictest"]
    crops = clip_crops(args.labels, progress=True)
    recognizers = {name: EmotionRecognizer(model=name) for name in ("fast", "standard")}
    cnns = {name: recognizer.classifier for name, recognizer in recognizers.items()}
    fast, standard = cnns["fast"], cnns["standard"]
    probabilities = {
        name: (cnn.predict_proba(test.images), cnn.predict_proba(crops.crops)) for name, cnn in cnns.items()
    }
    specs = [args.labels, *args.unlabelled]
    traces = {name: clip_traces(recognizer, name, specs) for name, recognizer in recognizers.items()}
    speed = {name: crops_per_s(cnn.predict_proba, test.images, args.seconds) for name, cnn in cnns.items()}

    def row(name: str, test_probs: np.ndarray, crop_probs: np.ndarray, sets: list[ScoredSet], **extra) -> dict:
        crop_summary = score_probabilities(crops, crop_probs).summary
        return {
            "cascade": name, **extra,
            "publictest_accuracy": float((test_probs.argmax(1) == test.labels).mean()),
            "real_crops_frame_accuracy": crop_summary["mean_clip_frame_accuracy"],
            "real_crops_dominant_accuracy": crop_summary["dominant_accuracy"],
            "video": video_rows(sets, standard.classes),
        }  # fmt: skip

    rows = [
        row(name, *probabilities[name], traces[name], crops_per_s_batch64=speed[name])
        for name in ("standard", "fast")
    ]
    fast_top = top_probability(probabilities["fast"][0])
    for share in args.shares:
        threshold = float(np.quantile(fast_top, share))
        test_probs, test_unsure = combine(probabilities["fast"][0], probabilities["standard"][0], threshold)
        crop_probs, crop_unsure = combine(probabilities["fast"][1], probabilities["standard"][1], threshold)
        sets, frames_on, frames = [], 0, 0  # video frames sent on, of the frames with the main track
        for fast_set, standard_set in zip(traces["fast"], traces["standard"]):
            mixed = []
            for quick, slow in zip(fast_set.traces, standard_set.traces):
                probs, unsure = combine(quick.probs, slow.probs, threshold)
                frames_on, frames = frames_on + int(unsure[quick.present].sum()), frames + int(quick.present.sum())
                mixed.append(replace(quick, probs=probs))
            sets.append(ScoredSet(fast_set.name, mixed, fast_set.truths))
        video_share = frames_on / max(frames, 1)
        cascade = partial(cascade_predict, fast, standard, threshold=threshold)
        measured = crops_per_s(cascade, test.images, args.seconds)
        rows.append(row(
            f"fast, then standard below {threshold:.3f}", test_probs, crop_probs, sets, threshold=threshold,
            share_on_publictest=float(test_unsure.mean()), share_on_real_crops=float(crop_unsure.mean()),
            share_on_video_frames=video_share, crops_per_s_batch64=measured,
            crops_per_s_bound=[cascade_bound(speed, share) for share in (test_unsure.mean(), video_share)],
        ))  # fmt: skip
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": source_revision(),
        "machine": hardware_description(),
        "backends": {"fast": fast.backend_name, "standard": standard.backend_name},
        "labels": os.path.relpath(Path(args.labels).resolve(), REPOSITORY),
        "command": "python scripts/score_cascade.py --shares " + " ".join(f"{s:g}" for s in args.shares),
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    write_report(targets[0], targets[1], report, markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    """The report as a page: one row per CNN or cascade."""
    lines = [
        "# A confidence cascade of the fast and standard CNNs",
        "",
        f"{report['date']}, commit {report['commit']}, {report['machine']}; backends (`auto`): fast "
        f"{report['backends']['fast']}, standard {report['backends']['standard']}. Real clips: the labelled clips in "
        f"`{report['labels']}` (crops: mean clip frame accuracy of the detector crops; video: the main track's shown "
        "label, as `fer-video eval-video` scores it). crops/s: batches of 64 PublicTest crops in turn, the cascade "
        "run for real (the standard CNN on the unsure crops of each batch); bound: its speed if it cost no more than "
        "its parts (1 / (1 / fast + share / standard)), with PublicTest's share and with the video frames'.",
        "",
        "| CNN or cascade | share to standard: PublicTest / real crops / video frames | crops/s b64 | bound: "
        "PublicTest / video share | PublicTest | "
        "real crops | " + " | ".join(f"`{kind}`: MEAD frame acc, dominant" for kind in SMOOTHINGS)
        + " | `hmm` switches/min, speeches |",
        "|---|---|---:|---|---:|---:|" + "---:|" * len(SMOOTHINGS) + "---:|",
    ]
    for row in report["rows"]:
        video = {(v["set"], v["smoothing"]): v for v in row["video"]}
        labelled = [v for v in row["video"] if v["frame_acc"] is not None]
        mead = {v["smoothing"]: v for v in labelled}
        speech = next((v for (s, k), v in video.items() if "speech" in s and k == "hmm"), None)
        shares = (
            f"{row['share_on_publictest']:.2f} / {row['share_on_real_crops']:.2f} / {row['share_on_video_frames']:.2f}"
            if "threshold" in row else ""
        )
        speech_switches = f"{speech['switches_per_min']:.1f}" if speech else ""
        bound = " / ".join(f"{value:,.0f}" for value in row.get("crops_per_s_bound", []))
        lines.append(
            f"| {row['cascade']} | {shares} | {row['crops_per_s_batch64']:,.0f} | {bound} | "
            f"{row['publictest_accuracy']:.2%} | {row['real_crops_frame_accuracy']:.3f} | "
            + " | ".join(f"{mead[k]['frame_acc']:.3f}, {mead[k]['dominant_acc']:.2f}" for k in SMOOTHINGS)
            + f" | {speech_switches} |"
        )
    lines += ["", f"Rerun: `{report['command']} --overwrite`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        main(get_args_parser().parse_args())
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
