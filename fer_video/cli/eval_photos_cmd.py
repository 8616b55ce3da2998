"""``fer-video eval-photos``: how the photo path (detector, aligner, CNN) does on labelled photos."""

from __future__ import annotations

import argparse

from fer_video.cli.image_cmd import add_backend_option
from fer_video.cli.options import add_model_option, output_folder
from fer_video.faces import DETECTORS

OUTPUT_FILES = ("predictions.csv", "metrics.json", "report.md", "confusion_matrix.png")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-photos",
        help="accuracy, per-class recall and no-face rate on labelled photos, as `fer-video image` runs them",
        description="Run every labelled photo through detection, alignment and the CNN (EmotionRecognizer.predict); "
        "the largest face is the photo's answer, and a photo with no face found counts as wrong. Photos come as "
        "a folder of <label>/ folders or a CSV with columns file,label; labels outside the 7 classes are skipped. "
        "Exit status 1 when a photo could not be read (the others are scored).",
    )
    parser.add_argument("source", help="folder of <label>/ image folders, or a file,label CSV")
    parser.add_argument("--out", required=True, help=f"output folder ({', '.join(OUTPUT_FILES)})")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier evaluation in --out")
    add_model_option(parser)
    parser.add_argument("--weights", help="emotion CNN checkpoint (default: the CNN of --model)")
    parser.add_argument("--detector", choices=DETECTORS, default="mtcnn", help="face detector (default: mtcnn)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    add_backend_option(parser)
    parser.add_argument("--batch-size", type=int, default=8, help="photos detected and classified together")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import shlex
    import sys
    import time

    from fer_video.checkpoint import hardware_description
    from fer_video.evaluate.outputs import atomic_path, check_overwrite, write_text_atomic
    from fer_video.evaluate.photos import photo_metrics, predict_photos, read_labelled_photos, render_photo_report
    from fer_video.evaluate.plots import plot_confusion_matrix
    from fer_video.pretrained import default_cnn_path
    from fer_video.provenance import source_revision
    from fer_video.recognizer import EmotionRecognizer

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    out = output_folder(args.out)
    check_overwrite([out / name for name in OUTPUT_FILES], args.overwrite)
    photos = read_labelled_photos(args.source)
    recognizer = EmotionRecognizer(
        weights=args.weights, model=args.model, detector=args.detector, device=args.device, backend=args.backend
    )
    predictions = predict_photos(recognizer, photos, args.batch_size)
    metrics = photo_metrics(predictions, photos.skipped)
    result = {
        "source": args.source,
        "model": args.model,
        "weights": args.weights or str(default_cnn_path(args.model)),
        "backend": recognizer.classifier.backend.name,
        "detector": args.detector,
        "date": time.strftime("%Y-%m-%d"),
        "commit": source_revision(),
        "machine": hardware_description(),
        "command": shlex.join(["fer-video", "eval-photos", *sys.argv[2:]]),
        "metrics": metrics,
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "predictions.csv") as partial:
        predictions.to_csv(partial, index=False)
    write_text_atomic(out / "metrics.json", json.dumps(result, indent=2) + "\n")
    report = render_photo_report(result)
    write_text_atomic(out / "report.md", report)
    found = metrics["faces_found"]
    if found is None:  # no face anywhere: no matrix (nor an earlier evaluation's, when overwriting)
        (out / "confusion_matrix.png").unlink(missing_ok=True)
    else:
        plot_confusion_matrix(
            found["confusion_matrix"], found["classes"], out / "confusion_matrix.png", title="photos with a face"
        )
    print(report)
    unreadable = predictions[predictions["error"] != ""]
    for row in unreadable.itertuples():
        print(f"fer-video eval-photos: could not read {row.file}: {row.error}", file=sys.stderr)
    return 1 if len(unreadable) else 0
