#!/usr/bin/env python3
"""How many frames a second ``fer-video live`` can analyse: the live path, one frame at a time.

Runs ``fer-video live CLIP --out DIR --no-realtime`` (the defaults otherwise: 10 analysed fps of the
source, ``hmm-online``, full detection every 3rd analysed frame) in a child process on each clip and
reads its ``summary.json``: analysed frames per second of wall time, and the time per analysed frame
of each stage. A live source gives a frame at a time, so detection and classification alternate on
every frame, unlike ``fer-video video``, which works in chunks. The clips: the astronaut swaying
at 640x360 and 1280x720 (generated, 20 s, 30 fps; other sizes with ``--sizes``), plus any ``--clips``.
Writes results/bench_live.json and results/bench_live.md.

    python scripts/bench_live.py --overwrite
    python scripts/bench_live.py --sizes 3840x2160 --seconds 10 --out results/bench_live_4k --overwrite
    python scripts/bench_live.py --baseline /tmp/fer-video-before --clips talk.mp4 --overwrite

``--baseline DIR`` also runs the checkout in DIR (``python -m fer_video.cli`` with DIR on the path),
round by round in turn with this checkout, so both see the machine in the same state.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_memory import frame_size, make_clip
from bench_startup import machine
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_report
from fer_video.provenance import source_revision

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("detect", "refine", "classify")
GENERATED_SIZES = ("640x360", "1280x720")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="*", default=[], help="more video files to stream")
    parser.add_argument("--sizes", nargs="*", type=frame_size, default=[frame_size(s) for s in GENERATED_SIZES],
                        metavar="WIDTHxHEIGHT", help=f"generated clips (default: {' '.join(GENERATED_SIZES)})")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the generated clips")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each version on each clip")
    parser.add_argument("--baseline", type=Path, help="an earlier checkout to run in turn with this one")
    parser.add_argument("--note", default="", help="a remark recorded with the results (e.g. what the baseline is)")
    parser.add_argument("--out", default="results", help="folder for bench_live.json and bench_live.md")
    parser.add_argument("--overwrite", action="store_true")
    return parser


def run_live(clip: Path, out: Path, checkout: Path | None) -> dict:
    """Analysed frames per second and ms per analysed frame of each stage, from one child's summary."""
    env = dict(os.environ, PYTHONPATH=str(checkout)) if checkout else dict(os.environ)
    command = [sys.executable, "-m", "fer_video.cli", "live", str(clip), "--out", str(out), "--no-realtime"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=checkout or ROOT)
    if done.returncode != 0:
        sys.exit(f"bench_live: fer-video live failed on {clip} ({checkout or 'this checkout'}):\n{done.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    frames = summary["frames_analysed"]
    row = {"frames_analysed": frames, "wall_s": summary["wall_s"], "analysed_per_s": frames / summary["wall_s"]}
    row.update({f"{stage}_ms": 1000 * summary["stage_times"].get(stage, 0.0) / max(frames, 1) for stage in STAGES})
    return row


def markdown(result: dict) -> str:
    versions = list(dict.fromkeys(run["version"] for run in result["runs"]))
    lines = [
        "# Live path: analysed frames per second",
        "",
        f"{result['date']}, commit {result['revision']}, on {result['machine']['hardware']}; 1-minute load average "
        f"{result['load_start']:.2f} at the start, {result['load_end']:.2f} at the end.",
        "",
        "Each run: `fer-video live CLIP --out DIR --no-realtime` in a fresh process (defaults: 10 analysed fps of "
        "the source, `hmm-online`, full detection every 3rd analysed frame); analysed frames per second of wall "
        "time, and ms per analysed frame of each stage, medians over the rounds.",
        "",
        "| clip | version | rounds | analysed frames/s | detect ms | refine ms | classify ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for clip in dict.fromkeys(run["clip"] for run in result["runs"]):
        for version in versions:
            runs = [r for r in result["runs"] if r["clip"] == clip and r["version"] == version]
            cells = [f"{statistics.median(r[key] for r in runs):.1f}" for key in
                     ("analysed_per_s", *(f"{stage}_ms" for stage in STAGES))]  # fmt: skip
            lines.append(f"| {clip} | {version} | {len(runs)} | " + " | ".join(cells) + " |")
    if result["note"]:
        lines += ["", result["note"]]
    lines += ["", f"Rerun: `{result['command']}`.", ""]
    return "\n".join(lines)


def main() -> None:
    args = get_args_parser().parse_args()
    out = Path(args.out)
    json_path, md_path = out / "bench_live.json", out / "bench_live.md"
    check_overwrite_or_exit([json_path, md_path], args.overwrite)
    missing = [clip for clip in args.clips if not Path(clip).is_file()]
    if missing:
        sys.exit(f"bench_live: clip(s) not found: {', '.join(missing)}")
    versions = {"this checkout": None, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    load_start, runs = os.getloadavg()[0], []
    with tempfile.TemporaryDirectory() as tmp:
        clips = {f"astronaut {w}x{h}": make_clip(Path(tmp) / f"{h}p.mp4", args.seconds, (w, h)) for w, h in args.sizes}
        clips.update({Path(clip).name: Path(clip).resolve() for clip in args.clips})
        for name, clip in clips.items():
            for round_index in range(args.rounds):
                for version, checkout in versions.items():
                    target = Path(tmp) / f"run-{len(runs)}"
                    runs.append({"clip": name, "version": version, "round": round_index,
                                 **run_live(clip, target, checkout)})  # fmt: skip
                    print(json.dumps(runs[-1]), flush=True)
    result = {
        "date": datetime.date.today().isoformat(),
        "revision": source_revision(),
        "machine": machine(),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "note": args.note,
        "command": shlex.join(["python", "scripts/bench_live.py", *sys.argv[1:]]),
        "runs": runs,
    }
    out.mkdir(parents=True, exist_ok=True)
    write_report(json_path, md_path, result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
