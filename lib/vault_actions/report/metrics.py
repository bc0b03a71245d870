"""Delivery metrics (DORA's four keys) computed from the same evidence auditors see.

- deployment frequency: changes that reached the environment in the period, per day and week;
- lead time for changes: from a change's first (oldest) commit to its deploy there;
- change failure rate: changes that died there or after (a failed smoke test, a rejection, a
  cancelled run) or were rolled back, over all changes;
- time to restore: from a failed change's deploy to its rollback, or else to the arrival
  there of a version that did not fail.

Medians, as DORA reports them; every per-change figure is listed beside them.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vault_actions.promotion.journey import Journey
from vault_actions.report.evidence import ARRIVALS, Change, Evidence
from vault_actions.report.period import Period
from vault_actions.store.ledger import Event, order

DAY = 86400.0


@dataclass(frozen=True)
class Timed:
    """One change's figure in seconds (None: unknown, or not restored yet)."""

    version: str
    seconds: float | None
    note: str = ""


@dataclass(frozen=True)
class Metrics:
    """The four keys for one environment over ``since``..``until``."""

    environment: str
    since: datetime
    until: datetime
    deployments: tuple[str, ...]
    lead_times: tuple[Timed, ...]
    failures: tuple[str, ...]
    restores: tuple[Timed, ...]

    @property
    def days(self) -> float:
        """Length of the period in days."""
        return (self.until - self.since).total_seconds() / DAY

    @property
    def per_day(self) -> float:
        """Deployments per day."""
        return len(self.deployments) / self.days if self.days > 0 else 0.0

    @property
    def failure_rate(self) -> float | None:
        """Failed changes over changes (None without changes)."""
        return len(self.failures) / len(self.deployments) if self.deployments else None

    @property
    def lead_time(self) -> float | None:
        """Median lead time in seconds (None when no change's commits are known)."""
        return _median(self.lead_times)

    @property
    def time_to_restore(self) -> float | None:
        """Median time to restore in seconds (None without a restored failure)."""
        return _median(self.restores)

    def to_json(self) -> dict[str, Any]:
        """Plain data; durations in seconds."""
        def timed(items: Sequence[Timed]) -> list[dict[str, Any]]:
            return [{"version": t.version, "seconds": t.seconds, "note": t.note} for t in items]

        return {
            "environment": self.environment,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "days": round(self.days, 6),
            "deployment_frequency": {
                "deployments": len(self.deployments),
                "per_day": round(self.per_day, 6),
                "per_week": round(self.per_day * 7, 6),
                "versions": list(self.deployments),
            },
            "lead_time": {"median_seconds": self.lead_time, "changes": timed(self.lead_times)},
            "change_failure_rate": {
                "rate": self.failure_rate,
                "failed": len(self.failures),
                "versions": list(self.failures),
            },
            "time_to_restore": {
                "median_seconds": self.time_to_restore,
                "failures": timed(self.restores),
            },
        }

    def rows(self) -> list[tuple[str, str, str]]:
        """(metric, value, basis) for tables."""
        rate = self.failure_rate
        return [
            ("Deployment frequency", f"{self.per_day * 7:.2f} per week",
             f"{len(self.deployments)} in {self.days:.1f} days"),
            ("Lead time for changes", duration(self.lead_time),
             f"median of {sum(t.seconds is not None for t in self.lead_times)} changes, "
             "first commit to deploy"),
            ("Change failure rate", "—" if rate is None else f"{rate:.0%}",
             f"{len(self.failures)} of {len(self.deployments)} changes"
             + (f" ({', '.join('v' + v for v in self.failures)})" if self.failures else "")),
            ("Time to restore", duration(self.time_to_restore),
             f"median of {sum(t.seconds is not None for t in self.restores)} restored failures"),
        ]

    def text(self) -> str:
        """For a terminal."""
        head = (f"{self.environment}: {self.since:%Y-%m-%d %H:%M} – "
                f"{self.until:%Y-%m-%d %H:%M} UTC")
        width = max(len(r[0]) for r in self.rows())
        lines = [head] + [f"  {m:<{width}}  {v:<14}  {b}" for m, v, b in self.rows()]
        return "\n".join(lines)

    def markdown(self) -> str:
        """For a step summary."""
        rows = [f"### Delivery metrics ({self.environment}, {self.since:%Y-%m-%d} – "
                f"{self.until:%Y-%m-%d})", "", "| Metric | Value | Basis |", "| --- | --- | --- |"]
        rows += [f"| {m} | {v} | {b} |" for m, v, b in self.rows()]
        return "\n".join(rows) + "\n"


def _median(items: Iterable[Timed]) -> float | None:
    known = [t.seconds for t in items if t.seconds is not None]
    return statistics.median(known) if known else None


def duration(seconds: float | None) -> str:
    """``2 d 3 h``, ``1 h 12 min``, ``4 min 5 s``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def compute(
    evidence: Evidence, journeys: Mapping[str, Journey], period: Period, now: datetime
) -> Metrics:
    """The four keys for ``evidence``'s environment; an open period runs from the ledger's
    first event to ``now``."""
    events = sorted((e for j in journeys.values() for e in j.events), key=order)
    since = period.since or (events[0].time if events else now)
    until = period.until or now
    changes = evidence.changes
    failed = [c for c in changes if _failed(c, journeys[c.version])]
    env = evidence.environment
    arrivals = [e for e in events if e.environment == env and e.event in ARRIVALS]
    return Metrics(
        env, since, until,
        tuple(c.version for c in changes),
        tuple(_lead_time(c) for c in changes),
        tuple(c.version for c in failed),
        tuple(_restore(c, arrivals, {f.version for f in failed}) for c in failed),
    )


def _failed(change: Change, journey: Journey) -> bool:
    """Died after it reached the environment (there or further on), or rolled back there."""
    death = journey.death
    died = death is not None and order(death) > order(change.deployed)
    return died or change.rolled_back is not None


def _lead_time(change: Change) -> Timed:
    times = [datetime.fromisoformat(c.at) for c in change.commits.commits if c.at] \
        if change.commits else []
    if not times:
        return Timed(change.version, None, "commits not known")
    first = min(times)
    return Timed(change.version, (change.deployed.time - first).total_seconds(),
                 f"first commit {first.isoformat()}")


def _restore(change: Change, arrivals: Sequence[Event], failed: set[str]) -> Timed:
    """Until the change was rolled back, else until a version that did not fail arrived."""
    start = change.deployed.time
    if change.rolled_back is not None:
        return Timed(change.version, (change.rolled_back.time - start).total_seconds(),
                     "rolled back")
    later = next((e for e in arrivals if e.version not in failed and e.time > start), None)
    if later is None:
        return Timed(change.version, None, "not restored yet")
    return Timed(change.version, (later.time - start).total_seconds(),
                 f"v{later.version} deployed")


def within(moment: datetime, days: float) -> Period:
    """The ``days`` before ``moment`` (for a step summary's default window)."""
    return Period(moment - timedelta(days=days), moment)
