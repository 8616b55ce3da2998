"""Do CNNs err differently enough to gain from each other? PublicTest and real-clip scores of each CNN alone and
of every mean-probability ensemble of them, with how often each pair disagrees.

Each CNN's probabilities are its calibrated ones (its temperature), computed once on FER2013 PublicTest and on
the detector crops of the labelled real clips (`fer-video eval-crops`' crops); an ensemble averages them. Writes
ensembles.json and ensembles.md to ``--out``.

    python scripts/score_ensembles.py standard=models/emotion_cnn.pt \
        mid=results/emotion_cnn_mid_pruned/vgg_fer_mid_pruned.pt --tta flip --out results/emotion_cnn_long
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from tqdm import tqdm

from fer_video.cli.eval_crops_cmd import DEFAULT_LABELS
from fer_video.data import load_fer2013, require_fer2013_path
from fer_video.evaluate.clip_crops import CropScores, clip_crops, crops_classifier, score_probabilities
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_text_atomic
from fer_video.provenance import source_revision

REPOSITORY = Path(__file__).resolve().parents[1]


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="NAME=PATH (or PATH: named after the file) of each CNN")
    parser.add_argument("--labels", default=DEFAULT_LABELS, help=f"labels CSV of the real clips (default: {DEFAULT_LABELS})")
    parser.add_argument("--data", default=None, help="FER2013 zip, folder or csv (default: $FER2013_PATH)")
    parser.add_argument("--max-size", type=positive_int, default=3, help="largest ensemble scored")
    parser.add_argument("--tta", choices=("none", "flip"), default="none", help="flip: average each CNN over the mirror")
    parser.add_argument("--out", default="results", help="folder for ensembles.json and ensembles.md")
    parser.add_argument("--overwrite", action="store_true")
    return parser


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_named(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` (or ``PATH``) specs as an ordered name -> path map; names and files must exist and differ."""
    named: dict[str, Path] = {}
    for spec in specs:
        name, separator, path_text = spec.partition("=")
        path = Path(path_text if separator else spec)
        name = name if separator else path.stem
        if not path.is_file():
            raise SystemExit(f"error: checkpoint not found: {path}")
        if name in named:
            raise SystemExit(f"error: two checkpoints are named {name!r}; name them NAME=PATH")
        named[name] = path
    return named


def ensemble_rows(
    probabilities: dict[str, tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    score_clips: Callable[[np.ndarray], CropScores],
    max_size: int,
) -> list[dict]:
    """One row per ensemble of 1..``max_size`` CNNs: PublicTest accuracy and macro-F1 of the mean probabilities,
    and ``score_clips(mean clip probabilities)``'s summary (a :class:`CropScores`)."""
    rows = []
    for size in range(1, min(max_size, len(probabilities)) + 1):
        for members in itertools.combinations(probabilities, size):
            test = np.mean([probabilities[name][0] for name in members], axis=0)
            clips = np.mean([probabilities[name][1] for name in members], axis=0)
            summary = score_clips(clips).summary
            predicted = test.argmax(axis=1)
            rows.append({
                "members": list(members),
                "publictest_accuracy": float((predicted == labels).mean()),
                "publictest_macro_f1": float(f1_score(labels, predicted, average="macro")),
                "clip_frame_accuracy": summary["mean_clip_frame_accuracy"],
                "clip_dominant_accuracy": summary["dominant_accuracy"],
            })
    return rows


def disagreement(probabilities: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict]:
    """For each pair of CNNs: the share of PublicTest images and of clip crops whose top labels differ."""
    return [
        {
            "pair": [first, second],
            "publictest": float((probabilities[first][0].argmax(1) != probabilities[second][0].argmax(1)).mean()),
            "clip_crops": float((probabilities[first][1].argmax(1) != probabilities[second][1].argmax(1)).mean()),
        }
        for first, second in itertools.combinations(probabilities, 2)
    ]


def markdown(report: dict) -> str:
    """The report as a page: one table row per ensemble, then one per pair of CNNs."""
    lines = [
        "# CNNs alone and in mean-probability ensembles",
        "",
        f"{report['date']}, commit {report['commit']}. PublicTest: {report['publictest_images']} FER2013 images; "
        f"real clips: {report['clip_crops']} detector crops of the {report['clips']} labelled clips in "
        f"`{report['labels']}` (mean over clips of the frame accuracy; dominant = argmax of the clip's mean "
        f"probability). Calibrated probabilities, test-time augmentation: {report['tta']}.",
        "",
        "| CNNs | PublicTest | macro-F1 | real clips: frame accuracy | dominant label right |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in report["ensembles"]:
        lines.append(
            f"| {' + '.join(row['members'])} | {row['publictest_accuracy']:.2%} | {row['publictest_macro_f1']:.3f} | "
            f"{row['clip_frame_accuracy']:.3f} | {row['clip_dominant_accuracy']:.3f} |"
        )
    lines += ["", "Share of top labels that differ, per pair:", "", "| pair | PublicTest | real-clip crops |",
              "|---|---:|---:|"]
    lines += [f"| {a} / {b} | {row['publictest']:.3f} | {row['clip_crops']:.3f} |"
              for row in report["disagreement"] for a, b in [row["pair"]]]
    lines += ["", "Checkpoints: " + ", ".join(f"{n} `{p}`" for n, p in report["checkpoints"].items()) + ".",
              "Rerun: `python scripts/score_ensembles.py " + report["command"] + "`.", ""]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    named = parse_named(args.checkpoints)
    out = Path(args.out)
    targets = [out / "ensembles.json", out / "ensembles.md"]
    check_overwrite_or_exit(targets, args.overwrite)
    test = load_fer2013(require_fer2013_path(args.data), splits=["publictest"])["publictest"]
    crops = clip_crops(args.labels, progress=True)
    probabilities = {}
    for name, path in tqdm(named.items(), desc="CNNs scored", unit="cnn"):
        classifier = crops_classifier(crops, path, flip_tta=args.tta == "flip")
        probabilities[name] = (classifier.predict_proba(test.images), classifier.predict_proba(crops.crops))
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": source_revision(),
        "publictest_images": len(test.labels),
        "clip_crops": len(crops.crops),
        "clips": len(crops.files),
        "labels": os.path.relpath(Path(args.labels).resolve(), REPOSITORY),
        "tta": args.tta,
        "checkpoints": {name: str(path) for name, path in named.items()},
        "command": " ".join(f"{n}={p}" for n, p in named.items()) + f" --tta {args.tta} --max-size {args.max_size}",
        "ensembles": ensemble_rows(
            probabilities, test.labels, lambda p: score_probabilities(crops, p), args.max_size
        ),
        "disagreement": disagreement(probabilities),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(targets[0], json.dumps(report, indent=2) + "\n")
    write_text_atomic(targets[1], markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    try:
        main(get_args_parser().parse_args())
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
