"""The ledger summary: what status and the graveyard show, in one object.

The record job writes one after every run (``report.verdicts.conclude``) and ``vault
ledger reindex`` one from the folders: put-once into the feed (``store.feed``), it holds
every version's name (newest first), the events of the newest ``KEEP`` versions and of
every version live somewhere (each event's stored JSON with its own proof), and its own
proof (its writer's OIDC token bound to its digest, as an event's).

A reader believes a summary only when its bytes match the digest its name holds and its
proof shows the record workflow wrote it (``authority.summary_problem``), and only as of
its time: every event written since is a newer feed entry, read from the event's own key
and judged like any event; each copied event is judged again. A summary that does not
hold is walked past; with none in the ``MONTHS`` newest months of the feed, or more than
``MAX_SINCE`` entries since, the reader reads the version folders as before. Decisions
never read a summary: deploy, smoke, approve and dr-sync read the version's own folder
and the live index.

What a summary cannot show is that it left nothing out: a record job that omits an event
hides it from status and the graveyard until the next summary, never from a decision;
``vault ledger check`` compares the newest summary with the events.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import semver

from vault_actions.errors import AttestationError, VaultError, VersionError
from vault_actions.promotion import authority
from vault_actions.store.feed import EVENT, SUMMARY, Entry
from vault_actions.store.ledger import Event, Ledger, Scan, Skipped, may_write
from vault_actions.store.manifest import validate_version

if TYPE_CHECKING:
    from vault_actions.config import Config
    from vault_actions.context import RunContext
    from vault_actions.store.attestation import Verifier

log = logging.getLogger(__name__)

SCHEMA = 1
KEEP = 40       # versions whose events a summary holds (twice what status shows by default)
MONTHS = 3      # feed months walked for a summary that holds
MAX_SINCE = 500  # feed entries since a summary, beyond which the folders are read instead
MARGIN = timedelta(minutes=10)  # runners' clocks may differ: entries this much older are read


@dataclass(frozen=True)
class State:
    """The ledger now: the newest summary that holds, and the events written since."""

    versions: list[str]        # every version, newest (semver) first
    held: dict[str, Scan]      # versions whose every event is here, with their events
    since: list[Event]         # every event written since the summary (of any version)
    summary: str               # the key of that summary
    as_of: datetime            # when this state was read (a summary of it is as of then)
    doubts: list[str] = field(default_factory=list)


def current(cfg: Config, ledger: Ledger, verifier: Verifier,
            now: datetime | None = None) -> State | None:
    """The state from the newest summary that holds and the feed since (None: there is
    none to believe, or too much was written since; read the folders)."""
    now = now or datetime.now(UTC)
    walk = _Walk(cfg, ledger, verifier)
    for folder in ledger.feed.months(now, MONTHS):
        if walk.found is not None and folder < ledger.feed.months(walk.oldest, 1)[0]:
            break
        for key in ledger.feed.listed(folder):
            if not walk.take(key):
                break
        if walk.too_many:
            log.info("ledger summary: over %d events since the newest one; reading the "
                     "folders instead", MAX_SINCE)
            return None
    if walk.found is None:
        return None
    return _state(ledger, walk.found, walk.since, now, walk.doubts)


class _Walk:
    """The feed walked newest first: entries up to the newest summary that holds, and on
    to ``MARGIN`` before its time."""

    def __init__(self, cfg: Config, ledger: Ledger, verifier: Verifier) -> None:
        self.cfg, self.ledger, self.verifier = cfg, ledger, verifier
        self.found: tuple[str, dict[str, Any]] | None = None
        self.oldest = datetime.max.replace(tzinfo=UTC)  # read entries back to this
        self.since: list[Entry] = []
        self.doubts: list[str] = []
        self.too_many = False

    def take(self, key: str) -> bool:
        """Walk past one key; False once the walk is done."""
        entry = self.ledger.feed.parse(key)
        if entry is None:
            return True
        if self.found is not None and entry.moment < self.oldest:
            return False
        if self.found is None and entry.kind == SUMMARY:
            raw, doubt = believe(self.cfg, self.ledger, self.verifier, entry)
            if raw is None:
                self.doubts.append(f"{self.ledger.uri(key)} {doubt}")
                log.warning("ledger summary: %s is not believed: %s", self.ledger.uri(key),
                            doubt)
            else:
                self.found, self.oldest = (key, raw), _time(raw["as_of"]) - MARGIN
            return True
        if entry.kind == EVENT:
            self.since.append(entry)
        self.too_many = self.found is None and len(self.since) > MAX_SINCE
        return not self.too_many


def believe(cfg: Config, ledger: Ledger, verifier: Verifier,
            entry: Entry) -> tuple[dict[str, Any] | None, str | None]:
    """A summary's JSON, or why it is not believed."""
    try:
        raw = _parsed(ledger.feed.body(entry.key), entry.digest)
        problem = authority.summary_problem(cfg, verifier.writer(raw))
    except ValueError as exc:
        return None, str(exc)
    except AttestationError as exc:
        return None, exc.message
    return (None, problem) if problem else (raw, None)


def _parsed(body: bytes, digest: str) -> dict[str, Any]:
    """A summary's JSON; ValueError saying why ``body`` is not one."""
    if hashlib.sha256(body).hexdigest() != digest:
        raise ValueError("does not hold the bytes whose SHA-256 its name holds")
    raw = json.loads(body)
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise ValueError("is not a ledger summary")
    try:
        _time(raw["as_of"])
        for version in (*raw["versions"], *raw["held"]):
            validate_version(version)
    except (KeyError, TypeError, VersionError) as exc:
        raise ValueError(f"is not a ledger summary ({exc})") from None
    return raw


