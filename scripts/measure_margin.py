"""Measure which face-crop margin matches the framing the emotion CNN was trained on.

FER2013 PublicTest faces are upscaled and padded so they look like faces in a photo, the
face detector finds them again, and the aligned crops are classified at each candidate
margin. The margin with the best accuracy becomes ``fer_video.faces.DEFAULT_MARGIN``.
Writes results/face_margin.csv and results/face_margin.md.

    python scripts/measure_margin.py            # all 3,589 PublicTest faces, ~2 minutes on 2 cores
    python scripts/measure_margin.py --count 400  # a quick look (400 faces decide ties poorly)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fer_video.checkpoint import hardware_description
from fer_video.data import load_fer2013, resolve_fer2013_path
from fer_video.evaluate.outputs import atomic_path, check_overwrite_or_exit, write_text_atomic
from fer_video.faces import DEFAULT_MARGIN, FaceDetections, align_faces, create_detector
from fer_video.pretrained import default_cnn_path, load_classifier


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="FER2013 (default: $FER2013_PATH or ../shared/data/fer2013.zip)")
    parser.add_argument("--weights", help="emotion CNN checkpoint (default: the shipped model)")
    parser.add_argument("--count", type=int, default=0, help="PublicTest images to use (default 0: all)")
    parser.add_argument("--upscale", type=int, default=160, help="side the 48 px faces are upscaled to")
    parser.add_argument("--pad", type=int, default=32, help="border added on each side after upscaling")
    parser.add_argument(
        "--margins", type=float, nargs="+", default=[-0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2, 0.3]
    )
    parser.add_argument(
        "--tie-tolerance",
        type=float,
        default=0.005,
        help="accuracies this close to the best count as ties, broken by mean true-class probability",
    )
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results", help="folder for face_margin.csv and face_margin.md")
    parser.add_argument("--overwrite", action="store_true")
    return parser


def as_photos(faces: np.ndarray, upscale: int, pad: int) -> np.ndarray:
    """48 px grayscale faces -> RGB 'photos' (N, S, S, 3): upscaled, then edge-padded."""
    photos = []
    for face in faces:
        big = cv2.resize(face, (upscale, upscale), interpolation=cv2.INTER_CUBIC)
        big = np.pad(big, pad, mode="edge")
        photos.append(np.repeat(big[..., None], 3, axis=2))
    return np.stack(photos)


def main_face(detections: FaceDetections) -> FaceDetections:
    """The largest detected face (the FER face itself; others are spurious)."""
    areas = (detections.boxes[:, 2] - detections.boxes[:, 0]) * (detections.boxes[:, 3] - detections.boxes[:, 1])
    keep = np.zeros(len(detections), bool)
    keep[int(np.argmax(areas))] = True
    return detections.select(keep)


def pixel_correlation(crops: np.ndarray, originals: np.ndarray) -> float:
    """Mean per-image Pearson correlation between aligned crops and the original FER crops
    (same size): how closely the framing matches, independent of the classifier."""
    a = crops.reshape(len(crops), -1).astype(np.float64)
    b = originals.reshape(len(originals), -1).astype(np.float64)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)).mean())


def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    csv_path, md_path = out / "face_margin.csv", out / "face_margin.md"
    check_overwrite_or_exit([csv_path, md_path], args.overwrite)
    data_path = resolve_fer2013_path(args.data)
    if data_path is None:
        raise SystemExit("FER2013 not found: pass --data or set FER2013_PATH")
    test = load_fer2013(data_path, splits=["publictest"])["publictest"]
    chosen = np.random.default_rng(args.seed).permutation(len(test))[: args.count or None]
    faces, labels = test.images[chosen], test.labels[chosen]

    classifier = load_classifier(args.weights, device=args.device)
    size = classifier.preprocess.input_size
    photos = as_photos(faces, args.upscale, args.pad)
    detector = create_detector(args.detector, device=args.device)
    found = detector.detect(list(photos))
    detected = np.array([len(d) > 0 for d in found])
    if not detected.any():
        raise SystemExit("the detector found no face in any image; check --upscale / --pad")
    kept = [main_face(d) for d in found if len(d)]
    kept_photos, kept_labels = photos[detected], labels[detected]

    originals = np.stack([cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA) for face in faces[detected]])
    original_predicted = classifier.predict_proba(faces[detected]).argmax(1)
    rows = []
    for margin in args.margins:
        crops = np.concatenate([align_faces(p, d, size, margin) for p, d in zip(kept_photos, kept)])
        probs = classifier.predict_proba(crops)
        predicted = probs.argmax(1)
        rows.append(
            {
                "margin": margin,
                "images": len(faces),
                "detected": int(detected.sum()),
                "accuracy": float((predicted == kept_labels).mean()),
                "mean_true_class_prob": float(probs[np.arange(len(kept_labels)), kept_labels].mean()),
                "agreement_with_original_crop": float((predicted == original_predicted).mean()),
                "pixel_correlation_with_original": pixel_correlation(crops, originals),
                "accuracy_original_crop": float((original_predicted == kept_labels).mean()),
            }
        )
    table = pd.DataFrame(rows)
    near_best = table[table.accuracy >= table.accuracy.max() - args.tie_tolerance]
    best = near_best.loc[near_best.mean_true_class_prob.idxmax()]
    with atomic_path(csv_path) as partial:
        table.to_csv(partial, index=False, float_format="%.4f")
    write_text_atomic(md_path, report(table, best, args, data_path, classifier.meta.get("metrics")))
    print(table.to_string(index=False, float_format="%.4f"))
    print(f"best margin: {best.margin:g} (current DEFAULT_MARGIN = {DEFAULT_MARGIN:g}); wrote {csv_path} and {md_path}")


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (floats to 4 decimals)."""
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def report(
    table: pd.DataFrame, best: pd.Series, args: argparse.Namespace, data_path: Path, weight_metrics: dict | None
) -> str:
    weights = args.weights or f"models/{default_cnn_path().name} (shipped)"
    return "\n".join(
        [
            "# Face crop margin",
            "",
            (
                f"{int(best.images)} random FER2013 PublicTest faces (seed {args.seed}) were upscaled to "
                f"{args.upscale} px, edge-padded by {args.pad} px, re-detected with `{args.detector}` "
                f"({int(best.detected)} found) and aligned at each margin (fraction of the box's longer side "
                "added on each side), then classified. `accuracy_original_crop` is the same CNN on the "
                "original 48 px crops of the detected faces, the ceiling a perfect framing would reach; "
                "`agreement_with_original_crop` is how often the aligned crop gets the same prediction, and "
                "`pixel_correlation_with_original` how closely its pixels match the original crop (a check of "
                "the framing that does not depend on the classifier). The best margin has the highest accuracy; "
                f"accuracies within {args.tie_tolerance:g} of it count as ties (a few images' difference), "
                "broken by the highest mean true-class probability, a smoother measure of the same thing."
            ),
            "",
            markdown_table(table),
            "",
            (
                f"**Best margin: {best.margin:g}** (accuracy {best.accuracy:.4f}); "
                f"`fer_video.faces.DEFAULT_MARGIN` is {DEFAULT_MARGIN:g}."
            ),
            "",
            (
                f"Weights: `{weights}` (recorded metrics: {weight_metrics}). Data: `{data_path}`. "
                f"Machine: {hardware_description()}."
            ),
            "Rerun: `python scripts/measure_margin.py --overwrite` (see `--help`).",
            "",
        ]
    )


if __name__ == "__main__":
    main(get_args_parser().parse_args())
