"""Benchmark (run by hand): the ledger's reads at 100, 1,000 and 5,000 releases × 8 events.

Starts its own moto server, seeds each ledger straight to S3 in parallel (pre-made event
bodies with a local proof, the bytes ``Ledger.record`` writes, their live pointers and
feed entries: ``tests/ledger_seed.py``), has the record job's code write the first summary
(from every folder, as ``vault ledger reindex`` does), then records one more release
through ``Ledger.record`` (what the feed holds since). It times
each command's ledger reads and counts their S3 requests (a botocore ``before-send`` hook)
against the full scan every one of them did before the live index (``authority.read`` of
the whole ledger + ``overview``), and status without a summary (the version folders), in
the same run, with ratios. Targets at 5,000: status ≤ 1 s, status --version ≤ 0.5 s, a
deploy's reads ≤ its version's events + 5 requests.

    python bench/ledger_bench.py [--sizes 100,1000,5000] [--scan-up-to 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ledger_seed import JOURNEY, seed, version

from vault_actions import cli, config
from vault_actions.context import RunContext
from vault_actions.demo.emulator import EmbeddedAws
from vault_actions.integrations import aws
from vault_actions.store.ledger import EVENTS, Ledger

VAULT_YML = {
    "vault": {"bucket": "", "region": "us-east-1"},
    "services": [{"name": "api"}],
    "environments": [
        {"name": "dev", "functions": {"api": "api-dev"}},
        {"name": "qa", "functions": {"api": "api-qa"}},
        {"name": "uat", "functions": {"api": "api-uat"}},
        {"name": "prod", "functions": {"api": "api-prod"}},
        {"name": "dr", "mirror-of": "prod", "region": "us-west-2", "bucket": "bench-dr",
         "functions": {"api": "api-dr"}},
    ],
    "ledger": {"allow-local": [*EVENTS, "summary"], "repository": "acme/shop"},
}


class Counter:
    """S3 requests of every client ``aws.client`` makes."""

    def __init__(self) -> None:
        self.count = 0
        made = aws.client

        def client(service: str, *args: Any, **kwargs: Any) -> Any:
            found = made(service, *args, **kwargs)
            found.meta.events.register("before-send.s3.*", self._hit)
            return found

        aws.client = client

    def _hit(self, **_: Any) -> None:
        self.count += 1


def measure(counter: Counter, work: Callable[[], Any]) -> tuple[float, int]:
    counter.count = 0
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        work()
    return time.perf_counter() - start, counter.count


def commands(path: str, cfg: config.Config, releases: int) -> dict[str, Callable[[], Any]]:
    from vault_actions.deliver import dr
    from vault_actions.promotion import authority
    from vault_actions.promotion.live import Reader

    def ledger() -> Ledger:
        return Ledger(aws.client("s3", "us-east-1"), cfg.vault.bucket)

    newest, middle = version(releases), version(releases // 2)  # newest: recorded since
    return {
        "status's reads without a summary (the folders)": lambda: Reader(cfg, ledger()).recent(
            20),
        "status (default limit 20)": lambda: cli.main(["status", "--config", path, "--json"]),
        f"status --version {middle}": lambda: cli.main(
            ["status", "--config", path, "--json", "--version", middle]),
        "graveyard (default 20)": lambda: cli.main(
            ["graveyard", "--config", path, "--format", "json"]),
        "deploy's ledger reads": lambda: authority.read(cfg, ledger(), newest),
        "smoke's require-live": lambda: require_live(Reader(cfg, ledger()), newest, "prod"),
        "dr-sync's plan": lambda: dr.plan(cfg, cfg.environment("dr"),
                                          Reader(cfg, ledger()), None),
        "the record job's summary (extends the newest)": lambda: Reader(
            cfg, ledger()).summarise(CONTEXT),
    }


CONTEXT = RunContext(actor="bench", repository="acme/shop", run_id="1",
                     run_url="https://github.com/acme/shop/actions/runs/1", sha="c0ffee",
                     server_url="https://github.com", api_url="https://api.github.com")


def since_summary(cfg: config.Config, book: Ledger, releases: int) -> float:
    """The record job's first summary (from every folder: there is none to extend), then
    one release recorded through the ledger (what the feed holds since); returns the
    summary's wall time."""
    from vault_actions.promotion.live import Reader

    start = time.perf_counter()
    Reader(cfg, book).summarise(CONTEXT)
    took = time.perf_counter() - start
    new = version(releases)
    for name, env in JOURNEY:
        book.record(new, name, env, CONTEXT)
    return took


