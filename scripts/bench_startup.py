#!/usr/bin/env python3
"""Benchmark start-up: ``fer-video --help``, one photo end to end (``fer-video image``, start-up
included), and the web app's readiness (``fer-video app`` started until http://127.0.0.1:PORT/
answers 200), each with a cold and a warm file cache; writes results/bench_startup.json and .md.

    python scripts/bench_startup.py --overwrite
    python scripts/bench_startup.py --repeats 3 --baseline /tmp/fer-video-before --overwrite

Cold: before each cold run, the page cache of every file the commands may read is evicted with
``posix_fadvise(POSIX_FADV_DONTNEED)``: the Python installation (standard library and
site-packages: torch, timm, onnxruntime, gradio, ...), the repository and fer-video's cache
(``~/.cache/fer_video``). Writing ``/proc/sys/vm/drop_caches`` would evict the whole machine's
cache (and needs privileges); the per-file eviction does not touch other files, but cannot evict
pages another running process has mapped (a shared library in use elsewhere stays in memory), so
"cold" is as cold as the rest of the machine allows; where ``fincore`` is installed, the file
records how much of the largest libraries was still in memory after an eviction.
Warm: the same command once untimed, then timed. The median of ``--repeats`` runs is reported,
with the range, and the child's CPU time (user + system), which other work on the machine
inflates less than the wall time.

``--baseline DIR`` also times the commands of an earlier checkout in DIR (e.g.
``git archive <commit> | tar -x -C DIR``; run as ``python -m fer_video.cli`` with DIR first on
the path and its own ONNX cache), so before and after come from one run on one machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from fer_video.cache import cache_dir
from fer_video.evaluate.outputs import check_overwrite_or_exit, write_report
from fer_video.provenance import source_revision

ROOT = Path(__file__).resolve().parents[1]
#: Libraries (patterns under site-packages) whose residency after an eviction is recorded: the
#: largest ones the commands map.
PROBED_LIBRARIES = ("torch/lib/libtorch_cpu.so", "torch/lib/libtorch_cuda.so", "onnxruntime/capi/libonnxruntime.so*")
APP_READY_TIMEOUT_S = 600.0


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command and cache state (default 5)")
    parser.add_argument("--only", nargs="+", choices=("help", "image", "app"), help="measure only these")
    parser.add_argument("--baseline", type=Path, help="an earlier checkout to time the same way")
    parser.add_argument("--out", default="results", help="folder for bench_startup.json and bench_startup.md")
    parser.add_argument("--overwrite", action="store_true")
    return parser


# -- the page cache -----------------------------------------------------------------------------


def cached_roots(extra: list[Path]) -> list[Path]:
    """Folders whose files a cold run must read from disk: the Python installation, the
    repository, fer-video's cache (and ``extra``: a baseline checkout and its cache)."""
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots = sorted({Path(p).resolve() for p in paths} | {ROOT, cache_dir().resolve(), *extra})
    return [root for root in roots if root.exists() and not any(other in root.parents for other in roots)]


def files_under(roots: list[Path]) -> list[Path]:
    """Every file under ``roots``, and the interpreter."""
    files = [Path(folder) / name for root in roots for folder, _, names in os.walk(root) for name in names]
    return [*files, Path(sys.executable).resolve()]


def evict(files: list[Path]) -> int:
    """Drop the page cache of ``files``; returns how many could be opened."""
    count = 0
    for path in files:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            count += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return count


def residency() -> dict[str, float | None]:
    """Share of each of :data:`PROBED_LIBRARIES` in the page cache."""
    site = Path(sysconfig.get_paths()["platlib"])
    return {pattern: resident_fraction(next(site.glob(pattern), site / pattern)) for pattern in PROBED_LIBRARIES}


def resident_fraction(path: Path) -> float | None:
    """Share of ``path`` in the page cache (``fincore``), ``None`` where it cannot be told."""
    if shutil.which("fincore") is None or not path.exists():
        return None
    done = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES,SIZE", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    try:
        resident, size = map(int, done.stdout.split())
    except ValueError:
        return None
    return resident / size if size else None


# -- the commands ------------------------------------------------------------------------------


class Version:
    """How to run one checkout's ``fer-video``: this one through its console script, a baseline
    through ``python -m fer_video.cli`` with its folder first on the path and its own cache."""

    def __init__(self, label: str, checkout: Path | None, scratch: Path) -> None:
        self.label, self.checkout = label, checkout
        script = shutil.which("fer-video")
        if checkout is None and script is not None:
            self.prefix = [script]
        else:
            self.prefix = [sys.executable, "-m", "fer_video.cli"]
        self.env = dict(os.environ)
        if checkout is not None:
            self.env["PYTHONPATH"] = str(checkout)
            self.env["FER_VIDEO_CACHE"] = str(scratch / f"cache-{label}")
        self.cwd = checkout or ROOT

    def command(self, *args: str) -> list[str]:
        return [*self.prefix, *args]


