"""The ledger summary: what status and the graveyard show, in one object.

The record job writes one after every run (``report.verdicts.conclude``), extending the
newest that holds with the feed since (:func:`extended`); ``vault ledger reindex`` (or a
record job with none to extend) writes one from every folder. Put-once into the feed
(``store.feed``), it holds every version's name (newest first), the events of the newest
``KEEP`` versions and of every version live somewhere (each event's stored JSON with its
own proof), what beside the folders is not an event, the digest of each catalogue block
(``store.catalogue``: every version's event keys), and its own proof (its writer's OIDC
token bound to its digest, as an event's).

A reader believes a summary only when its bytes match the digest its name holds, its
name's time and id are its own (a copy under a newer name is not it), and its proof
shows the record workflow wrote it (``authority.summary_problem``); and only as of its
time: every event written since is a newer feed entry, read from the event's own key,
checked to be of the entry's time, and judged like any event; each copied event is
judged again. A summary that does not hold is walked past; with none in the ``MONTHS``
newest months of the feed, or more than ``MAX_SINCE`` entries before one, the reader
reads the version folders as before. Decisions never read a summary: deploy, smoke,
approve and dr-sync read the version's own folder and the live index.

What a summary cannot show is that it left nothing out: a record job that omits an event
(or an event whose feed entry was never written) is hidden from status and the
graveyard until a later record job reads its folder again (kept versions every run, the
others a page at a time) or a reindex, never from a decision; ``vault ledger check``
compares the newest summary and its catalogue with the events.

One piece (over 400 lines): how a summary is written, extended, believed and checked is
one contract over one JSON shape; split, each part would restate the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vault_actions.errors import AttestationError, VaultError, VersionError
from vault_actions.promotion import authority
from vault_actions.promotion.journey import live_versions
from vault_actions.store.attestation import MAX_SKEW_SECONDS
from vault_actions.store.catalogue import Names, block, names
from vault_actions.store.feed import EVENT, SUMMARY, Entry
from vault_actions.store.ledger import Event, Ledger, Scan, Skipped, may_write
from vault_actions.store.manifest import precedence, validate_version

if TYPE_CHECKING:
    from vault_actions.config import Config
    from vault_actions.context import RunContext
    from vault_actions.store.attestation import Verifier

log = logging.getLogger(__name__)

SCHEMA = 1
KEEP = 40       # versions whose events a summary holds (twice what status shows by default)
MONTHS = 3      # feed months walked for a summary that holds
MAX_SINCE = 500  # feed entries walked before a summary, beyond which the folders are read
# A proof allows its token and its event MAX_SKEW_SECONDS apart; the event's runner and the
# record job's may each be that far off: entries this much older than a summary are read.
MARGIN = timedelta(seconds=2 * MAX_SKEW_SECONDS)
LATEST = timedelta(hours=1)  # a summary is written within this of the time it is as of


@dataclass(frozen=True)
class State:
    """The ledger now: the newest summary that holds, and the events written since."""

    versions: list[str]        # every version, newest (semver) first
    held: dict[str, Scan]      # versions whose every event is here, with their events
    since: list[Event]         # every event written since the summary (of any version)
    summary: str               # the key of that summary
    as_of: datetime            # when this state was read
    doubts: list[Skipped] = field(default_factory=list)  # what in the feed was not believed
    strays: list[Skipped] = field(default_factory=list)  # the summary's: beside the folders
    summarised: frozenset[str] = frozenset()  # the versions the summary names
    catalogue: dict[str, str] = field(default_factory=dict)  # block -> its digest
    rebuilt: str = ""  # the last folder the summary's writer read again (Ledger.window)

    def block(self, ledger: Ledger, version: str) -> dict[str, Names] | None:
        """The catalogue block ``version`` lies in (None: none, or not believed)."""
        digest = self.catalogue.get(block(version))
        return ledger.catalogue.read(digest) if digest else None

    def read(self, ledger: Ledger, version: str) -> set[str]:
        """The keys of ``version``'s events read with the summary (held, or since)."""
        held = self.held.get(version, Scan([], [])).events
        return {ledger.event_key(e) for e in [*held, *self.since] if e.version == version}

    def keys(self, ledger: Ledger, version: str,
             content: Mapping[str, Names] | None) -> list[str] | None:
        """The key of every event of ``version``: those its catalogue block (``content``)
        names and those written since; None when that is not known (list its folder)."""
        since = self.read(ledger, version)
        if version in self.summarised:
            below = (content or {}).get(version)
            if below is None:
                return None
            return sorted({*ledger.named(version, below), *since})
        if any(e.event == "built" for e in self.since if e.version == version):
            return sorted(since)  # built since: every event of it is since
        return None


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
        self.doubts: list[Skipped] = []
        self.walked = 0  # entries walked before a summary that holds
        self.too_many = False

    def take(self, key: str) -> bool:
        """Walk past one key; False once the walk is done."""
        entry = self.ledger.feed.parse(key)
        if entry is None:
            return True
        if self.found is not None and entry.moment < self.oldest:
            return False
        self.walked += self.found is None
        if self.found is None and entry.kind == SUMMARY:
            raw, doubt = believe(self.cfg, self.ledger, self.verifier, entry)
            if raw is None:
                self.doubts.append(Skipped(key, f"a summary that is not believed: it {doubt}"))
                log.warning("ledger summary: %s is not believed: %s", self.ledger.uri(key),
                            doubt)
            else:
                self.found, self.oldest = (key, raw), _time(raw["as_of"]) - MARGIN
            return True
        if entry.kind == EVENT:
            self.since.append(entry)
        self.too_many = self.found is None and self.walked > MAX_SINCE
        return not self.too_many