def _state(ledger: Ledger, found: tuple[str, dict[str, Any]], entries: list[Entry],
           now: datetime, doubts: list[str]) -> State:
    key, raw = found
    held: dict[str, Scan] = {v: Scan([], []) for v in raw["held"]}
    copied = _copies(ledger, raw, held)
    keys = []
    for entry in entries:
        try:
            name = ledger.key_named(entry.version, entry.writer, entry.event_id, entry.digest)
        except VersionError:
            continue
        if name not in copied:
            keys.append(name)
    read = ledger.read_keys(keys)
    for item in read.skipped:
        doubts.append(f"a feed entry names {item.key}: {item.problem}")
    built = {e.version for e in read.events if e.event == "built"}
    for event in read.events:
        if event.version in built and event.version not in held:
            held[event.version] = Scan([], [])
        if event.version in held:
            held[event.version].events.append(event)
    versions = sorted({*raw["versions"], *(e.version for e in read.events)},
                      key=semver.Version.parse, reverse=True)
    return State(versions, held, read.events, key, now, doubts)


def _copies(ledger: Ledger, raw: dict[str, Any], held: dict[str, Scan]) -> set[str]:
    """File the summary's copied events under their versions; returns their keys."""
    keys = set()
    for item in raw.get("events", ()):
        try:
            event = Event.from_json(item, "a summary's event")
        except VaultError:
            continue
        if event.version in held and may_write(event.writer, event.event, event.environment):
            held[event.version].events.append(event)
            keys.add(ledger.event_key(event))
    for item in raw.get("skipped", ()):
        version = str(item.get("version", ""))
        if version in held:
            held[version].skipped.append(Skipped(str(item.get("key")), str(item.get("problem"))))
    return keys


def write(ledger: Ledger, ctx: RunContext, versions: list[str], scans: dict[str, Scan], *,
          as_of: datetime, now: datetime | None = None) -> str:
    """Put a summary of ``scans`` (each version's events, all of them) put-once into the
    feed, proven by this process's attestor; returns its key."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    body: dict[str, Any] = {
        "schema": SCHEMA, "kind": "summary", "id": uuid.uuid4().hex,
        "at": now.isoformat(timespec="microseconds"),
        "as_of": as_of.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": ctx.actor, "run_url": ctx.run_url, "commit": ctx.sha,
        "versions": versions, "held": list(scans),
        "events": [e.to_json() for scan in scans.values() for e in scan.events],
        "skipped": [{**s.to_json(), "version": v} for v, scan in scans.items()
                    for s in scan.skipped],
    }
    body["proof"] = ledger.attestor.prove(body)
    data = json.dumps(body, sort_keys=True).encode()
    key = ledger.feed.summary_key(now, body["id"], hashlib.sha256(data).hexdigest())
    ledger.feed.put(key, data)
    log.info("ledger: summary of %d versions written to %s", len(scans), ledger.uri(key))
    return key


@dataclass(frozen=True)
class Comparison:
    """The newest summary that holds against the events: what it left out (events of
    the versions it holds, written before it) and what it holds that is not there."""

    key: str
    omitted: list[str]
    phantom: list[str]

    @property
    def ok(self) -> bool:
        """True when the summary holds exactly its versions' events."""
        return not self.omitted and not self.phantom

    def describe(self) -> str:
        """``the newest summary … holds its versions' events`` or what it does not."""
        if self.ok:
            return f"the newest summary ({self.key}) holds exactly its versions' events"
        return (f"the newest summary ({self.key}) leaves out {len(self.omitted)} event(s) "
                f"and holds {len(self.phantom)} that are not in the ledger; `vault ledger "
                "reindex` writes a new one (check who wrote this one)")

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"key": self.key, "ok": self.ok, "omitted": self.omitted,
                "phantom": self.phantom}


def compare(cfg: Config, ledger: Ledger, assessment: authority.Assessment,
            verifier: Verifier, now: datetime | None = None) -> Comparison | None:
    """The newest summary that holds, against ``assessment`` (the whole ledger, judged);
    None when there is none."""
    for entry in _summaries(ledger, now or datetime.now(UTC)):
        raw, _ = believe(cfg, ledger, verifier, entry)
        if raw is None:
            continue
        held: dict[str, Scan] = {v: Scan([], []) for v in raw["held"]}
        copied = _copies(ledger, raw, held)
        before = _time(raw["as_of"]) - MARGIN
        actual = {ledger.event_key(j.event): j.event for j in assessment.judged
                  if j.event.version in held}
        omitted = sorted(k for k, e in actual.items() if e.time < before and k not in copied)
        return Comparison(entry.key, omitted, sorted(copied - set(actual)))
    return None


def _summaries(ledger: Ledger, now: datetime) -> Iterator[Entry]:
    """The summaries in the feed's ``MONTHS`` newest months, newest first."""
    for folder in ledger.feed.months(now, MONTHS):
        for key in ledger.feed.listed(folder):
            entry = ledger.feed.parse(key)
            if entry is not None and entry.kind == SUMMARY:
                yield entry


def unique(versions: Iterable[str]) -> list[str]:
    """``versions`` once each, in order."""
    return list(dict.fromkeys(versions))


def _time(raw: Any) -> datetime:
    moment = datetime.fromisoformat(str(raw))
    if moment.tzinfo is None:
        raise ValueError(f"{raw!r} has no time zone")
    return moment