def require_live(reader: Any, version: str, env: str) -> None:
    """What ``vault smoke`` reads before it tests: the version's journey and what is live."""
    from vault_actions.promotion.policy import check_live

    check_live(reader.journey(version), reader.live(env).version, env)


def full_scan(cfg: config.Config) -> Callable[[], Any]:
    """What each of those commands read before the index: every event, judged."""
    from vault_actions.promotion import authority
    from vault_actions.promotion.journey import overview

    return lambda: overview(cfg, authority.read(
        cfg, Ledger(aws.client("s3", "us-east-1"), cfg.vault.bucket)).events)


def listing_cost(s3: Any, bucket: str) -> str:
    """What one listing of one version's folder costs this S3 (the reads' unit of work):
    ListObjectVersions (what the reads use: first versions) against ListObjectsV2."""
    prefix = "ledger/v1.0.1/"
    costs = []
    for operation in ("list_object_versions", "list_objects_v2"):
        start = time.perf_counter()
        for _ in range(3):
            getattr(s3, operation)(Bucket=bucket, Prefix=prefix)
        costs.append(f"{operation} {(time.perf_counter() - start) / 3 * 1000:.0f} ms")
    return "one listing of one version's folder: " + ", ".join(costs)


def bench(size: int, counter: Counter, root: Path, *, scan: bool) -> list[str]:
    s3 = aws.client("s3", "us-east-1")
    bucket = f"bench-{size}-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=bucket)
    start = time.perf_counter()
    written = seed(Ledger(s3, bucket), size)
    seeded = time.perf_counter() - start
    raw = {**VAULT_YML, "vault": {"bucket": bucket, "region": "us-east-1"}}
    path = root / f"vault-{size}.yml"
    path.write_text(yaml.safe_dump(raw))
    cfg = config.load(path)
    scan_s, scan_n = measure(counter, full_scan(cfg)) if scan else (float("nan"), 0)
    first = since_summary(cfg, Ledger(s3, bucket), size)
    rows = [f"\n{size:,} releases × {len(JOURNEY)} events ({written:,} objects seeded in "
            f"{seeded:.1f} s); full scan (the old path): "
            + (f"{scan_s:.2f} s, {scan_n:,} requests" if scan else "not run (--scan-up-to)"),
            f"the first summary (from every folder, as reindex): {first:.2f} s; then one "
            "release recorded",
            listing_cost(s3, bucket),
            "| command | requests | wall | scan ÷ it (time) | scan ÷ it (requests) |",
            "|---|---:|---:|---:|---:|"]
    for name, work in commands(str(path), cfg, size).items():
        wall, count = measure(counter, work)
        rows.append(f"| {name} | {count} | {wall:.3f} s | {scan_s / wall:.0f}× "
                    f"| {scan_n / max(count, 1):.0f}× |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--scan-up-to", type=int, default=1000, metavar="N",
                        help="run the full scan only up to N releases (default: 1000)")
    args = parser.parse_args()
    counter = Counter()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedAws(Path(tmp) / "moto.log") as moto:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_ENDPOINT_URL": moto.url}.items():
            os.environ[key] = value
        print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        for size in (int(s) for s in args.sizes.split(",")):
            rows = bench(size, counter, Path(tmp), scan=size <= args.scan_up_to)
            print("\n".join(rows), flush=True)
        print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