def believe(cfg: Config, ledger: Ledger, verifier: Verifier,
            entry: Entry) -> tuple[dict[str, Any] | None, str | None]:
    """A summary's JSON, or why it is not believed."""
    try:
        raw = _parsed(ledger.feed.body(entry.key), entry)
        problem = authority.summary_problem(cfg, verifier.writer(raw))
    except ValueError as exc:
        return None, str(exc)
    except AttestationError as exc:
        return None, exc.message
    return (None, problem) if problem else (raw, None)


def _parsed(body: bytes, entry: Entry) -> dict[str, Any]:
    """The JSON of the summary ``entry`` names; ValueError saying why it is not one."""
    if hashlib.sha256(body).hexdigest() != entry.digest:
        raise ValueError("does not hold the bytes whose SHA-256 its name holds")
    raw = json.loads(body)
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise ValueError("is not a ledger summary")
    try:
        at, as_of = _time(raw["at"]), _time(raw["as_of"])
        for version in (*raw["versions"], *raw["held"]):
            validate_version(version)
        if not all(isinstance(d, str) for d in dict(raw.get("catalogue", {})).values()):
            raise TypeError("a catalogue block's digest is not text")
    except (KeyError, TypeError, ValueError, VersionError) as exc:
        raise ValueError(f"is not a ledger summary ({exc})") from None
    if (at, raw.get("id")) != (entry.moment, entry.event_id):
        raise ValueError(f"is the summary {raw.get('id')} of {raw['at']} under another name")
    if not as_of <= at <= as_of + LATEST:
        raise ValueError(f"was written at {raw['at']}, not soon after {raw['as_of']}")
    return raw


def _state(ledger: Ledger, found: tuple[str, dict[str, Any]], entries: list[Entry],
           now: datetime, doubts: list[Skipped]) -> State:
    key, raw = found
    held: dict[str, Scan] = {v: Scan([], []) for v in raw["held"]}
    copied = _copies(ledger, raw, held)
    named: dict[str, Entry] = {}
    for entry in entries:
        try:
            name = ledger.key_named(entry.version, entry.writer, entry.event_id, entry.digest)
        except VersionError:
            continue
        if name not in copied:
            named[name] = entry
    read = ledger.read_each(list(named))
    doubts += [Skipped(named[k].key, f"a feed entry that names {k}: {item.problem}")
               for k, item in read.items() if isinstance(item, Skipped)]
    since = []
    for key_, event in read.items():
        if isinstance(event, Skipped):
            continue
        if named[key_].moment != event.time:  # an old event named anew is not news
            doubts.append(Skipped(named[key_].key, f"a feed entry of another time than the "
                                  f"event it names ({key_}, of {event.at})"))
        elif ledger.event_key(event) not in copied:  # another copy of one held is not new
            since.append(event)
    for event in since:
        if event.event == "built" and event.version not in raw["versions"]:
            held.setdefault(event.version, Scan([], []))  # every event of it is since
    for event in since:
        if event.version in held:
            held[event.version].events.append(event)
    versions = sorted({*raw["versions"], *(e.version for e in since)},
                      key=precedence, reverse=True)
    strays = [Skipped(str(s.get("key")), str(s.get("problem"))) for s in raw.get("strays", ())]
    return State(versions, held, since, key, now, doubts, strays, frozenset(raw["versions"]),
                 dict(raw.get("catalogue", {})), str(raw.get("rebuilt", "")))


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


def catalogue(ledger: Ledger, versions: Mapping[str, Names]) -> dict[str, str]:
    """Put the catalogue blocks of ``versions`` (each one's names); block -> digest."""
    blocks: dict[str, dict[str, Names]] = {}
    for version, below in versions.items():
        blocks.setdefault(block(version), {})[version] = below
    return {name: ledger.catalogue.put(content) for name, content in sorted(blocks.items())}


