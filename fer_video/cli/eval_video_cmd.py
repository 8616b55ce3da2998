"""``fer-video eval-video``: score every smoothing on real clips (labelled and unlabelled)."""

from __future__ import annotations

import argparse

from fer_video.cli.image_cmd import add_backend_option
from fer_video.cli.options import DEFAULT_DETECT_EVERY, SMOOTHING_KINDS, add_model_option

#: What is scored unless ``--smoothing`` says otherwise: every kind, and EMA tuned on the labelled clips.
DEFAULT_SMOOTHINGS = (*SMOOTHING_KINDS, "ema-tuned")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-video",
        help="score each smoothing on real clips: dominant label, frame accuracy, switches per minute",
        description="Analyse real clips as `fer-video video` does and score each smoothing on the main face "
        "track: dominant-label accuracy and frame accuracy on labelled clips, label switches per minute and the "
        "share of frames with a face on every clip. Writes clips.csv, summary.csv, report.md and summary.png.",
    )
    parser.add_argument("sets", nargs="+", metavar="SET",
                        help="a labels CSV (file,label; files relative to it), a folder of videos, or a glob; "
                        "each SET is reported separately")  # fmt: skip
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--smoothing", nargs="+", choices=DEFAULT_SMOOTHINGS, default=list(DEFAULT_SMOOTHINGS),
                        help="smoothings to score (default: all; ema-tuned = EMA with the weight that scores best "
                        "on the labelled clips)")  # fmt: skip
    parser.add_argument("--fps", type=float, default=10.0, help="analysed frames per second (default: 10)")
    parser.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, metavar="K",
                        help=f"full face detection on every K-th analysed frame (default: {DEFAULT_DETECT_EVERY})")
    add_model_option(parser)
    add_backend_option(parser)
    parser.add_argument("--weights", help="score another CNN checkpoint instead of the model's (gru is then skipped)")
    parser.add_argument("--stabilize", action="store_true",
                        help="smooth each face's box and landmarks over time before aligning it (as `fer-video video "
                        "--stabilize`)")
    parser.add_argument("--no-hysteresis", dest="hysteresis", action="store_false",
                        help="score the top emotion of every frame instead of the held label")
    parser.add_argument("--no-cache", dest="cache", action="store_false", help="analyse every clip again")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys
    import time
    from pathlib import Path

    from tqdm import tqdm

    from fer_video.checkpoint import file_sha256, hardware_description
    from fer_video.evaluate.outputs import atomic_path, check_overwrite, write_text_atomic
    from fer_video.pretrained import default_cnn_path
    from fer_video.provenance import source_revision
    from fer_video.recognizer import EmotionRecognizer
    from fer_video.temporal.hmm import default_hmm
    from fer_video.video import VideoOptions
    from fer_video.video.evaluation import read_clip_set, trace_clip_set
    from fer_video.video.evaluation_report import label_functions, markdown_table, plot_summary, score_sets, summarise

    revision = source_revision()  # before the outputs are written: a rerun into a tracked folder is not "changed"
    out = Path(args.out)
    files = {name: out / name for name in ("clips.csv", "summary.csv", "report.md", "summary.png")}
    check_overwrite(files.values(), args.overwrite)
    options = VideoOptions(
        fps=args.fps, detect_every=args.detect_every, model=args.model, backend=args.backend, stabilize=args.stabilize
    )
    options.validate()
    smoothings = [s for s in args.smoothing if not (args.weights and s == "gru")]
    recognizer = EmotionRecognizer(weights=args.weights, model=args.model, backend=args.backend)
    cnn = Path(args.weights) if args.weights else default_cnn_path(args.model)
    cnn_sha = file_sha256(cnn)
    sets = [read_clip_set(spec, recognizer.classes) for spec in args.sets]
    gru = None
    if "gru" in smoothings:
        from fer_video.temporal import load_gru

        gru = load_gru(device="cpu", model=args.model)
    started, failed = time.perf_counter(), []
    total = sum(len(s.clips) for s in sets)
    with tqdm(total=total, desc="analysing clips", unit="clip") as bar:
        scored = [
            trace_clip_set(s, recognizer, options, cnn_sha, use_cache=args.cache, failed=failed, advance=bar.update)
            for s in sets
        ]
    labelled = [(t, y) for s in scored for t, y in zip(s.traces, s.truths) if y is not None]
    functions, chosen = label_functions(smoothings, gru, args.hysteresis, labelled, recognizer.classes)
    per_clip, labelled_frames = score_sets(scored, functions, recognizer.classes)
    summary = summarise(per_clip, labelled_frames)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("clips.csv", per_clip), ("summary.csv", summary)):
        with atomic_path(files[name]) as partial:
            frame.to_csv(partial, index=False, float_format="%.4f")
    with atomic_path(files["summary.png"]) as partial:
        plot_summary(summary, partial)
    facts = [
        f"- Command: `{shlex.join(['fer-video', 'eval-video', *sys.argv[2:]])}`",
        f"- Date: {time.strftime('%Y-%m-%d')}; code: commit {revision}; machine: {hardware_description()}",
        f"- CNN: `{cnn.name}` (sha256 {cnn_sha[:12]}); analysis: {args.fps:g} fps, detection every "
        f"{args.detect_every} analysed frames, stabiliser {'on' if args.stabilize else 'off'}",
        f"- Shown label: {shown_label_fact(args.hysteresis)} (never with `none`)",
        *(f"- {kind}: {hmm.switch_rate_hz:g} switches per second expected, evidence {hmm.evidence_per_s:g} per second"
          + (f", look-ahead {hmm.lag_s:g} s" if kind == "hmm" else "") for kind, hmm in ((k, default_hmm(k)) for k in ("hmm", "hmm-online"))),
        *(f"- {key.replace('_', ' ')}: {value}" for key, value in chosen.items()),
        f"- {total - len(failed)} clips analysed in {time.perf_counter() - started:.0f} s"
        + (f"; {len(failed)} unreadable: " + "; ".join(failed) if failed else ""),
    ]
    report = "\n".join([
        "# Smoothing on real clips", "",
        "Main track = the face seen on most analysed frames. Frame accuracy and dominant label: labelled clips only "
        "(labels outside the model's classes count as unlabelled). Switches per minute: changes of the shown label "
        "between consecutive frames of the main track, pooled over the set's clips. Mean shown confidence and "
        "confidence ECE: over the labelled clips' frames pooled, the confidence shown with the label (its smoothed "
        "probability) and its expected calibration error (15 equal-width bins; 0 = a label shown at 0.9 is right "
        "9 times in 10).", "",
        *facts, "", markdown_table(summary), "",
        "Per clip: `clips.csv`; this table: `summary.csv`; plot: `summary.png`.", "",
    ])  # fmt: skip
    write_text_atomic(files["report.md"], report)
    print(markdown_table(summary))
    print(f"-> {out}")
    if failed:
        print("\n".join(f"unreadable: {line}" for line in failed), file=sys.stderr)
    return 1 if failed else 0


def shown_label_fact(hysteresis: bool) -> str:
    """The shown-label rule of each smoothing kind, for the report."""
    from fer_video.temporal.hysteresis import default_hysteresis

    if not hysteresis:
        return "top emotion of each frame"
    rules = {kind: default_hysteresis(kind) for kind in ("hmm", "hmm-online")}
    return "hysteresis, " + "; ".join(
        f"margin {rule.margin:g}, hold {rule.hold_s:g} s" + (" (hmm-online)" if kind == "hmm-online" else " (other kinds)")
        for kind, rule in rules.items()
    )
