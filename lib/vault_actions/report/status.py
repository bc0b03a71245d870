"""Journeys rendered for people: status text and step-summary tables.

Pure functions over ledger data, no I/O. Every user-supplied string (reasons, actors,
details) is escaped for where it lands: a Markdown table cell, a terminal. The release
graveyard (Mermaid, audit table) is ``report.graveyard``; it renders the same ``Stage``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from vault_actions.config import Config
from vault_actions.promotion.authority import Assessment
from vault_actions.promotion.journey import Journey, Lag
from vault_actions.store.ledger import Event
from vault_actions.text import markdown_cell, plain, plural

DEFAULT_LIMIT = 20  # versions status and the graveyard show unless told
STATE_OF_FATAL = {"smoke_failed": "failed", "rejected": "rejected", "cancelled": "cancelled",
                  "withdrawn": "withdrawn"}
STATE_OF_PROGRESS = {
    "traffic_shifted": "shifting",
    "deployed": "deployed",
    "smoke_passed": "passed",
    "deploy_failed": "deploy_failed",
    "rolled_back": "rolled_back",
    "dr_synced": "synced",
}
def link(url: str | None, text: str) -> str:
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return markdown_cell(url or "")
    return f"[{text}]({quote(url, safe=':/?=&%#@+~.,-_')})"


@dataclass(frozen=True)
class Stage:
    """Where a version stands in one environment, and the event that says so.

    ``state`` is one of pending, approved, shifting (a rollout step), deployed, passed,
    deploy_failed, rolled_back, synced (DR), or the fatal failed, rejected, cancelled,
    withdrawn (an emergency rollback). ``flags`` say what people must notice: an emergency
    rollback, a freeze overridden, how much traffic a rollout step has.
    """

    environment: str
    state: str
    event: Event | None
    approval: Event | None
    flags: tuple[str, ...] = ()

    @property
    def reached(self) -> bool:
        """False when nothing happened to the version in this environment."""
        return self.state != "pending"

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "environment": self.environment,
            "state": self.state,
            "at": self.event.at if self.event else None,
            "by": self.event.who if self.event else None,
            "reason": self.event.reason if self.event else None,
            "run_url": self.event.run_url if self.event else None,
            "approved_by": self.approval.who if self.approval else None,
            "approved_at": self.approval.at if self.approval else None,
            "local": bool(self.event and self.event.local)
            or bool(self.approval and self.approval.local),
            "flags": list(self.flags),
        }


def stage(journey: Journey, environment: str) -> Stage:
    """The version's state in ``environment``: a death there wins, else the latest step."""
    events = journey.in_environment(environment)
    approval = next((e for e in reversed(events) if e.event == "approved"), None)
    fatal = next((e for e in events if e.fatal), None)
    if fatal is not None:
        return Stage(environment, STATE_OF_FATAL[fatal.event], fatal, approval,
                     _flags(events, fatal))
    progress = [e for e in events if e.event in STATE_OF_PROGRESS]
    if progress:
        return Stage(environment, STATE_OF_PROGRESS[progress[-1].event], progress[-1], approval,
                     _flags(events, progress[-1]))
    if approval is not None:
        return Stage(environment, "approved", approval, approval)
    return Stage(environment, "pending", None, None)


def _flags(events: Sequence[Event], current: Event) -> tuple[str, ...]:
    """What the stage's events say that a state cannot: emergency, freeze, traffic."""
    flags = [f"⚠️ freeze {e.details.get('window')!s} overridden by {e.who}: {e.reason}"
             for e in events if e.event == "freeze_overridden"]
    if current.event == "deployed" and current.details.get("emergency"):
        flags.insert(0, f"🚨 emergency rollback from v{current.details.get('rollback_from')!s}")
    if current.event == "traffic_shifted":
        flags.insert(0, f"{current.details.get('weight')!s}% of traffic on this version")
    return tuple(flags)


def track(cfg: Config, journeys: Iterable[Journey] = ()) -> list[str]:
    """Environment names in display order: promotion order, mirrors, then any unknown."""
    names = [e.name for e in (*cfg.promotion_order, *cfg.mirrors)]
    for journey in journeys:
        names += [
            e.environment
            for e in journey.events
            if e.environment is not None and e.environment not in names
        ]
    return list(dict.fromkeys(names))


def live_in(journey: Journey, live: Mapping[str, str]) -> list[str]:
    """The environments where this version is live."""
    return [env for env, version in live.items() if version == journey.version]


def outcome(cfg: Config, journey: Journey) -> str:
    """``Died in QA``, ``Cancelled``, ``Success``, ``Rolled back in PROD`` or ``In progress``."""
    death = journey.death
    if death is not None:
        return f"Died in {death.environment.upper()}" if death.environment else "Cancelled"
    final = cfg.promotion_order[-1].name if cfg.promotion_order else None
    if final is None or journey.last("deployed", final) is None:
        return "In progress"
    return "Success" if journey.standing(final) else f"Rolled back in {final.upper()}"


