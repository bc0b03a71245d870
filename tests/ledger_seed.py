"""A seeded ledger for request-count tests and bench/ledger_bench.py: releases × 8 events
written straight to S3 in parallel (pre-made bodies with a local proof, the exact bytes
``Ledger.record`` writes, their live pointers and feed entries unless ``index=False``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from vault_actions.store.ledger import Event, Ledger

START = datetime(2026, 1, 1, tzinfo=UTC)
PROOF = {"kind": "local", "identity": "arn:aws:iam::123456789012:user/seed"}
JOURNEY = (
    ("built", None), ("deployed", "dev"), ("smoke_passed", "dev"), ("deployed", "qa"),
    ("smoke_passed", "qa"), ("deployed", "uat"), ("deployed", "prod"), ("dr_synced", "dr"),
)


def version(n: int, major: int = 1) -> str:
    """The n-th release (0-based): 1.0.0, 1.0.1, … 1.1.0 after 1,000."""
    return f"{major}.{n // 1000}.{n % 1000}"


def events(releases: int, major: int = 1) -> Iterator[Event]:
    """Each release's 8 events, one minute apart, releases one after another."""
    at = START
    for n in range(releases):
        for name, env in JOURNEY:
            at += timedelta(minutes=1)
            yield Event(
                id=f"{at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}", version=version(n, major), event=name,
                environment=env, at=at.isoformat(timespec="microseconds"), actor="seed",
                commit="c0ffee", run_url="https://github.com/acme/shop/actions/runs/1",
                details={}, proof=PROOF, writer=env or "build",
            )


def seed(ledger: Ledger, releases: int, *, index: bool = True, workers: int = 32,
         major: int = 1) -> int:
    """Write ``releases`` × 8 events (and their pointers and feed entries); returns the
    objects written."""
    writes: list[tuple[str, bytes]] = []
    for event in events(releases, major):
        body = ledger.body(event)
        writes.append((ledger.key(event.version, event.writer, event.id, body), body))
        pointer = ledger.pointer_key(event)
        if index and pointer is not None:
            writes.append((pointer, body))
        if index:
            writes.append((ledger.entry_key(event), b""))

    def put(item: tuple[str, bytes]) -> Any:
        return ledger.s3.put_object(Bucket=ledger.bucket, Key=item[0], Body=item[1])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(put, writes))
    return len(writes)


class Requests:
    """Counts the S3 requests a client sends (a botocore ``before-send`` hook)."""

    def __init__(self, s3: Any) -> None:
        self.calls: list[str] = []
        s3.meta.events.register("before-send.s3.*", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        self.calls.append(f"{request.method} {request.url}")

    def reset(self) -> int:
        """The count so far, then start again."""
        count, self.calls = len(self.calls), []
        return count
