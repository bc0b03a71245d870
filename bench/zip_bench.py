"""Benchmark (run by hand): our reproducible ``pack`` against Info-ZIP ``zip -qrX -6``.

Generates a dist of 8,000 files (~100 MB: small JS-like files and one 30 MB partly
compressible binary), packs it twice with ``pack`` and twice with Info-ZIP (alternating,
each in its own process, best wall time of --rounds kept), checks that our two zips are
byte-identical and reports our peak RSS. Target: ours ≤ 0.6 × zip, peak < 100 MB.

    python bench/zip_bench.py [--workers N] [--rounds N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

SMALL_FILES = 7_999
SMALL_BYTES = 70 * 2**20
BIG_BYTES = 30 * 2**20
BLOCK = 64 * 2**10


def _js_lines(rng: random.Random, count: int) -> list[str]:
    """Lines that look like bundled JavaScript: keywords, identifiers, numbers, strings."""

    def ident() -> str:
        return "".join(rng.choices(string.ascii_letters, k=rng.randint(2, 12)))

    templates = (
        "  const {a} = await {b}.{c}({d}, {n});",
        "  if ({a} === {n}) return {b}({c});",
        "export function {a}({b}, {c}) {{ return {d}[{n}] ?? {b}; }}",
        '  {a}.{b} = "{c}-{d}-{n}";',
        "  for (const {a} of {b}.{c}) {{ {d}.push({a} * {n}); }}",
        "}}",
    )
    return [
        rng.choice(templates).format(a=ident(), b=ident(), c=ident(), d=ident(),
                                     n=rng.randint(0, 99_999))
        for _ in range(count)
    ]


def make_dist(root: Path) -> None:
    """Write the benchmark tree under ``root`` (deterministic: seeded)."""
    rng = random.Random(20240601)
    lines = _js_lines(rng, 20_000)
    mean = SMALL_BYTES // SMALL_FILES
    for i in range(SMALL_FILES):
        path = root / "node_modules" / f"pkg{i // 50:03d}" / "lib" / f"mod{i:04d}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        target = rng.randint(mean // 8, 2 * mean - mean // 8)
        text = "\n".join(rng.choices(lines, k=max(1, target // 48)))
        path.write_text(text)
    with (root / "assets.bin").open("wb") as big:
        for index in range(BIG_BYTES // BLOCK):
            if index % 3 == 0:
                big.write(rng.randbytes(BLOCK))
            else:
                big.write("\n".join(rng.choices(lines, k=BLOCK // 40)).encode()[:BLOCK])


def _pack_child(dist: str, out: str, workers: int | None) -> None:
    """In a child process: pack once and print seconds and peak RSS as JSON."""
    from vault_actions.build.artifact import pack

    start = time.perf_counter()
    artifact = pack(Path(dist), Path(out), workers=workers)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_kib": peak_kib, "sha256": artifact.sha256}))


class Timed(NamedTuple):
    """Wall and CPU (user + system) seconds of one child process."""

    wall: float
    cpu: float


def timed(argv: list[str], cwd: Path | None = None) -> tuple[Timed, str]:
    """Run ``argv``; its wall and CPU time, and its standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Timed(wall, cpu), done.stdout


def run_ours(dist: Path, out: Path, workers: int | None) -> tuple[Timed, dict[str, float]]:
    """Times of a whole ``pack`` process and what the child reported."""
    argv = [sys.executable, __file__, "--child", str(dist), str(out)]
    argv += ["--workers", str(workers)] if workers else []
    times, stdout = timed(argv)
    return times, json.loads(stdout)


def run_zip(dist: Path, out: Path) -> Timed:
    """Times of Info-ZIP zipping the same tree."""
    out.unlink(missing_ok=True)
    return timed(["zip", "-qrX", "-6", str(out), "."], cwd=dist)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (at least 2)")
    parser.add_argument("--keep", type=Path, help="build the tree here and keep it")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _pack_child(args.child[0], args.child[1], args.workers)
        return
    if shutil.which("zip") is None:
        sys.exit("Info-ZIP `zip` is not installed")
    work = args.keep or Path(tempfile.mkdtemp(prefix="zip-bench-"))
    dist = work / "dist"
    try:
        if not dist.exists():
            start = time.perf_counter()
            make_dist(dist)
            print(f"generated {dist} in {time.perf_counter() - start:.1f}s")
        total = sum(p.stat().st_size for p in dist.rglob("*") if p.is_file())
        print(f"dist: {SMALL_FILES + 1} files, {total / 2**20:.1f} MiB")
        ours: list[Timed] = []
        inner: list[float] = []
        peaks: list[float] = []
        theirs: list[Timed] = []
        runs = range(1, max(2, args.rounds) + 1)
        for run in runs:
            times, child = run_ours(dist, work / f"ours{run}.zip", args.workers)
            ours.append(times)
            inner.append(child["seconds"])
            peaks.append(child["peak_kib"] / 1024)
            theirs.append(run_zip(dist, work / "infozip.zip"))
            print(f"  round {run}: ours {times.wall:.2f}s, zip {theirs[-1].wall:.2f}s")
        digests = {hashlib.sha256((work / f"ours{r}.zip").read_bytes()).hexdigest()
                   for r in runs}
        ours_size = (work / "ours1.zip").stat().st_size
        zip_size = (work / "infozip.zip").stat().st_size
        best, best_zip = min(t.wall for t in ours), min(t.wall for t in theirs)
        print(f"ours:     {best:.2f}s wall (pack() itself {min(inner):.2f}s), "
              f"{min(t.cpu for t in ours):.2f}s CPU, {ours_size / 2**20:.1f} MiB, "
              f"peak RSS {max(peaks):.0f} MiB")
        print(f"Info-ZIP: {best_zip:.2f}s wall, {min(t.cpu for t in theirs):.2f}s CPU, "
              f"{zip_size / 2**20:.1f} MiB")
        print(f"ratio ours/zip (best wall of {len(runs)}): {best / best_zip:.2f} "
              "(target ≤ 0.60)")
        print(f"byte-identical across {len(runs)} runs: {'yes' if len(digests) == 1 else 'NO'}")
    finally:
        if args.keep is None:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