def extended(ledger: Ledger, state: State) -> tuple[dict[str, str], str] | None:
    """The catalogue with the events since added and the folders of one listing page after
    the last ones read (``Ledger.window``) read again (a miss heals within one run per
    1,000 event keys); the blocks they touch are rewritten. Returns it and the last folder
    read; None when a block to extend is not believed, or the summary is from before
    catalogues."""
    if state.summarised and not state.catalogue:
        return None
    fresh, rebuilt = ledger.window(state.rebuilt)
    touched: dict[str, set[str]] = {}
    for version in [*(e.version for e in state.since), *fresh]:
        touched.setdefault(block(version), set()).add(version)
    found = dict(state.catalogue)
    for name, versions in sorted(touched.items()):
        content: dict[str, Names] = {}
        if name in state.catalogue:
            read = ledger.catalogue.read(state.catalogue[name])
            if read is None:
                return None
            content = read
        for version in versions:
            if version in fresh:  # as its folder holds it now, and what was read since
                below = fresh[version]
                keys = None if below is None else sorted(
                    {*ledger.named(version, below), *state.read(ledger, version)})
            else:
                keys = state.keys(ledger, version, content)
            content[version] = None if keys is None else names(ledger.folder(version), keys)
        found[name] = ledger.catalogue.put(content)
    return found, rebuilt


def write(ledger: Ledger, ctx: RunContext, versions: list[str], scans: dict[str, Scan], *,
          as_of: datetime, strays: Iterable[Skipped] = (),
          catalogue: Mapping[str, str] | None = None, rebuilt: str = "",
          now: datetime | None = None) -> str:
    """Put a summary of ``scans`` (each version's events) and the catalogue (block ->
    digest; ``rebuilt``: the last folder read again) put-once; returns its key."""
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
        "strays": [s.to_json() for s in strays],
        "catalogue": dict(catalogue or {}), "rebuilt": rebuilt,
    }
    body["proof"] = ledger.attestor.prove(body)
    data = json.dumps(body, sort_keys=True).encode()
    key = ledger.feed.summary_key(now, body["id"], hashlib.sha256(data).hexdigest())
    ledger.feed.put(key, data)
    log.info("ledger: summary of %d versions written to %s", len(scans), ledger.uri(key))
    return key


@dataclass(frozen=True)
class Comparison:
    """The newest summary that holds against the events written before it (less the
    clocks' margin): events of its versions it left out, events it holds that are not
    there, versions it does not name, live versions it does not hold, and event keys its
    catalogue leaves out of a version or names beyond the events."""

    key: str
    since: datetime  # events from then on need a feed entry: readers of it read them so
    omitted: list[str]
    phantom: list[str]
    unlisted: list[str]
    unheld: list[str]
    miscatalogued: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the summary says what the events said at its time."""
        return not (self.omitted or self.phantom or self.unlisted or self.unheld
                    or self.miscatalogued)

    def describe(self) -> str:
        """``the newest summary … agrees with the events`` or where it does not."""
        if self.ok:
            return f"the newest summary ({self.key}) agrees with the events"
        return (f"the newest summary ({self.key}) leaves out {len(self.omitted)} event(s) "
                f"and {len(self.unlisted)} version(s), holds {len(self.phantom)} event(s) "
                f"that are not in the ledger, lacks {len(self.unheld)} live version(s) and "
                f"catalogues {len(self.miscatalogued)} event key(s) wrongly; "
                "`vault ledger reindex` writes a new one (check who wrote this one)")

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"key": self.key, "ok": self.ok, "omitted": self.omitted,
                "phantom": self.phantom, "unlisted": self.unlisted, "unheld": self.unheld,
                "miscatalogued": self.miscatalogued}


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
        older = [e for e in assessment.events if e.time < before]
        return Comparison(
            entry.key, before,
            omitted=sorted(k for k, e in actual.items() if e.time < before and k not in copied),
            phantom=sorted(copied - set(actual)),
            unlisted=sorted({e.version for e in older} - set(raw["versions"])),
            unheld=sorted(set(live_versions(older).values()) - set(held)),
            miscatalogued=_miscatalogued(ledger, raw, assessment, before),
        )
    return None


def _miscatalogued(ledger: Ledger, raw: dict[str, Any], assessment: authority.Assessment,
                   before: datetime) -> list[str]:
    """Event keys older than ``before`` a catalogue leaves out, and keys it names beyond."""
    listed: dict[str, set[str]] = {}
    for digest in raw.get("catalogue", {}).values():
        for version, below in (ledger.catalogue.read(digest) or {}).items():
            try:
                if below is not None:  # None: its readers list its folder
                    listed[version] = set(ledger.named(version, below))
            except VersionError:
                continue
    events = {ledger.event_key(j.event): j.event for j in assessment.judged}
    left_out = {k for k, e in events.items()
                if e.time < before and k not in listed.get(e.version, {k})}
    beyond = set().union(*listed.values()) - set(events) - {s.key for s in assessment.skipped}
    return sorted(left_out | beyond)


def _summaries(ledger: Ledger, now: datetime) -> Iterator[Entry]:
    """The summaries in the feed's ``MONTHS`` newest months, newest first."""
    for folder in ledger.feed.months(now, MONTHS):
        for key in ledger.feed.listed(folder):
            entry = ledger.feed.parse(key)
            if entry is not None and entry.kind == SUMMARY:
                yield entry


def _time(raw: Any) -> datetime:
    moment = datetime.fromisoformat(str(raw))
    if moment.tzinfo is None:
        raise ValueError(f"{raw!r} has no time zone")
    return moment