def run_once(version: Version, args: list[str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(version.command(*args), cwd=version.cwd, env=version.env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(version.command(*args))} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_ready(version: Version) -> tuple[float, None]:
    """Seconds from starting ``fer-video app`` until its page answers 200; the app is then stopped."""
    port = free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(version.command("app", "--port", str(port)), cwd=version.cwd, env=version.env,
                               stdout=log, stderr=log)  # fmt: skip
    started = time.perf_counter()
    try:
        while True:
            elapsed = time.perf_counter() - started
            if process.poll() is not None or elapsed > APP_READY_TIMEOUT_S:
                log.seek(0)
                raise RuntimeError(f"the app did not answer within {elapsed:.0f} s: {log.read()[-2000:].decode()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started, None
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def measure(step: Callable[[], tuple[float, float | None]], files: list[Path], repeats: int) -> dict:
    """``repeats`` cold runs (cache evicted before each), then one untimed and ``repeats`` warm runs."""
    step()  # the command works, and what it caches on first use (the ONNX export) exists
    result = {}
    for state in ("cold", "warm"):
        walls, cpus, loads, resident = [], [], [], []
        if state == "warm":
            step()
        for _ in range(repeats):
            if state == "cold":
                evict(files)
                resident.append(residency())
            loads.append(os.getloadavg()[0])
            wall, cpu = step()
            walls.append(wall)
            if cpu is not None:
                cpus.append(cpu)
        result[state] = {
            "median_s": statistics.median(walls),
            "min_s": min(walls),
            "max_s": max(walls),
            "runs_s": [round(w, 3) for w in walls],
            "cpu_median_s": statistics.median(cpus) if cpus else None,
            "load_average_1min": [round(v, 2) for v in loads],
        }
        if resident:
            result[state]["resident_after_eviction"] = resident
    return result


# -- the report --------------------------------------------------------------------------------


def write_photo(path: Path) -> None:
    """scikit-image's astronaut as a JPEG (written by a child, so that none of the libraries it
    takes stays mapped in this process during the cold runs)."""
    code = (
        "import sys; from PIL import Image; from skimage import data; "
        "Image.fromarray(data.astronaut()).save(sys.argv[1], quality=95)"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def machine() -> dict:
    """The machine, named by fer-video's helper (run in a child: importing torch here would keep
    its libraries mapped, and so in the cache, during the cold runs)."""
    code = "from fer_video.checkpoint import hardware_description; print(hardware_description())"
    hardware = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return {
        "hardware": hardware,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }


def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    json_path, md_path = out / "bench_startup.json", out / "bench_startup.md"
    check_overwrite_or_exit([json_path, md_path], args.overwrite)
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    started = datetime.datetime.now().isoformat(timespec="seconds")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        photo = scratch / "astronaut.jpg"
        write_photo(photo)
        versions = [Version("this", None, scratch)]
        if args.baseline is not None:
            versions.append(Version("baseline", args.baseline.resolve(), scratch))
        extra = [args.baseline.resolve(), scratch] if args.baseline else []
        roots = cached_roots(extra)
        files = files_under(roots)
        steps = {
            "help": lambda v: run_once(v, ["--help"]),
            "image": lambda v: run_once(v, ["image", str(photo)]),
            "app": app_ready,
        }
        results = {}
        for name in args.only or steps:
            for version in versions:
                print(f"{name} ({version.label}) ...", file=sys.stderr, flush=True)
                try:
                    result = measure(lambda: steps[name](version), files, args.repeats)
                except RuntimeError as error:  # a command that fails is reported, the others still measured
                    result = {"error": str(error)}
                results.setdefault(name, {})[version.label] = result
    report = {
        "date": started,
        "commit": source_revision(),
        "machine": machine(),
        "load_average_at_start": [round(v, 2) for v in load_start],
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "repeats": args.repeats,
        "eviction": "posix_fadvise(POSIX_FADV_DONTNEED) on every file of: " + ", ".join(map(str, roots)),
        "commands": {"help": "fer-video --help", "image": "fer-video image astronaut.jpg (512x512, one face)",
                     "app": "fer-video app --port P, until GET / answers 200"},  # fmt: skip
        "baseline": str(args.baseline) if args.baseline else None,
        "results": results,
    }
    write_report(json_path, md_path, report, markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    host = report["machine"]
    lines = [
        "# Start-up benchmark",
        "",
        f"{report['date']}, commit {report['commit']}, on {host['hardware']}, Python {host['python']}.",
        f"1-minute load average {report['load_average_at_start'][0]:.2f} at the start and "
        f"{report['load_average_at_end'][0]:.2f} at the end (per run in the JSON file); above {host['cpu_count']} "
        "(the core count) means other work shared the CPU and the wall times are high.",
        "",
        f"Median of {report['repeats']} runs (range in brackets); CPU: the command's user + system time. "
        "Cold: the page cache of the Python installation, the repository and fer-video's cache evicted before "
        "each run with `posix_fadvise(POSIX_FADV_DONTNEED)` (pages other processes have mapped stay in memory); "
        "warm: after one untimed run.",
        "",
        "| command | version | cold wall s | cold CPU s | warm wall s | warm CPU s |",
        "|---|---|---|---|---|---|",
    ]
    for name, versions in report["results"].items():
        for label, result in versions.items():
            if "error" in result:
                lines.append(f"| {report['commands'][name]} | {label} | failed: {result['error'][:200]} | | | |")
                continue
            cells = []
            for state in ("cold", "warm"):
                r = result[state]
                cells.append(f"{r['median_s']:.2f} ({r['min_s']:.2f}-{r['max_s']:.2f})")
                cells.append(f"{r['cpu_median_s']:.2f}" if r["cpu_median_s"] is not None else "-")
            lines.append(f"| {report['commands'][name]} | {label} | " + " | ".join(cells) + " |")
    residency = [
        entry
        for versions in report["results"].values()
        for result in versions.values()
        for entry in result.get("cold", {}).get("resident_after_eviction", [])
    ]
    known = [v for entry in residency for v in entry.values() if v is not None]
    if known:
        lines += ["", f"Still in memory after an eviction (fincore, {', '.join(PROBED_LIBRARIES)}): "
                  f"{100 * min(known):.0f}-{100 * max(known):.0f} % of the file."]  # fmt: skip
    if report["baseline"]:
        lines += ["", f"Baseline: the checkout in `{report['baseline']}`, run as `python -m fer_video.cli`."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(get_args_parser().parse_args())