def version_json(
    cfg: Config, journey: Journey, live: Mapping[str, str], attempt: int
) -> dict[str, Any]:
    """One version's journey as plain data."""
    here = live_in(journey, live)
    death = journey.death
    return {
        "version": journey.version,
        "attempt": attempt,
        "state": "dead" if death else ("live" if here else "alive"),
        "outcome": outcome(cfg, journey),
        "died_in": death.environment if death else None,
        "death": death.to_json() if death else None,
        "live_in": here,
        "environments": [
            s.to_json()
            for s in (stage(journey, env) for env in track(cfg, [journey]))
            if s.reached
        ],
        "events": [e.to_json() for e in journey.events],
    }


def status_data(
    cfg: Config,
    journeys: Mapping[str, Journey],
    live: Mapping[str, str],
    lags: Sequence[Lag],
    attempts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The structured status: every journey, what is live where, DR lag."""
    numbers = attempts or {v: n for n, v in enumerate(journeys, 1)}
    return {
        "versions": [version_json(cfg, j, live, numbers[v]) for v, j in journeys.items()],
        "live": dict(live),
        "dr_lag": [lag.to_json() for lag in lags],
    }


def _stage_line(st: Stage, width: int) -> str:
    event = st.event
    line = f"  {st.environment:<{width}}  {st.state:<13}"
    if event is not None:
        line += f"  {event.when}  {plain(event.shown_who)}"
        if event.reason:
            line += f"  ({plain(event.reason)})"
    if st.approval is not None and st.approval is not event:
        line += f"  · approved by {plain(st.approval.shown_who)} at {st.approval.when}"
    line += "".join(f"  · {plain(flag)}" for flag in st.flags)
    return line.rstrip()


def _summary(journey: Journey, live: Mapping[str, str]) -> str:
    if journey.death is not None:
        return f"🪦 dead: {journey.death.describe()}"
    here = live_in(journey, live)
    return "✅ alive" + (f", live in {', '.join(here)}" if here else "")


def status_text(
    cfg: Config,
    journeys: Mapping[str, Journey],
    live: Mapping[str, str],
    lags: Sequence[Lag],
) -> str:
    """The journeys for a terminal: one block per version, then what is live and DR lag."""
    names = track(cfg, journeys.values())
    width = max(len(n) for n in names) if names else 0
    blocks: list[str] = []
    for journey in journeys.values():
        stages = [stage(journey, env) for env in names]
        lines = [f"v{journey.version}  {plain(_summary(journey, live))}"]
        lines += [_stage_line(s, width) for s in stages if s.reached]
        blocks.append("\n".join(lines))
    where = ", ".join(f"{env} v{version}" for env, version in live.items()) or "nothing"
    blocks.append(f"live: {where}")
    blocks += [f"⚠️  {lag.describe()}" for lag in lags]
    return "\n\n".join(blocks)


def journey_table(cfg: Config, journey: Journey, live: Mapping[str, str]) -> str:
    """A Markdown table of one version's journey, for a step summary."""
    rows = [
        f"### v{journey.version}: {markdown_cell(_summary(journey, live))}",
        "",
        "| Environment | State | When | Who | Note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for st in (stage(journey, env) for env in track(cfg, [journey])):
        if not st.reached:
            continue
        event = st.event
        notes = [f"reason: {event.reason}"] if event and event.reason else []
        if st.approval is not None and st.approval is not event:
            notes.append(f"approved by {st.approval.shown_who} at {st.approval.when}")
        notes += st.flags
        note = "; ".join(notes)
        rows.append(
            f"| {st.environment} | {st.state} | {event.when if event else ''} "
            f"| {markdown_cell(event.shown_who) if event else ''} | {markdown_cell(note)} |"
        )
    return "\n".join(rows) + "\n"


def distrust_text(assessment: Assessment) -> list[str]:
    """What does not count, for people: unverified events and skipped objects (or nothing)."""
    blocks = []
    if assessment.refused:
        lines = [f"⚠️  not counted: {plural(len(assessment.refused), 'event')} "
                 "(`vault verify` explains each)"]
        lines += [f"  v{j.event.version} {plain(j.event.describe())}: {plain(j.problem or '')}"
                  for j in assessment.refused]
        blocks.append("\n".join(lines))
    if assessment.skipped:
        lines = [f"⚠️  skipped: {plural(len(assessment.skipped), 'object')} under the "
                 "ledger that are not events"]
        lines += [f"  {plain(s.key)}: {plain(s.problem)}" for s in assessment.skipped]
        blocks.append("\n".join(lines))
    return blocks
